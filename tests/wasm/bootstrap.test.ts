/** Bootstrap through the ABI: anchoring, registration (create and adopt), lease creation, first status. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { CoreHarness, Led, Phase, Stat } from "../support/core-harness.js";

test("a fresh node anchors, registers, creates its lease and pushes status", async () => {
  const h = await CoreHarness.create();
  assert.equal(h.startResult, 0);
  h.runUntil(() => h.phase === Phase.RUNNING, 5_000);
  const s = h.server;
  const order = s.requests.map((r) => `${r.method} ${r.path}`);
  assert.deepEqual(order.slice(0, 3), [
    "GET /version",
    "POST /api/v1/nodes",
    "POST /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
  ]);
  const node = s.nodes.get("pico-test");
  assert.ok(node, "node registered");
  assert.equal(node.metadata.labels["kubernetes.io/hostname"], "pico-test");
  assert.deepEqual(node.spec.taints, [{ key: "picokubelet.dev/no-containers", value: "true", effect: "NoSchedule" }]);
  // No Hostname address unless one is configured: the node name does not resolve (docs/kubelet-port.md).
  assert.deepEqual(node.status.addresses, [{ type: "InternalIP", address: "10.42.0.7" }]);
  assert.equal(node.status.nodeInfo.systemUUID, "00000000-0000-0000-0000-aabbcc001122");
  assert.match(node.status.nodeInfo.bootID, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(node.status.daemonEndpoints, undefined, "no kubelet port advertised");
  const lease = s.leases.get("pico-test");
  assert.deepEqual(lease.metadata.ownerReferences, [{ apiVersion: "v1", kind: "Node", name: "pico-test", uid: node.metadata.uid }]);
  assert.equal(lease.spec.leaseDurationSeconds, 40);
  // Headers of every request.
  for (const r of s.requests) {
    assert.equal(r.headers["host"], "127.0.0.1:6443");
    assert.equal(r.headers["authorization"], "Bearer t0ken");
    assert.match(r.headers["user-agent"], /^picokubelet\/0\.1\.0/);
    assert.equal(r.headers["accept"], "application/json");
  }
  // Then the initial status push and the annotation.
  h.run(1_000);
  assert.equal(s.seen("PATCH", "/api/v1/nodes/pico-test/status").length, 1);
  const ann = s.seen("PATCH", "/api/v1/nodes/pico-test");
  assert.equal(ann.length, 1);
  assert.equal(ann[0].headers["content-type"], "application/merge-patch+json");
  assert.equal(node.metadata.annotations["node.specht.dev/heap-bytes-free"], String(80 * 1024));
  const types = node.status.conditions.map((c: any) => c.type);
  assert.deepEqual(types, ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable", "Vibes", "Caffeinated", "Existential", "Peckish", "Haunted"]);
  // Three kept-alive connections served everything: the control lane and the stream lanes of the pod
  // watch and of the node's own Node.
  assert.equal(h.stat(Stat.CONNECTS), 3);
  assert.ok(h.leds.some((l) => l.pattern === Led.CONNECTING), "Connecting while registering");
  assert.equal(h.led, Led.HEALTHY, "Healthy once the Lease exists (its creation carried a renewTime)");
  h.run(11_000);
  assert.equal(h.stat(Stat.RENEWALS), 1);
  assert.equal(h.led, Led.HEALTHY);
  assert.ok(h.leds.some((l) => l.pattern === Led.ACTIVITY), "activity blip on renewal");
});

test("no timestamp is written before the clock is anchored", async () => {
  const h = await CoreHarness.create();
  h.server.fault({ match: (r) => r.path === "/version", action: { kind: "no-date" }, times: 3 });
  h.run(60_000);
  assert.ok(h.phase >= Phase.RUNNING);
  const versions = h.server.seen("GET", "/version");
  assert.equal(versions.length, 4, "retried until a Date header arrived");
  const firstWrite = h.server.requests.findIndex((r) => r.method !== "GET");
  assert.equal(firstWrite, 4, "nothing else was sent before anchoring");
  for (const r of h.server.requests) assert.ok(!r.body.includes("1970-"), "no epoch timestamps");
  assert.equal(h.logged("anchoring the clock failed").length, 3);
});

test("an existing node is adopted: GET, labels reconciled, lease taken over", async () => {
  const h = await CoreHarness.create({ config: { labels: { rack: "r2" } } });
  const s = h.server;
  s.nodes.set("pico-test", {
    apiVersion: "v1", kind: "Node",
    metadata: { name: "pico-test", uid: "old-uid-1", labels: { "kubernetes.io/hostname": "pico-test", stale: "yes" } },
    spec: { taints: [{ key: "picokubelet.dev/no-containers", value: "true", effect: "NoSchedule" }] },
    status: { addresses: [{ type: "InternalIP", address: "10.0.0.99" }], capacity: { cpu: "240m" }, nodeInfo: { bootID: "previous" } },
  });
  s.leases.set("pico-test", { metadata: { name: "pico-test", namespace: "kube-node-lease", uid: "l1" }, spec: { holderIdentity: "someone-else", leaseDurationSeconds: 15 } });
  h.runUntil(() => h.phase === Phase.RUNNING, 5_000);
  h.run(1_000);
  const order = s.requests.map((r) => `${r.method} ${r.path}`);
  assert.deepEqual(order.slice(1, 6), [
    "POST /api/v1/nodes",
    "GET /api/v1/nodes/pico-test",
    "PATCH /api/v1/nodes/pico-test",
    "POST /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
    "PATCH /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/pico-test",
  ]);
  const node = s.nodes.get("pico-test");
  assert.equal(node.metadata.labels.rack, "r2");
  assert.equal(node.metadata.labels.stale, "yes", "labels we do not own are left alone");
  // The first status push carries the static status because the stored one differed.
  assert.deepEqual(node.status.addresses.find((a: any) => a.type === "InternalIP"), { type: "InternalIP", address: "10.42.0.7" });
  assert.equal(node.status.capacity.memory, "320Ki");
  assert.notEqual(node.status.nodeInfo.bootID, "previous");
  const lease = s.leases.get("pico-test");
  assert.equal(lease.spec.holderIdentity, "pico-test");
  assert.equal(lease.spec.leaseDurationSeconds, 40);
  assert.deepEqual(lease.metadata.ownerReferences[0].uid, "old-uid-1");
  assert.equal(h.stat(Stat.REGISTRATIONS), 1);
});

test("a bad configuration is refused before anything is sent", async () => {
  const h = await CoreHarness.create({ configText: '{"nodeName":"Not Valid","apiHost":"127.0.0.1","bogus":1}' });
  assert.equal(h.startResult, 2);
  h.run(30_000);
  assert.equal(h.server.requests.length, 0);
  assert.equal(h.connects.length, 0);
  assert.equal(h.phase, Phase.FAILED);
  assert.equal(h.led, Led.WARNING);
  assert.ok(h.logged("RFC 1123").length === 1);
  assert.ok(h.logged("unknown key 'bogus'").length === 1);
});

test("kubeletVersion follows the API server's version, so the node is never newer than its server", async () => {
  for (const [server, want] of [
    ["v1.31.1+k3s1", "v1.31.1-picokubelet.0.1.0"],
    ["v1.36.3", "v1.36.3-picokubelet.0.1.0"],
    ["garbage", "v1.36.3-picokubelet.0.1.0"],
  ]) {
    const h = await CoreHarness.create();
    h.server.fault({ match: (r) => r.path === "/version", action: { kind: "status", status: 200, body: JSON.stringify({ major: "1", gitVersion: server }) }, times: 1 });
    h.runUntil(() => h.phase === Phase.RUNNING, 5_000);
    assert.equal(h.server.nodes.get("pico-test").status.nodeInfo.kubeletVersion, want, `server ${server}`);
  }
});
