// tools/cluster.mjs as a command line (issue 13 item 9): `--help` only prints,
// unknown flags and malformed values are refused with exit 2 and the valid
// flags named. Cheap: nothing is started or built, every command runs against
// a throw-away --dir and an empty binary cache, and this file does not need
// (or touch) a running cluster, so it does not import helpers.mjs.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'tools', 'cluster.mjs');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pk-cli-test-'));
const cache = path.join(tmp, 'k8s-cache');
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function cli(args) {
  // An empty PATH: should anything try to build, `go` is not found and it fails loudly.
  const r = spawnSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    timeout: 20_000,
    env: { ...process.env, PICOKUBELET_K8S_CACHE: cache, PATH: path.join(tmp, 'no-bin') },
  });
  assert.equal(r.error, undefined, `${args.join(' ')}: ${r.error}`);
  return r;
}

const COMMANDS = ['build', 'up', 'status', 'down', 'restart-apiserver', 'kubeconfig-for-node', 'kubeconfig-for-user', 'bootstrap-token', 'kubectl', 'oras'];

/** A dir that looks like a cluster dir, with the files `down` deletes. */
function fakeClusterDir(name) {
  const dir = path.join(tmp, name);
  fs.mkdirSync(path.join(dir, 'pki'), { recursive: true });
  for (const f of ['pki/ca.crt', 'ports.json', 'testenv.lock', 'pids.json', 'cluster.json']) fs.writeFileSync(path.join(dir, f), '{}\n');
  return dir;
}

test('every command has --help (and -h, and `help COMMAND`) that prints its flags and exits 0', () => {
  for (const cmd of COMMANDS) {
    for (const form of [[cmd, '--help'], [cmd, '-h'], ['help', cmd]]) {
      const dir = ['--dir', path.join(tmp, 'never-created')];
      // kubectl's (oras's) arguments are its own: its --dir comes first.
      const r = cli(form[0] === 'kubectl' || form[0] === 'oras' ? [form[0], ...dir, ...form.slice(1)] : [...form, ...dir]);
      assert.equal(r.status, 0, `${form.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^usage: node tools/cluster\\.mjs ${cmd}`), form.join(' '));
      assert.match(r.stdout, /--help/);
    }
  }
  assert.ok(!fs.existsSync(path.join(tmp, 'never-created')), '--help created the cluster dir');
  assert.ok(!fs.existsSync(cache), '--help touched the binary cache');
});

test('the top-level help lists every command; no command is an error (exit 2)', () => {
  const r = cli(['--help']);
  assert.equal(r.status, 0);
  for (const cmd of COMMANDS) assert.match(r.stdout, new RegExp(`^  ${cmd} `, 'm'));
  const none = cli([]);
  assert.equal(none.status, 2);
  assert.match(none.stderr, /usage:/);
  const bogus = cli(['bogus']);
  assert.equal(bogus.status, 2);
  assert.match(bogus.stderr, /unknown command "bogus"/);
});

test('`up --help` starts nothing and creates nothing, wherever --help stands', () => {
  for (const args of [['up', '--help'], ['up', '--timeout', '5', '--help'], ['up', '--help', '--bogus']]) {
    const dir = path.join(tmp, `up-${args.length}`);
    const t0 = Date.now();
    const r = cli([...args, '--dir', dir]);
    assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, /--node-monitor-grace-period/);
    assert.ok(!fs.existsSync(dir), `${args.join(' ')} created ${dir}`);
    assert.ok(Date.now() - t0 < 10_000);
  }
  assert.ok(!fs.existsSync(cache));
});

test('`down --help` and `down --purge --help` stop nothing and delete nothing', async () => {
  const dir = fakeClusterDir('down');
  // A stand-in for a running `testenv up --dir DIR`: `down` finds testenv by its
  // argv (argv[0] named testenv, argv[1] = up, the dir in the arguments).
  // xargs blocks reading the open stdin pipe and does nothing else; with an
  // empty PATH it could not run anything even once stdin closes.
  const xargs = ['/usr/bin/xargs', '/bin/xargs'].find((p) => fs.existsSync(p));
  assert.ok(xargs, 'xargs (findutils) is needed for this test');
  const stand = spawn(xargs, ['up', '--dir', dir], {
    argv0: 'testenv',
    stdio: ['pipe', 'ignore', 'ignore'],
    env: { PATH: '/nonexistent' },
  });
  await new Promise((resolve, reject) => {
    stand.once('spawn', resolve);
    stand.once('error', reject);
  });
  try {
    fs.writeFileSync(path.join(dir, 'testenv.pid'), `${stand.pid}\n`);
    const argv = fs.readFileSync(`/proc/${stand.pid}/cmdline`, 'utf8').split('\0');
    assert.deepEqual(argv.slice(0, 2), ['testenv', 'up'], 'the stand-in looks like testenv up');
    for (const args of [['down', '--help'], ['down', '--purge', '--help'], ['down', '-h', '--purge']]) {
      const r = cli([...args, '--dir', dir]);
      assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, /^usage: node tools\/cluster\.mjs down/);
      assert.equal(stand.exitCode, null, `${args.join(' ')} signalled the testenv stand-in`);
      process.kill(stand.pid, 0);
      for (const f of ['cluster.json', 'pids.json', 'testenv.pid', 'pki/ca.crt']) {
        assert.ok(fs.existsSync(path.join(dir, f)), `${args.join(' ')} deleted ${f}`);
      }
    }
  } finally {
    stand.kill('SIGKILL');
  }
});

test('`restart-apiserver --help`, `status --help`, `kubeconfig-for-node --help` and `build --help` need no cluster and no build', () => {
  const dir = fakeClusterDir('others');
  for (const cmd of ['restart-apiserver', 'status', 'kubeconfig-for-node', 'build']) {
    const r = cli([cmd, '--help', '--dir', dir]);
    assert.equal(r.status, 0, `${cmd} --help: ${r.stderr}`);
    assert.equal(r.stderr, '', `${cmd} --help wrote to stderr`);
  }
  assert.ok(!fs.existsSync(path.join(dir, 'nodes')), 'kubeconfig-for-node --help minted something');
  assert.ok(!fs.existsSync(cache), 'build --help built');
});

test('unknown flags are refused with exit 2, naming the valid flags, before anything happens', () => {
  const dir = path.join(tmp, 'refused');
  const cases = [
    { args: ['up', '--bogus', '1'], flag: '--bogus', valid: ['--node-monitor-grace-period', '--timeout', '--dir', '--help'] },
    { args: ['up', '--bogus=1'], flag: '--bogus', valid: ['--apiserver-port'] },
    { args: ['down', '--force'], flag: '--force', valid: ['--purge', '--dir'] },
    { args: ['status', '--purge'], flag: '--purge', valid: ['--dir', '--help'] },
    { args: ['restart-apiserver', '--grace', '1'], flag: '--grace', valid: ['--kill', '--timeout'] },
    { args: ['kubeconfig-for-node', 'n1', '--outdir', 'x'], flag: '--outdir', valid: ['--out-dir', '--out', '--token', '--prefix'] },
    { args: ['build', '--forse'], flag: '--forse', valid: ['--force'] },
    { args: ['up', '-t', '5'], flag: '-t', valid: ['--timeout'] },
    { args: ['bootstrap-token', '--ttl-seconds', '5'], flag: '--ttl-seconds', valid: ['--ttl', '--out', '--server'] },
  ];
  for (const { args, flag, valid } of cases) {
    const r = cli([...args, '--dir', dir]);
    assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status}, ${r.stderr}`);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, new RegExp(`unknown flag ${flag}\\b`), args.join(' '));
    const named = r.stderr.match(/valid flags of `[\w-]+`: (.*)/)?.[1].split(' ') || [];
    for (const v of valid) assert.ok(named.includes(v), `${args.join(' ')}: ${v} not named in ${r.stderr}`);
  }
  assert.ok(!fs.existsSync(dir), 'a refused command created the cluster dir');
  assert.ok(!fs.existsSync(cache));
});

test('malformed values and stray arguments are refused with exit 2', () => {
  const dir = path.join(tmp, 'malformed');
  const cases = [
    [['up', '--timeout', 'soon'], /--timeout wants a non-negative integer/],
    [['up', '--timeout'], /--timeout needs a value/],
    [['up', '--timeout', '--dir', dir], /--timeout needs a value/],
    [['up', '--node-monitor-grace-period', '20'], /wants a duration such as 20s/],
    [['up', '--apiserver-port', '-1'], /needs a value|wants a non-negative integer|unknown flag/],
    [['down', '--purge=yes'], /--purge takes no value/],
    [['up', '--datastore', 'sqlite'], /--datastore is one of etcd, kine/],
    [['status', 'now'], /takes no arguments/],
    [['up', 'fast'], /takes no arguments/],
    [['kubeconfig-for-node', 'a', 'b'], /too many arguments/],
    [['kubeconfig-for-node'], /usage: kubeconfig-for-node NAME/],
    [['kubeconfig-for-node', '--token'], /--token needs a node name/],
    [['kubeconfig-for-node', '--prefix', 'rack-'], /batch form needs --prefix P --count N --out-dir DIR/],
    [['kubeconfig-for-node', 'n1', '--prefix', 'rack-', '--count', '2', '--out-dir', tmp], /either NAME or --prefix/],
    [['kubeconfig-for-user'], /usage: kubeconfig-for-user USER/],
    [['kubeconfig-for-user', 'a', 'b'], /too many arguments/],
    [['kubeconfig-for-user', 'a', '--validity', '1d'], /--validity wants a duration/],
    // Unknown Kubernetes versions are refused naming the pinned ones (tools/k8s-testenv/go.mod and v1.*/go.mod).
    [['up', '--k8s-version', 'v1.30.1'], /--k8s-version is one of v1\.36\.3 \(default\), v1\.31\.14; or the line alone: v1\.36, v1\.31; got "v1\.30\.1"/],
    [['build', '--k8s-version', '1.31'], /--k8s-version is one of v1\.36\.3 \(default\), v1\.31\.14/],
    [['up', '--profile', 'kubeadm'], /--profile is one of k3s, upstream/],
    [['bootstrap-token', '--ttl', 'soon'], /--ttl wants a duration such as 24h/],
    [['bootstrap-token', '--ttl', '24'], /--ttl wants a duration such as 24h/],
  ];
  for (const [args, re] of cases) {
    const r = cli([...args, '--dir', dir]);
    assert.equal(r.status, 2, `${args.join(' ')}: exit ${r.status}, ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
  }
  assert.ok(!fs.existsSync(dir));
  assert.ok(!fs.existsSync(cache));
});
