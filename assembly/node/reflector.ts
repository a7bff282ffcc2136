/**
 * A reflector: keeps one selection of API objects in view on a stream lane of its own, the way client-go's
 * reflector does for the kubelet's informers (the pod source, pods/source.ts; the node's own Node,
 * node/informer.ts).
 *
 *   WatchList: GET <selection>&watch=1&allowWatchBookmarks=true&timeoutSeconds=<300..600>
 *              &sendInitialEvents=true&resourceVersionMatch=NotOlderThan
 *   The initial events end with a BOOKMARK annotated k8s.io/initial-events-end; then it is a plain watch.
 *   A server without WatchList (v1.31) refuses the parameters (422, or 403 from an authorizer that
 *   does not know them): list, then watch from the list's resourceVersion, from then on.
 *
 * The stream is read by the line scanner: one JSON object per line, only the fields the subclass names
 * (relative to the object; the list prefixes them `items[].`, the watch `object.`), so a large object
 * costs what those fields cost. The watch's progress deadline is longer than the server's bookmark period
 * (about a minute): silence beyond it is a dead stream, which is reconnected with backoff from the last
 * resourceVersion. A server that ends the watch (its timeout) is watched again from there. 410 Gone (as a
 * status or an ERROR event) relists; a relist tells the subclass, which forgets what it no longer sees.
 */
import { ByteBuffer } from "../util/bytes";
import { logInfo, logWarn, logDebug, seconds } from "../util/log";
import { JsonScanner, numberOf, ScanHandler, ValueKind } from "../json/scanner";
import { HttpRequest } from "../http/request";
import { HttpResult, Lane } from "../http/lane";
import { LineHandler, LineSink, ScanSink } from "../http/lines";
import { Outcome } from "../http/outcome";
import { Context } from "./context";
import { Signal, Worker } from "./worker";

/** The longest silence of a watch before it counts as dead (bookmarks come about every minute). */
export const WATCH_PROGRESS_MS: i64 = 150_000;

/** A watch event's type (list items arrive as Added). */
export enum Event {
  Added = 0,
  Modified = 1,
  Deleted = 2,
}

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

export abstract class Reflector extends Worker {
  /** The lane the list and watch run on: its own connection, so no renewal waits behind it. */
  stream: Lane;
  mode: Mode = Mode.WatchList;
  /** The resourceVersion to watch from ("" until a list or an event gave one). */
  resourceVersion: string = "";
  /** Objects read (list items and watch events), relists done (stat and tests). */
  events: i64 = 0;
  /** Of those, bookmarks (they keep only a resourceVersion: light work for the collector, agent.ts). */
  bookmarks: i64 = 0;
  relists: i64 = 0;
  /** The initial state has been received (list done, or the initial-events bookmark seen). */
  synced: bool = false;
  /** Monotonic time of the event being read (the agent sets it before feeding bytes). */
  now: i64 = 0;
  private next: Next = Next.Initial;
  private listSink!: ScanSink;
  private watchSink!: LineSink;
  private gone: bool = false;
  private type: string = "";
  /** Index of the first field the reflector adds after the subclass's. */
  private own: i32;

  /**
   * `what` names the objects in log lines; `fields` are the object's fields the subclass reads; `listTag`
   * and `watchTag` tag the requests; `lane` is the agent's lane for `stream`.
   */
  constructor(protected ctx: Context, private what: string, fields: string[], private listTag: i32, private watchTag: i32, lane: i32) {
    super();
    this.stream = new Lane(ctx.api, ctx.outbox, ctx.net, 1024);
    this.lane = lane;
    const n = fields.length;
    this.own = n;
    const listFields = new Array<string>(n + 2);
    const watchFields = new Array<string>(n + 2);
    for (let i = 0; i < n; i++) {
      listFields[i] = "items[]." + fields[i];
      watchFields[i] = "object." + fields[i];
    }
    listFields[n] = "items[]";
    listFields[n + 1] = "metadata.resourceVersion";
    watchFields[n] = "type";
    watchFields[n + 1] = "object.code";
    this.listSink = new ScanSink(listFields, new ListReader(this, n));
    this.watchSink = new LineSink(watchFields, new WatchReader(this, n));
  }

  // What a subclass provides.

  /** The path of the list, with its selector (`/api/v1/pods?fieldSelector=…`). */
  abstract selection(): string;
  /** A field of the object being read. */
  abstract scanValue(field: i32, kind: ValueKind, v: ByteBuffer, key: ByteBuffer): void;
  scanBegin(field: i32, kind: ValueKind, key: ByteBuffer): void {}
  scanEnd(field: i32): void {}
  /** Forgets the object being read. */
  abstract clear(): void;
  /** The object's metadata.resourceVersion ("" when it had none). */
  abstract objectVersion(): string;
  /** The object carried the k8s.io/initial-events-end annotation (a BOOKMARK's). */
  abstract initialEventsEnd(): bool;
  /** An object was read whole: a list item (Added) or a watch event. */
  abstract apply(now: i64, event: Event): void;
  /** A full initial state begins: what is not seen again until `relisted` is gone. */
  abstract relisting(): void;
  /** The full initial state has been received. */
  abstract relisted(now: i64): void;

  /** Starts (or restarts) from a full initial state. */
  start(now: i64): void {
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
    this.gone = false;
    const sel = this.selection();
    const r = new HttpRequest();
    r.method = "GET";
    r.contentType = "application/json";
    r.bodyBudget = 1024;
    r.replayable = true;
    if (this.next == Next.Initial && this.mode == Mode.ListWatch) {
      r.tag = this.listTag;
      r.path = sel;
      r.sink = this.listSink;
      this.relisting();
      return r;
    }
    // client-go picks a random timeout between 5 and 10 minutes, so watches do not end in lockstep.
    const timeout = 300 + this.ctx.rng.below(301);
    let path = sel + "&watch=1&allowWatchBookmarks=true&timeoutSeconds=" + timeout.toString();
    if (this.next == Next.Initial) {
      path += "&sendInitialEvents=true&resourceVersionMatch=NotOlderThan";
      this.relisting();
    } else path += "&resourceVersion=" + this.resourceVersion;
    r.tag = this.watchTag;
    r.path = path;
    r.sink = this.watchSink;
    r.progressMs = WATCH_PROGRESS_MS;
    return r;
  }

  handle(now: i64, r: HttpResult): Signal {
    const o = r.outcome;
    const what = this.what;
    if (o == Outcome.Ok && !this.gone) {
      this.task.succeeded();
      if (r.tag == this.listTag) {
        this.initialDone(now);
        this.next = Next.Watch;
      } else {
        // The server ended the watch (its timeout): watch again from where it stopped.
        this.next = this.synced && this.resourceVersion.length > 0 ? Next.Watch : Next.Initial;
      }
      this.task.now(now);
      return Signal.None;
    }
    if (this.gone || o == Outcome.Gone) {
      logInfo(what + " watch: resourceVersion too old (410); listing again");
      this.relists++;
      this.next = Next.Initial;
      this.synced = false;
      this.resourceVersion = "";
      this.task.retry(now, this.ctx.rng);
      return Signal.None;
    }
    if (r.tag == this.watchTag && this.next == Next.Initial && this.mode == Mode.WatchList &&
      (o == Outcome.Rejected || r.status == 403)) {
      // No server-side WatchList (or the parameters are refused): list, then watch, from now on.
      logInfo(what + " watch: the API server does not offer WatchList (HTTP " + r.status.toString() + "); listing then watching");
      this.mode = Mode.ListWatch;
      this.task.now(now);
      return Signal.None;
    }
    const delay = o == Outcome.AuthRefused ? this.task.retryAuth(now, this.ctx.rng) : this.task.retry(now, this.ctx.rng);
    logWarn(what + (r.tag == this.listTag ? " list" : " watch") + " failed: " + this.ctx.describe(r) + "; retrying in " + seconds(delay));
    // A watch that broke resumes from its resourceVersion; without one, start over.
    if (!this.synced || this.resourceVersion.length == 0 || o == Outcome.Rejected) this.next = Next.Initial;
    return Signal.None;
  }

  private initialDone(now: i64): void {
    this.synced = true;
    this.relisted(now);
    logDebug(this.what + " watch: initial state at resourceVersion " + this.resourceVersion);
  }

  // Called by the readers.

  /** One list item ended. */
  item(): void {
    this.events++;
    this.apply(this.now, Event.Added);
    this.clear();
  }

  /** One watch event ended. */
  event(ok: bool, code: i64): void {
    const type = this.type;
    this.type = "";
    if (!ok) {
      logWarn(this.what + " watch: skipped a line that is not JSON");
      this.clear();
      return;
    }
    this.events++;
    const rv = this.objectVersion();
    if (type == "ERROR") {
      if (code == 410) this.gone = true;
      else logWarn(this.what + " watch: ERROR event (code " + code.toString() + ")");
    } else if (type == "BOOKMARK") {
      this.bookmarks++;
      if (rv.length > 0) this.resourceVersion = rv;
      if (this.initialEventsEnd() && !this.synced) this.initialDone(this.now);
    } else {
      const e = type == "ADDED" ? Event.Added : type == "MODIFIED" ? Event.Modified : type == "DELETED" ? Event.Deleted : -1;
      if (e >= 0) {
        if (rv.length > 0) this.resourceVersion = rv;
        this.apply(this.now, e);
      }
    }
    this.clear();
  }

  setType(v: ByteBuffer): void {
    this.type = v.toString();
  }

  /** The list's own resourceVersion. */
  setListVersion(v: ByteBuffer): void {
    this.resourceVersion = v.toString();
  }
}

/** Scans a list: each `items[]` element is one object. */
class ListReader extends ScanHandler {
  constructor(private src: Reflector, private n: i32) {
    super();
  }
  value(field: i32, kind: ValueKind, v: ByteBuffer, key: ByteBuffer): void {
    if (!this.src.reading) return;
    if (field < this.n) this.src.scanValue(field, kind, v, key);
    else if (field == this.n + 1 && kind == ValueKind.String) this.src.setListVersion(v);
  }
  begin(field: i32, kind: ValueKind, key: ByteBuffer): void {
    if (!this.src.reading) return;
    if (field == this.n) this.src.clear();
    else if (field < this.n) this.src.scanBegin(field, kind, key);
  }
  end(field: i32): void {
    if (!this.src.reading) return;
    if (field == this.n) this.src.item();
    else if (field < this.n) this.src.scanEnd(field);
  }
}

/** Scans watch lines: `{"type":…,"object":…}`. */
class WatchReader extends LineHandler {
  private code: i64 = 0;
  constructor(private src: Reflector, private n: i32) {
    super();
  }
  value(field: i32, kind: ValueKind, v: ByteBuffer, key: ByteBuffer): void {
    if (field < this.n) this.src.scanValue(field, kind, v, key);
    else if (field == this.n && kind == ValueKind.String) this.src.setType(v);
    else if (field == this.n + 1 && kind == ValueKind.Number) this.code = numberOf(v);
  }
  begin(field: i32, kind: ValueKind, key: ByteBuffer): void {
    if (field < this.n) this.src.scanBegin(field, kind, key);
  }
  end(field: i32): void {
    if (field < this.n) this.src.scanEnd(field);
  }
  line(ok: bool, scanner: JsonScanner): void {
    const code = this.code;
    this.code = 0;
    if (!this.src.reading) {
      this.src.clear();
      return;
    }
    this.src.event(ok, code);
  }
}
