package main

// metrics-server (sigs.k8s.io/metrics-server, its own module ../../metrics-server)
// as a child process on 127.0.0.1, registered as the APIService
// v1beta1.metrics.k8s.io. It scrapes each node's kubelet port over TLS: the
// address from the Node's status (InternalIP, else Hostname), the port from
// status.daemonEndpoints, the serving certificate verified against the cluster
// CA, which signs the approved kubernetes.io/kubelet-serving CSRs.

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

//go:embed metrics-server.yaml
var metricsServerManifest string

// metricsServerUser is metrics-server's identity (its client certificate's CN),
// bound by metrics-server.yaml.
const metricsServerUser = "picokubelet:metrics-server"

// metricsServerServiceName is the name the aggregator verifies the serving
// certificate for: <service>.<namespace>.svc.
const metricsServerServiceName = "metrics-server.kube-system.svc"

type metricsServerPaths struct{ crt, key, clientCrt, clientKey, kubeconfig string }

func (p pkiPaths) metricsServer() metricsServerPaths {
	return metricsServerPaths{
		crt:        filepath.Join(p.dir, "metrics-server.crt"),
		key:        filepath.Join(p.dir, "metrics-server.key"),
		clientCrt:  filepath.Join(p.dir, "metrics-server-client.crt"),
		clientKey:  filepath.Join(p.dir, "metrics-server-client.key"),
		kubeconfig: filepath.Join(p.dir, "metrics-server.kubeconfig"),
	}
}

func (e *env) ensureMetricsServerPKI() error {
	ca, caKey, err := loadCA(e.pki)
	if err != nil {
		return err
	}
	mp := e.pki.metricsServer()
	now := time.Now()
	serving := &x509.Certificate{
		Subject:     pkix.Name{CommonName: "metrics-server"},
		NotBefore:   now.Add(-time.Hour),
		NotAfter:    now.AddDate(5, 0, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{metricsServerServiceName, "localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	if err := ensureLeaf("metrics-server serving", mp.crt, mp.key, serving, ca, caKey); err != nil {
		return err
	}
	if err := ensureLeaf("metrics-server client", mp.clientCrt, mp.clientKey, clientCertTemplate(metricsServerUser), ca, caKey); err != nil {
		return err
	}
	return e.clientKubeconfig(mp.kubeconfig, metricsServerUser, mp.clientCrt, mp.clientKey)
}

func (e *env) metricsServerArgs() []string {
	mp := e.pki.metricsServer()
	return []string{
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", e.ports.MetricsServer),
		"--tls-cert-file=" + mp.crt,
		"--tls-private-key-file=" + mp.key,
		"--kubeconfig=" + mp.kubeconfig,
		"--authentication-kubeconfig=" + mp.kubeconfig,
		"--authorization-kubeconfig=" + mp.kubeconfig,
		// Nodes are scraped at the address and port they publish, with TLS
		// verified against the CA that signs kubelet serving certificates.
		"--kubelet-preferred-address-types=InternalIP,Hostname",
		"--kubelet-use-node-status-port",
		"--kubelet-certificate-authority=" + e.pki.caCrt,
		"--metric-resolution=15s",
		"--profiling=false",
	}
}

// applyManifest applies YAML with the cached kubectl as admin (server-side, so
// a second `up` on the same datastore updates the objects in place).
func (e *env) applyManifest(what string, yaml string) error {
	cmd := exec.Command(filepath.Join(e.opts.binDir, "kubectl"), "--kubeconfig="+e.adminKC,
		"apply", "--server-side", "--force-conflicts", "--field-manager=testenv", "-f", "-")
	cmd.Stdin = strings.NewReader(yaml)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kubectl apply (%s): %v: %s", what, err, strings.TrimSpace(out.String()))
	}
	return nil
}

func (e *env) metricsServerObjects() string {
	return strings.NewReplacer(
		"@USER@", metricsServerUser,
		"@PORT@", fmt.Sprint(e.ports.MetricsServer),
		"@CA_BUNDLE@", base64.StdEncoding.EncodeToString(e.caPEM),
	).Replace(metricsServerManifest)
}

// startMetricsServer registers the APIService, starts metrics-server and waits
// until the aggregator reports the APIService Available.
func (e *env) startMetricsServer() error {
	if err := e.ensureMetricsServerPKI(); err != nil {
		return err
	}
	if err := e.applyManifest("metrics-server", e.metricsServerObjects()); err != nil {
		return err
	}
	e.metricsServer = &child{name: "metrics-server", bin: e.opts.metricsServerBin, args: e.metricsServerArgs(),
		logPath: filepath.Join(e.logDir, "metrics-server.log")}
	if err := e.metricsServer.start(); err != nil {
		return err
	}
	return waitFor("APIService v1beta1.metrics.k8s.io Available", e.opts.readyTimeout, childAlive(e.metricsServer), e.apiServiceAvailable)
}

func (e *env) apiServiceAvailable() (bool, string) {
	code, body, err := e.get(e.tlsClient, e.server()+"/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.metrics.k8s.io", true)
	if err != nil {
		return false, err.Error()
	}
	if code != 200 {
		return false, fmt.Sprintf("HTTP %d", code)
	}
	var as struct {
		Status struct {
			Conditions []struct{ Type, Status, Reason, Message string } `json:"conditions"`
		} `json:"status"`
	}
	if err := json.Unmarshal([]byte(body), &as); err != nil {
		return false, err.Error()
	}
	for _, c := range as.Status.Conditions {
		if c.Type == "Available" {
			return c.Status == "True", fmt.Sprintf("%s %s: %s", c.Status, c.Reason, c.Message)
		}
	}
	return false, "no Available condition yet"
}
