/**
 * The kubelet port, minimally: connections the host accepted (ids from CONN_ACCEPTED_MIN up) get one
 * answer per request, `GET /healthz` -> 200 `ok`, anything else -> 404, with HTTP/1.1 persistence
 * (RFC 9112 §9.3). A malformed request gets its 4xx/5xx and the connection ends; a client that starts a
 * request and does not finish its head within REQUEST_HEAD_MS gets 408; an idle connection is closed after
 * IDLE_MS. At most `maxServerConnections` are served at once; more are closed as they arrive.
 *
 * Pipelined requests are answered in order: an answer to a request that arrives while the previous one
 * still waits in the outbox (the client is not reading) is appended to the same buffer, which the outbox
 * sends up to its end. A client that lets more than OUT_LIMIT bytes of answers pile up is closed.
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
/** An idle kept-alive connection (or one whose answers the client does not read) is closed after this. */
export const IDLE_MS: i64 = 30_000;
/** Answers waiting for one client. */
const OUT_LIMIT: i32 = 4096;

class ServerConn {
  readonly req: IncomingRequest = new IncomingRequest();
  readonly out: ByteBuffer = new ByteBuffer(128, OUT_LIMIT);
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
  onAccepted(now: i64, conn: i32, port: i32, identified: bool): void {
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

  /** Request bytes [p, p+n) on `conn`. */
  onData(now: i64, conn: i32, p: usize, n: i32): void {
    const c = this.find(conn);
    let used = 0;
    while (c !== null && used < n && !c.ending) {
      const req = c.req;
      const wasStarted = req.started;
      used += req.feed(p + <usize>used, n - used);
      if (!wasStarted && req.started) c.deadline = now + REQUEST_HEAD_MS;
      if (req.state == Incoming.Ready) {
        this.requests++;
        const head = req.method == 2;
        const close = !req.persistent;
        const ok = req.healthz && req.method != 0;
        this.reply(c, ok ? 200 : 404, ok ? "ok" : "404 page not found\n", close, !close && req.minor == 0, head);
        c.deadline = now + IDLE_MS;
        req.reset();
      } else if (req.state == Incoming.Bad) {
        this.reply(c, req.answer, "bad request\n", true, false, false);
      }
    }
  }

  onClosed(conn: i32): void {
    const c = this.find(conn);
    if (c !== null) this.remove(c);
  }

  onTimer(now: i64): void {
    for (let i = this.conns.length - 1; i >= 0; i--) {
      const c = unchecked(this.conns[i]);
      if (now < c.deadline) continue;
      if (c.req.started && !this.outbox.busy(c.conn)) this.reply(c, 408, "timeout\n", true, false, false);
      else this.end(c);
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
  }

  /** Records an answer: a fresh buffer when the last one went out, else appended behind it. */
  private reply(c: ServerConn, status: i32, body: string, close: bool, keep10: bool, head: bool): void {
    const fresh = !this.outbox.busy(c.conn);
    if (fresh) c.out.clear();
    writeResponse(c.out, status, body, close, keep10, head);
    if (c.out.overflow) {
      this.end(c);
      return;
    }
    if (fresh) this.outbox.send(c.conn, c.out);
    if (close) {
      c.ending = true;
      this.outbox.closeAfterSend(c.conn);
      this.remove(c);
    }
  }

  /** Ends `c` at once. */
  private end(c: ServerConn): void {
    c.ending = true;
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

/** Logs the kubelet port being served. */
export function logServing(port: i32): void {
  logInfo("serving the kubelet port " + port.toString() + " (/healthz)");
}
