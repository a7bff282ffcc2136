// host-sim/src/transport/tls.ts
// node:tls connections, one socket per `conn` the core asks for. The server certificate is verified
// against the cluster CA for the server name the core passes (an IP literal must match an IP SAN);
// client certificates come from the host's credentials (PROFILE_PUBLIC connections, for registries,
// verify against the system roots plus --registry-ca and present none), or, once the node holds one in its client key slot (TLS bootstrap,
// rotation), that certificate: setClientIdentity makes a new SecureContext for connections opened after
// it (open ones keep theirs). Each connection may hold at most SEND_BUDGET_BYTES unwritten: a send
// beyond that takes only what fits and `writable` follows on the socket's drain (ABI v2 flow control).
// The listener (kubelet port) accepts TLS connections with ids from CONN_ACCEPTED_MIN up and verifies a
// client certificate, when one is presented, against the listener's client CA. Socket callbacks become
// sink calls, which the node queues: nothing here ever calls into the core.
import net from 'node:net';
import tls from 'node:tls';
import { CONN_ACCEPTED_MIN, Close, CloseReason, Profile, ipv4ToI32 } from '../abi.js';
import type { TimerService } from '../timers.js';
import type { ClientIdentity, ListenIdentity, Transport, TransportFactory, TransportSink } from './transport.js';

/** Unwritten bytes one connection may hold (the firmware's net_tls has the same budget). */
export const SEND_BUDGET_BYTES = 64 * 1024;

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
  /** A send took less than offered: report `writable` on the next drain. */
  wantWritable: boolean;
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

/** PROFILE_PUBLIC contexts by extra CA ('' for none), shared by every node of a process. */
const publicContexts = new Map<string, tls.SecureContext>();

/**
 * The system roots plus `extraCa` (a registry's own CA, --registry-ca), no client certificate
 * (PROFILE_PUBLIC). Giving `ca` replaces node's default roots, hence tls.rootCertificates with it.
 */
export function publicSecureContext(extraCa?: string | Buffer): tls.SecureContext {
  const key = extraCa === undefined ? '' : extraCa.toString();
  let ctx = publicContexts.get(key);
  if (!ctx) {
    ctx = tls.createSecureContext(key === '' ? { minVersion: 'TLSv1.2' } : { ca: [...tls.rootCertificates, key], minVersion: 'TLSv1.2' });
    publicContexts.set(key, ctx);
  }
  return ctx;
}

/** What PROFILE_PUBLIC connections trust besides the system roots. */
export interface PublicTrust {
  /** A CA bundle (PEM) registries are verified against too (--registry-ca). */
  registryCa?: string | Buffer;
}

/** A TransportFactory over node:tls with the given settings and timers. */
export function tlsTransport(settings: TlsSettings, timers: TimerService, trust: PublicTrust = {}): TransportFactory {
  const secureContext = secureContextOf(settings);
  const publicContext = publicSecureContext(trust.registryCa);
  return (sink, log) => new TlsTransport(settings, secureContext, publicContext, timers, sink, log);
}

class TlsTransport implements Transport {
  private conns = new Map<number, Conn>();
  private stallUntil = 0;
  private blackholeUntil = 0;
  private servers: tls.Server[] = [];
  private nextAccepted = CONN_ACCEPTED_MIN;

  /** The configured credentials' context (shared by a rack); replaced by a client slot's own. */
  private readonly configuredContext: tls.SecureContext;

  constructor(
    private readonly settings: TlsSettings,
    private secureContext: tls.SecureContext,
    private readonly publicContext: tls.SecureContext,
    private readonly timers: TimerService,
    private readonly sink: TransportSink,
    private readonly log: (level: 'warn' | 'debug', line: string) => void,
  ) {
    this.configuredContext = secureContext;
  }

  setClientIdentity(identity: ClientIdentity | null): void {
    this.secureContext = identity === null ? this.configuredContext : tls.createSecureContext({
      ca: this.settings.ca,
      cert: identity.cert,
      key: identity.key as tls.SecureContextOptions['key'],
      minVersion: 'TLSv1.2',
    });
  }

  get open(): number[] {
    return [...this.conns.keys()];
  }

  connect(id: number, host: string, port: number, serverName: string, profile: number = Profile.CLUSTER): void {
    const c: Conn = { id, socket: null, state: 'tcp', dead: false, done: false, wantWritable: false };
    this.conns.set(id, c);
    if (this.timers.now() < this.blackholeUntil) {
      // The SYN goes nowhere: no socket, no event, until the core gives up and closes it.
      c.dead = true;
      return;
    }
    const pub = profile === Profile.PUBLIC;
    const insecure = !pub && this.settings.insecure === true;
    const socket = tls.connect({
      host,
      port,
      secureContext: pub ? this.publicContext : this.secureContext,
      // SNI must not carry an IP literal (RFC 6066 §3); verification below still uses the IP.
      servername: net.isIP(serverName) ? undefined : serverName,
      rejectUnauthorized: !insecure,
      checkServerIdentity: (_host, cert) => tls.checkServerIdentity(serverName, cert),
      ALPNProtocols: ['http/1.1'],
    });
    c.socket = socket;
    this.watchDrain(c, socket);
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

  send(id: number, bytes: Uint8Array): number {
    const c = this.conns.get(id);
    if (!c || c.done) return -1;
    // A black-holed connection swallows everything, as a dead peer's socket buffer would.
    if (c.dead || c.socket === null) return bytes.length;
    const room = Math.max(0, SEND_BUDGET_BYTES - c.socket.writableLength);
    const n = Math.min(room, bytes.length);
    if (n > 0) c.socket.write(Buffer.from(bytes.subarray(0, n)));
    if (n < bytes.length) c.wantWritable = true;
    return n;
  }

  listen(host: string, port: number, identity: ListenIdentity, done: (err: string | null) => void): void {
    const server = tls.createServer({
      key: identity.key as tls.SecureContextOptions['key'],
      cert: identity.cert,
      ca: identity.clientCa,
      requestCert: identity.clientCa !== undefined,
      // An anonymous client is served too (ident_len 0); a certificate that does not verify is not an identity.
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
      ALPNProtocols: ['http/1.1'],
    });
    let listening = false;
    server.on('error', (err: NodeJS.ErrnoException) => {
      if (!listening) done(`${err.message}${err.code ? ` (${err.code})` : ''}`);
      else this.log('warn', `kubelet port ${host}:${port}: ${err.message}`);
    });
    server.on('tlsClientError', (err) => this.log('debug', `kubelet port ${host}:${port}: TLS handshake failed: ${err.message}`));
    server.on('secureConnection', (socket) => this.accept(socket, port));
    server.listen(port, host, () => {
      listening = true;
      this.servers.push(server);
      done(null);
    });
  }

  setListenIdentity(identity: ListenIdentity): void {
    for (const server of this.servers) {
      server.setSecureContext({ key: identity.key as tls.SecureContextOptions['key'], cert: identity.cert, ca: identity.clientCa, minVersion: 'TLSv1.2' });
    }
  }

  private accept(socket: tls.TLSSocket, port: number): void {
    const id = this.nextAccepted;
    this.nextAccepted = this.nextAccepted >= 0x7fff_fff0 ? CONN_ACCEPTED_MIN : this.nextAccepted + 1;
    const c: Conn = { id, socket, state: 'open', dead: false, done: false, wantWritable: false };
    this.conns.set(id, c);
    this.watchDrain(c, socket);
    socket.setNoDelay(true);
    let ident = '';
    if (socket.authorized) {
      const subject = socket.getPeerCertificate().subject as unknown as Record<string, string | string[]> | undefined;
      const cn = subject?.CN;
      const orgs = subject?.O === undefined ? [] : Array.isArray(subject.O) ? subject.O : [subject.O];
      ident = (cn ? `CN=${Array.isArray(cn) ? cn[0] : cn}\n` : '') + orgs.map((o) => `O=${o}\n`).join('');
    }
    const peer = socket.remoteAddress ?? '';
    const v4 = net.isIPv4(peer) ? peer : peer.startsWith('::ffff:') && net.isIPv4(peer.slice(7)) ? peer.slice(7) : '0.0.0.0';
    socket.on('data', (buf: Buffer) => {
      if (!c.done && !c.dead) this.sink.data(id, buf);
    });
    socket.on('error', () => this.finish(c, Close.IO_ERROR));
    socket.on('close', () => this.finish(c, Close.EOF));
    if (this.timers.now() < this.stallUntil) socket.pause();
    this.sink.accepted?.(id, port, ipv4ToI32(v4), ident);
  }

  private watchDrain(c: Conn, socket: tls.TLSSocket): void {
    socket.on('drain', () => {
      if (!c.wantWritable || c.done || c.dead) return;
      c.wantWritable = false;
      this.sink.writable?.(c.id);
    });
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

  /** Stops listening (the node stops). */
  unlisten(): void {
    for (const s of this.servers) s.close();
    this.servers = [];
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
