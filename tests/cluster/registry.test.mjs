// The OCI registry (issue 11 item 6): CNCF distribution started by `up` on
// 127.0.0.1 with TLS from the cluster CA and htpasswd auth, and the oras CLI
// (`cluster.mjs oras`, `<dir>/bin/oras`) logged in and trusting only that CA.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { CLUSTER_CLI, CLUSTER_DIR, cluster, clusterCli, uniqueName } from './helpers.mjs';
import { listeningSockets } from './proc.mjs';

const reg = cluster.addons?.registry;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pk-registry-test-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const auth = () => JSON.parse(fs.readFileSync(reg.authFile, 'utf8'));
const ORAS = path.join(CLUSTER_DIR, 'bin', 'oras');

/** One HTTPS request to the registry. */
function get(urlPath, { ca = cluster.caPEM, basic, servername, method = 'GET' } = {}) {
  return new Promise((resolve, reject) => {
    const headers = { Accept: 'application/vnd.oci.image.manifest.v1+json' };
    if (basic) headers.Authorization = `Basic ${Buffer.from(basic).toString('base64')}`;
    const req = https.request(new URL(urlPath, reg.url), { method, ca, servername, headers, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** `node tools/cluster.mjs oras ...` (the wrapper), in cwd. */
function oras(args, cwd = tmp) {
  return spawnSync(process.execPath, [CLUSTER_CLI, 'oras', '--dir', CLUSTER_DIR, ...args], { cwd, encoding: 'utf8' });
}

/** The oras binary itself, without the wrapper's credentials or trust. */
function rawOras(args, env) {
  const bin = fs.readFileSync(ORAS, 'utf8').match(/^exec '([^']+)'/m)[1];
  return spawnSync(bin, args, { cwd: tmp, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: tmp, ...env } });
}

test('status prints the registry address; it listens on 127.0.0.1 only', () => {
  assert.ok(reg, 'cluster.json has no addons.registry');
  assert.match(reg.address, /^127\.0\.0\.1:\d+$/);
  const status = clusterCli(['status']);
  assert.equal(status.status, 0, status.stdout + status.stderr);
  assert.match(status.stdout, new RegExp(`^registry ${reg.address.replace(/\./g, '\\.')} `, 'm'));
  assert.match(status.stdout, /^registry +pid \d+ running/m);
  const socks = listeningSockets(cluster.pids.registry);
  assert.deepEqual(socks, [reg.address]);
});

test('credentials are in registry-auth.json and the Docker config (0600), never in the logs', () => {
  const a = auth();
  assert.equal(a.server, reg.address);
  assert.equal(a.username, 'picokubelet');
  assert.ok(a.password.length >= 32);
  assert.equal(fs.statSync(reg.authFile).mode & 0o777, 0o600);
  assert.equal(fs.statSync(path.join(a.dockerConfig, 'config.json')).mode & 0o777, 0o600);
  for (const f of fs.readdirSync(cluster.logDir)) {
    assert.ok(!fs.readFileSync(path.join(cluster.logDir, f), 'utf8').includes(a.password), `the password is in logs/${f}`);
  }
});

describe('TLS and authentication', () => {
  test('anonymous requests get 401 with a Basic challenge', async () => {
    const r = await get('/v2/');
    assert.equal(r.status, 401);
    assert.match(r.headers['www-authenticate'], /^Basic realm="picokubelet-registry"/);
    const m = await get('/v2/pk-test/none/manifests/v1');
    assert.equal(m.status, 401);
  });
  test('a wrong password gets 401, the right one 200', async () => {
    assert.equal((await get('/v2/', { basic: 'picokubelet:wrong' })).status, 401);
    assert.equal((await get('/v2/', { basic: `picokubelet:${auth().password}` })).status, 200);
  });
  test('the certificate is for 127.0.0.1 and localhost, signed by the cluster CA; a foreign CA is refused', async () => {
    assert.equal((await get('/v2/', { servername: 'localhost' })).status, 401);
    const other = spawnSync(path.join(cluster.binDir, 'testenv'), ['pki', '--dir', path.join(tmp, 'other')], { encoding: 'utf8' });
    assert.equal(other.status, 0, other.stderr);
    const foreign = fs.readFileSync(path.join(tmp, 'other', 'pki', 'ca.crt'));
    await assert.rejects(get('/v2/', { ca: foreign }), /self-signed|unable to verify|unable to get/);
    await assert.rejects(get('/v2/', { servername: 'registry.example' }), /altnames|does not match/i);
  });
});

describe('oras', () => {
  const repo = `${reg?.address}/pk-test/${uniqueName('artifact')}`;
  const content = `picokubelet test artifact ${Date.now()}\n`;
  const sha = `sha256:${createHash('sha256').update(content).digest('hex')}`;
  let pushed;

  test('pushes a file as an OCI artifact and pulls it back (same digest, same bytes)', () => {
    fs.writeFileSync(path.join(tmp, 'hello.txt'), content);
    const push = oras(['push', `${repo}:v1`, 'hello.txt:text/plain', '--artifact-type', 'application/vnd.picokubelet.test', '--format', 'json']);
    assert.equal(push.status, 0, push.stderr + push.stdout);
    pushed = JSON.parse(push.stdout);
    assert.match(pushed.digest, /^sha256:[0-9a-f]{64}$/);

    const manifest = oras(['manifest', 'fetch', `${repo}:v1`]);
    assert.equal(manifest.status, 0, manifest.stderr);
    const m = JSON.parse(manifest.stdout);
    assert.equal(m.artifactType, 'application/vnd.picokubelet.test');
    assert.equal(m.layers.length, 1);
    assert.equal(m.layers[0].digest, sha, 'the layer is the file');
    assert.equal(`sha256:${createHash('sha256').update(manifest.stdout).digest('hex')}`, pushed.digest, 'the manifest is the one pushed');

    const out = path.join(tmp, 'pulled');
    fs.mkdirSync(out);
    const pull = oras(['pull', `${repo}:v1`, '-o', out, '--format', 'json']);
    assert.equal(pull.status, 0, pull.stderr + pull.stdout);
    const pulled = fs.readFileSync(path.join(out, 'hello.txt'), 'utf8');
    assert.equal(pulled, content);
    assert.equal(`sha256:${createHash('sha256').update(pulled).digest('hex')}`, sha);
    assert.equal(JSON.parse(pull.stdout).reference.split('@')[1], pushed.digest);
  });

  test('the blob and manifest are there over plain HTTPS with the credentials', async () => {
    const basic = `picokubelet:${auth().password}`;
    const man = await get(`/v2/${repo.split('/').slice(1).join('/')}/manifests/v1`, { basic });
    assert.equal(man.status, 200);
    assert.equal(man.headers['docker-content-digest'], pushed.digest);
  });

  test('an unauthenticated pull is refused (401)', () => {
    const r = rawOras(['pull', `${repo}:v1`, '-o', path.join(tmp, 'anon')], {
      DOCKER_CONFIG: path.join(tmp, 'empty-docker'),
      SSL_CERT_FILE: cluster.caFile,
      SSL_CERT_DIR: path.join(tmp, 'empty-docker'),
    });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /401|credential not found|unauthorized/i);
    assert.ok(!fs.existsSync(path.join(tmp, 'anon', 'hello.txt')));
  });

  test('oras without the cluster CA refuses the registry (TLS is verified)', () => {
    const r = rawOras(['pull', `${repo}:v1`, '-o', path.join(tmp, 'untrusted')], { DOCKER_CONFIG: auth().dockerConfig });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /x509: certificate signed by unknown authority/);
  });
});
