/**
 * Drives the built core (build/picokubelet.wasm) through its ABI with a virtual clock and the fake API
 * server, the way quinn's test `Pair` drives two endpoints: every import the core calls becomes a
 * scheduled event, and `run(ms)` delivers events and timers in time order until the virtual clock has
 * advanced by `ms`. A day of renewals runs in seconds. It follows the ABI's host rules: no re-entrant
 * calls, `__collect()` after every export call, no events for a connection the core closed.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { FakeApiServer, type FakeApiOptions, type ServerOutput } from "./fake-apiserver.js";
// The ABI's codes come from the one TypeScript mirror (host-sim/src/abi.ts).
import { ABI_VERSION, Close, ErrorCode, HostOp, Led, Link, Phase, Stat, type CoreExports } from "../../host-sim/src/abi.js";
export { Close, ErrorCode, HostOp, Led, Link, Phase, Stat };

/** What the harness's host_call does: return 0 and call `result` later, or return a negative error at once. */
export type HostCallHandler = (req: number, op: number, arg: number, bytes: Uint8Array, result: (status: number, data?: Uint8Array) => void) => number;

export const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
/** The module under test: the release build, or `$PICOKUBELET_WASM` (to compare builds, as tests/wasm3 does). */
/** How often the fake API server sends a watch BOOKMARK (the real watch cache: about every minute). */
const BOOKMARK_MS = 60_000;

export const RELEASE_WASM = process.env.PICOKUBELET_WASM ?? ROOT + "build/picokubelet.wasm";

export interface HarnessOptions {
  config?: Record<string, unknown>;
  /** Raw configuration text (overrides `config`). */
  configText?: string;
  wasm?: string;
  seed?: bigint;
  latencyMs?: number;
  heapFree?: number;
  heapTotal?: number;
  /** Report an Ethernet link at start (default true). */
  link?: boolean;
  ip?: number;
  /** Split every server write into random pieces (default true). */
  randomSplits?: boolean;
  /** Options of the fake API server. */
  server?: FakeApiOptions;
  /** At most this many bytes taken per send call (flow control; default: all of them). */
  sendBudget?: number;
  /** host_call; default: OP_LISTEN succeeds after the latency, every other op is ERR_UNSUPPORTED. */
  hostCall?: HostCallHandler;
  /** A snapshot to hand the core before start (snapshot_write). */
  snapshot?: Uint8Array;
  /** Servers PROFILE_PUBLIC connections reach, by `host:port` (registries); any other public address fails to connect. */
  registries?: Record<string, ConnServer>;
}

/** What a connection reaches: the fake API server, or another server speaking the same carrier contract. */
export interface ConnServer {
  open(conn: number): void;
  close(conn: number): void;
  receive(conn: number, data: Uint8Array, now: number): ServerOutput[];
}

interface Scheduled {
  at: number;
  seq: number;
  conn: number;
  fn: () => void;
}


export interface LogLine {
  at: number;
  level: number;
  text: string;
}

export class CoreHarness {
  now = 0;
  readonly server: FakeApiServer;
  readonly logs: LogLine[] = [];
  /** Every LED pattern the core asked for, with its time. */
  readonly leds: { at: number; pattern: number }[] = [];
  /** Connection ids the core opened. */
  readonly connects: number[] = [];
  /** Connection ids the core closed. */
  readonly closes: number[] = [];
  /** Called as the core opens a connection (a test's host picks the client credentials then). */
  onConnect: ((conn: number) => void) | null = null;
  latencyMs: number;
  heapFree: number;
  heapTotal: number;
  /** When set, connects fail with this close reason. */
  refuseConnects: number | null = null;
  /** When set, every server write passes through it first (the fuzzer's mutations); null drops the write. */
  mutate: ((data: Uint8Array) => Uint8Array | null) | null = null;
  /** Largest linear memory seen after a collection. */
  peakMemory = 0;
  /** Wall-clock milliseconds spent inside the module (exports and their collections). */
  moduleMs = 0;
  exports!: CoreExports;
  startResult = -1;
  private queue: Scheduled[] = [];
  private seq = 0;
  private open = new Set<number>();
  private rngState = 0x2545f491;
  private randomSplits: boolean;
  private inExport = false;
  private nextBookmark = BOOKMARK_MS;

  /** Bytes per send call the host takes (Infinity: all). */
  sendBudget: number;
  hostCall: HostCallHandler;
  /** Every host_call the core made. */
  readonly hostCalls: { req: number; op: number; arg: number; bytes: Uint8Array }[] = [];
  /** Sends the host took only in part or not at all. */
  deferredSends = 0;
  /** Accepted connections: what the core sent on each, and whether it closed it. */
  readonly served = new Map<number, { bytes: number[]; closed: boolean }>();
  private nextAccepted = 0x4000_0000;
  /** Registries by `host:port`, and the server each open connection reaches (absent: the API server). */
  registries: Record<string, ConnServer>;
  private serverOf = new Map<number, ConnServer>();
  /** Every PROFILE_PUBLIC connect: its address and server name. */
  readonly publicConnects: { conn: number; host: string; port: number; serverName: string }[] = [];

  private constructor(opts: HarnessOptions) {
    this.server = new FakeApiServer(opts.server ?? {});
    // Watch events the server produces later arrive like any other server bytes.
    this.server.onPush = (conn, outs) => {
      this.schedule(this.latencyMs, conn, () => {
        if (!this.open.has(conn)) return;
        for (const out of outs) {
          if (out.kind === "close") this.schedule(this.latencyMs, conn, () => this.deliverClosed(conn, Close.EOF));
          else this.deliverBytes(conn, out.data);
        }
      });
    };
    this.sendBudget = opts.sendBudget ?? Infinity;
    this.registries = opts.registries ?? {};
    this.hostCall = opts.hostCall ?? ((_req, op, _arg, _bytes, result) => {
      if (op !== HostOp.LISTEN) return -ErrorCode.UNSUPPORTED;
      result(0);
      return 0;
    });
    this.latencyMs = opts.latencyMs ?? 5;
    this.heapFree = opts.heapFree ?? 80 * 1024;
    this.heapTotal = opts.heapTotal ?? 100 * 1024;
    this.randomSplits = opts.randomSplits ?? true;
  }

  static async create(opts: HarnessOptions = {}): Promise<CoreHarness> {
    const h = new CoreHarness(opts);
    const bytes = readFileSync(opts.wasm ?? RELEASE_WASM);
    const { instance } = await WebAssembly.instantiate(bytes, h.imports());
    h.exports = instance.exports as unknown as CoreExports;
    if (h.exports.abi_version() !== ABI_VERSION) throw new Error("unexpected ABI version");
    if (opts.snapshot) h.writeSnapshot(opts.snapshot);
    const text = opts.configText ?? JSON.stringify({ nodeName: "pico-test", apiHost: "127.0.0.1", apiPort: 6443, token: "t0ken", mac: "aa:bb:cc:00:11:22", ...(opts.config ?? {}) });
    h.writeConfig(text);
    h.call(() => h.exports.on_heap(BigInt(h.now), h.heapFree, h.heapTotal));
    h.startResult = h.call(() => h.exports.start(BigInt(h.now), opts.seed ?? 0x1234_5678_9abc_def0n));
    if (opts.link ?? true) h.linkUp(opts.ip ?? 0x0a2a0007);
    return h;
  }

  /** A harness whose core has bootstrapped and is running, one second after its first status push. */
  static async running(opts: HarnessOptions = {}): Promise<CoreHarness> {
    const h = await CoreHarness.create(opts);
    h.runUntil(() => h.phase === Phase.RUNNING, 5_000);
    h.run(1_000);
    return h;
  }

  private writeConfig(text: string): void {
    const data = Buffer.from(text, "utf8");
    const size = this.exports.io_buffer_size();
    for (let i = 0; i < data.length; i += size) {
      const piece = data.subarray(i, i + size);
      new Uint8Array(this.exports.memory.buffer, this.exports.io_buffer(), piece.length).set(piece);
      const rc = this.exports.config_write(piece.length);
      if (rc !== 0) throw new Error(`config_write returned ${rc}`);
    }
  }

  private writeSnapshot(data: Uint8Array): void {
    const size = this.exports.io_buffer_size();
    for (let i = 0; i < data.length; i += size) {
      const piece = data.subarray(i, i + size);
      new Uint8Array(this.exports.memory.buffer, this.exports.io_buffer(), piece.length).set(piece);
      const rc = this.exports.snapshot_write(piece.length);
      if (rc !== 0) throw new Error(`snapshot_write returned ${rc}`);
    }
  }

  /** snapshot_take, then the whole snapshot through snapshot_read (throws on a negative length). */
  takeSnapshot(): Uint8Array {
    const n = this.call(() => this.exports.snapshot_take(BigInt(this.now)));
    if (n < 0) throw new Error(`snapshot_take returned ${n}`);
    const out = new Uint8Array(n);
    for (let off = 0; off < n; ) {
      const got = this.exports.snapshot_read(off);
      if (got <= 0) throw new Error(`snapshot_read(${off}) returned ${got}`);
      out.set(new Uint8Array(this.exports.memory.buffer, this.exports.io_buffer(), got), off);
      off += got;
    }
    return out;
  }

  /** A client connects to the core's kubelet port: on_accepted with a fresh host id; returns the id. */
  accept(port: number, ident = "", peer = 0x7f000001): number {
    const conn = this.nextAccepted++;
    this.served.set(conn, { bytes: [], closed: false });
    const id = Buffer.from(ident, "utf8");
    new Uint8Array(this.exports.memory.buffer, this.exports.io_buffer(), id.length).set(id);
    this.call(() => this.exports.on_accepted(BigInt(this.now), conn, port, peer | 0, id.length));
    return conn;
  }

  /** The client of accepted `conn` sends bytes (one on_data per piece of at most io_buffer_size). */
  clientSend(conn: number, data: Uint8Array | string): void {
    const bytes = typeof data === "string" ? Buffer.from(data, "latin1") : data;
    const size = this.exports.io_buffer_size();
    for (let off = 0; off < bytes.length; off += size) {
      const piece = bytes.subarray(off, off + size);
      new Uint8Array(this.exports.memory.buffer, this.exports.io_buffer(), piece.length).set(piece);
      this.call(() => this.exports.on_data(BigInt(this.now), conn, piece.length));
    }
  }

  /** The client of accepted `conn` hangs up. */
  clientClose(conn: number): void {
    const s = this.served.get(conn);
    if (s && !s.closed) {
      s.closed = true;
      this.call(() => this.exports.on_closed(BigInt(this.now), conn, Close.EOF));
    }
  }

  /** What the core answered on accepted `conn`, as text. */
  servedText(conn: number): string {
    return Buffer.from(this.served.get(conn)?.bytes ?? []).toString("latin1");
  }

  private imports(): WebAssembly.Imports {
    const mem = () => new Uint8Array(this.exports.memory.buffer);
    const text = (p: number, n: number) => Buffer.from(mem().subarray(p, p + n)).toString("utf8");
    return {
      env: {
        abort: (msg: number, file: number, line: number, col: number) => {
          const str = (p: number) => (p ? Buffer.from(mem().subarray(p, p + new Uint32Array(this.exports.memory.buffer, p - 4, 1)[0])).toString("utf16le") : "");
          throw new Error(`core aborted: ${str(msg)} at ${str(file)}:${line}:${col}`);
        },
      },
      picokubelet: {
        connect: (conn: number, hp: number, hl: number, port: number, sp: number, sl: number, profile: number) => {
          this.connects.push(conn);
          this.onConnect?.(conn);
          let target: ConnServer = this.server;
          if (profile === 1) {
            const host = text(hp, hl);
            this.publicConnects.push({ conn, host, port, serverName: text(sp, sl) });
            const reg = this.registries[`${host}:${port}`];
            if (!reg) {
              this.schedule(this.latencyMs, conn, () => this.deliverClosed(conn, Close.CONNECT_FAILED), true);
              return;
            }
            target = reg;
          } else if (profile !== 0) {
            throw new Error(`connect with profile ${profile}: not an ABI profile`);
          }
          this.serverOf.set(conn, target);
          this.schedule(this.latencyMs, conn, () => {
            if (this.refuseConnects !== null) {
              this.deliverClosed(conn, this.refuseConnects);
              return;
            }
            this.open.add(conn);
            target.open(conn);
            this.call(() => this.exports.on_connected(BigInt(this.now), conn));
          }, true);
        },
        send: (conn: number, p: number, len: number): number => {
          const served = this.served.get(conn);
          if (served) {
            if (served.closed) return -1;
            const take = Math.min(len, this.sendBudget);
            for (const b of mem().subarray(p, p + take)) served.bytes.push(b);
            if (take < len) {
              this.deferredSends++;
              this.schedule(this.latencyMs, conn, () => this.call(() => this.exports.on_writable(BigInt(this.now), conn)));
            }
            return take;
          }
          const n = Math.min(len, this.sendBudget);
          if (n < len) {
            this.deferredSends++;
            this.schedule(this.latencyMs, conn, () => {
              if (this.open.has(conn)) this.call(() => this.exports.on_writable(BigInt(this.now), conn));
            });
          }
          const data = Uint8Array.from(mem().subarray(p, p + n));
          const srv = this.serverOf.get(conn) ?? this.server;
          this.schedule(this.latencyMs, conn, () => {
            for (const out of srv.receive(conn, data, this.now)) {
              if (out.kind === "close") this.schedule(this.latencyMs, conn, () => this.deliverClosed(conn, Close.EOF));
              else this.deliverBytes(conn, out.data);
            }
          });
          return n;
        },
        close: (conn: number) => {
          const served = this.served.get(conn);
          if (served) {
            served.closed = true;
            this.queue = this.queue.filter((e) => e.conn !== conn);
            return;
          }
          this.closes.push(conn);
          this.open.delete(conn);
          (this.serverOf.get(conn) ?? this.server).close(conn);
          this.serverOf.delete(conn);
          this.queue = this.queue.filter((e) => e.conn !== conn);
        },
        led: (p: number) => {
          this.leds.push({ at: this.now, pattern: p });
        },
        host_call: (req: number, op: number, arg: number, p: number, n: number): number => {
          const bytes = Uint8Array.from(mem().subarray(p, p + n));
          this.hostCalls.push({ req, op, arg, bytes });
          return this.hostCall(req, op, arg, bytes, (status, data) => {
            this.schedule(this.latencyMs, 0, () => {
              const d = data ?? new Uint8Array(0);
              new Uint8Array(this.exports.memory.buffer, this.exports.io_buffer(), d.length).set(d);
              this.call(() => this.exports.on_host_result(BigInt(this.now), req, status, d.length));
            });
          });
        },
        log: (level: number, p: number, n: number) => {
          const line = { at: this.now, level, text: text(p, n) };
          this.logs.push(line);
          if (process.env.PK_TEST_LOG) console.log(`[${(this.now / 1000).toFixed(3)}s L${level}] ${line.text}`);
        },
      },
    };
  }

  /** Calls an export as a host must: never re-entrantly, then collects garbage. */
  call<T>(fn: () => T): T {
    if (this.inExport) throw new Error("re-entrant call into the core");
    this.inExport = true;
    const t0 = performance.now();
    try {
      const r = fn();
      this.exports.__collect();
      this.moduleMs += performance.now() - t0;
      const size = this.exports.memory.buffer.byteLength;
      if (size > this.peakMemory) this.peakMemory = size;
      return r;
    } finally {
      this.inExport = false;
    }
  }

  private rand(): number {
    this.rngState ^= this.rngState << 13;
    this.rngState ^= this.rngState >>> 17;
    this.rngState ^= this.rngState << 5;
    return (this.rngState >>> 0) / 0x1_0000_0000;
  }

  private schedule(delay: number, conn: number, fn: () => void, connect = false): void {
    void connect;
    this.queue.push({ at: this.now + delay, seq: this.seq++, conn, fn });
    this.queue.sort((a, b) => a.at - b.at || a.seq - b.seq);
  }

  /** Delivers server bytes, split into pieces of at most io_buffer_size (random sizes by default). */
  private deliverBytes(conn: number, original: Uint8Array): void {
    const data = this.mutate ? this.mutate(original) : original;
    if (data === null) return;
    const size = this.exports.io_buffer_size();
    let off = 0;
    while (off < data.length) {
      const max = Math.min(size, data.length - off);
      const n = this.randomSplits ? Math.max(1, Math.floor(this.rand() * max) + 1) : max;
      const piece = data.subarray(off, off + n);
      off += n;
      this.schedule(this.latencyMs, conn, () => {
        if (!this.open.has(conn)) return;
        new Uint8Array(this.exports.memory.buffer, this.exports.io_buffer(), piece.length).set(piece);
        this.call(() => this.exports.on_data(BigInt(this.now), conn, piece.length));
      });
    }
  }

  private deliverClosed(conn: number, reason: number): void {
    const wasOpen = this.open.delete(conn);
    (this.serverOf.get(conn) ?? this.server).close(conn);
    if (!wasOpen && reason === Close.EOF) return;
    this.call(() => this.exports.on_closed(BigInt(this.now), conn, reason));
  }

  /** Advances virtual time by `ms`, delivering every event and timer in order. */
  run(ms: number): void {
    const until = this.now + ms;
    // The watch cache's bookmarks: one a minute on every open watch, in virtual time.
    while (this.nextBookmark <= until) {
      const at = this.nextBookmark;
      this.queue.push({ at, seq: this.seq++, conn: 0, fn: () => this.server.bookmark() });
      this.nextBookmark += BOOKMARK_MS;
    }
    this.queue.sort((a, b) => a.at - b.at || a.seq - b.seq);
    let spins = 0;
    let lastT = -1;
    for (;;) {
      const qt = this.queue.length ? this.queue[0].at : Infinity;
      const dl = Number(this.exports.next_deadline());
      const dt = dl < 0 ? Infinity : Math.max(dl, this.now);
      const t = Math.min(qt, dt);
      if (t > until) {
        this.now = until;
        return;
      }
      // Only on_timer calls at one instant count as spinning: delivering queued events (a large response in
      // many pieces arrives at one instant) is progress.
      if (t === lastT) {
        if (qt > dt && ++spins > 10_000) throw new Error(`the core keeps asking for a timer at ${t} without progress; last lines: ${this.logs.slice(-4).map((l) => l.at + " " + l.text).join(" | ")}`);
      } else {
        spins = 0;
        lastT = t;
      }
      this.now = t;
      if (qt <= dt) {
        const e = this.queue.shift()!;
        e.fn();
      } else {
        this.call(() => this.exports.on_heap(BigInt(this.now), this.heapFree, this.heapTotal));
        this.call(() => this.exports.on_timer(BigInt(this.now)));
      }
    }
  }

  /** Runs until `pred` holds (checked after each step), or throws after `maxMs`. */
  runUntil(pred: () => boolean, maxMs: number, stepMs = 100): void {
    const stop = this.now + maxMs;
    while (!pred()) {
      if (this.now >= stop) throw new Error(`condition not reached within ${maxMs} ms (phase ${this.stat(Stat.PHASE)})`);
      this.run(stepMs);
    }
  }

  linkUp(ip = 0x0a2a0007, kind: number = Link.ETHERNET, bssid = 0n, rssi = 0): void {
    this.call(() => this.exports.on_link(BigInt(this.now), kind, ip | 0, bssid, rssi));
  }

  linkDown(): void {
    for (const c of [...this.open]) {
      this.open.delete(c);
      (this.serverOf.get(c) ?? this.server).close(c);
      this.queue = this.queue.filter((e) => e.conn !== c);
      this.call(() => this.exports.on_closed(BigInt(this.now), c, Close.LINK_DOWN));
    }
    this.call(() => this.exports.on_link(BigInt(this.now), Link.DOWN, 0, 0n, 0));
  }

  /** Resets every open connection (as a flaky network would). */
  resetConnections(): void {
    for (const c of [...this.open]) this.deliverClosed(c, Close.IO_ERROR);
  }

  shutdown(mode: number): void {
    this.call(() => this.exports.shutdown(BigInt(this.now), mode));
  }

  stat(id: number): number {
    return Number(this.exports.stat(id));
  }

  get phase(): number {
    return this.stat(Stat.PHASE);
  }

  get led(): number {
    return this.stat(Stat.LED);
  }

  get memoryBytes(): number {
    return this.exports.memory.buffer.byteLength;
  }

  /** Log lines containing `needle`. */
  logged(needle: string): LogLine[] {
    return this.logs.filter((l) => l.text.includes(needle));
  }
}
