/** Long runs and hostile bytes: memory stays flat and nothing the network sends can trap the core. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { CoreHarness, Phase, Stat } from "../support/core-harness.js";

test("a simulated day: 8,640 renewals with status pushes, and linear memory does not grow", async () => {
  const h = await CoreHarness.create({ heapFree: 60_000 });
  h.runUntil(() => h.phase === Phase.RUNNING, 5_000);
  h.run(3_600_000); // warm up: one hour
  const afterHour = h.memoryBytes;
  let flip = false;
  for (let hour = 1; hour < 24; hour++) {
    // Flip MemoryPressure every hour so status pushes and condition changes happen all day.
    flip = !flip;
    h.heapFree = flip ? 15_000 : 60_000;
    h.run(3_600_000);
  }
  const renewals = h.stat(Stat.RENEWALS);
  assert.ok(renewals >= 8_600 && renewals <= 8_680, `renewals in a day: ${renewals}`);
  assert.ok(h.stat(Stat.STATUS_PUSHES) >= 24 * 12, `status pushes: ${h.stat(Stat.STATUS_PUSHES)}`);
  assert.equal(h.memoryBytes, afterHour, `linear memory grew from ${afterHour} to ${h.memoryBytes}`);
  assert.ok(h.peakMemory <= 256 * 1024, `peak linear memory ${h.peakMemory} within the 256 KiB budget`);
  assert.equal(h.stat(Stat.CONNECTS), 3, "one control connection, one pod watch and one node watch connection all day");
  assert.equal(h.logged("lease renewal #8640").length, renewals >= 8640 ? 1 : 0);
});

test("huge responses are discarded without buffering them", async () => {
  const h = await CoreHarness.create();
  h.runUntil(() => h.phase === Phase.RUNNING, 5_000);
  h.run(2_000);
  const mem = h.memoryBytes;
  h.server.fault({ match: (r) => r.path.includes("/leases/"), action: { kind: "huge", bytes: 8 * 1024 * 1024 }, times: 3 });
  h.run(40_000);
  assert.ok(h.stat(Stat.RENEWALS) >= 3, "8 MiB responses still count as renewals (the body is not needed)");
  assert.equal(h.memoryBytes, mem, "no memory growth from 24 MiB of responses");
});

test("garbage and cut responses at every bootstrap step are retried, never trap", async () => {
  const h = await CoreHarness.create();
  const kinds = ["garbage", "close-mid", "close", "silent"] as const;
  for (const k of kinds) {
    for (const p of ["/version", "/api/v1/nodes", "/leases"]) {
      h.server.fault({ match: (r) => r.path.includes(p), action: { kind: k } });
    }
    h.server.fault({ match: (r) => r.path.endsWith("/status"), action: { kind: k } });
  }
  h.server.fault({ match: (r) => r.path === "/api/v1/nodes", action: { kind: "status", status: 500, body: "<html>oops</html>" } });
  h.server.fault({ match: (r) => r.path === "/api/v1/nodes", action: { kind: "status", status: 201, body: "{not json" } });
  h.runUntil(() => h.stat(Stat.RENEWALS) >= 2, 600_000, 1_000);
  assert.equal(h.phase, Phase.RUNNING);
  const node = h.server.nodes.get("pico-test");
  assert.equal(h.server.leases.get("pico-test").metadata.ownerReferences[0].uid, node.metadata.uid);
});

test("an unreachable API server is retried with growing, jittered backoff", async () => {
  const h = await CoreHarness.create();
  h.refuseConnects = 1;
  h.run(60_000);
  const attempts = h.connects.length;
  // 200 ms doubling to 7 s: about 13 attempts in a minute, not 600.
  assert.ok(attempts >= 8 && attempts <= 20, `connect attempts in 60 s: ${attempts}`);
  assert.ok(h.logged("connect or TLS handshake failed").length >= 8);
  h.refuseConnects = null;
  h.run(8_000);
  assert.ok(h.phase >= Phase.REGISTERING);
});

test("shutdown with cleanup deletes the lease and the node, then stops", async () => {
  const h = await CoreHarness.create();
  h.runUntil(() => h.phase === Phase.RUNNING, 5_000);
  h.run(12_000);
  h.shutdown(1);
  h.runUntil(() => h.phase === Phase.STOPPED, 5_000);
  assert.equal(h.server.nodes.size, 0);
  assert.equal(h.server.leases.size, 0);
  const n = h.server.requests.length;
  h.run(60_000);
  assert.equal(h.server.requests.length, n, "nothing after stop");
  assert.equal(Number(h.exports.next_deadline()), -1);
});

test("shutdown without cleanup stops renewing at once", async () => {
  const h = await CoreHarness.create();
  h.runUntil(() => h.phase === Phase.RUNNING, 5_000);
  h.shutdown(0);
  assert.equal(h.phase, Phase.STOPPED);
  const n = h.server.requests.length;
  h.run(60_000);
  assert.equal(h.server.requests.length, n);
  assert.ok(h.server.nodes.has("pico-test"));
});

test("adopting a large existing Node (managedFields, many conditions) stays within 256 KiB of linear memory", async () => {
  const h = await CoreHarness.create();
  const fields = Array.from({ length: 60 }, (_, i) => ({ manager: `m${i}`, operation: "Update", fieldsV1: { "f:status": { [`k:{"type":"X${i}"}`]: { ".": {} } } } }));
  const conditions = Array.from({ length: 12 }, (_, i) => ({ type: `C${i}`, status: "True", reason: "R", message: "x".repeat(120) }));
  h.server.nodes.set("pico-test", { apiVersion: "v1", kind: "Node", metadata: { name: "pico-test", uid: "u-big", labels: {}, managedFields: fields }, status: { conditions } });
  h.runUntil(() => h.phase === Phase.RUNNING, 5_000);
  h.run(60_000);
  assert.ok(JSON.stringify(h.server.nodes.get("pico-test")).length > 8_000);
  // 256 KiB is where the core starts since the kubelet port's data (TLSF grows by doubling): nothing more.
  assert.ok(h.peakMemory <= 256 * 1024, `peak linear memory ${h.peakMemory}`);
  assert.equal(h.server.leases.get("pico-test").metadata.ownerReferences[0].uid, "u-big");
});
