/**
 * A DaemonSet across a rack against the real control plane: 8 host-sim nodes in this process, each joined as
 * `system:node:<name>` with its own client certificate and carrying a label the rack gives all of them. A
 * DaemonSet that tolerates the node's `picokubelet.dev/no-containers` taint and selects that label rolls out
 * (`kubectl rollout status`), one pod Running 1/1 on each node; a rolling update (an annotation changed in
 * the template) replaces every pod: the old ones are killed and deleted by their node, the new ones run, and
 * no node is NotReady at any sample meanwhile.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../support/core-harness.js";
import { CLUSTER_DIR, cluster, eventually, kubectl, removeNode } from "./support.js";
import { loadCredentials, silentLogger, startRack, type Rack } from "../../host-sim/src/index.js";

const COUNT = 8;
const prefix = `e2e-ds-${Math.random().toString(36).slice(2, 7)}-`;
const names = Array.from({ length: COUNT }, (_, i) => `${prefix}${i}`);
/** The label the rack gives every node; the DaemonSet selects it. */
const RACK_LABEL = "picokubelet.dev/rack";
const rackValue = prefix.slice(0, -1);
const ns = `ns-${rackValue}`;
const dir = mkdtempSync(join(tmpdir(), "pk-ds-"));
let rack: Rack | null = null;

after(async () => {
  // The DaemonSet's pods go first, while the nodes still run to let them go; then the nodes and leases.
  await kubectl(["delete", "namespace", ns, "--ignore-not-found", "--timeout=60s"]).catch(() => {});
  if (rack) await rack.stop({ cleanup: true }).catch(() => {});
  for (const name of names) await removeNode(name);
  rmSync(dir, { recursive: true, force: true });
});

function apply(doc: any): Promise<any> {
  const f = join(dir, `${doc.kind}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(f, JSON.stringify(doc));
  return kubectl(["apply", "-f", f]);
}

function daemonSet(revision: string): any {
  return {
    apiVersion: "apps/v1", kind: "DaemonSet", metadata: { name: "agent", namespace: ns },
    spec: {
      selector: { matchLabels: { app: "agent" } },
      updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } },
      template: {
        metadata: { labels: { app: "agent" }, annotations: { "picokubelet.dev/revision": revision } },
        spec: {
          nodeSelector: { [RACK_LABEL]: rackValue },
          tolerations: [{ key: "picokubelet.dev/no-containers", operator: "Exists", effect: "NoSchedule" }],
          containers: [{ name: "agent", image: "registry.example/agent:1.0" }],
          terminationGracePeriodSeconds: 5,
        },
      },
    },
  };
}

/** The DaemonSet's pods, by node; fails when a node holds other than exactly one. */
async function onePodPerNode(): Promise<Map<string, any>> {
  const pods = (await kubectl(["-n", ns, "get", "pods", "-l", "app=agent", "-o", "json"])).items as any[];
  const byNode = new Map<string, any[]>();
  for (const p of pods) byNode.set(p.spec.nodeName ?? "<unbound>", [...(byNode.get(p.spec.nodeName ?? "<unbound>") ?? []), p]);
  const out = new Map<string, any>();
  for (const name of names) {
    const here = byNode.get(name) ?? [];
    assert.equal(here.length, 1, `${name} holds ${here.map((p) => p.metadata.name).join(", ") || "no pod"}`);
    out.set(name, here[0]);
  }
  assert.equal(pods.length, COUNT, `pods outside the rack: ${pods.map((p) => `${p.metadata.name}@${p.spec.nodeName}`).join(", ")}`);
  return out;
}

function runningReady(p: any): boolean {
  const cs = (p.status?.containerStatuses ?? []) as any[];
  return p.status?.phase === "Running" && !p.metadata.deletionTimestamp && cs.length === 1 && cs[0].ready === true && cs[0].state?.running !== undefined;
}

/** `kubectl get pods -o wide` shows each pod 1/1 Running on its own node of the rack. */
async function assertWide(): Promise<void> {
  const wide: string = await kubectl(["-n", ns, "get", "pods", "-l", "app=agent", "-o", "wide", "--no-headers"]);
  const lines = wide.trim().split("\n");
  assert.equal(lines.length, COUNT, wide);
  const seen = new Set<string>();
  for (const line of lines) {
    const f = line.trim().split(/\s+/);
    assert.equal(f[1], "1/1", line);
    assert.equal(f[2], "Running", line);
    const node = f.find((x) => names.includes(x));
    assert.ok(node, `no rack node in: ${line}`);
    seen.add(node);
  }
  assert.equal(seen.size, COUNT, wide);
}

/** Samples the rack's Nodes about once a second until stopped; records every sample a node was not Ready. */
function watchReadiness(): { stop: () => Promise<string[]> } {
  const notReady: string[] = [];
  let done = false;
  const loop = (async () => {
    while (!done) {
      const t = Date.now();
      const list = (await kubectl(["get", "nodes", "-l", `${RACK_LABEL}=${rackValue}`, "-o", "json"])).items as any[];
      if (list.length !== COUNT) notReady.push(`${new Date().toISOString()}: ${list.length} of ${COUNT} Nodes listed`);
      for (const n of list) {
        const ready = (n.status?.conditions ?? []).find((c: any) => c.type === "Ready");
        if (ready?.status !== "True") notReady.push(`${new Date().toISOString()}: ${n.metadata.name} Ready=${ready?.status} (${ready?.reason})`);
      }
      const left = 1000 - (Date.now() - t);
      if (left > 0 && !done) await new Promise((r) => setTimeout(r, left));
    }
  })();
  return { stop: async () => { done = true; await loop; return notReady; } };
}

test("a DaemonSet tolerating the taint rolls out to a rack of 8, one pod Running 1/1 each, and rolls over with no node NotReady", async () => {
  cluster();
  execFileSync(process.execPath, [join(ROOT, "tools/cluster.mjs"), "kubeconfig-for-node", "--prefix", prefix, "--count", String(COUNT), "--out-dir", dir, "--dir", CLUSTER_DIR], { stdio: "pipe" });
  const started = startRack({
    prefix, count: COUNT, rampPerSecond: 20, logger: silentLogger(), labels: { [RACK_LABEL]: rackValue },
    credentialsFor: (name) => loadCredentials({ kubeconfig: join(dir, `${name}.kubeconfig`) }),
  });
  rack = started.rack;
  await started.started;
  // Ready, and the lifecycle controller's not-ready taint lifted (a DaemonSet pod does not tolerate its NoSchedule).
  await eventually("the rack Ready without the not-ready taint", async () => {
    const list = (await kubectl(["get", "nodes", "-l", `${RACK_LABEL}=${rackValue}`, "-o", "json"])).items as any[];
    return list.length === COUNT && list.every((n) =>
      (n.status?.conditions ?? []).some((c: any) => c.type === "Ready" && c.status === "True") &&
      !(n.spec?.taints ?? []).some((t: any) => t.key === "node.kubernetes.io/not-ready"));
  }, 90_000);
  for (const n of (await kubectl(["get", "nodes", "-l", `${RACK_LABEL}=${rackValue}`, "-o", "json"])).items) {
    assert.ok(n.spec.taints.some((t: any) => t.key === "picokubelet.dev/no-containers" && t.effect === "NoSchedule"), `${n.metadata.name} has the no-containers taint`);
  }
  await kubectl(["create", "namespace", ns]);

  const readiness = watchReadiness();
  let notReady: string[] = [];
  try {
    await apply(daemonSet("1"));
    await kubectl(["-n", ns, "rollout", "status", "daemonset/agent", "--timeout=120s"]);
    const first = await eventually("one pod Running 1/1 on each node", async () => {
      const m = await onePodPerNode();
      return [...m.values()].every(runningReady) ? m : null;
    }, 30_000);
    await assertWide();
    for (const [node, p] of first) assert.equal(p.status.hostIP, (await kubectl(["get", "node", node, "-o", "json"])).status.addresses.find((a: any) => a.type === "InternalIP").address);

    // The rolling update: a new template annotation, so a new revision on every node.
    await apply(daemonSet("2"));
    await kubectl(["-n", ns, "rollout", "status", "daemonset/agent", "--timeout=180s"]);
    const second = await eventually("the new revision Running 1/1 on each node, the old pods gone", async () => {
      const m = await onePodPerNode();
      return [...m.values()].every((p) => runningReady(p) && p.metadata.annotations?.["picokubelet.dev/revision"] === "2") ? m : null;
    }, 30_000);
    await assertWide();
    const remaining = new Set(((await kubectl(["-n", ns, "get", "pods", "-o", "json"])).items as any[]).map((p) => p.metadata.uid));
    for (const [node, old] of first) {
      assert.ok(!remaining.has(old.metadata.uid), `old pod ${old.metadata.name} is gone`);
      assert.notEqual(second.get(node).metadata.uid, old.metadata.uid, `${node} runs a new pod`);
    }
    // The old pods were let go by their node: a Killing event from the kubelet on that node for each.
    const killing = ((await kubectl(["-n", ns, "get", "events", "--field-selector", "reason=Killing", "-o", "json"])).items as any[]);
    for (const [node, old] of first) {
      assert.ok(killing.some((e) => e.involvedObject?.uid === old.metadata.uid && e.source?.component === "kubelet" && e.source?.host === node),
        `a Killing event from ${node} for ${old.metadata.name}`);
    }
  } finally {
    notReady = await readiness.stop();
  }
  assert.deepEqual(notReady, [], "no rack node NotReady during the rollouts");

  // Deleting the DaemonSet lets every pod go (the nodes delete them), before the rack stops.
  await kubectl(["-n", ns, "delete", "daemonset", "agent", "--timeout=60s"]);
  await eventually("the DaemonSet's pods gone", async () => ((await kubectl(["-n", ns, "get", "pods", "-o", "json"])).items as any[]).length === 0, 60_000);
});
