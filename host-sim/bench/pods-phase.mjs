// host-sim/bench/pods-phase.mjs
// `rack-bench.mjs --pods`: with the rack Ready, one workload puts a pod on every node; measured from its
// creation to every pod Running and Ready: the milestones, host-sim CPU and RSS, the control plane's CPU
// (from /proc of the pids testenv wrote), the worst lease renewal gap any node saw, and what the API server
// counted (requests by verb and resource, 429s, APF rejections). Then the workload is deleted and the time
// until every pod is gone (each deleted by its node) is measured too.
import os from 'node:os';
import { parseCounters, summarise } from './apimetrics.mjs';
import { controlPlanePids, cpuMeter, rssKiB } from './procstat.mjs';
import { PodTracker, workloadObject, workloadPath } from './workload.mjs';

const tick = (ms) => new Promise((r) => setTimeout(r, ms));
const secs = (ms) => (ms === undefined ? null : +(ms / 1000).toFixed(1));

export async function podsPhase({ cluster, clusterDir, api, rack, gaps, count, label, value, kind, timeoutS, say, leaseStaleness }) {
  const ns = value;
  const created = await api('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  if (created.status >= 300) throw new Error(`creating namespace ${ns}: HTTP ${created.status} ${created.json?.message ?? ''}`);
  const tracker = new PodTracker(cluster, ns, count);
  const result = { workload: kind, namespace: ns };
  try {
    tracker.watch((await api('GET', `/api/v1/namespaces/${ns}/pods`)).json.metadata.resourceVersion);
    const pids = controlPlanePids(clusterDir);
    // testenv embeds etcd, so its CPU is the datastore's.
    const watched = Object.fromEntries(['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'testenv'].filter((n) => pids[n]).map((n) => [n, pids[n]]));
    const meter = cpuMeter(watched);
    const m0 = parseCounters((await api('GET', '/metrics', undefined, 'text')).text);
    const load0 = os.loadavg();
    const req0 = rack.nodes().reduce((n, x) => n + x.stats().requests, 0);
    let peakRss = 0;
    let peakApiRss = 0;
    let worstStale = 0;
    gaps.worst = 0;
    gaps.all = [];
    const cpu0 = process.cpuUsage();
    meter.start();
    const t0 = performance.now();
    tracker.t0 = t0;
    const r = await api('POST', workloadPath(kind, ns), workloadObject(kind, ns, count, label, value));
    if (r.status >= 300) throw new Error(`creating the ${kind}: HTTP ${r.status} ${r.json?.message ?? ''}`);
    say(`${kind} created; waiting up to ${timeoutS} s for ${count} pods Running and Ready`);
    const deadline = t0 + timeoutS * 1000;
    let lastSay = t0;
    while (tracker.counts().ready < count && performance.now() < deadline && !tracker.error) {
      await tick(1000);
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
      peakApiRss = Math.max(peakApiRss, rssKiB(pids['kube-apiserver']) ?? 0);
      if (performance.now() - lastSay >= 10_000) {
        lastSay = performance.now();
        worstStale = Math.max(worstStale, await leaseStaleness());
        const c = tracker.counts();
        say(`${secs(lastSay - t0)} s: created ${c.created}, bound ${c.bound}, running ${c.running}, ready ${c.ready}; load ${os.loadavg()[0].toFixed(1)}`);
      }
    }
    const wall = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const cp = meter.stop();
    const load1 = os.loadavg();
    // Latency figures before the lists below block the event loop. A node that has not renewed since its
    // last blip has an open gap: it counts too.
    const now = performance.now();
    let openGap = 0;
    for (const last of gaps.lastBlip.values()) openGap = Math.max(openGap, now - last);
    const worstGap = Math.max(gaps.worst, openGap);
    const sorted = gaps.all.sort((a, b) => a - b);
    const p99Gap = sorted.length ? sorted[Math.floor(sorted.length * 0.99)] : 0;
    worstStale = Math.max(worstStale, await leaseStaleness());
    const m1 = parseCounters((await api('GET', '/metrics', undefined, 'text')).text);
    const c = tracker.counts();
    const req1 = rack.nodes().reduce((n, x) => n + x.stats().requests, 0);
    Object.assign(result, {
      allReady: c.ready === count,
      pods: c,
      watchError: tracker.error ? String(tracker.error.message) : null,
      stuck: c.ready === count ? {} : tracker.stuck(),
      secondsToAllRunningReady: c.ready === count ? secs(wall) : null,
      milestonesSeconds: Object.fromEntries(Object.entries(tracker.milestones).map(([k, v]) => [k, Object.fromEntries(Object.entries(v).map(([n, ms]) => [n, secs(ms)]))])),
      windowSeconds: secs(wall),
      loadAverage1mStartEnd: [+load0[0].toFixed(2), +load1[0].toFixed(2)],
      hostSimCpuPercent: +((100 * (cpu.user + cpu.system)) / 1000 / wall).toFixed(1),
      hostSimPeakRssMiB: +(peakRss / 2 ** 20).toFixed(1),
      controlPlaneCpuPercent: cp,
      kubeApiserverPeakRssMiB: +(peakApiRss / 1024).toFixed(1),
      nodeRequestsInWindow: req1 - req0,
      worstRenewalGapMs: Math.round(worstGap),
      p99RenewalGapMs: Math.round(p99Gap),
      worstLeaseStalenessMs: worstStale,
      apiserver: summarise(m0, m1),
    });

    // Let go: delete the workload; each node kills its pod and deletes it.
    const d0 = performance.now();
    await api('DELETE', `${workloadPath(kind, ns, 'bench')}?propagationPolicy=Background`);
    while (tracker.counts().live > 0 && performance.now() - d0 < 300_000 && !tracker.error) await tick(1000);
    result.secondsToAllPodsDeleted = tracker.counts().live === 0 ? secs(performance.now() - d0) : null;
    if (result.secondsToAllPodsDeleted === null) result.podsLeftAfterDelete = tracker.counts().live;
  } finally {
    tracker.close();
    await api('DELETE', `/api/v1/namespaces/${ns}`).catch(() => {});
  }
  return result;
}

export function printPods(r) {
  const ms = r.milestonesSeconds;
  const cp = r.controlPlaneCpuPercent;
  console.log(`workload                    ${r.workload} in ${r.namespace}: ${r.pods.ready} of ${r.pods.created} pods Running+Ready${r.allReady ? '' : ` (deadline passed; stuck: ${JSON.stringify(r.stuck)})`}`);
  console.log(`time to all Running+Ready   ${r.secondsToAllRunningReady ?? '—'} s (created all ${ms.created.all ?? '—'} s, bound all ${ms.bound.all ?? '—'} s, running half ${ms.running.half ?? '—'} s, p90 ${ms.running.p90 ?? '—'} s, all ${ms.running.all ?? '—'} s)`);
  console.log(`load average (1 min)        ${r.loadAverage1mStartEnd.join(' -> ')}`);
  console.log(`host-sim                    ${r.hostSimCpuPercent} % of one core, peak RSS ${r.hostSimPeakRssMiB} MiB, ${r.nodeRequestsInWindow} requests from the nodes`);
  console.log(`control plane CPU           ${Object.entries(cp).map(([k, v]) => `${k} ${v} %`).join(', ')} of one core (testenv = embedded etcd)`);
  console.log(`kube-apiserver peak RSS     ${r.kubeApiserverPeakRssMiB} MiB`);
  console.log(`worst renewal gap           ${r.worstRenewalGapMs} ms, p99 ${r.p99RenewalGapMs} ms (renew period 10 s ± 2 %); worst lease staleness (API) ${r.worstLeaseStalenessMs} ms`);
  console.log(`API server: answers         ${JSON.stringify(r.apiserver.requestsByCode)}; APF rejected ${JSON.stringify(r.apiserver.apfRejected)}`);
  console.log(`API server: failed        ${JSON.stringify(r.apiserver.failedByCodeVerbResource)}`);
  console.log(`API server: requests        ${Object.entries(r.apiserver.requestsByVerbResource).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  console.log(`delete to all pods gone     ${r.secondsToAllPodsDeleted ?? `— (${r.podsLeftAfterDelete} left)`} s`);
  if (r.watchError) console.log(`pod watch failed            ${r.watchError}`);
}
