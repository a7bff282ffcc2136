package main

// `testenv mint-node-cert`: client certificates for node identities
// (CN=system:node:<name>, O=system:nodes) signed by the cluster CA, written as
// self-contained kubeconfigs (CA, certificate and key inlined); `testenv
// mint-user-cert` the same for any other user.

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
		if *server, err = serverFromPorts(*dir); err != nil {
			logf("%v", err)
			return 1
		}
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

// cmdMintUserCert: a client certificate for any user (CN) and groups (O),
// signed by the cluster CA, as a self-contained kubeconfig. The user has no
// RBAC of its own unless someone binds it: tests use it as an authenticated
// identity that may do nothing (a kubelet port must answer it with 403).
func cmdMintUserCert(args []string) int {
	fs := flag.NewFlagSet("mint-user-cert", flag.ContinueOnError)
	dir := fs.String("dir", ".cluster", "cluster state directory (reads pki/ca.crt, pki/ca.key, ports.json)")
	server := fs.String("server", "", "API server URL (default: https://127.0.0.1:<apiserver port of --dir>)")
	user := fs.String("user", "", "user name (the certificate's CN)")
	var groups stringList
	fs.Var(&groups, "group", "a group (O) of the user (repeatable)")
	out := fs.String("out", "", "kubeconfig path (default: stdout)")
	validity := fs.Duration("validity", 24*time.Hour, "certificate lifetime")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := checkUserCert(*user, groups); err != nil {
		logf("%v", err)
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
		if *server, err = serverFromPorts(*dir); err != nil {
			logf("%v", err)
			return 1
		}
	}
	tmpl := clientCertTemplate(*user, groups...)
	tmpl.NotBefore = time.Now().Add(-5 * time.Minute)
	tmpl.NotAfter = time.Now().Add(*validity)
	crt, key, err := signNewKey(tmpl, ca, caKey)
	if err != nil {
		logf("%v", err)
		return 1
	}
	kc := kubeconfigYAML(kubeconfigUser{name: *user, certPEM: crt, keyPEM: key, caPEM: caPEM, server: *server})
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
}

// checkUserCert refuses what mint-user-cert is not for: no user; system:masters
// (an admin credential is admin.kubeconfig's job); a node identity
// (mint-node-cert makes those).
func checkUserCert(user string, groups []string) error {
	if strings.TrimSpace(user) == "" || strings.ContainsAny(user, "\n\r") {
		return fmt.Errorf("--user NAME is required (one line)")
	}
	if strings.HasPrefix(user, "system:node:") {
		return fmt.Errorf("--user %s is a node identity: use mint-node-cert --name", user)
	}
	for _, g := range groups {
		if g == "system:masters" {
			return fmt.Errorf("--group system:masters refused: that is an admin credential")
		}
		if strings.TrimSpace(g) == "" || strings.ContainsAny(g, "\n\r") {
			return fmt.Errorf("--group %q is not a group name", g)
		}
	}
	return nil
}

func serverFromPorts(dir string) (string, error) {
	var ps portSet
	data, err := os.ReadFile(filepath.Join(dir, "ports.json"))
	if err == nil {
		err = json.Unmarshal(data, &ps)
	}
	if err != nil || ps.APIServer == 0 {
		return "", fmt.Errorf("no --server and no usable %s", filepath.Join(dir, "ports.json"))
	}
	return fmt.Sprintf("https://127.0.0.1:%d", ps.APIServer), nil
}
