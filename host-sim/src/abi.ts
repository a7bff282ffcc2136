// host-sim/src/abi.ts
// The host-sim's one mirror of the core ABI (assembly/ABI.md, version 1): codes, stat ids, phases, the
// shape of the exports and the bounds-checked reads of guest memory. Nothing else in host-sim hard-codes
// an ABI number.

/** The ABI version this host implements; a module reporting another version is refused. */
export const ABI_VERSION = 1;

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
} as const;

/** Error codes returned by `config_write`/`start` and reported by `STAT_LAST_ERROR`. */
export const ErrorCode = {
  OK: 0,
  CONFIG_TOO_LARGE: 1,
  CONFIG_INVALID: 2,
  ALREADY_STARTED: 3,
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

/** The exports of a version-1 core, as raw wasm functions (i64 values are BigInt). */
export interface CoreExports {
  readonly memory: WebAssembly.Memory;
  abi_version(): number;
  io_buffer(): number;
  io_buffer_size(): number;
  config_write(len: number): number;
  start(now: bigint, seed: bigint): number;
  on_link(now: bigint, kind: number, ipv4: number, bssid: bigint, rssi: number): void;
  on_heap(now: bigint, free: number, total: number): void;
  on_connected(now: bigint, conn: number): void;
  on_data(now: bigint, conn: number, len: number): void;
  on_closed(now: bigint, conn: number, reason: number): void;
  on_timer(now: bigint): void;
  next_deadline(): bigint;
  shutdown(now: bigint, mode: number): void;
  stat(id: number): bigint;
  __collect(): void;
}

/** Export names a module must have to be hosted. */
export const REQUIRED_EXPORTS: ReadonlyArray<keyof CoreExports> = [
  'memory', 'abi_version', 'io_buffer', 'io_buffer_size', 'config_write', 'start', 'on_link', 'on_heap',
  'on_connected', 'on_data', 'on_closed', 'on_timer', 'next_deadline', 'shutdown', 'stat', '__collect',
];

/** The host functions a core imports, with guest pointers already turned into copies. */
export interface HostFunctions {
  /** Open TLS connection `conn` to host:port and verify the server for `serverName`. */
  connect(conn: number, host: string, port: number, serverName: string): void;
  /** Queue a copy of `bytes` for `conn`. */
  send(conn: number, bytes: Uint8Array): void;
  /** Close `conn`; no further events for it. */
  close(conn: number): void;
  /** Show an LED pattern. */
  led(pattern: number): void;
  /** One log line. */
  log(level: number, line: string): void;
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
