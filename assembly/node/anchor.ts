/**
 * Clock anchoring: GET /version until a response carries a valid Date header. Nothing is timestamped
 * before the clock is anchored (docs/behaviour.md, clock). Every later response's Date re-anchors it; the
 * agent does that for all results.
 *
 * The same response says which Kubernetes the API server runs. The version-skew policy forbids a kubelet
 * newer than its API server, so the node reports the server's vX.Y.Z with our own version appended
 * (`v1.31.1-picokubelet.0.1.0` on a v1.31.1 server); a server that does not say keeps the default.
 */
import { Context } from "./context";
import { Signal, Worker } from "./worker";
import { Work } from "./work";
import { HttpRequest } from "../http/request";
import { HttpResult } from "../http/lane";
import { Outcome } from "../http/outcome";
import { logInfo, logWarn, seconds } from "../util/log";
import { rfc3339 } from "../util/time";
import { ByteBuffer } from "../util/bytes";
import { JsonScanner, ScanHandler, ValueKind } from "../json/scanner";
import { KUBELET_VERSION_SUFFIX } from "./defaults";

/** `gitVersion` of a /version body, cut to its leading `v1.2.3` ("" when it has no such start). */
class GitVersion extends ScanHandler {
  text: string = "";
  value(field: i32, kind: ValueKind, v: ByteBuffer, key: ByteBuffer): void {
    let i = 1;
    let dots = 0;
    while (i < v.length && i < 24) {
      const c = v.at(i);
      if (c == 0x2e) dots++;
      else if (c < 0x30 || c > 0x39) break;
      i++;
    }
    if (kind == ValueKind.String && v.at(0) == 0x76 && dots == 2 && v.at(i - 1) != 0x2e) this.text = v.slice(0, i);
  }
}

const VERSION_FIELD: string[] = ["gitVersion"];

export class Anchor extends Worker {
  constructor(private ctx: Context) {
    super();
  }

  request(now: i64): HttpRequest {
    const r = this.ctx.request(Work.Anchor, "GET", "/version", "", false, false);
    // Before TLS bootstrap the node may have no identity yet: the bootstrap token lets the server say
    // which version it runs (a client certificate, when the host has a valid one, is what authenticates).
    r.bearer = this.ctx.cfg.bootstrapToken;
    return r;
  }

  handle(now: i64, r: HttpResult): Signal {
    const ctx = this.ctx;
    if (r.outcome == Outcome.Ok) {
      const g = new GitVersion();
      const sc = new JsonScanner(VERSION_FIELD, g);
      sc.feed(r.body.ptr, r.body.length);
      if (g.text.length > 0) ctx.identity.kubeletVersion = g.text + KUBELET_VERSION_SUFFIX;
    }
    if (ctx.clock.anchored) {
      this.task.succeeded();
      this.task.idle();
      logInfo("clock anchored from the API server: " + rfc3339(ctx.clock.wallMs(now), true) + ", kubelet " + ctx.identity.kubeletVersion);
      return Signal.Anchored;
    }
    const why = r.ok ? "no valid Date header in the response (HTTP " + r.status.toString() + ")" : ctx.describe(r);
    const d = this.task.retry(now, ctx.rng);
    logWarn("anchoring the clock failed: " + why + "; retrying in " + seconds(d));
    return Signal.None;
  }
}
