/**
 * Clock anchoring: GET /version until a response carries a valid Date header. Nothing is timestamped
 * before the clock is anchored (docs/behaviour.md, clock). Every later response's Date re-anchors it; the
 * agent does that for all results.
 */
import { Context } from "./context";
import { Signal, Worker } from "./worker";
import { Work } from "./work";
import { HttpRequest } from "../http/request";
import { HttpResult } from "../http/lane";
import { logInfo, logWarn, seconds } from "../util/log";
import { rfc3339 } from "../util/time";

export class Anchor extends Worker {
  constructor(private ctx: Context) {
    super();
  }

  request(now: i64): HttpRequest {
    return this.ctx.request(Work.Anchor, "GET", "/version", "", false, false);
  }

  handle(now: i64, r: HttpResult): Signal {
    const ctx = this.ctx;
    if (ctx.clock.anchored) {
      this.task.succeeded();
      this.task.idle();
      logInfo("clock anchored from the API server: " + rfc3339(ctx.clock.wallMs(now), true));
      return Signal.Anchored;
    }
    const why = r.ok ? "no valid Date header in the response (HTTP " + r.status.toString() + ")" : ctx.describe(r);
    const d = this.task.retry(now, ctx.rng);
    logWarn("anchoring the clock failed: " + why + "; retrying in " + seconds(d));
    return Signal.None;
  }
}
