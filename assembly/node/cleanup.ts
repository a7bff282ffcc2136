/**
 * Shutdown with cleanup: DELETE our Lease, then our Node, each once and best effort (bounded by the
 * request deadline). The Node authorizer refuses a node deleting its own Node object; that is logged.
 */
import { Context } from "./context";
import { Signal, Worker } from "./worker";
import { Work } from "./work";
import { HttpRequest } from "../http/request";
import { HttpResult } from "../http/lane";
import { Outcome } from "../http/outcome";
import { logInfo, logWarn } from "../util/log";

export class Cleanup extends Worker {
  private step: Work = Work.DeleteLease;

  constructor(private ctx: Context) {
    super();
  }

  begin(now: i64): void {
    this.step = Work.DeleteLease;
    this.task.now(now);
  }

  request(now: i64): HttpRequest {
    const ctx = this.ctx;
    const path = this.step == Work.DeleteLease ? ctx.leasePath : ctx.nodePath;
    return ctx.request(this.step, "DELETE", path, "", false, false);
  }

  handle(now: i64, r: HttpResult): Signal {
    const what = this.step == Work.DeleteLease ? "lease" : "node";
    if (r.outcome == Outcome.Ok || r.outcome == Outcome.NotFound) logInfo("deleted " + what + " " + this.ctx.cfg.nodeName);
    else logWarn("could not delete " + what + ": " + this.ctx.describe(r));
    if (this.step == Work.DeleteLease) {
      this.step = Work.DeleteNode;
      this.task.now(now);
      return Signal.None;
    }
    this.task.idle();
    return Signal.CleanedUp;
  }
}
