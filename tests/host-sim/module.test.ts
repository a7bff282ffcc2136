// tests/host-sim/module.test.ts
// Hosting the module: the ABI version check, a missing export, a trap inside an export (the node shows
// Panic and stops; the CLI exits 1), and a configuration the real core refuses (one line, exit 2).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Led } from '../../host-sim/src/abi.js';
import { silentLogger } from '../../host-sim/src/logger.js';
import { StartError, startNode } from '../../host-sim/src/node.js';
import { ModuleError, compileCore, repoRoot, resolveWasmPath } from '../../host-sim/src/runtime.js';
import { credentialsFor, tmpDir } from './support/harness.js';
import { writeKubeconfig } from './support/pki.js';
import { tinyCore } from './support/tiny-wasm.js';

const BIN = path.join(repoRoot(), 'host-sim', 'bin', 'picokubelet-sim.js');

function module(bytes: Uint8Array): WebAssembly.Module {
  return new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>);
}

describe('hosting the module', () => {
  const { creds } = credentialsFor({ server: 'https://127.0.0.1:1', token: 'mod-token-1' });

  it('the real core is ABI version 2 and starts', async () => {
    const node = await startNode({ name: 'mod-real', credentials: creds, module: compileCore(resolveWasmPath()), link: 'down', logger: silentLogger() });
    assert.equal(node.stats().phaseName, 'ANCHORING');
    await node.stop();
  });

  it('refuses a v1 module (v1 imports and exports) naming both versions and the fix', async () => {
    await assert.rejects(
      startNode({ name: 'mod-v1', credentials: creds, module: module(tinyCore({ abiVersion: 1, v1: true })), logger: silentLogger() }),
      (e: unknown) => e instanceof ModuleError &&
        /speaks ABI version 1; this host-sim runs version 2: rebuild the core from this checkout \(`npm run build`\)/.test(e.message),
    );
  });

  it('refuses a module of a later ABI version', async () => {
    await assert.rejects(
      startNode({ name: 'mod-v3', credentials: creds, module: module(tinyCore({ abiVersion: 3 })), logger: silentLogger() }),
      (e: unknown) => e instanceof ModuleError && /speaks ABI version 3; this host-sim runs version 2/.test(e.message),
    );
  });

  it('refuses a module without a required export', async () => {
    await assert.rejects(
      startNode({ name: 'mod-missing', credentials: creds, module: module(tinyCore({ omit: ['on_timer'] })), logger: silentLogger() }),
      (e: unknown) => e instanceof ModuleError && /does not export `on_timer`/.test(e.message),
    );
  });

  it('a trap inside an export kills the instance: Panic LED, stopped, never called again', async () => {
    const node = await startNode({ name: 'mod-trap', credentials: creds, module: module(tinyCore({ trapIn: ['on_link'] })), logger: silentLogger() });
    assert.equal(node.stopped, true);
    assert.equal(node.ledState().steady, Led.PANIC);
    assert.match(String(node.stats().host.panic), /unreachable/);
    assert.equal(node.stats().ledName, 'PANIC');
    assert.ok(node.logs.some((l) => /core trapped/.test(l)));
    const final = await node.stop();
    assert.equal(final.host.panic !== null, true);
  });

  it("a configuration the core refuses is one StartError carrying the core's reasons", async () => {
    await assert.rejects(
      startNode({ name: 'mod-badcfg', credentials: creds, labels: { 'bad key': 'v' }, link: 'down', logger: silentLogger() }),
      (e: unknown) => e instanceof StartError && /CONFIG_INVALID/.test(e.message) && e.lines.length >= 1,
    );
  });
});

describe('the CLI and broken modules', () => {
  const dir = tmpDir('mod-cli');
  const kc = writeKubeconfig(path.join(dir, 'k'), { server: 'https://127.0.0.1:1', token: 'mod-token-2' });
  const sim = (args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });

  it('--wasm of another ABI version: one line, exit 1', () => {
    const wasm = path.join(dir, 'v1.wasm');
    fs.writeFileSync(wasm, tinyCore({ abiVersion: 1, v1: true }));
    const r = sim(['run', '--name', 'x', '--kubeconfig', kc, '--wasm', wasm, '--led', 'off']);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr.trim(), /^picokubelet-sim: the core speaks ABI version 1; this host-sim runs version 2: rebuild the core/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  });

  it('a core that traps: the run ends with exit 1 and says which node', () => {
    const wasm = path.join(dir, 'trap.wasm');
    fs.writeFileSync(wasm, tinyCore({ trapIn: ['on_link'] }));
    const r = sim(['run', '--name', 'trapper', '--kubeconfig', kc, '--wasm', wasm, '--led', 'plain']);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /core trapped: .*unreachable/);
    assert.match(r.stderr, /1 node\(s\) trapped: trapper/);
    assert.match(r.stdout, /^LED trapper PANIC$/m);
  });

  it('a label the core refuses: one line, exit 2', () => {
    const r = sim(['run', '--name', 'x', '--kubeconfig', kc, '--labels', 'bad key=v', '--led', 'off']);
    assert.equal(r.status, 2, r.stderr);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], /^picokubelet-sim: the core refused to start \(CONFIG_INVALID\): .*label/);
  });
});
