// The node-lifecycle controller and the scheduler against a node agent that
// renews, stops renewing, and comes back: the scheduler binds a pod to the Ready node, Ready turns
// Unknown with the unreachable taint after the grace period, and posting Ready=True again clears the taint.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import {
  MERGE_PATCH,
  STRATEGIC_PATCH,
  api,
  cleanup,
  cluster,
  clusterCli,
  leaseManifest,
  microTime,
  nodeManifest,
  readKubeconfig,
  readyStatusPatch,
  uniqueName,
  waitUntil,
} from './helpers.mjs';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pk-lifecycle-test-'));
const name = uniqueName('pk-life');
const pod = uniqueName('pk-pod');
const LEASE = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${name}`;
after(async () => {
  await api('DELETE', `/api/v1/namespaces/default/pods/${pod}`, { body: { kind: 'DeleteOptions', apiVersion: 'v1', gracePeriodSeconds: 0 } });
  await cleanup([`/api/v1/nodes/${name}`, LEASE]);
  fs.rmSync(tmp, { recursive: true, force: true });
});

const seconds = (s) => Number(String(s).replace(/s$/, ''));
const taintKeys = (n) => (n.spec.taints || []).map((t) => `${t.key}:${t.effect}`);

test('Ready node gets a pod bound; silent node turns Unknown and unreachable; recovery clears it', async (t) => {
  const out = path.join(tmp, `${name}.kubeconfig`);
  assert.equal(clusterCli(['kubeconfig-for-node', name, '--out', out]).status, 0);
  const kc = readKubeconfig(out);
  const auth = { cert: kc.cert, key: kc.key };
  const get = async () => (await api('GET', `/api/v1/nodes/${name}`, { auth })).json;
  const postReady = async () => {
    const r = await api('PATCH', `/api/v1/nodes/${name}/status`, { auth, contentType: STRATEGIC_PATCH, body: readyStatusPatch() });
    assert.equal(r.status, 200, r.text);
    const l = await api('PATCH', LEASE, { auth, contentType: MERGE_PATCH, body: { spec: { renewTime: microTime() } } });
    assert.equal(l.status, 200, l.text);
  };

  const created = await api('POST', '/api/v1/nodes', { auth, body: nodeManifest(name) });
  assert.equal(created.status, 201, created.text);
  const lease = await api('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', {
    auth,
    body: leaseManifest(name, created.json.metadata.uid),
  });
  assert.equal(lease.status, 201, lease.text);
  await postReady();
  await waitUntil('not-ready taint removed', async () => !taintKeys(await get()).some((k) => k.startsWith('node.kubernetes.io/not-ready')), {
    timeoutMs: 20_000,
  });

  await t.test('the scheduler binds a BestEffort pod to the Ready node', async () => {
    const r = await api('POST', '/api/v1/namespaces/default/pods', {
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: pod },
        spec: {
          nodeSelector: { 'kubernetes.io/hostname': name },
          containers: [{ name: 'c', image: 'registry.invalid/never-pulled:1' }],
        },
      },
    });
    assert.equal(r.status, 201, r.text);
    const bound = await waitUntil(
      'the pod to be bound',
      async () => {
        const p = await api('GET', `/api/v1/namespaces/default/pods/${pod}`);
        return p.json.spec.nodeName ? p.json : null;
      },
      { timeoutMs: 20_000 },
    );
    assert.equal(bound.spec.nodeName, name);
  });

  await t.test('without renewals the controller sets Ready=Unknown and taints unreachable:NoSchedule', async () => {
    const grace = seconds(cluster.nodeMonitor.gracePeriod);
    const t0 = Date.now();
    const node = await waitUntil(
      'Ready=Unknown and the unreachable taint',
      async () => {
        const n = await get();
        const ready = n.status.conditions.find((c) => c.type === 'Ready');
        return ready.status === 'Unknown' && taintKeys(n).includes('node.kubernetes.io/unreachable:NoSchedule') ? n : null;
      },
      { timeoutMs: (grace + 20) * 1000, intervalMs: 500 },
    );
    const waited = (Date.now() - t0) / 1000;
    assert.ok(waited >= grace - 5, `flipped after ${waited}s, before the ${grace}s grace period`);
    const ready = node.status.conditions.find((c) => c.type === 'Ready');
    assert.equal(ready.reason, 'NodeStatusUnknown');
  });

  await t.test('posting Ready=True again removes the unreachable taint', async () => {
    await postReady();
    await waitUntil('unreachable taint removed', async () => !taintKeys(await get()).some((k) => k.startsWith('node.kubernetes.io/unreachable')), {
      timeoutMs: 20_000,
    });
  });
});
