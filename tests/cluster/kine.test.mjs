// `cluster.mjs up --datastore kine` (issue 14 item 1): the API server over kine
// and SQLite, as k3s runs it. Starts a cluster of its own in a throw-away --dir
// (so it does not need, or disturb, the cluster the other files use) and
// stops and purges it at the end. The first run on a machine builds kine into
// the binary cache (tools/README.md has the time); later runs find it there.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { requestJson } from './https.mjs';
import { listeningSockets } from './proc.mjs';

const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'tools', 'cluster.mjs');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pk-kine-test-'));
const readInfo = () => JSON.parse(fs.readFileSync(path.join(dir, 'cluster.json'), 'utf8'));
let info;

function cli(args, timeoutMs = 120_000) {
  const r = spawnSync(process.execPath, [CLI, ...args, '--dir', dir], { encoding: 'utf8', timeout: timeoutMs });
  assert.equal(r.error, undefined, `${args.join(' ')}: ${r.error}`);
  return r;
}

function request(method, urlPath, body) {
  return requestJson(info.server, info.caPEM, method, urlPath, { body, auth: { token: info.adminToken } });
}

before(() => {
  // A cold kine build takes minutes; a cached one none.
  const r = cli(['up', '--datastore', 'kine', '--timeout', '300'], 20 * 60_000);
  assert.equal(r.status, 0, `up --datastore kine failed:\n${r.stderr.slice(-3000)}`);
  info = readInfo();
});
after(() => {
  cli(['down', '--purge']);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('the API server runs on kine (SQLite), ready, everything on 127.0.0.1', async () => {
  assert.equal(info.datastore, 'kine');
  assert.equal(info.ready, true);
  const ready = await request('GET', '/readyz?verbose');
  assert.equal(ready.status, 200, ready.text);
  assert.match(ready.text, /\[\+\]etcd ok/);
  assert.equal((await request('GET', '/readyz/etcd')).status, 200);

  const kinePid = info.pids.kine;
  assert.ok(kinePid > 0, 'cluster.json names the kine pid');
  const argv = fs.readFileSync(`/proc/${kinePid}/cmdline`, 'utf8').split('\0');
  assert.equal(path.basename(argv[0]), 'kine');
  for (const flag of [
    `--listen-address=127.0.0.1:${info.ports.etcdClient}`,
    '--compact-interval=0',
    '--watch-progress-notify-interval=5s',
    '--metrics-bind-address=0',
  ]) {
    assert.ok(argv.includes(flag), `kine runs without ${flag}: ${argv.join(' ')}`);
  }
  assert.ok(argv.some((a) => a.startsWith(`--endpoint=sqlite://${dir}/kine/state.db?`)), argv.join(' '));
  const apiArgv = fs.readFileSync(`/proc/${info.pids['kube-apiserver']}/cmdline`, 'utf8').split('\0');
  assert.ok(apiArgv.includes(`--etcd-servers=http://127.0.0.1:${info.ports.etcdClient}`), apiArgv.join(' '));
  // No embedded etcd: its data dir is never created.
  assert.ok(!fs.existsSync(path.join(dir, 'etcd')));
  assert.ok(fs.statSync(path.join(dir, 'kine', 'state.db')).size > 0);

  for (const name of ['kine', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'metrics-server', 'registry']) {
    const socks = listeningSockets(info.pids[name]);
    assert.ok(socks.length > 0, `${name} listens on nothing?`);
    for (const s of socks) assert.match(s, /^127\.0\.0\.1:\d+$/, `${name} listens on ${s}`);
  }
  const status = cli(['status']);
  assert.equal(status.status, 0, status.stdout + status.stderr);
  assert.match(status.stdout, /^kine +pid \d+ running/m);
  assert.match(status.stdout, /datastore kine http:\/\/127\.0\.0\.1:\d+ \(SQLite /);
});

test('a watch from a resourceVersion sees a change (kine serves etcd watches)', async () => {
  const name = `pk-kine-watch-${Date.now().toString(36)}`;
  const base = '/api/v1/namespaces/default/configmaps';
  const created = await request('POST', base, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { v: '1' } });
  assert.equal(created.status, 201, created.text);
  const rv = created.json.metadata.resourceVersion;
  const url = new URL(`${base}?watch=1&fieldSelector=metadata.name%3D${name}&resourceVersion=${rv}&timeoutSeconds=30`, info.server);
  const seen = new Promise((resolve, reject) => {
    const req = https.get(url, { headers: { Authorization: `Bearer ${info.adminToken}` }, ca: info.caPEM, agent: false }, (res) => {
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        buf += d;
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          const ev = JSON.parse(buf.slice(0, i));
          buf = buf.slice(i + 1);
          if (ev.type === 'MODIFIED' && ev.object.data?.v === '2') {
            req.destroy();
            resolve(ev);
          }
        }
      });
      res.on('end', () => reject(new Error('the watch ended without the change')));
    });
    req.on('error', (e) => (e.code === 'ECONNRESET' ? null : reject(e)));
  });
  const patched = await request('PUT', `${base}/${name}`, { ...created.json, data: { v: '2' } });
  assert.equal(patched.status, 200, patched.text);
  const ev = await seen;
  assert.equal(ev.object.metadata.uid, created.json.metadata.uid);
  assert.ok(BigInt(ev.object.metadata.resourceVersion) > BigInt(rv));
  await request('DELETE', `${base}/${name}`);
});

test('objects persist across an API server restart and across a restart of the whole cluster (kine included)', async () => {
  const name = `pk-kine-persist-${Date.now().toString(36)}`;
  const path_ = `/api/v1/namespaces/default/configmaps/${name}`;
  const created = await request('POST', '/api/v1/namespaces/default/configmaps', {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name },
    data: { written: new Date().toISOString() },
  });
  assert.equal(created.status, 201, created.text);

  const before = readInfo();
  const r = cli(['restart-apiserver'], 180_000);
  assert.equal(r.status, 0, r.stderr);
  info = readInfo();
  assert.notEqual(info.pids['kube-apiserver'], before.pids['kube-apiserver'], 'a new kube-apiserver');
  assert.equal(info.pids.kine, before.pids.kine, 'kine itself kept running');
  const again = await request('GET', path_);
  assert.equal(again.status, 200, again.text);
  assert.equal(again.json.metadata.uid, created.json.metadata.uid);
  assert.deepEqual(again.json.data, created.json.data);

  // Everything down, kine too: the object must come back from the SQLite file.
  const down = cli(['down']);
  assert.equal(down.status, 0, down.stderr);
  assert.ok(fs.existsSync(path.join(dir, 'kine', 'state.db')));
  const up = cli(['up', '--datastore', 'kine'], 5 * 60_000);
  assert.equal(up.status, 0, up.stderr.slice(-3000));
  info = readInfo();
  assert.notEqual(info.pids.kine, before.pids.kine, 'a new kine process');
  const revived = await request('GET', path_);
  assert.equal(revived.status, 200, revived.text);
  assert.equal(revived.json.metadata.uid, created.json.metadata.uid);
  assert.deepEqual(revived.json.data, created.json.data);
  assert.equal(info.server, before.server, 'the same port again, so minted kubeconfigs keep working');
});
