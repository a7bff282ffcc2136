// tests/firmware/brain_push.mjs: the brains linux_port_e2e.sh's swap scenario pulls, pushed signed to the local
// control plane's registry as tests/e2e/brain.test.ts pushes them (host-sim's push(), the picokubelet-system
// namespace with its dockerconfigjson pull secret and the RuntimeClass), made from build/picokubelet.wasm in
// the test: a v2 (its version strings 0.2.0) and a v3 that traps in start, both signed with a key made here.
//
//   PICOKUBELET_CLUSTER_DIR=DIR node tests/firmware/brain_push.mjs OUT_DIR
//
// Needs `npm run build` (build/ts). Writes OUT_DIR/brain.key.pub (base64 of the 32 raw bytes, what
// --brain-public-key reads) and prints one JSON line: {"registry", "repo", "v2", "v3"} (manifest digests).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const out = process.argv[2];
if (!out) {
  console.error('usage: node tests/firmware/brain_push.mjs OUT_DIR');
  process.exit(2);
}
const load = (p) => import(pathToFileURL(path.join(root, 'build/ts', p)).href);
const { push, rawPublic } = await load('host-sim/src/brain.js');
const { brainNamespace, localRegistry } = await load('tests/e2e/brain-setup.js');
const { releaseWasm, trapsAtStart, withVersion } = await load('tests/host-sim/support/brains.js');

const reg = localRegistry();
const key = crypto.generateKeyPairSync('ed25519');
fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(path.join(out, 'brain.key.pub'), rawPublic(key.publicKey).toString('base64') + '\n');
const repo = `${reg.address}/picokubelet/brain-linux-e2e-${Math.random().toString(36).slice(2, 7)}`;
const v2 = push({ reference: `${repo}:v2`, wasm: withVersion(releaseWasm(), '0.2.0'), version: '0.2.0', revision: 'e2e', key: key.privateKey, oras: reg.oras });
const v3 = push({ reference: `${repo}:v3`, wasm: trapsAtStart(withVersion(releaseWasm(), '0.3.0')), version: '0.3.0', revision: 'e2e', key: key.privateKey, oras: reg.oras });
await brainNamespace(reg);
console.log(JSON.stringify({ registry: reg.address, repo, v2: v2.digest, v3: v3.digest }));
