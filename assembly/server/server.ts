/**
 * The kubelet port (pkg/kubelet/server/server.go): connections the host accepted (ids from
 * CONN_ACCEPTED_MIN up) carry HTTP/1.1 requests, each authenticated, authorized and then answered.
 *
 * Theory of operation. A connection reads one request at a time (http/incoming.ts, fed any split of the
 * bytes). When its head is complete the request is authenticated: the client certificate the host
 * verified, else a bearer token the API server reviews (TokenReview), else 401. Then it is authorized: a
 * SubjectAccessReview for `nodes/<subresource>` with the request's verb (routes.ts), 403 with the reason
 * when denied. Both answers are cached (auth.ts) and asked on the control lane (reviews.ts), behind the
 * lease renewal, so serving never delays one. Then the route answers: small bodies at once, others through
 * a Producer, a piece at a time as the client takes them (flow control: the next piece is made only when
 * the host took the last one, on_writable), chunked for HTTP/1.1 and until-close for HTTP/1.0.
 *
 * Bytes of a next request that arrive while one is being answered (pipelining) are held, up to the head
 * limit, and read when the answer is complete. A head must be complete within REQUEST_HEAD_MS (else 408),
 * reviews within REVIEW_MS (else 503), an idle connection is closed after IDLE_MS, and at most
 * `maxServerConnections` are served at once (more are closed as they arrive). Malformed requests get their
 * 4xx/5xx and the connection ends. A hand-off forgets every connection (the host closes them).
 */
import { CONN_ACCEPTED_MIN } from "../abi/codes";
import { ByteBuffer, decimal, equalsIgnoreCase, utf8 } from "../util/bytes";
import { parseRfc3339 } from "../util/time";
import { logDebug, logInfo } from "../util/log";
import { HEAD_LIMIT, Incoming, IncomingRequest, Method } from "../http/incoming";
import { Framing, MAX_CHUNK, writeChunk, writeHead, writeLastChunk, writeText } from "../http/answer";
import { Outbox } from "../http/outbox";
import { LogQuery, hasRun } from "../pods/logs";
import { Pod } from "../pods/pod";
import { Kubelet } from "../agent/agent";
import { AuthCache, decisionKey } from "./auth";
import { Identity, Review, ReviewClient, ReviewKind, Reviewer, certIdentity } from "./reviews";
import { Route, Target, fallback, parseTarget, queryValue, subresourceOf, verbOf } from "./routes";
import { PIECE_BYTES, Produced, Producer } from "./producer";
import { LogStream } from "./logstream";
import { PodList } from "./podlist";
import { ResourceMetrics } from "./resource";
import { NodeMetrics, ServerCounts } from "./metrics";
import { PROMETHEUS_TYPE } from "./prometheus";

/** A started request head must be complete within this. */
export const REQUEST_HEAD_MS: i64 = 10_000;
/** An idle kept-alive connection (or one whose answers the client does not read) is closed after this. */
export const IDLE_MS: i64 = 30_000;
/** The API server must answer a request's reviews within this. */
export const REVIEW_MS: i64 = 15_000;
/** Answers waiting for one client: a piece of a body and its framing, or pipelined small answers. */
const OUT_LIMIT: i32 = PIECE_BYTES * 2 + 4096;
/** Pieces made per event for one connection before the others (and the lanes) get their turn. */
const PIECES_PER_EVENT = 8;

enum State {
  /** Reading a request. */
  Reading = 0,
  /** Waiting for the API server's reviews. */
  Reviewing = 1,
  /** Sending a body a piece at a time. */
  Producing = 2,
}

class ServerConn {
  readonly req: IncomingRequest = new IncomingRequest();
  readonly out: ByteBuffer = new ByteBuffer(256, OUT_LIMIT);
  state: State = State.Reading;
  deadline: i64 = 0;
  /** The identity of the client certificate, if one was verified. */
  cert: Identity | null = null;
  /** The request being answered: what the parser read, kept while the parser reads on. */
  method: Method = Method.Other;
  target: Target = new Target();
  token: string = "";
  keepOpen: bool = true;
  http10: bool = false;
  head: bool = false;
  upgrade: bool = false;
  /** The identity the request was authenticated as. */
  who: Identity | null = null;
  /** The subresource being authorized (after a fine-grained denial: its fallback). */
  subresource: string = "";
  /** The subresource first asked for (its denial is the one reported). */
  asked: string = "";
  review: Review | null = null;
  producer: Producer | null = null;
  framing: Framing = Framing.Length;
  /** Bytes of the next request(s) that came while this one was answered. */
  held: ByteBuffer | null = null;
  /** c.out holds bytes not handed to the outbox yet. */
  unsent: bool = false;
  constructor(public conn: i32) {}
}

export class KubeletServer extends ReviewClient {
  conns: ServerConn[] = [];
  max: i32 = 4;
  /** The port the host listens on (0: not listening). */
  port: i32 = 0;
  readonly counts: ServerCounts = new ServerCounts();
  readonly cache: AuthCache = new AuthCache();
  private outbox: Outbox;

  constructor(private k: Kubelet, private reviewer: Reviewer) {
    super();
    this.outbox = k.ctx.outbox;
    reviewer.client = this;
  }

  /** A connection was accepted on `port`; `ident` [p, p+n) is the verified client identity (n 0: none). */
  onAccepted(now: i64, conn: i32, port: i32, p: usize, n: i32): void {
    if (conn < CONN_ACCEPTED_MIN || this.find(conn) !== null) return;
    if (this.port == 0 || port != this.port || this.conns.length >= this.max) {
      this.counts.refused++;
      this.outbox.close(conn);
      return;
    }
    this.counts.accepted++;
    const c = new ServerConn(conn);
    if (n > 0) c.cert = certIdentity(p, n);
    c.deadline = now + REQUEST_HEAD_MS;
    this.conns.push(c);
  }

  /** Request bytes [p, p+n) on `conn`. */
  onData(now: i64, conn: i32, p: usize, n: i32): void {
    const c = this.find(conn);
    if (c !== null) this.read(c, now, p, n);
  }

  onWritable(now: i64, conn: i32): void {
    const c = this.find(conn);
    if (c !== null && c.state == State.Producing) this.produce(c, now);
  }

  onClosed(conn: i32): void {
    const c = this.find(conn);
    if (c !== null) this.remove(c);
  }

  onTimer(now: i64): void {
    for (let i = this.conns.length - 1; i >= 0; i--) {
      if (i >= this.conns.length) continue;
      const c = unchecked(this.conns[i]);
      if (now < c.deadline) continue;
      if (c.state == State.Producing) {
        // A followed log's next line, or the rest of a body an event's share did not cover.
        if (!this.outbox.busy(c.conn)) this.produce(c, now);
        else c.deadline = now + IDLE_MS;
      } else if (c.state == State.Reviewing) {
        this.fail(c, now, 503, "the API server did not answer the authorization of this request in time; try again\n");
      } else if (c.req.started && !this.outbox.busy(c.conn)) {
        this.answer(c, now, 408, "timeout\n");
      } else {
        this.end(c);
      }
    }
  }

  nextDeadline(): i64 {
    let d: i64 = -1;
    for (let i = 0; i < this.conns.length; i++) {
      const c = unchecked(this.conns[i]);
      if (d < 0 || c.deadline < d) d = c.deadline;
    }
    return d;
  }

  /** Shutdown: close every accepted connection. */
  closeAll(): void {
    while (this.conns.length > 0) this.end(unchecked(this.conns[0]));
    this.port = 0;
  }

  /** Hand-off: forget every connection without a word (the host closes them). */
  forgetAll(): void {
    this.conns.length = 0;
    this.port = 0;
    this.reviewer.clear();
  }

  /** A review this server asked for was answered (or failed). */
  reviewed(now: i64, r: Review): void {
    const c = this.find(r.conn);
    if (c === null || c.review !== r) return;
    c.review = null;
    if (r.kind == ReviewKind.Token) {
      if (r.error.length > 0) {
        // Nothing is cached: the next request asks again.
        logInfo("kubelet port: a bearer token could not be reviewed: " + r.error);
        return this.unauthorized(c, now);
      }
      this.cache.rememberToken(now, c.token, r.ok ? r.identity : null);
      if (!r.ok) return this.unauthorized(c, now);
      c.who = r.identity;
      return this.authorize(c, now);
    }
    if (r.error.length > 0) {
      logInfo("kubelet port: authorization of " + c.who!.user + " failed: " + r.error);
      return this.fail(c, now, 500, "Authorization error (" + this.attributes(c) + ")\n");
    }
    this.cache.rememberDecision(now, decisionKey(c.who!, verbOf(c.method), c.subresource), r.ok, r.reason);
    this.decided(c, now, r.ok, r.reason);
  }

  /** Feeds request bytes; they are held while a request is being answered. */
  private read(c: ServerConn, now: i64, p: usize, n: i32): void {
    let used = 0;
    while (used < n && this.find(c.conn) === c) {
      if (c.state != State.Reading) {
        this.hold(c, p + <usize>used, n - used);
        return;
      }
      const req = c.req;
      const wasStarted = req.started;
      used += req.feed(p + <usize>used, n - used);
      if (!wasStarted && req.started) c.deadline = now + REQUEST_HEAD_MS;
      if (req.state == Incoming.Ready) this.begin(c, now);
      else if (req.state == Incoming.Bad) this.answer(c, now, req.answer, "bad request\n");
    }
  }

  private hold(c: ServerConn, p: usize, n: i32): void {
    let h = c.held;
    if (h === null) {
      h = new ByteBuffer(n < 256 ? 256 : n, HEAD_LIMIT);
      c.held = h;
    }
    h.raw(p, n);
    // A client that sends more than a whole head ahead is not waiting for answers: it ends here.
    if (h.overflow) this.end(c);
  }

  /** A whole request was read: take what it says, then authenticate it. */
  private begin(c: ServerConn, now: i64): void {
    const req = c.req;
    this.counts.requests++;
    c.method = req.method;
    c.target = parseTarget(req.target.toString());
    c.keepOpen = req.persistent;
    c.http10 = req.minor == 0;
    c.head = req.method == Method.Head;
    c.upgrade = req.upgrade;
    c.token = bearer(req.authorization);
    req.reset();
    c.state = State.Reviewing;
    c.deadline = now + REVIEW_MS;
    if (c.cert !== null) {
      c.who = c.cert;
      return this.authorize(c, now);
    }
    if (c.token.length == 0) return this.unauthorized(c, now);
    const known = this.cache.token(now, c.token);
    if (known !== null) {
      if (known.identity === null) return this.unauthorized(c, now);
      c.who = known.identity;
      return this.authorize(c, now);
    }
    const r = new Review();
    r.kind = ReviewKind.Token;
    r.conn = c.conn;
    r.token = c.token;
    this.ask(c, now, r);
  }

  private authorize(c: ServerConn, now: i64): void {
    c.asked = subresourceOf(c.target.path);
    c.subresource = c.asked;
    this.check(c, now);
  }

  /** Asks (or finds in the cache) whether c.who may do c's verb on nodes/c.subresource. */
  private check(c: ServerConn, now: i64): void {
    const verb = verbOf(c.method);
    if (verb.length == 0) return this.fail(c, now, 405, "method not allowed\n");
    const known = this.cache.decision(now, decisionKey(c.who!, verb, c.subresource));
    if (known !== null) return this.decided(c, now, known.allowed, known.reason);
    const r = new Review();
    r.kind = ReviewKind.Access;
    r.conn = c.conn;
    r.identity = c.who!;
    r.verb = verb;
    r.subresource = c.subresource;
    r.node = this.k.ctx.cfg.nodeName;
    this.ask(c, now, r);
  }

  private ask(c: ServerConn, now: i64, r: Review): void {
    if (!this.reviewer.ask(now, r)) return this.fail(c, now, 503, "too many requests are waiting for authorization; try again\n");
    c.review = r;
  }

  private decided(c: ServerConn, now: i64, allowed: bool, reason: string): void {
    if (!allowed) {
      const next = fallback(c.subresource);
      if (next.length > 0) {
        // A fine-grained subresource was denied: the kubelet then checks nodes/proxy.
        c.subresource = next;
        return this.check(c, now);
      }
      this.counts.forbidden++;
      c.subresource = c.asked;
      const why = reason.length > 0 ? ": " + reason : "";
      logDebug("kubelet port: forbidden (" + this.attributes(c) + ")" + why);
      return this.fail(c, now, 403, "Forbidden (" + this.attributes(c) + ")\n");
    }
    this.serve(c, now);
  }

  private attributes(c: ServerConn): string {
    return "user=" + (c.who !== null ? c.who!.user : "") + ", verb=" + verbOf(c.method) + ", resource=nodes, subresource=" + c.subresource;
  }

  private unauthorized(c: ServerConn, now: i64): void {
    this.counts.unauthorized++;
    this.fail(c, now, 401, "Unauthorized\n");
  }

  /** Routes an authorized request. */
  private serve(c: ServerConn, now: i64): void {
    const t = c.target;
    const route = t.route;
    const reads = c.method == Method.Get || c.method == Method.Head;
    if (route == Route.NotFound) return this.fail(c, now, 404, "404 page not found\n");
    if (route == Route.Streaming) {
      return this.fail(c, now, 501, "picokubelet: " + t.what + " needs a running process, and this node runs none: its pods are theater\n");
    }
    if (!reads) return this.fail(c, now, 405, "method not allowed\n");
    if (route == Route.Healthz) return this.finish(c, now, 200, "ok");
    if (route == Route.Pods) return this.stream(c, now, "application/json", new PodList(this.k));
    if (route == Route.Metrics) return this.stream(c, now, PROMETHEUS_TYPE, new NodeMetrics(this.k, this.counts, this.reviewer));
    if (route == Route.MetricsResource) return this.stream(c, now, PROMETHEUS_TYPE, new ResourceMetrics(this.k));
    this.logs(c, now);
  }

  /** `/containerLogs/{ns}/{pod}/{container}` with the kubelet's query options. */
  private logs(c: ServerConn, now: i64): void {
    const t = c.target;
    let pod: Pod | null = null;
    const pods = this.k.pods.pods;
    for (let i = 0; i < pods.length; i++) {
      if (pods[i].namespace == t.namespace && pods[i].name == t.pod) pod = pods[i];
    }
    const key = t.namespace + "/" + t.pod;
    if (pod === null) return this.fail(c, now, 404, "pod \"" + key + "\" does not exist on this node\n");
    if (!pod.containers.includes(t.container) && !pod.initContainers.includes(t.container)) {
      return this.fail(c, now, 404, "container \"" + t.container + "\" not found in pod \"" + key + "\"\n");
    }
    const q = new LogQuery();
    const bad = readLogQuery(t.query, q, this.k.ctx.clock.anchored ? this.k.ctx.clock.wallMs(now) : 0);
    if (bad.length > 0) return this.fail(c, now, 400, bad + "\n");
    if (!hasRun(pod, q.previous)) {
      const what = q.previous ? "previous terminated container \"" + t.container + "\" in pod \"" + key + "\" not found"
        : "container \"" + t.container + "\" in pod \"" + key + "\" is waiting to start";
      return this.fail(c, now, 400, what + "\n");
    }
    const follow = queryValue(t.query, "follow");
    this.stream(c, now, "text/plain; charset=utf-8", new LogStream(this.k, pod.uid, t.container, q, follow !== null && truthy(follow), pod));
  }

  /** Starts a body made by `p`. */
  private stream(c: ServerConn, now: i64, contentType: string, p: Producer): void {
    c.framing = c.http10 ? Framing.UntilClose : Framing.Chunked;
    if (c.http10) c.keepOpen = false;
    if (!this.fresh(c)) return;
    // HEAD: the head alone (no length is known without making the body).
    writeHead(c.out, 200, contentType, c.head ? Framing.Length : c.framing, 0, !c.keepOpen, false);
    if (c.head) return this.sent(c, now);
    c.producer = p;
    c.state = State.Producing;
    this.produce(c, now);
  }

  /** Makes and sends pieces while the host takes them whole, a few per event. */
  private produce(c: ServerConn, now: i64): void {
    const p = c.producer;
    if (p === null) return;
    const piece = new ByteBuffer(PIECE_BYTES + 512, MAX_CHUNK);
    for (let i = 0; i < PIECES_PER_EVENT; i++) {
      // What was handed to the outbox must have gone out whole before the buffer is written again.
      if (this.outbox.busy(c.conn)) {
        c.deadline = now + IDLE_MS;
        return;
      }
      // Not busy: c.out is either the head still unsent, or what went out already and can be reused.
      if (!c.unsent) c.out.clear();
      c.unsent = true;
      piece.clear();
      const st = p.more(piece, now);
      if (piece.overflow) {
        // A piece that does not fit a chunk is a bug of ours, never a client's doing: end the body short.
        return this.end(c);
      }
      if (c.framing == Framing.Chunked) writeChunk(c.out, piece);
      else c.out.append(piece);
      if (st == Produced.Done) {
        if (c.framing == Framing.Chunked) writeLastChunk(c.out);
        return this.sent(c, now);
      }
      this.send(c);
      if (st == Produced.Wait) {
        c.deadline = p.wakeAt > now ? p.wakeAt : now + 1;
        return;
      }
    }
    // More to make: the next timer goes on, so one connection cannot keep the core busy.
    c.deadline = now;
  }

  /** Hands c.out's unsent bytes to the outbox and flushes, so the next piece knows whether the host took them. */
  private send(c: ServerConn): void {
    if (!c.unsent) return;
    c.unsent = false;
    if (c.out.length == 0) return;
    this.outbox.send(c.conn, c.out);
    this.outbox.flush();
  }

  /** The answer is complete: send it, then close, or read the next request (held bytes first). */
  private sent(c: ServerConn, now: i64): void {
    this.send(c);
    c.producer = null;
    c.review = null;
    c.who = null;
    if (!c.keepOpen) {
      this.outbox.closeAfterSend(c.conn);
      this.remove(c);
      return;
    }
    c.state = State.Reading;
    c.deadline = now + IDLE_MS;
    const h = c.held;
    if (h === null) return;
    c.held = null;
    this.read(c, now, h.ptr, h.length);
  }

  /** A whole small answer, then on with the connection. */
  private finish(c: ServerConn, now: i64, status: i32, body: string): void {
    if (!this.fresh(c)) return;
    writeText(c.out, status, body, !c.keepOpen, c.http10 && c.keepOpen, c.head);
    this.sent(c, now);
  }

  /** An error answer; the connection goes on when it may. */
  private fail(c: ServerConn, now: i64, status: i32, body: string): void {
    if (c.review !== null) {
      c.review!.cancelled = true;
      c.review = null;
    }
    this.finish(c, now, status, body);
  }

  /** An answer to a malformed or timed-out request: then the connection ends. */
  private answer(c: ServerConn, now: i64, status: i32, body: string): void {
    c.keepOpen = false;
    c.head = false;
    c.http10 = false;
    this.finish(c, now, status, body);
  }

  /**
   * Prepares c.out for a new answer: a fresh buffer when what it held went out (the answer is then
   * unsent, to be handed to the outbox), else the answer is appended behind what waits, and the outbox
   * sends it with that (pipelined answers to a client that reads slowly). False when too much waits for
   * such a client: it is closed.
   */
  private fresh(c: ServerConn): bool {
    if (!this.outbox.busy(c.conn)) {
      c.out.clear();
      c.unsent = true;
      return true;
    }
    if (c.out.length > OUT_LIMIT - 1024) {
      this.end(c);
      return false;
    }
    c.unsent = false;
    return true;
  }

  /** Ends `c` at once. */
  private end(c: ServerConn): void {
    if (c.review !== null) c.review!.cancelled = true;
    this.outbox.close(c.conn);
    this.remove(c);
  }

  private find(conn: i32): ServerConn | null {
    for (let i = 0; i < this.conns.length; i++) if (unchecked(this.conns[i]).conn == conn) return unchecked(this.conns[i]);
    return null;
  }

  private remove(c: ServerConn): void {
    const list = this.conns;
    for (let i = 0; i < list.length; i++) {
      if (unchecked(list[i]) !== c) continue;
      list[i] = list[list.length - 1];
      list.length--;
      return;
    }
  }
}

/** The token of `Authorization: Bearer <token>` ("" for anything else: another scheme is not ours). */
function bearer(a: ByteBuffer): string {
  // The parser dropped the whitespace around the value and kept inner runs: skip those after the scheme.
  if (a.length < 8 || !equalsIgnoreCase(a.ptr, 7, "bearer ")) return "";
  let from = 7;
  while (from < a.length && a.at(from) == 0x20) from++;
  return a.slice(from, a.length);
}

function truthy(v: string): bool {
  return v == "true" || v == "1" || v == "" || v == "True" || v == "TRUE";
}

/**
 * Reads the kubelet's log options from `query` into `q` (wall time `wallMs` for sinceSeconds); returns
 * what is wrong with them ("" when nothing).
 */
export function readLogQuery(query: string, q: LogQuery, wallMs: i64): string {
  const tail = queryValue(query, "tailLines");
  if (tail !== null) {
    const n = decimal(tail, 15);
    if (n < 0) return "tailLines must be a number of lines, not \"" + tail + "\"";
    q.tailLines = n;
  }
  const limit = queryValue(query, "limitBytes");
  if (limit !== null) {
    const n = decimal(limit, 15);
    if (n <= 0) return "limitBytes must be a positive number of bytes, not \"" + limit + "\"";
    q.limitBytes = n;
  }
  const since = queryValue(query, "sinceSeconds");
  const sinceTime = queryValue(query, "sinceTime");
  if (since !== null && sinceTime !== null) return "at most one of sinceTime or sinceSeconds may be specified";
  if (since !== null) {
    const n = decimal(since, 15);
    if (n <= 0) return "sinceSeconds must be a positive number of seconds, not \"" + since + "\"";
    q.sinceMs = wallMs - n * 1000;
  }
  if (sinceTime !== null) {
    const b = utf8(sinceTime);
    const t = parseRfc3339(b.ptr, b.length);
    if (t < 0) return "sinceTime must be an RFC 3339 time, not \"" + sinceTime + "\"";
    q.sinceMs = t;
  }
  const ts = queryValue(query, "timestamps");
  q.timestamps = ts !== null && truthy(ts);
  const prev = queryValue(query, "previous");
  q.previous = prev !== null && truthy(prev);
  return "";
}

