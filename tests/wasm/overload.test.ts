/**
 * An overloaded API server through the ABI: the heartbeat goes first. After a 429 (API Priority and
 * Fairness) every worker but the lease holds back for Retry-After; while renewals time out or get 5xx,
 * the control lane carries renewals only until one lands or the Lease has expired (then the status push
 * that says Ready=False may go). A renewal is never queued behind a status push that waits for its
 * deadline.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { CoreHarness, Stat } from "../support/core-harness.js";
import type { ApiRequest } from "../support/fake-apiserver.js";

const LEASE = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/pico-test";
const STATUS = "/api/v1/nodes/pico-test/status";

/** Requests on the control lane (not the two watch streams). */
function control(h: CoreHarness, from: number, to = Infinity): ApiRequest[] {
  return h.server.requests.filter((r) => r.at >= from && r.at < to && !/[?&]watch=1/.test(r.path) && !/\?fieldSelector=/.test(r.path));
}

test("a 429 with Retry-After: only lease renewals until it has passed", async () => {
  const h = await CoreHarness.running({ heapFree: 60_000 });
  h.run(15_000);
  // The next status push is refused with Retry-After: 20; a heap drop makes status want to go again at once.
  h.server.fault({ match: (r) => r.path === STATUS, action: { kind: "status", status: 429, retryAfter: 20 } });
  h.heapFree = 12_000;
  h.runUntil(() => h.logged("API server pushback (HTTP 429): only lease renewals for 20.0 s").length === 1, 30_000);
  const at = h.now;
  h.run(19_000);
  const held = control(h, at, at + 19_000);
  assert.ok(held.length >= 1, "renewals went on");
  for (const r of held) assert.equal(r.path, LEASE, `${r.method} ${r.path} during the pushback`);
  h.run(3_000);
  assert.ok(h.server.seen("PATCH", STATUS).some((r) => r.at >= at + 19_000), "status went once the pushback passed");
  assert.equal(h.stat(Stat.MEMORY_PRESSURE), 1);
});

test("renewals that time out: nothing else on the control lane until one lands, then the status that waited", async () => {
  const h = await CoreHarness.running({ heapFree: 60_000 });
  h.run(15_000);
  // Two renewals get no answer (each runs into its 10 s deadline); meanwhile MemoryPressure flips.
  h.server.fault({ match: (r) => r.path === LEASE, action: { kind: "silent" }, times: 2 });
  h.runUntil(() => h.server.seen("PATCH", LEASE).some((r) => r.at > 15_000), 15_000);
  const first = h.server.seen("PATCH", LEASE).find((r) => r.at > 15_000)!.at;
  h.heapFree = 12_000;
  h.runUntil(() => h.stat(Stat.RENEW_FAILURES) === 2 && h.stat(Stat.RENEWALS) > 0 && h.server.seen("PATCH", LEASE).length > 0 &&
    h.logged("lease renewals are landing again").length === 1, 60_000);
  const landed = h.now;
  const during = control(h, first + 1, landed - 200);
  assert.ok(during.length >= 1, "the retry went");
  for (const r of during) assert.equal(r.path, LEASE, `${r.method} ${r.path} while renewals failed`);
  h.run(2_000);
  const status = h.server.seen("PATCH", STATUS).filter((r) => r.at > first);
  assert.ok(status.length >= 1 && status[0].at - landed < 2_000, "the status push waited for the heartbeat, then went at once");
  assert.equal(h.stat(Stat.MEMORY_PRESSURE), 1);
});

test("renewals that keep failing: once the Lease has expired, Ready=False is pushed all the same", async () => {
  const h = await CoreHarness.running({ heapFree: 60_000 });
  h.run(11_000);
  h.server.fault({ match: (r) => r.path === LEASE, action: { kind: "status", status: 503 }, times: Infinity });
  const faultAt = h.now;
  h.run(35_000);
  assert.equal(h.server.seen("PATCH", STATUS).filter((r) => r.at > faultAt).length, 0, "the lane is the heartbeat's while the Lease holds");
  h.run(20_000);
  const pushed = h.server.seen("PATCH", STATUS).filter((r) => r.at > faultAt);
  assert.ok(pushed.length >= 1 && pushed[0].at - faultAt >= 40_000, "Ready=False after the lease duration");
  const ready = h.server.nodes.get("pico-test").status.conditions.find((c: any) => c.type === "Ready");
  assert.equal(ready.status, "False");
});
