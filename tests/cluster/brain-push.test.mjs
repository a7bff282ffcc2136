// Publishing a brain (issue 11 item 1, docs/brain.md): `picokubelet-sim brain-key` and `picokubelet-sim push`
// against the local control plane's registry; the manifest and the layer fetched back over HTTPS.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { cluster, uniqueName } from './helpers.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SIM = path.join(ROOT, 'host-sim', 'bin', 'picokubelet-sim.js');
const WASM = path.join(ROOT, 'build', 'picokubelet.wasm');
const brain = await import(path.join(ROOT, 'host-sim', 'dist', 'brain.js'));
const reg = cluster.addons?.registry;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pk-brain-test-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function sim(args) {
  return spawnSync(process.execPath, [SIM, ...args], { encoding: 'utf8', cwd: ROOT });
}

function get(urlPath, accept) {
  const a = JSON.parse(fs.readFileSync(reg.authFile, 'utf8'));
  const basic = Buffer.from(`${a.username}:${a.password}`).toString('base64');
  return new Promise((resolve, reject) => {
    const req = https.request(new URL(urlPath, reg.url), { ca: cluster.caPEM, agent: false, timeout: 10_000,
      headers: { Accept: accept, Authorization: `Basic ${basic}` } }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('brain-key writes a 0600 private key and a base64 public key; it does not overwrite', () => {
  const key = path.join(tmp, 'k1');
  const r = sim(['brain-key', '--out', key]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(fs.statSync(key).mode & 0o777, 0o600);
  const pub = fs.readFileSync(key + '.pub', 'utf8').trim();
  assert.equal(Buffer.from(pub, 'base64').length, 32);
  assert.match(r.stdout, new RegExp(pub.replace(/[+/]/g, '\\$&')));
  assert.notEqual(sim(['brain-key', '--out', key]).status, 0);
});

test('push: manifest, config and layer media types, annotations, digests; the signature verifies and a tampered statement does not', async () => {
  assert.ok(reg, 'cluster.json has no addons.registry');
  const key = path.join(tmp, 'k2');
  assert.equal(sim(['brain-key', '--out', key]).status, 0);
  const repo = `picokubelet/${uniqueName('brain')}`;
  const r = sim(['push', `${reg.address}/${repo}:v1`, '--key', key]);
  assert.equal(r.status, 0, r.stderr);
  const digest = r.stdout.trim();
  assert.match(digest, /^sha256:[0-9a-f]{64}$/);

  const m = await get(`/v2/${repo}/manifests/v1`, brain.MANIFEST_TYPE);
  assert.equal(m.status, 200, m.body.toString());
  assert.equal('sha256:' + crypto.createHash('sha256').update(m.body).digest('hex'), digest);
  assert.equal(m.headers['docker-content-digest'], digest);
  const manifest = JSON.parse(m.body.toString());
  assert.equal(manifest.mediaType, 'application/vnd.oci.image.manifest.v1+json');
  assert.equal(manifest.config.mediaType, 'application/vnd.wasm.config.v0+json');
  assert.equal(manifest.layers.length, 1);
  assert.equal(manifest.layers[0].mediaType, 'application/wasm');
  const wasm = fs.readFileSync(WASM);
  const layerDigest = 'sha256:' + crypto.createHash('sha256').update(wasm).digest('hex');
  assert.equal(manifest.layers[0].digest, layerDigest);
  assert.equal(manifest.layers[0].size, wasm.length);
  const ann = manifest.annotations;
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  assert.equal(ann['dev.picokubelet.brain.version'], pkg.version);
  assert.equal(ann['dev.picokubelet.brain.abi'], String(brain.moduleAbi(wasm)));
  assert.equal(ann['dev.picokubelet.brain.abi'], '2');
  const head = spawnSync('git', ['-C', ROOT, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).stdout.trim();
  assert.ok(ann['org.opencontainers.image.revision'].startsWith(head), ann['org.opencontainers.image.revision']);

  const blob = await get(`/v2/${repo}/blobs/${layerDigest}`, '*/*');
  assert.equal(blob.status, 200);
  assert.ok(blob.body.equals(wasm), 'the layer is the module, byte for byte');
  const cfg = await get(`/v2/${repo}/blobs/${manifest.config.digest}`, '*/*');
  assert.equal(JSON.parse(cfg.body.toString()).architecture, 'wasm');

  const pub = brain.publicKeyFrom(fs.readFileSync(key + '.pub', 'utf8'));
  assert.equal(ann['dev.picokubelet.brain.key-id'], brain.keyId(pub));
  assert.equal(brain.verifyManifest(manifest, pub), true);
  const sig = Buffer.from(ann['dev.picokubelet.brain.signature'], 'base64');
  assert.equal(crypto.verify(null, brain.statement(layerDigest, 2, pkg.version), pub, sig), true);
  // Tampered statements: another layer, another ABI, another version.
  const other = 'sha256:' + '0'.repeat(64);
  assert.equal(crypto.verify(null, brain.statement(other, 2, pkg.version), pub, sig), false);
  assert.equal(crypto.verify(null, brain.statement(layerDigest, 3, pkg.version), pub, sig), false);
  assert.equal(brain.verifyManifest({ ...manifest, annotations: { ...ann, 'dev.picokubelet.brain.version': '9.9.9' } }, pub), false);
  // Another key does not verify it.
  const stranger = crypto.generateKeyPairSync('ed25519').publicKey;
  assert.equal(brain.verifyManifest(manifest, stranger), false);
});

test('push without --key is unsigned (with a warning) and verifies against nothing', async () => {
  const repo = `picokubelet/${uniqueName('brain')}`;
  const r = sim(['push', `${reg.address}/${repo}:unsigned`]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /unsigned/);
  const m = await get(`/v2/${repo}/manifests/unsigned`, brain.MANIFEST_TYPE);
  const manifest = JSON.parse(m.body.toString());
  assert.equal(manifest.annotations['dev.picokubelet.brain.signature'], undefined);
  assert.equal(brain.verifyManifest(manifest, crypto.generateKeyPairSync('ed25519').publicKey), false);
});

test('push refuses a non-Ed25519 key and a missing reference', () => {
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' });
  fs.writeFileSync(path.join(tmp, 'rsa.pem'), rsa, { mode: 0o600 });
  const r = sim(['push', `${reg.address}/picokubelet/x:v1`, '--key', path.join(tmp, 'rsa.pem')]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /not an Ed25519 key/);
  assert.equal(sim(['push']).status, 2);
});
