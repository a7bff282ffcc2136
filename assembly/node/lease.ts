/**
 * The node Lease: create it owned by our Node, then renew it (kubelet lease controller,
 * staging/src/k8s.io/component-helpers/apimachinery/lease/controller.go).
 *
 * Create: POST with an ownerReference to the Node (uid), so deleting the Node collects the Lease
 * (the original's Lease had no owner). 409: an older Lease exists; take it over with a merge PATCH that sets our owner
 * reference and spec. Renew: a small merge PATCH of the spec every renew period with ±2% jitter,
 * so a rack never renews in lockstep. A 404 on renewal sends the kubelet back through registration
 * (the Lease is collected with a deleted Node), which then recreates the Lease owned by the right uid. 401/403 back off for long instead of hammering the server.
 * renewTime never goes backwards, even when the clock is corrected backwards.
 */
import { Context } from "./context";
import { Work } from "./work";
import { Signal, Worker } from "./worker";
import { logDebug, logEnabled, logInfo, logWarn, seconds } from "../util/log";
import { LogLevel } from "../abi/codes";
import { HttpRequest, MERGE_PATCH } from "../http/request";
import { HttpResult } from "../http/lane";
import { Outcome } from "../http/outcome";
import { RENEW_JITTER_PERMILLE } from "./defaults";
import { leaseAdoptPatch, leaseBody, leaseRenewPatch } from "./objects";

export class LeaseReconciler extends Worker {
  step: Work = Work.LeaseCreate;
  /** Monotonic time of the last successful renewal (-1: none yet). */
  lastRenewOk: i64 = -1;
  /** Monotonic time renewals started failing (-1 while they succeed). */
  failingSince: i64 = -1;
  /** Renewal attempts that failed in a row. */
  failuresInARow: i32 = 0;
  /**
   * The last renewal failed the way an overloaded server fails (no answer in time, a reset, 5xx, 429):
   * until one lands, the agent sends nothing else on the control lane, so every slot the server gives
   * goes to the heartbeat.
   */
  strained: bool = false;
  /** The last renewTime we wrote (Unix ms), so it never goes backwards. */
  private lastRenewTime: i64 = 0;
  /** When the attempt in flight started (fixed-rate schedule). */
  private attemptAt: i64 = 0;

  constructor(private ctx: Context) {
    super();
  }

  /** Creates (or re-creates, after re-registration) the Lease. */
  begin(now: i64): void {
    this.step = Work.LeaseCreate;
    this.task.restart(now);
  }

  /** The last renewTime written (Unix ms), for a snapshot (agent/snapshot.ts). */
  get renewTimeMs(): i64 {
    return this.lastRenewTime;
  }

  /** Renews, at once, the Lease another instance of this core created and renewed until `renewTimeMs`. */
  resume(now: i64, renewTimeMs: i64): void {
    this.step = Work.LeaseRenew;
    this.lastRenewTime = renewTimeMs;
    this.lastRenewOk = now;
    this.failingSince = -1;
    this.failuresInARow = 0;
    this.attemptAt = now;
    this.task.restart(now);
  }

  /** Stops renewing (the Node is being re-registered, or we shut down). */
  pause(): void {
    this.task.idle();
    this.strained = false;
  }

  /** True when a Lease of ours exists and is being renewed. */
  get renewing(): bool {
    return this.step == Work.LeaseRenew;
  }

  request(now: i64): HttpRequest {
    const ctx = this.ctx;
    const body = ctx.body;
    body.clear();
    this.attemptAt = now;
    const renewMs = this.renewTime(now);
    if (this.step == Work.LeaseRenew) {
      leaseRenewPatch(body, ctx.cfg, renewMs);
      return ctx.request(Work.LeaseRenew, "PATCH", ctx.leasePath, MERGE_PATCH, true, false);
    }
    if (this.step == Work.LeaseAdopt) {
      leaseAdoptPatch(body, ctx.cfg, ctx.nodeUid, renewMs);
      return ctx.request(Work.LeaseAdopt, "PATCH", ctx.leasePath, MERGE_PATCH, true, false);
    }
    leaseBody(body, ctx.cfg, ctx.nodeUid, renewMs);
    return ctx.request(Work.LeaseCreate, "POST", ctx.leasesPath, "", true, false);
  }

  /**
   * Handles a response. Returns LeaseReady when the Lease was just created or adopted, and LeaseVanished
   * when a renewal found it gone: the garbage collector removes our Lease when our Node is deleted, so the
   * caller re-checks the registration before creating the Lease again.
   */
  handle(now: i64, r: HttpResult): Signal {
    const status = r.ok ? r.status : 0;
    if (r.tag == Work.LeaseRenew) {
      if (status == 200) {
        const late = this.failingSince >= 0 || (this.lastRenewOk >= 0 && now - this.lastRenewOk > (this.ctx.cfg.renewIntervalMs * 3) / 2);
        this.renewed(now);
        return late ? Signal.LeaseRecovered : Signal.None;
      }
      if (status == 404) {
        logWarn("lease " + this.ctx.cfg.nodeName + " is gone; checking the node, then creating it again");
        this.step = Work.LeaseCreate;
        this.task.idle();
        return Signal.LeaseVanished;
      }
      this.renewFailed(now, r);
      return Signal.None;
    }
    if ((r.tag == Work.LeaseCreate && status == 201) || (r.tag == Work.LeaseAdopt && status == 200)) {
      logInfo((r.tag == Work.LeaseCreate ? "created" : "took over") + " lease " + LEASE_NS_PREFIX + this.ctx.cfg.nodeName +
        " (duration " + this.ctx.cfg.leaseDurationSeconds.toString() + " s, owner node uid " + this.ctx.nodeUid + ")");
      this.step = Work.LeaseRenew;
      this.task.succeeded();
      this.scheduleRenewal(now);
      return Signal.LeaseReady;
    }
    if (r.tag == Work.LeaseCreate && status == 409) {
      this.step = Work.LeaseAdopt;
      this.task.now(now);
      return Signal.None;
    }
    if (r.tag == Work.LeaseAdopt && status == 404) {
      this.step = Work.LeaseCreate;
      this.task.now(now);
      return Signal.None;
    }
    const delay = r.outcome == Outcome.AuthRefused ? this.task.retryAuth(now, this.ctx.rng) : this.task.retry(now, this.ctx.rng);
    logWarn("creating the lease failed: " + this.ctx.describe(r) + "; retrying in " + seconds(delay));
    return Signal.None;
  }

  /**
   * renewTime for an attempt at `now`: wall time, but never before the last one written, so a correction
   * backwards never makes the Lease look older. A correction back by more than a day means the last value
   * came from a server clock that was wildly wrong: the truth wins over monotonicity then, or every later
   * renewTime would repeat the wrong one.
   */
  private renewTime(now: i64): i64 {
    let t = this.ctx.clock.wallMs(now);
    const back = this.lastRenewTime - t;
    if (back >= 0 && back <= RENEW_TIME_MAX_CLAMP_MS) t = this.lastRenewTime + 1;
    this.lastRenewTime = t;
    return t;
  }

  private scheduleRenewal(now: i64): void {
    // Jitter is centred on the period (±2% by default), so renewals average exactly one per period.
    const period = this.ctx.cfg.renewIntervalMs;
    const spread = (period * RENEW_JITTER_PERMILLE) / 1000;
    let at = this.attemptAt + period - spread / 2 + this.ctx.rng.below(spread + 1);
    if (at < now) at = now;
    this.task.at(at);
  }

  private renewed(now: i64): void {
    const ctx = this.ctx;
    ctx.renewals++;
    this.lastRenewOk = now;
    if (this.failingSince >= 0) {
      logInfo("lease renewals are landing again after " + seconds(now - this.failingSince) + " of failures");
    }
    this.failingSince = -1;
    this.failuresInARow = 0;
    this.strained = false;
    this.task.succeeded();
    this.scheduleRenewal(now);
    const n = ctx.renewals;
    if (n == 1) logInfo("first lease renewal landed; the node is alive");
    else if (n == 50 || n == 100 || n == 500 || n == 1000) logInfo("lease renewal #" + n.toString() + ": still here");
    else if (n == 8640) logInfo("lease renewal #8640: one day of heartbeats at 10 s");
    else if (n == 60480) logInfo("lease renewal #60480: a week without missing a beat, " + ctx.cfg.nodeName);
    // Built only when debug lines are emitted: every renewal comes by here.
    else if (logEnabled(LogLevel.Debug)) logDebug("lease renewal #" + n.toString());
  }

  private renewFailed(now: i64, r: HttpResult): void {
    const ctx = this.ctx;
    ctx.renewFailures++;
    this.failuresInARow++;
    if (this.failingSince < 0) this.failingSince = now;
    let delay: i64;
    if (r.outcome == Outcome.AuthRefused) {
      delay = this.task.retryAuth(now, ctx.rng);
      logWarn("lease renewal refused (" + ctx.describe(r) + "): check the node's credentials and RBAC; backing off " + seconds(delay));
      return;
    }
    const o = r.outcome;
    this.strained = o == Outcome.Transport || o == Outcome.ServerError || o == Outcome.Throttled;
    // Retry promptly, but never wait longer than one renew period.
    delay = this.task.retry(now, ctx.rng, ctx.cfg.renewIntervalMs);
    logWarn("lease renewal failed: " + ctx.describe(r) + "; retrying in " + seconds(delay));
  }
}

const LEASE_NS_PREFIX = "kube-node-lease/";
/** How far back a corrected clock may be and renewTime still holds its last value (see renewTime). */
const RENEW_TIME_MAX_CLAMP_MS: i64 = 24 * 3600 * 1000;
