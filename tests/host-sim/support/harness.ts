// tests/host-sim/support/harness.ts
// Shared set-up for the host-sim suites: a PKI made once per process, kubeconfig files in a temp dir,
// credentials for the fake API server, and a trace recorder for the import glue.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadCredentials } from '../../../host-sim/src/credentials.js';
import type { Credentials } from '../../../host-sim/src/credentials.js';
import type { TraceEvent } from '../../../host-sim/src/node.js';
import { TestPki, makePki, writeKubeconfig } from './pki.js';

let pki: TestPki | null = null;

/** The PKI shared by the tests of one process. */
export function testPki(): TestPki {
  pki ??= makePki();
  return pki;
}

/** A fresh temporary directory. */
export function tmpDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `pk-sim-${tag}-`));
}

/** Writes a kubeconfig and loads it the way the CLI does. */
export function credentialsFor(o: Parameters<typeof writeKubeconfig>[1]): { file: string; creds: Credentials } {
  const file = writeKubeconfig(path.join(tmpDir('kc'), 'kubeconfig'), o);
  return { file, creds: loadCredentials({ kubeconfig: file }) };
}

/** Records the boundary calls of one node. */
export class TraceRecorder {
  readonly events: TraceEvent[] = [];
  readonly fn = (e: TraceEvent): void => void this.events.push(e);

  exports(name?: string): Extract<TraceEvent, { dir: 'export' }>[] {
    return this.events.filter((e): e is Extract<TraceEvent, { dir: 'export' }> => e.dir === 'export' && (name === undefined || e.name === name));
  }

  imports(name?: string): Extract<TraceEvent, { dir: 'import' }>[] {
    return this.events.filter((e): e is Extract<TraceEvent, { dir: 'import' }> => e.dir === 'import' && (name === undefined || e.name === name));
  }
}

/** Polls `pred` every 20 ms until it holds or `ms` pass. */
export async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
