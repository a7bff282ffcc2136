package main

// Key material for the local control plane: a cluster CA, the kube-apiserver
// serving certificate, the service-account signing key pair and static bearer
// tokens. Generated once per cluster directory and kept across restarts.

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

const (
	clusterName = "picokubelet-testenv"
	// Static node tokens are pre-generated for these names (pk-token-0 .. pk-token-15).
	nodeTokenPrefix = "pk-token-"
	nodeTokenCount  = 16
)

type pkiPaths struct {
	dir, caCrt, caKey, apiCrt, apiKey, saKey, saPub, tokens string
}

func newPKIPaths(clusterDir string) pkiPaths {
	d := filepath.Join(clusterDir, "pki")
	return pkiPaths{
		dir:    d,
		caCrt:  filepath.Join(d, "ca.crt"),
		caKey:  filepath.Join(d, "ca.key"),
		apiCrt: filepath.Join(d, "apiserver.crt"),
		apiKey: filepath.Join(d, "apiserver.key"),
		saKey:  filepath.Join(d, "sa.key"),
		saPub:  filepath.Join(d, "sa.pub"),
		tokens: filepath.Join(d, "tokens.csv"),
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func newP256() (*ecdsa.PrivateKey, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

func randomSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

func randomToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func ecKeyPEM(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// writeFileAtomic writes via a temporary file and rename, so readers never see a
// half-written file.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// ensurePKI creates whatever part of the key material is missing.
func ensurePKI(p pkiPaths) error {
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return err
	}
	if !fileExists(p.caCrt) || !fileExists(p.caKey) {
		logf("generating cluster CA in %s", p.dir)
		now := time.Now()
		tmpl := &x509.Certificate{
			Subject:               pkix.Name{CommonName: clusterName + "-ca"},
			NotBefore:             now.Add(-time.Hour),
			NotAfter:              now.AddDate(10, 0, 0),
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
			BasicConstraintsValid: true,
			IsCA:                  true,
		}
		crt, key, err := signNewKey(tmpl, nil, nil)
		if err != nil {
			return err
		}
		if err := writeKeyPair(p.caKey, p.caCrt, key, crt); err != nil {
			return err
		}
		// A new CA invalidates any serving certificate signed by an old one.
		os.Remove(p.apiCrt)
		os.Remove(p.apiKey)
	}
	ca, caKey, err := loadCA(p)
	if err != nil {
		return err
	}
	if !fileExists(p.apiCrt) || !fileExists(p.apiKey) {
		logf("generating kube-apiserver serving certificate")
		now := time.Now()
		tmpl := &x509.Certificate{
			Subject:     pkix.Name{CommonName: "kube-apiserver"},
			NotBefore:   now.Add(-time.Hour),
			NotAfter:    now.AddDate(5, 0, 0),
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			DNSNames: []string{"localhost", "kubernetes", "kubernetes.default",
				"kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")},
		}
		crt, key, err := signNewKey(tmpl, ca, caKey)
		if err != nil {
			return err
		}
		if err := writeKeyPair(p.apiKey, p.apiCrt, key, crt); err != nil {
			return err
		}
	}
	if !fileExists(p.saKey) || !fileExists(p.saPub) {
		logf("generating service-account signing key")
		key, err := newP256()
		if err != nil {
			return err
		}
		kp, err := ecKeyPEM(key)
		if err != nil {
			return err
		}
		pub, err := x509.MarshalPKIXPublicKey(key.Public())
		if err != nil {
			return err
		}
		if err := writeFileAtomic(p.saKey, kp, 0o600); err != nil {
			return err
		}
		if err := writeFileAtomic(p.saPub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644); err != nil {
			return err
		}
	}
	if !fileExists(p.tokens) {
		logf("generating static tokens (admin, %s0..%s%d)", nodeTokenPrefix, nodeTokenPrefix, nodeTokenCount-1)
		var b strings.Builder
		tok, err := randomToken()
		if err != nil {
			return err
		}
		// token,user,uid,"group1,group2"
		fmt.Fprintf(&b, "%s,admin,admin,\"system:masters\"\n", tok)
		for i := 0; i < nodeTokenCount; i++ {
			tok, err := randomToken()
			if err != nil {
				return err
			}
			name := fmt.Sprintf("%s%d", nodeTokenPrefix, i)
			fmt.Fprintf(&b, "%s,system:node:%s,node-%s,\"system:nodes\"\n", tok, name, name)
		}
		if err := writeFileAtomic(p.tokens, []byte(b.String()), 0o600); err != nil {
			return err
		}
	}
	return nil
}

func loadCA(p pkiPaths) (*x509.Certificate, crypto.Signer, error) {
	crtPEM, err := os.ReadFile(p.caCrt)
	if err != nil {
		return nil, nil, err
	}
	blk, _ := pem.Decode(crtPEM)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, nil, fmt.Errorf("%s: no certificate", p.caCrt)
	}
	crt, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err := os.ReadFile(p.caKey)
	if err != nil {
		return nil, nil, err
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		return nil, nil, fmt.Errorf("%s: no key", p.caKey)
	}
	var key crypto.Signer
	switch kb.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(kb.Bytes)
	case "PRIVATE KEY":
		var k any
		k, err = x509.ParsePKCS8PrivateKey(kb.Bytes)
		if err == nil {
			s, ok := k.(crypto.Signer)
			if !ok {
				err = errors.New("CA key is not a signer")
			}
			key = s
		}
	default:
		err = fmt.Errorf("%s: unsupported key type %q", p.caKey, kb.Type)
	}
	if err != nil {
		return nil, nil, err
	}
	return crt, key, nil
}

type staticToken struct{ token, user string }

// readTokens parses tokens.csv (token,user,uid,"groups").
func readTokens(p pkiPaths) ([]staticToken, error) {
	data, err := os.ReadFile(p.tokens)
	if err != nil {
		return nil, err
	}
	var out []staticToken
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.SplitN(strings.TrimSpace(line), ",", 4)
		if len(f) < 3 {
			continue
		}
		out = append(out, staticToken{token: f[0], user: f[1]})
	}
	return out, nil
}

func adminToken(p pkiPaths) (string, error) {
	toks, err := readTokens(p)
	if err != nil {
		return "", err
	}
	for _, t := range toks {
		if t.user == "admin" {
			return t.token, nil
		}
	}
	return "", fmt.Errorf("%s has no admin token", p.tokens)
}

var nodeNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

func validNodeName(n string) bool {
	return len(n) <= 253 && nodeNameRE.MatchString(n)
}

// nodeClientCert signs a client certificate for system:node:<name> in group system:nodes.
func nodeClientCert(ca *x509.Certificate, caKey crypto.Signer, name string, validity time.Duration) (certPEMBytes, keyPEMBytes []byte, err error) {
	now := time.Now()
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "system:node:" + name, Organization: []string{"system:nodes"}},
		NotBefore:   now.Add(-5 * time.Minute),
		NotAfter:    now.Add(validity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return signNewKey(tmpl, ca, caKey)
}

// signNewKey makes a P-256 key and a certificate for it from tmpl (with a fresh serial number), signed
// by parent/parentKey, or self-signed when parent is nil. Both come back PEM-encoded.
func signNewKey(tmpl, parent *x509.Certificate, parentKey crypto.Signer) (certPEMBytes, keyPEMBytes []byte, err error) {
	key, err := newP256()
	if err != nil {
		return nil, nil, err
	}
	if tmpl.SerialNumber, err = randomSerial(); err != nil {
		return nil, nil, err
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		return nil, nil, err
	}
	kp, err := ecKeyPEM(key)
	if err != nil {
		return nil, nil, err
	}
	return certPEM(der), kp, nil
}

// writeKeyPair stores a private key (readable by us only) and its certificate.
func writeKeyPair(keyPath, crtPath string, keyPEMBytes, crtPEMBytes []byte) error {
	if err := writeFileAtomic(keyPath, keyPEMBytes, 0o600); err != nil {
		return err
	}
	return writeFileAtomic(crtPath, crtPEMBytes, 0o644)
}

type kubeconfigUser struct {
	name          string
	token         string
	certPEM       []byte
	keyPEM        []byte
	caFile        string // path; used when caPEM is empty
	caPEM         []byte // inlined when set
	server        string
	namespaceHint string
}

// kubeconfigYAML renders a single-cluster, single-user kubeconfig. Values are
// quoted so user names with colons stay plain strings.
func kubeconfigYAML(u kubeconfigUser) []byte {
	var b strings.Builder
	ctx := u.name + "@" + clusterName
	b.WriteString("apiVersion: v1\nkind: Config\nclusters:\n")
	fmt.Fprintf(&b, "- name: %s\n  cluster:\n    server: %q\n", clusterName, u.server)
	if len(u.caPEM) > 0 {
		fmt.Fprintf(&b, "    certificate-authority-data: %s\n", base64.StdEncoding.EncodeToString(u.caPEM))
	} else {
		fmt.Fprintf(&b, "    certificate-authority: %q\n", u.caFile)
	}
	fmt.Fprintf(&b, "users:\n- name: %q\n  user:\n", u.name)
	if u.token != "" {
		fmt.Fprintf(&b, "    token: %q\n", u.token)
	}
	if len(u.certPEM) > 0 {
		fmt.Fprintf(&b, "    client-certificate-data: %s\n", base64.StdEncoding.EncodeToString(u.certPEM))
		fmt.Fprintf(&b, "    client-key-data: %s\n", base64.StdEncoding.EncodeToString(u.keyPEM))
	}
	fmt.Fprintf(&b, "contexts:\n- name: %q\n  context:\n    cluster: %s\n    user: %q\n", ctx, clusterName, u.name)
	if u.namespaceHint != "" {
		fmt.Fprintf(&b, "    namespace: %s\n", u.namespaceHint)
	}
	fmt.Fprintf(&b, "current-context: %q\n", ctx)
	return []byte(b.String())
}
