package main

// `testenv up --manifest FILE`: objects every cluster of ours starts with, applied
// with the cached kubectl as admin once the API server is ready and before READY,
// so that no test sees the cluster without them. tools/cluster.mjs passes
// deploy/bootstrap-rbac.yaml: the bindings kubeadm creates for TLS bootstrap,
// from the same file a real cluster's admin applies. Applying is idempotent, so
// a restart on an existing dir changes nothing.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

func (e *env) applyManifests() error {
	for _, m := range e.opts.manifests {
		if !fileExists(m) {
			return fmt.Errorf("--manifest %s: no such file", m)
		}
		var out bytes.Buffer
		err := waitFor("kubectl apply -f "+m, e.opts.readyTimeout, childAlive(e.apiserver), func() (bool, string) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out.Reset()
			cmd := exec.CommandContext(ctx, filepath.Join(e.opts.binDir, "kubectl"), "apply", "-f", m)
			cmd.Env = append(os.Environ(), "KUBECONFIG="+e.adminKC)
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Run(); err != nil {
				// Right after /readyz the RBAC caches can still be filling; try again.
				return false, fmt.Sprintf("%v: %s", err, strings.TrimSpace(out.String()))
			}
			return true, ""
		})
		if err != nil {
			return err
		}
		for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
			logf("  %s", l)
		}
	}
	return nil
}
