package main

// The add-ons `up` starts once the control plane is ready: the kubelet-serving
// CSR approver (in testenv), the OCI registry and metrics-server (child
// processes). Each of the two binaries is optional (--registry-bin,
// --metrics-server-bin), so testenv still runs a bare control plane by hand.

import (
	"fmt"
	"path/filepath"
)

// addonsInfo is the "addons" part of cluster.json.
type addonsInfo struct {
	KubeletServingApprover string        `json:"kubeletServingApprover"` // the user it runs as
	MetricsServer          *metricsInfo  `json:"metricsServer,omitempty"`
	Registry               *registryInfo `json:"registry,omitempty"`
}

type metricsInfo struct {
	URL        string `json:"url"`
	APIService string `json:"apiService"`
	User       string `json:"user"`
}

type registryInfo struct {
	Address  string `json:"address"` // host:port, for image references
	URL      string `json:"url"`
	AuthFile string `json:"authFile"` // registry-auth.json (0600): username, password
}

func (e *env) startAddons() error {
	if err := e.startApprover(); err != nil {
		return fmt.Errorf("kubelet-serving approver: %w", err)
	}
	e.info.Addons.KubeletServingApprover = approverUser
	if e.opts.registryBin != "" {
		if err := e.startRegistry(); err != nil {
			return err
		}
		e.info.Addons.Registry = &registryInfo{Address: e.registryAddr(), URL: "https://" + e.registryAddr(),
			AuthFile: filepath.Join(e.dir, "registry-auth.json")}
	}
	if e.opts.metricsServerBin != "" {
		if err := e.startMetricsServer(); err != nil {
			return err
		}
		e.info.Addons.MetricsServer = &metricsInfo{URL: fmt.Sprintf("https://127.0.0.1:%d", e.ports.MetricsServer),
			APIService: "v1beta1.metrics.k8s.io", User: metricsServerUser}
	}
	e.writePids()
	return nil
}

// stopAddons stops them before the control plane, as their clients.
func (e *env) stopAddons() {
	if e.stopApprover != nil {
		e.stopApprover()
	}
	for _, c := range []*child{e.metricsServer, e.registry} {
		if c != nil {
			c.stop(e.opts.stopTimeout)
		}
	}
}
