// tests/host-sim/tls.test.ts
// TLS verification and credentials: a server whose certificate another CA signed is refused (by the
// pre-flight and by every connection the core asks for); the right CA with an IP SAN is accepted; an IP
// server without an IP SAN is refused; client-certificate authentication works; insecure-skip-tls-verify
// is honoured only when the kubeconfig says so, with a loud warning; bad kubeconfigs are one-line errors.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Close, ErrorCode, Phase } from '../../host-sim/src/abi.js';
import { CredentialsError, loadCredentials, preflight } from '../../host-sim/src/credentials.js';
import { Logger, silentLogger } from '../../host-sim/src/logger.js';
import { startNode } from '../../host-sim/src/node.js';
import { FakeApiServer as FakeApi, type FakeTlsServer, listenTls } from '../support/fake-apiserver.js';
import { TraceRecorder, credentialsFor, testPki, tmpDir } from './support/harness.js';
import { writeKubeconfig } from './support/pki.js';

const FAST = { renewIntervalMs: 200, evaluateIntervalMs: 200, requestTimeoutMs: 2000 };

describe('server certificate verification', () => {
  const good = new FakeApi({ token: 'tok-good-1' });
  const evil = new FakeApi({ token: 'tok-good-1' });
  const noIp = new FakeApi({ token: 'tok-good-1' });
  let goodSrv: FakeTlsServer;
  let evilSrv: FakeTlsServer;
  let noIpSrv: FakeTlsServer;

  before(async () => {
    const pki = testPki();
    goodSrv = await listenTls(good, { cert: pki.server.cert, key: pki.server.key });
    evilSrv = await listenTls(evil, { cert: pki.otherServer.cert, key: pki.otherServer.key });
    noIpSrv = await listenTls(noIp, { cert: pki.serverNoIp.cert, key: pki.serverNoIp.key });
  });
  after(async () => {
    await goodSrv.close();
    await evilSrv.close();
    await noIpSrv.close();
  });

  it('accepts the cluster CA with an IP SAN for 127.0.0.1', async () => {
    const { creds } = credentialsFor({ server: goodSrv.url, caPEM: testPki().ca.cert, token: 'tok-good-1' });
    assert.deepEqual(await preflight(creds), { ok: true });
    const node = await startNode({ name: 'tls-good', credentials: creds, coreConfig: FAST, logger: silentLogger() });
    try {
      await node.waitForPhase(Phase.RUNNING, 15_000);
    } finally {
      await node.stop();
    }
  });

  it('refuses a server whose certificate another CA signed, before sending a byte', async () => {
    const { creds } = credentialsFor({ server: evilSrv.url, caPEM: testPki().ca.cert, token: 'tok-good-1' });
    const pf = await preflight(creds);
    assert.equal(pf.ok, false);
    assert.equal(pf.ok === false && pf.unverifiable, true);
    const trace = new TraceRecorder();
    const node = await startNode({ name: 'tls-evil', credentials: creds, coreConfig: FAST, logger: silentLogger(), trace: trace.fn });
    try {
      await node.waitFor((s) => (s.connects as number) >= 2, 10_000, 'two connection attempts');
      const closes = trace.exports('on_closed').map((e) => Number(e.args[2]));
      assert.ok(closes.length >= 1 && closes.every((r) => r === Close.TLS_FAILED), `close reasons ${closes.join(',')}`);
      assert.equal(trace.exports('on_connected').length, 0);
      assert.equal(node.stats().lastError, ErrorCode.CONNECT);
      assert.equal(node.stats().phase, Phase.ANCHORING);
      assert.equal(evil.requests.length, 0, 'no request reached the impostor');
      assert.ok(node.logs.some((l) => /self-signed|unable to verify|certificate/i.test(l)), node.logs.join('\n'));
    } finally {
      await node.stop();
    }
  });

  it('refuses an IP server whose certificate has no IP SAN (a DNS name or CN does not count)', async () => {
    const { creds } = credentialsFor({ server: noIpSrv.url, caPEM: testPki().ca.cert, token: 'tok-good-1' });
    const pf = await preflight(creds);
    assert.ok(pf.ok === false && pf.unverifiable, JSON.stringify(pf));
    assert.match(pf.ok === false ? pf.reason : '', /ERR_TLS_CERT_ALTNAME_INVALID/);
    const trace = new TraceRecorder();
    const node = await startNode({ name: 'tls-noip', credentials: creds, coreConfig: FAST, logger: silentLogger(), trace: trace.fn });
    try {
      await node.waitFor((s) => (s.connects as number) >= 2, 10_000, 'two connection attempts');
      const closes = trace.exports('on_closed').map((e) => Number(e.args[2]));
      assert.ok(closes.length >= 1 && closes.every((r) => r === Close.TLS_FAILED), `close reasons ${closes.join(',')}`);
      assert.equal(noIp.requests.length, 0);
      assert.ok(node.logs.some((l) => /ERR_TLS_CERT_ALTNAME_INVALID/.test(l)), node.logs.join('\n'));
    } finally {
      await node.stop();
    }
  });

  it('accepts an unverifiable server only when the kubeconfig says insecure-skip-tls-verify, and says so loudly', async () => {
    const { creds } = credentialsFor({ server: evilSrv.url, insecure: true, token: 'tok-good-1' });
    assert.equal(creds.tls.insecure, true);
    const lines: string[] = [];
    const logger = new Logger({ level: 'warn', write: (l) => void lines.push(l) });
    const node = await startNode({ name: 'tls-insecure', credentials: creds, coreConfig: FAST, logger });
    try {
      await node.waitForPhase(Phase.RUNNING, 15_000);
      assert.ok(lines.some((l) => /INSECURE/.test(l)), lines.join(''));
    } finally {
      await node.stop();
    }
  });
});

describe('client certificate authentication', () => {
  const api = new FakeApi();
  let srv: FakeTlsServer;
  before(async () => {
    const pki = testPki();
    srv = await listenTls(api, { cert: pki.server.cert, key: pki.server.key, ca: pki.ca.cert, requestCert: true });
  });
  after(() => srv.close());

  it('presents the kubeconfig client certificate and sends no token', async () => {
    const pki = testPki();
    const client = pki.client('tls-cert-node');
    const { creds } = credentialsFor({ server: srv.url, caPEM: pki.ca.cert, cert: client.cert, key: client.key, user: 'system:node:tls-cert-node' });
    assert.equal(creds.auth, 'client-certificate');
    assert.equal(creds.token, undefined);
    const node = await startNode({ name: 'tls-cert-node', credentials: creds, coreConfig: FAST, logger: silentLogger() });
    try {
      await node.waitForPhase(Phase.RUNNING, 15_000);
      assert.ok(api.requests.length > 0 && api.requests.every((r) => r.headers.authorization === undefined));
    } finally {
      await node.stop();
    }
  });

  it('without a client certificate the server refuses the handshake', async () => {
    const { creds } = credentialsFor({ server: srv.url, caPEM: testPki().ca.cert, token: 'some-token-9' });
    const node = await startNode({ name: 'tls-no-cert', credentials: creds, coreConfig: FAST, logger: silentLogger() });
    try {
      await node.waitFor((s) => (s.connects as number) >= 2, 10_000, 'two attempts');
      assert.equal(node.stats().phase, Phase.ANCHORING);
    } finally {
      await node.stop();
    }
  });
});

describe('kubeconfig loading', () => {
  const pki = testPki();
  const dir = tmpDir('kcload');
  const kc = (name: string, o: Parameters<typeof writeKubeconfig>[1]): string => writeKubeconfig(path.join(dir, name), o);
  const cases: Array<{ desc: string; opts: () => Parameters<typeof loadCredentials>[0]; env?: NodeJS.ProcessEnv; error: RegExp }> = [
    { desc: 'missing file', opts: () => ({ kubeconfig: path.join(dir, 'nope') }), error: /does not exist/ },
    { desc: 'not YAML', opts: () => (fs.writeFileSync(path.join(dir, 'bad'), ':\n  - ]['), { kubeconfig: path.join(dir, 'bad') }), error: /cannot read kubeconfig/ },
    { desc: 'http server', opts: () => ({ kubeconfig: kc('http', { server: 'http://127.0.0.1:8080', token: 'abcd1234' }) }), error: /not https/ },
    { desc: 'no credentials', opts: () => ({ kubeconfig: kc('anon', { server: 'https://127.0.0.1:1', caPEM: pki.ca.cert }) }), error: /neither a bearer token nor a client certificate/ },
    { desc: 'unknown context', opts: () => ({ kubeconfig: kc('ctx', { server: 'https://127.0.0.1:1', token: 'abcd1234' }), context: 'other' }), error: /no context named 'other'/ },
    {
      desc: 'key of another certificate',
      opts: () => ({ kubeconfig: kc('mismatch', { server: 'https://127.0.0.1:1', cert: pki.client('a').cert, key: pki.client('b').key }) }),
      error: /does not belong/,
    },
    { desc: 'garbage CA', opts: () => ({ kubeconfig: kc('ca', { server: 'https://127.0.0.1:1', caPEM: 'hello', token: 'abcd1234' }) }), error: /no PEM certificate/ },
    { desc: '$KUBECONFIG pointing nowhere', opts: () => ({}), env: { KUBECONFIG: path.join(dir, 'missing') }, error: /\$KUBECONFIG .* does not exist/ },
  ];
  for (const c of cases) {
    it(`refuses: ${c.desc}`, () => {
      assert.throws(() => loadCredentials(c.opts(), c.env ?? {}), (e: unknown) => e instanceof CredentialsError && c.error.test(e.message) && !e.message.includes('\n'));
    });
  }

  it('reads server, CA, token from $KUBECONFIG and the token never shows in the core config log', () => {
    const file = kc('ok', { server: 'https://127.0.0.1:6443', caPEM: pki.ca.cert, token: 'sekret-token-xyz' });
    const creds = loadCredentials({}, { KUBECONFIG: file });
    assert.equal(creds.apiHost, '127.0.0.1');
    assert.equal(creds.apiPort, 6443);
    assert.equal(creds.serverName, '127.0.0.1');
    assert.equal(creds.token, 'sekret-token-xyz');
    assert.ok(creds.tls.ca);
    const lines: string[] = [];
    const logger = new Logger({ level: 'debug', write: (l) => void lines.push(l) });
    logger.addSecret(creds.token);
    logger.info('Authorization: Bearer sekret-token-xyz');
    assert.ok(!lines.join('').includes('sekret-token-xyz'));
  });

  it('--token and --ca override the kubeconfig', () => {
    const caFile = path.join(dir, 'ca.pem');
    fs.writeFileSync(caFile, pki.otherCa.cert);
    const file = kc('ovr', { server: 'https://localhost:7443', caPEM: pki.ca.cert, token: 'from-file-1' });
    const creds = loadCredentials({ kubeconfig: file, token: 'override-2', ca: caFile });
    assert.equal(creds.token, 'override-2');
    assert.equal(String(creds.tls.ca), pki.otherCa.cert);
    assert.equal(creds.apiHost, 'localhost');
  });
});
