// host-sim/src/abi.ts
// The host-sim's one mirror of the core ABI (assembly/ABI.md, version 2): codes, stat ids, phases, the
// shape of the exports and the bounds-checked reads of guest memory. Nothing else in host-sim hard-codes
// an ABI number.

/** The ABI version this host implements. */
export const ABI_VERSION = 2;
/** The range of versions this host can run; a module outside it is refused (ABI.md "Versions"). */
export const ABI_VERSION_MIN = 2;
export const ABI_VERSION_MAX = 2;

/** Connection ids: the core's are 1..CONN_CORE_MAX, the host's accepted ones CONN_ACCEPTED_MIN and up. */
export const CONN_CORE_MAX = 0x3fff_ffff;
export const CONN_ACCEPTED_MIN = 0x4000_0000;

/** Largest snapshot snapshot_write accepts in total. */
export const SNAPSHOT_MAX_BYTES = 16 * 1024;

/** What a connection verifies (connect's `profile`). */
export const Profile = {
  /** The cluster CA; the node's client certificate if it has one. */
  CLUSTER: 0,
  /** Public CAs (the system bundle); no client certificate. */
  PUBLIC: 1,
} as const;

/** host_call operations. */
export const HostOp = {
  LISTEN: 1,
  KEY_GENERATE: 2,
  CSR_CREATE: 3,
  CERT_INSTALL: 4,
  CERT_INFO: 5,
  /** Synchronous: a chunk of a brain image at offset `arg` (docs/brain.md). */
  BRAIN_WRITE: 6,
  /** The commit line and the manifest: verify, then swap after the result. */
  BRAIN_COMMIT: 7,
  /** Lines running=, failed=, reason=, message=. */
  BRAIN_STATUS: 8,
} as const;

/** Key slots of the crypto host calls. */
export const KeySlot = {
  CLIENT: 0,
  SERVING: 1,
} as const;

/** Import module name of every picokubelet host function. */
export const IMPORT_MODULE = 'picokubelet';

/** Largest configuration document `config_write` accepts in total. */
export const CONFIG_MAX_BYTES = 16 * 1024;

/** Link kinds for `on_link`. */
export const Link = {
  /** No link. */
  DOWN: 0,
  /** Wired. */
  ETHERNET: 1,
  /** Wi-Fi station. */
  WIFI: 2,
} as const;
export type LinkKind = (typeof Link)[keyof typeof Link];

/** Why a connection closed (`on_closed`). */
export const Close = {
  /** The peer closed cleanly. */
  EOF: 0,
  /** TCP connect failed (refused, unreachable, not resolved, timeout). */
  CONNECT_FAILED: 1,
  /** TLS handshake failed, including certificate verification. */
  TLS_FAILED: 2,
  /** Reset or other error after connecting. */
  IO_ERROR: 3,
  /** The host dropped it because the link went down. */
  LINK_DOWN: 4,
} as const;
export type CloseReason = (typeof Close)[keyof typeof Close];

/** LED patterns (`led` import, `STAT_LED`). */
export const Led = {
  OFF: 0,
  SELF_TEST: 1,
  BOOTING: 2,
  CONNECTING: 3,
  HEALTHY: 4,
  ACTIVITY: 5,
  WARNING: 6,
  DISCONNECTED: 7,
  PANIC: 8,
} as const;
export type LedPattern = (typeof Led)[keyof typeof Led];

/** Log levels (`log` import). */
export const LogLevel = {
  ERROR: 0,
  WARN: 1,
  INFO: 2,
  DEBUG: 3,
} as const;

/** `shutdown` modes. */
export const Shutdown = {
  /** Stop renewing and close connections. */
  STOP: 0,
  /** Delete the Lease and Node this core registered, then stop. */
  CLEANUP: 1,
} as const;

/** Lifecycle phases (`STAT_PHASE`). */
export const Phase = {
  CONFIGURING: 0,
  ANCHORING: 1,
  REGISTERING: 2,
  LEASING: 3,
  RUNNING: 4,
  STOPPING: 5,
  STOPPED: 6,
  FAILED: 7,
  HANDED_OFF: 8,
  BOOTSTRAPPING: 9,
} as const;
export type PhaseCode = (typeof Phase)[keyof typeof Phase];

/** `stat` ids. */
export const Stat = {
  PHASE: 0,
  LED: 1,
  RENEWALS: 2,
  RENEW_FAILURES: 3,
  STATUS_PUSHES: 4,
  REQUESTS: 5,
  CONNECTS: 6,
  WALL_MS: 7,
  LAST_HTTP_STATUS: 8,
  CONSECUTIVE_FAILURES: 9,
  MEMORY_PRESSURE: 10,
  REGISTRATIONS: 11,
  LAST_ERROR: 12,
  RECONNECTS: 13,
  MEMORY_BYTES: 14,
  ACCEPTED: 15,
  SERVER_REQUESTS: 16,
  SERVER_REFUSED: 17,
  HOST_CALLS: 18,
  LISTEN_PORT: 19,
  RESUMED: 20,
  SENDS_DEFERRED: 21,
} as const;

/** Error codes returned by `config_write`/`start` and reported by `STAT_LAST_ERROR`. */
export const ErrorCode = {
  OK: 0,
  CONFIG_TOO_LARGE: 1,
  CONFIG_INVALID: 2,
  ALREADY_STARTED: 3,
  SNAPSHOT_TOO_LARGE: 4,
  SNAPSHOT_INVALID: 5,
  NOT_RUNNING: 6,
  HTTP_MALFORMED: 10,
  HTTP_HEAD_TOO_LARGE: 11,
  HTTP_STATUS: 12,
  JSON: 13,
  BODY_TOO_LARGE: 14,
  AUTH: 15,
  TIMEOUT: 20,
  CLOSED: 21,
  CONNECT: 22,
  LINK_DOWN: 23,
  UNSUPPORTED: 30,
  HOST_CALL_INVALID: 31,
  HOST_CALL_FAILED: 32,
  HOST_BUSY: 33,
} as const;

/** The name of a code in one of the tables above (`"RUNNING"` for `nameOf(Phase, 4)`), or `"#<n>"`. */
export function nameOf(table: Readonly<Record<string, number>>, code: number): string {
  for (const [name, value] of Object.entries(table)) if (value === code) return name;
  return `#${code}`;
}

/** The stat ids as the camelCase keys host-sim reports them under (`renewFailures` for RENEW_FAILURES). */
export const STAT_KEYS: ReadonlyArray<readonly [key: string, id: number]> = Object.entries(Stat).map(
  ([name, id]) => [name.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase()), id] as const,
);

/** The exports of a version-2 core, as raw wasm functions (i64 values are BigInt). */
export interface CoreExports {
  readonly memory: WebAssembly.Memory;
  abi_version(): number;
  io_buffer(): number;
  io_buffer_size(): number;
  config_write(len: number): number;
  start(now: bigint, seed: bigint): number;
  on_link(now: bigint, kind: number, ipv4: number, bssid: bigint, rssi: number): void;
  on_heap(now: bigint, free: number, total: number): void;
  /** Optional: the CPU time the host measured the core using, cumulative µs (older cores lack it). */
  on_cpu?(now: bigint, busyUs: bigint): void;
  on_connected(now: bigint, conn: number): void;
  on_data(now: bigint, conn: number, len: number): void;
  on_closed(now: bigint, conn: number, reason: number): void;
  on_writable(now: bigint, conn: number): void;
  on_accepted(now: bigint, conn: number, port: number, peerIpv4: number, identLen: number): void;
  on_host_result(now: bigint, req: number, status: number, len: number): void;
  snapshot_write(len: number): number;
  snapshot_take(now: bigint): number;
  snapshot_read(offset: number): number;
  on_timer(now: bigint): void;
  next_deadline(): bigint;
  shutdown(now: bigint, mode: number): void;
  stat(id: number): bigint;
  __collect(): void;
}

/** Export names a module must have to be hosted. */
export const REQUIRED_EXPORTS: ReadonlyArray<keyof CoreExports> = [
  'memory', 'abi_version', 'io_buffer', 'io_buffer_size', 'config_write', 'start', 'on_link', 'on_heap',
  'on_connected', 'on_data', 'on_closed', 'on_writable', 'on_accepted', 'on_host_result', 'on_timer', 'next_deadline',
  'shutdown', 'stat', 'snapshot_write', 'snapshot_take', 'snapshot_read', '__collect',
];

/** The host functions a core imports, with guest pointers already turned into copies. */
export interface HostFunctions {
  /** Open TLS connection `conn` to host:port and verify the server for `serverName` under `profile`. */
  connect(conn: number, host: string, port: number, serverName: string, profile: number): void;
  /** Take a copy of as many of `bytes` for `conn` as the budget allows; returns how many (-1: unknown conn). */
  send(conn: number, bytes: Uint8Array): number;
  /** Close `conn`; no further events for it. */
  close(conn: number): void;
  /** Show an LED pattern. */
  led(pattern: number): void;
  /** One log line. */
  log(level: number, line: string): void;
  /** Start host operation `op` as request `req`: 0 (a result follows) or a negative error code. */
  hostCall(req: number, op: number, arg: number, bytes: Uint8Array): number;
  /** AssemblyScript's abort (a broken invariant in the core). Must throw to trap. */
  abort(message: string, file: string, line: number, column: number): never;
}

/** Thrown when the core hands the host a pointer or length outside its memory: a bug in the core. */
export class GuestBoundsError extends Error {
  constructor(what: string, ptr: number, len: number, size: number) {
    super(`core passed ${what} [${ptr}, +${len}) outside its ${size}-byte memory`);
    this.name = 'GuestBoundsError';
  }
}

/** A view of `len` guest bytes at `ptr`, bounds-checked against the current memory (copy before keeping). */
export function guestBytes(memory: WebAssembly.Memory, ptr: number, len: number, what: string): Uint8Array {
  const size = memory.buffer.byteLength;
  if (!Number.isInteger(ptr) || !Number.isInteger(len) || ptr < 0 || len < 0 || ptr + len > size) {
    throw new GuestBoundsError(what, ptr, len, size);
  }
  return new Uint8Array(memory.buffer, ptr, len);
}

const utf8 = new TextDecoder('utf-8');
const utf16 = new TextDecoder('utf-16le');

/** UTF-8 text at (ptr, len), bounds-checked. */
export function guestUtf8(memory: WebAssembly.Memory, ptr: number, len: number, what: string): string {
  return utf8.decode(guestBytes(memory, ptr, len, what));
}

/** An AssemblyScript string (UTF-16LE, byte length as u32 at ptr - 4) for `env.abort`; "" for null. */
export function guestAsString(memory: WebAssembly.Memory, ptr: number, what: string): string {
  if (ptr === 0) return '';
  const header = guestBytes(memory, ptr - 4, 4, `${what} length`);
  const bytes = new DataView(header.buffer, header.byteOffset, 4).getUint32(0, true);
  return utf16.decode(guestBytes(memory, ptr, bytes & ~1, what));
}

/** An IPv4 dotted quad as the big-endian u32 `on_link` wants (as an i32 bit pattern). */
export function ipv4ToI32(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4) throw new Error(`not an IPv4 address: ${ip}`);
  let v = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) throw new Error(`not an IPv4 address: ${ip}`);
    v = (v << 8) | Number(p);
  }
  return v | 0;
}

/** A BSSID `aa:bb:cc:dd:ee:ff` in the low 48 bits, first octet most significant. */
export function bssidToI64(bssid: string): bigint {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(bssid)) throw new Error(`not a BSSID (aa:bb:cc:dd:ee:ff): ${bssid}`);
  return BigInt(`0x${bssid.replace(/:/g, '')}`);
}
