// host-sim/src/brain/store.ts
// The proven brain under --state-dir (docs/brain.md "Roll back"): a brain that renewed the Lease 3 times
// after its swap is written as DIR/brain-current.wasm with DIR/brain-current.json (what it is: manifest
// digest, layer, version, ABI, the pod and image that asked for it), so the next start of host-sim runs
// it, as a board boots the slot marked proven. Written to a temporary file and renamed: a crash leaves
// the old pair or the new one, never half of one.
import fs from 'node:fs';
import path from 'node:path';
import { digestOf } from '../brain.js';
import type { BrainCommit } from './verify.js';

export const CURRENT_WASM = 'brain-current.wasm';
export const CURRENT_JSON = 'brain-current.json';

/** What brain-current.json says. */
export interface ProvenRecord {
  digest: string;
  layer: string;
  version: string;
  abi: number;
  pod: string;
  image: string;
  /** When it was proven (ISO 8601). */
  provenAt: string;
}

function atomicWrite(file: string, data: Uint8Array | string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, data, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

/** Keeps `image` as the proven brain in `dir`. */
export function saveProven(dir: string, commit: BrainCommit, image: Uint8Array): ProvenRecord {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const rec: ProvenRecord = {
    digest: commit.digest, layer: commit.layer, version: commit.version, abi: commit.abi, pod: commit.pod, image: commit.image,
    provenAt: new Date().toISOString(),
  };
  // The module first: a record never names a module that is not there.
  atomicWrite(path.join(dir, CURRENT_WASM), image);
  atomicWrite(path.join(dir, CURRENT_JSON), JSON.stringify(rec, null, 2) + '\n');
  return rec;
}

/**
 * The proven brain kept in `dir`, or null when there is none. A pair that does not match (the module's
 * sha256 is not the record's layer, a record that does not parse) is not used: `warn` says why.
 */
export function loadProven(dir: string, warn: (line: string) => void): { record: ProvenRecord; image: Buffer; file: string } | null {
  const wasmFile = path.join(dir, CURRENT_WASM);
  const jsonFile = path.join(dir, CURRENT_JSON);
  if (!fs.existsSync(wasmFile)) return null;
  try {
    const record = JSON.parse(fs.readFileSync(jsonFile, 'utf8')) as ProvenRecord;
    const image = fs.readFileSync(wasmFile);
    const layer = digestOf(image);
    if (typeof record.digest !== 'string' || record.layer !== layer) {
      warn(`${wasmFile} is ${layer}, but ${jsonFile} names ${String(record.layer)}; not running it (delete both to silence this)`);
      return null;
    }
    return { record, image, file: wasmFile };
  } catch (err) {
    warn(`${jsonFile}: cannot use the proven brain (${(err as Error).message}); starting from the core given instead`);
    return null;
  }
}
