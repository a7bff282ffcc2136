// Serving certificates for nodes (issue 10 item 2): the kubelet-serving CSR
// approver that `up` runs in testenv approves a node's kubernetes.io/kubelet-serving
// CSR when CN, O, usages and SANs are the node's own (checked against its Node's
// status.addresses) and denies the others with a reason; kube-controller-manager
// then signs with the cluster CA, which kube-apiserver and metrics-server verify
// kubelet serving certificates with.
import assert from 'node:assert/strict';
import { X509Certificate, createPublicKey } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CSR_PATH, addressesPatch, certificateRequest, condition, decidedCSR, issuedCertificate, postCSR } from './csr.mjs';
import { MERGE_PATCH, api, cleanup, cluster, clusterCli, kubectl, nodeManifest, readKubeconfig, uniqueName } from './helpers.mjs';
import { cmdlineOf } from './proc.mjs';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pk-serving-test-'));
const toDelete = [];
after(async () => {
  await cleanup(toDelete);
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** A node identity (minted client certificate) that has registered its Node with the given addresses. */
async function registeredNode(addresses) {
  const name = uniqueName('pk-serve');
  const out = path.join(tmp, `${name}.kubeconfig`);
  const r = clusterCli(['kubeconfig-for-node', name, '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  const kc = readKubeconfig(out);
  const auth = { cert: kc.cert, key: kc.key };
  toDelete.push(`/api/v1/nodes/${name}`);
  const created = await api('POST', '/api/v1/nodes', { auth, body: nodeManifest(name) });
  assert.equal(created.status, 201, created.text);
  if (addresses) {
    const p = await api('PATCH', `/api/v1/nodes/${name}/status`, { auth, body: addressesPatch(addresses(name)), contentType: MERGE_PATCH });
    assert.equal(p.status, 200, p.text);
  }
  return { name, auth };
}

async function csrAs(auth, req, opts) {
  const name = await postCSR(auth, req.requestPEM, opts);
  toDelete.push(`${CSR_PATH}/${name}`);
  return name;
}

test('kube-controller-manager signs with the cluster CA; kube-apiserver verifies kubelets with it', () => {
  const kcm = cmdlineOf(cluster.pids['kube-controller-manager']);
  assert.ok(kcm.includes(`--cluster-signing-cert-file=${cluster.caFile}`), kcm.join(' '));
  assert.ok(kcm.some((a) => a.startsWith('--cluster-signing-key-file=')), kcm.join(' '));
  const apiserver = cmdlineOf(cluster.pids['kube-apiserver']);
  assert.ok(apiserver.includes(`--kubelet-certificate-authority=${cluster.caFile}`), apiserver.join(' '));
  assert.equal(cluster.addons.kubeletServingApprover, 'picokubelet:kubelet-serving-approver');
});

describe('kubelet-serving CSRs of a registered node', () => {
  const ip = '127.0.0.1';
  let node;
  before(async () => {
    node = await registeredNode((n) => [
      { type: 'InternalIP', address: ip },
      { type: 'Hostname', address: n },
    ]);
  });

  test("a CSR for the node's own name and address is approved and issued by the cluster CA", async () => {
    const req = certificateRequest({ cn: `system:node:${node.name}`, san: `DNS:${node.name},IP:${ip}` });
    const name = await csrAs(node.auth, req);
    const csr = await decidedCSR(name);
    const approved = condition(csr, 'Approved');
    assert.ok(approved, JSON.stringify(csr.status));
    assert.equal(approved.reason, 'KubeletServingApproved');
    assert.equal(csr.spec.username, `system:node:${node.name}`);
    const { crt } = issuedCertificate(csr);
    assert.equal(crt.subject, `O=system:nodes\nCN=system:node:${node.name}`);
    assert.deepEqual(crt.subjectAltName.split(', ').sort(), [`DNS:${node.name}`, `IP Address:${ip}`]);
    assert.deepEqual(crt.keyUsage, ['1.3.6.1.5.5.7.3.1']); // serverAuth only
    assert.equal(
      crt.publicKey.export({ type: 'spki', format: 'der' }).toString('hex'),
      createPublicKey(req.keyPEM).export({ type: 'spki', format: 'der' }).toString('hex'),
      'the certificate is for the key the node made',
    );
    assert.ok(crt.checkHost(node.name), 'valid for the node name');
    assert.ok(crt.checkIP(ip), 'valid for the node address');
  });

  test('key encipherment is allowed as well', async () => {
    const req = certificateRequest({ cn: `system:node:${node.name}`, san: `IP:${ip}` });
    const name = await csrAs(node.auth, req, { usages: ['digital signature', 'key encipherment', 'server auth'] });
    const csr = await decidedCSR(name);
    assert.ok(condition(csr, 'Approved'), JSON.stringify(csr.status));
    issuedCertificate(csr);
  });

  const denied = [
    ['a SAN of another address', () => ({ cn: `system:node:${node.name}`, san: `DNS:${node.name},IP:127.0.0.99` }), 'ForeignSAN', /IP:127\.0\.0\.99/],
    ['a SAN of the API server', () => ({ cn: `system:node:${node.name}`, san: `DNS:${node.name},DNS:kubernetes.default.svc` }), 'ForeignSAN', /kubernetes\.default\.svc/],
    ['an O other than system:nodes', () => ({ cn: `system:node:${node.name}`, o: 'system:masters', san: `DNS:${node.name}` }), 'SubjectMismatch', /system:masters/],
    ['no SAN at all', () => ({ cn: `system:node:${node.name}` }), 'NoSAN', /no DNS name or IP/],
  ];
  for (const [what, subject, reason, message] of denied) {
    test(`a CSR with ${what} is denied (${reason})`, async () => {
      const name = await csrAs(node.auth, certificateRequest(subject()));
      const csr = await decidedCSR(name);
      const d = condition(csr, 'Denied');
      assert.ok(d, JSON.stringify(csr.status));
      assert.equal(d.reason, reason);
      assert.match(d.message, message);
      assert.equal(condition(csr, 'Approved'), undefined);
      assert.equal(csr.status.certificate, undefined, 'no certificate for a denied CSR');
    });
  }

  // NodeRestriction refuses these at creation already; the approver's own CN check
  // (SubjectMismatch) is for clusters that run without that admission plugin.
  for (const cn of ['system:node:pk-someone-else', 'kube-apiserver']) {
    test(`a CSR with the CN ${cn} is refused (NodeRestriction)`, async () => {
      const req = certificateRequest({ cn, san: `DNS:${node.name}` });
      const r = await api('POST', CSR_PATH, {
        auth: node.auth,
        body: {
          apiVersion: 'certificates.k8s.io/v1',
          kind: 'CertificateSigningRequest',
          metadata: { name: uniqueName('pk-csr') },
          spec: { request: Buffer.from(req.requestPEM).toString('base64'), signerName: 'kubernetes.io/kubelet-serving', usages: ['digital signature', 'server auth'] },
        },
      });
      assert.equal(r.status, 403, r.text);
      assert.match(r.json.message, new RegExp(`can only create a node CSR with CN=system:node:${node.name}`));
    });
  }

  test('client auth among the usages is denied (BadUsages)', async () => {
    const req = certificateRequest({ cn: `system:node:${node.name}`, san: `DNS:${node.name}` });
    const name = await csrAs(node.auth, req, { usages: ['digital signature', 'server auth', 'client auth'] });
    const csr = await decidedCSR(name);
    assert.equal(condition(csr, 'Denied')?.reason, 'BadUsages', JSON.stringify(csr.status));
  });
});

test('a kubelet-serving CSR whose requester is not a node is denied (RequesterNotANode)', async () => {
  const req = certificateRequest({ cn: 'system:node:pk-admin-made', san: 'DNS:pk-admin-made' });
  const name = await csrAs({ token: cluster.adminToken }, req);
  const csr = await decidedCSR(name);
  assert.equal(condition(csr, 'Denied')?.reason, 'RequesterNotANode', JSON.stringify(csr.status));
});

test('a CSR posted before the Node has addresses waits, and is approved once it has them', async () => {
  const node = await registeredNode(null);
  const req = certificateRequest({ cn: `system:node:${node.name}`, san: `DNS:${node.name},IP:127.0.0.1` });
  const name = await csrAs(node.auth, req);
  // Still undecided after a few looks by the approver (its first retries come after 0.5, 1 and 2 s).
  const t0 = Date.now();
  while (Date.now() - t0 < 2500) {
    const r = await api('GET', `${CSR_PATH}/${name}`);
    assert.deepEqual(r.json.status?.conditions ?? [], [], 'decided before the Node had addresses');
    await new Promise((res) => setTimeout(res, 250));
  }
  const p = await api('PATCH', `/api/v1/nodes/${node.name}/status`, {
    auth: node.auth,
    body: addressesPatch([{ type: 'InternalIP', address: '127.0.0.1' }]),
    contentType: MERGE_PATCH,
  });
  assert.equal(p.status, 200, p.text);
  const csr = await decidedCSR(name, { timeoutMs: 45_000 });
  assert.ok(condition(csr, 'Approved'), JSON.stringify(csr.status));
});

test('kube-apiserver-client-kubelet: an approved node client CSR is signed by the cluster CA and authenticates as the node', async () => {
  const { name: nodeName, auth } = await registeredNode(null);
  const req = certificateRequest({ cn: `system:node:${nodeName}` });
  const name = await csrAs(auth, req, { signerName: 'kubernetes.io/kube-apiserver-client-kubelet', usages: ['digital signature', 'client auth'] });
  // Approval of client CSRs is not the serving approver's business (nothing RBAC-grants nodes self-approval here).
  await kubectl(['certificate', 'approve', name]);
  const csr = await decidedCSR(name);
  const { pem } = issuedCertificate(csr);
  assert.deepEqual(new X509Certificate(pem).keyUsage, ['1.3.6.1.5.5.7.3.2']); // clientAuth
  const review = await api('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
    auth: { cert: pem, key: req.keyPEM },
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
  });
  assert.equal(review.status, 201, review.text);
  assert.equal(review.json.status.userInfo.username, `system:node:${nodeName}`);
});

test('the approver runs with its own least-privilege identity', async () => {
  const allowed = async (verb, group, resource, { subresource, name } = {}) => {
    const r = await api('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: cluster.addons.kubeletServingApprover,
          groups: ['system:authenticated'],
          resourceAttributes: { verb, group, resource, subresource, name },
        },
      },
    });
    assert.equal(r.status, 201, r.text);
    return r.json.status.allowed;
  };
  const certs = 'certificates.k8s.io';
  assert.equal(await allowed('watch', certs, 'certificatesigningrequests'), true);
  assert.equal(await allowed('update', certs, 'certificatesigningrequests', { subresource: 'approval' }), true);
  assert.equal(await allowed('approve', certs, 'signers', { name: 'kubernetes.io/kubelet-serving' }), true);
  assert.equal(await allowed('approve', certs, 'signers', { name: 'kubernetes.io/kube-apiserver-client' }), false);
  assert.equal(await allowed('approve', certs, 'signers', { name: 'kubernetes.io/kube-apiserver-client-kubelet' }), false);
  assert.equal(await allowed('update', certs, 'certificatesigningrequests', { subresource: 'status' }), false);
  assert.equal(await allowed('delete', certs, 'certificatesigningrequests'), false);
  assert.equal(await allowed('get', '', 'nodes'), true);
  assert.equal(await allowed('patch', '', 'nodes'), false);
  assert.equal(await allowed('list', '', 'secrets'), false);
});
