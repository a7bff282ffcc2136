// TLS bootstrap on the local control plane (issue 12 item 3): a bootstrap token
// from `cluster.mjs bootstrap-token`, the bindings of deploy/bootstrap-rbac.yaml
// (applied by `up`), and KCM's csrapproving/csrsigning controllers. The CSRs are
// made here with openssl, the way a node would make its own: the private key
// never leaves this process's temp dir.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { api, cleanup, cluster, clusterCli, kubectl, readKubeconfig, uniqueName, waitUntil } from './helpers.mjs';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pk-bootstrap-test-'));
const created = [];
after(async () => {
  await cleanup(created);
  fs.rmSync(tmp, { recursive: true, force: true });
});

const KUBELET_SIGNER = 'kubernetes.io/kube-apiserver-client-kubelet';

function bootstrapKubeconfig(ttl = '1h') {
  const file = path.join(tmp, `${uniqueName('bootstrap')}.kubeconfig`);
  const r = clusterCli(['bootstrap-token', '--ttl', ttl, '--out', file]);
  assert.equal(r.status, 0, r.stderr);
  const kc = readKubeconfig(file);
  const id = kc.token.split('.')[0];
  created.push(`/api/v1/namespaces/kube-system/secrets/bootstrap-token-${id}`);
  return { file, id, ...kc };
}

/** An ECDSA P-256 key and a CSR for it, made by openssl (as a node makes them: the key stays here). */
function opensslCSR(subject) {
  const base = path.join(tmp, uniqueName('key'));
  execFileSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${base}.key`]);
  execFileSync('openssl', ['req', '-new', '-key', `${base}.key`, '-subj', subject, '-out', `${base}.csr`]);
  return { key: fs.readFileSync(`${base}.key`, 'utf8'), csr: fs.readFileSync(`${base}.csr`, 'utf8') };
}

async function createCSR(auth, csrPEM, opts) {
  const r = await createCSRRaw(auth, csrPEM, opts);
  assert.equal(r.status, 201, r.text);
  return r.json;
}

async function createCSRRaw(auth, csrPEM, { signerName = KUBELET_SIGNER, usages = ['digital signature', 'client auth'] } = {}) {
  const name = uniqueName('pk-csr');
  const r = await api('POST', '/apis/certificates.k8s.io/v1/certificatesigningrequests', {
    auth,
    body: {
      apiVersion: 'certificates.k8s.io/v1',
      kind: 'CertificateSigningRequest',
      metadata: { name },
      spec: { request: Buffer.from(csrPEM).toString('base64'), signerName, usages, expirationSeconds: 3600 },
    },
  });
  if (r.status === 201) created.push(`/apis/certificates.k8s.io/v1/certificatesigningrequests/${name}`);
  return r;
}

/** Polls (as the requester, who may read its CSR back) until the certificate is issued. */
async function waitIssued(auth, name) {
  return waitUntil(`CSR ${name} to be approved and issued`, async () => {
    const r = await api('GET', `/apis/certificates.k8s.io/v1/certificatesigningrequests/${name}`, { auth });
    assert.equal(r.status, 200, r.text);
    return r.json.status?.certificate ? r.json : null;
  });
}

async function whoAmI(auth) {
  const r = await api('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
    auth,
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
  });
  return r;
}

test('`bootstrap-token` creates a bootstrap.kubernetes.io/token Secret and writes a 0600 kubeconfig with server, CA and token only', async () => {
  const kc = bootstrapKubeconfig('2h');
  assert.equal(fs.statSync(kc.file).mode & 0o777, 0o600);
  assert.match(kc.token, /^[a-z0-9]{6}\.[a-z0-9]{16}$/);
  assert.equal(kc.server, cluster.server);
  assert.equal(kc.ca, cluster.caPEM);
  assert.equal(kc.cert, undefined, 'no client certificate in a bootstrap kubeconfig');
  assert.equal(kc.key, undefined);
  const text = fs.readFileSync(kc.file, 'utf8');
  assert.ok(!text.includes(cluster.adminToken), 'the admin token leaked into the bootstrap kubeconfig');

  const s = await api('GET', `/api/v1/namespaces/kube-system/secrets/bootstrap-token-${kc.id}`);
  assert.equal(s.status, 200, s.text);
  assert.equal(s.json.type, 'bootstrap.kubernetes.io/token');
  const data = Object.fromEntries(Object.entries(s.json.data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
  assert.equal(data['token-id'], kc.id);
  assert.equal(`${data['token-id']}.${data['token-secret']}`, kc.token);
  assert.equal(data['usage-bootstrap-authentication'], 'true');
  assert.equal(data['usage-bootstrap-signing'], undefined, 'authentication only');
  assert.equal(data['auth-extra-groups'], 'system:bootstrappers:picokubelet');
  const expires = Date.parse(data.expiration);
  assert.ok(Math.abs(expires - (Date.now() + 2 * 3600_000)) < 5 * 60_000, `expiration ${data.expiration} is not ~2h from now`);

  // Printed to stdout without --out; the secret half never goes to stderr.
  const r = clusterCli(['bootstrap-token', '--ttl', '10m']);
  assert.equal(r.status, 0, r.stderr);
  const token = r.stdout.match(/token: "([a-z0-9]{6})\.([a-z0-9]{16})"/);
  assert.ok(token, r.stdout);
  created.push(`/api/v1/namespaces/kube-system/secrets/bootstrap-token-${token[1]}`);
  assert.ok(!r.stderr.includes(token[2]), 'the token secret was logged');
  assert.match(r.stderr, new RegExp(`bootstrap token ${token[1]}: user system:bootstrap:${token[1]}`));
});

test('the token authenticates as system:bootstrap:<id> in system:bootstrappers (kubectl auth whoami)', async () => {
  const kc = bootstrapKubeconfig();
  const { stdout } = await kubectl(['auth', 'whoami', '-o', 'json'], { kubeconfig: kc.file });
  const user = JSON.parse(stdout).status.userInfo;
  assert.equal(user.username, `system:bootstrap:${kc.id}`);
  for (const g of ['system:bootstrappers', 'system:bootstrappers:picokubelet', 'system:authenticated']) {
    assert.ok(user.groups.includes(g), `${g} missing from ${user.groups}`);
  }
});

test('a bootstrapper may create CSRs and nothing else: no node list, no secrets, no Node', async () => {
  const kc = bootstrapKubeconfig();
  const can = async (...args) => (await kubectl(['auth', 'can-i', ...args], { kubeconfig: kc.file, allowFail: true })).stdout.trim();
  assert.equal(await can('create', 'certificatesigningrequests.certificates.k8s.io'), 'yes');
  assert.equal(await can('list', 'nodes'), 'no');
  assert.equal(await can('create', 'nodes'), 'no');
  assert.equal(await can('get', 'secrets', '-n', 'kube-system'), 'no');
  assert.equal(await can('approve', 'certificatesigningrequests.certificates.k8s.io', '--subresource=approval'), 'no');
  const auth = { token: kc.token };
  assert.equal((await api('GET', '/api/v1/nodes', { auth })).status, 403);
  assert.equal((await api('GET', '/api/v1/namespaces/kube-system/secrets', { auth })).status, 403);
  const node = await api('POST', '/api/v1/nodes', { auth, body: { apiVersion: 'v1', kind: 'Node', metadata: { name: uniqueName('pk-boot-node') } } });
  assert.equal(node.status, 403, node.text);
});

test('a kubelet client CSR made with the token is auto-approved and issued by the cluster CA; the certificate is system:node:<name>', async () => {
  const kc = bootstrapKubeconfig();
  const auth = { token: kc.token };
  const node = uniqueName('pk-boot');
  // A CSR the approver must not approve: the right CN with group system:masters.
  const masters = opensslCSR(`/O=system:masters/CN=system:node:${node}`);
  const bad = await createCSR(auth, masters.csr);
  const good = opensslCSR(`/O=system:nodes/CN=system:node:${node}`);
  const csr = await createCSR(auth, good.csr);
  assert.equal(csr.spec.username, `system:bootstrap:${kc.id}`);

  const issued = await waitIssued(auth, csr.metadata.name);
  const approved = issued.status.conditions.find((c) => c.type === 'Approved');
  assert.equal(approved?.status, 'True');
  assert.equal(approved.reason, 'AutoApproved');

  const cert = new crypto.X509Certificate(Buffer.from(issued.status.certificate, 'base64'));
  const ca = new crypto.X509Certificate(cluster.caPEM);
  assert.ok(cert.checkIssued(ca) && cert.verify(ca.publicKey), 'not signed by the cluster CA');
  assert.ok(cert.checkPrivateKey(crypto.createPrivateKey(good.key)), 'the certificate is not for our key');
  assert.match(cert.subject, new RegExp(`^O=system:nodes\\nCN=system:node:${node}$`));
  assert.equal(cert.subjectAltName, undefined);
  assert.ok(cert.keyUsage === undefined || !cert.keyUsage.includes('1.3.6.1.5.5.7.3.1'), 'serverAuth on a client cert');
  const lifetime = Date.parse(cert.validTo) - Date.now();
  assert.ok(lifetime > 50 * 60_000 && lifetime <= 61 * 60_000, `expirationSeconds 3600 honoured (${cert.validTo})`);

  // The certificate authenticates as the node, and the Node authorizer lets it create its own Node.
  const certAuth = { cert: cert.toString(), key: good.key };
  const who = await whoAmI(certAuth);
  assert.equal(who.status, 201, who.text);
  assert.equal(who.json.status.userInfo.username, `system:node:${node}`);
  assert.ok(who.json.status.userInfo.groups.includes('system:nodes'));
  const n = await api('POST', '/api/v1/nodes', { auth: certAuth, body: { apiVersion: 'v1', kind: 'Node', metadata: { name: node } } });
  assert.equal(n.status, 201, n.text);
  created.push(`/api/v1/nodes/${node}`);

  // Processed meanwhile, and left alone: no approval for a system:masters certificate.
  const still = await api('GET', `/apis/certificates.k8s.io/v1/certificatesigningrequests/${bad.metadata.name}`);
  assert.equal(still.status, 200);
  assert.equal(still.json.status?.certificate, undefined);
  assert.ok(!(still.json.status?.conditions || []).some((c) => c.type === 'Approved'), JSON.stringify(still.json.status));
});

test('a node renews its own client certificate (selfnodeclient) but gets none for another node name', async () => {
  const kc = bootstrapKubeconfig();
  const node = uniqueName('pk-renew');
  const first = opensslCSR(`/O=system:nodes/CN=system:node:${node}`);
  const csr = await createCSR({ token: kc.token }, first.csr);
  const issued = await waitIssued({ token: kc.token }, csr.metadata.name);
  const nodeAuth = { cert: Buffer.from(issued.status.certificate, 'base64').toString(), key: first.key };

  // A CSR for another node name: refused at creation (v1.36: "can only create a node CSR with
  // CN=system:node:<own name>"), or where the API server lets it in, never approved.
  const other = opensslCSR(`/O=system:nodes/CN=system:node:${node}-other`);
  const attempt = await createCSRRaw(nodeAuth, other.csr);
  let foreign = null;
  if (attempt.status === 403) assert.match(attempt.json.message, /can only create a node CSR with CN=system:node:/);
  else foreign = attempt.json;
  const second = opensslCSR(`/O=system:nodes/CN=system:node:${node}`);
  const renewal = await createCSR(nodeAuth, second.csr);
  assert.equal(renewal.spec.username, `system:node:${node}`);
  const renewed = await waitIssued(nodeAuth, renewal.metadata.name);
  assert.equal(renewed.status.conditions.find((c) => c.type === 'Approved')?.reason, 'AutoApproved');
  const cert = new crypto.X509Certificate(Buffer.from(renewed.status.certificate, 'base64'));
  assert.ok(cert.checkPrivateKey(crypto.createPrivateKey(second.key)));
  const who = await whoAmI({ cert: cert.toString(), key: second.key });
  assert.equal(who.json.status.userInfo.username, `system:node:${node}`);

  if (foreign) {
    const f = await api('GET', `/apis/certificates.k8s.io/v1/certificatesigningrequests/${foreign.metadata.name}`);
    assert.equal(f.json.status?.certificate, undefined, 'a node got a certificate for another node');
    assert.ok(!(f.json.status?.conditions || []).some((c) => c.type === 'Approved'));
  }
});

test('an expired bootstrap token is refused with 401 and the token cleaner deletes its Secret', async () => {
  const kc = bootstrapKubeconfig('2s');
  const secret = `/api/v1/namespaces/kube-system/secrets/bootstrap-token-${kc.id}`;
  const first = await whoAmI({ token: kc.token });
  // Made before the expiration: valid now unless this machine is very slow.
  if (first.status === 201) assert.equal(first.json.status.userInfo.username, `system:bootstrap:${kc.id}`);
  await waitUntil('the expired token to be refused', async () => (await whoAmI({ token: kc.token })).status === 401, { timeoutMs: 30_000 });
  await waitUntil('the token cleaner to delete the expired Secret', async () => (await api('GET', secret)).status === 404, { timeoutMs: 60_000 });
});
