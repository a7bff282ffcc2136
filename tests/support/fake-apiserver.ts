/**
 * The one fake Kubernetes API server of the test suites, for deterministic simulation and fault injection.
 *
 * It models just enough of the API for a kubelet: /version, Nodes (create, get, merge patch of
 * metadata, strategic merge of status conditions and addresses by type, delete with garbage collection
 * of the Leases the Node owns), Leases (create, merge patch, delete) with uids and resourceVersions, an
 * optional bearer token, and a Date header. Every behaviour shown against it is also shown against the
 * real control plane (tests/e2e, tests/host-sim/rack-cluster.test.ts). Faults are scripted per request:
 * close mid-response, never answer, garbage bytes, a given status, a huge body.
 *
 * It speaks plain bytes, and three carriers move them:
 * - the core harness (core-harness.ts) feeds `receive` from the core's ABI in virtual time; the Date
 *   header follows the virtual wall clock (`wallOffsetMs` + virtual now) and responses alternate
 *   between chunked and Content-Length framing, so both decoders are exercised;
 * - `listenTls` serves it over TLS on 127.0.0.1 to host-sim nodes in real time (real Date, Content-Length);
 * - `memoryTransport` plugs it into host-sim as a Transport on the node's own timers.
 */
import tls from "node:tls";
import type { AddressInfo } from "node:net";
import { Close } from "../../host-sim/src/abi.js";
import type { TimerService } from "../../host-sim/src/timers.js";
import type { Transport, TransportFactory, TransportSink } from "../../host-sim/src/transport/transport.js";

export interface ApiRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
  /** Monotonic ms (the carrier's clock) when the request was complete. */
  at: number;
  conn: number;
}

export interface FakeApiOptions {
  /** Require `Authorization: Bearer <token>`; anything else gets 401 (default: everyone is admitted). */
  token?: string;
  /** Pad Node responses with this many bytes of managedFields filler (real Nodes are several KiB). */
  nodePadding?: number;
  /** false: no server-side WatchList, like a v1.31 API server (sendInitialEvents is refused with 422). */
  watchList?: boolean;
}

/** How one response is framed and dated (the carrier decides). */
export interface ResponseContext {
  /** Monotonic ms of the carrier. */
  now: number;
  /** The Date header's instant, epoch ms (default: `wallOffsetMs + now`, the virtual wall clock). */
  wallMs?: number;
  /** false: always Content-Length (default: follow `useChunked`). */
  mayChunk?: boolean;
}

/** What a fault does instead of (or to) the normal response. */
export type FaultAction =
  | { kind: "status"; status: number; body?: string; retryAfter?: number } // retryAfter: a Retry-After header (seconds)
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

type Json = any;

const LEASES = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";

export class FakeApiServer {
  nodes = new Map<string, Json>();
  leases = new Map<string, Json>();
  /** Pods by `namespace/name`. */
  pods = new Map<string, Json>();
  /** Open pod watches: connection -> the node name they select. */
  watches = new Map<number, string>();
  /** Open node watches: connection -> the name of the Node they select. */
  nodeWatches = new Map<number, string>();
  /** How a carrier sends bytes the server produces later (watch events); set by the carrier. */
  onPush: ((conn: number, out: ServerOutput[]) => void) | null = null;
  requests: ApiRequest[] = [];
  faults: Fault[] = [];
  /** CertificateSigningRequests by name (certificates.k8s.io/v1). */
  csrs = new Map<string, Json>();
  /** Called when a CSR is created: the test's approver and signer (edit `csr.status`; default: it stays pending). */
  onCsr: ((csr: Json) => void) | null = null;
  /** Answers a CSR GET instead of the stored object (garbage tests); null: the normal answer. */
  /** When set, a request it refuses gets 401 (a test's model of client-certificate and token authentication). */
  authenticate: ((req: ApiRequest) => boolean) | null = null;
  csrAnswer: ((csr: Json | undefined, req: ApiRequest) => [number, string] | null) | null = null;
  private csrSeq = 0;
  /** Offset of the virtual wall clock from the harness's monotonic clock, in ms. */
  wallOffsetMs = Date.UTC(2026, 4, 2, 15, 47, 17);
  /** Alternate framing of responses: chunked on odd responses. */
  useChunked = true;
  private conns = new Map<number, RequestFramer>();
  private uidCounter = 0;
  private rv = 1000;
  private responses = 0;

  constructor(readonly opts: FakeApiOptions = {}) {}

  /** Requests matching a method and a path pattern. */
  seen(method: string, path: RegExp | string): ApiRequest[] {
    return this.requests.filter(
      (r) => r.method === method && (typeof path === "string" ? r.path === path : path.test(r.path)),
    );
  }

  /** How many requests had this method and a path starting with `pathPrefix`. */
  count(method: string, pathPrefix: string): number {
    return this.requests.filter((r) => r.method === method && r.path.startsWith(pathPrefix)).length;
  }

  fault(f: Fault): void {
    this.faults.push({ times: 1, ...f });
  }

  open(conn: number): void {
    this.conns.set(conn, new RequestFramer());
  }

  close(conn: number): void {
    this.conns.delete(conn);
    this.watches.delete(conn);
    this.nodeWatches.delete(conn);
  }

  /** Changes a Node as someone else would (an admin's patch, the node lifecycle controller) and tells its watches. */
  editNode(name: string, edit: (n: Json) => void): Json {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`no node ${name}`);
    edit(n);
    n.metadata.resourceVersion = String(++this.rv);
    this.tellNode("MODIFIED", n);
    return n;
  }

  /** Deletes a Node as `kubectl delete node` does (its Leases are garbage-collected) and tells its watches. */
  deleteNode(name: string): void {
    const n = this.nodes.get(name);
    if (!n) return;
    this.nodes.delete(name);
    for (const [k, l] of this.leases) {
      if ((l.metadata.ownerReferences ?? []).some((o: Json) => o.uid === n.metadata.uid)) this.leases.delete(k);
    }
    n.metadata.resourceVersion = String(++this.rv);
    this.tellNode("DELETED", n);
  }

  private tellNode(type: string, n: Json): void {
    for (const [conn, name] of this.nodeWatches) {
      if (n.metadata.name === name) this.onPush?.(conn, [chunk(JSON.stringify({ type, object: this.shapeNode(n) }) + "\n")]);
    }
  }

  /** Creates a pod (as the scheduler would have bound it: spec.nodeName set) and tells the watches. */
  addPod(pod: Json): Json {
    pod.apiVersion ??= "v1";
    pod.kind ??= "Pod";
    pod.metadata.namespace ??= "default";
    pod.metadata.uid ??= this.uid();
    pod.metadata.creationTimestamp ??= new Date(this.wallOffsetMs).toISOString().replace(/\.\d+Z$/, "Z");
    pod.spec ??= {};
    pod.spec.restartPolicy ??= "Always";
    pod.status ??= { phase: "Pending" };
    pod.metadata.resourceVersion = String(++this.rv);
    this.pods.set(`${pod.metadata.namespace}/${pod.metadata.name}`, pod);
    this.tell("ADDED", pod);
    return pod;
  }

  /** Graceful delete as the API server does it: deletionTimestamp (and grace) set, unless grace is 0 or the pod is unbound. */
  deletePod(ns: string, name: string, graceSeconds?: number): void {
    const pod = this.pods.get(`${ns}/${name}`);
    if (!pod) return;
    const grace = graceSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30;
    if (grace === 0 || !pod.spec.nodeName) {
      this.removePod(pod);
      return;
    }
    pod.metadata.deletionTimestamp = new Date(this.wallOffsetMs).toISOString().replace(/\.\d+Z$/, "Z");
    pod.metadata.deletionGracePeriodSeconds = grace;
    pod.metadata.resourceVersion = String(++this.rv);
    this.tell("MODIFIED", pod);
  }

  /** Ends every pod and node watch cleanly (as the server's timeoutSeconds does). */
  endWatches(): void {
    for (const map of [this.watches, this.nodeWatches]) {
      for (const conn of [...map.keys()]) {
        map.delete(conn);
        this.onPush?.(conn, [{ kind: "bytes", data: Buffer.from("0\r\n\r\n") }]);
      }
    }
  }

  /** A BOOKMARK on every pod and node watch, as the API server's watch cache sends about every minute. */
  bookmark(): void {
    const object = { kind: "Pod", apiVersion: "v1", metadata: { resourceVersion: String(this.rv) } };
    this.pushLine(JSON.stringify({ type: "BOOKMARK", object }));
    const node = { kind: "Node", apiVersion: "v1", metadata: { resourceVersion: String(this.rv) } };
    for (const conn of this.nodeWatches.keys()) this.onPush?.(conn, [chunk(JSON.stringify({ type: "BOOKMARK", object: node }) + "\n")]);
  }

  /** Sends one raw line (a watch event or anything else) on every pod watch. */
  pushLine(line: string): void {
    for (const conn of this.watches.keys()) this.onPush?.(conn, [chunk(line + "\n")]);
  }

  /** Sends text on every pod watch as separate chunks, one per part (a line split wherever the test likes). */
  pushParts(parts: string[]): void {
    for (const conn of this.watches.keys()) this.onPush?.(conn, parts.map((p) => chunk(p)));
  }

  private removePod(pod: Json): void {
    this.pods.delete(`${pod.metadata.namespace}/${pod.metadata.name}`);
    pod.metadata.resourceVersion = String(++this.rv);
    this.tell("DELETED", pod);
  }

  private tell(type: string, pod: Json): void {
    for (const [conn, node] of this.watches) {
      if (pod.spec?.nodeName !== node) continue;
      this.onPush?.(conn, [chunk(JSON.stringify({ type, object: pod }) + "\n")]);
    }
  }

  /**
   * A pod list or watch (GET /api/v1/pods?fieldSelector=spec.nodeName=X...), or one of a node's own Node
   * (GET /api/v1/nodes?fieldSelector=metadata.name=X...: the Node authorizer allows nothing else).
   */
  private query(req: ApiRequest, ctx: ResponseContext): ServerOutput[] | null {
    if (req.method !== "GET") return null;
    const pods = req.path.startsWith("/api/v1/pods?");
    if (!pods && !req.path.startsWith("/api/v1/nodes?")) return null;
    const q = new URLSearchParams(req.path.split("?")[1]);
    const sel = (pods ? /^spec\.nodeName=(.+)$/ : /^metadata\.name=(.+)$/).exec(q.get("fieldSelector") ?? "");
    if (!sel) return [this.encode(403, statusBody(403, pods ? "pods is forbidden: a node may only list its own pods" : "nodes is forbidden: a node may only read its own Node"), ctx)];
    const node = sel[1];
    const own = this.nodes.get(node);
    const mine = pods ? [...this.pods.values()].filter((p) => p.spec.nodeName === node) : own ? [this.shapeNode(own)] : [];
    const kind = pods ? "Pod" : "Node";
    if (q.get("watch") !== "1") {
      return [this.encode(200, JSON.stringify({ kind: kind + "List", apiVersion: "v1", metadata: { resourceVersion: String(this.rv) }, items: mine }), ctx)];
    }
    const initial = q.get("sendInitialEvents") === "true";
    if (initial && this.opts.watchList === false) {
      return [this.encode(422, statusBody(422, "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled"), ctx)];
    }
    const rv = q.get("resourceVersion");
    if (!initial && rv && Number(rv) < this.rv - 100_000) return [this.encode(410, statusBody(410, "too old resource version"), ctx)];
    (pods ? this.watches : this.nodeWatches).set(req.conn, node);
    this.responses++;
    const head = `HTTP/1.1 200 OK\r\nAudit-Id: x\r\nCache-Control: no-cache, private\r\nContent-Type: application/json\r\n` +
      `Date: ${new Date(ctx.wallMs ?? this.wallOffsetMs + ctx.now).toUTCString()}\r\nTransfer-Encoding: chunked\r\n\r\n`;
    const out: ServerOutput[] = [{ kind: "bytes", data: Buffer.from(head, "latin1") }];
    if (initial) {
      for (const p of mine) out.push(chunk(JSON.stringify({ type: "ADDED", object: p }) + "\n"));
      const bookmark = { kind, apiVersion: "v1", metadata: { resourceVersion: String(this.rv), annotations: { "k8s.io/initial-events-end": "true" } } };
      out.push(chunk(JSON.stringify({ type: "BOOKMARK", object: bookmark }) + "\n"));
    }
    return out;
  }

  /** Bytes from the client; returns what the server sends back (possibly nothing yet). */
  receive(conn: number, data: Uint8Array, now: number): ServerOutput[] {
    const framer = this.conns.get(conn);
    if (!framer) return [];
    const out: ServerOutput[] = [];
    for (const r of framer.feed(data)) {
      out.push(...this.respond({ ...r, at: now, conn }, { now }));
      if (out.some((o) => o.kind === "close")) break;
    }
    return out;
  }

  /** Records one framed request and answers it: a scripted fault, 401 without the token, or the API. */
  respond(req: ApiRequest, ctx: ResponseContext): ServerOutput[] {
    this.requests.push(req);
    const fault = this.faults.find((f) => (f.times ?? 1) > 0 && f.match(req));
    if (fault) {
      fault.times = (fault.times ?? 1) - 1;
      const a = fault.action;
      switch (a.kind) {
        case "status":
          return [this.encode(a.status, a.body ?? statusBody(a.status), ctx, false, true, a.retryAfter)];
        case "close":
          return [{ kind: "close" }];
        case "close-mid": {
          const full = this.encode(200, '{"kind":"Status","padding":"' + "x".repeat(200) + '"}', ctx);
          if (full.kind !== "bytes") return [full];
          return [{ kind: "bytes", data: full.data.subarray(0, full.data.length >> 1) }, { kind: "close" }];
        }
        case "silent":
          return [];
        case "garbage":
          return [{ kind: "bytes", data: Buffer.from("\x16\x03\x01 not http at all \x00\xff\r\n\r\n") }, { kind: "close" }];
        case "huge":
          return [this.encode(200, "h".repeat(a.bytes), ctx, true)];
        case "no-date":
          return [this.encode(200, '{"major":"1"}', ctx, false, false)];
      }
    }
    if ((this.opts.token && req.headers.authorization !== `Bearer ${this.opts.token}`) || (this.authenticate && !this.authenticate(req))) {
      return [this.encode(401, statusBody(401, "Unauthorized"), ctx)];
    }
    const listed = this.query(req, ctx);
    if (listed) return listed;
    const [status, body] = this.handle(req);
    const text = body instanceof RawJson ? body.text : body === undefined ? "" : JSON.stringify(body);
    return [this.encode(status, text, ctx)];
  }

  private encode(status: number, body: string, ctx: ResponseContext, forceChunked = false, withDate = true, retryAfter?: number): ServerOutput {
    this.responses++;
    const chunked = forceChunked || ((ctx.mayChunk ?? true) && this.useChunked && this.responses % 2 === 1);
    const date = new Date(ctx.wallMs ?? this.wallOffsetMs + ctx.now).toUTCString();
    let head = `HTTP/1.1 ${status} ${reason(status)}\r\nAudit-Id: x\r\nCache-Control: no-cache, private\r\nContent-Type: application/json\r\n`;
    if (withDate) head += `Date: ${date}\r\n`;
    if (retryAfter !== undefined) head += `Retry-After: ${retryAfter}\r\n`;
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

  /** Events posted, in order (repeats update their count and lastTimestamp in place). */
  events: Json[] = [];
  /** Secrets by `namespace/name` (GET only: what a node may read of its pods' imagePullSecrets). */
  secrets = new Map<string, Json>();
  /**
   * Delegated authn/authz for the kubelet port: bearer tokens the TokenReview endpoint knows, and who may
   * do what on `nodes/<subresource>` (a SubjectAccessReview's user, verb, subresource). By default every
   * user may do everything, and no token is valid.
   */
  tokens = new Map<string, { username: string; groups?: string[]; uid?: string }>();
  authorize: (user: string, verb: string, subresource: string, groups: string[]) => boolean | string = () => true;
  /** Every event occurrence: a POST or a count PATCH, with the reason and the new lastTimestamp. */
  eventLog: { reason: string; count: number; at: string }[] = [];

  private podRequest(req: ApiRequest, ns: string, name: string, status: boolean): [number, Json] {
    const pod = this.pods.get(`${ns}/${name}`);
    if (!pod) return [404, statusBody(404, `pods "${name}" not found`, true)];
    if (req.method === "GET") return [200, pod];
    const body = req.body ? JSON.parse(req.body) : {};
    const uid = req.method === "DELETE" ? body.preconditions?.uid : body.metadata?.uid;
    if (uid && uid !== pod.metadata.uid) {
      return [409, statusBody(409, `Precondition failed: UID in precondition: ${uid}, UID in object meta: ${pod.metadata.uid}`, true)];
    }
    if (req.method === "DELETE") {
      this.removePod(pod);
      return [200, pod];
    }
    if (req.method === "PATCH" && status) {
      // Pod status conditions merge by type like a Node's (a pod has no addresses list to merge).
      strategicStatus(pod, body);
      pod.metadata.resourceVersion = String(++this.rv);
      this.tell("MODIFIED", pod);
      return [200, pod];
    }
    return [405, statusBody(405, "method not allowed", true)];
  }

  private csrRequest(req: ApiRequest, name: string | undefined): [number, Json] {
    if (req.method === "POST" && name === undefined) {
      const c = JSON.parse(req.body);
      const n = `${c.metadata.generateName ?? ""}${(++this.csrSeq).toString(36).padStart(5, "0")}`;
      c.metadata = { ...c.metadata, name: n, uid: this.uid(), resourceVersion: String(++this.rv) };
      delete c.metadata.generateName;
      c.spec = { ...c.spec, username: "system:node:fake", groups: ["system:nodes", "system:authenticated"] };
      c.status = {};
      this.csrs.set(n, c);
      this.onCsr?.(c);
      return [201, c];
    }
    if (req.method === "GET" && name !== undefined) {
      const c = this.csrs.get(name);
      const custom = this.csrAnswer?.(c, req);
      if (custom) return [custom[0], new RawJson(custom[1])];
      if (!c) return [404, statusBody(404, `certificatesigningrequests.certificates.k8s.io "${name}" not found`, true)];
      return [200, c];
    }
    return [405, statusBody(405, "method not allowed", true)];
  }

  private uid(): string {
    this.uidCounter++;
    return `00000000-0000-4000-8000-${this.uidCounter.toString().padStart(12, "0")}`;
  }

  /** A Node as the API returns it: padded with managedFields filler when `nodePadding` asks for it. */
  private shapeNode(n: Json): Json {
    if (!this.opts.nodePadding) return n;
    return { ...n, metadata: { ...n.metadata, managedFields: [{ manager: "fake", filler: "x".repeat(this.opts.nodePadding) }] } };
  }

  private handle(req: ApiRequest): [number, Json] {
    // Routing ignores the query string (?fieldManager=...), as the API server's routes do.
    const path = req.path.split("?")[0];
    const nodeM = /^\/api\/v1\/nodes\/([^/]+)(\/status)?$/.exec(path);
    const leaseM = /^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/kube-node-lease\/leases(?:\/([^/]+))?$/.exec(path);
    const podM = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)(\/status)?$/.exec(path);
    const eventM = /^\/api\/v1\/namespaces\/([^/]+)\/events(?:\/([^/]+))?$/.exec(path);
    if (eventM && req.method === "POST" && !eventM[2]) {
      const e = JSON.parse(req.body);
      this.events.push(e);
      this.eventLog.push({ reason: e.reason, count: e.count, at: e.lastTimestamp });
      return [201, e];
    }
    if (eventM && req.method === "PATCH" && eventM[2]) {
      const e = this.events.find((x) => x.metadata.name === decodeURIComponent(eventM[2]!) && x.metadata.namespace === eventM[1]);
      if (!e) return [404, statusBody(404, `events "${eventM[2]}" not found`, true)];
      mergePatch(e, JSON.parse(req.body));
      this.eventLog.push({ reason: e.reason, count: e.count, at: e.lastTimestamp });
      return [200, e];
    }
    if (req.method === "POST" && path === "/apis/authentication.k8s.io/v1/tokenreviews") {
      const review = JSON.parse(req.body);
      const u = this.tokens.get(review.spec?.token);
      review.status = u ? { authenticated: true, user: { username: u.username, uid: u.uid ?? "", groups: u.groups ?? ["system:authenticated"] } } : { authenticated: false, error: "invalid bearer token" };
      return [201, review];
    }
    if (req.method === "POST" && path === "/apis/authorization.k8s.io/v1/subjectaccessreviews") {
      const review = JSON.parse(req.body);
      const spec = review.spec ?? {};
      const a = spec.resourceAttributes ?? {};
      const verdict = this.authorize(spec.user, a.verb, a.subresource, spec.groups ?? []);
      review.status = verdict === true ? { allowed: true, reason: "fake: allowed" } : { allowed: false, reason: typeof verdict === "string" ? verdict : "" };
      return [201, review];
    }
    if (podM) return this.podRequest(req, decodeURIComponent(podM[1]), decodeURIComponent(podM[2]), !!podM[3]);
    const secretM = /^\/api\/v1\/namespaces\/([^/]+)\/secrets\/([^/]+)$/.exec(path);
    if (secretM && req.method === "GET") {
      const sec = this.secrets.get(`${secretM[1]}/${secretM[2]}`);
      return sec ? [200, sec] : [404, statusBody(404, `secrets "${secretM[2]}" not found`, true)];
    }
    const csrM = /^\/apis\/certificates\.k8s\.io\/v1\/certificatesigningrequests(?:\/([^/]+))?$/.exec(path);
    if (csrM) return this.csrRequest(req, csrM[1] === undefined ? undefined : decodeURIComponent(csrM[1]));
    if (req.method === "GET" && path === "/version") {
      return [200, { major: "1", minor: "36", gitVersion: "v1.36.3-fake" }];
    }
    if (path === "/api/v1/nodes" && req.method === "POST") {
      const n = JSON.parse(req.body);
      const name = n.metadata.name;
      if (this.nodes.has(name)) return [409, statusBody(409, `nodes "${name}" already exists`, true)];
      n.metadata.uid = this.uid();
      n.metadata.resourceVersion = String(++this.rv);
      n.metadata.managedFields = [{ manager: "picokubelet", fieldsV1: { "f:status": { "f:conditions": {} } } }];
      this.nodes.set(name, n);
      this.tellNode("ADDED", n);
      return [201, this.shapeNode(n)];
    }
    if (nodeM) {
      const name = decodeURIComponent(nodeM[1]);
      const n = this.nodes.get(name);
      if (!n) return [404, statusBody(404, `nodes "${name}" not found`, true)];
      if (req.method === "GET") return [200, this.shapeNode(n)];
      if (req.method === "DELETE") {
        this.deleteNode(name);
        return [200, statusBody(200, "deleted", true)];
      }
      if (req.method === "PATCH") {
        const patch = JSON.parse(req.body);
        if (nodeM[2]) strategicStatus(n, patch);
        else mergePatch(n, patch);
        n.metadata.resourceVersion = String(++this.rv);
        this.tellNode("MODIFIED", n);
        return [200, this.shapeNode(n)];
      }
      return [405, statusBody(405, "method not allowed", true)];
    }
    if (leaseM) {
      const name = leaseM[1] === undefined ? undefined : decodeURIComponent(leaseM[1]);
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
      return [405, statusBody(405, "method not allowed", true)];
    }
    return [404, statusBody(404, "not found", true)];
  }
}

/** A body sent as it is (not JSON-encoded): garbage on purpose. */
class RawJson {
  constructor(readonly text: string) {}
}

/** One chunk of a chunked body. */
function chunk(text: string): ServerOutput {
  const b = Buffer.from(text, "utf8");
  return { kind: "bytes", data: Buffer.concat([Buffer.from(b.length.toString(16) + "\r\n", "latin1"), b, Buffer.from("\r\n")]) };
}

function reason(s: number): string {
  return ({ 200: "OK", 201: "Created", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed", 409: "Conflict", 410: "Gone", 422: "Unprocessable Entity", 500: "Internal Server Error", 503: "Service Unavailable" } as Record<number, string>)[s] ?? "Status";
}

function statusBody(code: number, message?: string, asObject = false): any {
  const s = { kind: "Status", apiVersion: "v1", status: code < 400 ? "Success" : "Failure", message: message ?? `fake ${code}`, reason: statusReason(code), code };
  return asObject ? s : JSON.stringify(s);
}

/** The machine-readable `reason` of a Status object. */
function statusReason(code: number): string {
  return ({ 200: "Success", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed", 409: "AlreadyExists" } as Record<number, string>)[code] ?? "InternalError";
}

/** RFC 7396 merge patch. */
export function mergePatch(target: any, patch: any): void {
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete target[k];
    else if (typeof v === "object" && !Array.isArray(v) && typeof target[k] === "object" && target[k] && !Array.isArray(target[k])) mergePatch(target[k], v);
    else target[k] = v;
  }
}

/** The strategic merge the API server applies to node and pod status: conditions and addresses merge by type. */
function strategicStatus(obj: any, patch: any): void {
  const st = patch.status ?? {};
  obj.status ??= {};
  for (const [k, v] of Object.entries(st)) {
    if (k === "conditions" || k === "addresses") {
      const list: any[] = obj.status[k] ?? [];
      for (const item of v as any[]) {
        const i = list.findIndex((x) => x.type === item.type);
        if (i >= 0) list[i] = { ...list[i], ...item };
        else list.push(item);
      }
      obj.status[k] = list;
    } else {
      obj.status[k] = v;
    }
  }
}

/** Incremental HTTP/1.1 request framing for one connection (Content-Length bodies). */
export class RequestFramer {
  private buf = Buffer.alloc(0);

  /** Feeds bytes; returns every request completed by them. */
  feed(bytes: Uint8Array): { method: string; path: string; headers: Record<string, string>; body: string }[] {
    this.buf = Buffer.concat([this.buf, bytes]);
    const out: { method: string; path: string; headers: Record<string, string>; body: string }[] = [];
    for (;;) {
      const end = this.buf.indexOf("\r\n\r\n");
      if (end < 0) return out;
      const lines = this.buf.subarray(0, end).toString("latin1").split("\r\n");
      const [method, path] = lines[0].split(" ");
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(":");
        headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      const len = Number(headers["content-length"] ?? "0");
      if (this.buf.length < end + 4 + len) return out;
      const body = this.buf.subarray(end + 4, end + 4 + len).toString("utf8");
      this.buf = this.buf.subarray(end + 4 + len);
      out.push({ method, path, headers, body });
    }
  }
}

/** The bytes of the outputs up to a close, and whether the connection closes after them. */
function flatten(outs: ServerOutput[]): { bytes: Buffer; close: boolean } {
  const parts: Uint8Array[] = [];
  for (const o of outs) {
    if (o.kind === "close") return { bytes: Buffer.concat(parts), close: true };
    parts.push(o.data);
  }
  return { bytes: Buffer.concat(parts), close: false };
}

/** A TLS listener on 127.0.0.1 serving a FakeApiServer. */
export interface FakeTlsServer {
  port: number;
  url: string;
  /** Connections accepted so far. */
  connections: number;
  close(): Promise<void>;
}

/**
 * Serves `api` over TLS on 127.0.0.1 in real time: Date is the real wall clock (host-sim nodes anchor
 * their clock to it) and every response has a Content-Length.
 */
export async function listenTls(
  api: FakeApiServer,
  opts: { cert: string; key: string; ca?: string; requestCert?: boolean },
): Promise<FakeTlsServer> {
  const sockets = new Set<tls.TLSSocket>();
  const byConn = new Map<number, tls.TLSSocket>();
  const state = { connections: 0 };
  api.onPush = (conn, outs) => {
    const sock = byConn.get(conn);
    if (!sock) return;
    const { bytes, close } = flatten(outs);
    if (bytes.length) sock.write(bytes);
    if (close) sock.end();
  };
  const server = tls.createServer(
    { cert: opts.cert, key: opts.key, ca: opts.ca, requestCert: opts.requestCert ?? false, rejectUnauthorized: opts.requestCert ?? false },
    (sock) => {
      const conn = ++state.connections;
      sockets.add(sock);
      byConn.set(conn, sock);
      sock.on("close", () => {
        sockets.delete(sock);
        byConn.delete(conn);
        api.close(conn);
      });
      sock.on("error", () => sock.destroy());
      const framer = new RequestFramer();
      sock.on("data", (d: Buffer) => {
        for (const r of framer.feed(d)) {
          const req: ApiRequest = { ...r, at: performance.now(), conn };
          const { bytes, close } = flatten(api.respond(req, { now: req.at, wallMs: Date.now(), mayChunk: false }));
          if (bytes.length) sock.write(bytes);
          if (close) {
            sock.end();
            return;
          }
        }
      });
    },
  );
  server.on("tlsClientError", () => {});
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
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
 * A host-sim Transport that talks to `api` in memory, answering after `latencyMs` on the node's timers,
 * so a ManualTimers test runs hours of renewals in milliseconds. The Date header is the real wall clock
 * and every response has a Content-Length, as over TLS. `connectFailsSync` reports every connect as
 * failed from inside `connect` itself (a transport that breaks the contract, to test the node's queue).
 */
export function memoryTransport(
  api: FakeApiServer,
  timers: TimerService,
  opts: { latencyMs?: number; connectFailsSync?: boolean } = {},
): TransportFactory & { sentBytes: () => number } {
  let sent = 0;
  const factory = (sink: TransportSink): Transport => {
    const conns = new Map<number, RequestFramer>();
    const lat = opts.latencyMs ?? 1;
    const later = (fn: () => void): void => void timers.at(timers.now() + lat, fn);
    api.onPush = (conn, outs) => {
      const { bytes, close } = flatten(outs);
      later(() => {
        if (!conns.has(conn)) return;
        if (bytes.length) sink.data(conn, bytes);
        if (close) {
          conns.delete(conn);
          sink.closed(conn, Close.EOF);
        }
      });
    };
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
      send(conn, view) {
        const framer = conns.get(conn);
        if (!framer) return -1;
        const bytes = view.slice();
        for (const r of framer.feed(bytes)) {
          const now = timers.now();
          const { bytes: out, close } = flatten(api.respond({ ...r, at: now, conn }, { now, wallMs: Date.now(), mayChunk: false }));
          sent += out.length;
          later(() => {
            if (!conns.has(conn)) return;
            if (out.length) sink.data(conn, out);
            if (close) {
              conns.delete(conn);
              sink.closed(conn, Close.EOF);
            }
          });
          if (close) return bytes.length;
        }
        return bytes.length;
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
