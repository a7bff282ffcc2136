/**
 * Registration: create the Node, or adopt the one that already exists (kubelet
 * `registerWithAPIServer` / `tryRegisterWithAPIServer`, pkg/kubelet/kubelet_node_status.go).
 *
 * POST the Node; 201 gives its uid. 409 means it exists (a reboot, another boot of the same board): GET
 * it, take its uid, and reconcile what we own that differs — labels by a merge PATCH now, and capacity,
 * allocatable, nodeInfo and addresses in the first status push (taints cannot change after creation
 * under NodeRestriction, so a differing taint is only reported). Every step retries with backoff and
 * jitter until it succeeds (the original ignored 409 and never retried a failed registration).
 */
import { Context } from "./context";
import { Work } from "./work";
import { Signal, Worker } from "./worker";
import { logInfo, logWarn, seconds } from "../util/log";
import { HttpRequest, MERGE_PATCH } from "../http/request";
import { HttpResult } from "../http/lane";
import { Outcome } from "../http/outcome";
import { labelsPatch, nodeBody } from "./objects";
import { NodeFacts } from "./adopt";
import { StatusReconciler } from "./status";


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
    this.task.restart(now);
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
        const uid = uidOf(ctx, r);
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
    const node = new NodeFacts(ctx.cfg, ctx.identity);
    node.read(r.body, r.truncated);
    const uid = node.uid;
    if (uid.length == 0) {
      const d = this.task.retry(now, ctx.rng);
      logWarn("reading the node failed: no usable metadata.uid in the response; retrying in " + seconds(d));
      return Signal.None;
    }
    ctx.nodeUid = uid;
    if (!node.complete) {
      // Could not compare: reconcile everything we own.
      this.staticDiffers = true;
      return this.next(now, Work.NodeLabels);
    }
    this.staticDiffers = !node.staticMatches;
    if (!node.taintsMatch) {
      logWarn("node " + ctx.cfg.nodeName + " has other taints than configured; taints can only be set at creation (delete the Node to re-register it)");
    }
    if (!node.labelsMatch) return this.next(now, Work.NodeLabels);
    return this.done(uid, "adopted node " + ctx.cfg.nodeName);
  }
}

/** metadata.uid of the Node in a response body ("" when it has none we can use). */
function uidOf(ctx: Context, r: HttpResult): string {
  const node = new NodeFacts(ctx.cfg, ctx.identity);
  node.read(r.body, r.truncated);
  return node.uid;
}
