// host-sim/src/brain.ts
// Publishing a brain (docs/brain.md): `picokubelet-sim brain-key` makes an Ed25519 key pair and
// `picokubelet-sim push` pushes a core (.wasm) as an OCI wasm artifact with the oras CLI, signed by a
// manifest annotation over a canonical statement of the layer digest, ABI version and version.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';
export const CONFIG_TYPE = 'application/vnd.wasm.config.v0+json';
export const LAYER_TYPE = 'application/wasm';
/** Annotation keys (manifest level). */
export const ANN_VERSION = 'dev.picokubelet.brain.version';
export const ANN_ABI = 'dev.picokubelet.brain.abi';
export const ANN_REVISION = 'org.opencontainers.image.revision';
export const ANN_SIGNATURE = 'dev.picokubelet.brain.signature';
export const ANN_KEY_ID = 'dev.picokubelet.brain.key-id';

/** The exact bytes a brain's signature covers. A node rebuilds them from the manifest and the layer. */
export function statement(layerDigest: string, abi: number, version: string): Buffer {
  return Buffer.from(`picokubelet-brain-v1\nlayer ${layerDigest}\nabi ${abi}\nversion ${version}\n`, 'utf8');
}

/** `sha256:<hex>` of `b`: how OCI names a blob, and what a brain commit's digests are. */
export function digestOf(b: Uint8Array): string {
  return 'sha256:' + crypto.createHash('sha256').update(b).digest('hex');
}

/** The key id: sha256 of the public key's raw 32 bytes, hex, first 16 characters. */
export function keyId(pub: crypto.KeyObject): string {
  const raw = rawPublic(pub);
  return crypto.createHash('sha256').update(raw).digest('hex').slice(0, 16);
}

/** The raw 32-byte Ed25519 public key (what a node's configuration holds, base64). */
export function rawPublic(pub: crypto.KeyObject): Buffer {
  const der = pub.export({ type: 'spki', format: 'der' });
  return der.subarray(der.length - 32);
}

/** A public key from base64 of its 32 raw bytes, or from PEM. */
export function publicKeyFrom(text: string): crypto.KeyObject {
  const t = text.trim();
  if (t.startsWith('-----')) return crypto.createPublicKey(t);
  const raw = Buffer.from(t, 'base64');
  if (raw.length !== 32) throw new Error('an Ed25519 public key is 32 bytes (base64)');
  const prefix = Buffer.from('302a300506032b6570032100', 'hex');
  return crypto.createPublicKey({ key: Buffer.concat([prefix, raw]), format: 'der', type: 'spki' });
}

/** Checks a manifest's signature annotation against `pub` (the node's check, in the host's words). */
export function verifyManifest(manifest: any, pub: crypto.KeyObject): boolean {
  const ann = manifest?.annotations ?? {};
  const layer = manifest?.layers?.[0];
  if (!layer || layer.mediaType !== LAYER_TYPE || typeof ann[ANN_SIGNATURE] !== 'string') return false;
  const abi = Number(ann[ANN_ABI]);
  if (!Number.isInteger(abi)) return false;
  const sig = Buffer.from(ann[ANN_SIGNATURE], 'base64');
  return crypto.verify(null, statement(layer.digest, abi, String(ann[ANN_VERSION])), pub, sig);
}

/** Writes `<out>` (private key, PKCS#8 PEM, 0600) and `<out>.pub` (base64 of the raw public key). */
export function brainKey(out: string): { privateFile: string; publicFile: string; publicKey: string; keyId: string } {
  if (fs.existsSync(out)) throw new Error(`${out} exists; not overwriting a key`);
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
  fs.writeFileSync(out, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  fs.chmodSync(out, 0o600);
  const pub = rawPublic(publicKey).toString('base64');
  fs.writeFileSync(out + '.pub', pub + '\n', { mode: 0o644 });
  return { privateFile: out, publicFile: out + '.pub', publicKey: pub, keyId: keyId(publicKey) };
}

/** The module's ABI version: its `abi_version` export, called with every import stubbed. */
export function moduleAbi(wasm: Buffer): number {
  const mod = new WebAssembly.Module(new Uint8Array(wasm));
  const imports: Record<string, Record<string, WebAssembly.ImportValue>> = {};
  for (const i of WebAssembly.Module.imports(mod)) {
    if (i.kind !== 'function') throw new Error(`the module imports a ${i.kind} (${i.module}.${i.name}): not a picokubelet core`);
    (imports[i.module] ??= {})[i.name] = () => 0;
  }
  const inst = new WebAssembly.Instance(mod, imports);
  const f = inst.exports.abi_version;
  if (typeof f !== 'function') throw new Error('the module has no abi_version export: not a picokubelet core');
  return Number((f as () => number)());
}

/** The source revision: `git rev-parse HEAD` (+ `-dirty` with uncommitted changes), or "unknown". */
export function sourceRevision(dir: string): string {
  try {
    const rev = execFileSync('git', ['-C', dir, 'rev-parse', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['-C', dir, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty.length > 0 ? rev + '-dirty' : rev;
  } catch {
    return 'unknown';
  }
}

/**
 * The oras to run: `explicit` (--oras), $PICOKUBELET_ORAS, the local control plane's wrapper
 * (<cluster dir>/bin/oras: logged in to its registry, trusting its CA), then `oras` on PATH.
 */
export function findOras(root: string, explicit?: string): string {
  if (explicit) return explicit;
  if (process.env.PICOKUBELET_ORAS) return process.env.PICOKUBELET_ORAS;
  const dir = process.env.PICOKUBELET_CLUSTER_DIR ?? path.join(root, '.cluster');
  const wrapper = path.join(dir, 'bin', 'oras');
  if (fs.existsSync(wrapper)) return wrapper;
  return 'oras';
}

export interface PushOptions {
  reference: string;
  wasm: Buffer;
  version: string;
  revision: string;
  key?: crypto.KeyObject;
  oras: string;
}

export interface PushResult {
  digest: string;
  layerDigest: string;
  abi: number;
  signed: boolean;
}

/** Pushes the artifact with oras; returns the manifest digest oras reports. */
export function push(o: PushOptions): PushResult {
  const abi = moduleAbi(o.wasm);
  const layerDigest = digestOf(o.wasm);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'picokubelet-push-'));
  try {
    fs.writeFileSync(path.join(tmp, 'picokubelet.wasm'), o.wasm);
    // The wasm artifact config (CNCF TAG Runtime): architecture wasm, os wasip1 (the closest listed; the core
    // imports picokubelet host calls, not WASI), and the layer's digest.
    const config = { created: new Date().toISOString(), author: 'picokubelet', architecture: 'wasm', os: 'wasip1', layerDigests: [layerDigest], component: {} };
    fs.writeFileSync(path.join(tmp, 'config.json'), JSON.stringify(config));
    const manifestAnn: Record<string, string> = {
      [ANN_VERSION]: o.version, [ANN_ABI]: String(abi), [ANN_REVISION]: o.revision,
      'org.opencontainers.image.title': 'picokubelet.wasm', 'org.opencontainers.image.version': o.version,
    };
    if (o.key) {
      const pub = crypto.createPublicKey(o.key);
      manifestAnn[ANN_SIGNATURE] = crypto.sign(null, statement(layerDigest, abi, o.version), o.key).toString('base64');
      manifestAnn[ANN_KEY_ID] = keyId(pub);
    }
    fs.writeFileSync(path.join(tmp, 'annotations.json'), JSON.stringify({ $manifest: manifestAnn }));
    const args = ['push', o.reference, '--config', `config.json:${CONFIG_TYPE}`, '--annotation-file', 'annotations.json',
      '--format', 'json', '--disable-path-validation', `picokubelet.wasm:${LAYER_TYPE}`];
    const out = execFileSync(o.oras, args, { cwd: tmp, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const j = JSON.parse(out) as { digest?: string; mediaType?: string };
    if (!j.digest) throw new Error(`oras printed no digest: ${out.slice(0, 200)}`);
    return { digest: j.digest, layerDigest, abi, signed: !!o.key };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
