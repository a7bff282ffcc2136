// tests/host-sim/kubelet-port.test.ts
// The kubelet port through real TLS: host-sim listens on the node's own loopback address (OP_LISTEN), curl
// and node's https reach /healthz with a client certificate signed by the cluster CA (passed to the core as
// an identity, authorized by the fake API server's SubjectAccessReview; one of another CA only with
// --client-ca-file naming it) and get 401 without one, and the host crypto ops (OP_KEY_GENERATE,
// OP_CSR_CREATE, OP_CERT_INSTALL) produce a CSR whose subject and SANs parse back with openssl and a
// certificate that must match its key.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { Stat } from '../../host-sim/src/abi.js';
import { KeySlots, SpecError } from '../../host-sim/src/hostcrypto/keys.js';
import { silentLogger } from '../../host-sim/src/logger.js';
import { SimNode, startNode } from '../../host-sim/src/node.js';
import { FakeApiServer as FakeApi, type FakeTlsServer, listenTls } from '../support/fake-apiserver.js';
import { TraceRecorder, credentialsFor, testPki, tmpDir, until } from './support/harness.js';

/** A port free on `host` right now. */
async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function get(host: string, port: number, p: string, opts: https.RequestOptions = {}): Promise<{ status: number; body: string; cert: tls.PeerCertificate }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host, port, path: p, rejectUnauthorized: false, agent: false, ...opts }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, cert: (res.socket as tls.TLSSocket).getPeerCertificate() }));
    });
    req.on('error', reject);
  });
}

describe('the kubelet port over TLS', () => {
  const api = new FakeApi({ token: 'tok-kport-1' });
  let srv: FakeTlsServer;
  let node: SimNode;
  const ip = '127.0.0.23';
  let port = 0;
  const trace = new TraceRecorder();
  let listenLine: string | undefined;

  before(async () => {
    const pki = testPki();
    srv = await listenTls(api, { cert: pki.server.cert, key: pki.server.key });
    const { creds } = credentialsFor({ server: `https://127.0.0.1:${srv.port}`, caPEM: pki.ca.cert, token: 'tok-kport-1' });
    port = await freePort(ip);
    node = await startNode({
      name: 'kport-1', credentials: creds, nodeIp: ip, kubeletPort: port, logger: silentLogger(), trace: trace.fn,
      coreConfig: { renewIntervalMs: 500, evaluateIntervalMs: 500 },
    });
    await node.waitFor((s) => s.listenPort === port && s.phaseName === 'RUNNING', 20_000, 'listening and running');
    listenLine = node.logs.find((l) => l.includes('kubelet port: listening'));
  });
  after(async () => {
    await node.stop();
    await srv.close();
  });

  it('node https: /healthz is 401 without a client certificate, 200 ok with one; the certificate is for the node address; other paths 404', async () => {
    const anonymous = await get(ip, port, '/healthz');
    assert.equal(anonymous.status, 401);
    const client = testPki().client('kport-reader');
    const r = await get(ip, port, '/healthz', { cert: client.cert, key: client.key });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'ok');
    assert.match(r.cert.subjectaltname ?? '', new RegExp(`IP Address:${ip.replace(/\./g, '\\.')}`));
    const nf = await get(ip, port, '/nothing', { cert: client.cert, key: client.key });
    assert.equal(nf.status, 404);
    assert.ok(node.stat(Stat.SERVER_REQUESTS) >= 3);
    const review = api.requests.find((q) => q.path === '/apis/authorization.k8s.io/v1/subjectaccessreviews');
    assert.equal(JSON.parse(review!.body).spec.user, 'system:node:kport-reader');
  });

  it('curl -k with a client certificate: /healthz is ok, twice on one kept-alive connection', async () => {
    const client = testPki().client('kport-curl');
    const dir = tmpDir('curl');
    fs.writeFileSync(path.join(dir, 'c.crt'), client.cert);
    fs.writeFileSync(path.join(dir, 'c.key'), client.key, { mode: 0o600 });
    // Asynchronously: the node answering curl runs in this process's event loop.
    const { stdout: out } = await promisify(execFile)('curl', ['-sk', '--max-time', '10', '--cert', path.join(dir, 'c.crt'), '--key', path.join(dir, 'c.key'),
      '-w', ' %{http_code} %{num_connects}\\n', `https://${ip}:${port}/healthz`, `https://${ip}:${port}/healthz`], { encoding: 'utf8' });
    assert.deepEqual(out.trim().split('\n'), ['ok 200 1', 'ok 200 0']);
  });

  it('a client certificate from the cluster CA reaches the core as an identity', async () => {
    const pki = testPki();
    const client = pki.client('kport-reader');
    const before = trace.exports('on_accepted').length;
    const r = await get(ip, port, '/healthz', { cert: client.cert, key: client.key });
    assert.equal(r.status, 200);
    const accepted = trace.exports('on_accepted').slice(before);
    assert.equal(accepted.length, 1);
    const identLen = Number(accepted[0].args[4]);
    assert.equal(identLen, 'CN=system:node:kport-reader\nO=system:nodes\n'.length);
    // Without a certificate there is no identity.
    await get(ip, port, '/healthz');
    assert.equal(Number(trace.exports('on_accepted').at(-1)!.args[4]), 0);
  });

  it("by default client certificates are verified against the kubeconfig's CA, and the listen line says so", () => {
    assert.match(listenLine ?? '', /kubelet port: listening on https:\/\/127\.0\.0\.23:\d+; client certificates verified against the kubeconfig's CA$/);
  });

  it('the Node advertises the port only because the listen succeeded', async () => {
    await until(() => api.requests.some((q) => q.body.includes(`"daemonEndpoints":{"kubeletEndpoint":{"Port":${port}}}`)), 10_000, 'daemonEndpoints');
  });

  it('a node whose port is taken logs why and advertises nothing', async () => {
    const pki = testPki();
    const { creds } = credentialsFor({ server: `https://127.0.0.1:${srv.port}`, caPEM: pki.ca.cert, token: 'tok-kport-1' });
    const other = await startNode({ name: 'kport-2', credentials: creds, nodeIp: ip, kubeletPort: port, logger: silentLogger() });
    try {
      await until(() => other.logs.some((l) => /cannot listen on the kubelet port/.test(l)), 10_000, 'the listen failure');
      assert.equal(other.stat(Stat.LISTEN_PORT), 0);
    } finally {
      await other.stop();
    }
  });
});

describe('the kubelet port with a client CA of its own (--client-ca-file)', () => {
  // k3s signs client certificates with a client CA other than its server CA: the node then verifies
  // kubelet-port clients against that one, not against the CA it trusts for the API server.
  const api = new FakeApi({ token: 'tok-kport-3' });
  let srv: FakeTlsServer;
  let node: SimNode;
  const ip = '127.0.0.24';
  let port = 0;
  const trace = new TraceRecorder();
  let listenLine: string | undefined;

  before(async () => {
    const pki = testPki();
    srv = await listenTls(api, { cert: pki.server.cert, key: pki.server.key });
    const { creds } = credentialsFor({ server: `https://127.0.0.1:${srv.port}`, caPEM: pki.ca.cert, token: 'tok-kport-3' });
    port = await freePort(ip);
    node = await startNode({
      name: 'kport-3', credentials: creds, nodeIp: ip, kubeletPort: port, clientCa: pki.otherCa.cert, logger: silentLogger(), trace: trace.fn,
      coreConfig: { renewIntervalMs: 500, evaluateIntervalMs: 500 },
    });
    await node.waitFor((s) => s.listenPort === port && s.phaseName === 'RUNNING', 20_000, 'listening and running');
    listenLine = node.logs.find((l) => l.includes('kubelet port: listening'));
  });
  after(async () => {
    await node.stop();
    await srv.close();
  });

  const identLen = (): number => Number(trace.exports('on_accepted').at(-1)!.args[4]);

  it('a certificate of that CA is an identity; one of the API server\'s CA is not', async () => {
    const pki = testPki();
    const apiserver = pki.otherClient('picokubelet:kube-apiserver-kubelet-client');
    const before = trace.exports('on_accepted').length;
    assert.equal((await get(ip, port, '/healthz', { cert: apiserver.cert, key: apiserver.key })).status, 200);
    assert.equal(trace.exports('on_accepted').length, before + 1);
    assert.equal(identLen(), 'CN=picokubelet:kube-apiserver-kubelet-client\n'.length);
    const wrongCa = pki.client('kport-3-reader');
    await get(ip, port, '/healthz', { cert: wrongCa.cert, key: wrongCa.key });
    assert.equal(identLen(), 0, 'a certificate the client CA did not sign became an identity');
  });

  it('the listen line names where the client CA came from', () => {
    assert.match(listenLine ?? '', /kubelet port: listening on https:\/\/127\.0\.0\.24:\d+; client certificates verified against the client CA given \(--client-ca-file\)$/);
  });
});

describe('host crypto ops (OP_KEY_GENERATE, OP_CSR_CREATE, OP_CERT_INSTALL)', () => {
  it('a CSR whose subject and SANs parse back, signed by the slot key; a matching certificate installs', () => {
    const slots = new KeySlots();
    assert.throws(() => slots.csr(0, 'CN=x'), SpecError);
    slots.generate(0);
    const csr = slots.csr(0, 'CN=system:node:pico-1\nO=system:nodes\nDNS=pico-1\nDNS=pico-1.local\nIP=127.0.0.5\nIP=::1\n');
    const dir = tmpDir('csr');
    const csrFile = path.join(dir, 'n.csr');
    fs.writeFileSync(csrFile, csr);
    const text = execFileSync('openssl', ['req', '-in', csrFile, '-noout', '-text', '-verify'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.match(text, /Subject: O\s?=\s?system:nodes, CN\s?=\s?system:node:pico-1/);
    assert.match(text, /DNS:pico-1, DNS:pico-1\.local, IP Address:127\.0\.0\.5, IP Address:0:0:0:0:0:0:0:1/);
    assert.match(text, /ASN1 OID: prime256v1/);
    assert.match(text, /ecdsa-with-SHA256/);
    // Sign it with the test CA and install the result; a certificate for another key is refused.
    const pki = testPki();
    fs.writeFileSync(path.join(dir, 'ca.crt'), pki.ca.cert);
    fs.writeFileSync(path.join(dir, 'ca.key'), pki.ca.key);
    execFileSync('openssl', ['x509', '-req', '-in', csrFile, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'n.crt', '-days', '1', '-copy_extensions', 'copy'], { cwd: dir, stdio: 'ignore' });
    const cert = fs.readFileSync(path.join(dir, 'n.crt'), 'utf8');
    assert.match(new crypto.X509Certificate(cert).subjectAltName ?? '', /IP Address:127\.0\.0\.5/);
    assert.throws(() => slots.install(1, cert), /no key/);
    slots.generate(1);
    assert.throws(() => slots.install(1, cert), /does not match key slot 1/);
    slots.install(0, cert);
    assert.equal(slots.identity(0)?.cert, cert);
    assert.throws(() => slots.install(0, 'garbage'), /not a PEM certificate/);
  });

  it('a bad spec is refused with a reason', () => {
    const slots = new KeySlots();
    slots.generate(1);
    assert.throws(() => slots.csr(1, 'O=x'), /no CN line/);
    assert.throws(() => slots.csr(1, 'CN=a\nIP=300.1.1.1'), /bad IP address/);
    assert.throws(() => slots.csr(1, 'CN=a\nEMAIL=x@y'), /unknown spec key/);
    assert.throws(() => slots.csr(2, 'CN=a'), /no key slot 2/);
  });
});
