// tests/host-sim/serving-cert.test.ts
// host-sim's side of the serving certificate: key slots with a pending key and validity lines
// (OP_KEY_GENERATE, OP_CERT_INSTALL, OP_CERT_INFO), --cert-dir persistence (one 0600 file per slot, read
// back at start, a damaged file ignored with a warning), and a node against the fake API server over real
// TLS: its CSR is issued by a test CA, the listener then presents that certificate (verified with
// node:tls against the CA for the node's IP), and a restart with the same --cert-dir reuses it.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { KeySlots, SLOT_FILES } from '../../host-sim/src/hostcrypto/keys.js';
import { silentLogger } from '../../host-sim/src/logger.js';
import { SimNode, startNode } from '../../host-sim/src/node.js';
import { FakeApiServer, type FakeTlsServer, listenTls } from '../support/fake-apiserver.js';
import { TestSigner } from '../support/csr-signer.js';
import { credentialsFor, testPki, tmpDir, until } from './support/harness.js';

const CSRS = '/apis/certificates.k8s.io/v1/certificatesigningrequests';
const SPEC = 'CN=system:node:n\nO=system:nodes\nDNS=n\nIP=127.0.0.1\n';

function validity(lines: string): [number, number] {
  const m = /^notBefore=(\d+)\nnotAfter=(\d+)\n$/.exec(lines);
  assert.ok(m, lines);
  return [Number(m[1]), Number(m[2])];
}

describe('key slots: pending key, validity lines, --cert-dir', () => {
  const signer = new TestSigner(testPki().ca);

  it('a new key is pending: the installed pair stays in use until a certificate for the new key is installed', () => {
    const slots = new KeySlots();
    assert.throws(() => slots.info(1), /no certificate in key slot 1/);
    slots.generate(1);
    const t = Date.now();
    const first = signer.sign(slots.csr(1, SPEC), t - 60_000, t + 3_600_000);
    const [nb, na] = validity(slots.install(1, first));
    assert.equal(nb, Math.floor((t - 60_000) / 1000));
    assert.equal(na, Math.floor((t + 3_600_000) / 1000));
    assert.equal(slots.info(1), `notBefore=${nb}\nnotAfter=${na}\n`);
    const key1 = slots.identity(1)!.key;
    // Rotation: the old pair is still the slot's while the new key waits for its certificate.
    slots.generate(1);
    assert.equal(slots.identity(1)!.cert, first);
    assert.equal(slots.info(1), `notBefore=${nb}\nnotAfter=${na}\n`);
    const second = signer.sign(slots.csr(1, SPEC), t, t + 7_200_000);
    assert.throws(() => slots.install(1, first), /does not match key slot 1/, 'the old certificate is not for the pending key');
    slots.install(1, second);
    assert.equal(slots.identity(1)!.cert, second);
    assert.notEqual(slots.identity(1)!.key, key1);
  });

  it('with a directory: one file per slot, mode 0600, read back by the next start', () => {
    const dir = path.join(tmpDir('certdir'), 'pki');
    const slots = new KeySlots(dir);
    slots.generate(1);
    const t = Date.now();
    const cert = signer.sign(slots.csr(1, SPEC), t - 1000, t + 3_600_000);
    const lines = slots.install(1, cert);
    const file = path.join(dir, 'kubelet-server-current.pem');
    assert.equal(SLOT_FILES[1], 'kubelet-server-current.pem');
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
    assert.deepEqual(fs.readdirSync(dir), ['kubelet-server-current.pem'], 'no temporary file left');
    const text = fs.readFileSync(file, 'utf8');
    assert.match(text, /^-----BEGIN CERTIFICATE-----[^]*-----BEGIN PRIVATE KEY-----/);
    const again = new KeySlots(dir);
    assert.equal(again.info(1), lines);
    assert.equal(again.identity(1)!.cert, cert);
    assert.throws(() => again.info(0), /no certificate in key slot 0/);
    // A pending key is not written: a restart before its certificate keeps the last installed pair.
    again.generate(1);
    assert.equal(fs.readFileSync(file, 'utf8'), text);
  });

  it('a damaged or mismatched file is ignored with a warning', () => {
    const dir = tmpDir('certdir-bad');
    fs.writeFileSync(path.join(dir, 'kubelet-server-current.pem'), 'garbage', { mode: 0o600 });
    const other = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' });
    fs.writeFileSync(path.join(dir, 'kubelet-client-current.pem'), testPki().server.cert + other, { mode: 0o600 });
    const warnings: string[] = [];
    const slots = new KeySlots(dir, (l) => warnings.push(l));
    assert.equal(slots.identity(0), null);
    assert.equal(slots.identity(1), null);
    assert.equal(warnings.length, 2);
    assert.match(warnings.join('\n'), /kubelet-client-current\.pem: not a usable key and certificate \(the certificate does not match the key\); ignored/);
  });
});

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

/** The certificate the listener presents, verified against `ca` for `ip` (throws when it does not verify). */
function presented(ip: string, port: number, ca: string): Promise<tls.PeerCertificate> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: ip, port, ca }, () => {
      const c = s.getPeerCertificate();
      s.end();
      resolve(c);
    });
    s.on('error', reject);
  });
}

describe('a node gets its serving certificate from the (fake) cluster and keeps it in --cert-dir', () => {
  const pki = testPki();
  const api = new FakeApiServer({ token: 'tok-serving-1' });
  const signer = new TestSigner(pki.ca);
  const ip = '127.0.0.29';
  const certDir = path.join(tmpDir('serving'), 'pki');
  let srv: FakeTlsServer;
  let port = 0;
  let node: SimNode | null = null;

  before(async () => {
    srv = await listenTls(api, { cert: pki.server.cert, key: pki.server.key });
    port = await freePort(ip);
    api.onCsr = (csr) => signer.approve(csr, Date.now() - 60_000, Date.now() + 86_400_000);
  });
  after(async () => {
    await node?.stop();
    await srv.close();
  });

  async function start(): Promise<SimNode> {
    const { creds } = credentialsFor({ server: `https://127.0.0.1:${srv.port}`, caPEM: pki.ca.cert, token: 'tok-serving-1' });
    return startNode({ name: 'serving-1', credentials: creds, nodeIp: ip, kubeletPort: port, certDir, logger: silentLogger() });
  }

  it('the CSR is issued and installed; new connections get the issued certificate, verified for the node IP', async () => {
    node = await start();
    // Before the CSR is issued the listener has a self-signed certificate: it does not verify.
    await node.waitFor((s) => s.listenPort === port, 20_000, 'listening');
    await until(() => node!.logs.some((l) => /serving certificate from CSR csr-\w+: valid until/.test(l)), 20_000, 'the certificate installed');
    const posted = JSON.parse(api.seen('POST', CSRS)[0].body);
    assert.equal(posted.spec.signerName, 'kubernetes.io/kubelet-serving');
    const peer = await presented(ip, port, pki.ca.cert);
    assert.equal(peer.subject.CN, 'system:node:serving-1');
    assert.equal(peer.subject.O, 'system:nodes');
    assert.match(peer.subjectaltname ?? '', /DNS:serving-1/);
    assert.match(peer.subjectaltname ?? '', /IP Address:127\.0\.0\.29/);
    const issued = Buffer.from([...api.csrs.values()][0].status.certificate, 'base64').toString('utf8');
    assert.equal(peer.fingerprint256, new crypto.X509Certificate(issued).fingerprint256);
    assert.equal(fs.statSync(path.join(certDir, 'kubelet-server-current.pem')).mode & 0o777, 0o600);
    assert.ok(node.logs.some((l) => /kubelet port: serving the certificate the cluster issued/.test(l)));
  });

  it('a restart with the same --cert-dir presents the stored certificate at once and makes no CSR', async () => {
    const before = api.seen('POST', CSRS).length;
    const fingerprint = new crypto.X509Certificate(fs.readFileSync(path.join(certDir, 'kubelet-server-current.pem'), 'utf8')).fingerprint256;
    await node!.stop();
    node = await start();
    await node.waitFor((s) => s.listenPort === port && s.phaseName === 'RUNNING', 20_000, 'listening and running');
    const peer = await presented(ip, port, pki.ca.cert);
    assert.equal(peer.fingerprint256, fingerprint);
    await until(() => node!.logs.some((l) => /serving certificate from an earlier run: valid until/.test(l)), 10_000, 'the stored certificate used');
    assert.equal(api.seen('POST', CSRS).length, before);
  });
});

describe('rotation: a short-lived serving certificate is replaced before it expires', () => {
  const pki = testPki();
  const api = new FakeApiServer({ token: 'tok-serving-2' });
  const signer = new TestSigner(pki.ca);
  const ip = '127.0.0.31';
  let srv: FakeTlsServer;
  let node: SimNode | null = null;
  /** Each CSR's creation (wall ms) and the validity of the certificate issued for it. */
  const issued: { createdAt: number; notBefore: number; notAfter: number }[] = [];

  before(async () => {
    srv = await listenTls(api, { cert: pki.server.cert, key: pki.server.key });
    // Twelve seconds of life from one second ago: renewal due 7.4..9.8 s from the issue.
    api.onCsr = (csr) => {
      const now = Date.now();
      const notBefore = Math.floor((now - 1000) / 1000) * 1000;
      issued.push({ createdAt: now, notBefore, notAfter: notBefore + 12_000 });
      signer.approve(csr, notBefore, notBefore + 12_000);
    };
  });
  after(async () => {
    await node?.stop();
    await srv.close();
  });

  it('a new key and CSR at 70-90 % of the lifetime; new connections get the new certificate; renewals go on', async () => {
    const port = await freePort(ip);
    const { creds } = credentialsFor({ server: `https://127.0.0.1:${srv.port}`, caPEM: pki.ca.cert, token: 'tok-serving-2' });
    node = await startNode({
      name: 'serving-2', credentials: creds, nodeIp: ip, kubeletPort: port, logger: silentLogger(), keepLogs: 200,
      coreConfig: { renewIntervalMs: 1000 },
    });
    const installed = (): string[] => node!.logs.filter((l) => /serving certificate from CSR csr-\w+: valid until/.test(l));
    await until(() => installed().length === 1, 20_000, 'the first certificate');
    const first = await presented(ip, port, pki.ca.cert);
    await until(() => installed().length === 2, 20_000, 'the second certificate');
    // The new CSR was asked for within 70..90 % of the first's life (one second of slack for the
    // validity's whole seconds and the request's way), before it expired.
    const [a, b] = issued;
    const at = b.createdAt - a.notBefore;
    assert.ok(at >= 0.7 * 12_000 - 1000 && b.createdAt < a.notAfter, `renewal asked ${at} ms into a 12 s life`);
    const second = await presented(ip, port, pki.ca.cert);
    assert.notEqual(second.fingerprint256, first.fingerprint256);
    assert.equal(api.seen('POST', CSRS).length, 2);
    const renewals = api.seen('PATCH', /leases\/serving-2$/).map((r) => r.at);
    for (let i = 1; i < renewals.length; i++) assert.ok(renewals[i] - renewals[i - 1] < 2_000, `lease renewal gap ${renewals[i] - renewals[i - 1]} ms`);
  });
});
