/**
 * The ABI: every function the hosts call. Each delegates to the Kubelet (core/agent.ts) in a few lines.
 * The contract (signatures, units, memory ownership, GC policy) is written down in ABI.md.
 *
 * This entry must not be named assembly/index.ts: the json-as transform turns that path into a library
 * file and the module would export nothing.
 */
import { ABI_VERSION, CONFIG_MAX_BYTES, IO_BUFFER_SIZE, Phase, Stat } from "./abi/codes";
import { ErrorCode } from "./abi/errors";
import { Kubelet } from "./agent/agent";
import { linesEmitted, logError, logWarn, setLogLevel } from "./util/log";
import { Monotonic } from "./util/monotonic";
import { ByteBuffer } from "./util/bytes";
import { parseConfig } from "./node/config";
import { RECONNECT_WINDOW_MS } from "./node/defaults";

/** The shared byte buffer: allocated once, never moved (ABI.md "Memory ownership"). */
const io = new StaticArray<u8>(IO_BUFFER_SIZE);
const configDoc = new ByteBuffer(1024, CONFIG_MAX_BYTES);
const kubelet = new Kubelet();
/** The core's own time (util/monotonic.ts); `time.last` is the latest event's, for stat and next_deadline. */
const time = new Monotonic();
let anomaliesLogged: i64 = 0;

/** Core time for the host's `now`; a `now` outside the contract is logged once. */
function coreNow(now: i64): i64 {
  const t = time.toCore(now);
  if (time.anomalies > anomaliesLogged) {
    if (anomaliesLogged == 0) logWarn("the host's now went backwards or jumped (" + now.toString() + " ms); keeping the core's own time");
    anomaliesLogged = time.anomalies;
  }
  return t;
}

/** ABI version implemented by this module. */
export function abi_version(): i32 {
  return ABI_VERSION;
}

/** Address of the shared byte buffer. */
export function io_buffer(): usize {
  return changetype<usize>(io);
}

/** Size of the shared byte buffer. */
export function io_buffer_size(): i32 {
  return IO_BUFFER_SIZE;
}

/** Appends io_buffer[0..len) to the configuration document. */
export function config_write(len: i32): i32 {
  if (kubelet.ctx.phase != Phase.Configuring) return ErrorCode.AlreadyStarted;
  if (len < 0 || len > IO_BUFFER_SIZE || configDoc.length + len > CONFIG_MAX_BYTES) {
    return ErrorCode.ConfigTooLarge;
  }
  configDoc.raw(changetype<usize>(io), len);
  return ErrorCode.Ok;
}

/** Validates the configuration and starts. */
export function start(now: i64, seed: i64): i32 {
  now = coreNow(now);
  if (kubelet.ctx.phase != Phase.Configuring) return ErrorCode.AlreadyStarted;
  const cfg = parseConfig(configDoc.ptr, configDoc.length);
  if (cfg.errors.length > 0) {
    for (let i = 0; i < cfg.errors.length; i++) logError(cfg.errors[i]);
    kubelet.failConfig();
    return ErrorCode.ConfigInvalid;
  }
  setLogLevel(cfg.logLevel);
  kubelet.start(now, cfg, <u64>seed);
  return ErrorCode.Ok;
}

/** The link changed. */
export function on_link(now: i64, kind: i32, ipv4: i32, bssid: i64, rssi: i32): void {
  now = coreNow(now);
  kubelet.onLink(now, kind, <u32>ipv4, bssid, rssi);
}

/** Free and total heap bytes. */
export function on_heap(now: i64, free: i32, total: i32): void {
  now = coreNow(now);
  kubelet.onHeap(now, <i64>free, <i64>total);
}

/** Connection `conn` is up. */
export function on_connected(now: i64, conn: i32): void {
  now = coreNow(now);
  kubelet.onConnected(now, conn);
}

/** io_buffer[0..len) was received on `conn`. */
export function on_data(now: i64, conn: i32, len: i32): void {
  now = coreNow(now);
  if (len <= 0 || len > IO_BUFFER_SIZE) return;
  kubelet.onData(now, conn, changetype<usize>(io), len);
}

/** Connection `conn` closed. */
export function on_closed(now: i64, conn: i32, reason: i32): void {
  now = coreNow(now);
  kubelet.onClosed(now, conn, reason);
}

/** A deadline passed. */
export function on_timer(now: i64): void {
  now = coreNow(now);
  kubelet.onTimer(now);
}

/** When the core next wants on_timer (absolute), or -1. */
export function next_deadline(): i64 {
  return time.toHost(kubelet.nextDeadline(time.last));
}

/** Stops; mode 1 deletes our Lease and Node first. */
export function shutdown(now: i64, mode: i32): void {
  now = coreNow(now);
  kubelet.shutdown(now, mode);
}

/** Observability counters (ABI.md "stat ids"). */
export function stat(id: i32): i64 {
  const ctx = kubelet.ctx;
  switch (id) {
    case Stat.Phase: return <i64>ctx.phase;
    case Stat.Led: return <i64>kubelet.led;
    case Stat.Renewals: return ctx.renewals;
    case Stat.RenewFailures: return ctx.renewFailures;
    case Stat.StatusPushes: return ctx.statusPushes;
    case Stat.Requests: return ctx.net.requests;
    case Stat.Connects: return ctx.net.connects;
    case Stat.WallMs: return ctx.clock.anchored ? ctx.clock.wallMs(time.last) : -1;
    case Stat.LastHttpStatus: return <i64>ctx.lastHttpStatus;
    case Stat.ConsecutiveFailures: return <i64>ctx.consecutiveFailures;
    case Stat.MemoryPressure: return kubelet.status.memoryPressure ? 1 : 0;
    case Stat.Registrations: return ctx.registrations;
    case Stat.LastError: return <i64>ctx.lastError;
    case Stat.Reconnects: return <i64>ctx.reconnects.count(time.last, RECONNECT_WINDOW_MS);
    case Stat.MemoryBytes: return <i64>memory.size() << 16;
    default: return -1;
  }
}

/** What had happened at the last collection; see `collectIfDue`. */
let workAtCollect: i64 = -1;
let linesAtCollect: i64 = -1;
let callsSinceCollect: i32 = 0;
/** Collect after this many allocating events (a renewal is two: its request and its result)... */
const COLLECT_AFTER_WORK: i64 = 2;
/** ...or this many log lines, and at least this often whatever happened. */
const COLLECT_AFTER_LINES: i64 = 2;
const COLLECT_EVERY_CALLS = 32;

/**
 * The host calls this after every export (ABI.md "Garbage collection policy"). A full collection walks the
 * whole live heap, and most events (a chunk of a response, an early timer) allocate nothing, so it runs
 * only after a few events that did allocate (results routed, requests built, evaluations, log lines), and
 * every COLLECT_EVERY_CALLS calls whatever happened. Garbage between collections is bounded by that: a
 * few kilobytes, which TLSF reuses, so linear memory stays flat (tests/wasm/day.test.ts).
 */
function collectIfDue(): void {
  callsSinceCollect++;
  const work = kubelet.work;
  if (work - workAtCollect < COLLECT_AFTER_WORK && linesEmitted - linesAtCollect < COLLECT_AFTER_LINES &&
    callsSinceCollect < COLLECT_EVERY_CALLS) return;
  workAtCollect = work;
  linesAtCollect = linesEmitted;
  callsSinceCollect = 0;
  __collect();
}
export { collectIfDue as __collect };
