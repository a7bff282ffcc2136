package main

// The aggregation layer: kube-apiserver proxies /apis/metrics.k8s.io to
// metrics-server. It authenticates itself to the extension server with the
// front-proxy client certificate and passes the user on in X-Remote-* headers;
// the extension server trusts those headers only from a client certificate
// that the front-proxy CA signed and whose CN is in --requestheader-allowed-names.
// The front-proxy CA is a CA of its own (as kubeadm makes it): a certificate
// the cluster CA signs for anyone (a node, say) must never be able to assert
// another user's name in those headers.

import (
	"path/filepath"
)

const frontProxyClientCN = "front-proxy-client"

type frontProxyPaths struct{ caCrt, caKey, clientCrt, clientKey string }

func (p pkiPaths) frontProxy() frontProxyPaths {
	return frontProxyPaths{
		caCrt:     filepath.Join(p.dir, "front-proxy-ca.crt"),
		caKey:     filepath.Join(p.dir, "front-proxy-ca.key"),
		clientCrt: filepath.Join(p.dir, "front-proxy-client.crt"),
		clientKey: filepath.Join(p.dir, "front-proxy-client.key"),
	}
}

// ensureFrontProxyPKI makes the front-proxy CA and the API server's client certificate.
func ensureFrontProxyPKI(p pkiPaths) error {
	fp := p.frontProxy()
	if !fileExists(fp.caCrt) || !fileExists(fp.caKey) {
		logf("generating front-proxy CA")
		if err := newCA(fp.caCrt, fp.caKey, clusterName+"-front-proxy-ca"); err != nil {
			return err
		}
	}
	ca, caKey, err := loadCAFiles(fp.caCrt, fp.caKey)
	if err != nil {
		return err
	}
	return ensureLeaf("front-proxy client", fp.clientCrt, fp.clientKey, clientCertTemplate(frontProxyClientCN), ca, caKey)
}

// aggregationArgs are kube-apiserver's flags for the aggregation layer, plus the
// CA it verifies kubelet serving certificates with (the cluster CA, which signs
// approved kubernetes.io/kubelet-serving CSRs): with it, `kubectl logs/exec` and
// the node proxy refuse a node whose serving certificate that CA did not sign.
func aggregationArgs(p pkiPaths) []string {
	fp := p.frontProxy()
	return []string{
		"--requestheader-client-ca-file=" + fp.caCrt,
		"--requestheader-allowed-names=" + frontProxyClientCN,
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file=" + fp.clientCrt,
		"--proxy-client-key-file=" + fp.clientKey,
		"--kubelet-certificate-authority=" + p.caCrt,
	}
}
