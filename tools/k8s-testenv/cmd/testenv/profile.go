package main

// Profiles: which flavour of API server a node meets. Both run the same binaries
// with Node,RBAC authorization, NodeRestriction and bootstrap-token
// authentication; they differ where k3s's API server and controller manager
// differ from the upstream defaults, in the ways a node can feel:
//
//   - anonymous requests: upstream lets them in as system:anonymous (so /version,
//     /healthz, /readyz answer without credentials); k3s turns anonymous auth off,
//     so every request without valid credentials gets 401.
//   - which node address the API server dials for logs, exec and the node proxy:
//     upstream tries Hostname first, k3s InternalIP, ExternalIP, Hostname (a node
//     name that no resolver knows is then never dialled).
//   - the controllers next to the workload set: kubeadm adds tokencleaner and
//     bootstrapsigner to the upstream set; k3s only tokencleaner.

import (
	"flag"
	"fmt"
	"sort"
	"strings"
)

type profile struct {
	apiserverArgs []string
	// extraControllers are added to --controllers unless the caller set the list.
	extraControllers []string
}

const defaultProfile = "k3s"

var profiles = map[string]profile{
	"upstream": {
		extraControllers: []string{"bootstrap-signer-controller"},
	},
	"k3s": {
		apiserverArgs: []string{
			"--anonymous-auth=false",
			"--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
		},
	},
}

func profileNames() string {
	var names []string
	for n := range profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// applyProfile checks --profile and adds its controllers to the default list (a
// --controllers given by the caller is taken as it is).
func applyProfile(o *upOptions, fs *flag.FlagSet) error {
	p, ok := profiles[o.profile]
	if !ok {
		return fmt.Errorf("--profile is one of %s, not %q", profileNames(), o.profile)
	}
	controllersSet := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "controllers" {
			controllersSet = true
		}
	})
	if !controllersSet && len(p.extraControllers) > 0 {
		o.controllers += "," + strings.Join(p.extraControllers, ",")
	}
	return nil
}

func (e *env) profileAPIServerArgs() []string {
	return profiles[e.opts.profile].apiserverArgs
}
