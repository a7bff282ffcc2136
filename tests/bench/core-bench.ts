/**
 * Core benchmark: prints module size, linear-memory high water after a simulated day, and the time the
 * module spends per lease renewal and per status push (V8; see firmware/README.md for wasm3 figures).
 * Run with `npm run bench` after `npm run build`.
 */
import { readFileSync, statSync } from "node:fs";
import { CoreHarness, Phase, RELEASE_WASM, ROOT, Stat } from "../support/core-harness.js";

async function hour(flipEvery: number | null): Promise<{ ms: number; renewals: number; pushes: number }> {
  const h = await CoreHarness.create({ heapFree: 60_000 });
  h.runUntil(() => h.phase === Phase.RUNNING, 5_000);
  h.run(60_000);
  const t0 = h.moduleMs;
  const r0 = h.stat(Stat.RENEWALS);
  const p0 = h.stat(Stat.STATUS_PUSHES);
  for (let t = 0; t < 3_600_000; t += 10_000) {
    if (flipEvery !== null && (t / 10_000) % flipEvery === 0) h.heapFree = h.heapFree === 60_000 ? 15_000 : 60_000;
    h.run(10_000);
  }
  return { ms: h.moduleMs - t0, renewals: h.stat(Stat.RENEWALS) - r0, pushes: h.stat(Stat.STATUS_PUSHES) - p0 };
}

/** Sizes of the code and data sections of a wasm module. */
function sections(b: Buffer): { code: number; data: number } {
  let i = 8;
  const out = { code: 0, data: 0 };
  const leb = (): number => {
    let r = 0;
    let shift = 0;
    for (;;) {
      const x = b[i++];
      r |= (x & 0x7f) << shift;
      shift += 7;
      if (!(x & 0x80)) return r;
    }
  };
  while (i < b.length) {
    const id = b[i++];
    const n = leb();
    if (id === 10) out.code = n;
    if (id === 11) out.data = n;
    i += n;
  }
  return out;
}

/** Module time to admit one pod and play it to Running (status patched), averaged over `n` pods in turn. */
async function podCost(n: number): Promise<number> {
  const h = await CoreHarness.running();
  let total = 0;
  for (let k = 0; k < n; k++) {
    const t0 = h.moduleMs;
    const p = h.server.addPod({ metadata: { name: `p${k}` }, spec: { nodeName: "pico-test", containers: [{ name: "app", image: "nginx" }] } });
    h.runUntil(() => p.status.phase === "Running" && p.status.containerStatuses?.[0]?.ready === true, 10_000, 50);
    total += h.moduleMs - t0;
    h.server.deletePod("default", `p${k}`, 0);
    h.run(2_000);
  }
  return total / n;
}

async function main(): Promise<void> {
  const release = statSync(RELEASE_WASM).size;
  const debug = statSync(ROOT + "build/picokubelet.debug.wasm").size;
  const { code, data } = sections(readFileSync(RELEASE_WASM));
  console.log(`module size: release ${release} B (${(release / 1024).toFixed(1)} KiB; code ${code} B, data ${data} B; budget 96 KiB), debug ${debug} B`);

  const day = await CoreHarness.create({ heapFree: 60_000 });
  day.runUntil(() => day.phase === Phase.RUNNING, 5_000);
  for (let i = 0; i < 24; i++) {
    day.heapFree = i % 2 ? 15_000 : 60_000;
    day.run(3_600_000);
  }
  console.log(`simulated day: ${day.stat(Stat.RENEWALS)} renewals, ${day.stat(Stat.STATUS_PUSHES)} status pushes, ` +
    `${day.server.requests.length} requests, linear memory high water ${day.peakMemory} B (${(day.peakMemory / 1024).toFixed(0)} KiB, budget 256 KiB), ` +
    `final ${day.memoryBytes} B; module time ${day.moduleMs.toFixed(0)} ms for 24 h`);

  const quiet = await hour(null);
  const busy = await hour(1);
  const perRenewal = quiet.ms / quiet.renewals;
  const perPush = (busy.ms - quiet.ms) / Math.max(1, busy.pushes - quiet.pushes);
  console.log(`time per lease renewal inside the module (V8, incl. GC): ${(perRenewal * 1000).toFixed(0)} µs ` +
    `(${quiet.renewals} renewals, ${quiet.pushes} pushes in an hour)`);
  console.log(`time per status push + annotation inside the module (V8, incl. GC): ${(perPush * 1000).toFixed(0)} µs ` +
    `(${busy.pushes} pushes in an hour)`);
  const perPod = await podCost(20);
  console.log(`time per pod admitted and played to Running, status and events included (V8, incl. GC): ${(perPod * 1000).toFixed(0)} µs (20 pods)`);
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
