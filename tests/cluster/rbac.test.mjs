// deploy/picokubelet-rbac.yaml: applies, and its ServiceAccount token can do
// what the kubelet needs and nothing else, the kubelet port's reviews and
// serving CSR included.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  MERGE_PATCH,
  REPO_ROOT,
  STRATEGIC_PATCH,
  api,
  cleanup,
  kubectl,
  leaseManifest,
  microTime,
  nodeManifest,
  readyStatusPatch,
  uniqueName,
} from './helpers.mjs';
import { CSR_PATH, certificateRequest, postCSR } from './csr.mjs';

const MANIFEST = path.join(REPO_ROOT, 'deploy', 'picokubelet-rbac.yaml');
const SA = 'system:serviceaccount:kube-system:picokubelet';
const LEASES = '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases';

describe('picokubelet RBAC manifest', () => {
  const name = uniqueName('pk-rbac');
  const toDelete = [`/api/v1/nodes/${name}`, `${LEASES}/${name}`];
  let auth;

  before(async () => {
    await kubectl(['apply', '-f', MANIFEST]);
    const { stdout } = await kubectl(['-n', 'kube-system', 'create', 'token', 'picokubelet', '--duration=10m']);
    auth = { token: stdout.trim() };
  });

  after(async () => {
    await cleanup(toDelete);
    await kubectl(['delete', '--ignore-not-found', '-f', MANIFEST], { allowFail: true });
  });

  test('never binds cluster-admin or wildcards', () => {
    const text = fs.readFileSync(MANIFEST, 'utf8');
    const yaml = text.replace(/^\s*#.*$/gm, '');
    assert.doesNotMatch(yaml, /cluster-admin/);
    assert.doesNotMatch(yaml, /["']\*["']|\[\s*\*\s*\]/);
    assert.match(text, /create token picokubelet --duration=/);
  });

  test('kubectl auth can-i grants exactly the kubelet verbs', async () => {
    // `resource/sub` means a subresource here (kubectl itself would read it as resource/name).
    const can = async (verb, resource, ns) => {
      const [res, sub] = resource.split('/');
      const args = ['auth', 'can-i', verb, res, `--as=${SA}`];
      if (sub) args.push(`--subresource=${sub}`);
      if (ns) args.push('-n', ns);
      const r = await kubectl(args, { allowFail: true });
      return r.stdout.trim() === 'yes';
    };
    const expectYes = [
      ['get', 'nodes'],
      ['create', 'nodes'],
      ['patch', 'nodes'],
      ['update', 'nodes'],
      ['patch', 'nodes/status'],
      ['update', 'nodes/status'],
      ['get', 'leases.coordination.k8s.io', 'kube-node-lease'],
      ['create', 'leases.coordination.k8s.io', 'kube-node-lease'],
      ['patch', 'leases.coordination.k8s.io', 'kube-node-lease'],
      ['update', 'leases.coordination.k8s.io', 'kube-node-lease'],
      // The kubelet port: authenticate and authorize its clients, and its serving CSR.
      ['create', 'tokenreviews.authentication.k8s.io'],
      ['create', 'subjectaccessreviews.authorization.k8s.io'],
      ['create', 'certificatesigningrequests.certificates.k8s.io'],
      ['get', 'certificatesigningrequests.certificates.k8s.io'],
    ];
    const expectNo = [
      ['list', 'nodes'],
      ['watch', 'nodes'],
      ['delete', 'nodes'],
      ['get', 'nodes/status'],
      ['create', 'nodes/status'],
      ['delete', 'nodes/status'],
      ['patch', 'nodes/proxy'],
      ['get', 'nodes/proxy'],
      ['delete', 'leases.coordination.k8s.io', 'kube-node-lease'],
      ['list', 'leases.coordination.k8s.io', 'kube-node-lease'],
      ['create', 'leases.coordination.k8s.io', 'kube-system'],
      ['create', 'leases.coordination.k8s.io', 'default'],
      ['list', 'secrets', 'kube-system'],
      ['get', 'secrets', 'default'],
      ['delete', 'namespaces'],
      ['create', 'pods', 'default'],
      ['create', 'serviceaccounts/token', 'kube-system'],
      ['list', 'certificatesigningrequests.certificates.k8s.io'],
      ['watch', 'certificatesigningrequests.certificates.k8s.io'],
      ['delete', 'certificatesigningrequests.certificates.k8s.io'],
      ['update', 'certificatesigningrequests.certificates.k8s.io/approval'],
      ['update', 'certificatesigningrequests.certificates.k8s.io/status'],
      ['create', 'localsubjectaccessreviews.authorization.k8s.io', 'default'],
      ['get', 'nodes/log'],
      ['get', 'nodes/metrics'],
      ['*', '*'],
    ];
    const [yes, no] = await Promise.all([
      Promise.all(expectYes.map(([verb, res, ns]) => can(verb, res, ns))),
      Promise.all(expectNo.map(([verb, res, ns]) => can(verb, res, ns))),
    ]);
    expectYes.forEach(([verb, res, ns], i) => assert.ok(yes[i], `should be allowed: ${verb} ${res} ${ns || ''}`));
    expectNo.forEach(([verb, res, ns], i) => assert.ok(!no[i], `should be refused: ${verb} ${res} ${ns || ''}`));
  });

  test('kubectl auth can-i --list shows nothing beyond the kubelet rules and the defaults every user has', async () => {
    // Rules every authenticated user gets from the default bindings (system:basic-user etc.).
    const defaults = [
      'selfsubjectreviews.authentication.k8s.io [create]',
      'selfsubjectaccessreviews.authorization.k8s.io [create]',
      'selfsubjectrulesreviews.authorization.k8s.io [create]',
    ];
    const rows = async (ns) => {
      const { stdout } = await kubectl(['auth', 'can-i', '--list', `--as=${SA}`, '-n', ns]);
      return stdout
        .split('\n')
        .slice(1)
        .filter((l) => /^\S/.test(l)) // resource rows; non-resource URLs start with spaces
        .map((l) => {
          const cols = l.trim().split(/\s{2,}/);
          return `${cols[0]} ${cols[cols.length - 1]}`;
        })
        .sort();
    };
    const kubelet = [
      'nodes [get create patch update]',
      'nodes/status [patch update]',
      'tokenreviews.authentication.k8s.io [create]',
      'subjectaccessreviews.authorization.k8s.io [create]',
      'certificatesigningrequests.certificates.k8s.io [create get]',
    ];
    assert.deepEqual(await rows('default'), [...defaults, ...kubelet].sort());
    assert.deepEqual(await rows('kube-node-lease'), [...defaults, ...kubelet, 'leases.coordination.k8s.io [get create patch update]'].sort());
  });

  test('the token registers a Node, patches it and its status', async () => {
    const c = await api('POST', '/api/v1/nodes', { auth, body: nodeManifest(name) });
    assert.equal(c.status, 201, c.text);
    const p = await api('PATCH', `/api/v1/nodes/${name}`, {
      auth,
      contentType: MERGE_PATCH,
      body: { metadata: { labels: { 'picokubelet.dev/firmware': 'test' } } },
    });
    assert.equal(p.status, 200, p.text);
    const s = await api('PATCH', `/api/v1/nodes/${name}/status`, { auth, contentType: STRATEGIC_PATCH, body: readyStatusPatch() });
    assert.equal(s.status, 200, s.text);
    const g = await api('GET', `/api/v1/nodes/${name}`, { auth });
    assert.equal(g.status, 200, g.text);
    assert.equal(g.json.metadata.labels['picokubelet.dev/firmware'], 'test');
  });

  test('the token creates, gets and renews a Lease in kube-node-lease', async () => {
    const c = await api('POST', LEASES, { auth, body: leaseManifest(name) });
    assert.equal(c.status, 201, c.text);
    const g = await api('GET', `${LEASES}/${name}`, { auth });
    assert.equal(g.status, 200, g.text);
    const p = await api('PATCH', `${LEASES}/${name}`, { auth, contentType: MERGE_PATCH, body: { spec: { renewTime: microTime() } } });
    assert.equal(p.status, 200, p.text);
    const u = await api('PUT', `${LEASES}/${name}`, { auth, body: { ...p.json, spec: { ...p.json.spec, renewTime: microTime() } } });
    assert.equal(u.status, 200, u.text);
  });

  test('the token reviews tokens and access for its kubelet port, creates its serving CSR and gets it, lists no CSRs', async () => {
    const tr = await api('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
      auth,
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: auth.token } },
    });
    assert.equal(tr.status, 201, tr.text);
    assert.equal(tr.json.status.user.username, SA);
    const sar = await api('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      auth,
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: { user: 'someone', resourceAttributes: { verb: 'get', resource: 'nodes', subresource: 'log', name } },
      },
    });
    assert.equal(sar.status, 201, sar.text);
    assert.equal(sar.json.status.allowed, false);
    const req = certificateRequest({ cn: `system:node:${name}`, san: 'IP:127.0.0.1' });
    const csrName = await postCSR(auth, req.requestPEM);
    toDelete.push(`${CSR_PATH}/${csrName}`);
    const g = await api('GET', `${CSR_PATH}/${csrName}`, { auth });
    assert.equal(g.status, 200, g.text);
    assert.equal(g.json.spec.username, SA);
    assert.equal((await api('GET', CSR_PATH, { auth })).status, 403);
  });

  test('the token cannot list secrets, delete namespaces, delete nodes or write Leases elsewhere', async () => {
    const refused = [
      ['GET', '/api/v1/secrets'],
      ['GET', '/api/v1/namespaces/kube-system/secrets'],
      ['DELETE', '/api/v1/namespaces/kube-node-lease'],
      ['DELETE', `/api/v1/nodes/${name}`],
      ['GET', '/api/v1/nodes'],
      ['DELETE', `${LEASES}/${name}`],
    ];
    for (const [method, p] of refused) {
      const r = await api(method, p, { auth });
      assert.equal(r.status, 403, `${method} ${p}: ${r.status} ${r.text}`);
    }
    const elsewhere = await api('POST', '/apis/coordination.k8s.io/v1/namespaces/default/leases', {
      auth,
      body: { ...leaseManifest(name), metadata: { name, namespace: 'default' } },
    });
    assert.equal(elsewhere.status, 403, elsewhere.text);
  });
});
