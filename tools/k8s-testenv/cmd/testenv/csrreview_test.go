package main

// The kubelet-serving policy on its own, for the cases a real cluster cannot
// reach: NodeRestriction already refuses a node's CSR whose CN is not its own,
// and the API server refuses requests that do not parse. tests/cluster/
// kubelet-serving.test.mjs covers the rest against the running cluster.
// Run: cd tools/k8s-testenv && GOFLAGS=-mod=readonly go test -trimpath ./cmd/testenv

import (
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"net/url"
	"testing"

	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func testCSR(t *testing.T, cn string, orgs []string, dns []string, ips []string, mutate func(*x509.CertificateRequest)) []byte {
	t.Helper()
	key, err := newP256()
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn, Organization: orgs}, DNSNames: dns}
	for _, ip := range ips {
		tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(ip))
	}
	if mutate != nil {
		mutate(tmpl)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func TestReviewKubeletServing(t *testing.T) {
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1"},
		Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
			{Type: corev1.NodeInternalIP, Address: "127.0.0.5"},
			{Type: corev1.NodeHostName, Address: "n1.local"},
		}},
	}
	serving := []certv1.KeyUsage{certv1.UsageDigitalSignature, certv1.UsageServerAuth}
	nodesO := []string{"system:nodes"}
	cases := []struct {
		name    string
		request []byte
		usages  []certv1.KeyUsage
		node    *corev1.Node
		want    verdict
		reason  string
	}{
		{"own name and addresses", testCSR(t, "system:node:n1", nodesO, []string{"n1", "N1.local"}, []string{"127.0.0.5"}, nil), serving, node, verdictApprove, "KubeletServingApproved"},
		{"CN of another node", testCSR(t, "system:node:n2", nodesO, []string{"n1"}, nil, nil), serving, node, verdictDeny, "SubjectMismatch"},
		{"a second O", testCSR(t, "system:node:n1", []string{"system:nodes", "system:masters"}, []string{"n1"}, nil, nil), serving, node, verdictDeny, "SubjectMismatch"},
		{"duplicate usage", testCSR(t, "system:node:n1", nodesO, []string{"n1"}, nil, nil), append(serving, certv1.UsageServerAuth), node, verdictDeny, "BadUsages"},
		{"no server auth", testCSR(t, "system:node:n1", nodesO, []string{"n1"}, nil, nil), []certv1.KeyUsage{certv1.UsageDigitalSignature}, node, verdictDeny, "BadUsages"},
		{"an email SAN", testCSR(t, "system:node:n1", nodesO, []string{"n1"}, nil, func(r *x509.CertificateRequest) { r.EmailAddresses = []string{"a@b"} }), serving, node, verdictDeny, "ForeignSAN"},
		{"a URI SAN", testCSR(t, "system:node:n1", nodesO, []string{"n1"}, nil, func(r *x509.CertificateRequest) { r.URIs = []*url.URL{{Scheme: "spiffe", Host: "x"}} }), serving, node, verdictDeny, "ForeignSAN"},
		{"another IP", testCSR(t, "system:node:n1", nodesO, nil, []string{"127.0.0.6"}, nil), serving, node, verdictDeny, "ForeignSAN"},
		{"not PEM", []byte("junk"), serving, node, verdictDeny, "BadRequest"},
		{"Node missing", testCSR(t, "system:node:n1", nodesO, []string{"n1"}, nil, nil), serving, nil, verdictPending, ""},
		{"Node without addresses", testCSR(t, "system:node:n1", nodesO, []string{"n1"}, nil, nil), serving, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, verdictPending, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			csr := &certv1.CertificateSigningRequest{Spec: certv1.CertificateSigningRequestSpec{
				SignerName: kubeletServingSigner, Request: c.request, Usages: c.usages,
				Username: "system:node:n1", Groups: []string{"system:nodes", "system:authenticated"},
			}}
			r := reviewKubeletServing(csr, "n1", c.node)
			if r.verdict != c.want || r.reason != c.reason {
				t.Fatalf("got verdict %d reason %q (%s), want %d %q", r.verdict, r.reason, r.message, c.want, c.reason)
			}
		})
	}
}

func TestRequesterNode(t *testing.T) {
	for _, c := range []struct {
		user   string
		groups []string
		ok     bool
	}{
		{"system:node:n1", []string{"system:nodes"}, true},
		{"system:node:n1", []string{"system:authenticated"}, false},
		{"admin", []string{"system:masters", "system:nodes"}, false},
		{"system:node:Bad_Name", []string{"system:nodes"}, false},
	} {
		csr := &certv1.CertificateSigningRequest{Spec: certv1.CertificateSigningRequestSpec{Username: c.user, Groups: c.groups}}
		name, bad := requesterNode(csr)
		if (bad == nil) != c.ok || (c.ok && name != "n1") {
			t.Errorf("%s %v: got %q %+v", c.user, c.groups, name, bad)
		}
	}
}
