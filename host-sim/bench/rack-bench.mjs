#!/usr/bin/env node
// host-sim/bench/rack-bench.mjs
// Starts a rack against the local control plane (tools/cluster.mjs) and prints: nodes held Ready (as the
// API server sees them), CPU and RSS per node, and the worst renewal lateness. With --pods, a workload
// then puts one pod on every node and the time to all Running is measured with what it cost host-sim and
// the control plane (pods-phase.mjs). Needs `tsc -p host-sim` and a running cluster (`npm run cluster -- up`,
// or --cluster-dir for another one).
//
//   node host-sim/bench/rack-bench.mjs --count 100 --duration 60
//   node host-sim/bench/rack-bench.mjs --count 1000 --duration 120 --ramp 50 --cluster-dir /tmp/bench-cluster
//   node host-sim/bench/rack-bench.mjs --count 1000 --pods --workload daemonset --cluster-dir /tmp/bench-cluster
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import { Led, Logger, loadCredentials, startRack, systemTimers } from '../dist/index.js';
import { podsPhase, printPods } from './pods-phase.mjs';

const USAGE = 'usage: rack-bench.mjs [--count N] [--duration S] [--ramp N/s] [--prefix P] [--cluster-dir DIR] [--kubeconfig-dir DIR] [--keep-nodes] [--json]\n' +
  '                     [--pods [--workload daemonset|deployment] [--pods-timeout S]]';
const OPTIONS = {
  count: { type: 'string', default: '100' },
  duration: { type: 'string', default: '60' },
  ramp: { type: 'string', default: '50' },
  prefix: { type: 'string' },
  'cluster-dir': { type: 'string' },
  'kubeconfig-dir': { type: 'string' },
  'keep-nodes': { type: 'boolean', default: false },
  json: { type: 'boolean', default: false },
  pods: { type: 'boolean', default: false },
  workload: { type: 'string', default: 'daemonset' },
  'pods-timeout': { type: 'string', default: '900' },
  help: { type: 'boolean', short: 'h' },
};
let flags;
try {
  ({ values: flags } = parseArgs({ options: OPTIONS, strict: true, allowPositionals: false }));
} catch (err) {
  process.stderr.write(`rack-bench: ${err.message}\nvalid flags: ${Object.keys(OPTIONS).map((k) => '--' + k).join(' ')}\n${USAGE}\n`);
  process.exit(2);
}
if (flags.help) {
  console.log(USAGE);
  process.exit(0);
}
for (const k of ['count', 'duration', 'ramp', 'pods-timeout']) {
  if (!/^[1-9][0-9]*$/.test(flags[k])) {
    process.stderr.write(`rack-bench: --${k} takes a positive whole number, not ${JSON.stringify(flags[k])}\n${USAGE}\n`);
    process.exit(2);
  }
}
if (!['daemonset', 'deployment'].includes(flags.workload)) {
  process.stderr.write(`rack-bench: --workload is daemonset or deployment, not ${JSON.stringify(flags.workload)}\n`);
  process.exit(2);
}

// RSS per node is only meaningful after a full GC: re-run with --expose-gc when it is missing.
if (typeof global.gc !== 'function') {
  const r = spawnSync(process.execPath, ['--expose-gc', ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

Error.stackTraceLimit = 40; // a core's trap: the wasm frames that led to it
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
flags['cluster-dir'] ??= process.env.PICOKUBELET_CLUSTER_DIR ?? path.join(ROOT, '.cluster');
const count = Number(flags.count);
const duration = Number(flags.duration);
const clusterDir = path.resolve(flags['cluster-dir']);
const prefix = flags.prefix ?? `bench-${Date.now().toString(36)}-`;
const say = (s) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${s}\n`);

let cluster;
try {
  cluster = JSON.parse(fs.readFileSync(path.join(clusterDir, 'cluster.json'), 'utf8'));
} catch {
  say(`no cluster in ${clusterDir}: run \`npm run cluster -- up\` (or pass --cluster-dir)`);
  process.exit(2);
}

// Per-node client certificates for system:node:<prefix><i>.
let kcDir = flags['kubeconfig-dir'];
if (!kcDir) {
  kcDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rack-bench-'));
  const t0 = Date.now();
  execFileSync(process.execPath, [path.join(ROOT, 'tools', 'cluster.mjs'), 'kubeconfig-for-node', '--prefix', prefix, '--count', String(count),
    '--out-dir', kcDir, '--dir', clusterDir], { stdio: 'pipe' });
  say(`minted ${count} node kubeconfigs in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}
const creds = new Map();
for (let i = 0; i < count; i++) creds.set(`${prefix}${i}`, loadCredentials({ kubeconfig: path.join(kcDir, `${prefix}${i}.kubeconfig`) }));

/** One request as cluster admin; JSON in and out (`as: 'text'` for /metrics). */
function api(method, urlPath, body, as = 'json') {
  return new Promise((resolve, reject) => {
    const headers = { Authorization: `Bearer ${cluster.adminToken}`, Accept: as === 'json' ? 'application/json' : 'text/plain' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const req = https.request(new URL(urlPath, cluster.server), { method, ca: cluster.caPEM, headers, timeout: 30_000 }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        if (as === 'text') return resolve({ status: res.statusCode, text });
        let json = null;
        try {
          json = JSON.parse(text || 'null');
        } catch {
          json = { message: text.slice(0, 200) };
        }
        resolve({ status: res.statusCode, json });
      });
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

async function readyCount() {
  const r = await api('GET', '/api/v1/nodes');
  const mine = (r.json?.items ?? []).filter((n) => n.metadata.name.startsWith(prefix));
  const ready = mine.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
  // The lifecycle controller's not-ready taint: a pod that does not tolerate it is not scheduled there.
  const tainted = mine.filter((n) => (n.spec?.taints ?? []).some((t) => t.key === 'node.kubernetes.io/not-ready'));
  return { listed: mine.length, ready: ready.length, tainted: tainted.length };
}

async function leaseStaleness() {
  const r = await api('GET', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases');
  const now = Date.now();
  let worst = 0;
  for (const l of r.json?.items ?? []) {
    if (!l.metadata.name.startsWith(prefix) || !l.spec?.renewTime) continue;
    worst = Math.max(worst, now - Date.parse(l.spec.renewTime));
  }
  return worst;
}

global.gc();
const baseRss = process.memoryUsage().rss;
const timers = systemTimers();
const gaps = { worst: 0, all: [], lastBlip: new Map() };
const t0 = Date.now();
// The nodes' warnings and errors, tallied by message with names and numbers taken out (a thousand nodes
// logging the same thing is one line of the report), and every trap of a core with its message.
const tally = new Map();
const panics = [];
const logger = new Logger({
  level: 'warn', format: 'json',
  write: (line) => {
    const r = JSON.parse(line);
    const key = `${r.level} ${r.source}: ${r.msg.split(prefix).join('<node>').replace(/[0-9]+/g, 'N')}`;
    const t = tally.get(key) ?? { count: 0, nodes: new Set(), example: `${r.node}: ${r.msg}` };
    t.count++;
    t.nodes.add(r.node);
    tally.set(key, t);
  },
});
function logReport() {
  return {
    panics: panics.length,
    panicMessages: [...new Set(panics.map((p) => p.msg))].slice(0, 5),
    panicTimes: panics.length ? `${panics[0].at} .. ${panics[panics.length - 1].at}` : null,
    panicStacks: [...new Set(panics.map((p) => p.stack.split('\n').slice(1, 12).map((l) => l.trim().replace(/:0x[0-9a-f]+\)?$/, '')).join(' <- ')))].slice(0, 3),
    logs: [...tally.entries()].sort((a, b) => b[1].count - a[1].count).slice(0, 12).map(([k, t]) => ({ line: k, count: t.count, nodes: t.nodes.size, example: t.example.slice(0, 300) })),
  };
}

// The label every node of the rack carries; the --pods workload selects it.
const RACK_LABEL = 'picokubelet.dev/rack';
const rackValue = prefix.replace(/[^A-Za-z0-9]+$/, '').toLowerCase();
const { rack, started } = startRack({
  prefix, count, rampPerSecond: Number(flags.ramp), logger, keepLogs: 0, labels: { [RACK_LABEL]: rackValue },
  credentialsFor: (name) => {
    const c = creds.get(name);
    creds.delete(name);
    return c;
  },
  onNode: (node) => {
    node.on('panic', (err) => panics.push({ name: node.name, at: new Date().toISOString().slice(11, 19), msg: String(err?.message ?? err), stack: String(err?.stack ?? '') }));
    node.on('led', (pattern) => {
      if (pattern !== Led.ACTIVITY) return;
      const now = performance.now();
      const last = gaps.lastBlip.get(node.name);
      if (last !== undefined) {
        gaps.worst = Math.max(gaps.worst, now - last);
        gaps.all.push(now - last);
      }
      gaps.lastBlip.set(node.name, now);
    });
  },
});
await started;
say(`started ${count} nodes in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

// Wait until every node has renewed at least once (or 3 minutes).
const waitStart = Date.now();
while (rack.nodes().some((n) => n.stats().renewals < 1) && Date.now() - waitStart < 180_000) await new Promise((r) => setTimeout(r, 1000));
const allRenewed = Date.now();
say(`all renewing ${((allRenewed - t0) / 1000).toFixed(1)} s after start${flags.pods ? '' : `; measuring for ${duration} s`}`);

if (flags.pods) {
  let rc = 1;
  try {
    // Every Node Ready and untainted as the API server sees it, before the workload is created.
    const w0 = Date.now();
    let rc0;
    while ((rc0 = await readyCount()).ready < count || rc0.tainted > 0) {
      if (Date.now() - w0 > 300_000) throw new Error(`after 300 s only ${rc0.ready} of ${count} Nodes Ready, ${rc0.tainted} still tainted not-ready`);
      await new Promise((r) => setTimeout(r, 5000));
    }
    say(`all ${count} Nodes Ready and untainted ${((Date.now() - t0) / 1000).toFixed(1)} s after start`);
    const result = await podsPhase({
      cluster, clusterDir, api, rack, gaps, count, label: RACK_LABEL, value: rackValue, kind: flags.workload,
      timeoutS: Number(flags['pods-timeout']), say, leaseStaleness,
    });
    const { listed, ready } = await readyCount();
    const stats = rack.nodes().map((n) => n.stats());
    Object.assign(result, {
      nodes: count, apiListed: listed, apiReadyAtEnd: ready,
      coreHealthyAtEnd: stats.filter((s) => s.phaseName === 'RUNNING' && s.ledName === 'HEALTHY').length,
      renewFailuresTotal: stats.filter((s) => s.host.panic === null).reduce((n, s) => n + s.renewFailures, 0),
      ...logReport(),
    });
    if (flags.json) console.log(JSON.stringify(result));
    else {
      console.log(`nodes                       ${count} (API at the end: ${listed} listed, ${ready} Ready; core: ${result.coreHealthyAtEnd} RUNNING+HEALTHY; ${result.renewFailuresTotal} renewal failures since start)`);
      printPods(result);
      console.log(`cores trapped               ${result.panics}${result.panics ? `: ${result.panicMessages.join(' | ')} (at ${result.panicTimes})` : ''}`);
      for (const st of result.panicStacks) console.log(`  stack: ${st}`);
      for (const l of result.logs) console.log(`  ${String(l.count).padStart(6)} x (${l.nodes} nodes) ${l.line.slice(0, 160)}\n           e.g. ${l.example.slice(0, 200)}`);
    }
    rc = result.allReady && result.secondsToAllPodsDeleted !== null && ready === count && result.panics === 0 ? 0 : 1;
  } catch (err) {
    say(`pods run failed: ${err.message}`);
  }
  await teardown();
  process.exit(rc);
}

// The steady-state window.
gaps.worst = 0;
gaps.all = [];
timers.worstLatenessMs = 0;
const cpu0 = process.cpuUsage();
const w0 = performance.now();
const renew0 = rack.nodes().reduce((n, x) => n + x.stats().renewals, 0);
let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 1000);
await new Promise((r) => setTimeout(r, duration * 1000));
clearInterval(sampler);
const cpu = process.cpuUsage(cpu0);
const wall = performance.now() - w0;
// Read the latency figures before the GC and the big API lists below block the event loop.
const worstGap = gaps.worst;
const sortedGaps = gaps.all.sort((a, b) => a - b);
const p99Gap = sortedGaps.length ? sortedGaps[Math.floor(sortedGaps.length * 0.99)] : 0;
const worstLateness = timers.worstLatenessMs;
global.gc();
const rss = process.memoryUsage().rss;
const stats = rack.nodes().map((n) => n.stats());
const renewals = stats.reduce((n, s) => n + s.renewals, 0) - renew0;
const failures = stats.reduce((n, s) => n + s.renewFailures, 0);
const healthy = stats.filter((s) => s.phaseName === 'RUNNING' && s.ledName === 'HEALTHY').length;
const { listed, ready } = await readyCount();
const stale = await leaseStaleness();
const wasm = stats.reduce((n, s) => n + s.memoryBytes, 0);

const result = {
  nodes: count,
  apiListed: listed,
  apiReady: ready,
  coreHealthy: healthy,
  windowSeconds: +(wall / 1000).toFixed(1),
  renewalsInWindow: renewals,
  renewFailuresTotal: failures,
  cpuPercentTotal: +((100 * (cpu.user + cpu.system)) / 1000 / wall).toFixed(1),
  cpuMsPerNodePerSecond: +((cpu.user + cpu.system) / 1000 / count / (wall / 1000)).toFixed(3),
  rssMiB: +(rss / 2 ** 20).toFixed(1),
  peakRssMiB: +(peakRss / 2 ** 20).toFixed(1),
  baselineRssMiB: +(baseRss / 2 ** 20).toFixed(1),
  rssKiBPerNode: +((rss - baseRss) / 1024 / count).toFixed(1),
  rssTotalKiBPerNode: +(rss / 1024 / count).toFixed(1),
  wasmLinearMemoryKiBPerNode: +(wasm / 1024 / count).toFixed(1),
  worstRenewalGapMs: Math.round(worstGap),
  // Lateness: the gap beyond the longest the schedule allows (renew period 10 s + 2 % jitter).
  worstRenewalLatenessMs: Math.max(0, Math.round(worstGap - 10_200)),
  p99RenewalGapMs: Math.round(p99Gap),
  worstTimerLatenessMs: Math.round(worstLateness),
  worstLeaseStalenessMs: stale,
};
if (flags.json) console.log(JSON.stringify(result));
else {
  console.log(`nodes                       ${count} (API: ${listed} listed, ${ready} Ready; core: ${healthy} RUNNING+HEALTHY)`);
  console.log(`window                      ${result.windowSeconds} s, ${renewals} renewals, ${failures} renewal failures since start`);
  console.log(`CPU                         ${result.cpuPercentTotal} % of one core total, ${result.cpuMsPerNodePerSecond} ms/s per node`);
  console.log(`RSS                         ${result.rssMiB} MiB (baseline ${result.baselineRssMiB} MiB, peak ${result.peakRssMiB} MiB)`);
  console.log(`RSS per node                ${result.rssKiBPerNode} KiB above baseline (${result.rssTotalKiBPerNode} KiB all-in); wasm memory ${result.wasmLinearMemoryKiBPerNode} KiB`);
  console.log(`worst renewal gap           ${result.worstRenewalGapMs} ms, p99 ${result.p99RenewalGapMs} ms (renew period 10 s ± 2 %)`);
  console.log(`worst renewal lateness      ${result.worstRenewalLatenessMs} ms (beyond 10.2 s)`);
  console.log(`worst timer lateness        ${result.worstTimerLatenessMs} ms`);
  console.log(`worst lease staleness (API) ${result.worstLeaseStalenessMs} ms (lease duration 40 s)`);
  const logs = logReport();
  console.log(`cores trapped               ${logs.panics}${logs.panics ? `: ${logs.panicMessages.join(' | ')} (at ${logs.panicTimes})` : ''}`);
  for (const l of logs.logs) console.log(`  ${String(l.count).padStart(6)} x (${l.nodes} nodes) ${l.line.slice(0, 160)}\n           e.g. ${l.example.slice(0, 200)}`);
}

await teardown();
process.exit(ready === count ? 0 : 1);

async function teardown() {
  await rack.stop({ cleanup: true });
  if (!flags['keep-nodes']) {
    // A system:node identity may not delete its Node; remove them as admin.
    for (let i = 0; i < count; i += 50) {
      await Promise.all(Array.from({ length: Math.min(50, count - i) }, (_, j) => api('DELETE', `/api/v1/nodes/${prefix}${i + j}`).catch(() => {})));
    }
  }
  if (!flags['kubeconfig-dir']) fs.rmSync(kcDir, { recursive: true, force: true });
}
