/**
 * The kubelet port, minimally: connections the host accepted (ids from CONN_ACCEPTED_MIN up) get one
 * answer per request, `GET /healthz` -> 200 `ok`, anything else -> 404, with HTTP/1.1 persistence
 * (RFC 9112 §9.3). A malformed request gets its 4xx/5xx and the connection ends; a client that starts a
 * request and does not finish its head within REQUEST_HEAD_MS gets 408; an idle connection is closed after
 * IDLE_MS. At most `maxServerConnections` are served at once; more are closed as they arrive.
 *
 * One response per connection is in flight at a time: a request that arrives while the previous answer
 * still waits in the outbox (the client is not reading) stays in `held`, at most HOLD_LIMIT bytes, and is
 * answered when the answer went out (`resume`, called after every flush). A client that sends more than
 * that without reading is closed.
 *
 * The real kubelet-port server replaces the router in `answer` later; the parser and the flow stay.
 */
import { CONN_ACCEPTED_MIN } from "../abi/codes";
import { ByteBuffer } from "../util/bytes";
import { logInfo } from "../util/log";
import { Incoming, IncomingRequest, writeResponse } from "../http/incoming";
import { Outbox } from "../http/outbox";

/** A started request head must be complete within this. */
export const REQUEST_HEAD_MS: i64 = 10_000;
/** An idle kept-alive connection (or one whose answer the client does not read) is closed after this. */
export const IDLE_MS: i64 = 30_000;
/** Request bytes held while an answer waits for the client to read. */
const HOLD_LIMIT: i32 = 4096;

class ServerConn {
  readonly req: IncomingRequest = new IncomingRequest();
  readonly out: ByteBuffer = new ByteBuffer(128, 512);
  readonly held: ByteBuffer = new ByteBuffer(0, HOLD_LIMIT);
  deadline: i64 = 0;
  /** The answer that ends the connection was recorded; input is ignored from now on. */
  ending: bool = false;
  constructor(public conn: i32, public identified: bool) {}
}

export class KubeletServer {
  conns: ServerConn[] = [];
  max: i32 = 4;
  /** The port the host listens on (0: not listening). */
  port: i32 = 0;
  accepted: i64 = 0;
  requests: i64 = 0;
  refused: i64 = 0;

  constructor(private outbox: Outbox) {}

  /**
   * A connection was accepted on `port`. `identified`: the client presented a certificate that verified
   * (its identity lines are in io_buffer; nothing served here needs them yet, the real server will).
   */
  onAccepted(now: i64, conn: i32, port: i32, peer: u32, identified: bool): void {
    if (conn < CONN_ACCEPTED_MIN || this.find(conn) !== null) return;
    if (this.port == 0 || port != this.port || this.conns.length >= this.max) {
      this.refused++;
      this.outbox.close(conn);
      return;
    }
    this.accepted++;
    const c = new ServerConn(conn, identified);
    c.deadline = now + REQUEST_HEAD_MS;
    this.conns.push(c);
  }

  /** True when `conn` is one of ours. */
  owns(conn: i32): bool {
    return conn >= CONN_ACCEPTED_MIN;
  }

  onData(now: i64, conn: i32, p: usize, n: i32): void {
    const c = this.find(conn);
    if (c === null || c.ending) return;
    if (c.held.length > 0 || this.outbox.busy(conn)) {
      c.held.raw(p, n);
      if (c.held.overflow) this.end(c, false);
      return;
    }
    const used = this.input(now, c, p, n);
    if (used < n && !c.ending) {
      c.held.raw(p + <usize>used, n - used);
      if (c.held.overflow) this.end(c, false);
    }
  }

  onClosed(conn: i32): void {
    const c = this.find(conn);
    if (c !== null) this.remove(c);
  }

  /** After a flush: answer requests that were held while an earlier answer was waiting. True if it recorded more. */
  resume(now: i64): bool {
    let more = false;
    for (let i = 0; i < this.conns.length; i++) {
      const c = unchecked(this.conns[i]);
      if (c.held.length == 0 || c.ending || this.outbox.busy(c.conn)) continue;
      const h = c.held;
      const used = this.input(now, c, h.ptr, h.length);
      if (used > 0) {
        memory.copy(h.ptr, h.ptr + <usize>used, <usize>(h.length - used));
        h.length -= used;
        more = true;
      }
    }
    return more;
  }

  onTimer(now: i64): void {
    for (let i = this.conns.length - 1; i >= 0; i--) {
      const c = unchecked(this.conns[i]);
      if (c.ending || now < c.deadline) continue;
      if (c.req.started && !this.outbox.busy(c.conn)) this.respond(c, 408, "timeout\n", true);
      else this.end(c, false);
    }
  }

  nextDeadline(): i64 {
    let d: i64 = -1;
    for (let i = 0; i < this.conns.length; i++) {
      const c = unchecked(this.conns[i]);
      if (!c.ending && (d < 0 || c.deadline < d)) d = c.deadline;
    }
    return d;
  }

  /** Shutdown: close every accepted connection. */
  closeAll(): void {
    while (this.conns.length > 0) this.end(unchecked(this.conns[0]), false);
    this.port = 0;
  }

  /** Hand-off: forget every connection without a word (the host closes them). */
  forgetAll(): void {
    this.conns.length = 0;
    this.port = 0;
  }

  /** Parses from [p, p+n) while answers can go out; returns the bytes used. */
  private input(now: i64, c: ServerConn, p: usize, n: i32): i32 {
    let used = 0;
    while (used < n && !c.ending && !this.outbox.busy(c.conn)) {
      const req = c.req;
      const wasStarted = req.started;
      used += req.feed(p + <usize>used, n - used);
      if (!wasStarted && req.started) c.deadline = now + REQUEST_HEAD_MS;
      if (req.state == Incoming.Ready) {
        this.answer(now, c);
      } else if (req.state == Incoming.Bad) {
        this.respond(c, req.answer, "bad request\n", true);
      }
    }
    return used;
  }

  /** The router. */
  private answer(now: i64, c: ServerConn): void {
    const req = c.req;
    this.requests++;
    const head = req.methodIs("HEAD");
    const healthz = req.pathIs("/healthz") && (head || req.methodIs("GET"));
    const close = !req.persistent;
    const keep10 = !close && req.minor == 0;
    c.out.clear();
    if (healthz) writeResponse(c.out, 200, "ok", close, keep10, head);
    else writeResponse(c.out, 404, "404 page not found\n", close, keep10, head);
    this.outbox.send(c.conn, c.out);
    if (close) {
      c.ending = true;
      this.outbox.closeAfterSend(c.conn);
      this.remove(c);
      return;
    }
    c.deadline = now + IDLE_MS;
    req.reset();
  }

  private respond(c: ServerConn, status: i32, body: string, close: bool): void {
    c.out.clear();
    writeResponse(c.out, status, body, close, false, false);
    this.outbox.send(c.conn, c.out);
    c.ending = true;
    this.outbox.closeAfterSend(c.conn);
    this.remove(c);
  }

  /** Ends `c` at once (graceful: after what was recorded for it). */
  private end(c: ServerConn, graceful: bool): void {
    c.ending = true;
    if (graceful) this.outbox.closeAfterSend(c.conn);
    else this.outbox.close(c.conn);
    this.remove(c);
  }

  private find(conn: i32): ServerConn | null {
    for (let i = 0; i < this.conns.length; i++) if (unchecked(this.conns[i]).conn == conn) return unchecked(this.conns[i]);
    return null;
  }

  private remove(c: ServerConn): void {
    const i = this.conns.indexOf(c);
    if (i >= 0) this.conns.splice(i, 1);
  }
}



/** Logs the kubelet port being served. */
export function logServing(port: i32): void {
  logInfo("serving the kubelet port " + port.toString() + " (/healthz)");
}
