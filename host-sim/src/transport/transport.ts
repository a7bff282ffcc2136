// host-sim/src/transport/transport.ts
// What a node needs from a network: TLS connections by id, with their outcomes reported to a sink, plus
// the fault knobs the simulator exposes. Implementations: tls.ts (node:tls, the real thing) and the
// in-memory transport the tests use (tests/host-sim/support).

import type { CloseReason } from '../abi.js';

/** Where a transport reports what happened to a connection. Never called from inside `connect`/`send`/`close`. */
export interface TransportSink {
  connected(conn: number): void;
  data(conn: number, bytes: Uint8Array): void;
  closed(conn: number, reason: CloseReason): void;
}

/** One node's connections. */
export interface Transport {
  /** Opens connection `conn`; reports `connected` or `closed` later. */
  connect(conn: number, host: string, port: number, serverName: string): void;
  /** Queues a copy of `bytes`; unknown or closed ids are ignored. */
  send(conn: number, bytes: Uint8Array): void;
  /** Closes `conn` from our side; nothing more is reported for it. */
  close(conn: number): void;
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
