/**
 * Pod theater against the real control plane, the node as `system:node:<name>`: a Deployment rolls out,
 * a Job completes, a pod that does not fit is refused, deletion and drain return promptly, and a restart
 * of the node keeps its pods. Brain pods (runtimeClassName picokubelet-brain, docs/brain.md): a DaemonSet in
 * picokubelet-system is held and waits with its reason, one elsewhere is refused as BrainNotTrusted.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync, mkdtempSync } from "node:fs";
import { ROOT } from "../support/core-harness.js";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventually, kubectl, nodeName, removeNode, runNode } from "./support.js";
import type { SimNode } from "../../host-sim/src/index.js";

const nodes: SimNode[] = [];
const names: string[] = [];
const dir = mkdtempSync(join(tmpdir(), "pk-pods-"));

after(async () => {
  for (const n of nodes) await n.stop().catch(() => {});
  for (const name of names) {
    await kubectl(["delete", "namespace", `ns-${name}`, "--ignore-not-found", "--wait=false"]).catch(() => {});
    await removeNode(name);
  }
});

async function node(what: string, capacity = "1"): Promise<string> {
  const name = nodeName(what);
  names.push(name);
  nodes.push(await runNode(name, { coreConfig: { renewIntervalMs: 2000, capacity: { cpu: "240m", memory: "320Ki", pods: capacity } } }));
  await kubectl(["wait", "--for=condition=Ready", `node/${name}`, "--timeout=60s"]);
  await kubectl(["create", "namespace", `ns-${name}`]);
  return name;
}

function apply(name: string, doc: any): Promise<any> {
  const f = join(dir, `${name}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(f, JSON.stringify(doc));
  return kubectl(["apply", "-f", f]);
}

/** A pod template that lands on `node`: the node's taint tolerated, its hostname selected. */
function template(node: string, labels: Record<string, string>, extra: any = {}): any {
  return {
    metadata: { labels, ...(extra.metadata ?? {}) },
    spec: {
      nodeSelector: { "kubernetes.io/hostname": node },
      tolerations: [{ key: "picokubelet.dev/no-containers", operator: "Exists" }],
      containers: [{ name: "app", image: "registry.example/doom:1.0" }],
      terminationGracePeriodSeconds: 5,
      ...(extra.spec ?? {}),
    },
  };
}

test("a Deployment rolls out onto the node: Running 1/1, events in describe, delete is prompt, drain empties it", async () => {
  const name = await node("deploy");
  const ns = `ns-${name}`;
  await apply(name, {
    apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "doom", namespace: ns },
    spec: { replicas: 1, selector: { matchLabels: { app: "doom" } }, template: template(name, { app: "doom" }) },
  });
  await kubectl(["-n", ns, "rollout", "status", "deployment/doom", "--timeout=90s"]);
  const wide = await kubectl(["-n", ns, "get", "pods", "-o", "wide", "--no-headers"]);
  assert.match(wide, /doom-\S+\s+1\/1\s+Running\s+0\s+\S+\s+<none>\s+/, wide);
  assert.ok(wide.includes(name), wide);
  const pods = await kubectl(["-n", ns, "get", "pods", "-o", "json"]);
  const pod = pods.items[0];
  const nodeObj = await kubectl(["get", "node", name, "-o", "json"]);
  const internal = nodeObj.status.addresses.find((a: any) => a.type === "InternalIP").address;
  assert.equal(pod.status.hostIP, internal, "hostIP is the node's InternalIP");
  assert.match(pod.status.containerStatuses[0].containerID, /^lies:\/\//);
  const describe = await eventually("the kubelet's events in describe", async () => {
    const d: string = await kubectl(["-n", ns, "describe", "pod", pod.metadata.name]);
    return ["Pulling", "Pulled", "Created", "Started"].every((r) => new RegExp(`Normal\\s+${r}\\s+.*kubelet`).test(d)) ? d : null;
  }, 20_000);
  // kubectl v1.36 prefixes the message with the event's fieldPath; v1.31 does not.
  assert.match(describe, /Started\s+\S+\s+kubelet\s+(spec\.containers\{app\}: )?Container started/);
  // kubectl delete pod returns within a few seconds, and the ReplicaSet's replacement runs.
  const t0 = Date.now();
  await kubectl(["-n", ns, "delete", "pod", pod.metadata.name, "--timeout=30s"]);
  assert.ok(Date.now() - t0 < 10_000, `delete took ${Date.now() - t0} ms`);
  await kubectl(["-n", ns, "rollout", "status", "deployment/doom", "--timeout=60s"]);
  // drain evicts it (and cordons the node).
  await kubectl(["drain", name, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=60s"]);
  const left = await kubectl(["-n", ns, "get", "pods", "--field-selector", `spec.nodeName=${name}`, "-o", "json"]);
  assert.equal(left.items.length, 0, "drained");
});

test("a Job completes; a second pod beyond pods: 1 is refused with OutOfpods; an unfitting one with OutOfmemory", async () => {
  const name = await node("job");
  const ns = `ns-${name}`;
  await apply(name, {
    apiVersion: "batch/v1", kind: "Job", metadata: { name: "once", namespace: ns },
    spec: { backoffLimit: 0, template: template(name, { job: "once" }, { metadata: { annotations: { "picokubelet.dev/script": "run=3s" } }, spec: { restartPolicy: "Never" } }) },
  });
  await kubectl(["-n", ns, "wait", "--for=condition=complete", "job/once", "--timeout=60s"]);
  const running = { apiVersion: "v1", kind: "Pod", metadata: { name: "first", namespace: ns }, spec: { ...template(name, {}).spec, nodeName: name, nodeSelector: undefined } };
  await apply(name, running);
  await eventually("first Running", async () => (await kubectl(["-n", ns, "get", "pod", "first", "-o", "json"])).status.phase === "Running", 30_000);
  await apply(name, { ...running, metadata: { name: "second", namespace: ns } });
  const second = await eventually("second refused", async () => {
    const p = await kubectl(["-n", ns, "get", "pod", "second", "-o", "json"]);
    return p.status.phase === "Failed" ? p : null;
  }, 30_000);
  assert.equal(second.status.reason, "OutOfpods");
  await kubectl(["-n", ns, "delete", "pod", "first", "--timeout=30s"]);
  await apply(name, { ...running, metadata: { name: "big", namespace: ns }, spec: { ...running.spec, containers: [{ name: "app", image: "x", resources: { requests: { memory: "1Gi" } } }] } });
  const big = await eventually("big refused", async () => {
    const p = await kubectl(["-n", ns, "get", "pod", "big", "-o", "json"]);
    return p.status.phase === "Failed" ? p : null;
  }, 30_000);
  assert.equal(big.status.reason, "OutOfmemory");
  const events = await kubectl(["-n", ns, "get", "events", "--field-selector", "reason=OutOfpods", "-o", "json"]);
  assert.equal(events.items[0]?.type, "Warning");
});

test("a restart of the node keeps its pods: adopted, restartCount up by one", async () => {
  const name = nodeName("reboot");
  names.push(name);
  const ns = `ns-${name}`;
  let n = await runNode(name, { coreConfig: { renewIntervalMs: 2000 } });
  await kubectl(["wait", "--for=condition=Ready", `node/${name}`, "--timeout=60s"]);
  await kubectl(["create", "namespace", ns]);
  await apply(name, { apiVersion: "v1", kind: "Pod", metadata: { name: "keep", namespace: ns }, spec: { ...template(name, {}).spec, nodeName: name, nodeSelector: undefined } });
  await eventually("Running", async () => (await kubectl(["-n", ns, "get", "pod", "keep", "-o", "json"])).status.phase === "Running", 30_000);
  await n.stop();
  n = await runNode(name, { coreConfig: { renewIntervalMs: 2000 } });
  nodes.push(n);
  const p = await eventually("restart counted", async () => {
    const p = await kubectl(["-n", ns, "get", "pod", "keep", "-o", "json"]);
    return p.status.containerStatuses?.[0]?.restartCount === 1 && p.status.phase === "Running" ? p : null;
  }, 30_000);
  assert.equal(p.status.containerStatuses[0].ready, true);
});

test("brain pods: a DaemonSet in picokubelet-system naming a brain the node cannot have waits with the reason, one in another namespace is BrainNotTrusted, deleting the DaemonSet is prompt", async () => {
  // pods: 2, since the scheduler counts a brain pod against the node's pods like any other (the node does not).
  const name = await node("brain", "2");
  const ns = `ns-${name}`;
  await kubectl(["apply", "-f", join(ROOT, "deploy", "runtimeclass-brain.yaml")]);
  await apply(name, { apiVersion: "v1", kind: "Namespace", metadata: { name: "picokubelet-system" } });
  const ds = (namespace: string): any => ({
    apiVersion: "apps/v1", kind: "DaemonSet", metadata: { name: `brain-${name}`, namespace },
    spec: {
      selector: { matchLabels: { brain: name } },
      template: template(name, { brain: name }, {
        spec: { runtimeClassName: "picokubelet-brain", containers: [{ name: "brain", image: "127.0.0.1:5000/picokubelet/brain:v2" }] },
      }),
    },
  });
  await apply(name, ds("picokubelet-system"));
  await apply(name, ds(ns));
  const podOf = async (namespace: string): Promise<any> => {
    const list = await kubectl(["-n", namespace, "get", "pods", "-l", `brain=${name}`, "-o", "json"]);
    return list.items[0] ?? null;
  };
  // The image is not in the registry and the pod has no pull secret for it (the local registry wants
  // credentials): the pull fails, or the host has no brain operations at all. Either way it says so.
  const WAITING = ["ErrImagePull", "ImagePullBackOff", "BrainSwapUnsupported"];
  const held = await eventually("the trusted brain pod waits with a reason", async () => {
    const p = await podOf("picokubelet-system");
    return WAITING.includes(p?.status?.containerStatuses?.[0]?.state?.waiting?.reason) ? p : null;
  }, 60_000);
  assert.equal(held.spec.nodeName, name);
  assert.equal(held.status.phase, "Pending");
  const why = held.status.containerStatuses[0].state.waiting;
  assert.match(why.message, why.reason === "BrainSwapUnsupported" ? /keeps running its own brain/ : /127\.0\.0\.1:5000/);
  assert.equal(held.status.conditions.find((c: any) => c.type === "Ready")?.status, "False");
  const rogue = await eventually("the untrusted brain pod refused", async () => {
    const p = await podOf(ns);
    return p?.status?.phase === "Failed" ? p : null;
  }, 60_000);
  assert.equal(rogue.status.reason, "BrainNotTrusted");
  assert.match(rogue.status.message, /^Pod was rejected: brain pods are only honoured from the namespaces this node trusts \(brainNamespaces: picokubelet-system\)$/);
  const warnings = await kubectl(["-n", "picokubelet-system", "get", "events", "--field-selector", `involvedObject.name=${held.metadata.name}`, "-o", "json"]);
  const fromNode = warnings.items.filter((e: any) => e.source?.component === "kubelet");
  const seen = fromNode.map((e: any) => e.reason);
  assert.ok(seen.includes(why.reason === "BrainSwapUnsupported" ? "BrainSwapUnsupported" : "Failed"), `the node's events: ${seen}`);
  assert.ok(!seen.includes("Started") && !seen.includes("Created"), `nothing started: ${seen}`);
  // Deleting the DaemonSet deletes its pod; the node has nothing to stop and lets it go at once.
  await kubectl(["-n", ns, "delete", "daemonset", `brain-${name}`, "--wait=false"]);
  await kubectl(["-n", "picokubelet-system", "delete", "daemonset", `brain-${name}`, "--cascade=foreground", "--timeout=30s"]);
  await eventually("the brain pod gone", async () => (await podOf("picokubelet-system")) === null, 30_000);
  assert.equal((await kubectl(["get", "node", name, "-o", "json"])).status.conditions.find((c: any) => c.type === "Ready")?.status, "True");
});
