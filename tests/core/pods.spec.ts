/** Pod theater's pure parts: quantities, scripts, admission at its edges, the lifecycle, status and event bodies. */
import { decimal, parseCpuMilli, parseUnits } from "../../assembly/pods/quantity";
import { parseScript, duration } from "../../assembly/pods/script";
import { POD_FIELD_COUNT, POD_FIELDS, PodDraft } from "../../assembly/pods/draft";
import { LineHandler, LineSink } from "../../assembly/http/lines";
import { hasRun, LogQuery, nextLineAt, RING_LINES, writeLogs } from "../../assembly/pods/logs";
import { admit, Usage } from "../../assembly/pods/admission";
import { Pod, Role, Stage } from "../../assembly/pods/pod";
import { begin, kill, restartDelay, step } from "../../assembly/pods/lifecycle";
import { EventRecorder } from "../../assembly/pods/events";
import { phaseOf, podDeleteBody, podStatusPatch } from "../../assembly/pods/podstatus";
import { parseConfig, Config } from "../../assembly/node/config";
import { Context } from "../../assembly/node/context";
import { JsonScanner, ScanHandler, ValueKind } from "../../assembly/json/scanner";
import { ByteBuffer, utf8 } from "../../assembly/util/bytes";

function config(extra: string = ""): Config {
  const b = utf8('{"nodeName":"pico","apiHost":"127.0.0.1"' + extra + "}");
  return parseConfig(b.ptr, b.length);
}

class Forward extends ScanHandler {
  constructor(public d: PodDraft) {
    super();
  }
  value(field: i32, kind: ValueKind, v: ByteBuffer, key: ByteBuffer): void {
    this.d.value(field, kind, v, key);
  }
  begin(field: i32, kind: ValueKind, key: ByteBuffer): void {
    this.d.begin(field, kind);
  }
  end(field: i32): void {
    this.d.end(field);
  }
}

/** The draft of a pod object given as JSON, against configuration `c`. */
function draft(json: string, c: Config): PodDraft {
  const d = new PodDraft();
  d.cfg = c;
  const s = new JsonScanner(POD_FIELDS, new Forward(d));
  const b = utf8(json);
  s.feed(b.ptr, b.length);
  s.finish();
  d.finishRequests();
  return d;
}

const META = '"metadata":{"name":"p","namespace":"default","uid":"u-1"}';

function podJson(spec: string): string {
  return "{" + META + ',"spec":{"nodeName":"pico","containers":[{"name":"app","image":"nginx"}]' + (spec.length > 0 ? "," + spec : "") + "}}";
}

function reasonOf(spec: string, c: Config, used: Usage = new Usage(), pressure: bool = false): string {
  return admit(draft(podJson(spec), c), c, used, pressure, false).reason;
}

describe("quantities", () => {
  it("reads cpu in millicores and memory in bytes", () => {
    expect(parseCpuMilli("250m")).toBe(250);
    expect(parseCpuMilli("2")).toBe(2000);
    expect(parseCpuMilli("0.5")).toBe(500);
    expect(parseUnits("320Ki")).toBe(327680);
    expect(parseUnits("64Mi")).toBe(67108864);
    expect(parseUnits("1G")).toBe(1000000000);
    expect(parseUnits("129e6")).toBe(129000000);
    expect(parseUnits("1500m")).toBe(2);
  });
  it("refuses what is not a quantity", () => {
    expect(parseUnits("")).toBe(-1);
    expect(parseUnits("ten")).toBe(-1);
    expect(parseUnits("1Qi")).toBe(-1);
    expect(parseUnits("e5")).toBe(-1);
    expect(decimal("-12")).toBe(-12);
    expect(decimal("1x")).toBe(I64.MIN_VALUE);
  });
});

describe("scripts", () => {
  it("defaults: Always runs forever, a Job-like pod for 10 s", () => {
    expect(parseScript("", "Always").runMs).toBe(-1);
    expect(parseScript("", "Never").runMs).toBe(10_000);
    expect(parseScript("", "OnFailure").runMs).toBe(10_000);
  });
  it("reads items and presets, ignoring unknown ones", () => {
    const s = parseScript("run=30s, exit=3,ready=never,pull=250ms,init=2,bogus=1,zzz", "Always");
    expect(s.runMs).toBe(30_000);
    expect(s.exitCode).toBe(3);
    expect(s.readyMs).toBe(-1);
    expect(s.pullMs).toBe(250);
    expect(s.initMs).toBe(2000);
    const c = parseScript("crash", "Always");
    expect(c.runMs).toBe(5000);
    expect(c.exitCode).toBe(1);
    expect(parseScript("exit=300", "Never").exitCode).toBe(0);
    expect(duration("2m")).toBe(120_000);
    expect(duration("99999999m")).toBe(-1);
  });
});

describe("admission at its edges", () => {
  it("pods: the capacity'th pod fits, one more is OutOfpods", () => {
    const c = config(',"capacity":{"pods":"2","cpu":"240m","memory":"320Ki"}');
    const used = new Usage();
    used.pods = 1;
    expect(reasonOf("", c, used)).toBe("");
    used.pods = 2;
    expect(reasonOf("", c, used)).toBe("OutOfpods");
  });
  it("cpu and memory: exactly allocatable fits, a milli more does not; init containers count as their maximum", () => {
    const c = config();
    expect(reasonOf("", c)).toBe("");
    expect(admit(draft("{" + META + ',"spec":{"containers":[{"name":"a","image":"x","resources":{"requests":{"cpu":"240m"}}}]}}', c), c, new Usage(), false, false).reason).toBe("");
    expect(admit(draft("{" + META + ',"spec":{"containers":[{"name":"a","image":"x","resources":{"requests":{"cpu":"241m"}}}]}}', c), c, new Usage(), false, false).reason).toBe("OutOfcpu");
    expect(admit(draft("{" + META + ',"spec":{"containers":[{"name":"a","image":"x","resources":{"limits":{"memory":"321Ki"}}}]}}', c), c, new Usage(), false, false).reason).toBe("OutOfmemory");
    const d = draft("{" + META + ',"spec":{"initContainers":[{"name":"i","image":"x","resources":{"requests":{"cpu":"200m"}}}],"containers":[{"name":"a","image":"x","resources":{"requests":{"cpu":"100m"}}}]}}', c);
    expect(d.cpuMilli).toBe(200);
    const used = new Usage();
    used.cpuMilli = 100;
    expect(admit(d, c, used, false, false).reason).toBe("OutOfcpu");
  });
  it("nodeSelector and required node affinity", () => {
    const c = config(',"capacity":{"pods":"8"}');
    expect(reasonOf('"nodeSelector":{"kubernetes.io/hostname":"pico"}', c)).toBe("");
    expect(reasonOf('"nodeSelector":{"kubernetes.io/hostname":"other"}', c)).toBe("NodeAffinity");
    expect(reasonOf('"nodeSelector":{"missing":"x"}', c)).toBe("NodeAffinity");
    const term = (e: string): string => '"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[' + e + "]}}}";
    expect(reasonOf(term('{"matchExpressions":[{"key":"hardware","operator":"In","values":["esp32-s3"]}]}'), c)).toBe("");
    expect(reasonOf(term('{"matchExpressions":[{"key":"hardware","operator":"NotIn","values":["esp32-s3"]}]}'), c)).toBe("NodeAffinity");
    expect(reasonOf(term('{"matchExpressions":[{"key":"hardware","operator":"Exists"},{"key":"gpu","operator":"DoesNotExist"}]}'), c)).toBe("");
    expect(reasonOf(term("{}"), c)).toBe("NodeAffinity");
    expect(reasonOf(term('{"matchExpressions":[{"key":"gpu","operator":"Exists"}]},{"matchFields":[{"key":"metadata.name","operator":"In","values":["pico"]}]}'), c)).toBe("");
    const gt = config(',"capacity":{"pods":"8"},"labels":{"cores":"2"}');
    expect(reasonOf(term('{"matchExpressions":[{"key":"cores","operator":"Gt","values":["1"]}]}'), gt)).toBe("");
    expect(reasonOf(term('{"matchExpressions":[{"key":"cores","operator":"Lt","values":["1"]}]}'), gt)).toBe("NodeAffinity");
  });
  it("only NoExecute taints are checked, and tolerations match by key, value and effect", () => {
    const c = config(',"capacity":{"pods":"8"},"taints":[{"key":"a","value":"1","effect":"NoExecute"},{"key":"b","effect":"NoSchedule"}]');
    expect(reasonOf("", c)).toBe("TaintToleration");
    expect(reasonOf('"tolerations":[{"key":"a","operator":"Equal","value":"1"}]', c)).toBe("");
    expect(reasonOf('"tolerations":[{"key":"a","value":"2"}]', c)).toBe("TaintToleration");
    expect(reasonOf('"tolerations":[{"key":"a","operator":"Exists","effect":"NoSchedule"}]', c)).toBe("TaintToleration");
    expect(reasonOf('"tolerations":[{"operator":"Exists"}]', c)).toBe("");
  });
  it("MemoryPressure refuses BestEffort pods only", () => {
    const c = config(',"capacity":{"pods":"8"}');
    expect(reasonOf("", c, new Usage(), true)).toBe("Evicted");
    expect(reasonOf('"tolerations":[{"key":"node.kubernetes.io/memory-pressure","operator":"Exists"}]', c, new Usage(), true)).toBe("");
    expect(admit(draft("{" + META + ',"spec":{"containers":[{"name":"a","image":"x","resources":{"limits":{"cpu":"1m","memory":"1Ki"}}}]}}', c), c, new Usage(), true, false).reason).toBe("");
  });
  it("QoS classes", () => {
    const c = config();
    expect(draft(podJson(""), c).qosClass).toBe("BestEffort");
    expect(draft("{" + META + ',"spec":{"containers":[{"name":"a","resources":{"limits":{"cpu":"1m","memory":"1Ki"}}}]}}', c).qosClass).toBe("Guaranteed");
    expect(draft("{" + META + ',"spec":{"containers":[{"name":"a","resources":{"requests":{"cpu":"1m"}}}]}}', c).qosClass).toBe("Burstable");
  });
  it("other refusals: the OS field, too many containers, an unreadable quantity, DaemonSets when refused", () => {
    const c = config(',"capacity":{"pods":"8"}');
    expect(reasonOf('"os":{"name":"windows"}', c)).toBe("PodOSNotSupported");
    expect(admit(draft("{" + META + ',"spec":{"containers":[{"name":"a","resources":{"requests":{"cpu":"lots"}}}]}}', c), c, new Usage(), false, false).reason).toBe("UnexpectedAdmissionError");
    let many = "";
    for (let i = 0; i < 9; i++) many += (i > 0 ? "," : "") + '{"name":"c' + i.toString() + '","image":"x"}';
    expect(admit(draft("{" + META + ',"spec":{"containers":[' + many + "]}}", c), c, new Usage(), false, false).reason).toBe("UnexpectedAdmissionError");
    const ds = draft('{"metadata":{"name":"p","namespace":"d","uid":"u","ownerReferences":[{"kind":"DaemonSet","name":"x"}]},"spec":{"containers":[{"name":"a"}]}}', c);
    expect(admit(ds, c, new Usage(), false, true).reason).toBe("DaemonSetRefused");
    expect(admit(ds, c, new Usage(), false, false).reason).toBe("");
  });
});

function playing(policy: string, script: string): Pod {
  const p = new Pod();
  p.namespace = "default";
  p.name = "p";
  p.uid = "u-1";
  p.restartPolicy = policy;
  p.containers = ["app"];
  p.images = ["nginx"];
  p.script = parseScript(script, policy);
  return p;
}

const WALL: i64 = 1777736837000;

/** Steps `p` through every due step up to `until` (monotonic ms from 0; wall = WALL + mono). */
function playUntil(p: Pod, ev: EventRecorder, until: i64): void {
  for (let guard = 0; guard < 1000 && p.nextStepAt >= 0 && p.nextStepAt <= until; guard++) step(p, p.nextStepAt, WALL + p.nextStepAt, ev);
}

const BRAIN_SPEC = '"runtimeClassName":"picokubelet-brain","imagePullSecrets":[{"name":"a"},{"name":"b"},{"name":"c"}]';

function brainJson(namespace: string, spec: string): string {
  return '{"metadata":{"name":"brain","namespace":"' + namespace + '","uid":"u-b","ownerReferences":[{"kind":"DaemonSet","name":"brain"}]},' +
    '"spec":{"nodeName":"pico",' + spec + "}}";
}

function brainReason(namespace: string, spec: string, c: Config, used: Usage = new Usage()): string {
  const d = draft(brainJson(namespace, spec), c);
  return admit(d, c, used, true, true).reason;
}

const BRAIN_ONE = '"containers":[{"name":"brain","image":"127.0.0.1:5000/picokubelet/brain:v2"}],' + BRAIN_SPEC;

describe("brain pods", () => {
  it("are read: runtimeClassName, the image and at most two pull secrets", () => {
    const c = config();
    const d = draft(brainJson("picokubelet-system", BRAIN_ONE), c);
    expect(d.isBrain).toBe(true);
    expect(d.images[0]).toBe("127.0.0.1:5000/picokubelet/brain:v2");
    expect(d.pullSecrets.join(",")).toBe("a,b");
    expect(draft(podJson('"runtimeClassName":"gvisor"'), c).isBrain).toBe(false);
  });
  it("are trusted only from brainNamespaces, whatever else the node refuses", () => {
    const c = config(',"capacity":{"pods":"1","cpu":"1m"}');
    const full = new Usage();
    full.pods = 1;
    full.cpuMilli = 1;
    // DaemonSet-owned, a full node, MemoryPressure: none of that applies to the node's own brain.
    expect(brainReason("picokubelet-system", BRAIN_ONE, c, full)).toBe("");
    expect(brainReason("default", BRAIN_ONE, c)).toBe("BrainNotTrusted");
    const other = config(',"brainNamespaces":["fleet"]');
    expect(brainReason("fleet", BRAIN_ONE, other)).toBe("");
    expect(brainReason("picokubelet-system", BRAIN_ONE, other)).toBe("BrainNotTrusted");
    const none = config(',"brainNamespaces":[]');
    const v = admit(draft(brainJson("picokubelet-system", BRAIN_ONE), none), none, new Usage(), false, false);
    expect(v.reason).toBe("BrainNotTrusted");
    expect(v.message).toBe("brain pods are only honoured from the namespaces this node trusts (brainNamespaces: none)");
  });
  it("have one container and no init containers; one brain pod per node; placement still applies", () => {
    const c = config(',"labels":{"zone":"a"}');
    const two = '"containers":[{"name":"a","image":"x"},{"name":"b","image":"y"}],' + BRAIN_SPEC;
    expect(brainReason("picokubelet-system", two, c)).toBe("BrainInvalid");
    const init = '"initContainers":[{"name":"i","image":"x"}],' + BRAIN_ONE;
    expect(brainReason("picokubelet-system", init, c)).toBe("BrainInvalid");
    const held = new Usage();
    held.brain = "picokubelet-system/brain-old";
    const v = admit(draft(brainJson("picokubelet-system", BRAIN_ONE), c), c, held, false, false);
    expect(v.reason).toBe("BrainConflict");
    expect(v.message.includes("picokubelet-system/brain-old")).toBe(true);
    expect(brainReason("picokubelet-system", '"nodeSelector":{"zone":"b"},' + BRAIN_ONE, c)).toBe("NodeAffinity");
    expect(brainReason("picokubelet-system", '"nodeSelector":{"zone":"a"},' + BRAIN_ONE, c)).toBe("");
  });
  it("a held brain pod: Pending, its container waiting with the reason, not Failed", () => {
    const p = playing("Always", "");
    p.role = Role.Brain;
    p.containers = ["brain"];
    p.images = ["127.0.0.1:5000/picokubelet/brain:v2"];
    p.reason = "ImagePullBackOff";
    p.message = "Back-off pulling image";
    p.startTimeMs = WALL;
    p.sandboxReadyMs = WALL;
    p.readyChangedMs = WALL;
    p.initializedMs = WALL;
    expect(phaseOf(p)).toBe("Pending");
    const b = new ByteBuffer(256, 16 * 1024);
    podStatusPatch(b, p, "10.42.0.7");
    const s = b.toString();
    expect(s.includes('"phase":"Pending"')).toBe(true);
    expect(s.includes('"rejected')).toBe(false);
    expect(s.includes('"state":{"waiting":{"reason":"ImagePullBackOff","message":"Back-off pulling image"}}')).toBe(true);
    expect(s.includes('{"type":"Ready","status":"False"')).toBe(true);
    expect(s.includes('"imageID":""')).toBe(true);
  });
  it("a brain pod whose brain runs: Running and Ready, imageID the digest, containerID brain://", () => {
    const p = playing("Always", "");
    p.role = Role.Brain;
    p.containers = ["brain"];
    p.images = ["127.0.0.1:5000/picokubelet/brain:v2"];
    p.imageRef = "127.0.0.1:5000/picokubelet/brain@sha256:0123456789abcdef" + "0".repeat(48);
    p.stage = Stage.Running;
    p.startTimeMs = WALL;
    p.lastStartedMs = WALL;
    p.readyMs = WALL;
    p.readyChangedMs = WALL;
    p.initializedMs = WALL;
    expect(phaseOf(p)).toBe("Running");
    const b = new ByteBuffer(256, 16 * 1024);
    podStatusPatch(b, p, "10.42.0.7");
    const s = b.toString();
    expect(s.includes('"ready":true')).toBe(true);
    expect(s.includes('"imageID":"127.0.0.1:5000/picokubelet/brain@sha256:0123456789abcdef')).toBe(true);
    expect(s.includes('"containerID":"brain://0123456789abcdef"')).toBe(true);
    expect(s.includes('{"type":"Ready","status":"True"')).toBe(true);
  });
});

describe("the lifecycle", () => {
  it("backoff: immediate, then 10 s doubling to 300 s", () => {
    expect(restartDelay(0)).toBe(0);
    expect(restartDelay(1)).toBe(10_000);
    expect(restartDelay(2)).toBe(20_000);
    expect(restartDelay(5)).toBe(160_000);
    expect(restartDelay(6)).toBe(300_000);
    expect(restartDelay(60)).toBe(300_000);
  });
  it("an Always pod: Pending while pulling, then Running and ready for good", () => {
    const ev = new EventRecorder(new Context());
    const p = playing("Always", "");
    begin(p, 0, WALL, ev);
    expect(phaseOf(p)).toBe("Pending");
    playUntil(p, ev, 1000);
    expect(phaseOf(p)).toBe("Running");
    expect(p.readyMs).toBe(WALL + 1000);
    expect(p.nextStepAt).toBe(-1);
  });
  it("init containers run one after another before the containers are pulled", () => {
    const ev = new EventRecorder(new Context());
    const p = playing("Always", "init=2s");
    p.initContainers = ["i1", "i2"];
    p.initImages = ["busybox", "busybox"];
    begin(p, 0, WALL, ev);
    expect(p.stage).toBe(Stage.Initializing);
    playUntil(p, ev, 2999);
    expect(p.stage).toBe(Stage.Initializing);
    expect(p.initializedMs).toBe(0);
    playUntil(p, ev, 6000);
    expect(p.initializedMs).toBe(WALL + 6000);
    expect(p.stage).toBe(Stage.Creating);
    playUntil(p, ev, 7000);
    expect(phaseOf(p)).toBe("Running");
  });
  it("Never: Succeeded on exit 0, Failed otherwise; OnFailure restarts a failure", () => {
    const ev = new EventRecorder(new Context());
    const ok = playing("Never", "run=5s");
    begin(ok, 0, WALL, ev);
    playUntil(ok, ev, 100_000);
    expect(phaseOf(ok)).toBe("Succeeded");
    const bad = playing("Never", "run=5s,exit=2");
    begin(bad, 0, WALL, ev);
    playUntil(bad, ev, 100_000);
    expect(phaseOf(bad)).toBe("Failed");
    expect(bad.lastExitCode).toBe(2);
    const retry = playing("OnFailure", "run=5s,exit=1");
    begin(retry, 0, WALL, ev);
    playUntil(retry, ev, 30_000);
    expect(phaseOf(retry)).toBe("Running");
    expect(retry.restartCount).toBeGreaterThanOrEqual(2);
  });
  it("ready=never keeps the pod Running but not ready", () => {
    const ev = new EventRecorder(new Context());
    const p = playing("Always", "ready=never");
    begin(p, 0, WALL, ev);
    playUntil(p, ev, 100_000);
    expect(phaseOf(p)).toBe("Running");
    expect(p.readyMs).toBe(0);
  });
  it("deletion stops within min(grace, 1 s); grace 0 at once", () => {
    const ev = new EventRecorder(new Context());
    const p = playing("Always", "");
    begin(p, 0, WALL, ev);
    playUntil(p, ev, 1000);
    p.deleting = true;
    p.graceSeconds = 30;
    kill(p, 5000, ev);
    expect(p.nextStepAt).toBe(6000);
    playUntil(p, ev, 6000);
    expect(phaseOf(p)).toBe("Succeeded");
    const q = playing("Always", "");
    begin(q, 0, WALL, ev);
    q.deleting = true;
    q.graceSeconds = 0;
    kill(q, 10, ev);
    expect(q.nextStepAt).toBe(10);
    playUntil(q, ev, 10);
    expect(phaseOf(q)).toBe("Failed");
  });
});

describe("golden bodies", () => {
  it("the status of a running pod is what the kubelet writes", () => {
    const ev = new EventRecorder(new Context());
    const p = playing("Always", "");
    begin(p, 0, WALL, ev);
    playUntil(p, ev, 1000);
    const b = new ByteBuffer(256, 16 * 1024);
    podStatusPatch(b, p, "10.42.0.7");
    expect(b.toString()).toBe(
      '{"metadata":{"uid":"u-1"},"status":{"phase":"Running","conditions":[' +
      '{"type":"PodReadyToStartContainers","status":"True","lastProbeTime":null,"lastTransitionTime":"2026-05-02T15:47:17Z"},' +
      '{"type":"Initialized","status":"True","lastProbeTime":null,"lastTransitionTime":"2026-05-02T15:47:17Z"},' +
      '{"type":"Ready","status":"True","lastProbeTime":null,"lastTransitionTime":"2026-05-02T15:47:18Z"},' +
      '{"type":"ContainersReady","status":"True","lastProbeTime":null,"lastTransitionTime":"2026-05-02T15:47:18Z"},' +
      '{"type":"PodScheduled","status":"True","lastProbeTime":null,"lastTransitionTime":"2026-05-02T15:47:17Z"}],' +
      '"hostIP":"10.42.0.7","hostIPs":[{"ip":"10.42.0.7"}],"startTime":"2026-05-02T15:47:17Z",' +
      '"containerStatuses":[{"name":"app","state":{"running":{"startedAt":"2026-05-02T15:47:18Z"}},"lastState":{},"ready":true,' +
      '"restartCount":0,"image":"nginx","imageID":"' + imageIdOf("nginx") + '","containerID":"' + idOf(b) + '","started":true}],' +
      '"qosClass":"BestEffort"}}',
    );
  });
  it("a refused pod: Failed with the kubelet's reason and message", () => {
    const p = playing("Always", "");
    p.role = Role.Rejected;
    p.reason = "OutOfpods";
    p.message = "Node didn't have enough resource: pods, requested: 1, used: 1, capacity: 1";
    p.generation = 1;
    const b = new ByteBuffer(256, 4096);
    podStatusPatch(b, p, "10.42.0.7");
    expect(b.toString()).toBe(
      '{"metadata":{"uid":"u-1"},"status":{"observedGeneration":1,"phase":"Failed","reason":"OutOfpods",' +
      '"message":"Pod was rejected: Node didn\'t have enough resource: pods, requested: 1, used: 1, capacity: 1","qosClass":"BestEffort"}}',
    );
  });
  it("the delete options: grace 0 and the uid precondition", () => {
    const b = new ByteBuffer(64, 1024);
    podDeleteBody(b, playing("Always", ""));
    expect(b.toString()).toBe('{"kind":"DeleteOptions","apiVersion":"v1","gracePeriodSeconds":0,"preconditions":{"uid":"u-1"}}');
  });
});

/** The imageID written for `image` (read back from a status body, so the spec checks the shape separately). */
function imageIdOf(image: string): string {
  const p = playing("Always", "");
  p.images = [image];
  begin(p, 0, WALL, new EventRecorder(new Context()));
  step(p, 1000, WALL + 1000, new EventRecorder(new Context()));
  const b = new ByteBuffer(256, 16 * 1024);
  podStatusPatch(b, p, "");
  const s = b.toString();
  const i = s.indexOf('"imageID":"') + 11;
  const id = s.substring(i, s.indexOf('"', i));
  expect(id.startsWith("lies://sha256:")).toBe(true);
  expect(id.length).toBe(14 + 32);
  return id;
}

function idOf(b: ByteBuffer): string {
  const s = b.toString();
  const i = s.indexOf('"containerID":"') + 15;
  const id = s.substring(i, s.indexOf('"', i));
  expect(id.startsWith("lies://")).toBe(true);
  expect(id.length).toBe(7 + 16);
  return id;
}

/** Records what each watch line yields, through the same PodDraft the pod source uses. */
class Lines extends LineHandler {
  d: PodDraft = new PodDraft();
  seen: string[] = [];
  value(field: i32, kind: ValueKind, v: ByteBuffer, key: ByteBuffer): void {
    if (field < POD_FIELD_COUNT) this.d.value(field, kind, v, key);
    else if (field == POD_FIELD_COUNT) this.type = v.toString();
  }
  begin(field: i32, kind: ValueKind, key: ByteBuffer): void {
    if (field < POD_FIELD_COUNT) this.d.begin(field, kind);
  }
  end(field: i32): void {
    if (field < POD_FIELD_COUNT) this.d.end(field);
  }
  type: string = "";
  line(ok: bool, scanner: JsonScanner): void {
    const d = this.d;
    this.seen.push((ok ? "ok " : "bad ") + this.type + " " + d.namespace + "/" + d.name + " " + d.uid + " " + d.containers.join("+") +
      " " + d.images.join("+") + " " + d.script + " " + d.cpuMilli.toString() + " " + (d.deleting ? "deleting" : "") + " " + d.resourceVersion);
    this.type = "";
    d.reset();
  }
}

function watchFields(): string[] {
  const f: string[] = [];
  for (let i = 0; i < POD_FIELDS.length; i++) f.push("object." + POD_FIELDS[i]);
  f.push("type");
  return f;
}

describe("a watch stream at every split point", () => {
  it("yields the same pods however the bytes are cut", () => {
    const filler = "x".repeat(300);
    const stream = utf8(
      '{"type":"ADDED","object":{"metadata":{"name":"a","namespace":"n","uid":"u1","resourceVersion":"7","annotations":{"picokubelet.dev/script":"run=3s","big":"' + filler + '"}},' +
      '"spec":{"nodeName":"pico","containers":[{"name":"c1","image":"i1","resources":{"requests":{"cpu":"10m"}}},{"name":"c2","image":"i\\u0032"}]}}}\n' +
      '{"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"8","annotations":{"k8s.io/initial-events-end":"true"}}}}\n' +
      'not json at all\n' +
      '{"type":"MODIFIED","object":{"metadata":{"name":"b","namespace":"n","uid":"u2","deletionTimestamp":"2026-01-01T00:00:00Z","resourceVersion":"9"},"spec":{"containers":[{"name":"c","image":"i"}]}}}\n',
    );
    const whole = new Lines();
    whole.d.cfg = config();
    const sink = new LineSink(watchFields(), whole);
    sink.begin();
    sink.write(stream.ptr, stream.length);
    expect(whole.seen.length).toBe(4);
    expect(whole.seen[0]).toBe("ok ADDED n/a u1 c1+c2 i1+i2 run=3s 10  7");
    expect(whole.seen[1].startsWith("ok BOOKMARK")).toBe(true);
    expect(whole.seen[2].startsWith("bad ")).toBe(true);
    expect(whole.seen[3]).toBe("ok MODIFIED n/b u2 c i  0 deleting 9");
    for (let k = 1; k < stream.length; k++) {
      const h = new Lines();
      h.d.cfg = config();
      const s = new LineSink(watchFields(), h);
      s.begin();
      s.write(stream.ptr, k);
      s.write(stream.ptr + <usize>k, stream.length - k);
      expect(h.seen.join("|")).toBe(whole.seen.join("|"));
    }
  });
});

describe("container logs", () => {
  it("a running container: the first line, then a line every logEvery, tail and since", () => {
    const ev = new EventRecorder(new Context());
    const p = playing("Always", "logEvery=2s,pull=0ms");
    p.logText = "DOOM v1.9\nR_Init: Init DOOM refresh daemon";
    begin(p, 0, WALL, ev);
    playUntil(p, ev, 0);
    expect(phaseOf(p)).toBe("Running");
    const out = new ByteBuffer(256, 16 * 1024);
    const q = new LogQuery();
    const last = writeLogs(out, p, "app", WALL + 7_000, q);
    expect(out.toString()).toBe("picokubelet: container app started; it is theater: no process runs on this node\nDOOM v1.9\nR_Init: Init DOOM refresh daemon\nDOOM v1.9\n");
    expect(last).toBe(WALL + 6_000);
    expect(nextLineAt(p, last)).toBe(WALL + 8_000);
    out.clear();
    q.tailLines = 1;
    q.timestamps = true;
    writeLogs(out, p, "app", WALL + 7_000, q);
    expect(out.toString()).toBe("2026-05-02T15:47:23.000000000Z DOOM v1.9\n");
    out.clear();
    const s = new LogQuery();
    s.sinceMs = WALL + 4_000;
    s.limitBytes = 12;
    writeLogs(out, p, "app", WALL + 7_000, s);
    expect(out.toString()).toBe("R_Init: Init");
  });
  it("previous: the run before a restart ends with its exit code; only the last lines are kept", () => {
    const ev = new EventRecorder(new Context());
    const p = playing("Always", "run=3s,exit=4,pull=0ms,logEvery=1s");
    begin(p, 0, WALL, ev);
    playUntil(p, ev, 3_000);
    expect(p.restartCount).toBe(1);
    const prev = new LogQuery();
    prev.previous = true;
    expect(hasRun(p, true)).toBe(true);
    const out = new ByteBuffer(256, 16 * 1024);
    writeLogs(out, p, "app", WALL + 3_500, prev);
    expect(out.toString()).toBe("picokubelet: container app started; it is theater: no process runs on this node\n" +
      "tick 1: still pretending, and that is fine\ntick 2: still pretending, and that is fine\npicokubelet: exited with code 4\n");
    const fresh = playing("Always", "");
    expect(hasRun(fresh, true)).toBe(false);
    expect(hasRun(fresh, false)).toBe(false);
    const long = playing("Always", "pull=0ms,logEvery=100ms");
    begin(long, 0, WALL, ev);
    playUntil(long, ev, 0);
    out.clear();
    writeLogs(out, long, "app", WALL + 3_600_000, new LogQuery());
    let lines = 0;
    for (let i = 0; i < out.length; i++) if (out.at(i) == 0x0a) lines++;
    expect(<i64>lines).toBe(RING_LINES);
  });
});
