/**
 * Node status: evaluate the conditions, push them, then the heap annotation (kubelet `syncNodeStatus` /
 * `tryUpdateNodeStatus`, pkg/kubelet/kubelet_node_status.go).
 *
 * Conditions are evaluated every evaluate period. Status is PATCHed (strategic merge, so conditions merge
 * by type) at once when any condition's status flips, and at least every status period otherwise. A
 * failed push is retried promptly with backoff until it lands, carrying the newest evaluation; a flip
 * that happens while a push is on the wire triggers another push right after it (the original waited up to a status period). After each
 * successful push the heap annotation is PATCHed with the same heap sample; its failure is retried on
 * its own and never re-sends the status. A 404 means our Node was deleted: the caller re-registers.
 *
 * The kubelet compares its status with the server's Node and posts when they differ: the node informer
 * (node/informer.ts) hands every version of our Node to `reconcile`, which compares it with the statuses
 * of the last push that landed, so a Ready=Unknown someone else wrote is pushed back at once, its
 * transition stamped at that moment (ConditionTracker.reconcile).
 */
import { Context } from "./context";
import { Work } from "./work";
import { Signal, Worker } from "./worker";
import { logInfo, logWarn, logDebug, seconds } from "../util/log";
import { HttpRequest, MERGE_PATCH, STRATEGIC_MERGE_PATCH } from "../http/request";
import { HttpResult } from "../http/lane";
import { Outcome } from "../http/outcome";
import { CORRECTION_SPACING_MS, EVENT_HOLD_MS, HEAP_TOTAL_BYTES, RECONNECT_WINDOW_MS } from "./defaults";
import { annotationPatch, statusPatch, StatusExtras } from "./objects";
import { CONDITION_COUNT, conditionType, ConditionTracker, CStatus, memoryPressure, Signals, statusText } from "./conditions";
import { recent } from "./signals";
import { LeaseReconciler } from "./lease";

/** The status push; its Task is the push's due time. */
export class StatusReconciler extends Worker {
  /** The heap annotation, PATCHed after each successful push. */
  readonly annotation: HeapAnnotation = new HeapAnnotation(this.ctx);
  readonly conds: ConditionTracker = new ConditionTracker();
  /** MemoryPressure after hysteresis. */
  memoryPressure: bool = false;
  /** Monotonic time of the next evaluation (-1: not running). */
  nextEvaluation: i64 = -1;
  /** What the next push carries besides conditions. */
  extras: StatusExtras = StatusExtras.None;
  /** A flip happened after the push on the wire was built. */
  private flippedSinceSend: bool = false;
  /** Free heap at the last evaluation, and the value the pending annotation will carry. */
  private heapSample: i64 = 0;
  /** Each condition's status in the push on the wire, and in the last push that landed (-1: none). */
  private sent: StaticArray<i32> = noStatuses();
  private posted: StaticArray<i32> = noStatuses();
  /** Monotonic time of the last push due to the server's Node disagreeing. */
  private correctedAt: i64 = -CORRECTION_SPACING_MS;

  constructor(private ctx: Context, private lease: LeaseReconciler) {
    super();
  }

  /** Starts the periodic work once the Lease exists: evaluate, push now, annotate after. */
  start(now: i64, extras: StatusExtras): void {
    this.extras = extras;
    this.evaluate(now);
    this.task.restart(now);
    this.nextEvaluation = now + this.ctx.cfg.evaluateIntervalMs;
  }

  /** True while conditions are evaluated and pushed (the Running phase). */
  get running(): bool {
    return this.nextEvaluation >= 0;
  }

  /**
   * The server's Node as the node informer read it: each condition's status (-1: missing) and
   * lastTransitionTime (-1: unreadable). Any of ours that differs from what we posted is pushed at once.
   */
  reconcile(now: i64, server: StaticArray<i32>, serverMs: StaticArray<i64>): void {
    const wallMs = this.ctx.clock.wallMs(now);
    let first = -1;
    for (let i = 0; i < CONDITION_COUNT; i++) {
      if (this.conds.reconcile(i, server[i], serverMs[i], this.posted[i], wallMs) && first < 0) first = i;
    }
    if (first < 0) return;
    const s = server[first];
    logInfo("the API server's Node has " + conditionType(first) + (s < 0 ? " missing" : "=" + statusText(<CStatus>s)) +
      " (we posted " + statusText(<CStatus>this.posted[first]) + "); pushing status now");
    this.correct(now);
  }

  /** The Node's capacity, nodeInfo or addresses were changed by someone else: push all of ours. */
  restoreStatic(now: i64): void {
    logInfo("the Node's capacity, nodeInfo or addresses differ from ours; pushing them now");
    this.extras = StatusExtras.All;
    this.correct(now);
  }

  /**
   * A push because the server disagrees: now, but not closer than CORRECTION_SPACING_MS to the last one (a
   * writer that keeps undoing ours must not turn this into a loop), and not over a failing push's backoff.
   */
  private correct(now: i64): void {
    if (!this.running || this.task.retrying) return;
    const at = now - this.correctedAt < CORRECTION_SPACING_MS ? this.correctedAt + CORRECTION_SPACING_MS : now;
    this.correctedAt = at;
    if (this.task.due < 0 || this.task.due > at) this.task.at(at);
    this.flippedSinceSend = true;
  }

  /** Stops pushing (re-registration or shutdown). */
  pause(): void {
    this.posted = noStatuses();
    this.task.idle();
    this.annotation.task.idle();
    this.nextEvaluation = -1;
  }

  /** A new IP: push addresses with the next status, now. */
  addressesChanged(now: i64): void {
    if (this.extras == StatusExtras.None) this.extras = StatusExtras.Addresses;
    if (this.nextEvaluation >= 0) this.task.now(now);
  }

  /** The host now listens on the kubelet port: push daemonEndpoints (with the other static fields) now. */
  endpointsChanged(now: i64): void {
    this.extras = StatusExtras.All;
    if (this.nextEvaluation >= 0) this.task.now(now);
  }

  /** Renewals recovered from a gap: evaluate and post status now, whatever changed. */
  repost(now: i64): void {
    logInfo("lease renewals recovered; posting status now in case the node was marked unknown");
    this.evaluate(now);
    this.task.now(now);
  }

  /** Runs the evaluation if it is due; true when it ran. */
  onTimer(now: i64): bool {
    if (this.nextEvaluation < 0 || now < this.nextEvaluation) return false;
    this.evaluate(now);
    const period = this.ctx.cfg.evaluateIntervalMs;
    this.nextEvaluation += period;
    if (this.nextEvaluation <= now) this.nextEvaluation = now + period;
    return true;
  }

  /** Samples the signals and evaluates every condition; schedules a push on any flip. */
  evaluate(now: i64): void {
    const s = this.signals(now);
    const mask = this.conds.evaluateAll(s, this.ctx.clock.wallMs(now));
    if (mask == 0) return;
    let names = "";
    for (let i = 0; i < CONDITION_COUNT; i++) {
      if ((mask & (1 << i)) == 0) continue;
      if (names.length > 0) names += ", ";
      names += conditionType(i) + "=" + statusText(this.conds.items[i].status);
    }
    if (this.nextEvaluation >= 0) {
      logInfo("condition change: " + names + "; pushing status now");
      this.flippedSinceSend = true;
      this.task.now(now);
    } else {
      logDebug("initial conditions: " + names);
    }
  }

  /** The inputs of every condition at `now`. */
  signals(now: i64): Signals {
    const ctx = this.ctx;
    const c = ctx.cfg;
    const s = new Signals();
    const total = c.heapTotalBytes > 0 ? c.heapTotalBytes : ctx.heapTotal > 0 ? ctx.heapTotal : <i64>HEAP_TOTAL_BYTES;
    s.freeHeap = ctx.heapFree >= 0 ? ctx.heapFree : total;
    s.totalHeap = total;
    s.uptimeSeconds = now / 1000;
    s.reconnects = ctx.reconnects.count(now, RECONNECT_WINDOW_MS);
    s.renewals = ctx.renewals;
    s.bssidChanged = recent(ctx.bssidChangedAt, now, EVENT_HOLD_MS);
    s.timeSlipped = recent(ctx.timeSlipAt, now, EVENT_HOLD_MS);
    s.memoryThreshold = c.memoryPressureBytes;
    this.memoryPressure = memoryPressure(this.memoryPressure, s.freeHeap, c.memoryPressureBytes, c.memoryPressureHysteresisBytes);
    s.memoryPressure = this.memoryPressure;
    s.renewFailingMs = this.lease.failingSince >= 0 ? now - this.lease.failingSince : 0;
    s.leaseDurationMs = <i64>c.leaseDurationSeconds * 1000;
    s.link = ctx.link;
    s.rssi = ctx.rssi;
    this.heapSample = s.freeHeap;
    return s;
  }

  /** The status PATCH. */
  request(now: i64): HttpRequest {
    const ctx = this.ctx;
    const body = ctx.body;
    body.clear();
    this.flippedSinceSend = false;
    for (let i = 0; i < CONDITION_COUNT; i++) this.sent[i] = <i32>this.conds.items[i].status;
    statusPatch(body, ctx.cfg, ctx.identity, this.conds, ctx.clock.wallMs(now), this.extras);
    return ctx.request(Work.Status, "PATCH", ctx.nodePath + "/status", STRATEGIC_MERGE_PATCH, true, false);
  }

  handle(now: i64, r: HttpResult): Signal {
    const ctx = this.ctx;
    if (r.outcome == Outcome.NotFound) return nodeGone(ctx);
    if (r.outcome == Outcome.Ok) {
      ctx.statusPushes++;
      this.extras = StatusExtras.None;
      for (let i = 0; i < CONDITION_COUNT; i++) this.posted[i] = this.sent[i];
      this.task.succeeded();
      // A flip while this push was on the wire goes out now; otherwise wait for the next period.
      if (this.flippedSinceSend) this.task.now(now);
      else this.task.at(now + ctx.cfg.statusIntervalMs);
      this.annotation.after(now, this.heapSample);
      logDebug("status pushed (#" + ctx.statusPushes.toString() + ")");
      return Signal.None;
    }
    const d = r.outcome == Outcome.AuthRefused ? this.task.retryAuth(now, ctx.rng) : this.task.retry(now, ctx.rng);
    logWarn("status update failed: " + ctx.describe(r) + "; retrying in " + seconds(d));
    return Signal.None;
  }
}

/** The heap annotation: the free heap sampled for the last status push. Its failure never re-sends status. */
export class HeapAnnotation extends Worker {
  private value: i64 = 0;

  constructor(private ctx: Context) {
    super();
  }

  /** A status push landed with heap sample `value`: annotate it now. */
  after(now: i64, value: i64): void {
    this.value = value;
    this.task.restart(now);
  }

  request(now: i64): HttpRequest {
    const ctx = this.ctx;
    const body = ctx.body;
    body.clear();
    annotationPatch(body, this.value);
    return ctx.request(Work.Annotation, "PATCH", ctx.nodePath, MERGE_PATCH, true, false);
  }

  handle(now: i64, r: HttpResult): Signal {
    const ctx = this.ctx;
    if (r.outcome == Outcome.NotFound) return nodeGone(ctx);
    if (r.outcome == Outcome.Ok) {
      this.task.succeeded();
      this.task.idle();
      return Signal.None;
    }
    const d = r.outcome == Outcome.AuthRefused ? this.task.retryAuth(now, ctx.rng) : this.task.retry(now, ctx.rng);
    logWarn("heap annotation update failed: " + ctx.describe(r) + "; retrying in " + seconds(d));
    return Signal.None;
  }
}

function noStatuses(): StaticArray<i32> {
  const a = new StaticArray<i32>(CONDITION_COUNT);
  for (let i = 0; i < CONDITION_COUNT; i++) a[i] = -1;
  return a;
}

/** Our Node is gone (a 404, or the node informer saw it deleted): register again. */
export function nodeGone(ctx: Context): Signal {
  logWarn("node " + ctx.cfg.nodeName + " was deleted; registering it again");
  return Signal.NodeGone;
}
