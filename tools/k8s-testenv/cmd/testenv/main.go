// Command testenv runs a local Kubernetes control plane for picokubelet's
// integration tests: embedded etcd plus the upstream kube-apiserver,
// kube-controller-manager and kube-scheduler binaries built from the same module.
//
//	testenv up --dir .cluster [flags]          run until SIGTERM (SIGUSR1 restarts kube-apiserver)
//	testenv mint-node-cert --dir .cluster ...  sign node client certificates, write kubeconfigs
//	testenv version
package main

import (
	"fmt"
	"os"
	"time"
)

// k8sVersion is stamped with -ldflags -X main.k8sVersion=... by tools/cluster.mjs.
var k8sVersion = "v0.0.0-unstamped"

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s testenv: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: testenv up|mint-node-cert|version [flags]\n")
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	switch os.Args[1] {
	case "up":
		os.Exit(cmdUp(os.Args[2:]))
	case "mint-node-cert":
		os.Exit(cmdMintNodeCert(os.Args[2:]))
	case "version":
		fmt.Println(k8sVersion)
	default:
		usage()
		os.Exit(2)
	}
}
