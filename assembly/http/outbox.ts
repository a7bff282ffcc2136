/**
 * The one way host actions leave the core. Lanes and the kubelet-port server record what they want
 * (connect, send, close) while an event is handled; the agent flushes the outbox once at the end of the
 * event, so no layer below it calls the host directly and the order of actions is the order they were
 * decided in.
 *
 * A send refers to its owner's bytes instead of copying them: a lane never rebuilds its request bytes
 * while an exchange is in flight, and a server connection never rewrites its response while part of it
 * waits here.
 *
 * Flow control (ABI v2): `send` returns how many bytes the host took. The rest stays here as a reference
 * to the owner's buffer and an offset, never a copy, so what waits is bounded by the owners' own buffers;
 * the host calls on_writable when it can take more and `writable` offers the rest again, in order. Later
 * sends on a connection with bytes waiting queue behind them.
 */
import { hostClose, hostConnect, hostSend } from "../abi/imports";
import { ByteBuffer } from "../util/bytes";

enum Action {
  Connect,
  Send,
  Close,
}

class Entry {
  constructor(public action: Action, public conn: i32, public bytes: ByteBuffer | null, public port: i32) {}
}

/** Bytes of one send the host has not taken yet (`bytes` null: a close waiting for the sends before it). */
class Waiting {
  constructor(public conn: i32, public bytes: ByteBuffer | null, public offset: i32) {}
}

export class Outbox {
  private entries: Entry[] = [];
  /** Host and server name of pending connects, back to back. */
  private names: ByteBuffer = new ByteBuffer(64, 1024);
  private nameAt: i32[] = [];
  /** Sends the host took only in part, and closes behind them, oldest first. */
  private waiting: Waiting[] = [];
  /** Times the host took less than it was offered (stat STAT_SENDS_DEFERRED). */
  deferred: i64 = 0;

  /** Open TLS connection `conn` to host:port, verifying `serverName` under `profile`. */
  connect(conn: i32, host: string, port: i32, serverName: string, profile: i32 = 0): void {
    this.nameAt.push(this.names.length);
    this.names.str(host);
    this.nameAt.push(this.names.length);
    this.names.str(serverName);
    this.nameAt.push(this.names.length);
    this.entries.push(new Entry(Action.Connect, conn, null, (port & 0xffff) | (profile << 16)));
  }

  /** Send the whole of `bytes` on `conn`. */
  send(conn: i32, bytes: ByteBuffer): void {
    this.entries.push(new Entry(Action.Send, conn, bytes, 0));
  }

  /** Close `conn` now; bytes of it still waiting are dropped. */
  close(conn: i32): void {
    this.entries.push(new Entry(Action.Close, conn, null, 0));
  }

  /** Close `conn` once every byte recorded for it so far has gone out. */
  closeAfterSend(conn: i32): void {
    this.entries.push(new Entry(Action.Close, conn, null, 1));
  }

  /** Forgets every recorded action and waiting byte without telling the host (a hand-off). */
  discard(): void {
    this.entries.length = 0;
    this.nameAt.length = 0;
    this.names.clear();
    this.waiting.length = 0;
  }

  /** True while bytes for `conn` are recorded or waiting (its owner must not rewrite them). */
  busy(conn: i32): bool {
    for (let i = 0; i < this.entries.length; i++) {
      const e = unchecked(this.entries[i]);
      if (e.conn == conn && e.action == Action.Send) return true;
    }
    return this.waitingFor(conn);
  }

  /** The host closed `conn`: forget what waits for it. */
  forget(conn: i32): void {
    let j = 0;
    const w = this.waiting;
    for (let i = 0; i < w.length; i++) {
      const x = unchecked(w[i]);
      if (x.conn != conn) w[j++] = x;
    }
    w.length = j;
  }

  /** The host can take more for `conn` (on_writable): offers the waiting bytes again, in order. */
  writable(conn: i32): void {
    const w = this.waiting;
    for (let i = 0; i < w.length; i++) {
      const x = unchecked(w[i]);
      if (x.conn != conn) continue;
      if (x.bytes === null) {
        this.forget(conn);
        hostClose(conn);
        return;
      }
      if (!this.offer(x)) break;
      x.offset = -1;
    }
    this.forgetSent();
  }

  /** Hands every recorded action to the host, in order. */
  flush(): void {
    const list = this.entries;
    const n = list.length;
    if (n == 0) return;
    let name = 0;
    const base = this.names.ptr;
    for (let i = 0; i < n; i++) {
      const e = unchecked(list[i]);
      if (e.action == Action.Connect) {
        const h = unchecked(this.nameAt[name]);
        const s = unchecked(this.nameAt[name + 1]);
        const end = unchecked(this.nameAt[name + 2]);
        name += 3;
        hostConnect(e.conn, base + <usize>h, s - h, e.port & 0xffff, base + <usize>s, end - s, e.port >> 16);
      } else if (e.action == Action.Send) {
        const b = e.bytes;
        if (b === null) continue;
        const x = new Waiting(e.conn, b, 0);
        if (this.waitingFor(e.conn) || !this.offer(x)) this.waiting.push(x);
      } else if (e.port == 1 && this.waitingFor(e.conn)) {
        this.waiting.push(new Waiting(e.conn, null, 0));
      } else {
        this.forget(e.conn);
        hostClose(e.conn);
      }
    }
    this.entries.length = 0;
    this.nameAt.length = 0;
    this.names.clear();
  }

  /** Drops the entries `writable` sent in full (offset -1). */
  private forgetSent(): void {
    let j = 0;
    const w = this.waiting;
    for (let i = 0; i < w.length; i++) {
      const x = unchecked(w[i]);
      if (x.offset >= 0) w[j++] = x;
    }
    w.length = j;
  }

  private waitingFor(conn: i32): bool {
    for (let i = 0; i < this.waiting.length; i++) if (unchecked(this.waiting[i]).conn == conn) return true;
    return false;
  }

  /** Offers the rest of `x`; true once the host took all of it (or refused the connection outright). */
  private offer(x: Waiting): bool {
    const b = x.bytes!;
    const left = b.length - x.offset;
    if (left <= 0) return true;
    const took = hostSend(x.conn, b.ptr + <usize>x.offset, left);
    // -1: the host does not know the connection; its close is on the way, nothing can wait for it.
    if (took < 0 || took >= left) return true;
    x.offset += took;
    this.deferred++;
    return false;
  }
}
