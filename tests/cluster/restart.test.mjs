// `cluster restart-apiserver`: only kube-apiserver restarts, on the same port
// with the same certificates; state in etcd and the controllers survive.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import {
  CLUSTER_DIR,
  STRATEGIC_PATCH,
  api,
  cleanup,
  cluster,
  clusterCli,
  nodeManifest,
  readKubeconfig,
  readyStatusPatch,
  uniqueName,
  waitUntil,
} from './helpers.mjs';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pk-restart-test-'));
const name = uniqueName('pk-restart');
after(async () => {
  await cleanup([`/api/v1/nodes/${name}`]);
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('restart-apiserver keeps port, certificates, data and node credentials working', async () => {
  const out = path.join(tmp, `${name}.kubeconfig`);
  assert.equal(clusterCli(['kubeconfig-for-node', name, '--out', out]).status, 0);
  const kc = readKubeconfig(out);
  const auth = { cert: kc.cert, key: kc.key };
  const created = await api('POST', '/api/v1/nodes', { auth, body: nodeManifest(name) });
  assert.equal(created.status, 201, created.text);

  const before = JSON.parse(fs.readFileSync(path.join(CLUSTER_DIR, 'cluster.json'), 'utf8'));
  const r = clusterCli(['restart-apiserver']);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  const afterInfo = JSON.parse(fs.readFileSync(path.join(CLUSTER_DIR, 'cluster.json'), 'utf8'));

  assert.equal(afterInfo.server, before.server, 'same URL and port');
  assert.equal(afterInfo.caPEM, before.caPEM, 'same CA');
  assert.equal(afterInfo.adminToken, cluster.adminToken, 'same tokens');
  assert.notEqual(afterInfo.pids['kube-apiserver'], before.pids['kube-apiserver'], 'a new kube-apiserver process');
  assert.equal(afterInfo.pids['kube-controller-manager'], before.pids['kube-controller-manager'], 'KCM untouched');
  assert.equal(afterInfo.pids['kube-scheduler'], before.pids['kube-scheduler'], 'scheduler untouched');
  assert.equal(afterInfo.apiserverRestarts, before.apiserverRestarts + 1);

  // The node's certificate (minted before the restart) still works, the Node survived in etcd,
  // and the node-lifecycle controller still acts on it.
  const got = await api('GET', `/api/v1/nodes/${name}`, { auth });
  assert.equal(got.status, 200, got.text);
  const ready = await api('PATCH', `/api/v1/nodes/${name}/status`, { auth, contentType: STRATEGIC_PATCH, body: readyStatusPatch() });
  assert.equal(ready.status, 200, ready.text);
  await waitUntil(
    'the not-ready taint to go after the restart',
    async () => {
      const n = await api('GET', `/api/v1/nodes/${name}`, { auth });
      return !(n.json.spec.taints || []).some((t) => t.key === 'node.kubernetes.io/not-ready');
    },
    { timeoutMs: 30_000 },
  );
});
