// host-sim/src/transport/tls.ts
// node:tls connections, one socket per `conn` the core asks for. The server certificate is verified
// against the cluster CA for the server name the core passes (an IP literal must match an IP SAN);
// client certificates come from the host's credentials. Socket callbacks become sink calls, which the
// node queues: nothing here ever calls into the core.
import net from 'node:net';
import tls from 'node:tls';
import { Close, CloseReason } from '../abi.js';
import type { TimerService } from '../timers.js';
import type { Transport, TransportFactory, TransportSink } from './transport.js';

/** What a TLS transport needs to know: trust, client identity, and whether verification is off. */
export interface TlsSettings {
  /** Cluster CA bundle (PEM); undefined means the system roots. */
  ca?: string | Buffer;
  /** Client certificate chain and key (PEM), when the kubeconfig uses one. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** The kubeconfig says insecure-skip-tls-verify: accept any server certificate. */
  insecure?: boolean;
  /** TCP connect plus TLS handshake must finish within this (ms). */
  connectTimeoutMs?: number;
}

type State = 'tcp' | 'tls' | 'open';

interface Conn {
  id: number;
  socket: tls.TLSSocket | null;
  state: State;
  /** Black-holed: nothing in, nothing out, never reported again. */
  dead: boolean;
  done: boolean;
}

/** One shared SecureContext per distinct credential set keeps a rack's memory down. */
const contexts = new WeakMap<TlsSettings, tls.SecureContext>();

function secureContextOf(s: TlsSettings): tls.SecureContext {
  let ctx = contexts.get(s);
  if (!ctx) {
    ctx = tls.createSecureContext({ ca: s.ca, cert: s.cert, key: s.key, minVersion: 'TLSv1.2' });
    contexts.set(s, ctx);
  }
  return ctx;
}

/** A TransportFactory over node:tls with the given settings and timers. */
export function tlsTransport(settings: TlsSettings, timers: TimerService): TransportFactory {
  const secureContext = secureContextOf(settings);
  return (sink, log) => new TlsTransport(settings, secureContext, timers, sink, log);
}

class TlsTransport implements Transport {
  private conns = new Map<number, Conn>();
  private stallUntil = 0;
  private blackholeUntil = 0;

  constructor(
    private readonly settings: TlsSettings,
    private readonly secureContext: tls.SecureContext,
    private readonly timers: TimerService,
    private readonly sink: TransportSink,
    private readonly log: (level: 'warn' | 'debug', line: string) => void,
  ) {}

  get open(): number[] {
    return [...this.conns.keys()];
  }

  connect(id: number, host: string, port: number, serverName: string): void {
    const c: Conn = { id, socket: null, state: 'tcp', dead: false, done: false };
    this.conns.set(id, c);
    if (this.timers.now() < this.blackholeUntil) {
      // The SYN goes nowhere: no socket, no event, until the core gives up and closes it.
      c.dead = true;
      return;
    }
    const insecure = this.settings.insecure === true;
    const socket = tls.connect({
      host,
      port,
      secureContext: this.secureContext,
      // SNI must not carry an IP literal (RFC 6066 §3); verification below still uses the IP.
      servername: net.isIP(serverName) ? undefined : serverName,
      rejectUnauthorized: !insecure,
      checkServerIdentity: (_host, cert) => tls.checkServerIdentity(serverName, cert),
      ALPNProtocols: ['http/1.1'],
    });
    c.socket = socket;
    socket.setNoDelay(true);
    socket.setTimeout(this.settings.connectTimeoutMs ?? 10_000);
    socket.once('connect', () => {
      if (c.state === 'tcp') c.state = 'tls';
    });
    socket.once('secureConnect', () => {
      socket.setTimeout(0);
      c.state = 'open';
      if (this.timers.now() < this.stallUntil) socket.pause();
      if (!c.done && !c.dead) this.sink.connected(id);
    });
    socket.on('data', (buf: Buffer) => {
      if (!c.done && !c.dead) this.sink.data(id, buf);
    });
    socket.on('timeout', () => {
      if (c.done || c.dead) return;
      const what = c.state === 'tcp' ? 'TCP connect' : 'TLS handshake';
      this.log('warn', `${what} to ${host}:${port} timed out`);
      this.finish(c, c.state === 'tcp' ? Close.CONNECT_FAILED : Close.TLS_FAILED);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (c.done || c.dead) return;
      const reason = c.state === 'tcp' ? Close.CONNECT_FAILED : c.state === 'tls' ? Close.TLS_FAILED : Close.IO_ERROR;
      const code = err.code ? ` (${err.code})` : '';
      const stage = reason === Close.CONNECT_FAILED ? 'TCP connect' : reason === Close.TLS_FAILED ? 'TLS verification/handshake' : 'connection';
      this.log(reason === Close.IO_ERROR ? 'debug' : 'warn', `${stage} to ${host}:${port} (server name ${serverName}) failed: ${err.message}${code}`);
      this.finish(c, reason);
    });
    socket.on('close', () => {
      if (c.done || c.dead) return;
      // A close without an error: the peer hung up (after TLS), or gave up during the handshake.
      this.finish(c, c.state === 'open' ? Close.EOF : c.state === 'tls' ? Close.TLS_FAILED : Close.CONNECT_FAILED);
    });
  }

  send(id: number, bytes: Uint8Array): void {
    const c = this.conns.get(id);
    if (!c || c.done || c.dead || c.socket === null) return;
    c.socket.write(bytes);
  }

  close(id: number): void {
    const c = this.conns.get(id);
    if (!c) return;
    c.done = true;
    this.conns.delete(id);
    const s = c.socket;
    if (s === null) return;
    if (c.state === 'open' && !c.dead) {
      // Polite close (close_notify and FIN), bounded; the socket is forgotten either way.
      s.end();
      s.setTimeout(2_000, () => s.destroy());
    } else {
      s.destroy();
    }
  }

  dropAll(): number[] {
    const ids = [...this.conns.keys()];
    for (const c of this.conns.values()) {
      c.done = true;
      c.socket?.destroy();
    }
    this.conns.clear();
    return ids;
  }

  reset(): number {
    let n = 0;
    for (const c of [...this.conns.values()]) {
      if (c.dead) continue;
      n++;
      c.socket?.destroy();
      this.finish(c, Close.IO_ERROR);
    }
    return n;
  }

  stall(ms: number): void {
    const until = this.timers.now() + ms;
    this.stallUntil = Math.max(this.stallUntil, until);
    for (const c of this.conns.values()) if (c.state === 'open') c.socket?.pause();
    this.timers.at(until, () => {
      if (this.timers.now() < this.stallUntil) return;
      for (const c of this.conns.values()) if (!c.dead && c.state === 'open') c.socket?.resume();
    });
  }

  blackhole(ms: number): void {
    this.blackholeUntil = Math.max(this.blackholeUntil, this.timers.now() + ms);
    for (const c of this.conns.values()) {
      c.dead = true;
      c.socket?.pause();
    }
  }

  /** Reports `conn` closed once and forgets it. */
  private finish(c: Conn, reason: CloseReason): void {
    if (c.done) return;
    c.done = true;
    this.conns.delete(c.id);
    c.socket?.destroy();
    if (!c.dead) this.sink.closed(c.id, reason);
  }
}
