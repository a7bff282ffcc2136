/**
 * The ABI: every function the hosts call. Each delegates to the Kubelet (core/agent.ts) in a few lines.
 * The contract (signatures, units, memory ownership, GC policy) is written down in ABI.md.
 *
 * This entry must not be named assembly/index.ts: the json-as transform turns that path into a library
 * file and the module would export nothing.
 */
import { ABI_VERSION, CONFIG_MAX_BYTES, CONN_ACCEPTED_MIN, HostOp, IO_BUFFER_SIZE, Phase, SNAPSHOT_MAX_BYTES, Stat } from "./abi/codes";
import { ErrorCode, errorText } from "./abi/errors";
import { Kubelet } from "./agent/agent";
import { KubeletServer } from "./server/server";
import { Reviewer } from "./server/reviews";
import { readSnapshot, writeSnapshot } from "./agent/snapshot";
import { linesEmitted, logError, logInfo, logWarn, setLogLevel } from "./util/log";
import { Monotonic } from "./util/monotonic";
import { ByteBuffer } from "./util/bytes";
import { parseConfig } from "./node/config";
import { RECONNECT_WINDOW_MS } from "./node/defaults";

/** The shared byte buffer: allocated once, never moved (ABI.md "Memory ownership"). */
const io = new StaticArray<u8>(IO_BUFFER_SIZE);
const configDoc = new ByteBuffer(1024, CONFIG_MAX_BYTES);
const kubelet = new Kubelet();
/** The kubelet port (accepted connections) and the host_call requests in flight. */
const reviewer = new Reviewer(kubelet.ctx);
kubelet.addWorker(reviewer, kubelet.pods);
const server = new KubeletServer(kubelet, reviewer);
const hostCalls = kubelet.ctx.hostCalls;
/** A snapshot written before start (snapshot_write), and the one snapshot_take produced. */
let snapIn: ByteBuffer | null = null;
let snapOut: ByteBuffer | null = null;
let resumed = false;
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
  const doc = snapIn;
  if (doc !== null) {
    const snap = readSnapshot(doc.ptr, doc.length, cfg.nodeName);
    if (snap.error.length > 0) {
      logError("snapshot refused: " + snap.error);
      kubelet.failConfig();
      return ErrorCode.SnapshotInvalid;
    }
    kubelet.start(now, cfg, <u64>seed);
    snap.apply(kubelet, now);
    kubelet.resume(now);
    resumed = true;
    snapIn = null;
  } else {
    kubelet.start(now, cfg, <u64>seed);
  }
  server.max = cfg.maxServerConnections;
  if (cfg.kubeletPort > 0) listen(cfg.kubeletPort);
  return ErrorCode.Ok;
}

/** Asks the host to listen on the kubelet port; it is advertised only once that succeeded. */
function listen(port: i32): void {
  const req = hostCalls.call(HostOp.Listen, port);
  if (req < 0) listenFailed(port, errorText(<ErrorCode>-req));
}

function listenFailed(port: i32, why: string): void {
  logWarn("cannot listen on the kubelet port " + port.toString() + " (" + why + "); not advertised");
}

/** Appends io_buffer[0..len) to the snapshot a brain swap hands over (before start). */
export function snapshot_write(len: i32): i32 {
  if (kubelet.ctx.phase != Phase.Configuring) return ErrorCode.AlreadyStarted;
  let doc = snapIn;
  if (doc === null) {
    doc = new ByteBuffer(1024, SNAPSHOT_MAX_BYTES);
    snapIn = doc;
  }
  if (len < 0 || len > IO_BUFFER_SIZE || doc.length + len > SNAPSHOT_MAX_BYTES) return ErrorCode.SnapshotTooLarge;
  doc.raw(changetype<usize>(io), len);
  return ErrorCode.Ok;
}

/** Serialises the running core for another instance and stops sending; returns the length or -ErrorCode. */
export function snapshot_take(now: i64): i32 {
  now = coreNow(now);
  if (kubelet.ctx.phase != Phase.Running) return -ErrorCode.NotRunning;
  const out = new ByteBuffer(2048, SNAPSHOT_MAX_BYTES);
  if (!writeSnapshot(out, kubelet, now)) return -ErrorCode.SnapshotTooLarge;
  snapOut = out;
  server.forgetAll();
  hostCalls.clear();
  kubelet.handOff(now);
  return out.length;
}

/** Copies up to io_buffer_size bytes of the taken snapshot from `offset` into io_buffer; the count, or -1. */
export function snapshot_read(offset: i32): i32 {
  const out = snapOut;
  if (out === null || offset < 0 || offset > out.length) return -1;
  let n = out.length - offset;
  if (n > IO_BUFFER_SIZE) n = IO_BUFFER_SIZE;
  memory.copy(changetype<usize>(io), out.ptr + <usize>offset, <usize>n);
  return n;
}


/** True after a hand-off: the instance ignores every event. */
@inline function handedOff(): bool {
  return kubelet.ctx.phase == Phase.HandedOff;
}

/** The link changed. */
export function on_link(now: i64, kind: i32, ipv4: i32, bssid: i64, rssi: i32): void {
  now = coreNow(now);
  if (handedOff()) return;
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
  if (handedOff()) return;
  kubelet.onConnected(now, conn);
}

/** io_buffer[0..len) was received on `conn`. */
export function on_data(now: i64, conn: i32, len: i32): void {
  now = coreNow(now);
  if (len <= 0 || len > IO_BUFFER_SIZE || handedOff()) return;
  if (conn >= CONN_ACCEPTED_MIN) {
    server.onData(now, conn, changetype<usize>(io), len);
    // A request may have queued a review for the control lane.
    kubelet.poke(now);
    return;
  }
  kubelet.onData(now, conn, changetype<usize>(io), len);
}

/** The host can take more bytes for `conn`: the rest of what it refused goes out now. */
export function on_writable(now: i64, conn: i32): void {
  now = coreNow(now);
  if (handedOff()) return;
  kubelet.ctx.outbox.writable(conn);
  if (conn >= CONN_ACCEPTED_MIN) server.onWritable(now, conn);
  kubelet.ctx.outbox.flush();
}

/** The host accepted connection `conn` on its listening `port`; io_buffer[0..ident_len) holds the client's verified identity. */
export function on_accepted(now: i64, conn: i32, port: i32, peer_ipv4: i32, ident_len: i32): void {
  now = coreNow(now);
  if (handedOff()) return;
  const n = ident_len > 0 && ident_len <= IO_BUFFER_SIZE ? ident_len : 0;
  server.onAccepted(now, conn, port, changetype<usize>(io), n);
  kubelet.ctx.outbox.flush();
}

/** The result of host_call `req`: status 0 or an error code, result bytes in io_buffer[0..len). */
export function on_host_result(now: i64, req: i32, status: i32, len: i32): void {
  now = coreNow(now);
  if (handedOff()) return;
  const op = hostCalls.finish(req);
  if (op == HostOp.Listen) {
    const port = kubelet.ctx.cfg.kubeletPort;
    if (status == 0 && port > 0 && kubelet.ctx.phase != Phase.Stopped) {
      server.port = port;
      kubelet.ctx.identity.kubeletPort = port;
      kubelet.status.endpointsChanged(now);
      logInfo("serving the kubelet port " + port.toString() + " (healthz, pods, metrics, metrics/resource, containerLogs; authorized by the API server)");
    } else if (status != 0) {
      const why = len > 0 && len <= IO_BUFFER_SIZE ? ": " + String.UTF8.decodeUnsafe(changetype<usize>(io), <usize>min(len, 200)) : "";
      listenFailed(port, errorText(<ErrorCode>status) + why);
    }
  } else if (op > 0) {
    kubelet.onHostResult(now, req, status, changetype<usize>(io), min(max(len, 0), IO_BUFFER_SIZE));
  }
}

/** Connection `conn` closed. */
export function on_closed(now: i64, conn: i32, reason: i32): void {
  now = coreNow(now);
  if (handedOff()) return;
  kubelet.ctx.outbox.forget(conn);
  if (conn >= CONN_ACCEPTED_MIN) {
    server.onClosed(conn);
    return;
  }
  kubelet.onClosed(now, conn, reason);
}

/** The host's measure of the CPU time the core has used so far, in µs (cumulative; /metrics/resource). */
export function on_cpu(now: i64, busy_us: i64): void {
  now = coreNow(now);
  if (handedOff()) return;
  kubelet.onCpu(now, busy_us);
}

/** A deadline passed. */
export function on_timer(now: i64): void {
  now = coreNow(now);
  if (handedOff()) return;
  // The lifecycle first: a log follower woken at the instant a container exits then reads the ended run.
  kubelet.onTimer(now);
  server.onTimer(now);
  kubelet.ctx.outbox.flush();
}

/** When the core next wants on_timer (absolute), or -1. */
export function next_deadline(): i64 {
  if (handedOff()) return -1;
  let d = kubelet.nextDeadline(time.last);
  const s = server.nextDeadline();
  if (s >= 0 && (d < 0 || s < d)) d = s;
  return time.toHost(d);
}

/** Stops; mode 1 deletes our Lease and Node first. */
export function shutdown(now: i64, mode: i32): void {
  now = coreNow(now);
  if (handedOff()) return;
  server.closeAll();
  kubelet.ctx.outbox.flush();
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
    case Stat.Accepted: return server.counts.accepted;
    case Stat.ServerRequests: return server.counts.requests;
    case Stat.ServerRefused: return server.counts.refused;
    case Stat.HostCalls: return hostCalls.calls;
    case Stat.ListenPort: return <i64>server.port;
    case Stat.Resumed: return resumed ? 1 : 0;
    case Stat.SendsDeferred: return ctx.outbox.deferred;
    default: return -1;
  }
}

/** What had happened at the last collection; see `collectIfDue`. */
let workAtCollect: i64 = -1;
let lightAtCollect: i64 = -1;
let linesAtCollect: i64 = -1;
let callsSinceCollect: i32 = 0;
/** Collect after this many allocating events (results routed, requests built, watch events, requests served)... */
const COLLECT_AFTER_WORK: i64 = 2;
/** ...or this many of the steady state's light ones (a renewal is two, an evaluation one: about 32 renewal periods)... */
const COLLECT_AFTER_LIGHT: i64 = 96;
/** ...or this many log lines, and at least this often whatever happened. */
const COLLECT_AFTER_LINES: i64 = 2;
const COLLECT_EVERY_CALLS = 256;

/**
 * The host calls this after every export (ABI.md "Garbage collection policy"). A full collection walks the
 * whole live heap (about 80 KiB): after every renewal it was most of the renewal's time. Most events
 * allocate nothing (a chunk of a response, an early timer), and the steady state's (renewals, evaluations,
 * bookmarks) under 2 KiB a renewal period, so it runs after a few events that allocate more (results
 * routed, requests built, watch events, requests served, log lines), after many light ones, and every
 * COLLECT_EVERY_CALLS calls whatever happened. Garbage between collections stays at a few tens of
 * kilobytes, which TLSF reuses, so linear memory stays flat (tests/wasm/day.test.ts).
 */
function collectIfDue(): void {
  callsSinceCollect++;
  const work = kubelet.work + server.counts.requests;
  const light = kubelet.light;
  if (work - workAtCollect < COLLECT_AFTER_WORK && light - lightAtCollect < COLLECT_AFTER_LIGHT &&
    linesEmitted - linesAtCollect < COLLECT_AFTER_LINES && callsSinceCollect < COLLECT_EVERY_CALLS) return;
  workAtCollect = work;
  lightAtCollect = light;
  linesAtCollect = linesEmitted;
  callsSinceCollect = 0;
  __collect();
}
export { collectIfDue as __collect };
