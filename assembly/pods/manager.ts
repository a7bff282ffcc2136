/**
 * The pod manager: the pods bound to this node, what happens to them, and what the server is told.
 * It is three kubelet parts in one small table: the pod manager (which pods exist), the pod workers
 * (each admitted pod's lifecycle, pods/lifecycle.ts) and the status manager (a strategic-merge PATCH of
 * pods/NAME/status with the uid as precondition, sent only when the generated status changed, retried
 * with backoff; a pod gone meanwhile is forgotten; a terminal pod with a deletionTimestamp is DELETEd
 * with gracePeriodSeconds 0 and the uid precondition once its terminal status landed).
 *
 * Bounded: it holds at most the `pods` capacity of playing pods plus EXTRA_SLOTS pods being refused or
 * deleted; anything beyond is left for the next relist, which sees it again.
 */
import { ByteBuffer } from "../util/bytes";
import { logInfo, logWarn } from "../util/log";
import { HttpRequest, STRATEGIC_MERGE_PATCH } from "../http/request";
import { HttpResult } from "../http/lane";
import { Outcome } from "../http/outcome";
import { Context } from "../node/context";
import { Signal, Worker } from "../node/worker";
import { Work } from "../node/work";
import { admit, allocatable, DEFAULT_PODS, Usage } from "./admission";
import { PodDraft } from "./draft";
import { EventRecorder } from "./events";
import { begin, kill, step } from "./lifecycle";
import { Pod, Role, Script, Stage } from "./pod";
import { podDeleteBody, podStatusPatch } from "./podstatus";
import { parseScript } from "./script";
import { resumePod } from "./resume";

/** Pods held beyond the capacity: refusals and deletions in flight. */
export const EXTRA_SLOTS = 8;
/** The waiting reason of a trusted brain pod before the brain puller has looked at it (docs/brain.md). */
export const BRAIN_WAITING = "ContainerCreating";
const RETRY_BASE_MS: i64 = 1_000;
const RETRY_CAP_MS: i64 = 30_000;

export class PodManager extends Worker {
  readonly pods: Pod[] = [];
  /** Set by the node's status (MemoryPressure) for admission. */
  memoryPressure: bool = false;
  /** The configuration's `daemonSetPods: refuse`. */
  refuseDaemonSets: bool = false;
  /** Counters for stat and tests. */
  admitted: i64 = 0;
  rejected: i64 = 0;
  deleted: i64 = 0;
  statusPatches: i64 = 0;
  /** Pod records from the snapshot of a brain swap, by uid (pods/resume.ts): used once, when the relist brings the pod. */
  readonly resumed: Map<string, string> = new Map<string, string>();
  /** The pod and what its request in flight carries. */
  private inflight: Pod | null = null;
  private inflightHash: u32 = 0;
  private scratch: ByteBuffer = new ByteBuffer(1024, 16 * 1024);
  /** The host IP the cached status hashes were computed with. */
  private hashedIp: string = "";

  constructor(private ctx: Context, readonly events: EventRecorder) {
    super();
  }

  /** Pods admitted and not terminal (what admission counts). */
  get active(): i32 {
    let n = 0;
    for (let i = 0; i < this.pods.length; i++) {
      const p = this.pods[i];
      if (p.role == Role.Playing && !p.terminal) n++;
    }
    return n;
  }

  /** A pod object arrived (list item, initial event, ADDED or MODIFIED). */
  apply(now: i64, d: PodDraft): void {
    if (!d.complete) return;
    const pod = this.find(d.uid);
    if (pod !== null) {
      this.update(now, pod, d);
      return;
    }
    if (d.phase == "Succeeded" || d.phase == "Failed") {
      // Terminal before we knew it (deleted while the node was away, or refused earlier): only a delete is owed.
      if (d.deleting) this.hold(now, d, Role.Deleting, "", "");
      return;
    }
    if (d.deleting) {
      // Never started here: nothing to stop, let it go.
      this.hold(now, d, Role.Deleting, "", "");
      return;
    }
    d.finishRequests();
    const used = this.usage();
    const verdict = admit(d, this.ctx.cfg, used, this.memoryPressure, this.refuseDaemonSets);
    if (!verdict.admitted) {
      const p = this.hold(now, d, Role.Rejected, verdict.reason, verdict.message);
      if (p !== null) {
        this.rejected++;
        logWarn("pod " + p.key + " rejected: " + verdict.reason + ": " + verdict.message);
        this.events.podEvent(now, p, "", false, true, verdict.reason, verdict.message);
      }
      return;
    }
    if (d.isBrain) {
      this.holdBrain(now, d);
      return;
    }
    const p = this.hold(now, d, Role.Playing, "", "");
    if (p === null) return;
    this.admitted++;
    if (this.resumed.has(d.uid)) {
      const ok = resumePod(p, this.resumed.get(d.uid));
      this.resumed.delete(d.uid);
      if (ok) {
        // The same pod the previous brain was playing: carried on, not started again.
        if (d.startTime.length > 0) p.startTimeText = d.startTime;
        p.dirty = true;
        logInfo("pod " + p.key + " carried on from the previous brain (restarts " + p.restartCount.toString() + ")");
        this.changed(now);
        return;
      }
    }
    if (d.serverRestarts >= 0) {
      // Bound before our last boot: a reboot is a restart of its containers, honestly counted.
      p.restartCount = d.serverRestarts + (d.phase == "Running" ? 1 : 0);
    }
    if (d.startTime.length > 0) p.startTimeText = d.startTime;
    logInfo("pod " + p.key + " admitted (" + p.containers.length.toString() + " container" + (p.containers.length == 1 ? "" : "s") +
      ", restartPolicy " + p.restartPolicy + ", " + p.qosClass + ")");
    begin(p, now, this.ctx.clock.wallMs(now), this.events);
    // hold() already cached a status hash; begin() changed the pod after it.
    p.dirty = true;
    this.changed(now);
  }

  /**
   * A trusted brain pod: held, never played. The brain puller (brain/puller.ts) follows it from here
   * (`brainPod`): Pending, its container waiting, until the node runs the brain it names.
   */
  private holdBrain(now: i64, d: PodDraft): void {
    const p = this.hold(now, d, Role.Brain, BRAIN_WAITING, "");
    if (p === null) return;
    this.admitted++;
    p.startTimeMs = this.ctx.clock.wallMs(now);
    if (d.startTime.length > 0) p.startTimeText = d.startTime;
    if (d.serverRestarts > 0) p.restartCount = d.serverRestarts;
    p.sandboxReadyMs = p.startTimeMs;
    p.readyChangedMs = p.startTimeMs;
    p.initializedMs = p.startTimeMs;
    p.dirty = true;
    logInfo("pod " + p.key + " is a brain pod: the node follows its image " + (d.images.length > 0 ? d.images[0] : ""));
    this.changed(now);
  }

  /** The trusted brain pod held (at most one), or null. */
  brainPod(): Pod | null {
    for (let i = 0; i < this.pods.length; i++) {
      const p = unchecked(this.pods[i]);
      if (p.role == Role.Brain && !p.deleting) return p;
    }
    return null;
  }

  /** A DELETED watch event: the pod is gone from the server. */
  removed(now: i64, uid: string): void {
    const p = this.find(uid);
    if (p !== null) this.forget(p, "deleted from the API server");
    this.changed(now);
  }

  /** A relist begins: every held pod must be seen again. */
  beginRelist(): void {
    for (let i = 0; i < this.pods.length; i++) this.pods[i].seen = false;
  }

  /** A relist ended: pods not in it were deleted while we were not watching. */
  endRelist(now: i64): void {
    // Records of pods the relist did not bring back are of no more use.
    this.resumed.clear();
    for (let i = this.pods.length - 1; i >= 0; i--) {
      const p = this.pods[i];
      if (!p.seen) this.forget(p, "not in the relist");
    }
    this.changed(now);
  }

  /** Time passed: play the due lifecycle steps. */
  /** Charges `micros` of the core's CPU time evenly to the running pods (their containers share it). */
  chargeCpu(micros: i64): void {
    let running = 0;
    for (let i = 0; i < this.pods.length; i++) if (this.pods[i].stage == Stage.Running) running++;
    if (running == 0) return;
    const each = micros / <i64>running;
    for (let i = 0; i < this.pods.length; i++) if (this.pods[i].stage == Stage.Running) this.pods[i].cpuMicros += each;
  }

  tick(now: i64): bool {
    let any = false;
    const wall = this.ctx.clock.wallMs(now);
    for (let i = 0; i < this.pods.length; i++) {
      const p = this.pods[i];
      if (p.role == Role.Playing && step(p, now, wall, this.events)) {
        p.dirty = true;
        any = true;
      }
    }
    if (any) this.changed(now);
    return any;
  }

  /** The earliest lifecycle step (-1: none). */
  nextStep(): i64 {
    let d: i64 = -1;
    for (let i = 0; i < this.pods.length; i++) {
      const t = this.pods[i].nextStepAt;
      if (t >= 0 && (d < 0 || t < d)) d = t;
    }
    return d;
  }

  request(now: i64): HttpRequest {
    const ctx = this.ctx;
    const p = this.next(now);
    // next() is non-null whenever the task is ready (changed() keeps them in step).
    const pod = p !== null ? p : this.pods[0];
    this.inflight = pod;
    const body = ctx.body;
    body.clear();
    const path = "/api/v1/namespaces/" + pod.namespace + "/pods/" + pod.name;
    if (this.wantsDelete(pod)) {
      podDeleteBody(body, pod);
      const r = ctx.request(Work.PodDelete, "DELETE", path, "", true, false);
      return r;
    }
    podStatusPatch(body, pod, ctx.identity.ip);
    this.inflightHash = hash(body);
    return ctx.request(Work.PodStatus, "PATCH", path + "/status", STRATEGIC_MERGE_PATCH, true, false);
  }

  handle(now: i64, r: HttpResult): Signal {
    const pod = this.inflight;
    this.inflight = null;
    if (pod === null || this.pods.indexOf(pod) < 0) {
      this.changed(now);
      return Signal.None;
    }
    const o = r.outcome;
    if (r.tag == Work.PodDelete) {
      if (o == Outcome.Ok || o == Outcome.NotFound || o == Outcome.Conflict) {
        this.deleted++;
        this.forget(pod, o == Outcome.Ok ? "deleted" : "already gone");
      } else this.failed(now, pod, r, "deleting");
      this.changed(now);
      return Signal.None;
    }
    if (o == Outcome.Ok) {
      this.statusPatches++;
      pod.sentHash = this.inflightHash;
      pod.failures = 0;
      pod.retryAt = -1;
      if (pod.role == Role.Rejected) this.forget(pod, "");
      else if (pod.terminal) pod.terminalPosted = true;
    } else if (o == Outcome.NotFound || o == Outcome.Conflict) {
      // Gone, or the name now belongs to another pod (the uid precondition failed).
      this.forget(pod, o == Outcome.NotFound ? "gone from the API server" : "replaced by another pod of the same name");
    } else {
      this.failed(now, pod, r, "updating the status of");
    }
    this.changed(now);
    return Signal.None;
  }

  /** Stops everything (shutdown). */
  pause(): void {
    this.task.idle();
    this.inflight = null;
  }

  /** Recomputes what is owed to the server and when the next request may go. */
  changed(now: i64): void {
    const ip = this.ctx.identity.ip;
    if (ip != this.hashedIp) {
      // hostIP is in every status: all of them change with it.
      for (let i = 0; i < this.pods.length; i++) this.pods[i].dirty = true;
      this.hashedIp = ip;
    }
    let due: i64 = -1;
    for (let i = 0; i < this.pods.length; i++) {
      const p = this.pods[i];
      if (!this.owes(p)) continue;
      const at = p.retryAt > now ? p.retryAt : now;
      if (due < 0 || at < due) due = at;
    }
    if (due < 0) this.task.idle();
    else this.task.at(due);
  }

  private update(now: i64, pod: Pod, d: PodDraft): void {
    pod.seen = true;
    if (d.generation != pod.generation || (d.scheduledOnServer && !pod.scheduledOnServer) || (d.deleting && !pod.deleting)) pod.dirty = true;
    if (d.generation >= 0) pod.generation = d.generation;
    if (d.scheduledOnServer) pod.scheduledOnServer = true;
    if (d.deleting && pod.role == Role.Brain) {
      // Nothing runs for it: the pod can go at once (what deleting a brain pod means: docs/brain.md).
      pod.deleting = true;
      pod.role = Role.Deleting;
      logInfo("brain pod " + pod.key + " is being deleted: the node keeps the brain it runs");
    } else if (d.deleting && !pod.deleting) {
      pod.deleting = true;
      pod.graceSeconds = d.graceSeconds >= 0 ? d.graceSeconds : d.terminationGraceSeconds;
      if (pod.role == Role.Playing && !pod.terminal) {
        logInfo("pod " + pod.key + " is being deleted (grace " + pod.graceSeconds.toString() + " s): stopping it");
        kill(pod, now, this.events);
      }
    }
    this.changed(now);
  }

  /** True when `pod` needs a request now or after its retry delay. */
  private owes(p: Pod): bool {
    if (p === this.inflight) return false;
    if (p.role == Role.Deleting) return true;
    if (this.wantsDelete(p)) return true;
    return this.statusHash(p) != p.sentHash;
  }

  private wantsDelete(p: Pod): bool {
    if (p.role == Role.Deleting) return true;
    return p.role == Role.Playing && p.deleting && p.terminal && p.terminalPosted;
  }

  /**
   * The hash of the status `p` would be sent with. Generating a status allocates, and this is asked for
   * every pod after every watch event, so it is computed again only when the pod changed (`dirty`).
   */
  private statusHash(p: Pod): u32 {
    if (p.role == Role.Deleting) return 0;
    if (!p.dirty && this.hashedIp == this.ctx.identity.ip) return p.pendingHash;
    const b = this.scratch;
    b.clear();
    podStatusPatch(b, p, this.ctx.identity.ip);
    p.pendingHash = hash(b);
    p.dirty = false;
    return p.pendingHash;
  }

  /** The first pod that owes a request at `now`. */
  private next(now: i64): Pod | null {
    for (let i = 0; i < this.pods.length; i++) {
      const p = this.pods[i];
      if (p.retryAt <= now && this.owes(p)) return p;
    }
    return null;
  }

  private failed(now: i64, pod: Pod, r: HttpResult, what: string): void {
    pod.failures++;
    let d = RETRY_BASE_MS << <i64>(pod.failures < 6 ? pod.failures - 1 : 5);
    if (d > RETRY_CAP_MS) d = RETRY_CAP_MS;
    d = d / 2 + this.ctx.rng.below(d / 2 + 1);
    if (r.outcome == Outcome.AuthRefused || r.outcome == Outcome.Rejected) d = RETRY_CAP_MS;
    pod.retryAt = now + d;
    logWarn(what + " pod " + pod.key + " failed: " + this.ctx.describe(r) + "; retrying in " + (d / 1000).toString() + " s");
  }

  private usage(): Usage {
    const u = new Usage();
    for (let i = 0; i < this.pods.length; i++) {
      const p = this.pods[i];
      if (p.role == Role.Brain) u.brain = p.key;
      if (p.role != Role.Playing || p.terminal) continue;
      u.pods++;
      u.cpuMilli += p.cpuMilli;
      u.memoryBytes += p.memoryBytes;
    }
    return u;
  }

  /** Takes a pod into the table, or returns null when there is no room (the next relist retries). */
  private hold(now: i64, d: PodDraft, role: Role, reason: string, message: string): Pod | null {
    let playing = 0;
    for (let i = 0; i < this.pods.length; i++) if (this.pods[i].role == Role.Playing) playing++;
    const others = this.pods.length - playing;
    if (role != Role.Playing && others >= EXTRA_SLOTS) return null;
    if (role == Role.Playing && playing >= this.capacity() + EXTRA_SLOTS) return null;
    const p = new Pod();
    p.namespace = d.namespace;
    p.name = d.name;
    p.uid = d.uid;
    p.generation = d.generation;
    p.role = role;
    p.reason = reason;
    p.message = message;
    p.restartPolicy = d.restartPolicy;
    p.hostNetwork = d.hostNetwork;
    p.containers = d.containers;
    p.images = d.images;
    p.pullSecrets = d.pullSecrets;
    p.initContainers = d.initContainers;
    p.initImages = d.initImages;
    // A container without an image is not valid in the API; keep the lists aligned anyway.
    while (p.images.length < p.containers.length) p.images.push("");
    while (p.initImages.length < p.initContainers.length) p.initImages.push("");
    p.qosClass = d.qosClass;
    p.cpuMilli = d.cpuMilli;
    p.memoryBytes = d.memoryBytes;
    p.scheduledOnServer = d.scheduledOnServer;
    p.deleting = d.deleting;
    p.graceSeconds = d.graceSeconds >= 0 ? d.graceSeconds : d.terminationGraceSeconds;
    p.script = parseScript(d.script, d.restartPolicy);
    p.logText = d.logText;
    this.pods.push(p);
    this.changed(now);
    return p;
  }

  private capacity(): i32 {
    const n = allocatable(this.ctx.cfg.capacity, "pods", DEFAULT_PODS);
    return <i32>(n < 100_000 ? n : DEFAULT_PODS);
  }

  private find(uid: string): Pod | null {
    for (let i = 0; i < this.pods.length; i++) if (this.pods[i].uid == uid) return this.pods[i];
    return null;
  }

  private forget(p: Pod, why: string): void {
    const i = this.pods.indexOf(p);
    if (i >= 0) this.pods.splice(i, 1);
    if (this.inflight === p) this.inflight = null;
    if (why.length > 0 && p.role == Role.Playing) logInfo("pod " + p.key + " forgotten: " + why);
  }
}

function hash(b: ByteBuffer): u32 {
  let h: u32 = 0x811c9dc5;
  const p = b.ptr;
  for (let i = 0; i < b.length; i++) {
    h ^= <u32>load<u8>(p + <usize>i);
    h *= 0x01000193;
  }
  return h == 0 ? 1 : h;
}
