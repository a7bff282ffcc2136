/**
 * The event recorder: the kubelet's Events (core/v1, source component `kubelet`, host = the node), sent
 * one at a time on the control lane after everything else that is due.
 *
 * Counted: an event identical to one sent in the last 10 minutes (same object, type, reason and message)
 * is not posted again; the existing Event's `count` goes up and its `lastTimestamp` moves, by a merge PATCH,
 * as the kubelet's event correlator does, so `kubectl describe` shows "x5 over 2m" for a crash loop.
 *
 * Bounded: at most QUEUE_MAX events wait; beyond that new ones are counted and dropped (a log line says
 * how many), and a token bucket (BURST events, then one per REFILL_MS) keeps a crash loop from flooding the
 * API server, like the kubelet's event spam filter. An event the server refuses (4xx) is dropped; a
 * transport failure or 5xx is retried with backoff.
 */
import { ByteBuffer } from "../util/bytes";
import { logDebug, logWarn } from "../util/log";
import { JsonWriter } from "../json/writer";
import { HttpRequest, MERGE_PATCH } from "../http/request";
import { HttpResult } from "../http/lane";
import { Outcome } from "../http/outcome";
import { Context } from "../node/context";
import { Signal, Worker } from "../node/worker";
import { Work } from "../node/work";
import { Pod } from "./pod";

export const QUEUE_MAX = 16;
export const BURST = 25;
export const REFILL_MS: i64 = 2_000;
/** Identical events within this window are counted on one Event. */
export const AGGREGATE_MS: i64 = 600_000;
/** Recent events remembered for counting. */
const RECENT_MAX = 8;

class PendingEvent {
  namespace: string = "";
  kind: string = "";
  name: string = "";
  uid: string = "";
  fieldPath: string = "";
  warning: bool = false;
  reason: string = "";
  message: string = "";
  wallMs: i64 = 0;
  /** The Event's name (kept across repeats). */
  eventName: string = "";
  count: i32 = 1;
  firstWallMs: i64 = 0;
  /** A repeat: PATCH the count instead of POSTing. */
  repeat: bool = false;
}

/** An event sent recently, for counting repeats. */
class Recent {
  key: string = "";
  eventName: string = "";
  count: i32 = 1;
  firstWallMs: i64 = 0;
  at: i64 = 0;
}

export class EventRecorder extends Worker {
  private queue: PendingEvent[] = [];
  private recent: Recent[] = [];
  private tokens: i64 = BURST;
  private refilledAt: i64 = -1;
  private seq: u32 = 0;
  /** Events dropped because the queue was full or the bucket empty. */
  dropped: i64 = 0;
  private droppedLogged: i64 = 0;
  /** Events the server accepted. */
  posted: i64 = 0;

  constructor(private ctx: Context) {
    super();
  }

  /** Events waiting to be sent. */
  get pending(): i32 {
    return this.queue.length;
  }

  /** A pod (or one of its containers) event at monotonic `now`. */
  podEvent(now: i64, pod: Pod, container: string, init: bool, warning: bool, reason: string, message: string): void {
    const e = new PendingEvent();
    e.namespace = pod.namespace;
    e.kind = "Pod";
    e.name = pod.name;
    e.uid = pod.uid;
    if (container.length > 0) e.fieldPath = (init ? "spec.initContainers{" : "spec.containers{") + container + "}";
    e.warning = warning;
    e.reason = reason;
    e.message = message;
    this.add(now, e);
  }

  /** A node event (Starting, NodeReady, ...): the kubelet's node reference uses the name as uid. */
  nodeEvent(now: i64, warning: bool, reason: string, message: string): void {
    const e = new PendingEvent();
    e.namespace = "default";
    e.kind = "Node";
    e.name = this.ctx.cfg.nodeName;
    e.uid = this.ctx.cfg.nodeName;
    e.warning = warning;
    e.reason = reason;
    e.message = message;
    this.add(now, e);
  }

  /** The kubelet's "Node <name> status is now: <what>" event (NodeReady, NodeHasSufficientMemory, ...). */
  nodeStatusEvent(now: i64, what: string): void {
    this.nodeEvent(now, false, what, "Node " + this.ctx.cfg.nodeName + " status is now: " + what);
  }

  /** Forgets what is queued (shutdown). */
  clear(): void {
    this.queue.length = 0;
    this.task.idle();
  }

  private add(now: i64, e: PendingEvent): void {
    this.refill(now);
    if (this.queue.length >= QUEUE_MAX || this.tokens <= 0) {
      this.dropped++;
      return;
    }
    this.tokens--;
    e.wallMs = this.ctx.clock.wallMs(now);
    this.correlate(now, e);
    this.queue.push(e);
    if (this.task.due < 0) this.task.now(now);
  }

  /** Names the event, or makes it a repeat of an identical recent one. */
  private correlate(now: i64, e: PendingEvent): void {
    const key = e.uid + "|" + e.fieldPath + "|" + (e.warning ? "W" : "N") + e.reason + "|" + e.message;
    for (let i = 0; i < this.recent.length; i++) {
      const r = this.recent[i];
      if (r.key != key || now - r.at > AGGREGATE_MS) continue;
      r.count++;
      r.at = now;
      e.repeat = true;
      e.eventName = r.eventName;
      e.count = r.count;
      e.firstWallMs = r.firstWallMs;
      return;
    }
    this.seq++;
    const name = new ByteBuffer(32, 32);
    name.hex(<u64>e.wallMs * 1000_000 + <u64>this.seq, 16);
    e.eventName = e.name + "." + name.toString();
    e.firstWallMs = e.wallMs;
    const r = new Recent();
    r.key = key;
    r.eventName = e.eventName;
    r.firstWallMs = e.wallMs;
    r.at = now;
    if (this.recent.length >= RECENT_MAX) this.recent.shift();
    this.recent.push(r);
  }

  private refill(now: i64): void {
    if (this.refilledAt < 0) this.refilledAt = now;
    const n = (now - this.refilledAt) / REFILL_MS;
    if (n <= 0) return;
    this.tokens = this.tokens + n > BURST ? BURST : this.tokens + n;
    this.refilledAt += n * REFILL_MS;
  }

  request(now: i64): HttpRequest {
    const ctx = this.ctx;
    const e = this.queue[0];
    const body = ctx.body;
    body.clear();
    const path = "/api/v1/namespaces/" + e.namespace + "/events";
    if (e.repeat) {
      const w = new JsonWriter(body);
      w.beginObject().fieldInt("count", e.count).key("lastTimestamp");
      w.timestamp(e.wallMs);
      w.endObject();
      return ctx.request(Work.Event, "PATCH", path + "/" + e.eventName, MERGE_PATCH, true, false);
    }
    eventBody(body, e, ctx.cfg.nodeName);
    return ctx.request(Work.Event, "POST", path, "", true, false);
  }

  handle(now: i64, r: HttpResult): Signal {
    if (this.dropped > this.droppedLogged) {
      logWarn("events: " + (this.dropped - this.droppedLogged).toString() + " dropped (queue full or rate bound)");
      this.droppedLogged = this.dropped;
    }
    const o = r.outcome;
    if (o == Outcome.Transport || o == Outcome.ServerError || o == Outcome.Throttled) {
      this.task.retry(now, this.ctx.rng);
      return Signal.None;
    }
    if (o == Outcome.Ok) this.posted++;
    else {
      logDebug("event refused: " + this.ctx.describe(r));
      // A repeat of an Event that is gone (expired): forget it, so the next repeat posts a new one.
      const e = this.queue[0];
      for (let i = 0; i < this.recent.length; i++) if (this.recent[i].eventName == e.eventName) this.recent.splice(i, 1);
    }
    this.queue.shift();
    this.task.succeeded();
    if (this.queue.length > 0) this.task.now(now);
    else this.task.idle();
    return Signal.None;
  }
}

function eventBody(out: ByteBuffer, e: PendingEvent, node: string): void {
  const w = new JsonWriter(out);
  w.beginObject().field("apiVersion", "v1").field("kind", "Event");
  w.key("metadata").beginObject().field("name", e.eventName).field("namespace", e.namespace).endObject();
  w.key("involvedObject").beginObject().field("kind", e.kind);
  if (e.kind == "Pod") w.field("namespace", e.namespace);
  w.field("name", e.name).field("uid", e.uid).field("apiVersion", "v1");
  if (e.fieldPath.length > 0) w.field("fieldPath", e.fieldPath);
  w.endObject();
  w.field("reason", e.reason).field("message", e.message);
  w.key("source").beginObject().field("component", "kubelet").field("host", node).endObject();
  w.key("firstTimestamp");
  w.timestamp(e.wallMs);
  w.key("lastTimestamp");
  w.timestamp(e.wallMs);
  w.fieldInt("count", 1).field("type", e.warning ? "Warning" : "Normal");
  w.field("reportingComponent", "kubelet").field("reportingInstance", node);
  w.endObject();
}
