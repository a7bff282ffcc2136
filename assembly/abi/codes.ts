/** Numeric codes shared with the hosts. Every value here is part of ABI version 2 (../ABI.md). */

/** The ABI version the exports and imports implement. */
export const ABI_VERSION: i32 = 2;

/** Size of the shared byte buffer returned by io_buffer(). */
export const IO_BUFFER_SIZE: i32 = 4096;

/** Largest configuration document config_write accepts. */
export const CONFIG_MAX_BYTES: i32 = 16 * 1024;

/** Largest snapshot snapshot_write accepts and snapshot_take produces. */
export const SNAPSHOT_MAX_BYTES: i32 = 16 * 1024;

/** Connection ids: the core chooses 1..CONN_CORE_MAX for its own connections, hosts choose accepted ones from CONN_ACCEPTED_MIN up. */
export const CONN_CORE_MAX: i32 = 0x3fffffff;
export const CONN_ACCEPTED_MIN: i32 = 0x40000000;

/** What a connection verifies (connect's `profile`). */
export enum Profile {
  /** Verify against the cluster CA; present the node's client certificate if the host has one. */
  Cluster = 0,
  /** Verify against public CAs (the system bundle); no client certificate. */
  Public = 1,
}

/** host_call operations. */
export enum HostOp {
  /** arg = port: listen with TLS using the node's serving certificate. */
  Listen = 1,
  /** arg = slot: make an ECDSA P-256 key that never leaves the host. */
  KeyGenerate = 2,
  /** arg = slot, bytes = spec lines (CN=, O=, DNS=, IP=): the result is a PEM CSR. */
  CsrCreate = 3,
  /** arg = slot, bytes = PEM chain: use it with the slot's key from now on; the result is its validity lines. */
  CertInstall = 4,
  /** arg = slot: the validity lines (notBefore=, notAfter=) of the certificate the slot holds. */
  CertInfo = 5,
  /** arg = offset, bytes = a chunk of a brain image; completes inside host_call (docs/brain.md). */
  BrainWrite = 6,
  /** bytes = the commit line and the manifest: the host verifies and swaps (docs/brain.md). */
  BrainCommit = 7,
  /** The brain this instance is and the last rollback: lines running=, failed=, reason=, message=. */
  BrainStatus = 8,
}

/** Key slots of OP_KEY_GENERATE, OP_CSR_CREATE and OP_CERT_INSTALL. */
export enum KeySlot {
  Client = 0,
  Serving = 1,
}

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
  /** snapshot_take handed the state to another instance; this one sends nothing more. */
  HandedOff = 8,
  /** After anchoring: making sure the node has a client certificate (TLS bootstrap with a bootstrap token). */
  Bootstrapping = 9,
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
  Accepted = 15,
  ServerRequests = 16,
  ServerRefused = 17,
  HostCalls = 18,
  ListenPort = 19,
  Resumed = 20,
  SendsDeferred = 21,
}
