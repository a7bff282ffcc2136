// The harness's own Go tests (tools/k8s-testenv/cmd/testenv/*_test.go): the
// kubelet-serving approval policy in the cases a running cluster cannot reach
// (NodeRestriction refuses a node's CSR with another CN before the approver
// sees it), and the API server's kubelet client identity in both profiles. Needs `go` (1.26) on PATH, as building the control plane does; it
// fails without it. `go test` caches results, so an unchanged tree costs ~1 s,
// a changed one ~30 s on 2 cores.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const MODULE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'tools', 'k8s-testenv');

test('go test ./cmd/testenv passes (the kubelet-serving policy, the kubelet client identity)', () => {
  // The flags of tools/cluster.mjs's build, so the packages come from the same build cache.
  const r = spawnSync('go', ['test', '-trimpath', '-v', './cmd/testenv'], {
    cwd: MODULE_DIR,
    encoding: 'utf8',
    timeout: 10 * 60_000,
    env: { ...process.env, GOTOOLCHAIN: 'local', CGO_ENABLED: '0', GOFLAGS: '-buildvcs=false -mod=readonly' },
  });
  assert.equal(r.error, undefined, `go: ${r.error} (Go 1.26 must be on PATH)`);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  // -v lists each case unless the result is cached; either way the package passed.
  assert.match(r.stdout, /^ok\s+picokubelet\.dev\/tools\/k8s-testenv\/cmd\/testenv\b/m);
  if (!/\(cached\)/.test(r.stdout)) {
    assert.match(r.stdout, /--- PASS: TestReviewKubeletServing\/CN_of_another_node/);
    for (const t of ['TestKubeletClientCertificate', 'TestAPIServerKubeletFlagsInEveryProfile/k3s', 'TestAPIServerKubeletFlagsInEveryProfile/upstream', 'TestKubeletClientBinding', 'TestMintUserCertRefusals']) {
      assert.match(r.stdout, new RegExp(`--- PASS: ${t}\\b`));
    }
    assert.doesNotMatch(r.stdout, /--- FAIL/);
  }
});
