/**
 * Delegated authentication and authorization, as the kubelet does them (its webhook authenticator and
 * authorizer): a bearer token goes to the API server as a TokenReview, and every request's attributes as a
 * SubjectAccessReview. Both are POSTs on the control lane, made with the node's own credentials (the Node
 * authorizer's node rules allow a node to create both). This worker sends them one at a time, after the
 * lease and status in the agent's table, and hands each answer back to whoever asked (the server).
 *
 * Nothing here trusts the answer's shape: a field of the wrong type, a cut or garbage body, or a failed
 * request makes the review an error (the server answers 401 or 500 and caches nothing).
 */
import { ByteBuffer } from "../util/bytes";
import { JsonScanner, ScanHandler, ValueKind } from "../json/scanner";
import { JsonWriter } from "../json/writer";
import { HttpRequest } from "../http/request";
import { HttpResult } from "../http/lane";
import { Outcome } from "../http/outcome";
import { Context } from "../node/context";
import { Work } from "../node/work";
import { Signal, Worker } from "../node/worker";

/** Who a request comes from. */
export class Identity {
  user: string = "";
  uid: string = "";
  groups: string[] = [];
}

/** The identity a client certificate carries: lines `CN=<user>` and `O=<group>` (ABI.md on_accepted). */
export function certIdentity(p: usize, n: i32): Identity | null {
  const text = String.UTF8.decodeUnsafe(p, <usize>n);
  const id = new Identity();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    if (l.startsWith("CN=") && id.user.length == 0) id.user = l.substring(3);
    else if (l.startsWith("O=") && l.length > 2 && id.groups.length < MAX_GROUPS) id.groups.push(l.substring(2));
  }
  if (id.user.length == 0) return null;
  // Every authenticated user is in system:authenticated (the API server's x509 authenticator adds it).
  id.groups.push("system:authenticated");
  return id;
}

/** Groups kept per identity: more is not a user of ours, and bounds what a review body holds. */
const MAX_GROUPS = 16;
/** Reviews waiting: one per connection at most, so this bounds nothing the server does not already. */
const MAX_QUEUED = 32;

export enum ReviewKind {
  Token = 0,
  Access = 1,
}

/** One question for the API server, and its answer once `done`. */
export class Review {
  kind: ReviewKind = ReviewKind.Token;
  /** The server connection it is for. */
  conn: i32 = 0;
  token: string = "";
  identity: Identity = new Identity();
  verb: string = "";
  subresource: string = "";
  node: string = "";
  done: bool = false;
  /** Authenticated (Token) or allowed (Access). */
  ok: bool = false;
  /** Why the review itself failed ("" when the API server answered it). */
  error: string = "";
  /** The authorizer's reason, when it gave one. */
  reason: string = "";
  /** The server stopped waiting (its client left or timed out): the answer is dropped. */
  cancelled: bool = false;
}

/** Whoever waits for reviews. */
export abstract class ReviewClient {
  abstract reviewed(now: i64, r: Review): void;
}

export class Reviewer extends Worker {
  private queue: Review[] = [];
  client: ReviewClient | null = null;
  /** Reviews answered by the API server (for /metrics). */
  answered: i64 = 0;
  failed: i64 = 0;

  constructor(private ctx: Context) {
    super();
  }

  /** Queues `r`; false when the queue is full (the caller answers 503). */
  ask(now: i64, r: Review): bool {
    if (this.queue.length >= MAX_QUEUED) return false;
    this.queue.push(r);
    if (this.queue.length == 1) this.task.now(now);
    return true;
  }

  request(now: i64): HttpRequest {
    // Cancelled reviews at the head are dropped unsent.
    while (this.queue.length > 1 && this.queue[0].cancelled) this.queue.shift();
    const r = this.queue[0];
    const body = this.ctx.body;
    body.clear();
    if (r.kind == ReviewKind.Token) {
      tokenReviewBody(body, r.token);
      return this.ctx.request(Work.TokenReview, "POST", "/apis/authentication.k8s.io/v1/tokenreviews", "", true, true);
    }
    accessReviewBody(body, r);
    return this.ctx.request(Work.AccessReview, "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", "", true, true);
  }

  handle(now: i64, res: HttpResult): Signal {
    if (this.queue.length == 0) return Signal.None;
    const r = this.queue.shift();
    if (res.outcome == Outcome.Ok && res.status == 201) {
      const a = new ReviewAnswer();
      a.read(res.body, res.truncated);
      if (a.error.length > 0) {
        r.error = a.error;
      } else if (r.kind == ReviewKind.Token) {
        r.ok = a.authenticated && a.identity.user.length > 0;
        r.identity = a.identity;
        r.reason = a.reason;
      } else {
        r.ok = a.allowed && !a.denied;
        r.reason = a.reason;
      }
    } else {
      r.error = this.ctx.describe(res);
    }
    if (r.error.length > 0) this.failed++;
    else this.answered++;
    r.done = true;
    this.task.succeeded();
    if (this.queue.length > 0) this.task.now(now);
    else this.task.idle();
    const c = this.client;
    if (c !== null && !r.cancelled) c.reviewed(now, r);
    return Signal.None;
  }

  /** Drops every review (shutdown, hand-off). */
  clear(): void {
    this.queue.length = 0;
    this.task.idle();
  }
}

function tokenReviewBody(out: ByteBuffer, token: string): void {
  const w = new JsonWriter(out);
  w.beginObject().field("apiVersion", "authentication.k8s.io/v1").field("kind", "TokenReview");
  w.key("spec").beginObject().field("token", token).endObject();
  w.endObject();
}

function accessReviewBody(out: ByteBuffer, r: Review): void {
  const w = new JsonWriter(out);
  w.beginObject().field("apiVersion", "authorization.k8s.io/v1").field("kind", "SubjectAccessReview");
  w.key("spec").beginObject().field("user", r.identity.user);
  if (r.identity.uid.length > 0) w.field("uid", r.identity.uid);
  w.key("groups").beginArray();
  for (let i = 0; i < r.identity.groups.length; i++) w.string(r.identity.groups[i]);
  w.endArray();
  w.key("resourceAttributes").beginObject().field("verb", r.verb).field("resource", "nodes");
  w.field("subresource", r.subresource).field("name", r.node).endObject();
  w.endObject().endObject();
}

const F_AUTHENTICATED = 0;
const F_USER = 1;
const F_UID = 2;
const F_GROUPS = 3;
const F_ALLOWED = 4;
const F_DENIED = 5;
const F_REASON = 6;
const F_EVALUATION_ERROR = 7;
const F_ERROR = 8;
const ANSWER_FIELDS = ["status.authenticated", "status.user.username", "status.user.uid", "status.user.groups[]",
  "status.allowed", "status.denied", "status.reason", "status.evaluationError", "status.error"];

/** The status of a TokenReview or SubjectAccessReview the API server returned. */
class ReviewAnswer extends ScanHandler {
  authenticated: bool = false;
  allowed: bool = false;
  denied: bool = false;
  reason: string = "";
  identity: Identity = new Identity();
  /** Why the answer cannot be used ("" when it can). */
  error: string = "";

  read(body: ByteBuffer, cut: bool): void {
    const s = new JsonScanner(ANSWER_FIELDS, this);
    s.feed(body.ptr, body.length);
    if (!s.finish() || cut) this.error = "the API server's review answer was not a whole JSON object";
    if (this.error.length == 0 && this.identity.groups.length > 0 && this.identity.user.length == 0) this.identity.groups.length = 0;
  }

  value(field: i32, kind: ValueKind, v: ByteBuffer, key: ByteBuffer): void {
    if (field == F_AUTHENTICATED || field == F_ALLOWED || field == F_DENIED) {
      if (kind != ValueKind.True && kind != ValueKind.False) {
        this.error = "the API server's review answer has a status flag that is not a boolean";
        return;
      }
      const yes = kind == ValueKind.True;
      if (field == F_AUTHENTICATED) this.authenticated = yes;
      else if (field == F_ALLOWED) this.allowed = yes;
      else this.denied = yes;
      return;
    }
    if (kind != ValueKind.String) return;
    // A value cut at the scanner's bound is not the name it stands for.
    if (v.length >= 1024) {
      if (field == F_USER || field == F_GROUPS) this.error = "the API server's review answer names a user or group longer than 1 KiB";
      return;
    }
    if (field == F_USER) this.identity.user = v.toString();
    else if (field == F_UID) this.identity.uid = v.toString();
    else if (field == F_GROUPS) {
      if (this.identity.groups.length < MAX_GROUPS) this.identity.groups.push(v.toString());
    } else if (field == F_REASON || field == F_EVALUATION_ERROR || field == F_ERROR) {
      if (this.reason.length == 0) this.reason = v.toString();
    }
  }
}
