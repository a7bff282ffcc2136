package main

// An OCI registry (CNCF distribution, its own module ../../registry) as a child
// process on 127.0.0.1: TLS with a certificate the cluster CA signs (SAN
// 127.0.0.1 and localhost), htpasswd (bcrypt) basic auth for one user whose
// password is made once per cluster directory. The credentials are written to
// <dir>/registry-auth.json (0600) and, for oras and other Docker-config clients,
// <dir>/registry/docker/config.json (0600); never to a log.

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/crypto/bcrypt"
)

const registryUser = "picokubelet"

// registryAuth is <dir>/registry-auth.json.
type registryAuth struct {
	Server       string `json:"server"` // host:port, as image references name it
	URL          string `json:"url"`
	Username     string `json:"username"`
	Password     string `json:"password"`
	CAFile       string `json:"caFile"`
	DockerConfig string `json:"dockerConfig"` // a directory for DOCKER_CONFIG
}

type registryPaths struct{ dir, data, config, htpasswd, crt, key, auth, dockerDir string }

func registryPathsOf(clusterDir string, p pkiPaths) registryPaths {
	d := filepath.Join(clusterDir, "registry")
	return registryPaths{
		dir:       d,
		data:      filepath.Join(d, "data"),
		config:    filepath.Join(d, "config.yml"),
		htpasswd:  filepath.Join(d, "htpasswd"),
		crt:       filepath.Join(p.dir, "registry.crt"),
		key:       filepath.Join(p.dir, "registry.key"),
		auth:      filepath.Join(clusterDir, "registry-auth.json"),
		dockerDir: filepath.Join(d, "docker"),
	}
}

func (e *env) registryAddr() string { return fmt.Sprintf("127.0.0.1:%d", e.ports.Registry) }

// prepareRegistry writes certificate, credentials, htpasswd and config.
func (e *env) prepareRegistry() (registryPaths, error) {
	rp := registryPathsOf(e.dir, e.pki)
	for _, d := range []string{rp.data, rp.dockerDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return rp, err
		}
	}
	ca, caKey, err := loadCA(e.pki)
	if err != nil {
		return rp, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "registry"},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.AddDate(5, 0, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	if err := ensureLeaf("registry serving", rp.crt, rp.key, tmpl, ca, caKey); err != nil {
		return rp, err
	}

	// The password stays across restarts (clients keep working); the address follows the port.
	var auth registryAuth
	if data, err := os.ReadFile(rp.auth); err == nil {
		_ = json.Unmarshal(data, &auth)
	}
	if auth.Password == "" || auth.Username != registryUser {
		if auth.Password, err = randomToken(); err != nil {
			return rp, err
		}
		auth.Username = registryUser
	}
	auth.Server = e.registryAddr()
	auth.URL = "https://" + auth.Server
	auth.CAFile = e.pki.caCrt
	auth.DockerConfig = rp.dockerDir
	data, _ := json.MarshalIndent(auth, "", "  ")
	if err := writeFileAtomic(rp.auth, append(data, '\n'), 0o600); err != nil {
		return rp, err
	}
	// The Docker config format that oras (and docker, crane, ...) read.
	basic := base64.StdEncoding.EncodeToString([]byte(auth.Username + ":" + auth.Password))
	dc, _ := json.MarshalIndent(map[string]any{"auths": map[string]any{auth.Server: map[string]string{"auth": basic}}}, "", "  ")
	if err := writeFileAtomic(filepath.Join(rp.dockerDir, "config.json"), append(dc, '\n'), 0o600); err != nil {
		return rp, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(auth.Password), bcrypt.DefaultCost)
	if err != nil {
		return rp, err
	}
	if err := writeFileAtomic(rp.htpasswd, []byte(auth.Username+":"+string(hash)+"\n"), 0o600); err != nil {
		return rp, err
	}
	secret, err := randomToken()
	if err != nil {
		return rp, err
	}
	if err := writeFileAtomic(rp.config, []byte(registryConfig(rp, e.registryAddr(), secret)), 0o600); err != nil {
		return rp, err
	}
	return rp, nil
}

// registryConfig is distribution's configuration. No debug or metrics listener
// is configured, so the registry listens on addr only.
func registryConfig(rp registryPaths, addr, secret string) string {
	return fmt.Sprintf(`version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: %q
  delete:
    enabled: true
http:
  addr: %q
  # Signs upload session state; any random value for a single instance.
  secret: %q
  tls:
    certificate: %q
    key: %q
auth:
  htpasswd:
    realm: picokubelet-registry
    path: %q
`, rp.data, addr, secret, rp.crt, rp.key, rp.htpasswd)
}

// startRegistry starts the registry and waits until /v2/ answers over TLS
// (verified against the cluster CA) with 401: up, and refusing anonymous clients.
func (e *env) startRegistry() error {
	rp, err := e.prepareRegistry()
	if err != nil {
		return err
	}
	e.registry = &child{name: "registry", bin: e.opts.registryBin, args: []string{"serve", rp.config},
		logPath: filepath.Join(e.logDir, "registry.log")}
	if err := e.registry.start(); err != nil {
		return err
	}
	return waitFor("registry https://"+e.registryAddr()+"/v2/", e.opts.readyTimeout, childAlive(e.registry), func() (bool, string) {
		code, _, err := e.get(e.tlsClient, "https://"+e.registryAddr()+"/v2/", false)
		if err != nil {
			return false, err.Error()
		}
		return code == 401, fmt.Sprintf("HTTP %d (401 expected)", code)
	})
}
