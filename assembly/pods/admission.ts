/**
 * Pod admission, as the kubelet's admit handlers decide it (pkg/kubelet/lifecycle/predicate.go and the
 * eviction manager's admit): the first failing check refuses the pod with the kubelet's reason. Only what a
 * kubelet checks is checked; in particular only NoExecute taints, since NoSchedule is the scheduler's.
 *
 * Brain pods (runtimeClassName picokubelet-brain, docs/brain.md) are judged by their own rules: they are
 * the node itself, not a workload, so resources, the OS field, MemoryPressure and `daemonSetPods: refuse`
 * do not apply (a brain DaemonSet is how a rack is upgraded), while where they come from does.
 */
import { Config, Pair } from "../node/config";
import { noExecuteTaints, PodDraft } from "./draft";
import { parseCpuMilli, parseUnits } from "./quantity";

/** What the node already holds: admitted pods and the sum of their requests. */
export class Usage {
  pods: i32 = 0;
  cpuMilli: i64 = 0;
  memoryBytes: i64 = 0;
  /** `namespace/name` of the brain pod the node holds ("": none). */
  brain: string = "";
}

/** A refusal: the kubelet's reason and message ("" reason: admitted). */
export class Verdict {
  reason: string = "";
  message: string = "";
  get admitted(): bool {
    return this.reason.length == 0;
  }
}

/** Judges `d` against the node's allocatable and what it holds. `refuseDaemonSets` is the configuration's choice. */
export function admit(d: PodDraft, cfg: Config, used: Usage, memoryPressure: bool, refuseDaemonSets: bool): Verdict {
  const v = new Verdict();
  if (d.tooManyContainers) return refuse(v, "UnexpectedAdmissionError", "picokubelet plays at most 8 containers and 8 init containers per pod");
  if (d.badQuantity.length > 0) return refuse(v, "UnexpectedAdmissionError", "cannot read the resource quantity " + d.badQuantity);
  if (d.isBrain) {
    if (!cfg.brainNamespaces.includes(d.namespace)) {
      return refuse(v, "BrainNotTrusted", "brain pods are only honoured from the namespaces this node trusts (brainNamespaces: " +
        (cfg.brainNamespaces.length > 0 ? cfg.brainNamespaces.join(", ") : "none") + ")");
    }
    if (d.containers.length != 1 || d.initContainers.length > 0) {
      return refuse(v, "BrainInvalid", "a brain pod has exactly one container, whose image names the brain artifact, and no init containers");
    }
    if (used.brain.length > 0) {
      return refuse(v, "BrainConflict", "this node already follows brain pod " + used.brain + "; one brain pod per node " +
        "(delete that one first, or let the DaemonSet's rolling update replace it)");
    }
    return placement(v, d, cfg);
  }
  if (refuseDaemonSets && d.ownedByDaemonSet) {
    return refuse(v, "DaemonSetRefused", "this node is configured with daemonSetPods: refuse; keep the DaemonSet off it with a node affinity (README, pods)");
  }
  if (d.osName.length > 0 && d.osName != "linux") {
    return refuse(v, "PodOSNotSupported", "Failed to admit pod as the OS field doesn't match node OS");
  }
  // Resources: pods first, then cpu and memory, in the kubelet's order.
  const pods = allocatable(cfg.capacity, "pods", DEFAULT_PODS);
  if (<i64>used.pods + 1 > pods) return insufficient(v, "pods", 1, <i64>used.pods, pods);
  const cpu = allocatable(cfg.capacity, "cpu", -1);
  if (cpu >= 0 && d.cpuMilli > 0 && used.cpuMilli + d.cpuMilli > cpu) return insufficient(v, "cpu", d.cpuMilli, used.cpuMilli, cpu);
  const mem = allocatable(cfg.capacity, "memory", -1);
  if (mem >= 0 && d.memoryBytes > 0 && used.memoryBytes + d.memoryBytes > mem) return insufficient(v, "memory", d.memoryBytes, used.memoryBytes, mem);
  placement(v, d, cfg);
  if (!v.admitted) return v;
  if (memoryPressure && d.qosClass == "BestEffort" && !d.toleratesMemoryPressure) {
    return refuse(v, "Evicted", "The node had condition: [MemoryPressure]. ");
  }
  return v;
}

/** Whether the pod may run on this node at all: its node selector and affinity, and NoExecute taints. */
function placement(v: Verdict, d: PodDraft, cfg: Config): Verdict {
  if (d.selectorMiss.length > 0 || (d.affinityRequired && !d.affinityMatched)) {
    return refuse(v, "NodeAffinity", "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector");
  }
  const taints = noExecuteTaints(cfg);
  let bit: u32 = 1;
  for (let i = 0; i < taints.length; i++) {
    if ((d.tolerated & bit) == 0) {
      const t = taints[i];
      return refuse(v, "TaintToleration", "Predicate TaintToleration failed: node(s) had untolerated taint {" + t.key + ": " + t.value + "}");
    }
    bit <<= 1;
  }
  return v;
}

function refuse(v: Verdict, reason: string, message: string): Verdict {
  v.reason = reason;
  v.message = message;
  return v;
}

/** OutOf<resource>, with the kubelet's message. */
function insufficient(v: Verdict, resource: string, requested: i64, used: i64, capacity: i64): Verdict {
  return refuse(v, "OutOf" + resource, "Node didn't have enough resource: " + resource + ", requested: " + requested.toString() +
    ", used: " + used.toString() + ", capacity: " + capacity.toString());
}

/** The kubelet's default `pods` capacity, for a configuration that does not say. */
export const DEFAULT_PODS: i64 = 110;

/** The allocatable amount of `name` (cpu in millicores, others in units), or `fallback` when not configured. */
export function allocatable(capacity: Pair[], name: string, fallback: i64): i64 {
  for (let i = 0; i < capacity.length; i++) {
    if (capacity[i].key != name) continue;
    const q = name == "cpu" ? parseCpuMilli(capacity[i].value) : parseUnits(capacity[i].value);
    return q < 0 ? fallback : q;
  }
  return fallback;
}
