/**
 * End to end against the real control plane (kube-apiserver with Node+RBAC authorization and
 * NodeRestriction, the node lifecycle controller, the garbage collector), each node running the release
 * core in host-sim as `system:node:<name>` with its own client certificate. Tests in this file run
 * concurrently, each with its own node.
 */
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { condition, eventually, getLease, getNode, holdsFor, kubectl, nodeName, removeNode, runNode } from "./support.js";
import { Phase, type SimNode } from "../../host-sim/src/index.js";

const nodes: { name: string; sim: SimNode }[] = [];
async function start(what: string, extra = {}): Promise<{ name: string; sim: SimNode }> {
  const name = nodeName(what);
  const sim = await runNode(name, extra);
  const n = { name, sim };
  nodes.push(n);
  await sim.waitForPhase(Phase.RUNNING, 30_000);
  return n;
}

after(async () => {
  for (const n of nodes) {
    await n.sim.stop({ timeoutMs: 5_000 }).catch(() => undefined);
    await removeNode(n.name);
  }
});

describe("a node on the real control plane", { concurrency: true }, () => {
  test("registers with the expected labels, taint, capacity, nodeInfo and addresses; holds a proper Lease", async () => {
    const { name } = await start("reg", { nodeIp: "127.0.0.7", labels: { rack: "r1" } });
    const node = await getNode(name);
    assert.ok(node, "node exists");
    const l = node.metadata.labels;
    assert.equal(l["kubernetes.io/hostname"], name);
    assert.equal(l["kubernetes.io/arch"], "xtensa-lx7");
    assert.equal(l["node.kubernetes.io/instance-type"], "esp32-s3-r8");
    assert.equal(l.rack, "r1");
    assert.ok(node.spec.taints.some((t: any) => t.key === "picokubelet.dev/no-containers" && t.effect === "NoSchedule"));
    assert.deepEqual(node.status.capacity, { cpu: "240m", memory: "320Ki", pods: "1" });
    assert.deepEqual(node.status.allocatable, node.status.capacity);
    assert.equal(node.status.nodeInfo.architecture, "xtensa-lx7");
    // Never newer than the API server (the version-skew policy): the server's own version, then ours.
    const server = JSON.parse(await kubectl(["get", "--raw", "/version"]));
    assert.match(node.status.nodeInfo.kubeletVersion, new RegExp(`^${server.gitVersion.replace(/[.+]/g, "\\$&")}-picokubelet\\.\\d+\\.\\d+\\.\\d+$`));
    assert.deepEqual(node.status.addresses, [{ type: "InternalIP", address: "127.0.0.7" }]);
    assert.equal(node.status.daemonEndpoints?.kubeletEndpoint?.Port ?? 0, 0, "no kubelet port advertised");
    const lease = await eventually("lease", async () => await getLease(name), 10_000);
    assert.equal(lease.spec.holderIdentity, name);
    assert.equal(lease.spec.leaseDurationSeconds, 40);
    assert.equal(lease.metadata.ownerReferences.length, 1);
    assert.deepEqual(
      { kind: lease.metadata.ownerReferences[0].kind, apiVersion: lease.metadata.ownerReferences[0].apiVersion, name: lease.metadata.ownerReferences[0].name, uid: lease.metadata.ownerReferences[0].uid },
      { kind: "Node", apiVersion: "v1", name, uid: node.metadata.uid },
    );
    const t0 = lease.spec.renewTime;
    const advanced = await eventually("renewTime advances", async () => {
      const l2 = await getLease(name);
      return l2 && l2.spec.renewTime > t0 ? l2 : null;
    }, 15_000);
    assert.match(advanced.spec.renewTime, /\.\d{6}Z$/);
    // kubectl describe shows every condition.
    const text = await kubectl(["describe", "node", name]);
    for (const t of ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable", "Vibes", "Caffeinated", "Existential", "Peckish", "Haunted"]) {
      assert.match(text, new RegExp(`\\n\\s+${t}\\s+(True|False|Unknown)\\s`), `describe shows ${t}`);
    }
  });

  test("stays Ready under the node lifecycle controller across three lease durations, reporting status infrequently", async () => {
    const { name } = await start("ready");
    await eventually("not-ready taint removed", async () => {
      const n = await getNode(name);
      return n && !(n.spec.taints ?? []).some((t: any) => t.key.startsWith("node.kubernetes.io/")) ? n : null;
    }, 20_000);
    const first = await getNode(name);
    const ready0 = condition(first, "Ready");
    // Three lease durations (40 s each) must pass for the lifecycle controller to have had its chance, so
    // this is a bounded window in which nothing may happen, sampled every 3 s rather than looked at once.
    const samples = await holdsFor("Ready without flips, heartbeats or unreachable taint", async () => {
      const n = await getNode(name);
      const r = condition(n, "Ready");
      assert.equal(r.status, "True", `Ready at ${new Date().toISOString()}`);
      assert.equal(r.lastTransitionTime, ready0.lastTransitionTime, "Ready never flipped");
      // Nothing flips in these two minutes, so the heartbeat is not rewritten (status period 5 min).
      assert.equal(r.lastHeartbeatTime, ready0.lastHeartbeatTime, "heartbeat not rewritten without a reason");
      assert.ok(!(n.spec.taints ?? []).some((t: any) => t.key.startsWith("node.kubernetes.io/unreachable")), "never unreachable");
    }, 125_000, 3_000);
    assert.ok(samples >= 30, `sampled ${samples} times in 125 s`);
  });

  test("a forced MemoryPressure flip reaches the API within one evaluation and moves only flipped transition times", async () => {
    const { name, sim } = await start("mem", { heap: "steady:free=65536,total=102400" });
    // The first status push (right after the Lease) and then the heap annotation are the last writes
    // before the node settles; once the annotation shows the steady heap, the conditions are the baseline.
    await sim.waitFor((st) => Number(st.statusPushes) >= 1, 20_000, "the first status push");
    const before = (await eventually("heap annotation of the steady heap", async () => {
      const n = await getNode(name);
      return n?.metadata?.annotations?.["node.specht.dev/heap-bytes-free"] === "65536" ? n : null;
    }, 20_000, 250)).status.conditions as any[];
    const t = Date.now();
    sim.setHeap(15_000, 102_400);
    const after = await eventually("MemoryPressure=True", async () => {
      const n = await getNode(name);
      return condition(n, "MemoryPressure")?.status === "True" ? n : null;
    }, 25_000, 250);
    const mp = condition(after, "MemoryPressure");
    // The flip is stamped at the evaluation that saw it: within one 10 s evaluation period of the change
    // (plus the anchored clock's sub-second uncertainty and the timestamp's whole-second rounding).
    const stampedAfter = Date.parse(mp.lastTransitionTime) - t;
    assert.ok(stampedAfter <= 12_000, `flip evaluated ${stampedAfter} ms after the heap changed`);
    assert.equal(mp.reason, "KubeletHasInsufficientMemory");
    for (const c of after.status.conditions) {
      const old = before.find((b) => b.type === c.type);
      if (c.status === old.status) assert.equal(c.lastTransitionTime, old.lastTransitionTime, `${c.type} did not flip, so its transition time stays`);
    }
    assert.notEqual(mp.lastTransitionTime, before.find((b) => b.type === "MemoryPressure").lastTransitionTime);
    for (const type of ["Ready", "DiskPressure", "PIDPressure", "NetworkUnavailable"]) {
      assert.equal(condition(after, type).lastTransitionTime, before.find((b) => b.type === type).lastTransitionTime);
    }
    // The annotation follows the push that carried the flip (its own PATCH, so it may land a little later).
    await eventually("heap annotation of the low heap", async () => (await getNode(name))?.metadata?.annotations?.["node.specht.dev/heap-bytes-free"] === "15000", 10_000, 250);
  });

  test("a link outage longer than the grace period turns Ready Unknown; the node recovers by itself", async () => {
    const { name, sim } = await start("outage");
    await eventually("not-ready taint removed", async () => {
      const n = await getNode(name);
      return n && !(n.spec.taints ?? []).some((t: any) => t.key === "node.kubernetes.io/not-ready") ? n : null;
    }, 20_000);
    sim.linkDown(40);
    await eventually("Ready=Unknown", async () => condition(await getNode(name), "Ready")?.status === "Unknown", 45_000, 1_000);
    const unknown = await getNode(name);
    assert.equal(condition(unknown, "Ready").reason, "NodeStatusUnknown");
    assert.ok((unknown.spec.taints ?? []).some((t: any) => t.key === "node.kubernetes.io/unreachable"));
    assert.equal(sim.stats().ledName, "DISCONNECTED");
    await eventually("Ready=True again", async () => condition(await getNode(name), "Ready")?.status === "True", 60_000, 1_000);
    await eventually("unreachable taint removed", async () => !((await getNode(name)).spec.taints ?? []).some((t: any) => t.key.startsWith("node.kubernetes.io/unreachable")), 20_000);
  });

  test("a deleted Lease is recreated", async () => {
    const { name } = await start("lease");
    const old = await eventually("lease", async () => await getLease(name), 10_000);
    await kubectl(["-n", "kube-node-lease", "delete", "lease", name]);
    const fresh = await eventually("lease recreated", async () => {
      const l = await getLease(name);
      return l && l.metadata.uid !== old.metadata.uid ? l : null;
    }, 25_000);
    assert.equal(fresh.metadata.ownerReferences[0].uid, (await getNode(name)).metadata.uid);
  });

  test("a deleted Node is registered again, with a Lease owned by the new uid", async () => {
    const { name } = await start("renode");
    const old = await getNode(name);
    await kubectl(["delete", "node", name]);
    const fresh = await eventually("node re-registered", async () => {
      const n = await getNode(name);
      return n && n.metadata.uid !== old.metadata.uid ? n : null;
    }, 40_000, 1_000);
    const lease = await eventually("lease owned by the new node", async () => {
      const l = await getLease(name);
      return l && l.metadata.ownerReferences?.[0]?.uid === fresh.metadata.uid ? l : null;
    }, 30_000, 1_000);
    assert.equal(lease.spec.holderIdentity, name);
    await eventually("Ready", async () => condition(await getNode(name), "Ready")?.status === "True", 20_000);
  });

  test("a rebooted node adopts its existing Node and Lease: same uid, new bootID, no duplicates", async () => {
    const name = nodeName("reboot");
    const first = await runNode(name);
    await first.waitForPhase(Phase.RUNNING, 30_000);
    const before = await getNode(name);
    await first.stop({ timeoutMs: 5_000 });
    const second = await runNode(name);
    nodes.push({ name, sim: second });
    await second.waitForPhase(Phase.RUNNING, 30_000);
    await second.waitFor((st) => Number(st.renewals) >= 1, 20_000, "a renewal after the reboot");
    const after = await getNode(name);
    assert.equal(after.metadata.uid, before.metadata.uid, "the same Node object");
    assert.notEqual(after.status.nodeInfo.bootID, before.status.nodeInfo.bootID, "the reboot is visible");
    const lease = await getLease(name);
    assert.equal(lease.metadata.ownerReferences.length, 1);
    assert.equal(lease.metadata.ownerReferences[0].uid, before.metadata.uid);
    assert.equal((await kubectl(["get", "nodes", "-o", "json"])).items.filter((n: any) => n.metadata.name === name).length, 1);
  });

  test("connection resets and a black-holed connection against the real API server are survived", async () => {
    const { name, sim } = await start("faults");
    await sim.waitFor((st) => Number(st.renewals) >= 1, 20_000, "first renewal");
    // Five resets, each of an open connection, each followed by the node opening a new one for its next
    // request (at most one renew period away).
    for (let i = 0; i < 5; i++) {
      await sim.waitFor((st) => st.host.openConnections >= 1, 15_000, `an open connection before reset ${i + 1}`);
      const c = Number(sim.stats().connects);
      assert.ok(sim.resetConnection() >= 1, `reset ${i + 1} hit a connection`);
      await sim.waitFor((st) => Number(st.connects) > c, 15_000, `a new connection after reset ${i + 1}`);
    }
    // A black hole longer than the request deadline: the renewal sent into it must fail (seen), and
    // renewals must resume on a fresh connection afterwards.
    const f0 = Number(sim.stats().renewFailures);
    sim.blackhole(12);
    await sim.waitFor((st) => Number(st.renewFailures) > f0, 30_000, "a renewal lost in the black hole");
    const r0 = Number(sim.stats().renewals);
    await sim.waitFor((st) => Number(st.renewals) >= r0 + 2, 40_000, "renewals after the faults");
    assert.equal(condition(await getNode(name), "Ready").status, "True");
    assert.ok(Number(sim.stats().connects) >= 7, "new connections were opened");
    assert.equal(sim.stats().ledName, "HEALTHY");
  });
});
