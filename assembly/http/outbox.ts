/**
 * The one way host actions leave the core. Lanes record what they want (connect, send, close) while an
 * event is handled; the agent flushes the outbox once at the end of the event, so no layer below it calls
 * the host directly and the order of actions is the order they were decided in.
 *
 * A send refers to its lane's request bytes instead of copying them: a lane never rebuilds its request
 * bytes while an exchange is in flight, and the outbox is flushed before the event returns.
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

export class Outbox {
  private entries: Entry[] = [];
  /** Host and server name of pending connects, back to back. */
  private names: ByteBuffer = new ByteBuffer(64, 1024);
  private nameAt: i32[] = [];

  /** Open TLS connection `conn` to host:port, verifying `serverName`. */
  connect(conn: i32, host: string, port: i32, serverName: string): void {
    this.nameAt.push(this.names.length);
    this.names.str(host);
    this.nameAt.push(this.names.length);
    this.names.str(serverName);
    this.nameAt.push(this.names.length);
    this.entries.push(new Entry(Action.Connect, conn, null, port));
  }

  /** Send the whole of `bytes` on `conn`. */
  send(conn: i32, bytes: ByteBuffer): void {
    this.entries.push(new Entry(Action.Send, conn, bytes, 0));
  }

  /** Close `conn`. A send recorded earlier for it still goes out first, then the close. */
  close(conn: i32): void {
    this.entries.push(new Entry(Action.Close, conn, null, 0));
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
        hostConnect(e.conn, base + <usize>h, s - h, e.port, base + <usize>s, end - s);
      } else if (e.action == Action.Send) {
        const b = e.bytes;
        if (b !== null) hostSend(e.conn, b.ptr, b.length);
      } else {
        hostClose(e.conn);
      }
    }
    this.entries.length = 0;
    this.nameAt.length = 0;
    this.names.clear();
  }
}
