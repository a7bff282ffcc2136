// tests/host-sim/support/brains.ts
// Brains for the swap tests, made from build/picokubelet.wasm in the test (no binaries in the repository):
// a "v2" whose version strings differ, one that traps in `start`, one that never reaches the API server;
// plus the manifest and commit line a pull would produce (signed like `picokubelet-sim push`), and the
// writes and commit a pulling core would make, through the host's own brain calls.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import binaryen from 'binaryen';
import { HostOp } from '../../../host-sim/src/abi.js';
import { ANN_ABI, ANN_KEY_ID, ANN_SIGNATURE, ANN_VERSION, CONFIG_TYPE, LAYER_TYPE, MANIFEST_TYPE, keyId, moduleAbi, statement } from '../../../host-sim/src/brain.js';
import type { SimNode } from '../../../host-sim/src/node.js';
import { repoRoot, resolveWasmPath } from '../../../host-sim/src/runtime.js';

/** The release core the tests run. */
export function releaseWasm(): Buffer {
  return fs.readFileSync(resolveWasmPath());
}

/** The package's version (what the release module says it is). */
export function packageVersion(): string {
  return (JSON.parse(fs.readFileSync(path.join(repoRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

/**
 * The same core saying it is `version`: the module keeps "picokubelet.<v>" (the kubeletVersion suffix) and
 * "picokubelet/<v>" (the User-Agent) as UTF-8 in its data, and a version of the same length replaces
 * them byte for byte, so nothing else in the module moves.
 */
export function withVersion(wasm: Buffer, version: string): Buffer {
  const old = packageVersion();
  if (version.length !== old.length) throw new Error(`the new version must have ${old.length} characters like ${old} (got ${version})`);
  let out = Buffer.from(wasm);
  for (const sep of ['.', '/']) {
    const from = Buffer.from(`picokubelet${sep}${old}`);
    const to = Buffer.from(`picokubelet${sep}${version}`);
    let n = 0;
    for (let at = out.indexOf(from); at >= 0; at = out.indexOf(from, at + 1)) {
      to.copy(out, at);
      n++;
    }
    if (n === 0) throw new Error(`"picokubelet${sep}${old}" is not in the module: is it the release build of this checkout?`);
  }
  return out;
}

/** binaryen.Function.setBody (binaryen.js has it; its typings put it on Module instead). */
function setBody(fn: binaryen.FunctionRef, body: binaryen.ExpressionRef): void {
  (binaryen as unknown as { Function: { setBody(f: binaryen.FunctionRef, b: binaryen.ExpressionRef): void } }).Function.setBody(fn, body);
}

/** Edits the module with binaryen and gives back its binary (validated). */
function edit(wasm: Buffer, fn: (m: binaryen.Module) => void): Buffer {
  const m = binaryen.readBinary(new Uint8Array(wasm));
  try {
    // What AssemblyScript 0.27 emits by default, in case the module carries no target_features section.
    const F = binaryen.Features;
    m.setFeatures(m.getFeatures() | F.MutableGlobals | F.SignExt | F.BulkMemory | F.NontrappingFPToInt);
    fn(m);
    if (!m.validate()) throw new Error('binaryen: the edited module does not validate');
    return Buffer.from(m.emitBinary());
  } finally {
    m.dispose();
  }
}

/** A core whose exported `start` traps at once (its body is `unreachable`). */
export function trapsAtStart(wasm: Buffer): Buffer {
  return edit(wasm, (m) => {
    const name = binaryen.getExportInfo(m.getExport('start')).value;
    setBody(m.getFunction(name), m.unreachable());
  });
}

/**
 * A core that never reaches the API server: the `send` import is replaced by a function that says it
 * took every byte, so the core waits for answers that never come and its renewals do not grow.
 */
export function neverRenews(wasm: Buffer): Buffer {
  return edit(wasm, (m) => {
    const info = importName(m, 'send');
    m.removeFunction(info.name);
    // send(conn, ptr, len) -> len: "all taken".
    m.addFunction(info.name, info.params, info.results, [], m.local.get(2, binaryen.i32));
  });
}

/** The internal name of the function importing picokubelet.<base>. */
function importName(m: binaryen.Module, base: string): binaryen.FunctionInfo {
  for (let i = 0; i < m.getNumFunctions(); i++) {
    const info = binaryen.getFunctionInfo(m.getFunctionByIndex(i));
    if (info.module === 'picokubelet' && info.base === base) return info;
  }
  throw new Error(`the module imports no picokubelet.${base}`);
}

/**
 * A core that makes brain host calls itself, as a pulling core will: on every `on_link` it first calls
 * host_call(req 0x7001, OP_BRAIN_WRITE, offset 0, the first 16 bytes of its memory) and
 * host_call(req 0x7002, OP_BRAIN_STATUS), then does what on_link does.
 */
export function callsBrainOps(wasm: Buffer): Buffer {
  return edit(wasm, (m) => {
    const hc = importName(m, 'host_call').name;
    const fn = m.getFunction(binaryen.getExportInfo(m.getExport('on_link')).value);
    const c = (v: number): binaryen.ExpressionRef => m.i32.const(v);
    const call = (req: number, op: number, len: number): binaryen.ExpressionRef => m.drop(m.call(hc, [c(req), c(op), c(0), c(0), c(len)], binaryen.i32));
    setBody(fn, m.block(null, [call(0x7001, HostOp.BRAIN_WRITE, 16), call(0x7002, HostOp.BRAIN_STATUS, 0), binaryen.getFunctionInfo(fn).body], binaryen.none));
  });
}

export interface CommitOptions {
  /** Sign with this key (default: unsigned). */
  key?: crypto.KeyObject;
  /** The ABI the manifest says (default: the module's own). */
  abi?: number;
  version?: string;
  pod?: string;
  image?: string;
  /** Edit the commit line after it was made (for the refusal tests). */
  tamper?: (line: Record<string, unknown>) => void;
}

/** The manifest (as a registry would serve it) and OP_BRAIN_COMMIT's bytes for `wasm`. */
export function commitFor(wasm: Buffer, o: CommitOptions = {}): { bytes: Buffer; digest: string; layer: string; manifest: Buffer } {
  const abi = o.abi ?? moduleAbi(wasm);
  const version = o.version ?? '0.2.0';
  const layer = 'sha256:' + crypto.createHash('sha256').update(wasm).digest('hex');
  const ann: Record<string, string> = { [ANN_VERSION]: version, [ANN_ABI]: String(abi) };
  let signature = '';
  let kid = '';
  if (o.key) {
    signature = crypto.sign(null, statement(layer, abi, version), o.key).toString('base64');
    kid = keyId(crypto.createPublicKey(o.key));
    ann[ANN_SIGNATURE] = signature;
    ann[ANN_KEY_ID] = kid;
  }
  const config = Buffer.from('{"architecture":"wasm","os":"wasip1"}');
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: MANIFEST_TYPE,
    config: { mediaType: CONFIG_TYPE, digest: 'sha256:' + crypto.createHash('sha256').update(config).digest('hex'), size: config.length },
    layers: [{ mediaType: LAYER_TYPE, digest: layer, size: wasm.length }],
    annotations: ann,
  }));
  const digest = 'sha256:' + crypto.createHash('sha256').update(manifest).digest('hex');
  const line: Record<string, unknown> = {
    pod: o.pod ?? 'uid-brain-1', image: o.image ?? `127.0.0.1:5000/picokubelet/brain@${digest}`, digest, layer, size: wasm.length,
    abi, version, signature, keyId: kid,
  };
  o.tamper?.(line);
  return { bytes: Buffer.concat([Buffer.from(JSON.stringify(line) + '\n'), manifest]), digest, layer, manifest };
}

/** Writes `wasm` in io_buffer-sized chunks and commits it, as a pulling core would; the commit's result. */
export function installBrain(node: SimNode, wasm: Buffer, commit: Buffer): { rc: number; status?: number; text?: string } {
  for (let off = 0; off < wasm.length; off += 4096) {
    const rc = node.brainCall(HostOp.BRAIN_WRITE, off, wasm.subarray(off, off + 4096)).rc;
    if (rc !== 0) throw new Error(`OP_BRAIN_WRITE at ${off} returned ${rc}`);
  }
  return node.brainCall(HostOp.BRAIN_COMMIT, 0, commit);
}
