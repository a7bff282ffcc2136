/**
 * The fields of one pod object, collected as the scanner streams past them (a list item or a watch
 * event's object), with the admission inputs that depend on the node evaluated on the fly: each
 * toleration, node-selector term and match expression is judged when it ends, so none of them is kept.
 *
 * The field paths are relative to the pod object; the list and the watch prefix them (`items[].`,
 * `object.`) and add their own, so one table of indexes serves both (pods/source.ts).
 */
import { ByteBuffer, bytesEqual } from "../util/bytes";
import { numberOf, ValueKind } from "../json/scanner";
import { Config, Pair, Taint, isSubdomain } from "../node/config";
import { MAX_CONTAINERS } from "./pod";
import { decimal, parseCpuMilli, parseUnits } from "./quantity";

/** The required node-affinity terms. */
const TERM = "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[]";

export const POD_FIELDS: string[] = [
  "metadata.name",
  "metadata.namespace",
  "metadata.uid",
  "metadata.resourceVersion",
  "metadata.generation",
  "metadata.deletionTimestamp",
  "metadata.deletionGracePeriodSeconds",
  "metadata.annotations.*",
  "metadata.ownerReferences[].kind",
  "spec.nodeName",
  "spec.restartPolicy",
  "spec.hostNetwork",
  "spec.terminationGracePeriodSeconds",
  "spec.containers[]",
  "spec.containers[].name",
  "spec.containers[].image",
  "spec.containers[].resources.requests.*",
  "spec.containers[].resources.limits.*",
  "spec.initContainers[]",
  "spec.initContainers[].name",
  "spec.initContainers[].image",
  "spec.initContainers[].resources.requests.*",
  "spec.initContainers[].resources.limits.*",
  "spec.nodeSelector.*",
  "spec.tolerations[]",
  "spec.tolerations[].key",
  "spec.tolerations[].operator",
  "spec.tolerations[].value",
  "spec.tolerations[].effect",
  TERM,
  TERM + ".matchExpressions[]",
  TERM + ".matchExpressions[].key",
  TERM + ".matchExpressions[].operator",
  TERM + ".matchExpressions[].values[]",
  TERM + ".matchFields[]",
  TERM + ".matchFields[].key",
  TERM + ".matchFields[].operator",
  TERM + ".matchFields[].values[]",
  "spec.os.name",
  "status.phase",
  "status.startTime",
  "status.conditions[].type",
  "status.containerStatuses[].restartCount",
  "spec.runtimeClassName",
  "spec.imagePullSecrets[].name",
];

const P_NAME = 0;
const P_NAMESPACE = 1;
const P_UID = 2;
const P_RV = 3;
const P_GENERATION = 4;
const P_DELETION = 5;
const P_GRACE = 6;
const P_ANNOTATION = 7;
const P_OWNER_KIND = 8;
const P_NODE = 9;
const P_RESTART = 10;
const P_HOSTNET = 11;
const P_TGPS = 12;
const P_CONTAINER = 13;
const P_C_NAME = 14;
const P_C_IMAGE = 15;
const P_C_REQ = 16;
const P_C_LIM = 17;
const P_INIT = 18;
const P_I_NAME = 19;
const P_I_IMAGE = 20;
const P_I_REQ = 21;
const P_I_LIM = 22;
const P_SELECTOR = 23;
const P_TOL = 24;
const P_TOL_KEY = 25;
const P_TOL_OP = 26;
const P_TOL_VALUE = 27;
const P_TOL_EFFECT = 28;
const P_TERM = 29;
const P_EXPR = 30;
const P_EXPR_KEY = 31;
const P_EXPR_OP = 32;
const P_EXPR_VALUES = 33;
const P_FIELD = 34;
const P_FIELD_KEY = 35;
const P_FIELD_OP = 36;
const P_FIELD_VALUES = 37;
const P_OS = 38;
const P_PHASE = 39;
const P_START = 40;
const P_COND_TYPE = 41;
const P_CS_RESTARTS = 42;
const P_RUNTIME_CLASS = 43;
const P_PULL_SECRET = 44;
export const POD_FIELD_COUNT = 45;

/** The annotation a pod chooses its script with (docs/pods.md). */
export const SCRIPT_ANNOTATION = "picokubelet.dev/script";
/** The annotation with the lines a pod's containers print (docs/pods.md). */
export const LOG_ANNOTATION = "picokubelet.dev/log";
/** The taint a pod must tolerate to be admitted under MemoryPressure when it is BestEffort. */
export const MEMORY_PRESSURE_TAINT = "node.kubernetes.io/memory-pressure";
/** The WatchList bookmark that ends the initial events. */
export const INITIAL_EVENTS_END = "k8s.io/initial-events-end";
const MAX_VALUES = 16;
/** The RuntimeClass handler of brain pods (deploy/runtimeclass-brain.yaml, docs/brain.md). */
export const BRAIN_RUNTIME_CLASS = "picokubelet-brain";
/** imagePullSecrets kept per pod (a brain pull tries them in order). */
export const MAX_PULL_SECRETS = 2;

/** One container's requests and limits as they stream past. */
class Resources {
  cpuReq: i64 = -1;
  memReq: i64 = -1;
  cpuLim: i64 = -1;
  memLim: i64 = -1;
  reset(): void {
    this.cpuReq = -1;
    this.memReq = -1;
    this.cpuLim = -1;
    this.memLim = -1;
  }
}

export class PodDraft {
  name: string = "";
  namespace: string = "";
  uid: string = "";
  resourceVersion: string = "";
  generation: i64 = -1;
  deleting: bool = false;
  graceSeconds: i64 = -1;
  terminationGraceSeconds: i64 = 30;
  script: string = "";
  logText: string = "";
  initialEventsEnd: bool = false;
  ownedByDaemonSet: bool = false;
  nodeName: string = "";
  restartPolicy: string = "Always";
  hostNetwork: bool = false;
  containers: string[] = [];
  images: string[] = [];
  initContainers: string[] = [];
  initImages: string[] = [];
  osName: string = "";
  phase: string = "";
  startTime: string = "";
  scheduledOnServer: bool = false;
  serverRestarts: i32 = -1;
  runtimeClassName: string = "";
  pullSecrets: string[] = [];

  // Admission inputs.
  cpuMilli: i64 = 0;
  memoryBytes: i64 = 0;
  private initCpu: i64 = 0;
  private initMem: i64 = 0;
  /** A request or limit could not be read. */
  badQuantity: string = "";
  /** No container has any request or limit (BestEffort). */
  anyResources: bool = false;
  /** Every container has cpu and memory limits equal to its requests (Guaranteed). */
  allGuaranteed: bool = true;
  /** The first nodeSelector entry the node's labels do not satisfy ("" when all do). */
  selectorMiss: string = "";
  /** Required node affinity: present, and some term matched. */
  affinityRequired: bool = false;
  affinityMatched: bool = false;
  /** Node NoExecute taints tolerated (bit i for the i-th NoExecute taint of the configuration). */
  tolerated: u32 = 0;
  toleratesMemoryPressure: bool = false;
  /** More containers than MAX_CONTAINERS. */
  tooManyContainers: bool = false;

  private res: Resources = new Resources();
  private initRes: Resources = new Resources();
  private tolKey: string = "";
  private tolOp: string = "";
  private tolValue: string = "";
  private tolEffect: string = "";
  private termOk: bool = true;
  private termHasRules: bool = false;
  private exprKey: string = "";
  private exprOp: string = "";
  private exprValues: string[] = [];
  private inField: bool = false;

  /** The node's configuration (labels, taints, name), set when the core starts. */
  cfg: Config = new Config();

  reset(): void {
    this.name = "";
    this.namespace = "";
    this.uid = "";
    this.resourceVersion = "";
    this.generation = -1;
    this.deleting = false;
    this.graceSeconds = -1;
    this.terminationGraceSeconds = 30;
    this.script = "";
    this.logText = "";
    this.initialEventsEnd = false;
    this.ownedByDaemonSet = false;
    this.nodeName = "";
    this.restartPolicy = "Always";
    this.hostNetwork = false;
    this.containers = [];
    this.images = [];
    this.initContainers = [];
    this.initImages = [];
    this.osName = "";
    this.phase = "";
    this.startTime = "";
    this.scheduledOnServer = false;
    this.serverRestarts = -1;
    this.runtimeClassName = "";
    this.pullSecrets = [];
    this.cpuMilli = 0;
    this.memoryBytes = 0;
    this.initCpu = 0;
    this.initMem = 0;
    this.badQuantity = "";
    this.anyResources = false;
    this.allGuaranteed = true;
    this.selectorMiss = "";
    this.affinityRequired = false;
    this.affinityMatched = false;
    this.tolerated = 0;
    this.toleratesMemoryPressure = false;
    this.tooManyContainers = false;
  }

  /**
   * True when every field the node needs arrived, and the name and namespace are names the API server
   * could have (they go into request paths as they are: anything else is not a pod, but damage).
   */
  get complete(): bool {
    return this.uid.length > 0 && isSubdomain(this.name) && isSubdomain(this.namespace);
  }

  /** A brain pod: it asks the node to run another kubelet core, not to play containers (docs/brain.md). */
  get isBrain(): bool {
    return this.runtimeClassName == BRAIN_RUNTIME_CLASS;
  }

  /** The QoS class (pkg/apis/core/v1/helper/qos): BestEffort, Guaranteed or Burstable. */
  get qosClass(): string {
    if (!this.anyResources) return "BestEffort";
    return this.allGuaranteed ? "Guaranteed" : "Burstable";
  }

  /** The pod's requests as the scheduler counts them: the larger of the init maximum and the sum. */
  finishRequests(): void {
    if (this.initCpu > this.cpuMilli) this.cpuMilli = this.initCpu;
    if (this.initMem > this.memoryBytes) this.memoryBytes = this.initMem;
  }

  begin(field: i32, kind: ValueKind): void {
    if (field == P_CONTAINER) this.res.reset();
    else if (field == P_INIT) this.initRes.reset();
    else if (field == P_TOL) {
      this.tolKey = "";
      this.tolOp = "";
      this.tolValue = "";
      this.tolEffect = "";
    } else if (field == P_TERM) {
      this.affinityRequired = true;
      this.termOk = true;
      this.termHasRules = false;
    } else if (field == P_EXPR || field == P_FIELD) {
      this.exprKey = "";
      this.exprOp = "";
      this.exprValues = [];
      this.inField = field == P_FIELD;
    }
  }

  end(field: i32): void {
    if (field == P_CONTAINER) this.containerEnded(this.res, false);
    else if (field == P_INIT) this.containerEnded(this.initRes, true);
    else if (field == P_TOL) this.tolerationEnded();
    else if (field == P_EXPR || field == P_FIELD) {
      this.termHasRules = true;
      if (!this.expressionHolds()) this.termOk = false;
    } else if (field == P_TERM) {
      // An empty term matches nothing (NodeSelectorTerm semantics).
      if (this.termOk && this.termHasRules) this.affinityMatched = true;
    }
  }

  value(field: i32, kind: ValueKind, v: ByteBuffer, key: ByteBuffer): void {
    const str = kind == ValueKind.String;
    switch (field) {
      case P_NAME: if (str) this.name = v.toString(); break;
      case P_NAMESPACE: if (str) this.namespace = v.toString(); break;
      case P_UID: if (str) this.uid = v.toString(); break;
      case P_RV: if (str) this.resourceVersion = v.toString(); break;
      case P_GENERATION: if (kind == ValueKind.Number) this.generation = numberOf(v); break;
      case P_DELETION: if (str) this.deleting = true; break;
      case P_GRACE: if (kind == ValueKind.Number) this.graceSeconds = numberOf(v); break;
      case P_TGPS: if (kind == ValueKind.Number) this.terminationGraceSeconds = numberOf(v); break;
      case P_ANNOTATION:
        if (!str) break;
        if (bytesEqual(key, SCRIPT_ANNOTATION)) this.script = v.toString();
        else if (bytesEqual(key, LOG_ANNOTATION)) this.logText = v.toString();
        else if (bytesEqual(key, INITIAL_EVENTS_END) && bytesEqual(v, "true")) this.initialEventsEnd = true;
        break;
      case P_OWNER_KIND: if (str && bytesEqual(v, "DaemonSet")) this.ownedByDaemonSet = true; break;
      case P_NODE: if (str) this.nodeName = v.toString(); break;
      case P_RESTART: if (str) this.restartPolicy = v.toString(); break;
      case P_HOSTNET: this.hostNetwork = kind == ValueKind.True; break;
      case P_C_NAME: this.addName(this.containers, v); break;
      case P_C_IMAGE: this.addName(this.images, v); break;
      case P_I_NAME: this.addName(this.initContainers, v); break;
      case P_I_IMAGE: this.addName(this.initImages, v); break;
      case P_C_REQ: this.quantity(this.res, true, key, v); break;
      case P_C_LIM: this.quantity(this.res, false, key, v); break;
      case P_I_REQ: this.quantity(this.initRes, true, key, v); break;
      case P_I_LIM: this.quantity(this.initRes, false, key, v); break;
      case P_SELECTOR:
        if (this.selectorMiss.length == 0 && (!str || !labelIs(this.cfg.labels, key, v))) this.selectorMiss = key.toString() + "=" + v.toString();
        break;
      case P_TOL_KEY: if (str) this.tolKey = v.toString(); break;
      case P_TOL_OP: if (str) this.tolOp = v.toString(); break;
      case P_TOL_VALUE: if (str) this.tolValue = v.toString(); break;
      case P_TOL_EFFECT: if (str) this.tolEffect = v.toString(); break;
      case P_EXPR_KEY: case P_FIELD_KEY: if (str) this.exprKey = v.toString(); break;
      case P_EXPR_OP: case P_FIELD_OP: if (str) this.exprOp = v.toString(); break;
      case P_EXPR_VALUES: case P_FIELD_VALUES:
        if (str && this.exprValues.length < MAX_VALUES) this.exprValues.push(v.toString());
        break;
      case P_OS: if (str) this.osName = v.toString(); break;
      case P_PHASE: if (str) this.phase = v.toString(); break;
      case P_START: if (str) this.startTime = v.toString(); break;
      case P_COND_TYPE: if (str && bytesEqual(v, "PodScheduled")) this.scheduledOnServer = true; break;
      case P_RUNTIME_CLASS: if (str) this.runtimeClassName = v.toString(); break;
      case P_PULL_SECRET: if (str && this.pullSecrets.length < MAX_PULL_SECRETS) this.pullSecrets.push(v.toString()); break;
      case P_CS_RESTARTS: {
        const n = <i32>numberOf(v);
        if (kind == ValueKind.Number && n > this.serverRestarts) this.serverRestarts = n;
        break;
      }
    }
  }

  private addName(list: string[], v: ByteBuffer): void {
    if (list.length >= MAX_CONTAINERS) {
      this.tooManyContainers = true;
      return;
    }
    list.push(v.toString());
  }

  private quantity(r: Resources, request: bool, key: ByteBuffer, v: ByteBuffer): void {
    const cpu = bytesEqual(key, "cpu");
    const mem = bytesEqual(key, "memory");
    if (!cpu && !mem) return;
    this.anyResources = true;
    const text = v.toString();
    const q = cpu ? parseCpuMilli(text) : parseUnits(text);
    if (q < 0) {
      if (this.badQuantity.length == 0) this.badQuantity = key.toString() + ": " + text;
      return;
    }
    if (cpu) {
      if (request) r.cpuReq = q;
      else r.cpuLim = q;
    } else if (request) r.memReq = q;
    else r.memLim = q;
  }

  private containerEnded(r: Resources, init: bool): void {
    // A request defaults to the limit when only the limit is given.
    const cpu = r.cpuReq >= 0 ? r.cpuReq : r.cpuLim >= 0 ? r.cpuLim : 0;
    const mem = r.memReq >= 0 ? r.memReq : r.memLim >= 0 ? r.memLim : 0;
    if (init) {
      if (cpu > this.initCpu) this.initCpu = cpu;
      if (mem > this.initMem) this.initMem = mem;
    } else {
      this.cpuMilli += cpu;
      this.memoryBytes += mem;
    }
    const guaranteed = r.cpuLim >= 0 && r.memLim >= 0 && (r.cpuReq < 0 || r.cpuReq == r.cpuLim) && (r.memReq < 0 || r.memReq == r.memLim);
    if (!guaranteed) this.allGuaranteed = false;
  }

  /** One toleration ended: which of the node's NoExecute taints (and memory pressure) it tolerates. */
  private tolerationEnded(): void {
    const taints = this.cfg.taints;
    let bit: u32 = 1;
    for (let i = 0; i < taints.length; i++) {
      const t = taints[i];
      if (t.effect != "NoExecute") continue;
      if (this.tolerates(t.key, t.value, t.effect)) this.tolerated |= bit;
      bit <<= 1;
    }
    if (this.tolerates(MEMORY_PRESSURE_TAINT, "", "NoSchedule")) this.toleratesMemoryPressure = true;
  }

  /** Toleration.ToleratesTaint (k8s.io/api core/v1 toleration.go). */
  private tolerates(key: string, value: string, effect: string): bool {
    if (this.tolEffect.length > 0 && this.tolEffect != effect) return false;
    if (this.tolKey.length == 0) return this.tolOp == "Exists";
    if (this.tolKey != key) return false;
    if (this.tolOp == "Exists") return true;
    return (this.tolOp.length == 0 || this.tolOp == "Equal") && this.tolValue == value;
  }

  /** A node selector requirement against the node's labels (or, in matchFields, its name). */
  private expressionHolds(): bool {
    let has = false;
    let actual = "";
    if (this.inField) {
      has = this.exprKey == "metadata.name";
      actual = this.cfg.nodeName;
    } else {
      const labels = this.cfg.labels;
      for (let i = 0; i < labels.length; i++) {
        if (labels[i].key == this.exprKey) {
          has = true;
          actual = labels[i].value;
          break;
        }
      }
    }
    const op = this.exprOp;
    if (op == "Exists") return has;
    if (op == "DoesNotExist") return !has;
    if (op == "In" || op == "NotIn") {
      let found = false;
      for (let i = 0; i < this.exprValues.length; i++) if (has && this.exprValues[i] == actual) found = true;
      return op == "In" ? found : !found;
    }
    if ((op == "Gt" || op == "Lt") && has && this.exprValues.length == 1) {
      const a = decimal(actual);
      const b = decimal(this.exprValues[0]);
      if (a == I64.MIN_VALUE || b == I64.MIN_VALUE) return false;
      return op == "Gt" ? a > b : a < b;
    }
    return false;
  }
}

/** The NoExecute taints of the configuration (the bits of PodDraft.tolerated). */
export function noExecuteTaints(cfg: Config): Taint[] {
  const out: Taint[] = [];
  for (let i = 0; i < cfg.taints.length; i++) if (cfg.taints[i].effect == "NoExecute") out.push(cfg.taints[i]);
  return out;
}

function labelIs(labels: Pair[], key: ByteBuffer, v: ByteBuffer): bool {
  for (let i = 0; i < labels.length; i++) {
    if (bytesEqual(key, labels[i].key)) return bytesEqual(v, labels[i].value);
  }
  return false;
}
