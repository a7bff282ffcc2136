// Command testenv runs a local Kubernetes control plane for picokubelet's
// integration tests: embedded etcd plus the upstream kube-apiserver,
// kube-controller-manager and kube-scheduler binaries built from the same module.
//
//	testenv up --dir .cluster [flags]          run until SIGTERM (SIGUSR1 restarts kube-apiserver)
//	testenv mint-node-cert --dir .cluster ...  sign node client certificates, write kubeconfigs
//	testenv mint-user-cert --dir .cluster --user U [--group G]...  the same for any user (no RBAC of its own)
//	testenv pki --dir DIR                     only generate the key material (CA, certs, tokens)
//	testenv kubelet-serving-approver --kubeconfig FILE   approve/deny kubelet-serving CSRs (approver.go)
//	testenv version
package main

import (
	"flag"
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
	fmt.Fprintf(os.Stderr, "usage: testenv up|mint-node-cert|mint-user-cert|pki|kubelet-serving-approver|version [flags]\n")
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
	case "mint-user-cert":
		os.Exit(cmdMintUserCert(os.Args[2:]))
	case "pki":
		os.Exit(cmdPKI(os.Args[2:]))
	case "kubelet-serving-approver":
		os.Exit(cmdKubeletServingApprover(os.Args[2:]))
	case "version":
		fmt.Println(k8sVersion)
	default:
		usage()
		os.Exit(2)
	}
}

// cmdPKI generates (or completes) the key material of a cluster directory without
// starting anything. Tests use it to make an unrelated CA.
func cmdPKI(args []string) int {
	fs := flag.NewFlagSet("pki", flag.ContinueOnError)
	dir := fs.String("dir", ".cluster", "cluster state directory")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	p := newPKIPaths(*dir)
	if err := ensurePKI(p); err != nil {
		logf("%v", err)
		return 1
	}
	fmt.Println(p.dir)
	return 0
}
