/**
 * The HTTP client: one kept-alive TLS connection to the API server, one request at a time.
 *
 * Theory of operation: a reconciler submits a request when the client is free. The client opens a
 * connection if it has none (the host's `connect`), sends the request, and feeds received bytes to the
 * response parser. The outcome lands in `result`, which the kubelet routes back by `tag` after the event.
 * Every request has a deadline; when it passes, the connection is dropped and the request fails (the
 * owner retries). A replayable request that was sent on a reused idle connection which then closed before
 * any response byte arrived is sent once more on a fresh connection: the server had closed the idle
 * connection as we wrote, which is not a failure of the request (RFC 9112 §9.3.1).
 */
import { hostClose, hostConnect, hostSend } from "../abi/imports";
import { CloseReason } from "../abi/codes";
import { ErrorCode } from "../abi/errors";
import { ByteBuffer } from "../util/bytes";
import { HttpRequest, writeRequestHead } from "./request";
import { ParseResult, ResponseParser } from "./response";

/** Connection states. */
enum Conn {
  None,
  Connecting,
  Open,
}

/** The outcome of one request. */
export class HttpResult {
  tag: i32 = 0;
  /** A complete response arrived (any status). */
  ok: bool = false;
  status: i32 = 0;
  /** Why it failed when !ok. */
  error: ErrorCode = ErrorCode.Ok;
  detail: string = "";
  /** `now` when the request bytes were handed to the host. */
  sentAt: i64 = 0;
  /** `now` when the first response byte arrived. */
  firstByteAt: i64 = 0;
  /** The Date header as Unix seconds, or -1. */
  dateSecs: i64 = -1;
}

export class HttpClient {
  /** The request in flight, or null when the client is free. */
  current: HttpRequest | null = null;
  /** Completed outcome waiting to be routed; take it with takeResult(). */
  result: HttpResult | null = null;
  /** Body of the last response (bounded by the request's budget). */
  readonly parser: ResponseParser;
  /** Connections opened and requests sent, for stats. */
  connects: i64 = 0;
  requests: i64 = 0;
  /** Connections established (handshake done), for the Vibes signal: every one after the first is a reconnect. */
  established: i64 = 0;

  host: string = "";
  port: i32 = 443;
  serverName: string = "";
  token: string = "";
  timeoutMs: i64 = 10_000;

  private conn: i32 = 0;
  private nextConn: i32 = 1;
  private state: Conn = Conn.None;
  private requestsOnConn: i32 = 0;
  private replayed: bool = false;
  private deadline: i64 = -1;
  private sentAt: i64 = 0;
  private firstByteAt: i64 = 0;
  private out: ByteBuffer = new ByteBuffer(1024, 64 * 1024);
  private scratch: ByteBuffer = new ByteBuffer(64, 1024);

  constructor(maxBody: i32) {
    this.parser = new ResponseParser(maxBody);
  }

  /** True when a request may be submitted. */
  get free(): bool {
    return this.current === null && this.result === null;
  }

  /** Sends `req` (the client must be free). */
  submit(now: i64, req: HttpRequest): void {
    this.current = req;
    this.replayed = false;
    this.deadline = now + this.timeoutMs;
    this.start(now);
  }

  /** The outcome of the last request, once; null while none is waiting. */
  takeResult(): HttpResult | null {
    const r = this.result;
    this.result = null;
    return r;
  }

  /** The time the client next needs on_timer, or -1. */
  nextDeadline(): i64 {
    return this.current !== null ? this.deadline : -1;
  }

  /** The host reports that `conn` is connected. */
  onConnected(now: i64, conn: i32): void {
    if (conn != this.conn || this.state != Conn.Connecting) return;
    this.state = Conn.Open;
    this.requestsOnConn = 0;
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

  /** Time passed: fails the request in flight when its deadline is reached. */
  onTimer(now: i64): void {
    if (this.current === null || now < this.deadline) return;
    this.drop();
    this.complete(false, ErrorCode.Timeout, "no response within " + this.timeoutMs.toString() + " ms");
  }

  /** The link went down: fail the request in flight and forget the connection. */
  linkDown(): void {
    this.drop();
    if (this.current !== null) this.complete(false, ErrorCode.LinkDown, "link down");
  }

  /** Closes the connection (if any) from our side. */
  drop(): void {
    if (this.conn != 0) hostClose(this.conn);
    this.conn = 0;
    this.state = Conn.None;
  }

  private start(now: i64): void {
    if (this.state == Conn.Open) {
      this.send(now);
      return;
    }
    if (this.state == Conn.Connecting) return;
    this.conn = this.nextConn;
    this.nextConn = this.nextConn < 0x7ffffff0 ? this.nextConn + 1 : 1;
    this.state = Conn.Connecting;
    this.connects++;
    const h = this.scratch;
    h.clear();
    h.str(this.host);
    const hostLen = h.length;
    h.str(this.serverName);
    // Both strings sit in one buffer: host first, then the server name.
    hostConnect(this.conn, h.ptr, hostLen, this.port, h.ptr + <usize>hostLen, h.length - hostLen);
  }

  private send(now: i64): void {
    const req = this.current;
    if (req === null) return;
    const out = this.out;
    out.clear();
    writeRequestHead(out, req, this.host, this.port, this.token);
    const body = req.body;
    if (body !== null) out.append(body);
    this.parser.reset(req.bodyBudget, req.method == "HEAD");
    this.requestsOnConn++;
    this.requests++;
    this.sentAt = now;
    this.firstByteAt = 0;
    if (out.overflow) {
      this.complete(false, ErrorCode.ConfigInvalid, "request larger than the send buffer");
      return;
    }
    hostSend(this.conn, out.ptr, out.length);
  }

  private complete(ok: bool, error: ErrorCode, detail: string): void {
    const req = this.current;
    if (req === null) return;
    const r = new HttpResult();
    r.tag = req.tag;
    r.ok = ok;
    r.status = ok ? this.parser.status : 0;
    r.error = error;
    r.detail = detail;
    r.sentAt = this.sentAt;
    r.firstByteAt = this.firstByteAt;
    r.dateSecs = this.parser.dateSecs;
    this.current = null;
    this.deadline = -1;
    this.result = r;
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
