// The API server's client identity towards kubelets (issue 10): `kubectl logs`, the node proxy and
// exec reach a node's kubelet port with --kubelet-client-certificate, and the node authorizes them by
// SubjectAccessReview. testenv gives the API server a client certificate of the cluster CA for the user
// cluster.json names (kubeletClient.user), with no groups, bound to the built-in ClusterRole
// system:kubelet-api-admin and nothing more, and verifies kubelet serving certificates against the
// cluster CA. Here a stand-in kubelet port (an HTTPS server with a serving certificate from a
// kubelet-serving CSR, requiring a cluster-CA client certificate) sees that identity on a
// `kubectl get --raw /api/v1/nodes/<n>/proxy/healthz`. Also the identities tests use against a kubelet
// port: `kubeconfig-for-user` (an authenticated user without RBAC) and a ServiceAccount token from
// `kubectl create token`.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CSR_PATH, addressesPatch, certificateRequest, condition, decidedCSR, issuedCertificate, postCSR } from './csr.mjs';
import { MERGE_PATCH, api, cleanup, cluster, clusterCli, kubectl, nodeManifest, readKubeconfig, readyStatusPatch, uniqueName } from './helpers.mjs';
import { cmdlineOf } from './proc.mjs';

const kc = cluster.kubeletClient;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pk-kubelet-client-test-'));
const toDelete = [];
after(async () => {
  await cleanup(toDelete);
  fs.rmSync(tmp, { recursive: true, force: true });
});

const SAR_PATH = '/apis/authorization.k8s.io/v1/subjectaccessreviews';

/** Whether `user` (in `groups`) may `verb` nodes/`subresource` of `node`, as a kubelet asks. */
async function mayOnNode(user, groups, verb, subresource, node = 'any-node') {
  const r = await api('POST', SAR_PATH, {
    body: {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: { user, groups, resourceAttributes: { verb, resource: 'nodes', subresource, name: node } },
    },
  });
  assert.equal(r.status, 201, r.text);
  return r.json.status.allowed === true;
}

async function may(user, groups, attrs) {
  const r = await api('POST', SAR_PATH, {
    body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user, groups, resourceAttributes: attrs } },
  });
  assert.equal(r.status, 201, r.text);
  return r.json.status.allowed === true;
}

/** Who the API server takes these credentials for (SelfSubjectReview). */
async function whoAmI(auth) {
  const r = await api('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
    auth,
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
  });
  assert.equal(r.status, 201, r.text);
  return r.json.status.userInfo;
}

test('kube-apiserver has a kubelet client certificate and verifies kubelet serving certificates, in this profile too', () => {
  assert.ok(kc, 'cluster.json has no kubeletClient');
  const argv = cmdlineOf(cluster.pids['kube-apiserver']);
  for (const flag of [`--kubelet-client-certificate=${kc.certFile}`, `--kubelet-client-key=${kc.keyFile}`, `--kubelet-certificate-authority=${cluster.caFile}`]) {
    assert.ok(argv.includes(flag), `kube-apiserver (profile ${cluster.profile}) lacks ${flag}: ${argv.join(' ')}`);
  }
  const crt = new X509Certificate(fs.readFileSync(kc.certFile));
  assert.ok(crt.checkIssued(new X509Certificate(cluster.caPEM)), 'not issued by the cluster CA');
  assert.ok(crt.verify(new X509Certificate(cluster.caPEM).publicKey));
  // A user, no groups: not system:masters.
  assert.equal(crt.subject, `CN=${kc.user}`);
  assert.equal(kc.user, 'picokubelet:kube-apiserver-kubelet-client');
  assert.deepEqual(crt.keyUsage, ['1.3.6.1.5.5.7.3.2']); // clientAuth only
  assert.equal(fs.statSync(kc.keyFile).mode & 0o777, 0o600);
});

test('the API server authenticates that certificate as the user, without groups beyond system:authenticated', async () => {
  const info = await whoAmI({ cert: fs.readFileSync(kc.certFile, 'utf8'), key: fs.readFileSync(kc.keyFile, 'utf8') });
  assert.equal(info.username, kc.user);
  assert.deepEqual(info.groups, ['system:authenticated']);
});

test('its only binding is system:kubelet-api-admin, and that allows the kubelet API and nothing else', async () => {
  const r = await api('GET', `/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${encodeURIComponent(kc.user)}`);
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'system:kubelet-api-admin' });
  assert.deepEqual(r.json.subjects, [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: kc.user }]);
  assert.equal(kc.clusterRole, 'system:kubelet-api-admin');
  const all = await api('GET', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings');
  const mine = all.json.items.filter((b) => b.subjects?.some((s) => s.kind === 'User' && s.name === kc.user)).map((b) => b.metadata.name);
  assert.deepEqual(mine, [kc.user]);
  const groups = ['system:authenticated'];
  // What a kubelet asks for the API server's requests: logs and exec (proxy), the node proxy, stats,
  // metrics, the fine-grained healthz and pods (v1.36), the log viewer.
  for (const sub of ['proxy', 'log', 'stats', 'metrics', 'healthz', 'pods']) {
    assert.ok(await mayOnNode(kc.user, groups, 'get', sub), `nodes/${sub} get denied`);
  }
  assert.ok(await mayOnNode(kc.user, groups, 'create', 'proxy'), 'nodes/proxy create (exec) denied');
  // Least privilege: no Secrets, no writes to nodes or pods, no cluster-admin.
  for (const attrs of [
    { verb: 'list', resource: 'secrets' },
    { verb: 'get', resource: 'secrets', namespace: 'kube-system' },
    { verb: 'create', resource: 'pods', namespace: 'default' },
    { verb: 'delete', resource: 'nodes', name: 'any-node' },
    { verb: 'patch', resource: 'nodes', subresource: 'status', name: 'any-node' },
    { verb: 'create', resource: 'clusterrolebindings', group: 'rbac.authorization.k8s.io' },
    { verb: '*', resource: '*', group: '*' },
  ]) {
    assert.equal(await may(kc.user, groups, attrs), false, `${kc.user} may ${JSON.stringify(attrs)}`);
  }
});

describe('a user from kubeconfig-for-user', () => {
  let user;
  let auth;
  before(() => {
    user = uniqueName('pk-nobody');
    const out = path.join(tmp, `${user}.kubeconfig`);
    const r = clusterCli(['kubeconfig-for-user', user, '--group', 'pk-test-group', '--out', out]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(fs.statSync(out).mode & 0o777, 0o600);
    const k = readKubeconfig(out);
    assert.equal(k.server, cluster.server);
    assert.equal(k.ca.trim(), cluster.caPEM.trim());
    auth = { cert: k.cert, key: k.key };
  });

  test('authenticates as that user and groups, with a cluster-CA client certificate', async () => {
    const crt = new X509Certificate(auth.cert);
    assert.ok(crt.checkIssued(new X509Certificate(cluster.caPEM)));
    const info = await whoAmI(auth);
    assert.equal(info.username, user);
    assert.deepEqual([...info.groups].sort(), ['pk-test-group', 'system:authenticated']);
  });

  test('has no RBAC on nodes: every kubelet subresource is denied', async () => {
    for (const sub of ['proxy', 'log', 'stats', 'metrics', 'healthz', 'pods']) {
      assert.equal(await mayOnNode(user, ['pk-test-group', 'system:authenticated'], 'get', sub), false, `nodes/${sub}`);
    }
    const r = await api('GET', '/api/v1/nodes', { auth });
    assert.equal(r.status, 403, r.text);
  });

  test('system:masters and node identities are refused (exit 2), and nothing is written', () => {
    for (const args of [
      ['eve', '--group', 'system:masters'],
      ['system:node:pk-x', '--group', 'system:nodes'],
    ]) {
      const out = path.join(tmp, 'refused.kubeconfig');
      const r = clusterCli(['kubeconfig-for-user', ...args, '--out', out]);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /refused|node identity/);
      assert.ok(!fs.existsSync(out));
    }
  });
});

test('a ServiceAccount token from `kubectl create token` passes a TokenReview; its RBAC decides the kubelet API', async () => {
  const ns = uniqueName('pk-sa');
  await kubectl(['create', 'namespace', ns]);
  toDelete.push(`/api/v1/namespaces/${ns}`);
  await kubectl(['-n', ns, 'create', 'serviceaccount', 'reader']);
  const { stdout } = await kubectl(['-n', ns, 'create', 'token', 'reader', '--duration', '10m']);
  const token = stdout.trim();
  const r = await api('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
  });
  assert.equal(r.status, 201, r.text);
  assert.equal(r.json.status.authenticated, true, JSON.stringify(r.json.status));
  const saUser = `system:serviceaccount:${ns}:reader`;
  assert.equal(r.json.status.user.username, saUser);
  assert.ok(r.json.status.user.groups.includes(`system:serviceaccounts:${ns}`));
  const groups = r.json.status.user.groups;
  assert.equal(await mayOnNode(saUser, groups, 'get', 'log'), false);
  // Bound to system:kubelet-api-admin it may: what a test binds for the allowed case.
  const crb = `${ns}-kubelet-api`;
  await kubectl(['create', 'clusterrolebinding', crb, '--clusterrole=system:kubelet-api-admin', `--serviceaccount=${ns}:reader`]);
  toDelete.push(`/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${crb}`);
  assert.equal(await mayOnNode(saUser, groups, 'get', 'log'), true);
  assert.equal(await mayOnNode(saUser, groups, 'get', 'metrics'), true);
});

describe("the API server's requests to a kubelet port", () => {
  let node;
  let server;
  const seen = [];

  before(async () => {
    const name = uniqueName('pk-kubelet-client');
    const out = path.join(tmp, `${name}.kubeconfig`);
    assert.equal(clusterCli(['kubeconfig-for-node', name, '--out', out]).status, 0);
    const k = readKubeconfig(out);
    const auth = { cert: k.cert, key: k.key };
    node = { name, auth };
    toDelete.push(`/api/v1/nodes/${name}`);
    assert.equal((await api('POST', '/api/v1/nodes', { auth, body: nodeManifest(name) })).status, 201);
    // InternalIP only: the address either profile dials (upstream would pick a Hostname first).
    const addresses = [{ type: 'InternalIP', address: '127.0.0.1' }];
    assert.equal((await api('PATCH', `/api/v1/nodes/${name}/status`, { auth, body: addressesPatch(addresses), contentType: MERGE_PATCH })).status, 200);
    const req = certificateRequest({ cn: `system:node:${name}`, san: 'IP:127.0.0.1' });
    const csrName = await postCSR(auth, req.requestPEM);
    toDelete.push(`${CSR_PATH}/${csrName}`);
    const csr = await decidedCSR(csrName);
    assert.ok(condition(csr, 'Approved'), JSON.stringify(csr.status));
    const { pem } = issuedCertificate(csr);
    // Clients must show a cluster-CA certificate, as a kubelet's --client-ca-file demands.
    server = https.createServer({ cert: pem, key: req.keyPEM, ca: cluster.caPEM, requestCert: true, rejectUnauthorized: true }, (rq, rs) => {
      const peer = rq.socket.getPeerCertificate();
      seen.push({ path: rq.url, cn: peer?.subject?.CN, o: peer?.subject?.O });
      rs.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const ready = readyStatusPatch();
    ready.status.addresses = addresses;
    ready.status.daemonEndpoints = { kubeletEndpoint: { Port: server.address().port } };
    assert.equal((await api('PATCH', `/api/v1/nodes/${name}/status`, { auth, body: ready, contentType: MERGE_PATCH })).status, 200);
  });
  after(() => server?.close());

  test('`kubectl logs` reaches it with the kubelet client certificate, the serving certificate verified', async () => {
    const pod = uniqueName('pk-logs');
    const r = await api('POST', '/api/v1/namespaces/default/pods', {
      body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: pod }, spec: { nodeName: node.name, containers: [{ name: 'c', image: 'registry.invalid/none' }] } },
    });
    assert.equal(r.status, 201, r.text);
    // No kubelet confirms a graceful deletion.
    toDelete.unshift(`/api/v1/namespaces/default/pods/${pod}?gracePeriodSeconds=0`);
    const { stdout } = await kubectl(['logs', '-n', 'default', pod, '-c', 'c']);
    assert.equal(stdout, 'ok');
    const hit = seen.find((s) => s.path.startsWith(`/containerLogs/default/${pod}/c`));
    assert.ok(hit, JSON.stringify(seen));
    assert.equal(hit.cn, kc.user);
    assert.equal(hit.o, undefined);
  });

  // The node proxy subresource refuses any node address that is not global unicast (kube-apiserver
  // pkg/registry/core/node/strategy.go, isProxyableHostname), so on this loopback-only control plane
  // `kubectl get --raw /api/v1/nodes/<n>/proxy/...` never reaches a node on 127.0.x.y;
  // tests/e2e/node-proxy.test.ts puts a node in a network namespace of its own (10.213.X.2) for it.
  test('`kubectl get --raw /api/v1/nodes/<n>/proxy/healthz` is refused for a loopback address (400 address not allowed)', async () => {
    const before = seen.length;
    const r = await api('GET', `/api/v1/nodes/${node.name}/proxy/healthz`);
    assert.equal(r.status, 400, r.text);
    assert.match(r.text, /address not allowed/);
    assert.equal(seen.length, before, 'the API server reached the node anyway');
  });
});
