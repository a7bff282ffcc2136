/** The status reconciler and conditions through the ABI. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { CoreHarness, Led, Link, Phase, Stat } from "../support/core-harness.js";

const STATUS = "/api/v1/nodes/pico-test/status";
const NODE = "/api/v1/nodes/pico-test";
const LEASE = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/pico-test";

const running = CoreHarness.running;

function cond(h: CoreHarness, type: string): any {
  return h.server.nodes.get("pico-test").status.conditions.find((c: any) => c.type === type);
}

test("status is pushed every 5 minutes, not more often, while nothing flips", async () => {
  const h = await running({ heapFree: 60_000 });
  // Let the flips of the first half hour pass: Caffeinated at 600 s, Existential at renewal 100 (~1010 s).
  h.run(1_100_000);
  const start = h.server.seen("PATCH", STATUS).length;
  const hb0 = cond(h, "Ready").lastHeartbeatTime;
  h.run(900_000);
  const pushes = h.server.seen("PATCH", STATUS).slice(start);
  assert.ok(pushes.length >= 2 && pushes.length <= 4, `pushes in 15 min: ${pushes.length}`);
  for (let i = 1; i < pushes.length; i++) assert.ok(pushes[i].at - pushes[i - 1].at >= 300_000);
  assert.notEqual(cond(h, "Ready").lastHeartbeatTime, hb0, "heartbeat moves on every push");
  assert.equal(h.server.seen("PATCH", NODE).length, h.server.seen("PATCH", STATUS).length, "one annotation per push");
});

test("a MemoryPressure flip is pushed within one evaluation and moves only its transition time", async () => {
  const h = await running({ heapFree: 60_000 });
  h.run(20_000);
  const before = h.server.nodes.get("pico-test").status.conditions.map((c: any) => ({ ...c }));
  const pushes = h.server.seen("PATCH", STATUS).length;
  h.heapFree = 12_000;
  h.run(10_500);
  assert.equal(h.server.seen("PATCH", STATUS).length, pushes + 1, "pushed at once");
  assert.equal(h.stat(Stat.MEMORY_PRESSURE), 1);
  const mp = cond(h, "MemoryPressure");
  assert.equal(mp.status, "True");
  assert.equal(mp.reason, "KubeletHasInsufficientMemory");
  const after = h.server.nodes.get("pico-test").status.conditions;
  for (const c of after) {
    const old = before.find((b: any) => b.type === c.type);
    if (c.type === "MemoryPressure" || c.type === "Peckish" || c.type === "Vibes") continue;
    assert.equal(c.lastTransitionTime, old.lastTransitionTime, `${c.type} transition time unchanged`);
  }
  assert.notEqual(mp.lastTransitionTime, before.find((b: any) => b.type === "MemoryPressure").lastTransitionTime);
  // Hysteresis: hovering just above the threshold does not clear it.
  h.heapFree = 21_000;
  h.run(30_000);
  assert.equal(cond(h, "MemoryPressure").status, "True");
  h.heapFree = 30_000;
  h.run(11_000);
  assert.equal(cond(h, "MemoryPressure").status, "False");
  assert.equal(h.server.nodes.get("pico-test").metadata.annotations["node.specht.dev/heap-bytes-free"], "30000");
});

test("a failed push is retried promptly until it lands; an annotation failure does not resend status", async () => {
  const h = await running({ heapFree: 60_000 });
  h.run(10_000);
  h.server.fault({ match: (r) => r.path === STATUS, action: { kind: "status", status: 503 }, times: 3 });
  const n0 = h.server.seen("PATCH", STATUS).length;
  h.heapFree = 10_000;
  h.run(20_000);
  const tries = h.server.seen("PATCH", STATUS).slice(n0);
  assert.equal(tries.length, 4, "three failures then success");
  assert.ok(tries[3].at - tries[0].at < 5_000, "retried within seconds");
  assert.equal(cond(h, "MemoryPressure").status, "True");
  const s0 = h.server.seen("PATCH", STATUS).length;
  h.server.fault({ match: (r) => r.method === "PATCH" && r.path === NODE, action: { kind: "status", status: 500 }, times: 2 });
  h.heapFree = 60_000;
  h.run(20_000);
  assert.equal(h.server.seen("PATCH", STATUS).length, s0 + 1, "status sent once");
  assert.equal(h.server.nodes.get("pico-test").metadata.annotations["node.specht.dev/heap-bytes-free"], "60000");
});

test("a deleted Node is registered again and the lease re-owned by the new uid", async () => {
  const h = await running();
  h.run(15_000);
  const oldUid = h.server.nodes.get("pico-test").metadata.uid;
  // kubectl delete node: the garbage collector removes the lease it owns, too.
  h.server.nodes.delete("pico-test");
  h.server.leases.delete("pico-test");
  h.run(30_000); // the next renewal finds the Lease gone, which leads to the Node
  const node = h.server.nodes.get("pico-test");
  assert.ok(node, "registered again");
  assert.notEqual(node.metadata.uid, oldUid);
  assert.equal(h.server.leases.get("pico-test").metadata.ownerReferences[0].uid, node.metadata.uid);
  assert.equal(h.stat(Stat.REGISTRATIONS), 2);
  assert.equal(h.phase, Phase.RUNNING);
});

test("a node deleted while its lease survives takes the lease over with the new uid", async () => {
  const h = await running();
  h.server.nodes.delete("pico-test"); // GC has not run yet: the old lease is still there
  h.heapFree = 5_000;
  h.run(30_000);
  const node = h.server.nodes.get("pico-test");
  assert.equal(h.server.leases.get("pico-test").metadata.ownerReferences[0].uid, node.metadata.uid);
});

test("a new IP from the link is pushed to status.addresses at once", async () => {
  const h = await running();
  h.run(5_000);
  h.linkUp(0x0a2a0063); // 10.42.0.99
  h.run(1_000);
  const addrs = h.server.nodes.get("pico-test").status.addresses;
  assert.deepEqual(addrs.find((a: any) => a.type === "InternalIP"), { type: "InternalIP", address: "10.42.0.99" });
  assert.equal(h.logged("new IP address 10.42.0.99").length, 1);
});

test("joke conditions are fed honestly: reconnect window, BSSID change, renewal count", async () => {
  const h = await running({ heapFree: 90_000 });
  h.run(10_000);
  assert.equal(cond(h, "Vibes").reason, "Immaculate");
  assert.equal(cond(h, "Existential").reason, "Innocent");
  // Three link flaps within five minutes curse the vibes.
  for (let i = 0; i < 3; i++) {
    h.linkDown();
    h.run(2_000);
    h.linkUp(0x0a2a0007, Link.WIFI, 0x112233445566n, -60);
    h.run(3_000);
  }
  h.run(11_000);
  assert.equal(cond(h, "Vibes").reason, "Cursed");
  assert.equal(h.stat(Stat.RECONNECTS) >= 3, true);
  // Roaming to another access point: a ghost, shown for the hold window, not for 10 s.
  h.linkUp(0x0a2a0007, Link.WIFI, 0x665544332211n, -70);
  h.run(11_000);
  assert.equal(cond(h, "Haunted").reason, "NewGhost");
  h.run(120_000);
  assert.equal(cond(h, "Haunted").reason, "NewGhost", "still visible two minutes later");
  // After the windows pass, both clear.
  h.run(300_000);
  assert.equal(cond(h, "Haunted").reason, "Calm");
  assert.notEqual(cond(h, "Vibes").reason, "Cursed");
  assert.ok(h.stat(Stat.RENEWALS) >= 40);
});

test("API reconnects count in the Vibes window too, not only link re-ups", async () => {
  const h = await running({ heapFree: 90_000 });
  h.run(10_000);
  assert.equal(h.stat(Stat.RECONNECTS), 0, "a kept-alive connection is not a reconnect");
  for (let i = 0; i < 3; i++) {
    h.resetConnections();
    h.run(11_000);
  }
  assert.equal(h.stat(Stat.RECONNECTS), 3);
  h.run(11_000);
  assert.equal(cond(h, "Vibes").reason, "Cursed");
  h.run(300_000);
  assert.equal(h.stat(Stat.RECONNECTS), 0, "the window rolls");
  assert.notEqual(cond(h, "Vibes").reason, "Cursed");
});

test("link down shows Disconnected and sends nothing; link up retries at once", async () => {
  const h = await running();
  h.run(11_000);
  assert.equal(h.led, Led.HEALTHY);
  h.linkDown();
  const n = h.server.requests.length;
  h.run(30_000);
  assert.equal(h.led, Led.DISCONNECTED);
  assert.equal(h.server.requests.length, n, "nothing sent while the link is down");
  h.linkUp();
  h.run(200);
  assert.ok(h.server.requests.length > n, "work resumed at once");
  h.run(11_000);
  assert.equal(h.led, Led.HEALTHY);
});

test("the LED never shows Healthy while renewals fail for longer than the lease duration", async () => {
  const h = await running();
  h.run(11_000);
  h.server.fault({ match: (r) => r.path === LEASE, action: { kind: "status", status: 500 }, times: Infinity });
  const faultAt = h.now;
  h.run(10_000);
  assert.equal(h.led, Led.WARNING, "repeated renewal failures show Warning");
  h.run(45_000);
  assert.equal(h.led, Led.WARNING);
  assert.ok(!h.leds.some((l) => l.at >= faultAt + 10_000 && l.pattern === Led.HEALTHY), "never Healthy meanwhile");
  const ready = h.server.seen("PATCH", STATUS).length;
  assert.ok(ready >= 2, "Ready=False was pushed when renewals kept failing");
  assert.equal(cond(h, "Ready").status, "False");
  h.server.faults.length = 0;
  h.run(15_000);
  assert.equal(h.led, Led.HEALTHY);
  assert.equal(cond(h, "Ready").status, "True");
});
