// tests/host-sim/support/fake-apiserver.ts
// A small, scripted stand-in for kube-apiserver, for fast deterministic host-sim tests only (everything
// shown against it is also shown against the real control plane in rack-cluster.test.ts). It speaks
// HTTP/1.1 with keep-alive and Content-Length, keeps Nodes and Leases in maps, and serves over TLS on
// 127.0.0.1 (FakeApi.listen) or in memory through a Transport (memoryTransport), with hooks that hold
// or drop responses.
import crypto from 'node:crypto';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { Close } from '../../../host-sim/src/abi.js';
import type { TimerService } from '../../../host-sim/src/timers.js';
import type { Transport, TransportFactory, TransportSink } from '../../../host-sim/src/transport/transport.js';

export interface FakeRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

export interface FakeApiOptions {
  /** Require `Authorization: Bearer <token>` (otherwise anyone is admitted). */
  token?: string;
  /** Pad Node responses with this many bytes of filler (real Nodes are several KiB). */
  nodePadding?: number;
}

const LEASES = '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases';

/** The API state and the HTTP handling, independent of how bytes arrive. */
export class FakeApi {
  readonly requests: FakeRequest[] = [];
  readonly nodes = new Map<string, Record<string, unknown>>();
  readonly leases = new Map<string, Record<string, unknown>>();
  private rv = 1;

  constructor(readonly opts: FakeApiOptions = {}) {}

  /** Requests whose `method path` matches. */
  count(method: string, pathPrefix: string): number {
    return this.requests.filter((r) => r.method === method && r.path.startsWith(pathPrefix)).length;
  }

  /** Answers one request (status, JSON body). */
  handle(req: FakeRequest): { status: number; body: unknown } {
    this.requests.push(req);
    if (this.opts.token && req.headers.authorization !== `Bearer ${this.opts.token}`) {
      return { status: 401, body: status(401, 'Unauthorized') };
    }
    const p = req.path.split('?')[0];
    if (req.method === 'GET' && p === '/version') return { status: 200, body: { major: '1', minor: '36', gitVersion: 'v1.36.3-fake' } };
    if (p === '/api/v1/nodes' && req.method === 'POST') return this.create(this.nodes, req, 'Node');
    if (p === LEASES && req.method === 'POST') return this.create(this.leases, req, 'Lease');
    let m = /^\/api\/v1\/nodes\/([^/]+)(\/status)?$/.exec(p);
    if (m) return this.item(this.nodes, decodeURIComponent(m[1]), req, 'Node');
    m = new RegExp(`^${LEASES.replace(/\//g, '\\/')}\\/([^/]+)$`).exec(p);
    if (m) return this.item(this.leases, decodeURIComponent(m[1]), req, 'Lease');
    return { status: 404, body: status(404, 'NotFound') };
  }

  private create(store: Map<string, Record<string, unknown>>, req: FakeRequest, kind: string): { status: number; body: unknown } {
    const obj = JSON.parse(req.body) as { metadata: { name: string } } & Record<string, unknown>;
    const name = obj.metadata.name;
    if (store.has(name)) return { status: 409, body: status(409, 'AlreadyExists') };
    const stored = { ...obj, metadata: { ...obj.metadata, uid: crypto.randomUUID(), resourceVersion: String(this.rv++) } };
    store.set(name, stored);
    return { status: 201, body: this.shape(stored, kind) };
  }

  private item(store: Map<string, Record<string, unknown>>, name: string, req: FakeRequest, kind: string): { status: number; body: unknown } {
    const obj = store.get(name);
    if (!obj) return { status: 404, body: status(404, 'NotFound') };
    if (req.method === 'GET') return { status: 200, body: this.shape(obj, kind) };
    if (req.method === 'DELETE') {
      store.delete(name);
      return { status: 200, body: status(200, 'Success') };
    }
    if (req.method === 'PATCH' || req.method === 'PUT') {
      const patch = JSON.parse(req.body || '{}') as Record<string, unknown>;
      const merged = mergePatch(obj, patch);
      (merged.metadata as Record<string, unknown>).resourceVersion = String(this.rv++);
      store.set(name, merged);
      return { status: 200, body: this.shape(merged, kind) };
    }
    return { status: 405, body: status(405, 'MethodNotAllowed') };
  }

  private shape(obj: Record<string, unknown>, kind: string): unknown {
    if (kind !== 'Node' || !this.opts.nodePadding) return obj;
    const md = obj.metadata as Record<string, unknown>;
    return { ...obj, metadata: { ...md, managedFields: [{ manager: 'fake', filler: 'x'.repeat(this.opts.nodePadding) }] } };
  }
}

function status(code: number, reason: string): unknown {
  return { kind: 'Status', apiVersion: 'v1', status: code < 300 ? 'Success' : 'Failure', reason, code };
}

function mergePatch(target: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...target };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else if (typeof v === 'object' && !Array.isArray(v) && typeof out[k] === 'object' && out[k] !== null && !Array.isArray(out[k])) {
      out[k] = mergePatch(out[k] as Record<string, unknown>, v as Record<string, unknown>);
    } else out[k] = v;
  }
  return out;
}

/** Incremental HTTP/1.1 request framing for one connection (Content-Length bodies). */
export class RequestFramer {
  private buf = Buffer.alloc(0);

  /** Feeds bytes; returns every request completed by them. */
  feed(bytes: Uint8Array): FakeRequest[] {
    this.buf = Buffer.concat([this.buf, bytes]);
    const out: FakeRequest[] = [];
    for (;;) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return out;
      const head = this.buf.subarray(0, end).toString('latin1').split('\r\n');
      const [method, path] = head[0].split(' ');
      const headers: Record<string, string> = {};
      for (const h of head.slice(1)) {
        const i = h.indexOf(':');
        headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
      }
      const len = Number(headers['content-length'] ?? 0);
      if (this.buf.length < end + 4 + len) return out;
      const body = this.buf.subarray(end + 4, end + 4 + len).toString('utf8');
      this.buf = this.buf.subarray(end + 4 + len);
      out.push({ method, path, headers, body });
    }
  }
}

/** The bytes of one HTTP/1.1 response with a Date header. */
export function responseBytes(statusCode: number, body: unknown): Buffer {
  const text = JSON.stringify(body);
  const head = [
    `HTTP/1.1 ${statusCode} ${statusCode < 300 ? 'OK' : 'Error'}`,
    `Date: ${new Date().toUTCString()}`,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(text)}`,
    '',
    '',
  ].join('\r\n');
  return Buffer.concat([Buffer.from(head, 'latin1'), Buffer.from(text)]);
}

/** What to do with a response: send it, hold it for ms, or drop the connection. */
export type ResponseHook = (req: FakeRequest) => 'send' | 'drop' | { holdMs: number };

/** A TLS listener on 127.0.0.1 serving a FakeApi. */
export interface FakeTlsServer {
  port: number;
  url: string;
  /** Connections accepted so far. */
  connections: number;
  /** Largest single write of a response, bytes. */
  close(): Promise<void>;
}

export async function listenTls(
  api: FakeApi,
  opts: { cert: string; key: string; ca?: string; requestCert?: boolean; hook?: ResponseHook },
): Promise<FakeTlsServer> {
  const sockets = new Set<tls.TLSSocket>();
  const state = { connections: 0 };
  const server = tls.createServer(
    { cert: opts.cert, key: opts.key, ca: opts.ca, requestCert: opts.requestCert ?? false, rejectUnauthorized: opts.requestCert ?? false },
    (sock) => {
      state.connections++;
      sockets.add(sock);
      sock.on('close', () => sockets.delete(sock));
      sock.on('error', () => sock.destroy());
      const framer = new RequestFramer();
      sock.on('data', (d: Buffer) => {
        for (const req of framer.feed(d)) {
          const verdict = opts.hook?.(req) ?? 'send';
          if (verdict === 'drop') {
            api.requests.push(req);
            sock.destroy();
            return;
          }
          const r = api.handle(req);
          const bytes = responseBytes(r.status, r.body);
          if (verdict === 'send') sock.write(bytes);
          else setTimeout(() => !sock.destroyed && sock.write(bytes), verdict.holdMs);
        }
      });
    },
  );
  server.on('tlsClientError', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `https://127.0.0.1:${port}`,
    get connections() {
      return state.connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/**
 * A Transport that talks to a FakeApi in memory, answering after `latencyMs` on the node's timers, so a
 * ManualTimers test runs hours of renewals in milliseconds. `connectFailsSync` reports every connect as
 * failed from inside `connect` itself (a transport that breaks the contract, to test the node's queue).
 */
export function memoryTransport(
  api: FakeApi,
  timers: TimerService,
  opts: { latencyMs?: number; connectFailsSync?: boolean; chunk?: number } = {},
): TransportFactory & { sentBytes: () => number } {
  let sent = 0;
  const factory = (sink: TransportSink): Transport => {
    const conns = new Map<number, RequestFramer>();
    const lat = opts.latencyMs ?? 1;
    const later = (fn: () => void): void => void timers.at(timers.now() + lat, fn);
    return {
      get open() {
        return [...conns.keys()];
      },
      connect(conn) {
        if (opts.connectFailsSync) {
          sink.closed(conn, Close.CONNECT_FAILED);
          return;
        }
        conns.set(conn, new RequestFramer());
        later(() => conns.has(conn) && sink.connected(conn));
      },
      send(conn, bytes) {
        const framer = conns.get(conn);
        if (!framer) return;
        for (const req of framer.feed(bytes)) {
          const r = api.handle(req);
          const out = responseBytes(r.status, r.body);
          sent += out.length;
          later(() => conns.has(conn) && sink.data(conn, out));
        }
      },
      close(conn) {
        conns.delete(conn);
      },
      dropAll() {
        const ids = [...conns.keys()];
        conns.clear();
        return ids;
      },
      reset() {
        const ids = [...conns.keys()];
        conns.clear();
        for (const id of ids) later(() => sink.closed(id, Close.IO_ERROR));
        return ids.length;
      },
      stall() {},
      blackhole() {},
    };
  };
  return Object.assign(factory, { sentBytes: () => sent });
}
