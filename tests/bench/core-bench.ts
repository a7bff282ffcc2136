/**
 * Core benchmark: prints module size, linear-memory high water after a simulated day, and the time the
 * module spends per lease renewal and per status push (V8; see firmware/README.md for wasm3 figures).
 * Run with `npm run bench` after `npm run build`.
 */
import { statSync } from "node:fs";
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

async function main(): Promise<void> {
  const release = statSync(RELEASE_WASM).size;
  const debug = statSync(ROOT + "build/picokubelet.debug.wasm").size;
  console.log(`module size: release ${release} B (${(release / 1024).toFixed(1)} KiB, budget 64 KiB), debug ${debug} B`);

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
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
