/**
 * Registration: create the Node, or adopt the one that already exists (kubelet
 * `registerWithAPIServer` / `tryRegisterWithAPIServer`, pkg/kubelet/kubelet_node_status.go).
 *
 * POST the Node; 201 gives its uid. 409 means it exists (a reboot, another boot of the same board): GET
 * it, take its uid, and reconcile what we own that differs — labels by a merge PATCH now, and capacity,
 * allocatable, nodeInfo and addresses in the first status push (taints cannot change after creation
 * under NodeRestriction, so a differing taint is only reported). Every step retries with backoff and
 * jitter until it succeeds (REFERENCE.md weaknesses 6 and 8).
 */
import { Context } from "./context";
import { Work } from "./work";
import { Signal, Worker } from "./worker";
import { logInfo, logWarn, seconds } from "../util/log";
import { HttpRequest, MERGE_PATCH } from "../http/request";
import { HttpResult } from "../http/lane";
import { Outcome } from "../http/outcome";
import { JsonKind, JsonReader, JsonValue } from "../json/reader";
import { ByteBuffer } from "../util/bytes";
import { labelsPatch, nodeBody, nodeInfoPairs } from "./objects";
import { Pair } from "./config";
import { StatusReconciler } from "./status";

/** Parts of a Node we never compare, skipped while parsing so the tree stays small. */
const ADOPT_SKIP: string[] = ["managedFields", "annotations", "conditions", "images", "volumesAttached", "volumesInUse"];

export class Registration extends Worker {
  /** The next request to make. */
  step: Work = Work.NodeCreate;
  /** The adopted Node's capacity, nodeInfo or addresses differ from ours: push them with the status. */
  staticDiffers: bool = false;

  constructor(private ctx: Context, private status: StatusReconciler) {
    super();
  }

  /** Starts (or restarts, after the Node was deleted) registration. */
  begin(now: i64): void {
    this.step = Work.NodeCreate;
    this.staticDiffers = false;
    this.ctx.nodeUid = "";
    this.task.succeeded();
    this.task.now(now);
  }

  /** The request for the current step. */
  request(now: i64): HttpRequest {
    const ctx = this.ctx;
    const body = ctx.body;
    body.clear();
    if (this.step == Work.NodeGet) {
      return ctx.request(Work.NodeGet, "GET", ctx.nodePath, "", false, true);
    }
    if (this.step == Work.NodeLabels) {
      labelsPatch(body, ctx.cfg);
      return ctx.request(Work.NodeLabels, "PATCH", ctx.nodePath, MERGE_PATCH, true, false);
    }
    // The registration body carries conditions: evaluate them fresh.
    this.status.evaluate(now);
    nodeBody(body, ctx.cfg, ctx.identity, this.status.conds, ctx.clock.wallMs(now));
    return ctx.request(Work.NodeCreate, "POST", "/api/v1/nodes", "", true, true);
  }

  /** Handles a response; Registered when the Node is registered (created or adopted). */
  handle(now: i64, r: HttpResult): Signal {
    const ctx = this.ctx;
    const status = r.ok ? r.status : 0;
    if (r.tag == Work.NodeCreate) {
      if (status == 201) {
        const uid = uidOf(r);
        if (uid.length > 0) return this.done(uid, "registered node " + ctx.cfg.nodeName);
        // The body did not give us the uid (too large or cut short): read the Node instead.
        return this.next(now, Work.NodeGet);
      }
      if (status == 409) {
        logInfo("node " + ctx.cfg.nodeName + " already exists; adopting it");
        return this.next(now, Work.NodeGet);
      }
    } else if (r.tag == Work.NodeGet) {
      if (status == 200) return this.adopt(now, r);
      if (status == 404) return this.next(now, Work.NodeCreate);
    } else if (r.tag == Work.NodeLabels) {
      if (status == 200) return this.done(ctx.nodeUid, "adopted node " + ctx.cfg.nodeName + " and updated its labels");
      if (status == 404) return this.next(now, Work.NodeCreate);
    }
    this.fail(now, r);
    return Signal.None;
  }

  private next(now: i64, step: Work): Signal {
    this.step = step;
    this.task.now(now);
    return Signal.None;
  }

  private done(uid: string, what: string): Signal {
    this.ctx.nodeUid = uid;
    this.ctx.registrations++;
    this.task.succeeded();
    this.task.idle();
    logInfo(what + " (uid " + uid + ")");
    return Signal.Registered;
  }

  private fail(now: i64, r: HttpResult): void {
    const what = this.step == Work.NodeGet ? "reading the node" : this.step == Work.NodeLabels ? "updating node labels" : "registering the node";
    const delay = r.outcome == Outcome.AuthRefused ? this.task.retryAuth(now, this.ctx.rng) : this.task.retry(now, this.ctx.rng);
    logWarn(what + " failed: " + this.ctx.describe(r) + "; retrying in " + seconds(delay));
  }

  /** Compares the existing Node with what we would register, and decides what to reconcile. */
  private adopt(now: i64, r: HttpResult): Signal {
    const ctx = this.ctx;
    const body = r.body;
    const reader = new JsonReader();
    reader.skip = ADOPT_SKIP;
    const node: JsonValue | null = r.truncated ? null : reader.parseBuffer(body);
    const uid = node !== null ? node.stringAt("metadata.uid") : readUid(body);
    if (uid.length == 0) {
      const d = this.task.retry(now, ctx.rng);
      logWarn("reading the node failed: no metadata.uid in the response; retrying in " + seconds(d));
      return Signal.None;
    }
    ctx.nodeUid = uid;
    if (node === null) {
      // Could not compare: reconcile everything we own.
      this.staticDiffers = true;
      return this.next(now, Work.NodeLabels);
    }
    this.staticDiffers = !staticMatches(node, ctx);
    if (!taintsMatch(node, ctx)) {
      logWarn("node " + ctx.cfg.nodeName + " has other taints than configured; taints can only be set at creation (delete the Node to re-register it)");
    }
    if (!pairsMatch(node.path("metadata.labels"), ctx.cfg.labels)) return this.next(now, Work.NodeLabels);
    return this.done(uid, "adopted node " + ctx.cfg.nodeName);
  }
}

/** True when every pair is present in `obj` with the same string value. */
export function pairsMatch(obj: JsonValue | null, want: Pair[]): bool {
  if (obj === null || obj.kind != JsonKind.Object) return want.length == 0;
  for (let i = 0; i < want.length; i++) {
    const v = obj.get(want[i].key);
    if (v === null || v.kind != JsonKind.String || v.text != want[i].value) return false;
  }
  return true;
}

/** Capacity, allocatable, nodeInfo and the InternalIP match what we report. */
function staticMatches(node: JsonValue, ctx: Context): bool {
  const c = ctx.cfg;
  if (!pairsMatch(node.path("status.capacity"), c.capacity)) return false;
  if (!pairsMatch(node.path("status.allocatable"), c.capacity)) return false;
  if (!pairsMatch(node.path("status.nodeInfo"), nodeInfoPairs(c, ctx.identity))) return false;
  const ip = ctx.identity.ip;
  if (ip.length == 0) return true;
  const addrs = node.path("status.addresses");
  if (addrs === null || addrs.kind != JsonKind.Array) return false;
  for (let i = 0; i < addrs.items.length; i++) {
    const a = addrs.items[i];
    if (a.stringAt("type") == "InternalIP") return a.stringAt("address") == ip;
  }
  return false;
}

/** The Node's taints are exactly the configured ones (order ignored). */
function taintsMatch(node: JsonValue, ctx: Context): bool {
  const want = ctx.cfg.taints;
  const have = node.path("spec.taints");
  let mine = 0;
  if (have !== null && have.kind == JsonKind.Array) {
    for (let i = 0; i < have.items.length; i++) {
      const t = have.items[i];
      const key = t.stringAt("key");
      // Taints the control plane manages (node.kubernetes.io/…) are not ours to compare.
      if (key.startsWith("node.kubernetes.io/")) continue;
      let found = false;
      for (let j = 0; j < want.length; j++) {
        if (want[j].key == key && want[j].value == t.stringAt("value") && want[j].effect == t.stringAt("effect")) found = true;
      }
      if (!found) return false;
      mine++;
    }
  }
  return mine == want.length;
}

/** metadata.uid of the Node in a response body. */
function uidOf(r: HttpResult): string {
  if (!r.truncated) {
    const reader = new JsonReader();
    reader.skip = ADOPT_SKIP;
    const v = reader.parseBuffer(r.body);
    if (v !== null) return v.stringAt("metadata.uid");
  }
  return readUid(r.body);
}

/**
 * The first `"uid":"…"` in a body, for when it is too large to parse whole. In a Node the first uid
 * is metadata.uid: the API server writes metadata first, and uid before labels and managedFields.
 */
export function readUid(body: ByteBuffer): string {
  const n = body.length;
  const key = "\"uid\":\"";
  for (let i = 0; i + key.length < n; i++) {
    let match = true;
    for (let k = 0; k < key.length; k++) {
      if (body.at(i + k) != key.charCodeAt(k)) {
        match = false;
        break;
      }
    }
    if (!match) continue;
    const start = i + key.length;
    let end = start;
    while (end < n && end - start < 64 && body.at(end) != 0x22) end++;
    if (end < n && body.at(end) == 0x22 && end > start) return body.slice(start, end);
    return "";
  }
  return "";
}
