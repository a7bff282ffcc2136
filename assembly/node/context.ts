/**
 * State shared by the reconcilers: configuration, clock, randomness, the API server endpoint and the
 * control lane, identity, the link and heap readings, and the counters the hosts can read through `stat`.
 */
import { Config } from "../node/config";
import { Identity } from "../node/objects";
import { EventWindow } from "../node/signals";
import { Endpoint, HttpResult, Lane, NetStats } from "../http/lane";
import { Outbox } from "../http/outbox";
import { Outcome } from "../http/outcome";
import { HttpRequest, JSON_TYPE } from "../http/request";
import { ByteBuffer, oneLine } from "../util/bytes";
import { JsonScanner, ScanHandler, ValueKind } from "../json/scanner";
import { Link, Phase } from "../abi/codes";
import { ErrorCode, errorText } from "../abi/errors";
import { WallClock } from "../util/clock";
import { Random } from "../util/random";
import { Histogram } from "../util/histogram";
import { NODE_BODY_BUDGET, SMALL_BODY_BUDGET } from "./defaults";
import { HostCalls } from "./hostcalls";

export class Context {
  cfg: Config = new Config();
  clock: WallClock = new WallClock();
  rng: Random = new Random(1);
  /** Every host action leaves through here (flushed by the agent after each event). */
  outbox: Outbox = new Outbox();
  net: NetStats = new NetStats();
  /** The API server: address, server name, bearer token. */
  api: Endpoint = new Endpoint();
  /** Host calls in flight (the listener's, the certificate managers'). */
  hostCalls: HostCalls = new HostCalls();
  /** The lane for ordinary API requests (the lease renewal first, always). */
  control: Lane = new Lane(this.api, this.outbox, this.net, NODE_BODY_BUDGET);
  identity: Identity = new Identity();
  phase: Phase = Phase.Configuring;

  /** UID of our Node object ("" until registered). */
  nodeUid: string = "";

  // Link.
  link: Link = Link.Down;
  /** The host has reported a link at least once. */
  linkSeen: bool = false;
  ipv4: u32 = 0;
  bssid: i64 = 0;
  rssi: i32 = 0;

  // Heap (-1 until the host reports).
  heapFree: i64 = -1;
  heapTotal: i64 = 0;

  // Signals for the joke conditions.
  reconnects: EventWindow = new EventWindow(32);
  bssidChangedAt: i64 = -1;
  timeSlipAt: i64 = -1;

  // Counters (stat ids in abi/codes.ts).
  renewals: i64 = 0;
  renewFailures: i64 = 0;
  statusPushes: i64 = 0;
  registrations: i64 = 0;
  consecutiveFailures: i32 = 0;
  lastHttpStatus: i32 = 0;
  lastError: ErrorCode = ErrorCode.Ok;
  /** The last response was 401/403, and nothing has succeeded since. */
  authRefused: bool = false;
  /** Why the node has no usable identity ("" when it has one): a failed TLS bootstrap, an expired certificate. */
  credentialProblem: string = "";
  /** How long API requests took, from their bytes going out to their whole response (for /metrics). */
  latency: Histogram = new Histogram();
  /** CPU time the host measured the core spending (on_cpu), in µs; 0 until it reports. */
  cpuMicros: i64 = 0;

  /** Scratch for request bodies, reused by every request. */
  body: ByteBuffer = new ByteBuffer(1024, 16 * 1024);

  /** `/api/v1/nodes/<name>` */
  nodePath: string = "";
  /** `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases` */
  leasesPath: string = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases";
  /** `…/leases/<name>` */
  leasePath: string = "";

  /** True when requests can go out. */
  get linkUp(): bool {
    return this.link != Link.Down;
  }

  /** Builds a request; the body (if any) is the shared `body` buffer. */
  request(tag: i32, method: string, path: string, contentType: string, withBody: bool, readBody: bool): HttpRequest {
    const r = new HttpRequest();
    r.tag = tag;
    r.method = method;
    r.path = path;
    r.contentType = contentType.length > 0 ? contentType : JSON_TYPE;
    r.body = withBody ? this.body : null;
    r.bodyBudget = readBody ? NODE_BODY_BUDGET : SMALL_BODY_BUDGET;
    r.replayable = method != "POST";
    return r;
  }

  /** Records the outcome of any request for the failure streak and the LED. */
  noteResult(r: HttpResult): void {
    if (r.ok) this.lastHttpStatus = r.status;
    const o = r.outcome;
    if (o == Outcome.Ok) {
      this.consecutiveFailures = 0;
      this.authRefused = false;
      this.lastError = ErrorCode.Ok;
      return;
    }
    // 404 and 409 are answers the reconcilers act on, not failures of the API.
    if (o == Outcome.NotFound || o == Outcome.Conflict) return;
    this.consecutiveFailures++;
    if (o == Outcome.Transport) this.lastError = r.error;
    else if (o == Outcome.AuthRefused) {
      this.lastError = ErrorCode.Auth;
      this.authRefused = true;
    } else this.lastError = ErrorCode.HttpStatus;
  }

  /** One phrase describing a failed request: the transport error, or the status and the server's message. */
  describe(r: HttpResult): string {
    if (!r.ok) return errorText(r.error) + (r.detail.length > 0 ? " (" + r.detail + ")" : "");
    let s = "HTTP " + r.status.toString();
    const msg = serverMessage(r.body);
    if (msg.length > 0) s += ": " + msg;
    return s;
  }
}

/** Picks `message` out of a Kubernetes Status body. */
class StatusMessage extends ScanHandler {
  text: string = "";
  value(field: i32, kind: ValueKind, v: ByteBuffer, key: ByteBuffer): void {
    if (kind == ValueKind.String && this.text.length == 0) this.text = v.slice(0, 300);
  }
}

const MESSAGE_FIELD: string[] = ["message"];

/** The `message` of a Kubernetes Status body, or a printable prefix of whatever body came back. */
function serverMessage(b: ByteBuffer): string {
  if (b.length == 0) return "";
  const m = new StatusMessage();
  const s = new JsonScanner(MESSAGE_FIELD, m);
  s.feed(b.ptr, b.length);
  if (m.text.length > 0) return clip(oneLine(m.text), 300);
  return clip(oneLine(b.slice(0, 200)), 200);
}

function clip(s: string, n: i32): string {
  return s.length <= n ? s : s.substring(0, n) + "...";
}

/** Dotted quad of a big-endian IPv4 address. */
export function ipText(ip: u32): string {
  return ((ip >> 24) & 255).toString() + "." + ((ip >> 16) & 255).toString() + "." +
    ((ip >> 8) & 255).toString() + "." + (ip & 255).toString();
}
