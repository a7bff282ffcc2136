/**
 * A lane: one kept-alive TLS connection to one server, carrying one exchange at a time.
 *
 * Theory of operation. A lane owns everything about its exchange: the request bytes (built once at
 * submit, so a replay sends exactly the request it belongs to), the response parser, the body sink and the
 * deadlines. An ordinary request has a whole-response deadline; a stream (a watch) has a progress deadline
 * instead: no byte for `progressMs` means the stream is dead. The lane opens its connection when it needs
 * one and records host actions in the shared Outbox; the agent flushes it after the event. The outcome
 * lands in `result`, which the agent routes back to the request's owner.
 *
 * A replayable request that was sent on a reused idle connection which then closed before any response
 * byte arrived is sent once more on a fresh connection: the server had closed the idle connection as we
 * wrote, which is not a failure of the request (RFC 9112 §9.3.1).
 */
import { CloseReason } from "../abi/codes";
import { ErrorCode } from "../abi/errors";
import { ByteBuffer } from "../util/bytes";
import { HttpRequest, writeRequestHead } from "./request";
import { ParseResult, ResponseParser } from "./response";
import { Outbox } from "./outbox";
import { classify, Outcome } from "./outcome";

/** Connection states. */
enum Conn {
  None,
  Connecting,
  Open,
}

/** Counters shared by every lane, for the hosts' stats. */
export class NetStats {
  connects: i64 = 0;
  requests: i64 = 0;
  /** Connections established (handshake done). */
  established: i64 = 0;
}

/** Capacity a lane's request buffer keeps between requests (a status push is about 3 KiB). */
const OUT_KEEP_BYTES = 8192;

/** Connection ids are unique across lanes and never reused while the module runs (ABI.md). */
let nextConn: i32 = 1;

/** Where a lane connects and how it authenticates. */
export class Endpoint {
  host: string = "";
  port: i32 = 443;
  serverName: string = "";
  token: string = "";
  /** How the host verifies the server (abi/codes.ts Profile): the cluster CA, or public CAs (registries). */
  profile: i32 = 0;
}

/** The outcome of one request. */
export class HttpResult {
  owner: i32 = 0;
  tag: i32 = 0;
  /** A complete response arrived (any status). */
  ok: bool = false;
  status: i32 = 0;
  outcome: Outcome = Outcome.Transport;
  /** Why it failed when !ok. */
  error: ErrorCode = ErrorCode.Ok;
  detail: string = "";
  /** `now` when the request bytes were handed to the host. */
  sentAt: i64 = 0;
  /** `now` when the first response byte arrived. */
  firstByteAt: i64 = 0;
  /** The Date header as Unix seconds, or -1. */
  dateSecs: i64 = -1;
  /** The server's Retry-After in ms, or -1. */
  retryAfterMs: i64 = -1;
  /** The kept body (the lane's buffer: valid until the lane's next request). */
  body: ByteBuffer;
  /** The body was longer than the request's budget. */
  truncated: bool = false;
  /** Registry requests only (HttpRequest.registry): WWW-Authenticate, Docker-Content-Digest, Location. */
  challenge: string = "";
  contentDigest: string = "";
  location: string = "";

  constructor(body: ByteBuffer) {
    this.body = body;
  }
}

export class Lane {
  /** The request in flight, or null when the lane is free. */
  current: HttpRequest | null = null;
  /** Completed outcome waiting to be routed; take it with takeResult(). */
  result: HttpResult | null = null;
  readonly parser: ResponseParser;
  /** Whole-response deadline of ordinary requests. */
  timeoutMs: i64 = 10_000;
  /** The exchange in flight is a stream: its longest silence before it counts as dead (0: not a stream). */
  private progressMs: i64 = 0;

  /** Connections this lane established (a second one is a reconnect). */
  established: i64 = 0;
  private conn: i32 = 0;
  private state: Conn = Conn.None;
  private requestsOnConn: i32 = 0;
  private replayed: bool = false;
  /** The connection is to be closed once the exchange in flight is complete (recycle). */
  private closeAfter: bool = false;
  /** A connection was closed to move to new credentials; the next one replaces it. */
  private moving: bool = false;
  /** The last connection established replaced one closed on purpose (not a reconnect after a failure). */
  moved: bool = false;
  private deadline: i64 = -1;
  private sentAt: i64 = 0;
  private firstByteAt: i64 = 0;
  /** The request's bytes, head and body, as sent (and re-sent by a replay). */
  private out: ByteBuffer = new ByteBuffer(1024, 64 * 1024);

  constructor(
    readonly endpoint: Endpoint,
    private outbox: Outbox,
    readonly stats: NetStats,
    maxBody: i32,
  ) {
    this.parser = new ResponseParser(maxBody);
  }

  /** True when a request may be submitted. */
  get free(): bool {
    return this.current === null && this.result === null;
  }

  /** True when `conn` is this lane's connection. */
  owns(conn: i32): bool {
    return conn != 0 && conn == this.conn;
  }

  /** Builds the request's bytes and sends them (the lane must be free). */
  submit(now: i64, req: HttpRequest): void {
    this.current = req;
    this.replayed = false;
    this.progressMs = req.progressMs;
    const out = this.out;
    out.reset(OUT_KEEP_BYTES);
    const ep = this.endpoint;
    writeRequestHead(out, req, ep.host, ep.port, req.bearer.length > 0 ? req.bearer : ep.token);
    const body = req.body;
    if (body !== null) out.append(body);
    if (out.overflow) {
      // Never send a request that does not fit: a truncated body would be refused, or worse, accepted.
      this.complete(false, ErrorCode.ConfigInvalid, "request larger than the send buffer");
      return;
    }
    this.deadline = now + (this.progressMs > 0 ? this.progressMs : this.timeoutMs);
    this.start(now);
  }

  /** The outcome of the last request, once; null while none is waiting. */
  takeResult(): HttpResult | null {
    const r = this.result;
    this.result = null;
    return r;
  }

  /** The time the lane next needs on_timer, or -1. */
  nextDeadline(): i64 {
    return this.current !== null ? this.deadline : -1;
  }

  /** The host reports that `conn` is connected. */
  onConnected(now: i64, conn: i32): void {
    if (conn != this.conn || this.state != Conn.Connecting) return;
    this.state = Conn.Open;
    this.moved = this.moving;
    this.moving = false;
    this.requestsOnConn = 0;
    this.stats.established++;
    this.established++;
    if (this.current !== null) this.send(now);
  }

  /** Bytes [p, p+n) arrived on `conn`. */
  onData(now: i64, conn: i32, p: usize, n: i32): void {
    if (conn != this.conn || this.state != Conn.Open) return;
    if (this.current === null) {
      // Bytes nobody asked for: the connection's framing can no longer be trusted.
      this.drop();
      return;
    }
    if (!this.parser.started) this.firstByteAt = now;
    if (this.progressMs > 0) this.deadline = now + this.progressMs;
    const r = this.parser.feed(p, n);
    if (r == ParseResult.Done) {
      if (this.parser.mustClose) this.drop();
      this.complete(true, ErrorCode.Ok, "");
    } else if (r == ParseResult.Error) {
      this.drop();
      this.complete(false, this.parser.error, this.parser.detail);
    }
  }

  /** `conn` closed (or failed to connect) without our asking. */
  onClosed(now: i64, conn: i32, reason: i32): void {
    if (conn != this.conn) return;
    const wasConnecting = this.state == Conn.Connecting;
    this.conn = 0;
    this.state = Conn.None;
    const req = this.current;
    if (req === null) return;
    if (wasConnecting) {
      this.complete(false, ErrorCode.Connect, closeReasonText(reason));
      return;
    }
    if (this.parser.started) {
      const r = this.parser.finish();
      if (r == ParseResult.Done) this.complete(true, ErrorCode.Ok, "");
      else this.complete(false, this.parser.error, this.parser.detail);
      return;
    }
    if (req.replayable && this.requestsOnConn > 1 && !this.replayed && (reason == CloseReason.Eof || reason == CloseReason.IoError)) {
      this.replayed = true;
      this.start(now);
      return;
    }
    this.complete(false, ErrorCode.Closed, closeReasonText(reason));
  }

  /** Time passed: fails the exchange when its deadline is reached. */
  onTimer(now: i64): void {
    if (this.current === null || now < this.deadline) return;
    this.drop();
    if (this.progressMs > 0) this.complete(false, ErrorCode.Timeout, "stream silent for " + this.progressMs.toString() + " ms");
    else this.complete(false, ErrorCode.Timeout, "no response within " + this.timeoutMs.toString() + " ms");
  }

  /** The link went down: fail the exchange in flight and forget the connection. */
  linkDown(): void {
    this.drop();
    if (this.current !== null) this.complete(false, ErrorCode.LinkDown, "link down");
  }

  /** Closes the connection (if any) from our side. */
  drop(): void {
    if (this.conn != 0) this.outbox.close(this.conn);
    this.conn = 0;
    this.state = Conn.None;
  }

  /**
   * The host's client credentials changed (a new client certificate): the connection moves to them. An
   * idle connection closes now, an ordinary exchange completes first, and a stream ends here as if the
   * server had ended it (its owner watches again at once, on a new connection, from where it was).
   */
  recycle(now: i64): void {
    if (this.conn != 0) this.moving = true;
    if (this.current === null) {
      this.drop();
    } else if (this.progressMs > 0 && this.state == Conn.Open && this.parser.started && this.parser.status == 200) {
      this.drop();
      this.complete(true, ErrorCode.Ok, "");
    } else if (this.progressMs > 0 || this.state != Conn.Open) {
      // Nothing of the answer has been read yet: send the request again on a new connection.
      this.drop();
      this.start(now);
    } else {
      this.closeAfter = true;
    }
  }

  /**
   * Points a free lane at another server (a registry lane follows token realms and blob redirects): a
   * connection to a different host, port or name is closed, the next request opens one to the new place.
   */
  retarget(host: string, port: i32, serverName: string): void {
    const ep = this.endpoint;
    if (ep.host == host && ep.port == port && ep.serverName == serverName) return;
    if (this.current === null) this.drop();
    ep.host = host;
    ep.port = port;
    ep.serverName = serverName;
  }

  /** Forgets the exchange and its outcome (shutdown). */
  reset(): void {
    this.drop();
    this.closeAfter = false;
    this.moving = false;
    this.current = null;
    this.result = null;
    this.deadline = -1;
  }

  private start(now: i64): void {
    if (this.state == Conn.Open) {
      this.send(now);
      return;
    }
    if (this.state == Conn.Connecting) return;
    this.conn = nextConn;
    nextConn = nextConn < 0x3ffffff0 ? nextConn + 1 : 1;
    this.state = Conn.Connecting;
    this.stats.connects++;
    const ep = this.endpoint;
    this.outbox.connect(this.conn, ep.host, ep.port, ep.serverName, ep.profile);
  }

  private send(now: i64): void {
    const req = this.current;
    if (req === null) return;
    const sink = req.sink;
    this.parser.registryHeaders = req.registry;
    if (sink !== null) this.parser.resetTo(sink, req.method == "HEAD");
    else this.parser.reset(req.bodyBudget, req.method == "HEAD");
    this.requestsOnConn++;
    this.stats.requests++;
    this.sentAt = now;
    this.firstByteAt = 0;
    this.outbox.send(this.conn, this.out);
  }

  private complete(ok: bool, error: ErrorCode, detail: string): void {
    const req = this.current;
    if (req === null) return;
    const r = new HttpResult(this.parser.body);
    r.owner = req.owner;
    r.tag = req.tag;
    r.ok = ok;
    r.status = ok ? this.parser.status : 0;
    r.outcome = classify(ok, r.status);
    r.error = error;
    r.detail = detail;
    r.sentAt = this.sentAt;
    r.firstByteAt = this.firstByteAt;
    r.dateSecs = this.parser.dateSecs;
    r.retryAfterMs = ok && this.parser.retryAfterSecs >= 0 ? this.parser.retryAfterSecs * 1000 : -1;
    r.truncated = this.parser.bodyTruncated;
    if (req.registry) {
      r.challenge = this.parser.challenge;
      r.contentDigest = this.parser.contentDigest;
      r.location = this.parser.location;
    }
    this.current = null;
    this.deadline = -1;
    this.result = r;
    if (this.closeAfter) {
      this.closeAfter = false;
      this.drop();
    }
  }
}

/** Words for a close reason. */
export function closeReasonText(reason: i32): string {
  switch (reason) {
    case CloseReason.Eof: return "connection closed by the server";
    case CloseReason.ConnectFailed: return "TCP connect failed";
    case CloseReason.TlsFailed: return "TLS handshake or certificate verification failed";
    case CloseReason.IoError: return "connection reset";
    case CloseReason.LinkDown: return "link down";
    default: return "connection closed (reason " + reason.toString() + ")";
  }
}
