// `cluster.mjs up --k8s-version v1.31` (issue 14 item 2): the second pinned
// Kubernetes, the API line of the original project's k3s cluster. Starts a
// cluster of its own in a throw-away --dir and purges it afterwards. The first
// run on a machine builds v1.31 into the binary cache (about 15 min on 2 busy
// cores; tools/README.md), so scripts/test.sh runs this file in the opt-in suite
// `v131`, not in `cluster`.
//
// Besides "it runs and says v1.31", it pins down the differences a node meets on
// v1.31 compared with v1.36, so they are facts checked here, not folklore.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { requestJson } from './https.mjs';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'tools', 'cluster.mjs');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pk-v131-test-'));
let info;

function cli(args, timeoutMs = 120_000) {
  const r = spawnSync(process.execPath, [CLI, ...args, '--dir', dir], { encoding: 'utf8', timeout: timeoutMs });
  assert.equal(r.error, undefined, `${args.join(' ')}: ${r.error}`);
  return r;
}

function request(method, urlPath, { body, auth = { token: info.adminToken }, contentType = 'application/json' } = {}) {
  return requestJson(info.server, info.caPEM, method, urlPath, { body, auth, contentType });
}

before(() => {
  // A cold build takes 15 min or more on a shared 2-core machine; a cached one none.
  const r = cli(['up', '--k8s-version', 'v1.31', '--timeout', '300'], 45 * 60_000);
  assert.equal(r.status, 0, `up --k8s-version v1.31 failed:\n${r.stderr.slice(-3000)}`);
  info = JSON.parse(fs.readFileSync(path.join(dir, 'cluster.json'), 'utf8'));
});
after(() => {
  cli(['down', '--purge']);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the API server, kubectl and cluster.json say v1.31.14', async () => {
  assert.equal(info.version, 'v1.31.14');
  assert.equal(fs.readFileSync(path.join(dir, 'k8s-version'), 'utf8').trim(), 'v1.31.14');
  const v = await request('GET', '/version');
  assert.equal(v.status, 200, v.text);
  assert.equal(v.json.gitVersion, 'v1.31.14');
  assert.equal(v.json.minor, '31');
  const kubectl = path.join(info.binDir, 'kubectl');
  const out = JSON.parse(execFileSync(kubectl, ['version', '-o', 'json'], { env: { ...process.env, KUBECONFIG: info.adminKubeconfig }, encoding: 'utf8' }));
  assert.equal(out.clientVersion.gitVersion, 'v1.31.14');
  assert.equal(out.serverVersion.gitVersion, 'v1.31.14');
  assert.equal((await request('GET', '/readyz')).status, 200);
  // The same profile and bindings as on v1.36.
  assert.equal(info.profile, 'k3s');
  assert.equal((await request('GET', '/version', { auth: {} })).status, 401);
  const crb = await request('GET', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/picokubelet:node-autoapprove-bootstrap');
  assert.equal(crb.status, 200, crb.text);
});

test('a Node created through the API is visible, and a node identity may read other Nodes on v1.31', async () => {
  const name = `pk-v131-${Date.now().toString(36)}`;
  const mint = cli(['kubeconfig-for-node', name, '--out', path.join(dir, 'nodes', `${name}.kubeconfig`)]);
  assert.equal(mint.status, 0, mint.stderr);
  const kc = fs.readFileSync(path.join(dir, 'nodes', `${name}.kubeconfig`), 'utf8');
  const b64 = (k) => Buffer.from(kc.match(new RegExp(`${k}: (\\S+)`))[1], 'base64').toString();
  const auth = { cert: b64('client-certificate-data'), key: b64('client-key-data') };
  const c = await request('POST', '/api/v1/nodes', { auth, body: { apiVersion: 'v1', kind: 'Node', metadata: { name } } });
  assert.equal(c.status, 201, c.text);
  const seen = await request('GET', `/api/v1/nodes/${name}`);
  assert.equal(seen.status, 200, seen.text);
  assert.equal(seen.json.metadata.uid, c.json.metadata.uid);
  const listed = await request('GET', '/api/v1/nodes');
  assert.ok(listed.json.items.some((n) => n.metadata.name === name));

  // v1.31's Node authorizer lets a node get and list every Node (v1.36 answers 403 without a
  // field selector on its own name: AuthorizeNodeWithSelectors).
  const other = `${name}-other`;
  assert.equal((await request('POST', '/api/v1/nodes', { body: { apiVersion: 'v1', kind: 'Node', metadata: { name: other } } })).status, 201);
  assert.equal((await request('GET', `/api/v1/nodes/${other}`, { auth })).status, 200);
  assert.equal((await request('GET', '/api/v1/nodes', { auth })).status, 200);
  // Writing another Node stays forbidden on both.
  const patch = await request('PATCH', `/api/v1/nodes/${other}`, { auth, contentType: 'application/merge-patch+json', body: { metadata: { labels: { hijacked: 'yes' } } } });
  assert.equal(patch.status, 403, patch.text);
  for (const n of [name, other]) await request('DELETE', `/api/v1/nodes/${n}`);
});

test('v1.31 refuses a WatchList watch (sendInitialEvents) and has no pod status observedGeneration', async () => {
  const w = await request('GET', '/api/v1/namespaces/default/configmaps?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true');
  assert.equal(w.status, 422, w.text);
  assert.match(w.json.message, /sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled/);

  const name = `pk-v131-pod-${Date.now().toString(36)}`;
  const pod = await request('POST', '/api/v1/namespaces/default/pods', {
    body: { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { nodeName: 'pk-v131-nowhere', containers: [{ name: 'c', image: 'registry.invalid/none' }] } },
  });
  assert.equal(pod.status, 201, pod.text);
  const st = await request('PATCH', `/api/v1/namespaces/default/pods/${name}/status`, {
    contentType: 'application/merge-patch+json',
    body: { status: { observedGeneration: 1, phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'True', observedGeneration: 1 }] } },
  });
  assert.equal(st.status, 200, st.text);
  assert.equal(st.json.status.observedGeneration, undefined, 'v1.31 has no PodStatus.observedGeneration');
  assert.equal(st.json.status.conditions.find((c) => c.type === 'PodScheduled').observedGeneration, undefined);
  await request('DELETE', `/api/v1/namespaces/default/pods/${name}?gracePeriodSeconds=0`);
});

test('`up` refuses to open this v1.31 datastore with v1.36, running or not; without --k8s-version the dir keeps v1.31', () => {
  const running = cli(['up', '--k8s-version', 'v1.36']);
  assert.equal(running.status, 1, running.stderr);
  assert.match(running.stderr, /holds a datastore written by Kubernetes v1\.31\.14; v1\.36\.3 must not open it/);
  const down = cli(['down']);
  assert.equal(down.status, 0, down.stderr);
  const stopped = cli(['up', '--k8s-version', 'v1.36.3']);
  assert.equal(stopped.status, 1, stopped.stderr);
  assert.match(stopped.stderr, /holds a datastore written by Kubernetes v1\.31\.14/);
  const again = cli(['up'], 5 * 60_000);
  assert.equal(again.status, 0, again.stderr.slice(-2000));
  assert.match(again.stderr, /kube-apiserver v1\.31\.14/);
});
