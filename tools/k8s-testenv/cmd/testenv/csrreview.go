package main

// The policy of the kubelet-serving approver: which kubernetes.io/kubelet-serving
// CSRs a cluster administrator can approve without looking. Nothing in
// Kubernetes approves these by default, because the signer cannot know which
// names and addresses belong to which node: a node could otherwise obtain a
// serving certificate for another node's address (or the API server's name) and
// answer the API server's or metrics-server's connections in its place.
// The Node object's status.addresses is the record of what a node is.

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"slices"
	"strings"

	certv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
)

const kubeletServingSigner = "kubernetes.io/kubelet-serving"

type verdict int

const (
	verdictPending verdict = iota // not decidable yet (Node or its addresses missing): look again later
	verdictApprove
	verdictDeny
)

type review struct {
	verdict verdict
	reason  string // CamelCase, as condition reasons are
	message string
}

func deny(reason, format string, args ...any) review {
	return review{verdict: verdictDeny, reason: reason, message: fmt.Sprintf(format, args...)}
}

// requesterNode returns the node name of a CSR's requester, or "" with a
// denial when the requester is not a node identity.
func requesterNode(csr *certv1.CertificateSigningRequest) (string, *review) {
	name, ok := strings.CutPrefix(csr.Spec.Username, "system:node:")
	if !ok || !validNodeName(name) {
		r := deny("RequesterNotANode", "requester %q is not system:node:<name>", csr.Spec.Username)
		return "", &r
	}
	if !slices.Contains(csr.Spec.Groups, "system:nodes") {
		r := deny("RequesterNotANode", "requester %q is not in group system:nodes", csr.Spec.Username)
		return "", &r
	}
	return name, nil
}

// reviewKubeletServing decides on a CSR of the signer kubelet-serving whose
// requester is node nodeName; node is that Node (nil if it does not exist).
func reviewKubeletServing(csr *certv1.CertificateSigningRequest, nodeName string, node *corev1.Node) review {
	if csr.Spec.SignerName != kubeletServingSigner {
		return deny("WrongSigner", "signer %q is not %s", csr.Spec.SignerName, kubeletServingSigner)
	}
	blk, _ := pem.Decode(csr.Spec.Request)
	if blk == nil || blk.Type != "CERTIFICATE REQUEST" {
		return deny("BadRequest", "spec.request is not a PEM CERTIFICATE REQUEST")
	}
	req, err := x509.ParseCertificateRequest(blk.Bytes)
	if err != nil {
		return deny("BadRequest", "cannot parse the certificate request: %v", err)
	}
	if err := req.CheckSignature(); err != nil {
		return deny("BadRequest", "the request's signature does not verify: %v", err)
	}
	if req.Subject.CommonName != csr.Spec.Username {
		return deny("SubjectMismatch", "CN %q is not the requester %q", req.Subject.CommonName, csr.Spec.Username)
	}
	if !slices.Equal(req.Subject.Organization, []string{"system:nodes"}) {
		return deny("SubjectMismatch", "O %q is not exactly [system:nodes]", req.Subject.Organization)
	}
	if r := checkServingUsages(csr.Spec.Usages); r != nil {
		return *r
	}
	if len(req.EmailAddresses) > 0 || len(req.URIs) > 0 {
		return deny("ForeignSAN", "email and URI SANs are not allowed (got %d, %d)", len(req.EmailAddresses), len(req.URIs))
	}
	if len(req.DNSNames) == 0 && len(req.IPAddresses) == 0 {
		return deny("NoSAN", "the request names no DNS name or IP address")
	}
	if node == nil {
		return review{verdict: verdictPending, message: "Node " + nodeName + " does not exist yet"}
	}
	if len(node.Status.Addresses) == 0 {
		return review{verdict: verdictPending, message: "Node " + nodeName + " has no status.addresses yet"}
	}
	dns := map[string]bool{strings.ToLower(node.Name): true}
	var ips []net.IP
	for _, a := range node.Status.Addresses {
		switch a.Type {
		case corev1.NodeHostName, corev1.NodeInternalDNS, corev1.NodeExternalDNS:
			dns[strings.ToLower(a.Address)] = true
		case corev1.NodeInternalIP, corev1.NodeExternalIP:
			if ip := net.ParseIP(a.Address); ip != nil {
				ips = append(ips, ip)
			}
		}
	}
	var foreign []string
	for _, d := range req.DNSNames {
		if !dns[strings.ToLower(d)] {
			foreign = append(foreign, "DNS:"+d)
		}
	}
	for _, ip := range req.IPAddresses {
		if !slices.ContainsFunc(ips, ip.Equal) {
			foreign = append(foreign, "IP:"+ip.String())
		}
	}
	if len(foreign) > 0 {
		return deny("ForeignSAN", "SANs %s are not among Node %s's name and status.addresses", strings.Join(foreign, ", "), nodeName)
	}
	return review{verdict: verdictApprove, reason: "KubeletServingApproved",
		message: fmt.Sprintf("CN and SANs (%d DNS, %d IP) match Node %s", len(req.DNSNames), len(req.IPAddresses), nodeName)}
}

// checkServingUsages allows exactly digital signature + server auth, with key
// encipherment optional (RSA key exchange needs it, ECDSA keys do not).
func checkServingUsages(usages []certv1.KeyUsage) *review {
	seen := map[certv1.KeyUsage]bool{}
	for _, u := range usages {
		if seen[u] {
			r := deny("BadUsages", "usage %q is listed twice", u)
			return &r
		}
		seen[u] = true
		switch u {
		case certv1.UsageDigitalSignature, certv1.UsageKeyEncipherment, certv1.UsageServerAuth:
		default:
			r := deny("BadUsages", "usage %q is not allowed (digital signature, key encipherment, server auth only)", u)
			return &r
		}
	}
	if !seen[certv1.UsageDigitalSignature] || !seen[certv1.UsageServerAuth] {
		r := deny("BadUsages", "usages %q lack digital signature or server auth", usages)
		return &r
	}
	return nil
}
