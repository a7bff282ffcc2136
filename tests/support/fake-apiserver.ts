/**
 * A byte-level fake Kubernetes API server for deterministic simulation and fault injection.
 *
 * It models just enough of the API for a kubelet: /version, Nodes (create, get, merge patch of
 * metadata, strategic merge of status conditions and addresses by type), Leases (create, merge patch,
 * delete) with uids and resourceVersions, and a Date header from a virtual wall clock. Every behaviour
 * shown against it is also shown against the real control plane (tests/e2e). Faults are scripted per
 * request: close mid-response, never answer, garbage bytes, a given status, a huge body.
 *
 * It speaks plain bytes: the harness (core-harness.ts) moves them between it and the core's ABI.
 */

export interface ApiRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  /** Virtual monotonic ms when the request was complete. */
  at: number;
  conn: number;
}

/** What a fault does instead of (or to) the normal response. */
export type FaultAction =
  | { kind: "status"; status: number; body?: string }
  | { kind: "close" } // close the connection without answering
  | { kind: "close-mid" } // send half a response, then close
  | { kind: "silent" } // never answer
  | { kind: "garbage" } // answer with bytes that are not HTTP
  | { kind: "huge"; bytes: number } // a 200 with a body of this many bytes (chunked)
  | { kind: "no-date" }; // a normal response without the Date header

export interface Fault {
  match: (r: ApiRequest) => boolean;
  action: FaultAction;
  /** How many requests it applies to (default 1; Infinity for all). */
  times?: number;
}

/** Output of the server towards the client. */
export type ServerOutput =
  | { kind: "bytes"; data: Uint8Array }
  | { kind: "close" };

interface ConnState {
  buf: Buffer;
}

type Json = any;

export class FakeApiServer {
  nodes = new Map<string, Json>();
  leases = new Map<string, Json>();
  requests: ApiRequest[] = [];
  faults: Fault[] = [];
  /** Offset of the virtual wall clock from the harness's monotonic clock, in ms. */
  wallOffsetMs = Date.UTC(2026, 4, 2, 15, 47, 17);
  /** Alternate framing of responses: chunked on odd responses. */
  useChunked = true;
  private conns = new Map<number, ConnState>();
  private uidCounter = 0;
  private rv = 1000;
  private responses = 0;

  /** Requests matching a method and a path pattern. */
  seen(method: string, path: RegExp | string): ApiRequest[] {
    return this.requests.filter(
      (r) => r.method === method && (typeof path === "string" ? r.path === path : path.test(r.path)),
    );
  }

  fault(f: Fault): void {
    this.faults.push({ times: 1, ...f });
  }

  open(conn: number): void {
    this.conns.set(conn, { buf: Buffer.alloc(0) });
  }

  close(conn: number): void {
    this.conns.delete(conn);
  }

  /** Bytes from the client; returns what the server sends back (possibly nothing yet). */
  receive(conn: number, data: Uint8Array, now: number): ServerOutput[] {
    const c = this.conns.get(conn);
    if (!c) return [];
    c.buf = Buffer.concat([c.buf, Buffer.from(data)]);
    const out: ServerOutput[] = [];
    for (;;) {
      const end = c.buf.indexOf("\r\n\r\n");
      if (end < 0) break;
      const head = c.buf.subarray(0, end).toString("latin1");
      const lines = head.split("\r\n");
      const [method, path] = lines[0].split(" ");
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(":");
        headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
      }
      const len = Number(headers["content-length"] ?? "0");
      if (c.buf.length < end + 4 + len) break;
      const body = c.buf.subarray(end + 4, end + 4 + len).toString("utf8");
      c.buf = c.buf.subarray(end + 4 + len);
      const req: ApiRequest = { method, path, headers, body, at: now, conn };
      this.requests.push(req);
      out.push(...this.respond(req, now));
      if (out.some((o) => o.kind === "close")) break;
    }
    return out;
  }

  private respond(req: ApiRequest, now: number): ServerOutput[] {
    const fault = this.faults.find((f) => (f.times ?? 1) > 0 && f.match(req));
    if (fault) {
      fault.times = (fault.times ?? 1) - 1;
      const a = fault.action;
      switch (a.kind) {
        case "status":
          return [this.encode(a.status, a.body ?? statusBody(a.status), now)];
        case "close":
          return [{ kind: "close" }];
        case "close-mid": {
          const full = this.encode(200, '{"kind":"Status","padding":"' + "x".repeat(200) + '"}', now);
          if (full.kind !== "bytes") return [full];
          return [{ kind: "bytes", data: full.data.subarray(0, full.data.length >> 1) }, { kind: "close" }];
        }
        case "silent":
          return [];
        case "garbage":
          return [{ kind: "bytes", data: Buffer.from("\x16\x03\x01 not http at all \x00\xff\r\n\r\n") }, { kind: "close" }];
        case "huge":
          return [this.encode(200, "h".repeat(a.bytes), now, true)];
        case "no-date":
          return [this.encode(200, '{"major":"1"}', now, false, false)];
      }
    }
    const [status, body] = this.handle(req, now);
    return [this.encode(status, body === undefined ? "" : JSON.stringify(body), now)];
  }

  private encode(status: number, body: string, now: number, forceChunked = false, withDate = true): ServerOutput {
    this.responses++;
    const chunked = forceChunked || (this.useChunked && this.responses % 2 === 1);
    const date = new Date(this.wallOffsetMs + now).toUTCString();
    let head = `HTTP/1.1 ${status} ${reason(status)}\r\nAudit-Id: x\r\nCache-Control: no-cache, private\r\nContent-Type: application/json\r\n`;
    if (withDate) head += `Date: ${date}\r\n`;
    const bodyBytes = Buffer.from(body, "utf8");
    let payload: Buffer;
    if (chunked) {
      head += "Transfer-Encoding: chunked\r\n\r\n";
      const parts: Buffer[] = [Buffer.from(head, "latin1")];
      for (let i = 0; i < bodyBytes.length; i += 4000) {
        const piece = bodyBytes.subarray(i, i + 4000);
        parts.push(Buffer.from(piece.length.toString(16) + "\r\n", "latin1"), piece, Buffer.from("\r\n"));
      }
      parts.push(Buffer.from("0\r\n\r\n"));
      payload = Buffer.concat(parts);
    } else {
      head += `Content-Length: ${bodyBytes.length}\r\n\r\n`;
      payload = Buffer.concat([Buffer.from(head, "latin1"), bodyBytes]);
    }
    return { kind: "bytes", data: payload };
  }

  private uid(): string {
    this.uidCounter++;
    return `00000000-0000-4000-8000-${this.uidCounter.toString().padStart(12, "0")}`;
  }

  private handle(req: ApiRequest, now: number): [number, Json] {
    const nodeM = /^\/api\/v1\/nodes\/([^/]+)(\/status)?$/.exec(req.path);
    const leaseM = /^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/kube-node-lease\/leases(?:\/([^/]+))?$/.exec(req.path);
    if (req.method === "GET" && req.path === "/version") {
      return [200, { major: "1", minor: "36", gitVersion: "v1.36.3-fake" }];
    }
    if (req.path === "/api/v1/nodes" && req.method === "POST") {
      const n = JSON.parse(req.body);
      const name = n.metadata.name;
      if (this.nodes.has(name)) return [409, statusBody(409, `nodes "${name}" already exists`, true)];
      n.metadata.uid = this.uid();
      n.metadata.resourceVersion = String(++this.rv);
      n.metadata.managedFields = [{ manager: "picokubelet", fieldsV1: { "f:status": { "f:conditions": {} } } }];
      this.nodes.set(name, n);
      return [201, n];
    }
    if (nodeM) {
      const name = nodeM[1];
      const n = this.nodes.get(name);
      if (!n) return [404, statusBody(404, `nodes "${name}" not found`, true)];
      if (req.method === "GET") return [200, n];
      if (req.method === "DELETE") {
        this.nodes.delete(name);
        // Garbage collection of the leases it owns.
        for (const [k, l] of this.leases) {
          if ((l.metadata.ownerReferences ?? []).some((o: Json) => o.uid === n.metadata.uid)) this.leases.delete(k);
        }
        return [200, statusBody(200, "deleted", true)];
      }
      if (req.method === "PATCH") {
        const patch = JSON.parse(req.body);
        if (nodeM[2]) strategicStatus(n, patch);
        else mergePatch(n, patch);
        n.metadata.resourceVersion = String(++this.rv);
        return [200, n];
      }
    }
    if (leaseM) {
      const name = leaseM[1];
      if (!name && req.method === "POST") {
        const l = JSON.parse(req.body);
        if (this.leases.has(l.metadata.name)) return [409, statusBody(409, "already exists", true)];
        l.metadata.uid = this.uid();
        l.metadata.resourceVersion = String(++this.rv);
        this.leases.set(l.metadata.name, l);
        return [201, l];
      }
      const l = name ? this.leases.get(name) : undefined;
      if (!l) return [404, statusBody(404, `leases.coordination.k8s.io "${name}" not found`, true)];
      if (req.method === "GET") return [200, l];
      if (req.method === "PATCH") {
        mergePatch(l, JSON.parse(req.body));
        l.metadata.resourceVersion = String(++this.rv);
        return [200, l];
      }
      if (req.method === "DELETE") {
        this.leases.delete(name!);
        return [200, statusBody(200, "deleted", true)];
      }
    }
    return [404, statusBody(404, "not found", true)];
  }
}

function reason(s: number): string {
  return ({ 200: "OK", 201: "Created", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict", 500: "Internal Server Error", 503: "Service Unavailable" } as Record<number, string>)[s] ?? "Status";
}

function statusBody(code: number, message?: string, asObject = false): any {
  const s = { kind: "Status", apiVersion: "v1", status: code < 400 ? "Success" : "Failure", message: message ?? `fake ${code}`, code };
  return asObject ? s : JSON.stringify(s);
}

/** RFC 7396 merge patch. */
export function mergePatch(target: any, patch: any): void {
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete target[k];
    else if (typeof v === "object" && !Array.isArray(v) && typeof target[k] === "object" && target[k] && !Array.isArray(target[k])) mergePatch(target[k], v);
    else target[k] = v;
  }
}

/** The strategic merge the API server applies to node status: conditions and addresses merge by type. */
function strategicStatus(node: any, patch: any): void {
  const st = patch.status ?? {};
  node.status ??= {};
  for (const [k, v] of Object.entries(st)) {
    if (k === "conditions" || k === "addresses") {
      const list: any[] = node.status[k] ?? [];
      for (const item of v as any[]) {
        const i = list.findIndex((x) => x.type === item.type);
        if (i >= 0) list[i] = { ...list[i], ...item };
        else list.push(item);
      }
      node.status[k] = list;
    } else {
      node.status[k] = v;
    }
  }
}
