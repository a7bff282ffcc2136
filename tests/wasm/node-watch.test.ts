/**
 * The node informer through the ABI against the fake API server: the node watches its own Node and
 * answers what someone else does to it (a Ready=Unknown from "an admin" or the node lifecycle controller,
 * a removed condition, a deletion) at once, with transition times that are the time of the change.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { CoreHarness, Phase } from "../support/core-harness.js";

const NODE = "pico-test";
const STATUS = `/api/v1/nodes/${NODE}/status`;
const LEASE = `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${NODE}`;

function cond(h: CoreHarness, type: string): any {
  return h.server.nodes.get(NODE)?.status.conditions.find((c: any) => c.type === type);
}

/** The virtual wall clock (the fake's Date header) at harness time `at`. */
function wall(h: CoreHarness, at = h.now): number {
  return h.server.wallOffsetMs + at;
}

/** What the node lifecycle controller does to a node it thinks is gone. */
function markUnknown(h: CoreHarness, type = "Ready"): void {
  const stamp = new Date(wall(h)).toISOString().replace(/\.\d+Z$/, "Z");
  h.server.editNode(NODE, (n) => {
    const c = n.status.conditions.find((x: any) => x.type === type);
    Object.assign(c, { status: "Unknown", reason: "NodeStatusUnknown", message: "Kubelet stopped posting node status.", lastTransitionTime: stamp, lastHeartbeatTime: c.lastHeartbeatTime });
  });
}

test("the node watches its own Node with WatchList and a field selector on its name", async () => {
  const h = await CoreHarness.running();
  const gets = h.server.seen("GET", /^\/api\/v1\/nodes\?/).map((r) => r.path);
  assert.equal(gets.length, 1, gets.join("\n"));
  assert.match(gets[0], /^\/api\/v1\/nodes\?fieldSelector=metadata\.name%3Dpico-test&watch=1&allowWatchBookmarks=true&timeoutSeconds=(\d+)&sendInitialEvents=true&resourceVersionMatch=NotOlderThan$/);
  const timeout = Number(/timeoutSeconds=(\d+)/.exec(gets[0])![1]);
  assert.ok(timeout >= 300 && timeout <= 600, `timeoutSeconds ${timeout}`);
  assert.equal(h.server.nodeWatches.size, 1, "the watch is open");
  // Our own pushes come back as MODIFIED events and agree with us: no push is made because of them.
  const pushes = h.server.seen("PATCH", STATUS).length;
  h.run(120_000);
  assert.equal(h.server.seen("PATCH", STATUS).length, pushes, "no status push beyond the period");
});

test("Ready set to Unknown by an admin is corrected within seconds; lastTransitionTime is the recovery, not boot", async () => {
  const h = await CoreHarness.running();
  const boot = Date.parse(cond(h, "Ready").lastTransitionTime);
  h.run(90_000);
  const pushes = h.server.seen("PATCH", STATUS).length;
  const t0 = h.now;
  markUnknown(h);
  h.runUntil(() => cond(h, "Ready").status === "True", 10_000);
  assert.ok(h.now - t0 <= 2_000, `corrected after ${h.now - t0} ms`);
  assert.equal(h.server.seen("PATCH", STATUS).length, pushes + 1, "one push");
  const ready = cond(h, "Ready");
  assert.equal(ready.reason, "KubeletReady");
  const recovered = Date.parse(ready.lastTransitionTime);
  assert.ok(recovered >= wall(h, t0) - 1_000 && recovered <= wall(h) + 1_000, `lastTransitionTime ${ready.lastTransitionTime} is the recovery`);
  assert.ok(recovered > boot + 60_000, "not boot time");
  assert.equal(h.logged("the API server's Node has Ready=Unknown (we posted True); pushing status now").length, 1);
  // Later pushes keep the recovery time: it never goes back.
  h.heapFree = 10 * 1024;
  h.runUntil(() => cond(h, "MemoryPressure").status === "True", 20_000);
  assert.equal(Date.parse(cond(h, "Ready").lastTransitionTime), recovered);
  h.heapFree = 80 * 1024;
  h.run(400_000);
  assert.equal(Date.parse(cond(h, "Ready").lastTransitionTime), recovered, "the periodic push keeps it");
});

test("a removed condition is put back, an admin's later transition time is kept, and writers that undo ours do not make a loop", async () => {
  const h = await CoreHarness.running();
  h.run(30_000);
  h.server.editNode(NODE, (n) => (n.status.conditions = n.status.conditions.filter((c: any) => c.type !== "Vibes")));
  h.runUntil(() => cond(h, "Vibes") !== undefined, 5_000);
  assert.ok(h.logged("Vibes missing").length >= 1);
  // Same status, a later time someone else wrote: it stands (the server's lastTransitionTime never moves back).
  const later = new Date(wall(h) - 5_000).toISOString().replace(/\.\d+Z$/, "Z");
  h.server.editNode(NODE, (n) => (n.status.conditions.find((c: any) => c.type === "DiskPressure").lastTransitionTime = later));
  h.heapFree = 10 * 1024;
  h.runUntil(() => cond(h, "MemoryPressure").status === "True", 20_000);
  assert.equal(cond(h, "DiskPressure").lastTransitionTime, later);
  // Someone who sets Ready=Unknown again on every change gets one push per second at most.
  const pushes = h.server.seen("PATCH", STATUS).length;
  const stop = h.now + 10_000;
  const undo = setUndo(h, stop);
  markUnknown(h);
  h.run(10_000);
  undo();
  const n = h.server.seen("PATCH", STATUS).length - pushes;
  assert.ok(n >= 3 && n <= 12, `${n} pushes in 10 s`);
});

/** Answers every status push with Ready=Unknown (a writer that fights us) until `stop`. */
function setUndo(h: CoreHarness, stop: number): () => void {
  const api = h.server as any;
  const original = api.respond.bind(api);
  api.respond = (req: any, ctx: any) => {
    const out = original(req, ctx);
    if (h.now < stop && req.method === "PATCH" && req.path.startsWith(STATUS)) markUnknown(h);
    return out;
  };
  return () => (api.respond = original);
}

test("a deleted Node is registered again at once, without waiting for a renewal or a status push", async () => {
  const h = await CoreHarness.running();
  h.run(3_000);
  const creates = h.server.seen("POST", "/api/v1/nodes").length;
  const t0 = h.now;
  h.server.deleteNode(NODE);
  h.runUntil(() => h.server.nodes.has(NODE) && h.server.leases.size === 1 && h.phase === Phase.RUNNING, 10_000);
  assert.ok(h.now - t0 <= 2_000, `registered again after ${h.now - t0} ms`);
  assert.equal(h.server.seen("POST", "/api/v1/nodes").length, creates + 1);
  assert.ok(h.logged("was deleted; registering it again").length >= 1);
  // The new Node is watched and corrected like the first.
  h.run(5_000);
  markUnknown(h);
  h.runUntil(() => cond(h, "Ready").status === "True", 3_000);
});

test("a server without WatchList: the Node is listed, then watched; a list without it re-registers", async () => {
  const h = await CoreHarness.running({ server: { watchList: false } });
  const gets = h.server.seen("GET", /^\/api\/v1\/nodes\?/).map((r) => r.path);
  assert.equal(gets.length, 3, gets.join("\n"));
  assert.match(gets[0], /sendInitialEvents=true/);
  assert.equal(gets[1], "/api/v1/nodes?fieldSelector=metadata.name%3Dpico-test");
  assert.match(gets[2], /watch=1&allowWatchBookmarks=true&timeoutSeconds=\d+&resourceVersion=\d+$/);
  h.run(5_000);
  markUnknown(h);
  h.runUntil(() => cond(h, "Ready").status === "True", 3_000);
});

test("a renewal keeps its period while the node watch receives continuously, and a large Node costs no memory", async () => {
  const h = await CoreHarness.running({ server: { nodePadding: 200_000 } });
  const mem = h.memoryBytes;
  const since = h.server.seen("PATCH", LEASE).length;
  const pushes = h.server.seen("PATCH", STATUS).length;
  // Someone annotates the Node four times a second for a minute; every event carries 200 KB of managedFields.
  for (let i = 0; i < 240; i++) {
    h.server.editNode(NODE, (n) => ((n.metadata.annotations ??= {})["example.com/tick"] = String(i)));
    h.run(250);
  }
  const renews = h.server.seen("PATCH", LEASE).slice(since);
  assert.ok(renews.length >= 5, `renewals: ${renews.length}`);
  for (let i = 1; i < renews.length; i++) assert.ok(renews[i].at - renews[i - 1].at <= 10_500, `gap ${renews[i].at - renews[i - 1].at}`);
  assert.equal(h.server.seen("PATCH", STATUS).length, pushes, "annotations are not ours to answer");
  assert.ok(h.memoryBytes <= mem + 64 * 1024, `memory ${mem} -> ${h.memoryBytes}`);
  // Changed taints and labels are noted, not undone.
  h.server.editNode(NODE, (n) => (n.spec.taints = [{ key: "example.com/admin", effect: "NoSchedule" }]));
  h.run(1_000);
  assert.equal(h.logged("taints differ from the configuration; they are set when the Node is created only").length, 1);
  assert.deepEqual(h.server.nodes.get(NODE).spec.taints, [{ key: "example.com/admin", effect: "NoSchedule" }]);
});
