package main

// The API server's client identity towards kubelets: `kubectl logs`, the node
// proxy (`kubectl get --raw /api/v1/nodes/<n>/proxy/...`), exec and port-forward
// are requests the API server makes to a node's kubelet port, authenticated with
// --kubelet-client-certificate/--kubelet-client-key. A kubelet authorizes them
// like any other request (SubjectAccessReview on nodes/<subresource>), so that
// user needs RBAC: the built-in ClusterRole system:kubelet-api-admin (nodes
// get/list/watch/proxy, nodes/proxy, log, stats, metrics, spec, ...), bound by
// kubelet-client-rbac.yaml; never system:masters (kubeadm's older default),
// which would make a leaked copy of this key a cluster admin.
// The key pair is made once per cluster directory, before kube-apiserver
// starts (the flags name the files); the binding is applied before READY.

import (
	_ "embed"
	"path/filepath"
	"strings"
)

//go:embed kubelet-client-rbac.yaml
var kubeletClientManifest string

// kubeletClientUser is the CN of the API server's kubelet client certificate
// (upstream kubeadm calls it kube-apiserver-kubelet-client); no groups.
const kubeletClientUser = "picokubelet:kube-apiserver-kubelet-client"

// kubeletClientRole is the built-in ClusterRole the user is bound to.
const kubeletClientRole = "system:kubelet-api-admin"

// kubeletClientInfo is the "kubeletClient" part of cluster.json.
type kubeletClientInfo struct {
	User        string `json:"user"`
	CertFile    string `json:"certFile"`
	KeyFile     string `json:"keyFile"`
	ClusterRole string `json:"clusterRole"` // bound by the ClusterRoleBinding named like the user
}

type kubeletClientPaths struct{ crt, key string }

func (p pkiPaths) kubeletClient() kubeletClientPaths {
	return kubeletClientPaths{
		crt: filepath.Join(p.dir, "apiserver-kubelet-client.crt"),
		key: filepath.Join(p.dir, "apiserver-kubelet-client.key"),
	}
}

// ensureKubeletClientPKI makes the API server's kubelet client certificate,
// signed by the cluster CA (the client CA kubelets verify it against).
func ensureKubeletClientPKI(p pkiPaths) error {
	ca, caKey, err := loadCA(p)
	if err != nil {
		return err
	}
	kp := p.kubeletClient()
	return ensureLeaf("kube-apiserver kubelet client", kp.crt, kp.key, clientCertTemplate(kubeletClientUser), ca, caKey)
}

// kubeletClientArgs are kube-apiserver's flags for it.
func kubeletClientArgs(p pkiPaths) []string {
	kp := p.kubeletClient()
	return []string{
		"--kubelet-client-certificate=" + kp.crt,
		"--kubelet-client-key=" + kp.key,
	}
}

func kubeletClientObjects() string {
	return strings.NewReplacer("@USER@", kubeletClientUser, "@ROLE@", kubeletClientRole).Replace(kubeletClientManifest)
}

// applyKubeletClientRBAC binds the user to system:kubelet-api-admin.
func (e *env) applyKubeletClientRBAC() error {
	return e.applyManifest("kube-apiserver kubelet client RBAC", kubeletClientObjects())
}
