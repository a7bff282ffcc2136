/** The lease reconciler through the ABI: cadence, 404, auth errors, transport faults, replay. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { CoreHarness, Led, Phase, Stat } from "../support/core-harness.js";

const LEASE = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/pico-test";

const running = CoreHarness.running;

test("renews every 10 s with ±2% jitter, and renewTime advances with sub-second precision", async () => {
  const h = await running();
  h.run(300_000);
  const renews = h.server.seen("PATCH", LEASE);
  assert.ok(renews.length >= 29 && renews.length <= 31, `renewals in 5 min: ${renews.length}`);
  let prev = "";
  for (let i = 1; i < renews.length; i++) {
    const gap = renews[i].at - renews[i - 1].at;
    assert.ok(gap >= 9_800 && gap <= 10_250, `gap ${gap}`);
    const t = JSON.parse(renews[i].body).spec.renewTime as string;
    assert.match(t, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    assert.ok(t > prev, "renewTime strictly increases");
    prev = t;
  }
  assert.ok(renews.some((r) => !JSON.parse(r.body).spec.renewTime.endsWith(".000000Z")), "real sub-second precision");
  assert.ok(renews[0].body.length < 160, "a small patch");
  assert.equal(h.stat(Stat.RENEWALS), renews.length);
  assert.equal(h.stat(Stat.CONNECTS), 3, "one kept-alive connection per lane (control, pod watch, node watch)");
});

test("a deleted lease is recreated with the owner reference", async () => {
  const h = await running();
  h.run(15_000);
  h.server.leases.delete("pico-test");
  h.run(12_000);
  const lease = h.server.leases.get("pico-test");
  assert.ok(lease, "recreated");
  assert.equal(lease.metadata.ownerReferences[0].uid, h.server.nodes.get("pico-test").metadata.uid);
  assert.equal(h.logged("is gone; checking the node").length, 1);
  assert.equal(h.server.seen("GET", "/api/v1/nodes/pico-test").length, 1, "the node was re-checked (POST 409, GET)");
  assert.equal(h.stat(Stat.REGISTRATIONS), 2, "adopted again with the same uid");
  h.run(11_000);
  assert.equal(h.led, Led.HEALTHY);
});

test("401 backs off instead of hammering, shows Warning, and recovers", async () => {
  const h = await running();
  h.run(11_000);
  assert.equal(h.led, Led.HEALTHY);
  h.server.fault({ match: (r) => r.path === LEASE, action: { kind: "status", status: 401 }, times: Infinity });
  const before = h.server.seen("PATCH", LEASE).length;
  h.run(300_000);
  const attempts = h.server.seen("PATCH", LEASE).length - before;
  // 10 s doubling to 5 min: about 10+20+40+80+160 s fits in 5 min → ≤ 6 attempts (not 30).
  assert.ok(attempts >= 3 && attempts <= 6, `attempts in 5 min with a refused token: ${attempts}`);
  assert.equal(h.led, Led.WARNING);
  assert.ok(h.logged("lease renewal refused").length >= 3);
  assert.ok(!h.logs.some((l) => l.text.includes("t0ken")), "the token is never logged");
  h.server.faults.length = 0;
  h.run(320_000);
  assert.equal(h.led, Led.HEALTHY);
});

test("5xx and transport faults are retried promptly; renewals never stall", async () => {
  const h = await running();
  h.server.fault({ match: (r) => r.path === LEASE, action: { kind: "status", status: 500 }, times: 2 });
  h.server.fault({ match: (r) => r.path === LEASE, action: { kind: "close-mid" } });
  h.server.fault({ match: (r) => r.path === LEASE, action: { kind: "garbage" } });
  h.run(60_000);
  const ok = h.stat(Stat.RENEWALS);
  assert.ok(ok >= 4, `renewals landed despite faults: ${ok}`);
  assert.equal(h.stat(Stat.RENEW_FAILURES), 4);
  const gaps = h.server.seen("PATCH", LEASE).map((r, i, a) => (i ? r.at - a[i - 1].at : 0));
  assert.ok(gaps.slice(1).some((g) => g < 2_000), "a failed renewal is retried within seconds");
  assert.equal(h.led, Led.HEALTHY);
});

test("a response that never comes is abandoned at the deadline and the renewal retried", async () => {
  const h = await running();
  h.server.fault({ match: (r) => r.path === LEASE, action: { kind: "silent" } });
  const startRenewals = h.stat(Stat.RENEWALS);
  h.run(25_000);
  assert.ok(h.stat(Stat.RENEWALS) > startRenewals, "renewals resumed");
  assert.ok(h.logged("request deadline passed").length >= 1);
  assert.ok(h.stat(Stat.CONNECTS) >= 2, "the stalled connection was dropped and a new one opened");
});

test("a slow status exchange delays a renewal by at most one renew period", async () => {
  const h = await running();
  // The status push hangs; a renewal falls due meanwhile.
  h.server.fault({ match: (r) => r.path.endsWith("/status"), action: { kind: "silent" } });
  assert.ok(h.server.nodes.has("pico-test"), "the node is registered");
  h.heapFree = 10 * 1024; // flip MemoryPressure → immediate status push (which will hang)
  const since = h.server.requests.length;
  h.run(40_000);
  assert.ok(h.server.requests.slice(since).some((r) => r.path.endsWith("/status")), "the hanging status push was sent");
  const renews = h.server.seen("PATCH", LEASE);
  assert.ok(renews.length >= 4, `renewals kept going while the push hung: ${renews.length}`);
  for (let i = 1; i < renews.length; i++) {
    assert.ok(renews[i].at - renews[i - 1].at <= 20_500, `renewal gap ${renews[i].at - renews[i - 1].at}`);
  }
  assert.ok(h.stat(Stat.STATUS_PUSHES) >= 2, "the status push was retried and landed");
});

test("an idempotent request on a kept-alive connection that the server closed is replayed once", async () => {
  const h = await running();
  h.server.fault({ match: (r) => r.path === LEASE, action: { kind: "close" } });
  const fails = h.stat(Stat.RENEW_FAILURES);
  h.run(11_000);
  assert.equal(h.stat(Stat.RENEW_FAILURES), fails, "not counted as a failure");
  assert.equal(h.stat(Stat.RENEWALS) >= 1, true);
  assert.ok(h.stat(Stat.CONNECTS) >= 2);
});

test("renewTime never goes backwards when the server clock jumps back", async () => {
  const h = await running();
  h.run(30_000);
  h.server.wallOffsetMs -= 60_000; // the API server's clock moves a minute back
  h.run(60_000);
  const times = h.server.seen("PATCH", LEASE).map((r) => JSON.parse(r.body).spec.renewTime as string);
  for (let i = 1; i < times.length; i++) assert.ok(times[i] > times[i - 1], `${times[i - 1]} -> ${times[i]}`);
  assert.ok(h.logged("wall clock corrected by").length >= 1, "the skew was noticed");
  const node = h.server.nodes.get("pico-test");
  const haunted = node.status.conditions.find((c: any) => c.type === "Haunted");
  assert.equal(haunted.reason, "TimeSlipped");
});

test("after renewals recover from failures, status is posted at once (the controller may have marked the node Unknown)", async () => {
  const h = await running();
  h.run(30_000);
  const pushes = h.server.seen("PATCH", "/api/v1/nodes/pico-test/status").length;
  h.server.fault({ match: (r) => r.path === LEASE, action: { kind: "status", status: 503 }, times: 4 });
  h.run(15_000);
  const after = h.server.seen("PATCH", "/api/v1/nodes/pico-test/status");
  assert.equal(after.length, pushes + 1, "one status push after the recovery, without any condition flip");
  const ok = h.server.seen("PATCH", LEASE).filter((r) => r.at < after[after.length - 1].at);
  assert.ok(after[after.length - 1].at - ok[ok.length - 1].at < 1_000, "right after the first successful renewal");
  assert.equal(h.logged("lease renewals recovered").length, 1);
});
