// host-sim/src/brain/verify.ts
// OP_BRAIN_COMMIT's checks (docs/brain.md "Store and verify"): the host, not the core, decides whether a
// pulled image may become the node's brain, because it holds the keys and a core cannot be trusted to
// judge its successor. The checks run in the contract's order and the first that fails names the reason
// the core shows on the brain pod: BrainIncomplete, BrainDigestMismatch, BrainUnsigned, BrainUntrusted,
// BrainBadSignature, BrainAbiUnsupported, BrainInvalidModule.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { ABI_VERSION_MAX, ABI_VERSION_MIN, IMPORT_MODULE, REQUIRED_EXPORTS } from '../abi.js';
import { digestOf, keyId, publicKeyFrom, statement } from '../brain.js';

/** The commit line the core sends before the manifest. */
export interface BrainCommit {
  pod: string;
  image: string;
  digest: string;
  layer: string;
  size: number;
  abi: number;
  version: string;
  signature: string;
  keyId: string;
}

/** A brain that passed every check: what the swap instantiates. */
export interface VerifiedBrain {
  commit: BrainCommit;
  module: WebAssembly.Module;
  image: Buffer;
}

/** A refusal with the reason word the contract names. */
export class BrainRefusal extends Error {
  constructor(readonly reason: string, message: string) {
    super(message);
    this.name = 'BrainRefusal';
  }

  /** The words of on_host_result: `<Reason>: <message>`. */
  get words(): string {
    return `${this.reason}: ${this.message}`;
  }
}

/** Commit bytes that are not a commit line (a bug in the core, not a bad brain): host_call refuses them. */
export class CommitFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CommitFormatError';
  }
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/** Splits the commit bytes into the JSON line and the manifest, checking the line's shape. */
export function parseCommit(bytes: Uint8Array): { commit: BrainCommit; manifest: Buffer } {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const nl = buf.indexOf(0x0a);
  if (nl < 0) throw new CommitFormatError('the commit has no newline between its JSON line and the manifest');
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(buf.subarray(0, nl).toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new CommitFormatError(`the commit line is not JSON: ${(err as Error).message}`);
  }
  if (typeof j !== 'object' || j === null || Array.isArray(j)) throw new CommitFormatError('the commit line is not a JSON object');
  const text = (k: string, optional = false): string => {
    const v = j[k];
    if (v === undefined && optional) return '';
    if (typeof v !== 'string') throw new CommitFormatError(`the commit line's "${k}" is not a string`);
    return v;
  };
  const int = (k: string): number => {
    const v = j[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new CommitFormatError(`the commit line's "${k}" is not a non-negative integer`);
    return v;
  };
  const commit: BrainCommit = {
    pod: text('pod'), image: text('image'), digest: text('digest'), layer: text('layer'), size: int('size'),
    abi: int('abi'), version: text('version'), signature: text('signature', true), keyId: text('keyId', true),
  };
  for (const k of ['digest', 'layer'] as const) {
    if (!DIGEST.test(commit[k])) throw new CommitFormatError(`the commit line's "${k}" is not sha256:<64 hex digits>`);
  }
  return { commit, manifest: buf.subarray(nl + 1) };
}

/**
 * The contract's checks, in order, on the commit bytes and the image the slot holds. Returns the brain to
 * swap to, or throws BrainRefusal (CommitFormatError for bytes that are no commit at all).
 */
export function verifyCommit(bytes: Uint8Array, image: Buffer, keys: ReadonlyArray<crypto.KeyObject>): VerifiedBrain {
  const { commit, manifest } = parseCommit(bytes);
  if (image.length !== commit.size) {
    throw new BrainRefusal('BrainIncomplete', `the host holds ${image.length} bytes of the image, the manifest says ${commit.size}`);
  }
  const manifestDigest = digestOf(manifest);
  if (manifestDigest !== commit.digest) {
    throw new BrainRefusal('BrainDigestMismatch', `the manifest's bytes are ${manifestDigest}, not ${commit.digest}`);
  }
  const layerDigest = digestOf(image);
  if (layerDigest !== commit.layer) {
    throw new BrainRefusal('BrainDigestMismatch', `the image's bytes are ${layerDigest}, not the layer ${commit.layer}`);
  }
  if (commit.signature === '') {
    throw new BrainRefusal('BrainUnsigned', `${commit.digest} carries no signature (push it with --key)`);
  }
  if (keys.length === 0) {
    throw new BrainRefusal('BrainUntrusted', 'this host trusts no brain key (picokubelet-sim --brain-public-key FILE)');
  }
  const sig = Buffer.from(commit.signature, 'base64');
  const said = statement(commit.layer, commit.abi, commit.version);
  const signer = keys.find((k) => {
    try {
      return crypto.verify(null, said, k, sig);
    } catch {
      return false;
    }
  });
  if (!signer) {
    const ids = keys.map(keyId).join(', ');
    throw new BrainRefusal('BrainBadSignature', `the signature (key id ${commit.keyId || 'not given'}) verifies with none of the ${keys.length} key(s) this host trusts (${ids})`);
  }
  if (commit.abi < ABI_VERSION_MIN || commit.abi > ABI_VERSION_MAX) {
    const range = ABI_VERSION_MIN === ABI_VERSION_MAX ? `${ABI_VERSION_MIN}` : `${ABI_VERSION_MIN}..${ABI_VERSION_MAX}`;
    throw new BrainRefusal('BrainAbiUnsupported', `the brain speaks ABI ${commit.abi}; this host runs ${range}`);
  }
  return { commit, module: checkModule(image, commit.abi), image };
}

/**
 * The image compiles, imports only what this host provides, has every export a core needs, and says the
 * ABI version it was signed for (its own abi_version, asked with every import stubbed).
 */
export function checkModule(image: Buffer, abi: number): WebAssembly.Module {
  const invalid = (why: string): BrainRefusal => new BrainRefusal('BrainInvalidModule', why);
  let module: WebAssembly.Module;
  try {
    module = new WebAssembly.Module(new Uint8Array(image));
  } catch (err) {
    throw invalid(`it does not compile: ${(err as Error).message}`);
  }
  const exported = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
  const missing = REQUIRED_EXPORTS.filter((n) => !exported.has(n));
  if (missing.length > 0) throw invalid(`it lacks the core's exports ${missing.join(', ')}`);
  const stubs: Record<string, Record<string, WebAssembly.ImportValue>> = {};
  for (const i of WebAssembly.Module.imports(module)) {
    const known = (i.module === IMPORT_MODULE && HOST_IMPORTS.has(i.name)) || (i.module === 'env' && i.name === 'abort');
    if (i.kind !== 'function' || !known) throw invalid(`it imports ${i.kind} ${i.module}.${i.name}, which this host does not provide`);
    (stubs[i.module] ??= {})[i.name] = () => {
      throw new Error('an import was called while reporting the ABI version');
    };
  }
  let own: number;
  try {
    own = Number((new WebAssembly.Instance(module, stubs).exports.abi_version as () => number)());
  } catch (err) {
    throw invalid(`it cannot report its ABI version: ${(err as Error).message}`);
  }
  if (own !== abi) throw invalid(`it speaks ABI ${own}, not the ${abi} it was signed for`);
  return module;
}

/** The functions of the `picokubelet` import module (assembly/ABI.md "Imports"). */
const HOST_IMPORTS = new Set(['connect', 'send', 'close', 'host_call', 'led', 'log']);

/** The brain public keys of `--brain-public-key FILE` (base64 of 32 raw bytes, or PEM), one per file. */
export function loadBrainPublicKeys(files: ReadonlyArray<string>): crypto.KeyObject[] {
  return files.map((file) => {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(`--brain-public-key ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    try {
      const k = publicKeyFrom(text);
      if (k.asymmetricKeyType !== 'ed25519') throw new Error(`a ${k.asymmetricKeyType} key, not Ed25519`);
      return k;
    } catch (err) {
      throw new Error(`--brain-public-key ${file}: not an Ed25519 public key (${(err as Error).message}); use the FILE.pub that \`picokubelet-sim brain-key\` wrote`);
    }
  });
}
