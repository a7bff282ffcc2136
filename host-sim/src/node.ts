// host-sim/src/node.ts
// One simulated node: a core instance plus the body it runs in (heap, link, LED, TLS transport, faults).
//
// Theory of operation. Everything that happens to the node (a socket event, a timer, a control command)
// becomes an event in one FIFO. The FIFO is drained outside any export; each event is one export call
// followed by `__collect()` (ABI.md "Garbage collection policy"). Imports the core calls during an
// export act at once (connect, send, close, LED, log) and anything they learn is queued, never delivered
// from inside the import. After the FIFO is empty the node asks `next_deadline()` and arms one timer; when
// it fires, `on_heap` then `on_timer` are queued. No Kubernetes or HTTP decision is made here.
//
// Brain swaps (docs/brain.md) replace the instance between two events: a successful OP_BRAIN_COMMIT
// queues a `swap` right behind its on_host_result; the swap takes the old instance's snapshot, drops its
// connections and boots the new module with the same configuration and that snapshot. Until the new
// brain is proven (brain/swap.ts), a trap, a refused snapshot or renewals that do not grow queue a
// rollback instead of a panic: the previous module is booted again with the snapshot it handed over.
import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  CONN_ACCEPTED_MIN, Close, CloseReason, ErrorCode, HostFunctions, HostOp, KeySlot, Led, LogLevel, Phase, STAT_KEYS, Shutdown, Stat, nameOf,
} from './abi.js';
import { KeySlots, SpecError, selfSigned } from './hostcrypto/keys.js';
import { DEFAULT_HEAP, HeapSpec, describeHeap, heapFree, parseHeapSpec } from './body/heap.js';
import { DEFAULT_BSSID, LinkSpec, describeLink, linkArgs, parseLinkSpec } from './body/link.js';
import { coreConfigBytes } from './coreconfig.js';
import type { Credentials } from './credentials.js';
import type { LedState } from './led/render.js';
import { LEVELS, Level, LogRecord, Logger } from './logger.js';
import { CoreInstance, compileCore, resolveWasmPath } from './runtime.js';
import { BrainCalls } from './brain/calls.js';
import { BRAIN_SLOT_BYTES, BrainSlot } from './brain/slot.js';
import { loadProven, saveProven } from './brain/store.js';
import { BrainKeeper, PROVE_RENEWALS, RollbackReason, WINDOW_PERIODS } from './brain/swap.js';
import { VerifiedBrain, checkModule } from './brain/verify.js';
import { SystemTimers, Timer, TimerService } from './timers.js';
import { tlsTransport } from './transport/tls.js';
import type { Transport, TransportFactory } from './transport/transport.js';

/** Options of one node. Only `name` and `credentials` are required. */
export interface NodeOptions {
  /** Node name (also Lease name and holder identity). */
  name: string;
  /** Where the API server is and how to authenticate (see credentials.ts). */
  credentials: Credentials;
  /** The node's IPv4 address (status.addresses); default 127.0.0.1. */
  nodeIp?: string;
  /** Extra node labels. */
  labels?: Record<string, string>;
  /** Link spec: `ethernet` (default), `wifi:bssid=...,rssi=-60`, `down`. */
  link?: string;
  /** Heap spec: `steady` (default), `leak:rate=256`, `sawtooth:period=60`. */
  heap?: string;
  /** Further configuration keys for the core (for example `{ renewIntervalMs: 2000 }`). */
  coreConfig?: Record<string, unknown>;
  /** The core's log level (also filters host lines through `logger`). */
  logLevel?: Level;
  logger?: Logger;
  /** Clock and timers; default one process-wide SystemTimers (shared by a rack). */
  timers?: TimerService;
  /** Network; default node:tls with the credentials' TLS settings. */
  transport?: TransportFactory;
  /** The compiled core (shared by a rack), or a path to load it from. */
  module?: WebAssembly.Module;
  wasmPath?: string;
  /** 64 bits of entropy for the core; default crypto random. */
  seed?: bigint;
  /** Every export and import call, for tests of the glue. */
  trace?: (e: TraceEvent) => void;
  /** How many recent log lines `logs` keeps (default 50). */
  keepLogs?: number;
  /**
   * The kubelet port the node listens on (TLS, on its own address), advertised once listening; 0 (the
   * default of this API; the CLI's is 10250) serves nothing.
   */
  kubeletPort?: number;
  /**
   * CA bundle (PEM) the kubelet port verifies client certificates against, as the kubelet's
   * --client-ca-file; default the CA the credentials trust for the API server (one cluster CA). A client
   * certificate it does not verify is no identity (the core then sees an anonymous connection).
   */
  clientCa?: string | Buffer;
  /**
   * Where the host keeps its key slots' keys and certificates across restarts (the kubelet's --cert-dir:
   * kubelet-server-current.pem, mode 0600); default: memory only.
   */
  certDir?: string;
  /** Brain swaps: the keys brains are verified with, and where they are kept (docs/brain.md). */
  brain?: BrainOptions;
  /** A CA (PEM) PROFILE_PUBLIC connections (registries) trust besides the system roots (--registry-ca). */
  registryCa?: string | Buffer;
}

/** How a node takes brains (OP_BRAIN_WRITE/COMMIT/STATUS). */
export interface BrainOptions {
  /** The Ed25519 keys a brain must be signed with (--brain-public-key); none: every brain is refused (BrainUntrusted). */
  publicKeys?: import('node:crypto').KeyObject[];
  /** --state-dir: DIR/brain-next.wasm while pulling, DIR/brain-current.wasm and .json once a brain is proven. */
  stateDir?: string;
  /** Start from the proven brain in stateDir when there is one (the CLI: when no --wasm was given). */
  preferProven?: boolean;
  /** The largest image a pull may write (default 1 MiB). */
  slotBytes?: number;
}

/** What OP_BRAIN_STATUS would say, plus whether a swap is still proving itself. */
export interface BrainState {
  running: string | null;
  proving: boolean;
  failed: string | null;
  reason: string | null;
  message: string | null;
}

/** One call across the boundary. */
export type TraceEvent =
  | { dir: 'export'; name: string; args: ReadonlyArray<number | bigint>; depth: number }
  | { dir: 'return'; name: string; depth: number }
  | { dir: 'import'; name: string; args: ReadonlyArray<number | bigint | string>; depth: number };

/** Stats as the control channel and the programmatic API report them. */
export interface NodeStats {
  name: string;
  /** The core's stat() values, by camelCase name (phase, led, renewals, renewFailures, ...). */
  [stat: string]: unknown;
  phaseName: string;
  ledName: string;
  lastErrorName: string;
  host: {
    link: string;
    heapFree: number;
    heapTotal: number;
    heapScenario: string;
    openConnections: number;
    uptimeMs: number;
    events: number;
    panic: string | null;
  };
}

/** The core refused to start (its `error` lines are in `lines`). */
export class StartError extends Error {
  constructor(readonly lines: string[], code: number) {
    super(`the core refused to start (${nameOf(ErrorCode, code)}): ${lines.join('; ') || 'see its log'}`);
    this.name = 'StartError';
  }
}

type Ev =
  | { k: 'link'; kind: number; ipv4: number; bssid: bigint; rssi: number }
  | { k: 'heap'; free: number; total: number }
  /** The CPU time used so far, reported with each heap reading. */
  | { k: 'cpu' }
  | { k: 'connected'; conn: number }
  | { k: 'data'; conn: number; bytes: Uint8Array }
  | { k: 'closed'; conn: number; reason: CloseReason }
  | { k: 'timer' }
  | { k: 'shutdown'; mode: number }
  | { k: 'writable'; conn: number }
  | { k: 'accepted'; conn: number; port: number; peer: number; ident: Uint8Array }
  /** `gen`: the instance that asked (a result for a replaced one is dropped); `swap`: swap to it right after. */
  | { k: 'hostResult'; req: number; status: number; data: Uint8Array; gen: number; swap?: VerifiedBrain }
  /** A verified brain to swap to (behind the commit's result, or asked for through brainCall). */
  | { k: 'swap'; brain: VerifiedBrain };

let sharedTimers: SystemTimers | null = null;

/** The process-wide coalescing timer service. */
export function systemTimers(): SystemTimers {
  sharedTimers ??= new SystemTimers();
  return sharedTimers;
}

const CORE_LEVELS: Record<number, Level> = { [LogLevel.ERROR]: 'error', [LogLevel.WARN]: 'warn', [LogLevel.INFO]: 'info', [LogLevel.DEBUG]: 'debug' };

/** Starts a node and resolves once its core has accepted the configuration. */
export async function startNode(options: NodeOptions): Promise<SimNode> {
  return new SimNode(options);
}

export class SimNode extends EventEmitter {
  readonly name: string;
  readonly logger: Logger;
  readonly timers: TimerService;
  /** The last log lines (core and host), newest last. */
  readonly logs: string[] = [];

  private core: CoreInstance;
  /** Which instance `core` is (bumped by every boot): host results of an earlier one are dropped. */
  private gen = 0;
  /** The configuration document: every instance (after a swap or rollback) gets the same. */
  private readonly configDoc: Uint8Array;
  /** The instance on probation trapped: no export is called on it again; a rollback is pending. */
  private coreDead = false;
  private pendingRollback: { reason: RollbackReason; message: string } | null = null;
  /** Between config_write and the end of start: the core's error lines are why it refused. */
  private booting = false;
  private readonly brainCalls: BrainCalls;
  private readonly brains: BrainKeeper;
  private readonly brainDir?: string;
  /** The core's renew period: a new brain must renew within WINDOW_PERIODS of them. */
  private readonly renewPeriodMs: number;
  private proveTimer: Timer | null = null;
  private readonly transport: Transport;
  private readonly trace?: (e: TraceEvent) => void;
  private readonly bootAt: number;
  private readonly queue: Ev[] = [];
  private readonly live = new Set<number>();
  private readonly scheduled = new Set<Timer>();
  private draining = false;
  private depth = 0;
  /** Time spent inside the core's exports, in µs: its CPU time, reported with on_cpu. */
  private busyUs = 0;
  private cpuReportedAt = -Infinity;
  private lastNow = 0n;
  private timer: Timer | null = null;
  private timerAt = -1;
  private heapSpec: HeapSpec;
  private heapSince: number;
  private linkSpec: LinkSpec;
  private linkUp: boolean;
  private linkTimer: Timer | null = null;
  private led: LedState;
  private phase: number = Phase.CONFIGURING;
  private panicReason: string | null = null;
  private disposed = false;
  private eventCount = 0;
  private waiters = new Set<() => void>();
  private startErrors: string[] = [];
  /** Lines logged before `start` returned: shown only if it succeeds (a refusal is one StartError). */
  private held: LogRecord[] | null = [];
  private readonly keepLogs: number;
  /** Key slots of the host crypto calls; the serving slot's certificate is what the listener presents. */
  readonly keys: KeySlots;
  private readonly clientCa?: string | Buffer;
  /** Where clientCa came from, for the listen line. */
  private readonly clientCaNote: string;

  constructor(opts: NodeOptions) {
    super();
    this.name = opts.name;
    this.logger = opts.logger ?? new Logger({ level: opts.logLevel ?? 'warn' });
    this.logger.addSecret(opts.credentials.token);
    this.logger.addSecret(opts.credentials.bootstrapToken);
    this.timers = opts.timers ?? systemTimers();
    this.trace = opts.trace;
    this.keepLogs = opts.keepLogs ?? 50;
    this.bootAt = this.timers.now();
    this.heapSpec = parseHeapSpec(opts.heap ?? 'steady', DEFAULT_HEAP);
    this.heapSince = this.bootAt;
    const baseLink: LinkSpec = { kind: 'ethernet', ip: opts.nodeIp ?? '127.0.0.1', bssid: DEFAULT_BSSID, rssi: -55 };
    const link = parseLinkSpec(opts.link ?? 'ethernet', baseLink);
    this.linkSpec = link.spec;
    this.linkUp = link.up;
    this.led = { steady: Led.SELF_TEST, since: this.bootAt, blipAt: -Infinity };
    this.keys = new KeySlots(opts.certDir, (line) => this.hostLog('warn', line));

    this.brainDir = opts.brain?.stateDir;
    this.renewPeriodMs = Number(opts.coreConfig?.renewIntervalMs ?? 10_000);
    let module: WebAssembly.Module | undefined;
    let digest: string | null = null;
    let provenFile: string | null = null;
    if (opts.brain?.preferProven && this.brainDir !== undefined) {
      const proven = loadProven(this.brainDir, (line) => this.hostLog('warn', `brain: ${line}`));
      if (proven) {
        try {
          module = checkModule(proven.image, proven.record.abi);
          digest = proven.record.digest;
          provenFile = proven.file;
          this.hostLog('info', `brain: starting from the proven brain ${proven.file} (${digest}, version ${proven.record.version}, proven ${proven.record.provenAt}) instead of the core given`);
        } catch (err) {
          this.hostLog('warn', `brain: the proven brain ${proven.file} cannot be run (${(err as Error).message}); starting from the core given`);
        }
      }
    }
    module ??= opts.module ?? compileCore(resolveWasmPath(opts.wasmPath));
    this.brains = new BrainKeeper({ module, digest });
    this.brainCalls = new BrainCalls(
      new BrainSlot(opts.brain?.slotBytes ?? BRAIN_SLOT_BYTES, this.brainDir), opts.brain?.publicKeys ?? [], this.brains,
      (level, line) => this.hostLog(level, line),
    );
    this.core = new CoreInstance(module, this.hostFunctions());
    const factory = opts.transport ?? tlsTransport(opts.credentials.tls, this.timers, { registryCa: opts.registryCa });
    this.transport = factory(
      {
        connected: (conn) => this.push({ k: 'connected', conn }),
        data: (conn, bytes) => this.pushData(conn, bytes),
        closed: (conn, reason) => this.push({ k: 'closed', conn, reason }),
        writable: (conn) => this.push({ k: 'writable', conn }),
        accepted: (conn, port, peer, ident) => {
          this.live.add(conn);
          this.push({ k: 'accepted', conn, port, peer, ident: Buffer.from(ident, 'utf8') });
        },
      },
      (level, line) => this.hostLog(level, line),
    );
    this.presentStoredClientCertificate(opts.certDir);
    if (opts.credentials.tls.insecure) {
      this.hostLog('warn', `INSECURE: the kubeconfig says insecure-skip-tls-verify; the API server's certificate is NOT verified`);
    }

    // ABI.md "Start-up sequence": configuration, a first heap reading, start, then the link.
    this.setLed(Led.BOOTING);
    this.clientCa = opts.clientCa ?? opts.credentials.tls.ca;
    this.clientCaNote = opts.clientCa !== undefined ? 'client certificates verified against the client CA given (--client-ca-file)'
      : this.clientCa !== undefined ? 'client certificates verified against the kubeconfig\'s CA'
      : 'no client CA (the kubeconfig names none): client certificates are no identity, bearer tokens only';
    const kubeletPort = opts.kubeletPort ?? 0;
    this.configDoc = coreConfigBytes({
      name: opts.name, credentials: opts.credentials, labels: opts.labels, logLevel: opts.logLevel,
      extra: kubeletPort > 0 ? { kubeletPort, ...opts.coreConfig } : opts.coreConfig,
    });
    const rc = this.boot(null, null, opts.seed);
    if (rc !== ErrorCode.OK) {
      this.held = null;
      const trapped = this.panicReason;
      this.dispose();
      const lines = trapped !== null ? [`core trapped: ${trapped}`] : this.startErrors;
      if (provenFile !== null) lines.push(`this was the proven brain ${provenFile}: give --wasm FILE to start from another core`);
      throw new StartError(lines, rc);
    }
    const held = this.held ?? [];
    this.held = null;
    for (const rec of held) this.logger.log(rec);
    this.hostLog('info', `started: API server ${opts.credentials.apiHost}:${opts.credentials.apiPort} (${opts.credentials.auth}), link ${describeLink(this.linkSpec, this.linkUp)}, heap ${describeHeap(this.heapSpec)}`);
    if (this.linkUp) this.pushLink();
    else this.drain();
  }

  /**
   * ABI.md "Start-up sequence" on `module` (null: the instance made already): the configuration, a heap
   * reading, the snapshot to resume from (a swap), start. Returns start's result (-1 when it trapped).
   */
  private boot(module: WebAssembly.Module | null, snapshot: Uint8Array | null, seedIn?: bigint): number {
    if (module !== null) this.core = new CoreInstance(module, this.hostFunctions());
    this.gen++;
    this.coreDead = false;
    this.startErrors = [];
    this.booting = true;
    try {
      const io = this.core.ioSize;
      const doc = this.configDoc;
      for (let off = 0; off < doc.length; off += io) {
        const chunk = doc.subarray(off, off + io);
        this.core.writeIo(chunk);
        const rc = this.call('config_write', [chunk.length], () => this.core.exports.config_write(chunk.length));
        if (rc !== ErrorCode.OK) {
          this.startErrors.push(`configuration document rejected (${doc.length} bytes)`);
          return rc;
        }
      }
      const heap = this.heapNow();
      this.call('on_heap', [this.now(), heap.free, heap.total], () => this.core.exports.on_heap(this.lastNow, heap.free, heap.total));
      this.collect();
      for (let off = 0; snapshot !== null && off < snapshot.length; off += io) {
        const chunk = snapshot.subarray(off, off + io);
        this.core.writeIo(chunk);
        const rc = this.call('snapshot_write', [chunk.length], () => this.core.exports.snapshot_write(chunk.length));
        if (rc !== ErrorCode.OK) {
          this.startErrors.push(`snapshot refused by snapshot_write (${snapshot.length} bytes)`);
          return rc;
        }
      }
      const seed = seedIn ?? BigInt.asIntN(64, crypto.getRandomValues(new BigUint64Array(1))[0]);
      const rc = this.call('start', [this.now(), seed], () => this.core.exports.start(this.lastNow, seed));
      this.collect();
      return rc;
    } finally {
      this.booting = false;
    }
  }

  /** Swaps to a verified brain (docs/brain.md "Swap"): snapshot, drop connections, boot it, start proving it. */
  private swapTo(brain: VerifiedBrain): void {
    const c = brain.commit;
    const from = this.brains.running.digest ?? 'the core host-sim was started with';
    let snapshot: Uint8Array;
    try {
      snapshot = this.takeSnapshot();
    } catch (err) {
      if (this.disposed || this.coreDead) return;
      const message = `the running brain did not hand over its state (${(err as Error).message}); it keeps running`;
      this.brains.refused(c.digest, 'BrainNotSwapped', message);
      this.hostLog('warn', `brain: not swapping to ${c.digest}: ${message}`);
      return;
    }
    this.dropConnections();
    this.brains.begin(brain, snapshot);
    this.hostLog('info', `brain: swapping from ${from} to ${c.digest} (version ${c.version}) with its ${snapshot.length}-byte snapshot`);
    if (!this.resume(brain.module, snapshot)) return;
    const deadline = this.timers.now() + WINDOW_PERIODS * this.renewPeriodMs;
    this.brains.started(this.stat(Stat.RENEWALS), deadline);
    const gen = this.gen;
    this.proveTimer?.cancel();
    this.proveTimer = this.schedule(deadline, () => {
      this.proveTimer = null;
      if (gen !== this.gen || this.coreDead || !this.brains.stalled(this.stat(Stat.RENEWALS))) return;
      this.pendingRollback ??= { reason: 'BrainNotRenewing', message: `no Lease renewal within ${(WINDOW_PERIODS * this.renewPeriodMs) / 1000} s of the swap` };
      this.drain();
    });
  }

  /**
   * Boots `module` with `snapshot` and reports the link to it. False when it failed; while a brain is on
   * probation the failure is a pending rollback, otherwise the node has panicked.
   */
  private resume(module: WebAssembly.Module, snapshot: Uint8Array): boolean {
    let rc: number;
    try {
      rc = this.boot(module, snapshot);
    } catch (err) {
      this.failNew('BrainCrashed', `cannot instantiate it: ${(err as Error).message}`, err as Error);
      return false;
    }
    if (this.disposed || this.coreDead) return false;
    if (rc !== ErrorCode.OK) {
      const why = this.startErrors.length > 0 ? `: ${this.startErrors.join('; ')}` : '';
      this.failNew('BrainRefusedSnapshot', `start returned ${nameOf(ErrorCode, rc)}${why}`, new Error(`start returned ${nameOf(ErrorCode, rc)}${why}`));
      return false;
    }
    // The core sends nothing before it hears of a link: the same one, at once.
    if (this.linkUp) this.queue.unshift({ k: 'link', ...linkArgs(this.linkSpec, true) });
    return true;
  }

  /** The booted instance failed: a rollback while on probation, a panic otherwise. */
  private failNew(reason: RollbackReason, message: string, err: Error): void {
    if (this.brains.isProving) {
      this.coreDead = true;
      this.pendingRollback ??= { reason, message };
    } else {
      this.panic(err);
    }
  }

  /** Restores the previous brain with the snapshot it handed over (docs/brain.md "Roll back"). */
  private rollBack(): void {
    const { reason, message } = this.pendingRollback!;
    this.pendingRollback = null;
    this.proveTimer?.cancel();
    this.proveTimer = null;
    const failed = this.brains.running.digest;
    this.dropConnections();
    const back = this.brains.rollback(reason, message);
    this.hostLog('error', `brain: ${failed} rolled back: ${reason}: ${message}`);
    if (back === null) return this.panic(new Error(`brain ${failed} failed (${reason}: ${message}) and there is no previous brain to go back to`));
    if (this.resume(back.brain.module, back.snapshot)) {
      this.hostLog('info', `brain: running ${back.brain.digest ?? 'the core host-sim was started with'} again, from the snapshot it handed over`);
    }
  }

  /** The brain on probation renewed PROVE_RENEWALS times: it stays, and is kept under --state-dir. */
  private proven(): void {
    this.proveTimer?.cancel();
    this.proveTimer = null;
    const b = this.brains.running;
    this.hostLog('info', `brain: ${b.digest} proven (${PROVE_RENEWALS} Lease renewals since the swap)`);
    if (this.brainDir === undefined || !b.commit || !b.image) return;
    try {
      saveProven(this.brainDir, b.commit, b.image);
      this.hostLog('info', `brain: kept as ${this.brainDir}/brain-current.wasm; the next start runs it`);
    } catch (err) {
      this.hostLog('warn', `brain: cannot keep the proven brain in ${this.brainDir}: ${(err as Error).message}; the next start runs the core given`);
    }
  }

  /** snapshot_take on the running instance, then snapshot_read until the end. Throws when it cannot. */
  private takeSnapshot(): Uint8Array {
    const ex = this.core.exports;
    const n = this.call('snapshot_take', [this.now()], () => ex.snapshot_take(this.lastNow));
    if (this.disposed || this.coreDead) throw new Error('it trapped in snapshot_take');
    if (n < 0) throw new Error(`snapshot_take returned ${nameOf(ErrorCode, -n)}`);
    const out = new Uint8Array(n);
    for (let off = 0; off < n; ) {
      const got = this.call('snapshot_read', [off], () => ex.snapshot_read(off));
      if (this.disposed || this.coreDead) throw new Error('it trapped in snapshot_read');
      if (got <= 0 || off + got > n) throw new Error(`snapshot_read(${off}) returned ${got} of a ${n}-byte snapshot`);
      out.set(this.core.readIo(got), off);
      off += got;
    }
    return out;
  }

  /** The old instance's connections are closed (accepted ones too; the listener stays) and forgotten. */
  private dropConnections(): void {
    this.transport.dropAll();
    this.live.clear();
    const keep = this.queue.filter((ev) => !('conn' in ev) && ev.k !== 'hostResult');
    this.queue.length = 0;
    this.queue.push(...keep);
  }

  // ---------------------------------------------------------------- brains

  /** The brain host calls as the core makes them (ops 6..8), without a core: tools and tests until the
   * core pulls. `rc` is host_call's return; `status`/`text` what on_host_result would carry. A commit
   * that passes swaps right after, exactly as behind the core's own commit. */
  brainCall(op: number, arg: number, bytes: Uint8Array): { rc: number; status?: number; text?: string } {
    const out = this.brainCalls.call(op, arg, bytes);
    if (out.rc !== 0 || !out.result) return { rc: out.rc };
    if (out.result.swap) this.push({ k: 'swap', brain: out.result.swap });
    return { rc: 0, status: out.result.status, text: out.result.data };
  }

  /** The brain running, whether it is still proving itself, and the last rollback. */
  brainState(): BrainState {
    const f = this.brains.lastFailure;
    return { running: this.brains.running.digest, proving: this.brains.isProving, failed: f?.digest ?? null, reason: f?.reason ?? null, message: f?.message ?? null };
  }

  // ---------------------------------------------------------------- controls

  /** Sets free (and optionally total) heap bytes; the scenario becomes steady. */
  setHeap(free: number, total?: number): void {
    const t = total ?? this.heapSpec.total;
    if (!Number.isInteger(free) || free < 0 || !Number.isInteger(t) || t <= 0 || free > t) {
      throw new Error(`heap needs 0 <= free <= total (got free ${free}, total ${t})`);
    }
    this.heapSpec = { ...this.heapSpec, scenario: 'steady', free, total: t };
    this.heapSince = this.timers.now();
    this.pushHeap();
  }

  /** Switches to a heap scenario (`leak:rate=512`, ...), starting now. */
  setHeapScenario(spec: string): void {
    this.heapSpec = parseHeapSpec(spec, { ...DEFAULT_HEAP, total: this.heapSpec.total });
    this.heapSince = this.timers.now();
    this.pushHeap();
  }

  /** Takes the link down (for `seconds`, then up again; forever when omitted). */
  linkDown(seconds?: number): void {
    this.linkTimer?.cancel();
    this.linkTimer = null;
    if (seconds !== undefined) {
      if (!(seconds > 0)) throw new Error('link down needs a positive number of seconds');
      this.linkTimer = this.schedule(this.timers.now() + seconds * 1000, () => this.linkUpNow());
    }
    if (!this.linkUp) return;
    this.linkUp = false;
    this.hostLog('info', `link down${seconds !== undefined ? ` for ${seconds} s` : ''}`);
    // The core drops its connection when it hears of the link; any it still had are reported LINK_DOWN.
    this.pushLink();
    const dropped = this.transport.dropAll();
    for (const conn of dropped) this.push({ k: 'closed', conn, reason: Close.LINK_DOWN });
  }

  /** Brings the link back up. */
  linkUpNow(): void {
    this.linkTimer?.cancel();
    this.linkTimer = null;
    if (this.linkUp) return;
    this.linkUp = true;
    this.hostLog('info', `link up: ${describeLink(this.linkSpec, true)}`);
    this.pushLink();
  }

  /** Changes the link (`ethernet:ip=...`, `wifi:bssid=...`); reported at once when it is up. */
  setLink(spec: string): void {
    const next = parseLinkSpec(spec, this.linkSpec);
    if (!next.up) return this.linkDown();
    this.linkSpec = next.spec;
    if (this.linkUp) this.pushLink();
    else this.linkUpNow();
  }

  /** Roams to another access point (the link becomes Wi-Fi if it was not). */
  setBssid(bssid: string): void {
    this.setLink(`wifi:bssid=${bssid}`);
  }

  /** Fault: resets every open TLS connection. Returns how many. */
  resetConnection(): number {
    const n = this.transport.reset();
    this.hostLog('info', `fault: reset ${n} connection(s)`);
    return n;
  }

  /** Fault: holds received bytes for `seconds`. */
  stall(seconds: number): void {
    if (!(seconds > 0)) throw new Error('stall needs a positive number of seconds');
    this.transport.stall(seconds * 1000);
    this.hostLog('info', `fault: stalling responses for ${seconds} s`);
  }

  /** Fault: black-holes connections for `seconds`. */
  blackhole(seconds: number): void {
    if (!(seconds > 0)) throw new Error('blackhole needs a positive number of seconds');
    this.transport.blackhole(seconds * 1000);
    this.hostLog('info', `fault: black-holing connections for ${seconds} s`);
  }

  /** Runs `fn` at `at` (this node's timer clock) unless the node is stopped first. */
  schedule(at: number, fn: () => void): Timer {
    const t = this.timers.at(at, () => {
      this.scheduled.delete(t);
      if (!this.disposed) fn();
    });
    this.scheduled.add(t);
    return t;
  }

  // ---------------------------------------------------------------- observation

  /** The core's stats plus the host's view. */
  stats(): NodeStats {
    const out: Record<string, unknown> = { name: this.name };
    for (const [key, id] of STAT_KEYS) out[key] = this.stat(id);
    const heap = this.heapNow();
    return {
      ...out,
      name: this.name,
      phaseName: nameOf(Phase, out.phase as number),
      ledName: nameOf(Led, out.led as number),
      lastErrorName: nameOf(ErrorCode, out.lastError as number),
      host: {
        link: describeLink(this.linkSpec, this.linkUp),
        heapFree: heap.free,
        heapTotal: heap.total,
        heapScenario: describeHeap(this.heapSpec),
        openConnections: this.transport.open.length,
        uptimeMs: Math.floor(this.timers.now() - this.bootAt),
        events: this.eventCount,
        panic: this.panicReason,
      },
    };
  }

  /** One stat() value (-1 once the core has trapped). */
  stat(id: number): number {
    if (this.panicReason !== null) return id === Stat.LED ? Led.PANIC : -1;
    if (this.coreDead) return -1;
    try {
      return Number(this.core.exports.stat(id));
    } catch (err) {
      this.trapped(err as Error);
      if (this.pendingRollback && !this.draining) queueMicrotask(() => this.drain());
      return id === Stat.LED ? Led.PANIC : -1;
    }
  }

  /** The LED as the host shows it (steady pattern, blips, times on the timer clock). */
  ledState(): LedState & { name: string } {
    return { ...this.led, name: nameOf(Led, this.led.steady) };
  }

  /** The lifecycle phase (PHASE_* code). */
  get phaseCode(): number {
    return this.phase;
  }

  /** True once the core trapped or the node was stopped. */
  get stopped(): boolean {
    return this.disposed;
  }

  /** Resolves when `pred(stats)` holds (checked after every event); rejects after `timeoutMs`. */
  waitFor(pred: (s: NodeStats) => boolean, timeoutMs = 30_000, what = 'condition'): Promise<NodeStats> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const s = this.stats();
        if (!pred(s)) return false;
        cleanup();
        resolve(s);
        return true;
      };
      const timeout = setTimeout(() => {
        cleanup();
        reject(new Error(`${this.name}: timed out after ${timeoutMs} ms waiting for ${what} (phase ${nameOf(Phase, this.phase)})`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timeout);
        this.waiters.delete(waiter);
      };
      const waiter = (): void => void check();
      if (check()) return;
      this.waiters.add(waiter);
    });
  }

  /** Resolves when the phase is `phase` (a PHASE_* code). */
  waitForPhase(phase: number, timeoutMs = 30_000): Promise<NodeStats> {
    return this.waitFor((s) => s.phase === phase, timeoutMs, `phase ${nameOf(Phase, phase)}`);
  }

  /**
   * Stops the node through the core's `shutdown` (mode CLEANUP deletes its Lease and Node first), keeps
   * delivering events until the phase is STOPPED or `timeoutMs` passes, then closes everything.
   */
  async stop(opts: { cleanup?: boolean; timeoutMs?: number } = {}): Promise<NodeStats> {
    if (!this.disposed) {
      const mode = opts.cleanup ? Shutdown.CLEANUP : Shutdown.STOP;
      this.push({ k: 'shutdown', mode });
      try {
        await this.waitFor((s) => s.phase === Phase.STOPPED || s.phase === Phase.FAILED || this.panicReason !== null, opts.timeoutMs ?? 15_000, 'phase STOPPED');
      } catch (err) {
        this.hostLog('warn', `${(err as Error).message}; closing anyway`);
      }
    }
    const final = this.stats();
    this.dispose();
    return final;
  }

  // ---------------------------------------------------------------- event loop

  private push(ev: Ev): void {
    if (this.disposed) return;
    this.queue.push(ev);
    this.drain();
  }

  /** Received bytes, split into io_buffer_size pieces (each its own on_data). */
  private pushData(conn: number, bytes: Uint8Array): void {
    if (this.disposed) return;
    const size = this.core.ioSize;
    if (bytes.length <= size) return this.push({ k: 'data', conn, bytes });
    for (let off = 0; off < bytes.length; off += size) this.queue.push({ k: 'data', conn, bytes: bytes.subarray(off, off + size) });
    this.drain();
  }

  private pushLink(): void {
    const a = linkArgs(this.linkSpec, this.linkUp);
    this.push({ k: 'link', ...a });
  }

  private pushHeap(): void {
    const h = this.heapNow();
    this.push({ k: 'heap', free: h.free, total: h.total });
    this.push({ k: 'cpu' });
  }

  private drain(): void {
    if (this.draining || this.depth > 0) return;
    this.draining = true;
    try {
      while ((this.queue.length > 0 || this.pendingRollback !== null) && !this.disposed) {
        if (this.pendingRollback !== null) {
          this.rollBack();
          continue;
        }
        const ev = this.queue.shift()!;
        if (ev.k === 'swap') {
          this.swapTo(ev.brain);
          continue;
        }
        if (this.deliver(ev)) {
          this.eventCount++;
          this.collect();
        }
      }
    } finally {
      this.draining = false;
    }
    this.settle();
  }

  /** One event, one export call. False when the event was for a connection that is gone. */
  private deliver(ev: Ev): boolean {
    const ex = this.core.exports;
    switch (ev.k) {
      case 'link':
        return this.call('on_link', [this.now(), ev.kind, ev.ipv4, ev.bssid, ev.rssi], () => ex.on_link(this.lastNow, ev.kind, ev.ipv4, ev.bssid, ev.rssi)), true;
      case 'heap':
        return this.call('on_heap', [this.now(), ev.free, ev.total], () => ex.on_heap(this.lastNow, ev.free, ev.total)), true;
      case 'cpu': {
        const onCpu = ex.on_cpu;
        if (!onCpu) return false;
        const us = BigInt(Math.floor(this.busyUs));
        return this.call('on_cpu', [this.now(), us], () => onCpu.call(ex, this.lastNow, us)), true;
      }
      case 'connected':
        if (!this.live.has(ev.conn)) return false;
        return this.call('on_connected', [this.now(), ev.conn], () => ex.on_connected(this.lastNow, ev.conn)), true;
      case 'data':
        if (!this.live.has(ev.conn)) return false;
        this.core.writeIo(ev.bytes);
        return this.call('on_data', [this.now(), ev.conn, ev.bytes.length], () => ex.on_data(this.lastNow, ev.conn, ev.bytes.length)), true;
      case 'closed':
        if (!this.live.delete(ev.conn)) return false;
        return this.call('on_closed', [this.now(), ev.conn, ev.reason], () => ex.on_closed(this.lastNow, ev.conn, ev.reason)), true;
      case 'timer':
        return this.call('on_timer', [this.now()], () => ex.on_timer(this.lastNow)), true;
      case 'shutdown':
        return this.call('shutdown', [this.now(), ev.mode], () => ex.shutdown(this.lastNow, ev.mode)), true;
      case 'writable':
        if (!this.live.has(ev.conn)) return false;
        return this.call('on_writable', [this.now(), ev.conn], () => ex.on_writable(this.lastNow, ev.conn)), true;
      case 'accepted':
        if (!this.live.has(ev.conn)) return false;
        this.core.writeIo(ev.ident);
        return this.call('on_accepted', [this.now(), ev.conn, ev.port, ev.peer, ev.ident.length],
          () => ex.on_accepted(this.lastNow, ev.conn, ev.port, ev.peer, ev.ident.length)), true;
      case 'hostResult': {
        if (ev.gen !== this.gen) return false;
        const data = ev.data.subarray(0, this.core.ioSize);
        this.core.writeIo(data);
        this.call('on_host_result', [this.now(), ev.req, ev.status, data.length],
          () => ex.on_host_result(this.lastNow, ev.req, ev.status, data.length));
        // docs/brain.md: the host swaps right after the commit's on_host_result returns.
        if (ev.swap && !this.coreDead && !this.disposed) this.queue.unshift({ k: 'swap', brain: ev.swap });
        return true;
      }
      case 'swap':
        return false;
    }
  }

  /** After the queue is empty: note the phase, wake waiters, arm the timer for next_deadline(). */
  private settle(): void {
    if (this.disposed) return;
    if (this.brains.isProving && this.brains.deadline >= 0 && this.brains.provenBy(this.stat(Stat.RENEWALS))) this.proven();
    if (this.pendingRollback !== null) return this.drain();
    const phase = this.stat(Stat.PHASE);
    if (phase !== this.phase) {
      this.phase = phase;
      this.emit('phase', phase, nameOf(Phase, phase));
    }
    for (const w of [...this.waiters]) w();
    if (this.disposed) return;
    const d = Number(this.call('next_deadline', [], () => this.core.exports.next_deadline()));
    if (this.disposed) return;
    if (this.pendingRollback !== null) return this.drain();
    if (d < 0) {
      this.timer?.cancel();
      this.timer = null;
      this.timerAt = -1;
      return;
    }
    const at = this.bootAt + d;
    if (this.timer !== null && this.timerAt === at) return;
    this.timer?.cancel();
    this.timerAt = at;
    this.timer = this.timers.at(at, () => {
      this.timer = null;
      this.timerAt = -1;
      // ABI: report the heap before every on_timer.
      const h = this.heapNow();
      this.queue.push({ k: 'heap', free: h.free, total: h.total });
      // The CPU time at most once a second: metrics-server scrapes every 15 s or so.
      const t = this.timers.now();
      if (t - this.cpuReportedAt >= 1000) {
        this.cpuReportedAt = t;
        this.queue.push({ k: 'cpu' });
      }
      this.push({ k: 'timer' });
    });
  }

  /** Calls an export, refusing re-entrancy; a throw is a trap that kills the instance. */
  private call<T>(name: string, args: ReadonlyArray<number | bigint>, fn: () => T): T {
    if (this.coreDead) return -1 as T;
    if (this.depth > 0) throw new Error(`host-sim bug: export ${name} called from inside an import`);
    this.trace?.({ dir: 'export', name, args, depth: this.depth });
    this.depth++;
    const t0 = performance.now();
    try {
      return fn();
    } catch (err) {
      this.depth = 0;
      this.trapped(err as Error);
      return -1 as T;
    } finally {
      // The core is synchronous: the time inside its exports is its CPU time (/metrics/resource).
      this.busyUs += (performance.now() - t0) * 1000;
      if (this.depth > 0) this.depth--;
      this.trace?.({ dir: 'return', name, depth: this.depth });
    }
  }

  /** A trap: the brain on probation is rolled back (by the drain loop); any other instance is dead. */
  private trapped(err: Error): void {
    if (!this.brains.isProving) return this.panic(err);
    if (this.coreDead) return;
    this.coreDead = true;
    this.pendingRollback ??= { reason: 'BrainCrashed', message: err.message };
    this.record('error', `brain ${this.brains.running.digest} trapped: ${err.message}`, 'host');
  }

  private collect(): void {
    if (this.disposed) return;
    this.call('__collect', [], () => this.core.exports.__collect());
  }

  /** `now` for the next export: ms since this node booted, never going backwards. */
  private now(): bigint {
    const n = BigInt(Math.floor(this.timers.now() - this.bootAt));
    if (n > this.lastNow) this.lastNow = n;
    return this.lastNow;
  }

  private heapNow(): { free: number; total: number } {
    return { free: heapFree(this.heapSpec, this.timers.now() - this.heapSince), total: this.heapSpec.total };
  }

  // ---------------------------------------------------------------- imports

  private hostFunctions(): HostFunctions {
    return {
      connect: (conn, host, port, serverName, profile) => {
        this.traceImport('connect', [conn, host, port, serverName, profile]);
        if (conn <= 0 || conn >= CONN_ACCEPTED_MIN) throw new Error(`connect: connection id ${conn} is outside the core's range 1..0x3fffffff`);
        this.live.add(conn);
        if (!this.linkUp) {
          this.queue.push({ k: 'closed', conn, reason: Close.CONNECT_FAILED });
          return;
        }
        this.transport.connect(conn, host, port, serverName, profile);
      },
      send: (conn, bytes) => {
        this.traceImport('send', [conn, bytes.length]);
        return this.live.has(conn) ? this.transport.send(conn, bytes) : -1;
      },
      hostCall: (req, op, arg, bytes) => {
        this.traceImport('host_call', [req, op, arg, bytes.length]);
        return this.hostCall(req, op, arg, bytes);
      },
      close: (conn) => {
        this.traceImport('close', [conn]);
        this.live.delete(conn);
        this.transport.close(conn);
      },
      led: (pattern) => {
        this.traceImport('led', [pattern]);
        this.setLed(pattern);
      },
      log: (level, line) => {
        this.traceImport('log', [level]);
        const lvl = CORE_LEVELS[level] ?? 'info';
        if (lvl === 'error' && this.booting) this.startErrors.push(line);
        this.record(lvl, line, 'core');
      },
      abort: (message, file, line, column) => {
        this.traceImport('abort', [message, file, line, column]);
        throw new Error(`abort: ${message || '(no message)'} at ${file || '?'}:${line}:${column}`);
      },
    };
  }

  /** host_call: every op answers through an on_host_result event, never from inside the import. */
  private hostCall(req: number, op: number, arg: number, bytes: Uint8Array): number {
    // The instance asking: a result that comes after it was replaced (a swap) is not delivered.
    const gen = this.gen;
    const result = (status: number, data: string | Uint8Array = ''): void => {
      const d = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
      // Outside the import: the result is an event of its own.
      queueMicrotask(() => this.push({ k: 'hostResult', req, status, data: d, gen }));
    };
    const attempt = (fn: () => string | void): void => {
      try {
        result(0, fn() ?? '');
      } catch (err) {
        result(err instanceof SpecError ? ErrorCode.HOST_CALL_INVALID : ErrorCode.HOST_CALL_FAILED, (err as Error).message);
      }
    };
    if (BrainCalls.handles(op)) {
      const out = this.brainCalls.call(op, arg, bytes);
      const r = out.result;
      if (out.rc === 0 && r) {
        queueMicrotask(() => this.push({ k: 'hostResult', req, status: r.status, data: Buffer.from(r.data, 'utf8'), gen, swap: r.swap }));
      }
      return out.rc;
    }
    const text = Buffer.from(bytes).toString('utf8');
    switch (op) {
      case HostOp.LISTEN:
        if (!(arg > 0 && arg < 65536)) return -ErrorCode.HOST_CALL_INVALID;
        if (!this.transport.listen) return -ErrorCode.UNSUPPORTED;
        this.listen(arg, (err) => (err === null ? result(0) : result(ErrorCode.HOST_CALL_FAILED, err)));
        return 0;
      case HostOp.KEY_GENERATE:
        attempt(() => this.keys.generate(arg));
        return 0;
      case HostOp.CSR_CREATE:
        attempt(() => this.keys.csr(arg, text));
        return 0;
      case HostOp.CERT_INSTALL:
        attempt(() => {
          const lines = this.keys.install(arg, text);
          if (arg === KeySlot.SERVING) this.serveInstalled();
          if (arg === KeySlot.CLIENT) this.presentClientCertificate('installed');
          return lines;
        });
        return 0;
      case HostOp.CERT_INFO:
        attempt(() => this.keys.info(arg));
        return 0;
      default:
        return -ErrorCode.UNSUPPORTED;
    }
  }

  private listening = new Map<number, string | null>();

  /**
   * At start: a client certificate kept in the cert dir (an earlier bootstrap or rotation) is what API
   * server connections present, unless it has expired (then the configured credentials' own, and the core,
   * told by OP_CERT_INFO, bootstraps again or reports it).
   */
  private presentStoredClientCertificate(certDir: string | undefined): void {
    const client = this.keys.identity(KeySlot.CLIENT);
    if (!client) return;
    const leaf = new crypto.X509Certificate(client.cert);
    const where = `${certDir}/kubelet-client-current.pem`;
    if (Date.parse(leaf.validTo) <= Date.now()) {
      this.hostLog('warn', `client certificate ${where} (${leaf.subject.replace(/\n/g, ', ')}) expired at ${new Date(leaf.validTo).toISOString()}; not presenting it`);
      return;
    }
    this.presentClientCertificate(`read from ${where}`);
  }

  /** API server connections opened from now on present the client slot's certificate and key. */
  private presentClientCertificate(how: string): void {
    const client = this.keys.identity(KeySlot.CLIENT);
    if (!client || !this.transport.setClientIdentity) return;
    this.transport.setClientIdentity({ key: client.key.export({ type: 'pkcs8', format: 'pem' }) as string, cert: client.cert });
    const leaf = new crypto.X509Certificate(client.cert);
    this.hostLog('info', `client certificate ${how}: ${leaf.subject.replace(/\n/g, ', ')}, valid until ${new Date(leaf.validTo).toISOString()}; new API server connections present it`);
  }

  /** The serving slot has a new certificate: the listener presents it to every new connection. */
  private serveInstalled(): void {
    const serving = this.keys.identity(KeySlot.SERVING);
    if (!serving || this.listening.size === 0 || !this.transport.setListenIdentity) return;
    const key = serving.key.export({ type: 'pkcs8', format: 'pem' }) as string;
    this.transport.setListenIdentity({ key, cert: serving.cert, clientCa: this.clientCa });
    this.hostLog('info', 'kubelet port: serving the certificate the cluster issued');
  }

  /** Listens on the kubelet port at the node's address (once per port: a resumed core asks again). */
  private listen(port: number, done: (err: string | null) => void): void {
    if (this.listening.has(port)) return done(this.listening.get(port) ?? null);
    const ip = this.linkSpec.ip;
    const serving = this.keys.identity(1);
    let identity;
    const pemOf = (k: crypto.KeyObject): string => k.export({ type: 'pkcs8', format: 'pem' }) as string;
    if (serving) identity = { key: pemOf(serving.key), cert: serving.cert, clientCa: this.clientCa };
    else {
      // No certificate installed for the serving slot yet: a short-lived self-signed one for this address.
      const key = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
      identity = { key: pemOf(key), cert: selfSigned(key, { cn: this.name, orgs: [], dns: [this.name], ips: [ip] }), clientCa: this.clientCa };
    }
    const finished = (err: string | null): void => {
      if (err === null) {
        this.listening.set(port, null);
        this.hostLog('info', `kubelet port: listening on https://${ip}:${port}; ${this.clientCaNote}`);
      } else {
        this.hostLog('warn', `kubelet port: cannot listen on ${ip}:${port}: ${err}`);
      }
      if (!this.disposed) done(err);
    };
    try {
      this.transport.listen!(ip, port, identity, finished);
    } catch (err) {
      finished((err as Error).message);
    }
  }

  private traceImport(name: string, args: ReadonlyArray<number | bigint | string>): void {
    this.trace?.({ dir: 'import', name, args, depth: this.depth });
  }

  private setLed(pattern: number): void {
    const now = this.timers.now();
    if (pattern === Led.ACTIVITY) this.led = { ...this.led, blipAt: now };
    else if (pattern !== this.led.steady) this.led = { ...this.led, steady: pattern, since: now };
    else return;
    this.emit('led', pattern, nameOf(Led, pattern));
  }

  private hostLog(level: Level, line: string): void {
    this.record(level, line, 'host');
  }

  private record(level: Level, msg: string, source: 'core' | 'host'): void {
    if (this.keepLogs > 0) {
      this.logs.push(`${level} ${source}: ${msg}`);
      if (this.logs.length > this.keepLogs) this.logs.splice(0, this.logs.length - this.keepLogs);
    }
    const rec: LogRecord = { time: new Date(), level, node: this.name, source, msg };
    if (this.held !== null) this.held.push(rec);
    else this.logger.log(rec);
    this.emit('log', level, msg, source);
  }

  /** The core trapped: show Panic, drop everything, never call it again. */
  private panic(err: Error): void {
    if (this.panicReason !== null) return;
    this.panicReason = err.message;
    this.record('error', `core trapped: ${err.message}`, 'host');
    this.setLed(Led.PANIC);
    this.phase = -1;
    this.emit('panic', err);
    this.dispose();
  }

  private dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.queue.length = 0;
    this.timer?.cancel();
    this.timer = null;
    this.linkTimer?.cancel();
    this.proveTimer = null;
    for (const t of this.scheduled) t.cancel();
    this.scheduled.clear();
    this.transport.unlisten?.();
    this.transport.dropAll();
    this.live.clear();
    for (const w of [...this.waiters]) w();
    this.emit('stopped');
  }
}

/** Levels a node's logger may be given (re-exported for option parsing). */
export const NODE_LOG_LEVELS = LEVELS;
