// tests/host-sim/demo.test.ts
// `npm run demo` (scripts/demo.sh) against a real control plane in a scratch --dir, interrupted the way a
// user interrupts it:
//  - `npm run demo 2>&1 | tee demo.log` and Ctrl-C: tee dies with the script, so stdout and stderr are
//    closed pipes when the cleanup runs; the control plane the demo started must still be stopped.
//  - KUBECONFIG=<admin kubeconfig> on a cluster the demo did not start: a loud warning about admin
//    credentials, and on Ctrl-C the Node and Lease the demo created are deleted, and it says so.
// Ctrl-C is SIGINT to the demo's process group (the terminal's foreground job).
import assert from 'node:assert/strict';
import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { repoRoot } from '../../host-sim/src/runtime.js';
import { testPki, tmpDir, until } from './support/harness.js';
import { writeKubeconfig } from './support/pki.js';

const ROOT = repoRoot();
const CLUSTER = path.join(ROOT, 'tools', 'cluster.mjs');

function cluster(dir: string, ...args: string[]): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [CLUSTER, ...args, '--dir', dir], { encoding: 'utf8', timeout: 180_000 });
  return { code: r.status, out: r.stdout + r.stderr };
}

/** The demo, in its own process group, with stdout and stderr on pipes; KUBECONFIG as given. */
function demo(dir: string, name: string, kubeconfig?: string): { child: ChildProcess; output: () => string } {
  const env: NodeJS.ProcessEnv = { ...process.env, PICOKUBELET_CLUSTER_DIR: dir, PK_NODE_NAME: name };
  delete env.KUBECONFIG;
  // CI=true would make install.sh run `npm ci` under the other suites' feet.
  delete env.CI;
  if (kubeconfig) env.KUBECONFIG = kubeconfig;
  const child = spawn('bash', [path.join(ROOT, 'scripts', 'demo.sh')], { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout!.on('data', (d) => (text += d));
  child.stderr!.on('data', (d) => (text += d));
  return { child, output: () => text };
}

function exited(child: ChildProcess, ms: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
    const t = setTimeout(() => reject(new Error(`the demo did not exit within ${ms} ms`)), ms);
    child.once('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function kubectl(dir: string, ...args: string[]): { code: number | null; out: string } {
  const r = spawnSync(path.join(dir, 'bin', 'kubectl'), args, { encoding: 'utf8', env: { ...process.env, KUBECONFIG: path.join(dir, 'admin.kubeconfig') }, timeout: 30_000 });
  return { code: r.status, out: r.stdout + r.stderr };
}

describe('npm run demo, interrupted (real control plane in a scratch dir)', { timeout: 420_000 }, () => {
  const dir = tmpDir('demo-cluster');
  let running: ChildProcess | null = null;
  after(() => {
    if (running?.pid && running.exitCode === null) process.kill(-running.pid, 'SIGKILL');
    cluster(dir, 'down', '--purge');
  });

  it('a KUBECONFIG whose server does not answer: the demo says so at once and starts nothing', async () => {
    const srv = net.createServer();
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const port = (srv.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => srv.close(() => resolve()));
    const kc = writeKubeconfig(path.join(tmpDir('demo-kc'), 'kc'), { server: `https://127.0.0.1:${port}`, caPEM: testPki().ca.cert, token: 't' });
    const t0 = Date.now();
    const d = demo(dir, `demo-unreachable-${process.pid}`, kc);
    const code = await exited(d.child, 60_000);
    assert.equal(code, 1, d.output());
    assert.match(d.output(), new RegExp(`API server https://127\\.0\\.0\\.1:${port} is not reachable: .*ECONNREFUSED`));
    assert.match(d.output(), /the node cannot run with /);
    assert.doesNotMatch(d.output(), /starting node/);
    assert.ok(Date.now() - t0 < 30_000, `took ${Date.now() - t0} ms`);
  });

  it('| tee and Ctrl-C: the cleanup survives closed stdout/stderr and stops the control plane it started', async () => {
    const name = `demo-pipe-${process.pid}`;
    const d = demo(dir, name);
    running = d.child;
    await until(() => d.output().includes("the node's LED, live") || d.child.exitCode !== null, 240_000, 'the LED view');
    const text = d.output();
    assert.ok(text.includes("the node's LED, live (Ctrl-C stops the node and the control plane)"), text);
    // The view tells the user where to look and how to poke the node.
    assert.ok(text.includes(`export KUBECONFIG=${path.join(dir, 'admin.kubeconfig')}`), text);
    assert.match(text, new RegExp(`host-sim/bin/picokubelet-sim\\.js ctl --control-socket \\S+/${name}\\.sock link down`));
    assert.match(text, /admin: no/);
    const testenvPid = Number(fs.readFileSync(path.join(dir, 'testenv.pid'), 'utf8').trim());
    assert.ok(alive(testenvPid), 'the control plane runs');
    // tee dies first: both pipes are closed for good before Ctrl-C reaches the script.
    d.child.stdout!.destroy();
    d.child.stderr!.destroy();
    process.kill(-d.child.pid!, 'SIGINT');
    await exited(d.child, 120_000);
    running = null;
    await until(() => !alive(testenvPid), 60_000, 'testenv to exit');
    assert.notEqual(cluster(dir, 'status').code, 0, 'the control plane is down');
    assert.ok(!fs.existsSync(path.join(ROOT, 'build', 'demo', `${name}.sock`)), 'the node stopped (its control socket is gone)');
  });

  it('admin KUBECONFIG on a cluster the demo did not start: a loud warning, and Ctrl-C deletes the Node and Lease it created', async () => {
    const up = cluster(dir, 'up');
    assert.equal(up.code, 0, up.out);
    const name = `demo-admin-${process.pid}`;
    const d = demo(dir, name, path.join(dir, 'admin.kubeconfig'));
    running = d.child;
    await until(() => d.output().includes("the node's LED, live") || d.child.exitCode !== null, 180_000, 'the LED view');
    const text = d.output();
    assert.match(text, /admin: yes \(/, text);
    assert.match(text, /WARNING: the node runs with ADMIN credentials/);
    assert.ok(text.includes("the node's LED, live (Ctrl-C stops the node)"), 'the control plane is not the demo\'s');
    assert.equal(kubectl(dir, 'get', 'node', name, '-o', 'name').out.trim(), `node/${name}`);
    process.kill(-d.child.pid!, 'SIGINT');
    await exited(d.child, 120_000);
    running = null;
    const after = d.output().slice(text.length);
    assert.match(after, /stopping the node \(cleanup: deleting its Lease and Node with the kubeconfig it was given\)/, after);
    assert.match(after, new RegExp(`deleted what the demo created: Node ${name} and Lease kube-node-lease/${name}`), after);
    assert.doesNotMatch(after, /stopping the local control plane/);
    assert.equal(kubectl(dir, 'get', 'node', name, '--ignore-not-found', '-o', 'name').out.trim(), '', 'Node deleted');
    assert.equal(kubectl(dir, '-n', 'kube-node-lease', 'get', 'lease', name, '--ignore-not-found', '-o', 'name').out.trim(), '', 'Lease deleted');
    assert.equal(cluster(dir, 'status').code, 0, 'the user\'s cluster keeps running');
  });
});
