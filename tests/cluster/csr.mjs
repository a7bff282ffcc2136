// CertificateSigningRequests as a node agent makes them: a P-256 key made here
// (node:crypto; it never leaves the test), the PKCS#10 request built with the
// openssl CLI, the CSR object posted with the node's own identity.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { api, cluster, uniqueName, waitUntil } from './helpers.mjs';

export const CSR_PATH = '/apis/certificates.k8s.io/v1/certificatesigningrequests';

/** A key and a PEM certificate request for subject /O=o/CN=cn with the given subjectAltName (e.g. "DNS:a,IP:127.0.0.1"). */
export function certificateRequest({ cn, o = 'system:nodes', san }) {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const keyPEM = privateKey.export({ type: 'pkcs8', format: 'pem' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pk-csr-'));
  try {
    const keyFile = path.join(dir, 'key.pem');
    fs.writeFileSync(keyFile, keyPEM, { mode: 0o600 });
    const args = ['req', '-new', '-key', keyFile, '-subj', `${o ? `/O=${o}` : ''}/CN=${cn}`];
    if (san) args.push('-addext', `subjectAltName=${san}`);
    const r = spawnSync('openssl', args, { encoding: 'utf8' });
    assert.equal(r.status, 0, `openssl req: ${r.stderr}`);
    return { keyPEM, requestPEM: r.stdout };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Posts a CSR object; returns its name. */
export async function postCSR(auth, requestPEM, { signerName = 'kubernetes.io/kubelet-serving', usages = ['digital signature', 'server auth'] } = {}) {
  const name = uniqueName('pk-csr');
  const r = await api('POST', CSR_PATH, {
    auth,
    body: {
      apiVersion: 'certificates.k8s.io/v1',
      kind: 'CertificateSigningRequest',
      metadata: { name },
      spec: { request: Buffer.from(requestPEM).toString('base64'), signerName, usages },
    },
  });
  assert.equal(r.status, 201, r.text);
  return name;
}

/** The CSR once it has an Approved/Denied/Failed condition (and, when approved, its certificate). */
export async function decidedCSR(name, { timeoutMs = 30_000 } = {}) {
  return waitUntil(
    `CSR ${name} to be decided`,
    async () => {
      const r = await api('GET', `${CSR_PATH}/${name}`);
      assert.equal(r.status, 200, r.text);
      const conds = r.json.status?.conditions || [];
      if (conds.some((c) => c.type === 'Denied' || c.type === 'Failed')) return r.json;
      if (conds.some((c) => c.type === 'Approved') && r.json.status.certificate) return r.json;
      return null;
    },
    { timeoutMs },
  );
}

export function condition(csr, type) {
  return (csr.status?.conditions || []).find((c) => c.type === type);
}

export const clusterCA = new X509Certificate(cluster.caPEM);

/** The issued certificate of an approved CSR, checked to be signed by the cluster CA. */
export function issuedCertificate(csr) {
  const pem = Buffer.from(csr.status.certificate, 'base64').toString('utf8');
  const crt = new X509Certificate(pem);
  assert.ok(crt.checkIssued(clusterCA), `issuer ${crt.issuer} is not the cluster CA ${clusterCA.subject}`);
  assert.ok(crt.verify(clusterCA.publicKey), 'the certificate does not verify with the cluster CA key');
  return { pem, crt };
}

/** Node addresses as a node posts them in its status. */
export function addressesPatch(addresses, port) {
  const status = { addresses };
  if (port) status.daemonEndpoints = { kubeletEndpoint: { Port: port } };
  return { status };
}
