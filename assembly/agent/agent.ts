/**
 * The kubelet: routes every event to the right reconciler, decides what goes on the wire next, and
 * keeps the LED honest.
 *
 * Theory of operation. Phases run in order: Anchoring (GET /version until a Date header anchors the
 * clock), Registering (node/registration.ts), Leasing (the Lease is created or adopted), Running (lease
 * renewals, condition evaluation, status and annotation pushes). A deleted Node (a 404 on a status push)
 * or a vanished Lease (a 404 on renewal; the garbage collector deletes it with its Node) sends Running
 * back to Registering, which adopts or re-creates the Node and then the Lease. Only this file changes `ctx.phase`.
 *
 * After every event `pump` hands the HTTP client the most urgent due task, in this order: anchor,
 * registration, lease, status, annotation. So a renewal never queues behind a status push, and because
 * every request's deadline is at most one renew period, a slow exchange delays a renewal by at most one
 * period. Nothing is sent while the link is down; when it returns, pending retries run at once.
 */
import { hostLed } from "../abi/imports";
import { Led, Link, Phase, Shutdown } from "../abi/codes";
import { Context, ipText } from "../node/context";
import { Task } from "../util/task";
import { Work } from "../node/work";
import { logInfo, logWarn, logError, logDebug, seconds } from "../util/log";
import { HttpRequest } from "../http/request";
import { HttpResult } from "../http/client";
import { rfc3339 } from "../util/time";
import { ByteBuffer } from "../util/bytes";
import { Config } from "../node/config";
import { Registration } from "../node/registration";
import { LeaseOutcome, LeaseReconciler } from "../node/lease";
import { StatusOutcome, StatusReconciler } from "../node/status";
import { StatusExtras } from "../node/objects";
import { Random } from "../util/random";
import { TIME_SLIP_MS, WARNING_AFTER_FAILURES } from "../node/defaults";

export class Kubelet {
  readonly ctx: Context = new Context();
  readonly anchor: Task = new Task();
  readonly lease: LeaseReconciler = new LeaseReconciler(this.ctx);
  readonly status: StatusReconciler = new StatusReconciler(this.ctx, this.lease);
  readonly registration: Registration = new Registration(this.ctx, this.status.conds);
  /** The steady LED pattern last shown. */
  led: Led = Led.Off;
  /** Renewals already shown as an Activity blip. */
  private blips: i64 = 0;
  /** The Lease and Node still to delete during a cleanup shutdown. */
  private cleanup: Work = Work.None;
  private cleanupTask: Task = new Task();

  /** Applies a validated configuration and starts anchoring the clock. */
  start(now: i64, cfg: Config, seed: u64): void {
    const ctx = this.ctx;
    ctx.cfg = cfg;
    ctx.rng = new Random(seed);
    ctx.http.host = cfg.apiHost;
    ctx.http.port = cfg.apiPort;
    ctx.http.serverName = cfg.serverName;
    ctx.http.token = cfg.token;
    ctx.http.timeoutMs = cfg.requestTimeoutMs;
    ctx.nodePath = "/api/v1/nodes/" + cfg.nodeName;
    ctx.leasePath = ctx.leasesPath + "/" + cfg.nodeName;
    makeIdentity(ctx);
    ctx.phase = Phase.Anchoring;
    this.anchor.now(now);
    logInfo("picokubelet starting as node " + cfg.nodeName + ", API server " + cfg.apiHost + ":" + cfg.apiPort.toString() +
      (cfg.token.length > 0 ? " (bearer token)" : " (client certificate)") + ", boot " + ctx.identity.bootId);
    this.settle(now);
  }

  /** The link changed. */
  onLink(now: i64, kind: i32, ipv4: u32, bssid: i64, rssi: i32): void {
    const ctx = this.ctx;
    const wasUp = ctx.linkUp;
    const k: Link = kind == Link.Ethernet ? Link.Ethernet : kind == Link.WiFi ? Link.WiFi : Link.Down;
    if (k == Link.Down) {
      if (wasUp) logWarn("link down; holding requests until it returns");
      ctx.link = Link.Down;
      ctx.http.linkDown();
      this.settle(now);
      return;
    }
    if (!wasUp) {
      if (ctx.linkSeen) {
        ctx.reconnects.record(now);
        logInfo("link up again (" + linkName(k) + ")");
      } else {
        logInfo("link up (" + linkName(k) + (ipv4 != 0 ? ", " + ipText(ipv4) : "") + ")");
      }
      this.expedite(now);
    }
    if (ctx.bssid != 0 && bssid != 0 && bssid != ctx.bssid) {
      ctx.bssidChangedAt = now;
      logInfo("roamed to a new access point");
    }
    ctx.linkSeen = true;
    ctx.link = k;
    if (bssid != 0) ctx.bssid = bssid;
    ctx.rssi = rssi;
    if (ipv4 != 0 && ipv4 != ctx.ipv4) {
      const first = ctx.ipv4 == 0;
      ctx.ipv4 = ipv4;
      ctx.identity.ip = ipText(ipv4);
      if (!first) {
        logInfo("new IP address " + ctx.identity.ip + "; updating status.addresses");
        this.status.addressesChanged(now);
      }
    }
    this.settle(now);
  }

  /** A heap reading. */
  onHeap(now: i64, free: i64, total: i64): void {
    this.ctx.heapFree = free;
    this.ctx.heapTotal = total;
  }

  onConnected(now: i64, conn: i32): void {
    const http = this.ctx.http;
    const before = http.established;
    http.onConnected(now, conn);
    // The connection is kept alive, so every connection after the first is a reconnect (Vibes input).
    if (http.established > before && http.established > 1) this.ctx.reconnects.record(now);
    this.settle(now);
  }

  onData(now: i64, conn: i32, p: usize, n: i32): void {
    this.ctx.http.onData(now, conn, p, n);
    this.settle(now);
  }

  onClosed(now: i64, conn: i32, reason: i32): void {
    this.ctx.http.onClosed(now, conn, reason);
    this.settle(now);
  }

  onTimer(now: i64): void {
    this.ctx.http.onTimer(now);
    if (this.ctx.phase == Phase.Running) this.status.onTimer(now);
    this.settle(now);
  }

  /** Stops, optionally deleting our Lease and Node first. */
  shutdown(now: i64, mode: i32): void {
    const ctx = this.ctx;
    if (ctx.phase == Phase.Stopped || ctx.phase == Phase.Failed || ctx.phase == Phase.Stopping) return;
    this.anchor.idle();
    this.registration.task.idle();
    this.lease.pause();
    this.status.pause();
    if (mode == Shutdown.Cleanup && ctx.nodeUid.length > 0 && ctx.linkUp) {
      logInfo("shutting down: deleting lease and node " + ctx.cfg.nodeName);
      ctx.phase = Phase.Stopping;
      this.cleanup = Work.DeleteLease;
      this.cleanupTask.now(now);
    } else {
      this.stopped();
    }
    this.settle(now);
  }

  /** The absolute time the core next needs on_timer, or -1. */
  nextDeadline(now: i64): i64 {
    const ctx = this.ctx;
    let d = ctx.http.nextDeadline();
    if (ctx.phase == Phase.Configuring || ctx.phase == Phase.Stopped || ctx.phase == Phase.Failed) return d;
    if (ctx.linkUp && ctx.http.free) {
      d = earliest(d, this.anchor.due);
      d = earliest(d, this.registration.task.due);
      d = earliest(d, this.lease.task.due);
      d = earliest(d, this.status.push.due);
      d = earliest(d, this.status.annotation.due);
      d = earliest(d, this.cleanupTask.due);
    }
    if (ctx.phase == Phase.Running) d = earliest(d, this.status.nextEvaluation);
    // The LED must turn Warning once renewals have failed for a whole lease duration.
    const failing = this.lease.failingSince;
    if (failing >= 0) {
      const warnAt = failing + <i64>ctx.cfg.leaseDurationSeconds * 1000 + 1;
      if (warnAt > now) d = earliest(d, warnAt);
    }
    return d;
  }

  /** After every event: route a finished request, send the next one, update the LED. */
  private settle(now: i64): void {
    const ctx = this.ctx;
    this.route(now, ctx.http.takeResult());
    this.pump(now);
    this.updateLed(now);
  }

  private route(now: i64, r: HttpResult | null): void {
    if (r === null) return;
    const ctx = this.ctx;
    ctx.noteResult(r);
    this.observeDate(now, r);
    const tag = r.tag;
    if (tag == Work.Anchor) this.anchored(now, r);
    else if (tag == Work.NodeCreate || tag == Work.NodeGet || tag == Work.NodeLabels) {
      if (this.registration.handle(now, r)) this.enter(now, Phase.Leasing);
    } else if (tag == Work.LeaseCreate || tag == Work.LeaseAdopt || tag == Work.LeaseRenew) {
      const outcome = this.lease.handle(now, r);
      if (outcome == LeaseOutcome.Created && ctx.phase == Phase.Leasing) this.enter(now, Phase.Running);
      else if (outcome == LeaseOutcome.Vanished) this.enter(now, Phase.Registering);
      else if (outcome == LeaseOutcome.Recovered && ctx.phase == Phase.Running) this.status.repost(now);
    } else if (tag == Work.Status || tag == Work.Annotation) {
      if (this.status.handle(now, r) == StatusOutcome.NodeGone) this.enter(now, Phase.Registering);
    } else if (tag == Work.DeleteLease || tag == Work.DeleteNode) {
      this.cleanedUp(now, r);
    }
  }

  /** Every response's Date header re-anchors the clock and measures skew (Haunted/TimeSlipped). */
  private observeDate(now: i64, r: HttpResult): void {
    if (!r.ok || r.dateSecs < 0) return;
    const clock = this.ctx.clock;
    const correction = clock.observe(r.dateSecs, r.sentAt, r.firstByteAt > 0 ? r.firstByteAt : now);
    const size = correction < 0 ? -correction : correction;
    if (size > TIME_SLIP_MS) {
      this.ctx.timeSlipAt = now;
      logWarn("wall clock corrected by " + correction.toString() + " ms from the API server's Date header");
    }
  }

  private anchored(now: i64, r: HttpResult): void {
    const ctx = this.ctx;
    if (ctx.phase != Phase.Anchoring) return;
    if (ctx.clock.anchored) {
      this.anchor.succeeded();
      this.anchor.idle();
      logInfo("clock anchored from the API server: " + rfc3339(ctx.clock.wallMs(now), true));
      this.enter(now, Phase.Registering);
      return;
    }
    const why = r.ok ? "no valid Date header in the response (HTTP " + r.status.toString() + ")" : ctx.describe(r);
    const d = this.anchor.retry(now, ctx.rng);
    logWarn("anchoring the clock failed: " + why + "; retrying in " + seconds(d));
  }

  /** The only place the phase changes. */
  private enter(now: i64, phase: Phase): void {
    const ctx = this.ctx;
    ctx.phase = phase;
    if (phase == Phase.Registering) {
      this.lease.pause();
      this.status.pause();
      this.registration.begin(now);
    } else if (phase == Phase.Leasing) {
      this.lease.begin(now);
    } else if (phase == Phase.Running) {
      const extras = this.registration.staticDiffers ? StatusExtras.All : StatusExtras.None;
      this.status.start(now, extras);
    }
  }

  /** Hands the HTTP client the most urgent due task. */
  private pump(now: i64): void {
    const ctx = this.ctx;
    if (!ctx.linkUp || !ctx.http.free) return;
    let task: Task | null = null;
    let req: HttpRequest | null = null;
    if (this.anchor.ready(now)) {
      task = this.anchor;
      req = ctx.request(Work.Anchor, "GET", "/version", "", false, false);
    } else if (this.registration.task.ready(now)) {
      task = this.registration.task;
      // The registration body carries conditions: evaluate them fresh.
      if (this.registration.step == Work.NodeCreate) this.status.evaluate(now);
      req = this.registration.request(now);
    } else if (this.lease.task.ready(now)) {
      task = this.lease.task;
      req = this.lease.request(now);
    } else if (this.status.push.ready(now)) {
      task = this.status.push;
      req = this.status.request(now, Work.Status);
    } else if (this.status.annotation.ready(now)) {
      task = this.status.annotation;
      req = this.status.request(now, Work.Annotation);
    } else if (this.cleanupTask.ready(now)) {
      task = this.cleanupTask;
      const path = this.cleanup == Work.DeleteLease ? ctx.leasePath : ctx.nodePath;
      req = ctx.request(this.cleanup, "DELETE", path, "", false, false);
    }
    if (task === null || req === null) return;
    ctx.http.submit(now, req);
    // A submit can complete at once (an oversized request); route it so nothing is lost.
    const r = ctx.http.takeResult();
    if (r !== null) this.route(now, r);
  }

  private cleanedUp(now: i64, r: HttpResult): void {
    const ok = r.ok && (r.status == 200 || r.status == 202 || r.status == 404);
    const what = this.cleanup == Work.DeleteLease ? "lease" : "node";
    if (ok) logInfo("deleted " + what + " " + this.ctx.cfg.nodeName);
    else logWarn("could not delete " + what + ": " + this.ctx.describe(r));
    if (this.cleanup == Work.DeleteLease) {
      this.cleanup = Work.DeleteNode;
      this.cleanupTask.now(now);
      return;
    }
    this.stopped();
  }

  private stopped(): void {
    const ctx = this.ctx;
    this.cleanup = Work.None;
    this.cleanupTask.idle();
    ctx.http.drop();
    ctx.http.current = null;
    ctx.http.result = null;
    ctx.phase = Phase.Stopped;
    logInfo("stopped");
  }

  /** Pending retries run now and start their backoff afresh (the link just came back). */
  private expedite(now: i64): void {
    this.anchor.expedite(now);
    this.registration.task.expedite(now);
    this.lease.task.expedite(now);
    this.status.push.expedite(now);
    this.status.annotation.expedite(now);
  }

  /** Picks the steady LED pattern from the state; shows an Activity blip on each renewal. */
  private updateLed(now: i64): void {
    const ctx = this.ctx;
    let want: Led;
    const failing = this.lease.failingSince;
    const leaseMs = <i64>ctx.cfg.leaseDurationSeconds * 1000;
    if (ctx.phase == Phase.Stopped || ctx.phase == Phase.Configuring) want = Led.Off;
    else if (ctx.phase == Phase.Failed) want = Led.Warning;
    else if (!ctx.linkUp) want = Led.Disconnected;
    else if (ctx.authRefused || ctx.consecutiveFailures >= WARNING_AFTER_FAILURES) want = Led.Warning;
    else if (this.lease.failuresInARow >= WARNING_AFTER_FAILURES) want = Led.Warning;
    else if (failing >= 0 && now - failing > leaseMs) want = Led.Warning;
    else if (ctx.renewals == 0) want = Led.Connecting;
    else want = Led.Healthy;
    if (want != this.led) {
      this.led = want;
      hostLed(want);
      if (want == Led.Warning) logWarn("LED: warning (" + this.warningReason(now) + ")");
      else logDebug("LED pattern " + (<i32>want).toString());
    }
    if (ctx.renewals != this.blips) {
      this.blips = ctx.renewals;
      if (want == Led.Healthy) hostLed(Led.Activity);
    }
  }

  private warningReason(now: i64): string {
    const ctx = this.ctx;
    if (ctx.phase == Phase.Failed) return "configuration refused";
    if (ctx.authRefused) return "the API server refused our credentials";
    if (this.lease.failingSince >= 0) return "lease renewals failing for " + seconds(now - this.lease.failingSince);
    return ctx.consecutiveFailures.toString() + " API requests failed in a row";
  }

  /** Marks the configuration as refused. */
  failConfig(): void {
    this.ctx.phase = Phase.Failed;
    this.led = Led.Warning;
    hostLed(Led.Warning);
    logError("configuration refused; nothing will be sent");
  }
}

function earliest(a: i64, b: i64): i64 {
  if (b < 0) return a;
  if (a < 0) return b;
  return a < b ? a : b;
}

function linkName(k: Link): string {
  return k == Link.WiFi ? "Wi-Fi" : "Ethernet";
}


/** Boot ID (random, new each start), systemUUID from the MAC, machineID from the name. */
function makeIdentity(ctx: Context): void {
  const id = ctx.identity;
  const c = ctx.cfg;
  id.machineId = "picokubelet-" + c.nodeName;
  let mac: u64 = 0;
  if (c.mac.length == 17) {
    for (let i = 0; i < 17; i += 3) {
      mac = (mac << 8) | <u64>(hexPair(c.mac, i));
    }
  } else {
    // No MAC from the host: a stable value derived from the name (FNV-1a), marked locally administered.
    let h: u64 = 0xcbf29ce484222325;
    for (let i = 0; i < c.nodeName.length; i++) {
      h ^= <u64>c.nodeName.charCodeAt(i);
      h *= 0x100000001b3;
    }
    mac = (h & 0xfeffffffffff) | 0x020000000000;
  }
  const u = new ByteBuffer(40, 40);
  u.str("00000000-0000-0000-0000-");
  u.hex(mac, 12);
  id.systemUuid = u.toString();
  // A version-4 UUID from the host's entropy: a new one on every boot (weakness 10).
  const hi = ctx.rng.next();
  const lo = ctx.rng.next();
  const b = new ByteBuffer(40, 40);
  b.hex(hi >> 32, 8);
  b.byte(0x2d);
  b.hex((hi >> 16) & 0xffff, 4);
  b.byte(0x2d);
  b.hex(0x4000 | (hi & 0x0fff), 4);
  b.byte(0x2d);
  b.hex(0x8000 | ((lo >> 48) & 0x3fff), 4);
  b.byte(0x2d);
  b.hex(lo & 0xffffffffffff, 12);
  id.bootId = b.toString();
}

function hexPair(s: string, i: i32): i32 {
  const a = hexDigit(s.charCodeAt(i));
  const b = hexDigit(s.charCodeAt(i + 1));
  return (a << 4) | b;
}

function hexDigit(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  return (c | 0x20) - 0x61 + 10;
}
