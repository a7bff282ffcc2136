// The local control plane itself: health, version, system namespaces, TLS trust.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { after, test } from 'node:test';
import { api, cluster, clusterCli, kubectl, readKubeconfig } from './helpers.mjs';

test('cluster.json describes a ready cluster on 127.0.0.1', () => {
  assert.equal(cluster.ready, true);
  assert.match(cluster.server, /^https:\/\/127\.0\.0\.1:\d+$/);
  assert.ok(cluster.adminToken);
  assert.ok(cluster.caPEM.includes('BEGIN CERTIFICATE'));
});

test('`cluster status` exits 0 while the cluster is up', () => {
  const r = clusterCli(['status']);
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

test('/readyz is 200 with the admin token', async () => {
  const r = await api('GET', '/readyz');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.text.trim(), 'ok');
});

test('/livez reports every check ok', async () => {
  const r = await api('GET', '/livez?verbose');
  assert.equal(r.status, 200, r.text);
  assert.match(r.text, /livez check passed/);
});

test('kubectl get --raw /version reports v1.36.3', async () => {
  const { stdout } = await kubectl(['get', '--raw', '/version']);
  const v = JSON.parse(stdout);
  assert.equal(v.gitVersion, 'v1.36.3');
  assert.equal(v.major, '1');
  assert.equal(v.minor, '36');
});

test('kubectl itself is v1.36.3', async () => {
  const { stdout } = await kubectl(['version', '--client', '-o', 'json']);
  assert.equal(JSON.parse(stdout).clientVersion.gitVersion, 'v1.36.3');
});

test('namespace kube-node-lease exists', async () => {
  const r = await api('GET', '/api/v1/namespaces/kube-node-lease');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.status.phase, 'Active');
});

test('the ServiceAccount controller created default/default', async () => {
  const r = await api('GET', '/api/v1/namespaces/default/serviceaccounts/default');
  assert.equal(r.status, 200, r.text);
});

test('anonymous requests are not cluster admin', async () => {
  const r = await api('GET', '/api/v1/secrets', { auth: {} });
  assert.ok(r.status === 401 || r.status === 403, `got ${r.status}`);
});

test('a bad bearer token is rejected with 401', async () => {
  const r = await api('GET', '/api/v1/nodes', { auth: { token: 'not-a-token' } });
  assert.equal(r.status, 401);
});

test('TLS verification: the cluster CA is accepted, a wrong CA is refused', async () => {
  const port = Number(new URL(cluster.server).port);
  const connect = (opts) =>
    new Promise((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ...opts }, () => {
        s.end();
        resolve({ ok: true });
      });
      s.on('error', (e) => resolve({ ok: false, code: e.code }));
    });
  assert.deepEqual(await connect({ ca: cluster.caPEM }), { ok: true });

  // An independent CA with the very same subject name, but another key.
  const foreign = foreignPKI();
  const bad = await connect({ ca: foreign.caPEM });
  assert.equal(bad.ok, false);
  assert.match(String(bad.code), /UNABLE_TO_VERIFY_LEAF_SIGNATURE|CERT_SIGNATURE_FAILURE|UNABLE_TO_GET_ISSUER_CERT/);

  // The system trust store does not know the cluster CA either.
  const system = await connect({});
  assert.equal(system.ok, false);

  // The serving certificate names 127.0.0.1 and localhost, not other hosts.
  const wrongName = await connect({ ca: cluster.caPEM, servername: 'example.invalid' });
  assert.equal(wrongName.ok, false);
  assert.equal(wrongName.code, 'ERR_TLS_CERT_ALTNAME_INVALID');
});

test('a client certificate from a foreign CA is not accepted', async () => {
  const foreign = foreignPKI();
  const kc = path.join(foreign.dir, 'intruder.kubeconfig');
  const r = spawnSync(path.join(cluster.binDir, 'testenv'), ['mint-node-cert', '--dir', foreign.dir, '--server', cluster.server, '--name', 'intruder', '--out', kc], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const { cert, key } = readKubeconfig(kc);
  const res = await api('GET', '/api/v1/nodes/intruder', { auth: { cert, key } });
  assert.equal(res.status, 401, res.text);
});

let foreignCache;
after(() => {
  if (foreignCache) fs.rmSync(foreignCache.dir, { recursive: true, force: true });
});
function foreignPKI() {
  if (foreignCache) return foreignCache;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pk-foreign-ca-'));
  const r = spawnSync(path.join(cluster.binDir, 'testenv'), ['pki', '--dir', dir], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const caPEM = fs.readFileSync(path.join(dir, 'pki', 'ca.crt'), 'utf8');
  assert.notEqual(caPEM, cluster.caPEM);
  const mine = new crypto.X509Certificate(cluster.caPEM);
  const theirs = new crypto.X509Certificate(caPEM);
  assert.equal(theirs.subject, mine.subject, 'same subject name, different key');
  foreignCache = { dir, caPEM };
  return foreignCache;
}
