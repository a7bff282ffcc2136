/**
 * A scripted OCI registry for the ABI suites (the real one, CNCF distribution, runs in the local control
 * plane for the end-to-end tests): the registry API v2 paths a brain pull uses, over the same carrier
 * contract as the fake API server (bytes in, outputs back), so the core harness can route the core's
 * PROFILE_PUBLIC connections to it by address.
 *
 * One instance can play three parts, each at its own address in the harness: the registry
 * (`/v2/<repo>/manifests/<ref>`, `/v2/<repo>/blobs/<digest>`), its token server (`/token`, the
 * distribution token flow) and a blob store that blob requests are redirected to (`/store/<digest>`).
 */
import crypto from "node:crypto";
import { RequestFramer, type ServerOutput } from "./fake-apiserver.js";
import { statement, keyId, CONFIG_TYPE, LAYER_TYPE, MANIFEST_TYPE, ANN_ABI, ANN_KEY_ID, ANN_REVISION, ANN_SIGNATURE, ANN_VERSION } from "../../host-sim/src/brain.js";
import type { ConnServer } from "./core-harness.js";

export interface RegistryRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  conn: number;
}

/** How the registry wants to be asked: anonymous, Basic, or a bearer token from `realm`. */
export type RegistryAuth =
  | { kind: "none" }
  | { kind: "basic"; user: string; password: string }
  | { kind: "bearer"; realm: string; service: string; user?: string; password?: string };

export interface RegistryFault {
  match: (r: RegistryRequest) => boolean;
  /** A status with a body, or close the connection without answering. */
  action: { kind: "status"; status: number; body?: string } | { kind: "close" };
  times?: number;
}

export interface PublishOptions {
  version: string;
  abi?: number;
  /** Signs the statement with this Ed25519 private key (none: unsigned). */
  key?: crypto.KeyObject;
  /** The layer served differs from the one the manifest names (a tampered blob). */
  tamper?: boolean;
}

export interface Published {
  digest: string;
  layerDigest: string;
  manifest: Buffer;
  layer: Buffer;
}

const sha = (b: Buffer): string => "sha256:" + crypto.createHash("sha256").update(b).digest("hex");

export class FakeRegistry implements ConnServer {
  readonly requests: RegistryRequest[] = [];
  readonly faults: RegistryFault[] = [];
  auth: RegistryAuth = { kind: "none" };
  /** Blob requests are answered with a 307 to this base (`https://host:port`), where another instance serves `/store/…`. */
  redirectBlobsTo = "";
  /** Omit Docker-Content-Digest from manifest responses. */
  noDigestHeader = false;
  /** Tokens this instance issued as a token server. */
  readonly issued = new Set<string>();
  private manifests = new Map<string, Buffer>();
  private blobs = new Map<string, Buffer>();
  private conns = new Map<number, RequestFramer>();
  /** The token server that issues this registry's tokens (for bearer auth). */
  tokens: FakeRegistry | null = null;

  open(conn: number): void {
    this.conns.set(conn, new RequestFramer());
  }

  close(conn: number): void {
    this.conns.delete(conn);
  }

  receive(conn: number, data: Uint8Array, _now: number): ServerOutput[] {
    const f = this.conns.get(conn);
    if (!f) return [];
    const out: ServerOutput[] = [];
    for (const r of f.feed(data)) {
      const req = { method: r.method, path: r.path, headers: r.headers, conn };
      this.requests.push(req);
      out.push(...this.respond(req));
      if (out.some((o) => o.kind === "close")) break;
    }
    return out;
  }

  /** Puts a brain artifact under `repo:tag` (and its digest); returns what was published. */
  publish(repo: string, tag: string, wasm: Buffer, opts: PublishOptions): Published {
    const abi = opts.abi ?? 2;
    const layerDigest = sha(wasm);
    const config = Buffer.from(JSON.stringify({ architecture: "wasm", os: "wasip1", layerDigests: [layerDigest] }));
    const annotations: Record<string, string> = { [ANN_VERSION]: opts.version, [ANN_ABI]: String(abi), [ANN_REVISION]: "test" };
    if (opts.key) {
      annotations[ANN_SIGNATURE] = crypto.sign(null, statement(layerDigest, abi, opts.version), opts.key).toString("base64");
      annotations[ANN_KEY_ID] = keyId(crypto.createPublicKey(opts.key));
    }
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: MANIFEST_TYPE, artifactType: CONFIG_TYPE,
      config: { mediaType: CONFIG_TYPE, digest: sha(config), size: config.length },
      layers: [{ mediaType: LAYER_TYPE, digest: layerDigest, size: wasm.length, annotations: { "org.opencontainers.image.title": "picokubelet.wasm" } }],
      annotations,
    }));
    const digest = sha(manifest);
    this.manifests.set(`${repo}:${tag}`, manifest);
    this.manifests.set(`${repo}:${digest}`, manifest);
    const served = opts.tamper ? Buffer.from(wasm) : wasm;
    if (opts.tamper) served[served.length >> 1] ^= 0xff;
    this.blobs.set(layerDigest, served);
    this.blobs.set(sha(config), config);
    return { digest, layerDigest, manifest, layer: wasm };
  }

  /** Serves `bytes` as blob `digest` (a blob store's copy). */
  storeBlob(digest: string, bytes: Buffer): void {
    this.blobs.set(digest, bytes);
  }

  /** Requests to paths matching `re`. */
  seen(re: RegExp): RegistryRequest[] {
    return this.requests.filter((r) => re.test(r.path));
  }

  private respond(req: RegistryRequest): ServerOutput[] {
    const fault = this.faults.find((f) => (f.times ?? 1) > 0 && f.match(req));
    if (fault) {
      fault.times = (fault.times ?? 1) - 1;
      if (fault.action.kind === "close") return [{ kind: "close" }];
      return [encode(fault.action.status, fault.action.body ?? "{}", {})];
    }
    const url = new URL(req.path, "https://registry.invalid");
    if (url.pathname === "/token") return this.token(req, url);
    const store = /^\/store\/(sha256:[0-9a-f]{64})$/.exec(url.pathname);
    if (store) {
      const blob = this.blobs.get(store[1]);
      return [blob ? encode(200, blob, { "Content-Type": "application/octet-stream" }) : encode(404, "{}", {})];
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
    if (!m) return [encode(404, '{"errors":[{"code":"NOT_FOUND"}]}', {})];
    const denied = this.denied(req, m[1]);
    if (denied) return [denied];
    const [, repo, kind, ref] = m;
    if (kind === "manifests") {
      const body = this.manifests.get(`${repo}:${ref}`);
      if (!body) return [encode(404, '{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}', {})];
      const headers: Record<string, string> = { "Content-Type": MANIFEST_TYPE };
      if (!this.noDigestHeader) headers["Docker-Content-Digest"] = sha(body);
      return [encode(200, body, headers)];
    }
    if (this.redirectBlobsTo) return [encode(307, "", { Location: `${this.redirectBlobsTo}/store/${ref}` })];
    const blob = this.blobs.get(ref);
    if (!blob) return [encode(404, '{"errors":[{"code":"BLOB_UNKNOWN"}]}', {})];
    return [encode(200, blob, { "Content-Type": "application/octet-stream", "Docker-Content-Digest": ref })];
  }

  /** The 401 a request without the right credentials gets, or null when it may go on. */
  private denied(req: RegistryRequest, repo: string): ServerOutput | null {
    const a = this.auth;
    const given = req.headers["authorization"] ?? "";
    if (a.kind === "none") return null;
    if (a.kind === "basic") {
      if (given === basic(a.user, a.password)) return null;
      return encode(401, '{"errors":[{"code":"UNAUTHORIZED"}]}', { "WWW-Authenticate": 'Basic realm="fake registry"' });
    }
    if (given.startsWith("Bearer ") && this.tokens?.issued.has(given.slice(7))) return null;
    return encode(401, '{"errors":[{"code":"UNAUTHORIZED"}]}', {
      "WWW-Authenticate": `Bearer realm="${a.realm}",service="${a.service}",scope="repository:${repo}:pull"`,
    });
  }

  /** The token server: Basic credentials when `auth` names a user, anonymous otherwise. */
  private token(req: RegistryRequest, url: URL): ServerOutput[] {
    const a = this.auth;
    if (a.kind === "bearer" && a.user !== undefined && req.headers["authorization"] !== basic(a.user, a.password ?? "")) {
      return [encode(401, '{"details":"incorrect username or password"}', {})];
    }
    const t = crypto.randomBytes(24).toString("base64url") + "." + Buffer.from(url.searchParams.get("scope") ?? "").toString("base64url");
    this.issued.add(t);
    return [encode(200, JSON.stringify({ token: t, access_token: t, expires_in: 300 }), { "Content-Type": "application/json" })];
  }
}

export function basic(user: string, password: string): string {
  return "Basic " + Buffer.from(`${user}:${password}`).toString("base64");
}

function encode(status: number, body: string | Buffer, headers: Record<string, string>): ServerOutput {
  const b = typeof body === "string" ? Buffer.from(body) : body;
  let head = `HTTP/1.1 ${status} ${status === 200 ? "OK" : "X"}\r\nContent-Length: ${b.length}\r\n`;
  for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
  return { kind: "bytes", data: Buffer.concat([Buffer.from(head + "\r\n"), b]) };
}
