/** Numeric codes shared with the hosts. Every value here is part of ABI version 1 (../ABI.md). */

/** The ABI version the exports and imports implement. */
export const ABI_VERSION: i32 = 1;

/** Size of the shared byte buffer returned by io_buffer(). */
export const IO_BUFFER_SIZE: i32 = 4096;

/** Largest configuration document config_write accepts. */
export const CONFIG_MAX_BYTES: i32 = 16 * 1024;

/** Link kinds reported by on_link. */
export enum Link {
  /** No link. */
  Down = 0,
  /** Wired (W5500 on the board). */
  Ethernet = 1,
  /** Wi-Fi station. */
  WiFi = 2,
}

/** Why a connection closed (on_closed). */
export enum CloseReason {
  /** The peer closed cleanly. */
  Eof = 0,
  /** TCP connect failed. */
  ConnectFailed = 1,
  /** TLS handshake or certificate verification failed. */
  TlsFailed = 2,
  /** Reset or other error after connecting. */
  IoError = 3,
  /** The host dropped it because the link went down. */
  LinkDown = 4,
}

/** LED patterns (led import). */
export enum Led {
  Off = 0,
  SelfTest = 1,
  Booting = 2,
  Connecting = 3,
  Healthy = 4,
  Activity = 5,
  Warning = 6,
  Disconnected = 7,
  Panic = 8,
}

/** Log levels (log import). */
export enum LogLevel {
  Error = 0,
  Warn = 1,
  Info = 2,
  Debug = 3,
}

/** shutdown() modes. */
export enum Shutdown {
  /** Stop renewing and close connections. */
  Stop = 0,
  /** Delete our Lease and Node first, then stop. */
  Cleanup = 1,
}

/** Lifecycle phases (stat STAT_PHASE). */
export enum Phase {
  Configuring = 0,
  Anchoring = 1,
  Registering = 2,
  Leasing = 3,
  Running = 4,
  Stopping = 5,
  Stopped = 6,
  Failed = 7,
}

/** stat() ids. */
export enum Stat {
  Phase = 0,
  Led = 1,
  Renewals = 2,
  RenewFailures = 3,
  StatusPushes = 4,
  Requests = 5,
  Connects = 6,
  WallMs = 7,
  LastHttpStatus = 8,
  ConsecutiveFailures = 9,
  MemoryPressure = 10,
  Registrations = 11,
  LastError = 12,
  Reconnects = 13,
  MemoryBytes = 14,
}
