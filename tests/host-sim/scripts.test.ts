// tests/host-sim/scripts.test.ts
// The repository scripts around the host-sim: scripts/test.sh refuses suite names it does not know (before
// installing or building anything), and scripts/build.sh rebuilds an output only when one of its inputs
// changed, or when the last build of it failed. build.sh runs in a scratch copy of the layout with `npx`
// replaced by a recorder, so the test neither compiles nor touches this tree's outputs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { repoRoot } from '../../host-sim/src/runtime.js';
import { tmpDir } from './support/harness.js';

const ROOT = repoRoot();

describe('scripts/test.sh: PK_SUITES', () => {
  for (const bad of ['bogus', 'core bogus', 'node,cluster', ' ']) {
    it(`refuses PK_SUITES='${bad}' with exit 2 and the valid names, before doing anything`, () => {
      const t0 = Date.now();
      const r = spawnSync('bash', [path.join(ROOT, 'scripts', 'test.sh')], { encoding: 'utf8', env: { ...process.env, PK_SUITES: bad }, timeout: 30_000 });
      assert.equal(r.status, 2, r.stdout + r.stderr);
      assert.match(r.stderr, /^scripts\/test\.sh: (unknown suite '[^']+' in PK_SUITES|PK_SUITES names no suite); valid suites: core node kine cluster firmware wasm3 v131\n$/);
      assert.equal(r.stdout, '', 'nothing installed, built or counted');
      assert.ok(Date.now() - t0 < 10_000);
    });
  }
});

describe('scripts/build.sh: incremental', () => {
  /** A scratch tree with the inputs build.sh looks at and an `npx` that logs its arguments. */
  function scratch(): { dir: string; run: (...args: string[]) => { code: number | null; calls: string[]; out: string } } {
    const dir = tmpDir('build');
    const w = (rel: string, text: string): void => {
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(dir, rel), text);
    };
    fs.mkdirSync(path.join(dir, 'scripts'));
    fs.copyFileSync(path.join(ROOT, 'scripts', 'build.sh'), path.join(dir, 'scripts', 'build.sh'));
    fs.copyFileSync(path.join(ROOT, 'scripts', 'asc-utf8-text.mjs'), path.join(dir, 'scripts', 'asc-utf8-text.mjs'));
    w('asconfig.json', JSON.stringify({ targets: { release: { outFile: 'out/core.wasm' }, debug: { outFile: 'out/core.debug.wasm' } } }));
    w('assembly/kubelet.ts', 'export function f(): i32 { return 1; }\n');
    w('node_modules/.package-lock.json', '{}');
    w('host-sim/src/a.ts', 'export const a = 1;\n');
    w('host-sim/tsconfig.json', '{}');
    w('tests/tsconfig.json', '{}');
    w('tests/t.test.ts', 'export {};\n');
    // npx: record the call; fail when FAIL names the tool; otherwise write what asc would.
    w('bin/npx', [
      '#!/usr/bin/env bash',
      'echo "$*" >> "$LOG"',
      '[ "${FAIL:-}" = "$1" ] && exit 1',
      'if [ "$1" = asc ]; then mkdir -p out; [ "$4" = release ] && touch out/core.wasm || touch out/core.debug.wasm; fi',
      'exit 0',
      '',
    ].join('\n'));
    fs.chmodSync(path.join(dir, 'bin', 'npx'), 0o755);
    // Every input an hour old: a stamp taken during a run is newer, a touch after it newer still.
    const old = new Date(Date.now() - 3600_000);
    for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) fs.utimesSync(path.join(e.parentPath ?? e.path, e.name), old, old);
    fs.utimesSync(dir, old, old);
    const log = path.join(dir, 'npx.log');
    const run = (...args: string[]) => {
      fs.rmSync(log, { force: true });
      const fail = args[0]?.startsWith('FAIL=') ? args.shift()!.slice(5) : '';
      const r = spawnSync('bash', [path.join(dir, 'scripts', 'build.sh'), ...args], {
        cwd: dir, encoding: 'utf8', env: { ...process.env, PATH: `${path.join(dir, 'bin')}:${process.env.PATH}`, LOG: log, FAIL: fail }, timeout: 30_000,
      });
      const calls = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
      return { code: r.status, calls, out: r.stdout + r.stderr };
    };
    return { dir, run };
  }

  /** An edit: `rel` becomes newer than every stamp taken so far. */
  function touchLater(dir: string, rel: string): void {
    const t = new Date();
    fs.utimesSync(path.join(dir, rel), t, t);
  }

  it('builds everything once, then nothing until an input changes, then only what depends on it', () => {
    const { dir, run } = scratch();
    const first = run();
    assert.equal(first.code, 0, first.out);
    assert.deepEqual(first.calls, [
      'asc assembly/kubelet.ts --target release --transform ./scripts/asc-utf8-text.mjs',
      'asc assembly/kubelet.ts --target debug --transform ./scripts/asc-utf8-text.mjs',
      'tsc -p host-sim --incremental --tsBuildInfoFile host-sim/dist/.tsbuildinfo',
      'tsc -p tests --incremental --tsBuildInfoFile build/ts/.tsbuildinfo',
    ]);
    const second = run();
    assert.equal(second.code, 0);
    assert.deepEqual(second.calls, [], 'nothing changed: nothing rebuilt');
    assert.equal((second.out.match(/up to date/g) ?? []).length, 4);

    touchLater(dir, 'assembly/kubelet.ts');
    assert.deepEqual(run().calls, ['asc assembly/kubelet.ts --target release --transform ./scripts/asc-utf8-text.mjs', 'asc assembly/kubelet.ts --target debug --transform ./scripts/asc-utf8-text.mjs']);
    touchLater(dir, 'asconfig.json');
    assert.equal(run('core').calls.length, 2, 'asconfig.json is an input of the core');
    touchLater(dir, 'tests/t.test.ts');
    assert.deepEqual(run().calls, ['tsc -p tests --incremental --tsBuildInfoFile build/ts/.tsbuildinfo']);
    touchLater(dir, 'host-sim/src/a.ts');
    assert.equal(run('ts').calls.length, 2, 'host-sim sources feed both TypeScript projects');
    fs.rmSync(path.join(dir, 'host-sim', 'dist'), { recursive: true });
    assert.deepEqual(run().calls, ['tsc -p host-sim --incremental --tsBuildInfoFile host-sim/dist/.tsbuildinfo'], 'a deleted output is rebuilt');
    assert.equal(run('--force').calls.length, 4);
  });

  it('a failed build is tried again on the next run, and fails the run', () => {
    const { dir, run } = scratch();
    assert.equal(run().code, 0);
    touchLater(dir, 'host-sim/src/a.ts');
    const failed = run('FAIL=tsc', 'ts');
    assert.notEqual(failed.code, 0);
    assert.match(failed.out, /build: host-sim \(host-sim\/dist\) failed/);
    const again = run('ts');
    assert.equal(again.code, 0);
    assert.equal(again.calls[0], 'tsc -p host-sim --incremental --tsBuildInfoFile host-sim/dist/.tsbuildinfo', 'not "up to date" after a failure');
    assert.equal(run('bogus').code, 2);
  });
});
