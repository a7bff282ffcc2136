/**
 * A rolling brain upgrade across a rack, against the real control plane (the DaemonSet controller, the
 * scheduler, the node lifecycle controller) and its registry: 8 host-sim nodes trusting one brain key.
 * A DaemonSet naming brain v2 by digest swaps every node live (same bootID, kubeletVersion 0.2.0, the pod
 * Running with imageID = the digest) while a watcher samples every Node and Lease about once a second: Ready
 * never leaves True nor re-transitions, and no Lease goes stale beyond one renew period and an allowance.
 * Updating the DaemonSet to v3 (traps at start) is rolled back by the first node it reaches; the DaemonSet
 * controller (maxUnavailable 1) then stops, with the rest of the rack on v2. A brain that never renews (v4)
 * on one node is rolled back with BrainNotRenewing, the node Ready throughout.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { readFileSync } from "node:fs";
import { cluster, eventually, holdsFor, kubectl, removeNode, runNode } from "./support.js";
import { apply, BRAIN_NS, brainNamespace, localRegistry } from "./brain-setup.js";
import { adminApi, loadCluster } from "../host-sim/support/cluster.js";
import { push, type PushResult } from "../../host-sim/src/brain.js";
import type { SimNode } from "../../host-sim/src/index.js";
import { neverRenews, packageVersion, releaseWasm, trapsAtStart, withVersion } from "../host-sim/support/brains.js";

const NS = BRAIN_NS;
const COUNT = 8;
const RENEW_MS = 2000;
/** The longest a Lease's renewTime may be old at a sample: one renew period, a missed one, and 1 s for the sample's own latency. */
const STALE_MS = 2 * RENEW_MS + 1000;
const id = Math.random().toString(36).slice(2, 7);
const LABEL = "brain-rollout";
const names = Array.from({ length: COUNT }, (_, i) => `e2e-rollout-${id}-${i}`);
const DS = `brain-rollout-${id}`;
const APP = { app: `brain-rollout-${id}` };
const V4_POD = `brain-rollout-${id}-v4`;
const sims = new Map<string, SimNode>();
let watcher: Watcher | null = null;

after(async () => {
  await watcher?.stop();
  // The brain pods go first, while their nodes still run to let them go (a brain pod's DELETE is the node's).
  await kubectl(["-n", NS, "delete", "daemonset", DS, "--ignore-not-found", "--wait=false"]).catch(() => {});
  await kubectl(["-n", NS, "delete", "pod", V4_POD, "--ignore-not-found", "--wait=false"]).catch(() => {});
  await kubectl(["-n", NS, "delete", "pods", "-l", `app=${APP.app}`, "--ignore-not-found", "--wait=false"]).catch(() => {});
  await eventually("the test's brain pods gone", async () => (await pods()).length === 0 && !(await podOrNull(V4_POD)), 30_000).catch(() => {});
  for (const sim of sims.values()) await sim.stop().catch(() => {});
  for (const name of names) await removeNode(name);
});

const clusterInfo = loadCluster();

/** One admin GET, parsed; fails on anything but 200. */
async function get(path: string): Promise<any> {
  const r = await adminApi(clusterInfo, "GET", path);
  if (r.status !== 200) throw new Error(`GET ${path}: HTTP ${r.status} ${JSON.stringify(r.json)?.slice(0, 200)}`);
  return r.json;
}

async function rackNodes(): Promise<any[]> {
  return (await get(`/api/v1/nodes?labelSelector=${encodeURIComponent(`${LABEL}=${id}`)}`)).items;
}

/** The DaemonSet's pods (not the ones being deleted). */
async function pods(): Promise<any[]> {
  const list = (await get(`/api/v1/namespaces/${NS}/pods?labelSelector=${encodeURIComponent(`app=${APP.app}`)}`)).items as any[];
  return list.filter((p) => !p.metadata.deletionTimestamp);
}

async function podOrNull(name: string): Promise<any | null> {
  const r = await adminApi(clusterInfo, "GET", `/api/v1/namespaces/${NS}/pods/${name}`);
  return r.status === 200 ? r.json : null;
}

const ready = (n: any): any => (n.status?.conditions ?? []).find((c: any) => c.type === "Ready");
const status0 = (p: any): any => p?.status?.containerStatuses?.[0];
const waiting = (p: any): any => status0(p)?.state?.waiting;

function daemonSet(image: string): any {
  return {
    apiVersion: "apps/v1", kind: "DaemonSet", metadata: { name: DS, namespace: NS },
    spec: {
      selector: { matchLabels: APP },
      updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } },
      template: {
        metadata: { labels: APP },
        spec: {
          runtimeClassName: "picokubelet-brain", imagePullSecrets: [{ name: "brain-registry" }],
          nodeSelector: { [LABEL]: id },
          tolerations: [{ key: "picokubelet.dev/no-containers", operator: "Exists" }],
          containers: [{ name: "brain", image }],
        },
      },
    },
  };
}

/** The node's last log lines, for a failure message that says what the node saw. */
function logsOf(node: string): string {
  return `\n--- ${node}'s last log lines ---\n${sims.get(node)?.logs.join("\n") ?? "(no such node)"}`;
}

/**
 * Samples the rack's Nodes and Leases about once a second until stopped. A problem is any sample where a
 * Node is missing, not Ready=True, its Ready lastTransitionTime or bootID changed since the baseline, or a
 * Lease (but for the nodes in `staleAllowed`) older than STALE_MS. The ages are measured at the response, so
 * they include the request's latency: an upper bound.
 */
class Watcher {
  readonly problems: string[] = [];
  samples = 0;
  /** The oldest renewTime seen at a sample, by phase, over the nodes held to STALE_MS. */
  readonly worstAge = new Map<string, { ms: number; node: string; at: string }>();
  /** The longest interval between two consecutive renewTimes of one Lease, by phase. */
  readonly worstInterval = new Map<string, { ms: number; node: string; at: string }>();
  /** The same for the nodes in staleAllowed. */
  readonly exemptAge = new Map<string, { ms: number; node: string; at: string }>();
  phase = "v2";
  staleAllowed = new Set<string>();
  private readonly lastRenew = new Map<string, number>();
  private done = false;
  private readonly loop: Promise<void>;

  constructor(private readonly baseline: Map<string, { bootID: string; readySince: string }>) {
    this.loop = this.run();
  }

  private note(map: Map<string, { ms: number; node: string; at: string }>, ms: number, node: string): void {
    const w = map.get(this.phase);
    if (!w || ms > w.ms) map.set(this.phase, { ms, node, at: new Date().toISOString() });
  }

  private async run(): Promise<void> {
    while (!this.done) {
      const t0 = Date.now();
      try {
        const [nodes, leases] = await Promise.all([rackNodes(), get("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases")]);
        const at = Date.now();
        const stamp = new Date(at).toISOString();
        const byName = new Map(nodes.map((n) => [n.metadata.name, n]));
        for (const name of names) {
          const n = byName.get(name);
          const base = this.baseline.get(name)!;
          if (!n) { this.problems.push(`${stamp} [${this.phase}] Node ${name} not listed`); continue; }
          const r = ready(n);
          if (r?.status !== "True") this.problems.push(`${stamp} [${this.phase}] ${name} Ready=${r?.status} (${r?.reason}: ${r?.message})`);
          if (r?.lastTransitionTime !== base.readySince) this.problems.push(`${stamp} [${this.phase}] ${name} Ready lastTransitionTime ${base.readySince} -> ${r?.lastTransitionTime}`);
          if (n.status.nodeInfo.bootID !== base.bootID) this.problems.push(`${stamp} [${this.phase}] ${name} bootID ${base.bootID} -> ${n.status.nodeInfo.bootID}`);
        }
        const leaseOf = new Map((leases.items as any[]).map((l) => [l.metadata.name, l]));
        for (const name of names) {
          const renew = Date.parse(leaseOf.get(name)?.spec?.renewTime ?? "");
          if (Number.isNaN(renew)) { this.problems.push(`${stamp} [${this.phase}] Lease ${name} missing or without renewTime`); continue; }
          const age = at - renew;
          const prev = this.lastRenew.get(name);
          this.lastRenew.set(name, renew);
          if (this.staleAllowed.has(name)) { this.note(this.exemptAge, age, name); continue; }
          this.note(this.worstAge, age, name);
          if (prev !== undefined && renew > prev) this.note(this.worstInterval, renew - prev, name);
          if (age > STALE_MS) this.problems.push(`${stamp} [${this.phase}] Lease ${name} renewTime ${age} ms old (limit ${STALE_MS})`);
        }
        this.samples++;
      } catch (e) {
        this.problems.push(`${new Date().toISOString()} [${this.phase}] sample failed: ${(e as Error).message}`);
      }
      const left = 1000 - (Date.now() - t0);
      if (left > 0 && !this.done) await new Promise((r) => setTimeout(r, left));
    }
  }

  /** Fails with every problem seen so far. */
  assertClean(what: string): void {
    assert.deepEqual(this.problems, [], `${what}: every Node Ready=True with its lastTransitionTime and bootID unchanged, every Lease fresh`);
  }

  report(phase: string): string {
    const a = this.worstAge.get(phase);
    const i = this.worstInterval.get(phase);
    const e = this.exemptAge.get(phase);
    return `[${phase}] ${this.samples} samples so far; worst Lease renewTime age at a sample ${a ? `${a.ms} ms (${a.node} at ${a.at})` : "n/a"}` +
      `, longest interval between two renewals ${i ? `${i.ms} ms (${i.node})` : "n/a"} (limit ${STALE_MS} ms)` +
      (e ? `; the node allowed to go stale: ${e.ms} ms (${e.node} at ${e.at})` : "");
  }

  async stop(): Promise<void> {
    this.done = true;
    await this.loop;
  }
}

interface Brains { repo: string; v1: PushResult; v2: PushResult; v3: PushResult; v4: PushResult }
let brains: Brains | null = null;
/** The v2 pods by node after the first rollout. */
let v2Pods = new Map<string, any>();
/** The node the DaemonSet controller took v3 to. */
let v3Node: string | null = null;

test("8 nodes Ready; a DaemonSet naming brain v2 swaps every node live: Running with imageID, kubeletVersion 0.2.0, same bootID, Ready throughout, Leases fresh", async () => {
  const c = cluster();
  const reg = localRegistry();
  const key = crypto.generateKeyPairSync("ed25519");
  const oras = reg.oras;
  const repo = `${reg.address}/picokubelet/brain-rollout-${id}`;
  const release = releaseWasm();
  const signed = (tag: string, wasm: Buffer, version: string): PushResult =>
    push({ reference: `${repo}:${tag}`, wasm, version, revision: "e2e", key: key.privateKey, oras });
  // v1 is the core the rack boots with, published beside the others as a release line would be; the nodes run
  // it already, so nothing rolls out to it.
  brains = {
    repo,
    v1: signed("v1", release, packageVersion()),
    v2: signed("v2", withVersion(release, "0.2.0"), "0.2.0"),
    v3: signed("v3", trapsAtStart(withVersion(release, "0.3.0")), "0.3.0"),
    v4: signed("v4", neverRenews(withVersion(release, "0.4.0")), "0.4.0"),
  };
  const { v2 } = brains;

  await brainNamespace(reg);

  const registryCa = readFileSync(c.caFile);
  for (const name of names) {
    sims.set(name, await runNode(name, {
      labels: { [LABEL]: id }, keepLogs: 300, registryCa, brain: { publicKeys: [key.publicKey] },
      coreConfig: { renewIntervalMs: RENEW_MS, capacity: { cpu: "240m", memory: "320Ki", pods: "4" } },
    }));
  }
  // Ready, and the lifecycle controller's not-ready taint lifted (a DaemonSet pod does not tolerate its NoSchedule).
  let seen = "no Node listed yet";
  const joined = await eventually("the rack Ready without the not-ready taint", async () => {
    const list = await rackNodes();
    seen = list.map((n) => `${n.metadata.name} Ready=${ready(n)?.status} taints=${(n.spec?.taints ?? []).map((t: any) => t.key).join("+")}`).join("; ");
    return list.length === COUNT && list.every((n) => ready(n)?.status === "True" && !(n.spec?.taints ?? []).some((t: any) => t.key === "node.kubernetes.io/not-ready")) ? list : null;
  }, 90_000).catch((e) => { throw new Error(`${(e as Error).message}; last seen: ${seen}${logsOf(names[0])}`); });
  const baseline = new Map<string, { bootID: string; readySince: string }>();
  for (const n of joined) {
    assert.match(n.status.nodeInfo.kubeletVersion, new RegExp(`-picokubelet\\.${packageVersion().replace(/\./g, "\\.")}$`), "the rack starts on the release core");
    baseline.set(n.metadata.name, { bootID: n.status.nodeInfo.bootID, readySince: ready(n).lastTransitionTime });
  }

  const t0 = Date.now();
  watcher = new Watcher(baseline);
  await apply(daemonSet(`${repo}@${v2.digest}`));
  const running = await eventually("every node's v2 brain pod Running", async () => {
    const list = await pods();
    const byNode = new Map(list.map((p) => [p.spec.nodeName, p]));
    return list.length === COUNT && names.every((n) => byNode.get(n)?.status?.phase === "Running") ? byNode : null;
  }, 120_000);
  for (const name of names) {
    const cs = status0(running.get(name));
    assert.equal(cs.imageID, `${repo}@${v2.digest}`, `${name}'s brain pod imageID`);
    assert.equal(cs.ready, true, `${name}'s brain pod ready`);
  }
  v2Pods = running;
  const swapped = await eventually("every Node's kubeletVersion says 0.2.0", async () => {
    const list = await rackNodes();
    return list.length === COUNT && list.every((n) => /-picokubelet\.0\.2\.0$/.test(n.status.nodeInfo.kubeletVersion)) ? list : null;
  }, 30_000);
  for (const n of swapped) assert.equal(n.status.nodeInfo.bootID, baseline.get(n.metadata.name)!.bootID, `${n.metadata.name}: a swap, not a reboot`);
  for (const [name, sim] of sims) assert.equal(sim.brainState().running, v2.digest, `${name} runs v2${logsOf(name)}`);
  const rolledOut = Date.now() - t0;
  // The rollout is done once every swap has proved itself (3 renewals after it), and a later roll-back
  // goes to the last proven brain: v3 must find v2 proven everywhere. The watcher covers the probation too.
  await eventually("every node's v2 brain proven", () => [...sims.values()].every((s) => !s.brainState().proving), 30_000);
  console.log(`v2 Running on ${COUNT} nodes ${rolledOut} ms after the DaemonSet was applied, proven everywhere after ${Date.now() - t0} ms; ${watcher.report("v2")}`);
  watcher.assertClean("the v2 rollout");
});

test("v3 (traps at start) through the DaemonSet: the first node rolls back (CrashLoopBackOff, BrainCrashed) and the rollout stops there, the rest on v2, every node Ready", async () => {
  assert.ok(brains && watcher && v2Pods.size === COUNT && [...sims.values()].every((s) => !s.brainState().proving), "the v2 rollout did not complete");
  const { repo, v2, v3 } = brains;
  watcher.phase = "v3";
  await apply(daemonSet(`${repo}@${v3.digest}`));

  const crashed = await eventually("a v3 brain pod showing the roll-back", async () => {
    const p = (await pods()).find((x) => x.spec.containers[0].image === `${repo}@${v3.digest}`);
    return waiting(p)?.reason === "CrashLoopBackOff" ? p : null;
  }, 90_000);
  v3Node = crashed.spec.nodeName as string;
  assert.ok(names.includes(v3Node), `the v3 pod is on a rack node (${v3Node})`);
  assert.match(waiting(crashed).message, new RegExp(`brain ${v3.digest} rolled back: BrainCrashed`), logsOf(v3Node));
  assert.ok(status0(crashed).restartCount >= 1, `restartCount ${status0(crashed).restartCount}`);
  assert.equal(sims.get(v3Node)!.brainState().running, v2.digest, `${v3Node} runs v2 again${logsOf(v3Node)}`);

  // What the DaemonSet controller does with maxUnavailable 1: it replaced one node's pod, and since that new pod
  // never becomes Ready (its brain was rolled back) the one unavailable pod it may have is used up, so it
  // goes no further: the other 7 nodes keep their v2 pods (the same ones) Running.
  const ds = await eventually("the DaemonSet's status: 1 updated and unavailable, 7 available", async () => {
    const d = await get(`/apis/apps/v1/namespaces/${NS}/daemonsets/${DS}`);
    const s = d.status ?? {};
    return s.observedGeneration === d.metadata.generation && s.updatedNumberScheduled === 1 && s.numberUnavailable === 1 && s.numberAvailable === COUNT - 1 ? d : null;
  }, 30_000);
  assert.equal(ds.status.desiredNumberScheduled, COUNT);
  const stillOnV2 = async (): Promise<void> => {
    const list = await pods();
    assert.equal(list.length, COUNT, `one brain pod per node: ${list.map((p) => `${p.metadata.name}@${p.spec.nodeName}`).join(", ")}`);
    for (const p of list) {
      if (p.spec.nodeName === v3Node) {
        assert.equal(p.metadata.uid, crashed.metadata.uid, `${v3Node} keeps its v3 pod`);
        assert.equal(waiting(p)?.reason, "CrashLoopBackOff");
        continue;
      }
      const old = v2Pods.get(p.spec.nodeName);
      assert.equal(p.metadata.uid, old?.metadata.uid, `${p.spec.nodeName} keeps its v2 pod (the rollout went no further)`);
      assert.equal(p.status.phase, "Running");
      assert.equal(status0(p).imageID, `${repo}@${v2.digest}`);
    }
  };
  // Nothing further happens: the controller had the roll-back in its status already, so a few seconds show it stays.
  await holdsFor("the rollout stopped at one node", stillOnV2, 3_000);

  for (const n of await rackNodes()) assert.match(n.status.nodeInfo.kubeletVersion, /-picokubelet\.0\.2\.0$/, `${n.metadata.name} still says 0.2.0`);
  for (const [name, sim] of sims) assert.equal(sim.brainState().running, v2.digest, `${name} runs v2${logsOf(name)}`);
  console.log(`v3 rolled back on ${v3Node}; ${watcher.report("v3")}`);
  watcher.assertClean("the v3 roll-back");
});

test("v4 (never renews) on one node, a single brain pod: rolled back with BrainNotRenewing, the node Ready throughout", async () => {
  assert.ok(brains && watcher && v3Node, "the v3 step did not complete");
  const { repo, v2, v4 } = brains;
  await kubectl(["-n", NS, "delete", "daemonset", DS, "--wait=true", "--timeout=30s"]);
  // The garbage collector deletes the pods; each brain pod is let go by its node (DELETE, grace 0), which keeps its brain.
  await eventually("the DaemonSet's pods gone", async () => (await get(`/api/v1/namespaces/${NS}/pods?labelSelector=${encodeURIComponent(`app=${APP.app}`)}`)).items.length === 0, 30_000);

  const target = names.find((n) => n !== v3Node)!;
  // The node on v4 sends nothing for up to 3 renew periods before its host rolls it back: its Lease is allowed
  // to go stale (Ready must still hold, the node monitor grace period being longer); every other node's may not.
  watcher.phase = "v4";
  watcher.staleAllowed.add(target);
  await apply({
    apiVersion: "v1", kind: "Pod", metadata: { name: V4_POD, namespace: NS },
    spec: {
      nodeName: target, runtimeClassName: "picokubelet-brain", imagePullSecrets: [{ name: "brain-registry" }],
      tolerations: [{ key: "picokubelet.dev/no-containers", operator: "Exists" }],
      containers: [{ name: "brain", image: `${repo}@${v4.digest}` }],
    },
  });
  const back = await eventually("the v4 brain pod showing the roll-back", async () => {
    const p = await podOrNull(V4_POD);
    return waiting(p)?.reason === "CrashLoopBackOff" ? p : null;
  }, 90_000).catch((e) => { throw new Error(`${(e as Error).message}${logsOf(target)}`); });
  assert.match(waiting(back).message, new RegExp(`brain ${v4.digest} rolled back: BrainNotRenewing`), logsOf(target));
  assert.ok(status0(back).restartCount >= 1, `restartCount ${status0(back).restartCount}`);
  assert.equal(sims.get(target)!.brainState().running, v2.digest, `${target} runs v2 again${logsOf(target)}`);
  assert.equal(sims.get(target)!.brainState().reason, "BrainNotRenewing");
  // The restored v2 renews the target's Lease again.
  const rolledBackAt = Date.now();
  await eventually(`${target}'s Lease renewed after the roll-back`, async () => {
    const l = await get(`/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${target}`);
    return Date.parse(l.spec.renewTime) >= rolledBackAt - 1000;
  }, 3 * RENEW_MS);
  const n = (await rackNodes()).find((x) => x.metadata.name === target);
  assert.match(n.status.nodeInfo.kubeletVersion, /-picokubelet\.0\.2\.0$/, `${target} still says 0.2.0`);
  console.log(`v4 rolled back on ${target}; ${watcher.report("v4")}`);
  await watcher.stop();
  watcher.assertClean("the v4 roll-back");
});
