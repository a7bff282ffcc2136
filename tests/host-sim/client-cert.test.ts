// tests/host-sim/client-cert.test.ts
// host-sim's side of the CLIENT slot (the node's own identity, issue 12): the key it generates, the CSR it
// makes for it (parsed back with openssl, a real X.509 parser: subject, no SANs, P-256 key, signature),
// the 0600 kubelet-client-current.pem in --cert-dir, and a node with only a bootstrap kubeconfig against
// the fake API server over real TLS: the CSR goes with the bootstrap token, asks for the kubelet client
// signer and usages, names the key stored on disk, and the node talks with its certificate afterwards.
// (tests/host-sim/serving-cert.test.ts covers the serving slot; tests/e2e*/ the real control plane.)
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadBootstrapCredentials } from '../../host-sim/src/credentials.js';
import { KeySlots, SLOT_FILES } from '../../host-sim/src/hostcrypto/keys.js';
import { silentLogger } from '../../host-sim/src/logger.js';
import { SimNode, startNode } from '../../host-sim/src/node.js';
import { FakeApiServer, type FakeTlsServer, listenTls } from '../support/fake-apiserver.js';
import { TestSigner } from '../support/csr-signer.js';
import { testPki, tmpDir, until } from './support/harness.js';
import { writeKubeconfig } from './support/pki.js';

const CSRS = '/apis/certificates.k8s.io/v1/certificatesigningrequests';
/** The spec lines the core sends for the client slot (assembly/node/certificate.ts `spec`: no SANs). */
const CLIENT_SPEC = 'CN=system:node:client-1\nO=system:nodes\n';

/** `openssl req -text -verify` of a PEM request (throws when the signature does not verify). */
function opensslReq(pem: string): string {
  const file = path.join(tmpDir('client-csr'), 'n.csr');
  fs.writeFileSync(file, pem);
  return execFileSync('openssl', ['req', '-in', file, '-noout', '-text', '-verify'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The DER SubjectPublicKeyInfo of a request, as openssl extracts it. */
function requestPublicKey(pem: string): Buffer {
  const out = execFileSync('openssl', ['req', '-noout', '-pubkey'], { input: pem, encoding: 'utf8' });
  return crypto.createPublicKey(out).export({ type: 'spki', format: 'der' });
}

function spkiOf(privatePem: string): Buffer {
  return crypto.createPublicKey(crypto.createPrivateKey(privatePem)).export({ type: 'spki', format: 'der' });
}

describe('client slot: key generation, CSR contents, kubelet-client-current.pem', () => {
  const signer = new TestSigner(testPki().ca);

  it('a P-256 key and a CSR for CN=system:node:<name>, O=system:nodes, without SANs, signed by that key', () => {
    const slots = new KeySlots();
    slots.generate(0);
    const csr = slots.csr(0, CLIENT_SPEC);
    const text = opensslReq(csr);
    assert.match(text, /Subject: O\s?=\s?system:nodes, CN\s?=\s?system:node:client-1\n/);
    assert.match(text, /Public Key Algorithm: id-ecPublicKey/);
    assert.match(text, /ASN1 OID: prime256v1/);
    assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
    // A client certificate names no host: no attributes (no extension request), so no SAN the signer could copy.
    assert.match(text, /Attributes:\s*\n\s*\(none\)/);
    assert.doesNotMatch(text, /Subject Alternative Name/);
    // Each generation is a new key: two requests, two public keys.
    slots.generate(0);
    assert.ok(!requestPublicKey(slots.csr(0, CLIENT_SPEC)).equals(requestPublicKey(csr)), 'a new key per generation');
  });

  it('with a directory: kubelet-client-current.pem, mode 0600 in a 0700 directory, the key of the CSR; a pending key is not written', () => {
    const dir = path.join(tmpDir('client-certdir'), 'pki');
    const slots = new KeySlots(dir);
    slots.generate(0);
    const csr = slots.csr(0, CLIENT_SPEC);
    const t = Date.now();
    const cert = signer.sign(csr, t - 1000, t + 3_600_000);
    slots.install(0, cert);
    const file = path.join(dir, SLOT_FILES[0]);
    assert.equal(SLOT_FILES[0], 'kubelet-client-current.pem');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
    assert.deepEqual(fs.readdirSync(dir), ['kubelet-client-current.pem'], 'no temporary file left, no serving file');
    const text = fs.readFileSync(file, 'utf8');
    assert.match(text, /^-----BEGIN CERTIFICATE-----[^]*-----BEGIN PRIVATE KEY-----/);
    assert.ok(spkiOf(text).equals(requestPublicKey(csr)), 'the stored key is the one the CSR asked for');
    assert.equal(crypto.createPrivateKey(text).asymmetricKeyDetails?.namedCurve, 'prime256v1');
    // Rotation: the new key waits in memory; a restart before its certificate keeps the installed pair.
    slots.generate(0);
    slots.csr(0, CLIENT_SPEC);
    assert.equal(fs.readFileSync(file, 'utf8'), text);
    assert.equal(new KeySlots(dir).identity(0)?.cert, cert);
  });
});

describe('a node with only a bootstrap kubeconfig gets its client certificate from the (fake) cluster', () => {
  const pki = testPki();
  const TOKEN = 'abcdef.0123456789abcdef';
  const api = new FakeApiServer();
  const signer = new TestSigner(pki.ca);
  const certDir = path.join(tmpDir('client-bootstrap'), 'pki');
  let srv: FakeTlsServer;
  let node: SimNode | null = null;

  before(async () => {
    srv = await listenTls(api, { cert: pki.server.cert, key: pki.server.key });
    api.onCsr = (csr) => signer.approve(csr, Date.now() - 60_000, Date.now() + 86_400_000);
  });
  after(async () => {
    await node?.stop();
    await srv.close();
  });

  it('the CSR goes with the bootstrap token, for the kubelet client signer and usages, with the key kept in --cert-dir; then the node talks with its certificate', async () => {
    const kc = writeKubeconfig(path.join(tmpDir('client-kc'), 'bootstrap.kubeconfig'), { server: `https://127.0.0.1:${srv.port}`, caPEM: pki.ca.cert, token: TOKEN, user: 'system:bootstrap:abcdef' });
    node = await startNode({ name: 'client-1', credentials: loadBootstrapCredentials(kc), certDir, logger: silentLogger() });
    await node.waitFor((s) => s.phaseName === 'RUNNING', 30_000, 'running');
    const posts = api.seen('POST', CSRS);
    const clientPosts = posts.filter((r) => JSON.parse(r.body).spec.signerName === 'kubernetes.io/kube-apiserver-client-kubelet');
    assert.equal(clientPosts.length, 1);
    const post = clientPosts[0];
    assert.equal(post.headers.authorization, `Bearer ${TOKEN}`, 'the CSR is made with the bootstrap token');
    const body = JSON.parse(post.body);
    assert.deepEqual([...body.spec.usages].sort(), ['client auth', 'digital signature']);
    const request = Buffer.from(body.spec.request, 'base64').toString('utf8');
    const text = opensslReq(request);
    assert.match(text, /Subject: O\s?=\s?system:nodes, CN\s?=\s?system:node:client-1\n/);
    assert.match(text, /ASN1 OID: prime256v1/);
    assert.doesNotMatch(text, /Subject Alternative Name/);

    const file = path.join(certDir, 'kubelet-client-current.pem');
    await until(() => fs.existsSync(file), 10_000, 'the client certificate stored');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    const stored = fs.readFileSync(file, 'utf8');
    assert.ok(spkiOf(stored).equals(requestPublicKey(request)), 'the key on disk is the one the CSR names; the request carries no private key');
    assert.doesNotMatch(request, /PRIVATE KEY/);
    assert.equal(new crypto.X509Certificate(stored).subject.split('\n').sort().join(','), 'CN=system:node:client-1,O=system:nodes');

    // Registration and the Lease go without the bootstrap token: the node is system:node:client-1 now.
    const nodePosts = api.seen('POST', '/api/v1/nodes');
    assert.ok(nodePosts.length >= 1, 'the node registered');
    for (const r of api.requests.filter((x) => x.at >= nodePosts[0].at)) {
      assert.equal(r.headers.authorization, undefined, `${r.method} ${r.path} carried a bearer token`);
    }
  });
});
