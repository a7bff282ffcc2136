/**
 * The pod source: learns the pods bound to this node on a stream lane of its own, the way the kubelet's
 * API server config source does (pkg/kubelet/config/apiserver.go, a client-go reflector):
 *
 *   WatchList: GET /api/v1/pods?fieldSelector=spec.nodeName=<node>&watch=1&sendInitialEvents=true
 *              &resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=<300..600>
 *   The initial events end with a BOOKMARK annotated k8s.io/initial-events-end; then it is a plain watch.
 *   A server without WatchList (v1.31) refuses the parameters: list, then watch from the list's
 *   resourceVersion, from then on.
 *
 * The stream is read by the line scanner: one JSON object per line, only the pod fields the node keeps
 * (pods/draft.ts), so a 1 MiB pod costs what those fields cost. The watch's progress deadline is longer
 * than the server's bookmark period (about a minute): silence beyond it is a dead stream, which is
 * reconnected with backoff from the last resourceVersion. 410 Gone (as a status or an ERROR event)
 * relists; a relist forgets pods that were deleted while the node was not watching.
 */
import { ByteBuffer, bytesEqual } from "../util/bytes";
import { logInfo, logWarn, logDebug, seconds } from "../util/log";
import { JsonScanner, ScanHandler, ValueKind } from "../json/scanner";
import { HttpRequest } from "../http/request";
import { HttpResult, Lane } from "../http/lane";
import { LineHandler, LineSink, ScanSink } from "../http/lines";
import { Outcome } from "../http/outcome";
import { Context } from "../node/context";
import { Signal, Worker } from "../node/worker";
import { Work } from "../node/work";
import { numberOf, POD_FIELD_COUNT, POD_FIELDS, PodDraft } from "./draft";
import { PodManager } from "./manager";

/** The longest silence of a watch before it counts as dead (bookmarks come about every minute). */
export const WATCH_PROGRESS_MS: i64 = 150_000;
/** Most pod fields a list may carry before it is cut short (a list is one document). */
const F_LIST_ITEM = POD_FIELD_COUNT;
const F_LIST_RV = POD_FIELD_COUNT + 1;
const F_TYPE = POD_FIELD_COUNT;
const F_CODE = POD_FIELD_COUNT + 1;

enum Mode {
  /** Try WatchList first. */
  WatchList = 0,
  /** The server has no WatchList: list, then watch. */
  ListWatch = 1,
}

/** Which request goes next. */
enum Next {
  Initial = 0,
  Watch = 1,
}

export class PodSource extends Worker {
  readonly draft: PodDraft = new PodDraft();
  /** The lane the list and watch run on: its own connection, so no renewal waits behind it. */
  stream: Lane;
  mode: Mode = Mode.WatchList;
  private next: Next = Next.Initial;
  /** The resourceVersion to watch from ("" until a list or an event gave one). */
  resourceVersion: string = "";
  /** Pod objects read (list items and watch events), relists done (stat and tests). */
  events: i64 = 0;
  relists: i64 = 0;
  /** The initial state has been received (list done, or the initial-events bookmark seen). */
  synced: bool = false;
  /** Monotonic time of the event being read (the agent sets it before feeding bytes). */
  now: i64 = 0;
  private listSink!: ScanSink;
  private watchSink!: LineSink;
  private gone: bool = false;
  private type: string = "";

  constructor(private ctx: Context, private manager: PodManager) {
    super();
    this.stream = new Lane(ctx.api, ctx.outbox, ctx.net, 1024);
    // The agent's lane 1 is this stream.
    this.lane = 1;
    const listFields: string[] = [];
    const watchFields: string[] = [];
    for (let i = 0; i < POD_FIELDS.length; i++) {
      listFields.push("items[]." + POD_FIELDS[i]);
      watchFields.push("object." + POD_FIELDS[i]);
    }
    listFields.push("items[]");
    listFields.push("metadata.resourceVersion");
    watchFields.push("type");
    watchFields.push("object.code");
    this.listSink = new ScanSink(listFields, new ListReader(this));
    this.watchSink = new LineSink(watchFields, new WatchReader(this));
  }

  /** Starts (or restarts) from a full initial state. */
  begin(now: i64): void {
    this.draft.cfg = this.ctx.cfg;
    this.next = Next.Initial;
    this.synced = false;
    this.task.restart(now);
  }

  pause(): void {
    this.task.idle();
    this.stream.reset();
  }

  /** True while the response on the lane is one we read (a 200). */
  get reading(): bool {
    return this.stream.parser.status == 200;
  }

  request(now: i64): HttpRequest {
    const ctx = this.ctx;
    this.gone = false;
    const sel = "/api/v1/pods?fieldSelector=spec.nodeName%3D" + ctx.cfg.nodeName;
    const r = new HttpRequest();
    r.method = "GET";
    r.contentType = "application/json";
    r.bodyBudget = 1024;
    r.replayable = true;
    if (this.next == Next.Initial && this.mode == Mode.ListWatch) {
      r.tag = Work.PodList;
      r.path = sel;
      r.sink = this.listSink;
      this.manager.beginRelist();
      return r;
    }
    // client-go picks a random timeout between 5 and 10 minutes, so watches do not end in lockstep.
    const timeout = 300 + this.ctx.rng.below(301);
    let path = sel + "&watch=1&allowWatchBookmarks=true&timeoutSeconds=" + timeout.toString();
    if (this.next == Next.Initial) {
      path += "&sendInitialEvents=true&resourceVersionMatch=NotOlderThan";
      this.manager.beginRelist();
    } else path += "&resourceVersion=" + this.resourceVersion;
    r.tag = Work.PodWatch;
    r.path = path;
    r.sink = this.watchSink;
    r.progressMs = WATCH_PROGRESS_MS;
    return r;
  }

  handle(now: i64, r: HttpResult): Signal {
    const o = r.outcome;
    if (o == Outcome.Ok && !this.gone) {
      this.task.succeeded();
      if (r.tag == Work.PodList) {
        this.listed(now);
        this.next = Next.Watch;
        this.task.now(now);
        return Signal.None;
      }
      // The server ended the watch (its timeout): watch again from where it stopped.
      if (this.synced && this.resourceVersion.length > 0) this.next = Next.Watch;
      else this.next = Next.Initial;
      this.task.now(now);
      return Signal.None;
    }
    if (this.gone || o == Outcome.Gone) {
      logInfo("pod watch: resourceVersion too old (410); listing again");
      this.relist(now);
      return Signal.None;
    }
    if (r.tag == Work.PodWatch && this.next == Next.Initial && this.mode == Mode.WatchList &&
      (o == Outcome.Rejected || r.status == 403)) {
      // No server-side WatchList (or the parameters are refused): list, then watch, from now on.
      logInfo("pod source: the API server does not offer WatchList (HTTP " + r.status.toString() + "); listing then watching");
      this.mode = Mode.ListWatch;
      this.task.now(now);
      return Signal.None;
    }
    const delay = o == Outcome.AuthRefused ? this.task.retryAuth(now, this.ctx.rng) : this.task.retry(now, this.ctx.rng);
    logWarn((r.tag == Work.PodList ? "listing" : "watching") + " pods failed: " + this.ctx.describe(r) + "; retrying in " + seconds(delay));
    // A watch that broke resumes from its resourceVersion; without one, start over.
    if (!this.synced || this.resourceVersion.length == 0 || o == Outcome.Rejected) this.next = Next.Initial;
    return Signal.None;
  }

  private relist(now: i64): void {
    this.relists++;
    this.next = Next.Initial;
    this.synced = false;
    this.resourceVersion = "";
    this.task.retry(now, this.ctx.rng);
  }

  private listed(now: i64): void {
    this.manager.endRelist(now);
    this.synced = true;
    logDebug("pods listed at resourceVersion " + this.resourceVersion);
  }

  // Called by the readers.

  /** One list item ended. */
  item(): void {
    this.events++;
    this.manager.apply(this.now, this.draft);
    this.draft.reset();
  }

  /** One watch event ended. */
  event(ok: bool, code: i64): void {
    const d = this.draft;
    const type = this.type;
    this.type = "";
    if (!ok) {
      logWarn("pod watch: skipped a line that is not JSON");
      d.reset();
      return;
    }
    this.events++;
    if (type == "ERROR") {
      if (code == 410) this.gone = true;
      else logWarn("pod watch: ERROR event (code " + code.toString() + ")");
    } else if (type == "BOOKMARK") {
      if (d.resourceVersion.length > 0) this.resourceVersion = d.resourceVersion;
      if (d.initialEventsEnd && !this.synced) {
        this.synced = true;
        this.manager.endRelist(this.now);
        logDebug("pod watch: initial events done at resourceVersion " + this.resourceVersion);
      }
    } else if (type == "ADDED" || type == "MODIFIED" || type == "DELETED") {
      if (d.resourceVersion.length > 0) this.resourceVersion = d.resourceVersion;
      if (d.nodeName.length == 0 || d.nodeName == this.ctx.cfg.nodeName) {
        if (type == "DELETED") this.manager.removed(this.now, d.uid);
        else this.manager.apply(this.now, d);
      }
    }
    d.reset();
  }

  setType(v: ByteBuffer): void {
    this.type = v.toString();
  }
}

/** Scans a PodList: each `items[]` element is one pod. */
class ListReader extends ScanHandler {
  constructor(private src: PodSource) {
    super();
  }
  value(field: i32, kind: ValueKind, v: ByteBuffer, key: ByteBuffer): void {
    if (!this.src.reading) return;
    if (field < POD_FIELD_COUNT) this.src.draft.value(field, kind, v, key);
    else if (field == F_LIST_RV && kind == ValueKind.String) this.src.resourceVersion = v.toString();
  }
  begin(field: i32, kind: ValueKind, key: ByteBuffer): void {
    if (!this.src.reading) return;
    if (field == F_LIST_ITEM) this.src.draft.reset();
    else if (field < POD_FIELD_COUNT) this.src.draft.begin(field, kind);
  }
  end(field: i32): void {
    if (!this.src.reading) return;
    if (field == F_LIST_ITEM) this.src.item();
    else if (field < POD_FIELD_COUNT) this.src.draft.end(field);
  }
}

/** Scans watch lines: `{"type":…,"object":…}`. */
class WatchReader extends LineHandler {
  private code: i64 = 0;
  constructor(private src: PodSource) {
    super();
  }
  value(field: i32, kind: ValueKind, v: ByteBuffer, key: ByteBuffer): void {
    if (field < POD_FIELD_COUNT) this.src.draft.value(field, kind, v, key);
    else if (field == F_TYPE && kind == ValueKind.String) this.src.setType(v);
    else if (field == F_CODE && kind == ValueKind.Number) this.code = numberOf(v);
  }
  begin(field: i32, kind: ValueKind, key: ByteBuffer): void {
    if (field < POD_FIELD_COUNT) this.src.draft.begin(field, kind);
  }
  end(field: i32): void {
    if (field < POD_FIELD_COUNT) this.src.draft.end(field);
  }
  line(ok: bool, scanner: JsonScanner): void {
    const code = this.code;
    this.code = 0;
    if (!this.src.reading) {
      this.src.draft.reset();
      return;
    }
    this.src.event(ok, code);
  }
}
