package main

// `testenv mint-node-cert`: client certificates for node identities
// (CN=system:node:<name>, O=system:nodes) signed by the cluster CA, written as
// self-contained kubeconfigs (CA, certificate and key inlined).

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

func cmdMintNodeCert(args []string) int {
	fs := flag.NewFlagSet("mint-node-cert", flag.ContinueOnError)
	dir := fs.String("dir", ".cluster", "cluster state directory (reads pki/ca.crt, pki/ca.key, ports.json)")
	server := fs.String("server", "", "API server URL (default: https://127.0.0.1:<apiserver port of --dir>)")
	name := fs.String("name", "", "node name (single form)")
	out := fs.String("out", "", "kubeconfig path for --name (default: stdout)")
	prefix := fs.String("prefix", "", "batch form: node names <prefix><i>")
	count := fs.Int("count", 0, "batch form: how many nodes")
	start := fs.Int("start", 0, "batch form: first index")
	outDir := fs.String("out-dir", "", "batch form: directory for <name>.kubeconfig files")
	validity := fs.Duration("validity", 365*24*time.Hour, "certificate lifetime")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	p := newPKIPaths(*dir)
	ca, caKey, err := loadCA(p)
	if err != nil {
		logf("cannot load the cluster CA (run `up` once first): %v", err)
		return 1
	}
	caPEM, err := os.ReadFile(p.caCrt)
	if err != nil {
		logf("%v", err)
		return 1
	}
	if *server == "" {
		var ps portSet
		data, err := os.ReadFile(filepath.Join(*dir, "ports.json"))
		if err == nil {
			err = json.Unmarshal(data, &ps)
		}
		if err != nil || ps.APIServer == 0 {
			logf("no --server and no usable %s", filepath.Join(*dir, "ports.json"))
			return 1
		}
		*server = fmt.Sprintf("https://127.0.0.1:%d", ps.APIServer)
	}
	mint := func(n string) ([]byte, error) {
		if !validNodeName(n) {
			return nil, fmt.Errorf("invalid node name %q (lowercase DNS subdomain expected)", n)
		}
		crt, key, err := nodeClientCert(ca, caKey, n, *validity)
		if err != nil {
			return nil, err
		}
		return kubeconfigYAML(kubeconfigUser{
			name: "system:node:" + n, certPEM: crt, keyPEM: key, caPEM: caPEM, server: *server,
		}), nil
	}
	switch {
	case *name != "" && *prefix == "":
		kc, err := mint(*name)
		if err != nil {
			logf("%v", err)
			return 1
		}
		if *out == "" || *out == "-" {
			os.Stdout.Write(kc)
			return 0
		}
		if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
			logf("%v", err)
			return 1
		}
		if err := writeFileAtomic(*out, kc, 0o600); err != nil {
			logf("%v", err)
			return 1
		}
		fmt.Println(*out)
		return 0
	case *prefix != "" && *name == "" && *count > 0 && *outDir != "":
		if err := os.MkdirAll(*outDir, 0o755); err != nil {
			logf("%v", err)
			return 1
		}
		t0 := time.Now()
		for i := *start; i < *start+*count; i++ {
			n := fmt.Sprintf("%s%d", *prefix, i)
			kc, err := mint(n)
			if err != nil {
				logf("%v", err)
				return 1
			}
			if err := writeFileAtomic(filepath.Join(*outDir, n+".kubeconfig"), kc, 0o600); err != nil {
				logf("%v", err)
				return 1
			}
		}
		logf("minted %d node kubeconfigs in %s in %.2fs", *count, *outDir, time.Since(t0).Seconds())
		return 0
	default:
		logf("use either --name N [--out FILE] or --prefix P --count C --out-dir DIR")
		return 2
	}
}
