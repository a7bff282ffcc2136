// A node identity (system:node:<name> in system:nodes) against the Node
// authorizer, NodeRestriction and the node-lifecycle controller.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  MERGE_PATCH,
  STRATEGIC_PATCH,
  api,
  cleanup,
  clusterCli,
  kubectl,
  leaseManifest,
  microTime,
  nodeManifest,
  readKubeconfig,
  readyStatusPatch,
  uniqueName,
  waitUntil,
} from './helpers.mjs';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pk-cluster-test-'));
const toDelete = [];
after(async () => {
  await cleanup(toDelete);
  fs.rmSync(tmp, { recursive: true, force: true });
});

function mint(name) {
  const out = path.join(tmp, `${name}.kubeconfig`);
  const r = clusterCli(['kubeconfig-for-node', name, '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  return { file: out, ...readKubeconfig(out) };
}

const TEST_TAINT = { key: 'picokubelet.dev/wasm', value: 'true', effect: 'NoSchedule' };

describe('node client certificate', () => {
  const name = uniqueName('pk-cert');
  const other = uniqueName('pk-other');
  let kc;
  let auth;

  before(async () => {
    kc = mint(name);
    auth = { cert: kc.cert, key: kc.key };
    toDelete.push(`/api/v1/nodes/${name}`, `/api/v1/nodes/${other}`, `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${name}`);
    // Another node, registered by the admin, for the negative tests.
    const r = await api('POST', '/api/v1/nodes', { body: nodeManifest(other) });
    assert.equal(r.status, 201, r.text);
  });

  test('the kubeconfig verifies the server with the cluster CA and names system:node:<name>', async () => {
    assert.match(kc.server, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(kc.ca.includes('BEGIN CERTIFICATE'));
    const review = await api('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      auth,
      ca: kc.ca,
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    });
    assert.equal(review.status, 201, review.text);
    assert.equal(review.json.status.userInfo.username, `system:node:${name}`);
    assert.ok(review.json.status.userInfo.groups.includes('system:nodes'));
  });

  test('kubectl with the node kubeconfig is refused another node', async () => {
    const denied = await kubectl(['get', 'node', other], { kubeconfig: kc.file, allowFail: true });
    assert.notEqual(denied.code, 0);
    assert.match(denied.stderr, /forbidden/i);
  });

  test('creates its own Node with a NoSchedule taint at creation', async () => {
    const r = await api('POST', '/api/v1/nodes', { auth, body: nodeManifest(name, { taints: [TEST_TAINT] }) });
    assert.equal(r.status, 201, r.text);
    const keys = r.json.spec.taints.map((t) => `${t.key}:${t.effect}`);
    assert.ok(keys.includes('picokubelet.dev/wasm:NoSchedule'), keys.join(','));
    // TaintNodesByCondition stamps the not-ready taint on every new Node.
    assert.ok(keys.includes('node.kubernetes.io/not-ready:NoSchedule'), keys.join(','));
  });

  test('creates its own Lease in kube-node-lease, owned by its Node, and renews it', async () => {
    const node = await api('GET', `/api/v1/nodes/${name}`, { auth });
    assert.equal(node.status, 200, node.text);
    const r = await api('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', {
      auth,
      body: leaseManifest(name, node.json.metadata.uid),
    });
    assert.equal(r.status, 201, r.text);
    const renew = await api('PATCH', `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${name}`, {
      auth,
      contentType: MERGE_PATCH,
      body: { spec: { renewTime: microTime() } },
    });
    assert.equal(renew.status, 200, renew.text);
  });

  test('posts Ready=True; the node-lifecycle controller removes the not-ready taint', async () => {
    const r = await api('PATCH', `/api/v1/nodes/${name}/status`, { auth, contentType: STRATEGIC_PATCH, body: readyStatusPatch() });
    assert.equal(r.status, 200, r.text);
    const ready = r.json.status.conditions.find((c) => c.type === 'Ready');
    assert.equal(ready.status, 'True');
    assert.ok(Date.now() - Date.parse(ready.lastHeartbeatTime) < 60_000, 'fresh heartbeat');
    const node = await waitUntil(
      'the not-ready taint to go',
      async () => {
        const n = await api('GET', `/api/v1/nodes/${name}`, { auth });
        const taints = (n.json.spec.taints || []).map((t) => t.key);
        return taints.includes('node.kubernetes.io/not-ready') ? null : n.json;
      },
      { timeoutMs: 20_000 },
    );
    // Our own taint stays; only the controller's taint goes.
    assert.deepEqual(
      node.spec.taints.map((t) => `${t.key}=${t.value}:${t.effect}`),
      ['picokubelet.dev/wasm=true:NoSchedule'],
    );
    const { stdout } = await kubectl(['get', 'node', name, '--no-headers']);
    assert.match(stdout, /\sReady\s/);
  });

  test('may not change its own taints after creation (NodeRestriction)', async () => {
    const r = await api('PATCH', `/api/v1/nodes/${name}`, { auth, contentType: MERGE_PATCH, body: { spec: { taints: [] } } });
    assert.equal(r.status, 403, r.text);
    assert.match(r.json.message, /taints/);
  });

  test('may not set node-role labels on itself (NodeRestriction)', async () => {
    const r = await api('PATCH', `/api/v1/nodes/${name}`, {
      auth,
      contentType: MERGE_PATCH,
      body: { metadata: { labels: { 'node-role.kubernetes.io/control-plane': '' } } },
    });
    assert.equal(r.status, 403, r.text);
  });

  test('is forbidden to touch another node', async () => {
    const base = `/api/v1/nodes/${other}`;
    const checks = [
      ['GET', base, undefined, undefined],
      ['PATCH', base, MERGE_PATCH, { metadata: { labels: { 'picokubelet.dev/hijacked': 'yes' } } }],
      ['PATCH', `${base}/status`, STRATEGIC_PATCH, readyStatusPatch()],
      ['DELETE', base, undefined, undefined],
    ];
    for (const [method, p, contentType, body] of checks) {
      const r = await api(method, p, { auth, contentType, body });
      assert.equal(r.status, 403, `${method} ${p}: ${r.status} ${r.text}`);
    }
    const create = await api('POST', '/api/v1/nodes', { auth, body: nodeManifest(uniqueName('pk-spoof')) });
    assert.equal(create.status, 403, create.text);
    const lease = await api('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', { auth, body: leaseManifest(other) });
    assert.equal(lease.status, 403, lease.text);
  });

  test('cannot list nodes or read secrets', async () => {
    assert.equal((await api('GET', '/api/v1/nodes', { auth })).status, 403);
    assert.equal((await api('GET', '/api/v1/namespaces/kube-system/secrets', { auth })).status, 403);
  });

  test('deleting the Node garbage-collects its Lease (ownerReference)', async () => {
    const del = await api('DELETE', `/api/v1/nodes/${name}`);
    assert.equal(del.status, 200, del.text);
    await waitUntil(
      'the Lease to be collected',
      async () => (await api('GET', `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${name}`)).status === 404,
      { timeoutMs: 30_000 },
    );
  });
});

describe('node static token (pk-token-N)', () => {
  test('kubeconfig-for-node --token authenticates as system:node:pk-token-15', async () => {
    const out = path.join(tmp, 'pk-token-15.kubeconfig');
    const r = clusterCli(['kubeconfig-for-node', 'pk-token-15', '--token', '--out', out]);
    assert.equal(r.status, 0, r.stderr);
    const kc = readKubeconfig(out);
    assert.ok(kc.token);
    const review = await api('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      auth: { token: kc.token },
      ca: kc.ca,
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    });
    assert.equal(review.status, 201, review.text);
    assert.equal(review.json.status.userInfo.username, 'system:node:pk-token-15');
    assert.ok(review.json.status.userInfo.groups.includes('system:nodes'));
    // Allowed by the Node authorizer to read its own (absent) Node; refused for another's.
    assert.equal((await api('GET', '/api/v1/nodes/pk-token-15', { auth: { token: kc.token } })).status, 404);
    assert.equal((await api('GET', '/api/v1/nodes/pk-token-14', { auth: { token: kc.token } })).status, 403);
  });

  test('--token refuses names without a pre-generated token', () => {
    const r = clusterCli(['kubeconfig-for-node', 'no-such-token-node', '--token', '--out', path.join(tmp, 'x')]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /no static token/);
  });
});

describe('batch minting', () => {
  test('mints 1,000 node kubeconfigs quickly, each with its own identity', async () => {
    const dir = path.join(tmp, 'rack');
    const t0 = Date.now();
    const r = clusterCli(['kubeconfig-for-node', '--prefix', 'rack-', '--count', '1000', '--out-dir', dir]);
    const ms = Date.now() - t0;
    assert.equal(r.status, 0, r.stderr);
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.kubeconfig'));
    assert.equal(files.length, 1000);
    assert.ok(ms < 30_000, `took ${ms} ms`);
    const kc = readKubeconfig(path.join(dir, 'rack-999.kubeconfig'));
    const review = await api('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      auth: { cert: kc.cert, key: kc.key },
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
    });
    assert.equal(review.status, 201, review.text);
    assert.equal(review.json.status.userInfo.username, 'system:node:rack-999');
  });
});
