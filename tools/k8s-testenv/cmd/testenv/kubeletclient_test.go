package main

// The API server's kubelet client identity without a running cluster: the
// certificate (cluster CA, client auth only, no groups), the flags in both
// profiles next to --kubelet-certificate-authority, the binding's role, and
// mint-user-cert's refusals. tests/cluster/kubelet-client.test.mjs checks the
// running API server.

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"strings"
	"testing"
)

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(data)
	if blk == nil {
		t.Fatalf("%s: no PEM", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestKubeletClientCertificate(t *testing.T) {
	p := newPKIPaths(t.TempDir())
	if err := ensurePKI(p); err != nil {
		t.Fatal(err)
	}
	if err := ensureKubeletClientPKI(p); err != nil {
		t.Fatal(err)
	}
	kp := p.kubeletClient()
	crt := readCert(t, kp.crt)
	if crt.Subject.CommonName != kubeletClientUser {
		t.Errorf("CN %q, want %q", crt.Subject.CommonName, kubeletClientUser)
	}
	if len(crt.Subject.Organization) != 0 {
		t.Errorf("groups %v: the kubelet client must have none (least privilege, never system:masters)", crt.Subject.Organization)
	}
	if len(crt.ExtKeyUsage) != 1 || crt.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
		t.Errorf("extended key usages %v, want client auth only", crt.ExtKeyUsage)
	}
	ca, _, err := loadCA(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := chainsTo(kp.crt, ca, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}); err != nil {
		t.Errorf("does not verify against the cluster CA: %v", err)
	}
	if st, err := os.Stat(kp.key); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("key %s: %v, mode %v (want 0600)", kp.key, err, st.Mode().Perm())
	}
	// A second call keeps the pair.
	before, _ := os.ReadFile(kp.crt)
	if err := ensureKubeletClientPKI(p); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(kp.crt); string(after) != string(before) {
		t.Error("ensureKubeletClientPKI made a new certificate although the old one verifies")
	}
}

func TestAPIServerKubeletFlagsInEveryProfile(t *testing.T) {
	for name := range profiles {
		t.Run(name, func(t *testing.T) {
			e := &env{opts: upOptions{profile: name}, pki: newPKIPaths("/x")}
			args := map[string]bool{}
			for _, a := range e.apiserverArgs() {
				args[a] = true
			}
			for _, want := range []string{
				"--kubelet-client-certificate=/x/pki/apiserver-kubelet-client.crt",
				"--kubelet-client-key=/x/pki/apiserver-kubelet-client.key",
				// The API server verifies kubelet serving certificates.
				"--kubelet-certificate-authority=/x/pki/ca.crt",
			} {
				if !args[want] {
					t.Errorf("kube-apiserver lacks %s: %v", want, e.apiserverArgs())
				}
			}
		})
	}
}

func TestKubeletClientBinding(t *testing.T) {
	y := kubeletClientObjects()
	for _, want := range []string{
		"kind: ClusterRoleBinding\n",
		"  kind: ClusterRole\n  name: \"system:kubelet-api-admin\"\n",
		"- apiGroup: rbac.authorization.k8s.io\n  kind: User\n  name: \"" + kubeletClientUser + "\"\n",
	} {
		if !strings.Contains(y, want) {
			t.Errorf("binding lacks %q:\n%s", want, y)
		}
	}
	if strings.Contains(y, "@") || strings.Contains(y, "system:masters") || strings.Contains(y, "cluster-admin") {
		t.Errorf("binding has a placeholder left or an admin role:\n%s", y)
	}
}

func TestMintUserCertRefusals(t *testing.T) {
	for _, c := range []struct {
		user   string
		groups []string
		ok     bool
	}{
		{"picokubelet:nobody", nil, true},
		{"alice", []string{"team-a"}, true},
		{"", nil, false},
		{"a\nb", nil, false},
		{"system:node:n1", []string{"system:nodes"}, false},
		{"eve", []string{"system:masters"}, false},
		{"eve", []string{""}, false},
	} {
		err := checkUserCert(c.user, c.groups)
		if (err == nil) != c.ok {
			t.Errorf("checkUserCert(%q, %v) = %v, want ok=%v", c.user, c.groups, err, c.ok)
		}
	}
}
