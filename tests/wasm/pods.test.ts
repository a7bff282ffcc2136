/**
 * Pod theater through the ABI against the fake API server: the pod source (WatchList, and list-then-watch
 * for servers without it), admission, the lifecycle, status patches, events and deletion.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { CoreHarness, HostOp, Phase, Stat } from "../support/core-harness.js";

const LEASE = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/pico-test";

function pod(name: string, extra: any = {}): any {
  return {
    metadata: { name, namespace: "default", ...(extra.metadata ?? {}) },
    spec: { nodeName: "pico-test", containers: [{ name: "app", image: "nginx:1.27" }], ...(extra.spec ?? {}) },
  };
}

function cond(p: any, type: string): any {
  return (p.status.conditions ?? []).find((c: any) => c.type === type);
}

test("a pod bound to the node is admitted and shown Running 1/1 with the kubelet's status", async () => {
  const h = await CoreHarness.running();
  const watch = h.server.seen("GET", /^\/api\/v1\/pods\?/);
  assert.equal(watch.length, 1, "one watch");
  assert.match(watch[0].path, /fieldSelector=spec\.nodeName%3Dpico-test/);
  assert.match(watch[0].path, /watch=1&allowWatchBookmarks=true&timeoutSeconds=\d+&sendInitialEvents=true&resourceVersionMatch=NotOlderThan/);
  const p = h.server.addPod(pod("web"));
  h.runUntil(() => p.status.phase === "Running" && cond(p, "Ready")?.status === "True", 10_000);
  const cs = p.status.containerStatuses[0];
  assert.equal(cs.name, "app");
  assert.equal(cs.ready, true);
  assert.equal(cs.started, true);
  assert.equal(cs.restartCount, 0);
  assert.equal(cs.image, "nginx:1.27");
  assert.match(cs.imageID, /^lies:\/\/sha256:[0-9a-f]{32}$/);
  assert.match(cs.containerID, /^lies:\/\/[0-9a-f]{16}$/);
  assert.ok(cs.state.running.startedAt);
  assert.equal(p.status.hostIP, "10.42.0.7");
  assert.deepEqual(p.status.hostIPs, [{ ip: "10.42.0.7" }]);
  assert.equal(p.status.podIP, undefined, "no pod network: no pod IP");
  assert.equal(p.status.qosClass, "BestEffort");
  assert.ok(p.status.startTime);
  for (const t of ["PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready", "PodScheduled"]) {
    assert.equal(cond(p, t)?.status, "True", `${t} True`);
  }
  const reasons = h.server.events.filter((e) => e.involvedObject.kind === "Pod").map((e) => e.reason);
  assert.deepEqual(reasons, ["Pulling", "Pulled", "Created", "Started"]);
  const e = h.server.events.find((x) => x.reason === "Started");
  assert.equal(e.source.component, "kubelet");
  assert.equal(e.source.host, "pico-test");
  assert.equal(e.involvedObject.fieldPath, "spec.containers{app}");
  assert.equal(e.involvedObject.uid, p.metadata.uid);
  // Status is sent only when it changed: nothing more while it keeps running.
  const patches = h.server.seen("PATCH", "/api/v1/namespaces/default/pods/web/status").length;
  h.run(60_000);
  assert.equal(h.server.seen("PATCH", "/api/v1/namespaces/default/pods/web/status").length, patches);
  // Node events of the start.
  const nodeReasons = h.server.events.filter((x) => x.involvedObject.kind === "Node").map((x) => x.reason);
  assert.deepEqual(nodeReasons, ["Starting", "NodeHasSufficientMemory", "NodeReady"]);
  // MemoryPressure flips are node events too.
  h.heapFree = 10 * 1024;
  h.run(15_000);
  h.heapFree = 80 * 1024;
  h.run(15_000);
  const later = h.server.eventLog.map((x) => x.reason).filter((r) => r.startsWith("NodeHas"));
  assert.deepEqual(later, ["NodeHasSufficientMemory", "NodeHasInsufficientMemory", "NodeHasSufficientMemory"]);
  // The second NodeHasSufficientMemory is a repeat within ten minutes: counted on the first Event.
  assert.equal(h.server.events.find((x) => x.reason === "NodeHasSufficientMemory").count, 2);
});

test("under MemoryPressure a BestEffort pod is refused as Evicted unless it tolerates memory-pressure", async () => {
  const h = await CoreHarness.running({ heapFree: 10 * 1024, config: { capacity: { pods: "4" } } });
  h.run(11_000);
  const be = h.server.addPod(pod("be"));
  const tol = h.server.addPod(pod("tol", { spec: { tolerations: [{ key: "node.kubernetes.io/memory-pressure", operator: "Exists", effect: "NoSchedule" }] } }));
  const burst = h.server.addPod(pod("burst", { spec: { containers: [{ name: "app", image: "x", resources: { requests: { cpu: "10m" } } }] } }));
  h.runUntil(() => be.status.phase === "Failed" && tol.status.phase === "Running" && burst.status.phase === "Running", 10_000);
  assert.equal(be.status.reason, "Evicted");
  assert.equal(be.status.message, "Pod was rejected: The node had condition: [MemoryPressure]. ");
  assert.equal(burst.status.qosClass, "Burstable");
});

test("daemonSetPods: refuse turns DaemonSet pods away with a reason that says what to do", async () => {
  const h = await CoreHarness.running({ config: { daemonSetPods: "refuse" } });
  const ds = h.server.addPod(pod("kube-proxy-x", { metadata: { ownerReferences: [{ apiVersion: "apps/v1", kind: "DaemonSet", name: "kube-proxy", uid: "u", controller: true }] } }));
  h.runUntil(() => ds.status.phase === "Failed", 10_000);
  assert.equal(ds.status.reason, "DaemonSetRefused");
});

test("a Job-like pod runs its script and ends Succeeded; a failing one Failed", async () => {
  const h = await CoreHarness.running({ config: { capacity: { cpu: "240m", memory: "320Ki", pods: "2" } } });
  const ok = h.server.addPod(pod("job-ok", { spec: { restartPolicy: "Never" } }));
  const bad = h.server.addPod(pod("job-bad", { metadata: { annotations: { "picokubelet.dev/script": "run=3s,exit=2" } }, spec: { restartPolicy: "Never" } }));
  h.runUntil(() => ok.status.phase === "Succeeded" && bad.status.phase === "Failed", 30_000);
  assert.equal(ok.status.containerStatuses[0].state.terminated.exitCode, 0);
  assert.equal(ok.status.containerStatuses[0].state.terminated.reason, "Completed");
  assert.equal(bad.status.containerStatuses[0].state.terminated.exitCode, 2);
  assert.equal(bad.status.containerStatuses[0].state.terminated.reason, "Error");
  assert.equal(cond(ok, "Ready").reason, "PodCompleted");
});

test("a crashing Always pod goes through CrashLoopBackOff with the kubelet's 10 s doubling backoff", async () => {
  const h = await CoreHarness.running();
  const p = h.server.addPod(pod("crash", { metadata: { annotations: { "picokubelet.dev/script": "run=2s,exit=1" } } }));
  h.runUntil(() => (p.status.containerStatuses?.[0]?.restartCount ?? 0) >= 3, 120_000);
  const cs = p.status.containerStatuses[0];
  assert.equal(p.status.phase, "Running");
  // Identical events are counted on one Event, as the kubelet's correlator does.
  const backoffs = h.server.events.filter((e) => e.reason === "BackOff");
  assert.equal(backoffs.length, 1, "one BackOff Event");
  assert.ok(backoffs[0].count >= 2, `counted: ${backoffs[0].count}`);
  assert.equal(backoffs[0].type, "Warning");
  assert.ok(Date.parse(backoffs[0].lastTimestamp) > Date.parse(backoffs[0].firstTimestamp));
  // Restart times: immediately, then after 10 s, then after 20 s (plus the 2 s runs).
  const starts = h.server.eventLog.filter((e) => e.reason === "Started").map((e) => Date.parse(e.at));
  assert.ok(starts.length >= 4);
  assert.ok(starts[2] - starts[1] >= 11_000 && starts[2] - starts[1] <= 13_000, `second restart after ${starts[2] - starts[1]} ms`);
  assert.ok(starts[3] - starts[2] >= 21_000 && starts[3] - starts[2] <= 23_000, `third restart after ${starts[3] - starts[2]} ms`);
  assert.ok(cs.lastState.terminated, "lastState shows the previous run");
  h.runUntil(() => p.status.containerStatuses[0].state.waiting?.reason === "CrashLoopBackOff", 60_000);
  assert.match(p.status.containerStatuses[0].state.waiting.message, /^back-off \d+s restarting failed container=app pod=crash_default\(/);
});

test("a pod beyond the pods capacity is refused with OutOfpods, and one that does not fit with OutOfmemory", async () => {
  const h = await CoreHarness.running();
  const first = h.server.addPod(pod("first"));
  h.runUntil(() => first.status.phase === "Running", 10_000);
  const second = h.server.addPod(pod("second"));
  h.runUntil(() => second.status.phase === "Failed", 10_000);
  assert.equal(second.status.reason, "OutOfpods");
  assert.equal(second.status.message, "Pod was rejected: Node didn't have enough resource: pods, requested: 1, used: 1, capacity: 1");
  const warn = h.server.events.find((e) => e.reason === "OutOfpods");
  assert.equal(warn.type, "Warning");
  h.server.deletePod("default", "first", 0);
  h.run(2_000);
  const big = h.server.addPod(pod("big", { spec: { containers: [{ name: "app", image: "x", resources: { requests: { memory: "64Mi" } } }] } }));
  h.runUntil(() => big.status.phase === "Failed", 10_000);
  assert.equal(big.status.reason, "OutOfmemory");
});

test("admission: node selector, required affinity, NoExecute taints and the OS field", async () => {
  const h = await CoreHarness.running({ config: { capacity: { pods: "8" }, taints: [{ key: "dedicated", value: "pico", effect: "NoExecute" }] } });
  const sel = h.server.addPod(pod("sel", { spec: { nodeSelector: { "kubernetes.io/os": "linux" }, tolerations: [{ operator: "Exists" }] } }));
  const aff = h.server.addPod(pod("aff", { spec: { tolerations: [{ key: "dedicated", operator: "Exists" }], affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: "hardware", operator: "In", values: ["esp8266"] }] }, { matchFields: [{ key: "metadata.name", operator: "In", values: ["pico-test"] }] }] } } } } }));
  const taint = h.server.addPod(pod("taint"));
  const os = h.server.addPod(pod("os", { spec: { os: { name: "windows" }, tolerations: [{ operator: "Exists" }] } }));
  h.runUntil(() => [sel, taint, os].every((p) => p.status.phase === "Failed") && aff.status.phase === "Running", 10_000);
  assert.equal(sel.status.reason, "NodeAffinity");
  assert.equal(taint.status.reason, "TaintToleration");
  assert.match(taint.status.message, /untolerated taint \{dedicated: pico\}/);
  assert.equal(os.status.reason, "PodOSNotSupported");
});

test("deletion: Killing, a terminal status, then DELETE with grace 0 and the uid precondition", async () => {
  const h = await CoreHarness.running();
  const p = h.server.addPod(pod("web"));
  h.runUntil(() => p.status.phase === "Running", 10_000);
  h.server.deletePod("default", "web", 30);
  const t0 = h.now;
  h.runUntil(() => !h.server.pods.has("default/web"), 10_000);
  assert.ok(h.now - t0 <= 3_000, `gone after ${h.now - t0} ms`);
  const del = h.server.seen("DELETE", "/api/v1/namespaces/default/pods/web");
  assert.equal(del.length, 1);
  assert.deepEqual(JSON.parse(del[0].body), { kind: "DeleteOptions", apiVersion: "v1", gracePeriodSeconds: 0, preconditions: { uid: p.metadata.uid } });
  assert.ok(h.server.events.some((e) => e.reason === "Killing" && e.message === "Stopping container app"));
  assert.equal(p.status.phase, "Succeeded", "the terminal status landed before the delete");
});

test("a server without WatchList: list, then watch from the list's resourceVersion", async () => {
  const h = await CoreHarness.running({ server: { watchList: false } });
  const gets = h.server.seen("GET", /^\/api\/v1\/pods\?/).map((r) => r.path);
  assert.equal(gets.length, 3, gets.join("\n"));
  assert.match(gets[0], /sendInitialEvents=true/);
  assert.equal(gets[1], "/api/v1/pods?fieldSelector=spec.nodeName%3Dpico-test");
  assert.match(gets[2], /watch=1&allowWatchBookmarks=true&timeoutSeconds=\d+&resourceVersion=\d+$/);
  const p = h.server.addPod(pod("web"));
  h.runUntil(() => p.status.phase === "Running", 10_000);
  assert.ok(h.logged("pod watch: the API server does not offer WatchList").length === 1);
});

test("an ended watch resumes from its resourceVersion; 410 relists; a dead stream reconnects", async () => {
  const h = await CoreHarness.running();
  h.server.endWatches();
  h.run(1_000);
  let gets = h.server.seen("GET", /^\/api\/v1\/pods\?/).map((r) => r.path);
  assert.equal(gets.length, 2);
  assert.match(gets[1], /&resourceVersion=\d+$/, "resumed, not relisted");
  h.server.pushLine(JSON.stringify({ type: "ERROR", object: { kind: "Status", apiVersion: "v1", status: "Failure", code: 410, reason: "Expired" } }));
  h.server.endWatches();
  h.run(5_000);
  gets = h.server.seen("GET", /^\/api\/v1\/pods\?/).map((r) => r.path);
  assert.match(gets[gets.length - 1], /sendInitialEvents=true/, "relisted after 410");
  // A stream that falls silent (no bookmarks) past its progress deadline is abandoned and reopened.
  h.server.fault({ match: (r) => r.path.startsWith("/api/v1/pods?"), action: { kind: "silent" } });
  const before = h.stat(Stat.CONNECTS);
  h.server.endWatches();
  const renewsBefore = h.server.seen("PATCH", LEASE).length;
  h.run(200_000);
  assert.ok(h.stat(Stat.CONNECTS) > before, "a new connection for the stream");
  assert.ok(h.logged("stream silent").length >= 1);
  const renews = h.server.seen("PATCH", LEASE);
  assert.ok(renews.length - renewsBefore >= 19, "renewals kept their period meanwhile");
});

test("a renewal keeps its period while the watch receives continuously, and a 1 MiB pod costs no memory", async () => {
  const h = await CoreHarness.running({ config: { capacity: { pods: "4" } } });
  const mem = h.memoryBytes;
  const big = pod("big", { metadata: { annotations: { filler: "x".repeat(1 << 20) } }, spec: { containers: [{ name: "app", image: "nginx", env: [{ name: "A", value: "y".repeat(100_000) }] }] } });
  h.server.addPod(big);
  const since = h.server.seen("PATCH", LEASE).length;
  // A busy stream: 200 events of other nodes' noise, several KiB each, over 60 s.
  for (let i = 0; i < 60; i++) {
    for (let j = 0; j < 4; j++) h.server.pushLine(JSON.stringify({ type: "MODIFIED", object: pod(`other-${i}-${j}`, { metadata: { annotations: { n: "z".repeat(8_000) } }, spec: { nodeName: "elsewhere" } }) }));
    h.run(1_000);
  }
  const renews = h.server.seen("PATCH", LEASE).slice(since);
  assert.ok(renews.length >= 5, `renewals: ${renews.length}`);
  for (let i = 1; i < renews.length; i++) assert.ok(renews[i].at - renews[i - 1].at <= 10_500, `gap ${renews[i].at - renews[i - 1].at}`);
  assert.equal(big.status.phase, "Running");
  assert.ok(h.memoryBytes <= mem + 64 * 1024, `memory ${mem} -> ${h.memoryBytes}`);
  assert.ok(h.peakMemory <= 256 * 1024, `peak ${h.peakMemory}`);
});

test("after a reboot the bound pods are adopted and their restarts counted", async () => {
  const h = await CoreHarness.create({ link: false });
  const p = h.server.addPod(pod("web"));
  p.status = { phase: "Running", startTime: "2026-05-01T10:00:00Z", containerStatuses: [{ name: "app", restartCount: 2, ready: true }] };
  h.linkUp();
  h.runUntil(() => h.phase === Phase.RUNNING, 5_000);
  h.runUntil(() => p.status.containerStatuses?.[0]?.restartCount === 3 && p.status.phase === "Running", 10_000);
  assert.equal(p.status.startTime, "2026-05-01T10:00:00Z", "startTime kept");
});

test("a simulated day of churn: a Job pod every minute, a Deployment pod replaced every hour, memory flat", async () => {
  const h = await CoreHarness.running({ heapFree: 60_000, config: { capacity: { pods: "4" } } });
  let jobs = 0;
  let generation = 0;
  let deploy = h.server.addPod(pod(`web-${generation}`));
  let afterHour = 0;
  for (let minute = 1; minute <= 24 * 60; minute++) {
    h.server.addPod(pod(`job-${jobs++}`, { metadata: { annotations: { "picokubelet.dev/script": "run=20s" } }, spec: { restartPolicy: "OnFailure" } }));
    if (minute % 60 === 0) {
      // A rollout: the old pod is deleted gracefully, a new one bound.
      h.server.deletePod("default", deploy.metadata.name, 5);
      deploy = h.server.addPod(pod(`web-${++generation}`));
    }
    h.run(60_000);
    // The Job controller's garbage: finished pods are deleted.
    for (const p of [...h.server.pods.values()]) {
      if (p.status.phase === "Succeeded" && p.metadata.name.startsWith("job-")) h.server.deletePod("default", p.metadata.name, 0);
    }
    if (minute === 60) afterHour = h.memoryBytes;
  }
  const succeeded = h.server.events.filter((e) => e.reason === "Started" && e.involvedObject.name.startsWith("job-")).length;
  assert.ok(succeeded >= 24 * 60 - 5, `job pods started: ${succeeded}`);
  assert.equal(deploy.status.phase, "Running");
  assert.ok([...h.server.pods.values()].filter((p) => p.metadata.name.startsWith("web-")).length === 1, "old Deployment pods are gone");
  assert.equal(h.memoryBytes, afterHour, `linear memory grew from ${afterHour} to ${h.memoryBytes}`);
  assert.ok(h.peakMemory <= 256 * 1024, `peak ${h.peakMemory}`);
  const renewals = h.stat(Stat.RENEWALS);
  assert.ok(renewals >= 8_600, `renewals: ${renewals}`);
});

test("a pod added and deleted in the same breath is forgotten without a request (fuzzer finding: index out of range)", async () => {
  const h = await CoreHarness.running({ randomSplits: false });
  for (let i = 0; i < 5; i++) {
    h.server.addPod(pod(`blink-${i}`));
    h.server.deletePod("default", `blink-${i}`, 0);
  }
  h.run(5_000);
  assert.equal(h.phase, Phase.RUNNING);
  // A status patch may have gone out between the two events: it met a 404 and the pod was forgotten.
  assert.ok(h.server.seen("PATCH", /\/pods\/blink-\d\/status$/).length <= 5);
  const p = h.server.addPod(pod("after"));
  h.runUntil(() => p.status.phase === "Running", 10_000);
});

test("a scheduled pod's start costs a handful of status patches, not a burst (rack benchmark finding)", async () => {
  const h = await CoreHarness.running();
  // As the scheduler leaves it: PodScheduled already on the server.
  const scheduled = pod("sched");
  scheduled.status = { phase: "Pending", conditions: [{ type: "PodScheduled", status: "True", lastProbeTime: null, lastTransitionTime: "2026-05-02T15:47:17Z" }] };
  const p = h.server.addPod(scheduled);
  h.runUntil(() => p.status.phase === "Running" && cond(p, "Ready")?.status === "True", 10_000);
  h.run(10_000);
  const patches = h.server.seen("PATCH", "/api/v1/namespaces/default/pods/sched/status").length;
  assert.ok(patches >= 2 && patches <= 4, `status patches for one pod's start: ${patches}`);
  assert.equal(cond(p, "PodScheduled").lastTransitionTime, "2026-05-02T15:47:17Z", "the scheduler's time is kept");
});

test("a watch event split at every byte through the ABI is read the same (each split point its own pod)", async () => {
  const h = await CoreHarness.running({ randomSplits: false, config: { capacity: { pods: "400" } } });
  const line = (name: string) => JSON.stringify({ type: "ADDED", object: { apiVersion: "v1", kind: "Pod",
    metadata: { name, namespace: "s", uid: `uid-${name}`, resourceVersion: "5" },
    spec: { nodeName: "pico-test", restartPolicy: "Always", containers: [{ name: "c", image: "i" }] }, status: { phase: "Pending" } } }) + "\n";
  const n = line("p-000").length;
  for (let k = 1; k < n; k++) {
    const text = line(`p-${String(k).padStart(3, "0")}`);
    h.server.pushParts([text.slice(0, k), text.slice(k)]);
  }
  h.run(1_000);
  const admitted = h.logged("admitted").map((l) => /pod s\/(p-\d+) admitted/.exec(l.text)?.[1]).filter(Boolean);
  assert.equal(new Set(admitted).size, n - 1, `pods admitted from ${n - 1} split points: ${admitted.length}`);
  assert.equal(h.phase, Phase.RUNNING);
});

test("a pod whose name or namespace no API server could have is not taken (its name would go into request paths)", async () => {
  const h = await CoreHarness.running();
  const bad = h.server.addPod(pod("doom%zz"));
  const alsoBad = h.server.addPod({ ...pod("ok"), metadata: { name: "ok", namespace: "Default Space" } });
  const good = h.server.addPod(pod("fine"));
  h.runUntil(() => good.status?.phase === "Running", 10_000);
  assert.equal(bad.status?.containerStatuses, undefined, "never played");
  assert.equal(alsoBad.status?.containerStatuses, undefined);
  assert.equal(h.server.requests.filter((r) => r.path.includes("%zz") || r.path.includes("Default Space")).length, 0);
  assert.equal(h.phase, Phase.RUNNING);
});

function brainPod(name: string, namespace: string): any {
  return {
    metadata: { name, namespace, ownerReferences: [{ apiVersion: "apps/v1", kind: "DaemonSet", name: "brain", uid: "u-ds", controller: true }] },
    spec: { nodeName: "pico-test", runtimeClassName: "picokubelet-brain", containers: [{ name: "brain", image: "127.0.0.1:5000/picokubelet/brain:v2" }] },
  };
}

test("brain pods: trusted from picokubelet-system on a host without brain operations they wait with BrainSwapUnsupported while the node keeps its brain; elsewhere Failed BrainNotTrusted", async () => {
  const h = await CoreHarness.running({ config: { daemonSetPods: "refuse", capacity: { pods: "1" } } });
  const filler = h.server.addPod(pod("filler"));
  h.runUntil(() => filler.status.phase === "Running", 10_000);
  // DaemonSet-owned and the node full: neither applies to the node's own brain.
  const connectsBefore = h.connects.length;
  const b = h.server.addPod(brainPod("brain-x", "picokubelet-system"));
  const rogue = h.server.addPod(brainPod("brain-y", "default"));
  h.runUntil(() => b.status?.containerStatuses && rogue.status?.phase === "Failed", 10_000);
  assert.equal(b.status.phase, "Pending");
  const cs = b.status.containerStatuses[0];
  // The harness's host answers every brain operation ERR_UNSUPPORTED: nothing is pulled.
  assert.equal(cs.state.waiting.reason, "BrainSwapUnsupported");
  assert.match(cs.state.waiting.message, /cannot store or swap brains: it keeps running its own brain \(v[0-9.]+-picokubelet\.[0-9.]+\)/);
  assert.equal(h.hostCalls.filter((c) => c.op === HostOp.BRAIN_STATUS).length, 1);
  assert.equal(h.connects.length, connectsBefore, "no registry connection");
  assert.equal(cs.ready, false);
  assert.equal(cond(b, "Ready")?.status, "False");
  const warn = h.server.events.filter((e) => e.involvedObject.name === "brain-x");
  assert.deepEqual(warn.map((e) => [e.type, e.reason]), [["Warning", "BrainSwapUnsupported"]]);
  assert.equal(rogue.status.reason, "BrainNotTrusted");
  assert.match(rogue.status.message, /brainNamespaces: picokubelet-system/);
  // A second trusted brain pod while one is held: refused, naming the one the node follows.
  const second = h.server.addPod(brainPod("brain-z", "picokubelet-system"));
  h.runUntil(() => second.status?.phase === "Failed", 10_000);
  assert.equal(second.status.reason, "BrainConflict");
  assert.match(second.status.message, /picokubelet-system\/brain-x/);
  // Nothing more is sent for the waiting brain pod while it waits.
  const patches = h.server.seen("PATCH", "/api/v1/namespaces/picokubelet-system/pods/brain-x/status").length;
  h.run(60_000);
  assert.equal(h.server.seen("PATCH", "/api/v1/namespaces/picokubelet-system/pods/brain-x/status").length, patches);
  // Deleting it: nothing runs for it, so it goes at once (DELETE with grace 0), and the node runs on.
  h.server.deletePod("picokubelet-system", "brain-x", 30);
  h.runUntil(() => !h.server.pods.has("picokubelet-system/brain-x"), 5_000);
  assert.equal(h.phase, Phase.RUNNING);
  // The slot is free again: a new brain pod is held.
  const next = h.server.addPod(brainPod("brain-n", "picokubelet-system"));
  h.runUntil(() => next.status?.containerStatuses?.[0]?.state?.waiting?.reason === "BrainSwapUnsupported", 10_000);
});
