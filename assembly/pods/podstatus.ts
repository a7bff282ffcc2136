/**
 * The bodies the node sends about pods, byte-exact: the status patch (the kubelet's
 * generateAPIPodStatus, pkg/kubelet/kubelet_pods.go and pkg/kubelet/status/generate.go), the delete
 * options, and nothing else. Conditions merge by type on the server (strategic merge), so conditions
 * other components own survive; containerStatuses are replaced whole, as the kubelet's are.
 *
 * podIP: the node has no pod network, so only a hostNetwork pod gets an IP (the node's), as the kubelet
 * does for hostNetwork pods; every other pod honestly has none.
 */
import { ByteBuffer, fnv1a64 } from "../util/bytes";
import { JsonWriter } from "../json/writer";
import { Pod, Role, Stage } from "./pod";

/** The phase the status reports. */
export function phaseOf(pod: Pod): string {
  if (pod.role == Role.Rejected || pod.role == Role.Deleting) return "Failed";
  if (pod.stage == Stage.Done) return pod.succeeded ? "Succeeded" : "Failed";
  if (pod.stage == Stage.Running || pod.stage == Stage.BackOff) return "Running";
  return "Pending";
}

/** `PATCH pods/NAME/status` body (strategic merge) with the uid as precondition. */
export function podStatusPatch(out: ByteBuffer, pod: Pod, hostIp: string): void {
  const w = new JsonWriter(out);
  w.beginObject();
  w.key("metadata").beginObject().field("uid", pod.uid).endObject();
  w.key("status");
  writePodStatus(w, pod, hostIp);
  w.endObject();
}

/** The pod's `status` object, as this node reports it (status PATCHes and the kubelet port's /pods). */
export function writePodStatus(w: JsonWriter, pod: Pod, hostIp: string): void {
  w.beginObject();
  if (pod.generation >= 0) w.fieldInt("observedGeneration", pod.generation);
  w.field("phase", phaseOf(pod));
  if (pod.role == Role.Rejected || pod.role == Role.Deleting) {
    // A refused pod: reason and message, as rejectPod writes them.
    w.field("reason", pod.reason);
    w.field("message", "Pod was rejected: " + pod.message);
    w.field("qosClass", pod.qosClass);
    w.endObject();
    return;
  }
  conditions(w, pod);
  if (hostIp.length > 0) {
    w.field("hostIP", hostIp);
    w.key("hostIPs").beginArray().beginObject().field("ip", hostIp).endObject().endArray();
    if (pod.hostNetwork) {
      w.field("podIP", hostIp);
      w.key("podIPs").beginArray().beginObject().field("ip", hostIp).endObject().endArray();
    }
  }
  w.key("startTime");
  if (pod.startTimeText.length > 0) w.string(pod.startTimeText);
  else w.timestamp(pod.startTimeMs);
  if (pod.initContainers.length > 0) {
    w.key("initContainerStatuses").beginArray();
    for (let i = 0; i < pod.initContainers.length; i++) initStatus(w, pod, i);
    w.endArray();
  }
  w.key("containerStatuses").beginArray();
  for (let i = 0; i < pod.containers.length; i++) containerStatus(w, pod, i);
  w.endArray();
  w.field("qosClass", pod.qosClass);
  w.endObject();
}

/** `DELETE pods/NAME` body: at once, only this incarnation of the pod. */
export function podDeleteBody(out: ByteBuffer, pod: Pod): void {
  const w = new JsonWriter(out);
  w.beginObject().field("kind", "DeleteOptions").field("apiVersion", "v1").fieldInt("gracePeriodSeconds", 0);
  w.key("preconditions").beginObject().field("uid", pod.uid).endObject();
  w.endObject();
}

function conditions(w: JsonWriter, pod: Pod): void {
  const done = pod.stage == Stage.Done;
  const ready = pod.readyMs != 0 && pod.stage == Stage.Running;
  w.key("conditions").beginArray();
  condition(w, pod, "PodReadyToStartContainers", !done, done ? pod.finishedMs : pod.sandboxReadyMs, "", "");
  const pending = pendingInit(pod);
  condition(w, pod, "Initialized", pod.initializedMs != 0, pod.initializedMs != 0 ? pod.initializedMs : pod.startTimeMs,
    pod.initializedMs != 0 ? "" : "ContainersNotInitialized", pending.length > 0 ? "containers with incomplete status: [" + pending + "]" : "");
  const reason = ready ? "" : done ? (pod.succeeded ? "PodCompleted" : "PodFailed") : "ContainersNotReady";
  const message = ready || done ? "" : "containers with unready status: [" + pod.containers.join(" ") + "]";
  condition(w, pod, "Ready", ready, pod.readyChangedMs, reason, message);
  condition(w, pod, "ContainersReady", ready, pod.readyChangedMs, reason, message);
  if (!pod.scheduledOnServer) condition(w, pod, "PodScheduled", true, pod.startTimeMs, "", "");
  w.endArray();
}

function condition(w: JsonWriter, pod: Pod, type: string, status: bool, atMs: i64, reason: string, message: string): void {
  w.beginObject().field("type", type);
  if (pod.generation >= 0) w.fieldInt("observedGeneration", pod.generation);
  w.field("status", status ? "True" : "False");
  w.key("lastProbeTime").rawValue().str("null");
  w.key("lastTransitionTime");
  w.timestamp(atMs);
  if (reason.length > 0) w.field("reason", reason);
  if (message.length > 0) w.field("message", message);
  w.endObject();
}

/** Names of the init containers that have not completed, space-separated. */
function pendingInit(pod: Pod): string {
  if (pod.initializedMs != 0) return "";
  let s = "";
  const from = pod.initIndex < 0 ? ~pod.initIndex : pod.initIndex;
  for (let i = from; i < pod.initContainers.length; i++) s += (s.length > 0 ? " " : "") + pod.initContainers[i];
  return s;
}

function initStatus(w: JsonWriter, pod: Pod, i: i32): void {
  const cur = pod.initIndex < 0 ? ~pod.initIndex : pod.initIndex;
  const completed = pod.initializedMs != 0 || i < cur;
  const running = !completed && i == cur && pod.initIndex >= 0 && pod.stage == Stage.Initializing;
  w.beginObject().field("name", pod.initContainers[i]);
  w.key("state").beginObject();
  if (completed) {
    w.key("terminated").beginObject().fieldInt("exitCode", 0).field("reason", "Completed");
    w.key("startedAt");
    w.timestamp(pod.startTimeMs);
    w.key("finishedAt");
    w.timestamp(pod.initializedMs != 0 ? pod.initializedMs : pod.startTimeMs);
    w.field("containerID", containerId(pod, pod.initContainers[i], 0)).endObject();
  } else if (running) {
    w.key("running").beginObject().key("startedAt");
    w.timestamp(pod.startTimeMs);
    w.endObject();
  } else {
    w.key("waiting").beginObject().field("reason", "PodInitializing").endObject();
  }
  w.endObject();
  w.key("lastState").beginObject().endObject();
  w.key("ready").bool(completed);
  w.fieldInt("restartCount", 0);
  w.field("image", pod.initImages[i]);
  w.field("imageID", completed || running ? imageId(pod.initImages[i]) : "");
  if (completed || running) w.field("containerID", containerId(pod, pod.initContainers[i], 0));
  w.key("started").bool(running);
  w.endObject();
}

function containerStatus(w: JsonWriter, pod: Pod, i: i32): void {
  const name = pod.containers[i];
  const stage = pod.stage;
  const created = stage == Stage.Running || stage == Stage.BackOff || (stage == Stage.Done && pod.exited);
  w.beginObject().field("name", name);
  w.key("state").beginObject();
  if (stage == Stage.Running) {
    w.key("running").beginObject().key("startedAt");
    w.timestamp(pod.lastStartedMs);
    w.endObject();
  } else if (stage == Stage.Done && pod.exited) {
    w.key("terminated");
    terminated(w, pod, name, pod.restartCount);
  } else if (stage == Stage.BackOff) {
    w.key("waiting").beginObject().field("reason", "CrashLoopBackOff");
    w.field("message", "back-off " + (pod.nextBackoffMs / 1000).toString() + "s restarting failed container=" + name + " pod=" + pod.name + "_" +
      pod.namespace + "(" + pod.uid + ")");
    w.endObject();
  } else if (pod.role == Role.Brain) {
    w.key("waiting").beginObject().field("reason", pod.reason).field("message", pod.message).endObject();
  } else {
    const initializing = pod.initializedMs == 0;
    w.key("waiting").beginObject().field("reason", initializing ? "PodInitializing" : "ContainerCreating").endObject();
  }
  w.endObject();
  w.key("lastState").beginObject();
  // lastState is the previous run: shown once a container has restarted, or while it waits to.
  if (pod.exited && (stage == Stage.BackOff || (stage == Stage.Running && pod.restartCount > 0))) {
    w.key("terminated");
    terminated(w, pod, name, stage == Stage.BackOff ? pod.restartCount : pod.restartCount - 1);
  }
  w.endObject();
  w.key("ready").bool(stage == Stage.Running && pod.readyMs != 0);
  w.fieldInt("restartCount", pod.restartCount);
  w.field("image", pod.images[i]);
  w.field("imageID", created ? (pod.imageRef.length > 0 ? pod.imageRef : imageId(pod.images[i])) : "");
  if (created) w.field("containerID", containerId(pod, name, pod.restartCount));
  w.key("started").bool(stage == Stage.Running);
  w.endObject();
}

function terminated(w: JsonWriter, pod: Pod, name: string, run: i32): void {
  const code = pod.lastExitCode;
  w.beginObject().fieldInt("exitCode", code).field("reason", code == 0 ? "Completed" : "Error");
  w.key("startedAt");
  w.timestamp(pod.lastStartedMs);
  w.key("finishedAt");
  w.timestamp(pod.lastFinishedMs);
  w.field("containerID", containerId(pod, name, run));
  w.endObject();
}

/** A made-up but stable container ID: the runtime scheme says what it is. */
function containerId(pod: Pod, name: string, run: i32): string {
  // A brain pod's container is the brain itself: named by its digest.
  const at = pod.imageRef.indexOf("@sha256:");
  if (at >= 0) return "brain://" + pod.imageRef.substring(at + 8, at + 24);
  const b = new ByteBuffer(32, 32);
  b.hex(fnv1a64(pod.uid + "/" + name + "/" + run.toString()), 16);
  return "lies://" + b.toString();
}

/** A made-up image digest, the same for the same image everywhere. */
export function imageId(image: string): string {
  const b = new ByteBuffer(40, 40);
  b.hex(fnv1a64(image), 16);
  b.hex(fnv1a64(image + "#"), 16);
  return "lies://sha256:" + b.toString();
}
