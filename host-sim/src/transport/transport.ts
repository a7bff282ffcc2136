// host-sim/src/transport/transport.ts
// What a node needs from a network: TLS connections by id, with their outcomes reported to a sink, a
// listener for the kubelet port (optional), plus the fault knobs the simulator exposes. Implementations: tls.ts (node:tls, the real thing) and the
// in-memory transport the tests use (tests/host-sim/support).

import type { CloseReason } from '../abi.js';

/** Where a transport reports what happened to a connection. Never called from inside `connect`/`send`/`close`. */
export interface TransportSink {
  connected(conn: number): void;
  data(conn: number, bytes: Uint8Array): void;
  closed(conn: number, reason: CloseReason): void;
  /** `conn` can take bytes again after a send took less than offered (on_writable). */
  writable?(conn: number): void;
  /** A client connected to the listener on `port` (id from CONN_ACCEPTED_MIN up); `ident` is its verified identity lines. */
  accepted?(conn: number, port: number, peerIpv4: number, ident: string): void;
}

/** The certificate the kubelet-port listener presents, and the CA client certificates are verified against. */
export interface ListenIdentity {
  key: string | Buffer | import('node:crypto').KeyObject;
  cert: string | Buffer;
  clientCa?: string | Buffer;
}

/** The client certificate chain and key PROFILE_CLUSTER connections present (the client key slot's). */
export interface ClientIdentity {
  key: string | Buffer | import('node:crypto').KeyObject;
  cert: string | Buffer;
}

/** One node's connections. */
export interface Transport {
  /** Opens connection `conn` (profile: ABI Profile); reports `connected` or `closed` later. */
  connect(conn: number, host: string, port: number, serverName: string, profile?: number): void;
  /**
   * Takes a copy of as many of `bytes` as the connection's budget allows and returns how many (-1 for an
   * unknown or closed id). When that is fewer than offered, `writable` follows once it can take more.
   */
  send(conn: number, bytes: Uint8Array): number;
  /** Listens with TLS on host:port; `done(null)` once listening, `done(reason)` if it cannot. Optional. */
  listen?(host: string, port: number, identity: ListenIdentity, done: (err: string | null) => void): void;
  /** The listener presents `identity` to connections accepted from now on (optional). */
  setListenIdentity?(identity: ListenIdentity): void;
  /**
   * PROFILE_CLUSTER connections opened from now on present `identity` (null: the configured credentials'
   * own client certificate, if any). Connections already open keep theirs. Optional.
   */
  setClientIdentity?(identity: ClientIdentity | null): void;
  /** Closes `conn` from our side; nothing more is reported for it. */
  close(conn: number): void;
  /** Stops listening (optional; the node is going away). */
  unlisten?(): void;
  /** Drops every connection silently (the link went down) and returns their ids. */
  dropAll(): number[];
  /** Fault: resets every open connection (each reported as closed with CLOSE_IO_ERROR). Returns how many. */
  reset(): number;
  /** Fault: holds every received byte for `ms` (current and new connections), then delivers it. */
  stall(ms: number): void;
  /** Fault: for `ms`, connections neither send nor receive nor finish connecting; those hit stay dead. */
  blackhole(ms: number): void;
  /** Ids of connections currently open or opening. */
  readonly open: ReadonlyArray<number>;
}

/** Makes a node's transport, given the sink it reports to. */
export type TransportFactory = (sink: TransportSink, log: (level: 'warn' | 'debug', line: string) => void) => Transport;
