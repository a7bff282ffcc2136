/**
 * The kubelet agent: routes every event to the right lane and worker, decides what goes on the wire next,
 * and keeps the LED honest.
 *
 * Theory of operation. The work is one ordered table of workers (node/worker.ts): anchor (GET /version
 * until a Date header anchors the clock), registration, lease, status, heap annotation, cleanup. After
 * every event `pump` hands the control lane the request of the first due worker in table order, so a
 * renewal never queues behind a status push, and because every request's deadline is at most one renew
 * period, a slow exchange delays a renewal by at most one period. A worker's result comes back as a
 * Signal; the phase changes only in `enter`, through the transition table in phases.ts. Host actions
 * leave through the outbox, flushed once at the end of every event. Nothing is sent while the link is
 * down; when it returns, pending retries run at once.
 */
import { hostLed } from "../abi/imports";
import { Led, Link, Phase, Shutdown } from "../abi/codes";
import { Context, ipText } from "../node/context";
import { logInfo, logWarn, logError, logDebug, seconds } from "../util/log";
import { HttpResult } from "../http/lane";
import { ByteBuffer, fnv1a64 } from "../util/bytes";
import { Config } from "../node/config";
import { Anchor } from "../node/anchor";
import { Cleanup } from "../node/cleanup";
import { Registration } from "../node/registration";
import { LeaseReconciler } from "../node/lease";
import { StatusReconciler } from "../node/status";
import { StatusExtras } from "../node/objects";
import { Signal, Worker } from "../node/worker";
import { Random } from "../util/random";
import { PUSHBACK_DEFAULT_MS, PUSHBACK_MAX_MS, TIME_SLIP_MS, WARNING_AFTER_FAILURES } from "../node/defaults";
import { Outcome } from "../http/outcome";
import { Lane } from "../http/lane";
import { EventRecorder } from "../pods/events";
import { PodManager } from "../pods/manager";
import { PodSource } from "../pods/source";
import { NodeInformer } from "../node/informer";
import { CertificateManager } from "../node/certificate";
import { ClientCertificateManager } from "../node/bootstrap";
import { KeySlot } from "../abi/codes";
import { BrainPuller, REGISTRY_LANE } from "../brain/puller";
import { acting, transition } from "./phases";

export class Kubelet {
  readonly ctx: Context = new Context();
  readonly anchor: Anchor = new Anchor(this.ctx);
  readonly lease: LeaseReconciler = new LeaseReconciler(this.ctx);
  readonly status: StatusReconciler = new StatusReconciler(this.ctx, this.lease);
  readonly registration: Registration = new Registration(this.ctx, this.status);
  readonly cleanup: Cleanup = new Cleanup(this.ctx);
  readonly events: EventRecorder = new EventRecorder(this.ctx);
  readonly pods: PodManager = new PodManager(this.ctx, this.events);
  readonly source: PodSource = new PodSource(this.ctx, this.pods);
  readonly informer: NodeInformer = new NodeInformer(this.ctx, this.status);
  /** The node's client certificate: TLS bootstrap and rotation (node/bootstrap.ts). */
  readonly client: ClientCertificateManager = new ClientCertificateManager(this.ctx);
  /** The kubelet-port serving certificate, from the cluster (node/certificate.ts). */
  readonly serving: CertificateManager = new CertificateManager(this.ctx, "serving", KeySlot.Serving,
    "kubernetes.io/kubelet-serving", SERVING_USAGES, true);
  /** Pulls the brain the node's brain pod names and hands it to the host to swap to (brain/puller.ts). */
  readonly puller: BrainPuller = new BrainPuller(this.ctx, this.pods, this.events);
  /**
   * The work table, in priority order; a request's `owner` is its row. Each worker sends on its lane:
   * the control lane carries every ordinary request (the lease first); the pod source and the node
   * informer each have a stream lane; the brain puller has the registry lane (and reads pull secrets on
   * the control lane, after everything else).
   */
  readonly table: Worker[] = [this.anchor, this.registration, this.lease, this.status, this.status.annotation, this.cleanup,
    this.pods, this.events, this.client, this.serving, this.source, this.informer, this.puller];
  /** Lane i carries the requests of workers whose `lane` is i (the registry lane is brain/puller.ts REGISTRY_LANE). */
  readonly lanes: Lane[] = [this.ctx.control, this.source.stream, this.informer.stream, this.puller.stream];
  /** The node events of the first start were queued. */
  private announced: bool = false;
  /** The steady LED pattern last shown. */
  led: Led = Led.Off;
  /** Renewals already shown as an Activity blip. */
  private blips: i64 = 0;
  /**
   * Until when the server asked us to hold back (429, or 503 with Retry-After): every worker but the lease
   * waits, so under API Priority and Fairness pressure the renewal that keeps the node alive goes first.
   */
  pushbackUntil: i64 = -1;
  /** Results routed, requests built, watch events: the events that allocate (kubelet.ts collects after them). */
  work: i64 = 0;
  /**
   * The steady state's events, which leave little garbage each (a renewal's request and its small result,
   * a condition evaluation, a watch bookmark: a renewal period's worth is under 2 KiB): kubelet.ts
   * collects only after many of them, since a collection walks the whole live heap.
   */
  light: i64 = 0;

  /**
   * Adds a worker of a layer above this one (the kubelet port's reviews) to the table, just before
   * `before`, so it keeps its priority among the control lane's workers. Only before `start`.
   */
  addWorker(w: Worker, before: Worker): void {
    const t = this.table;
    const at = t.indexOf(before);
    t.push(w);
    if (at < 0) return;
    for (let i = t.length - 1; i > at; i--) t[i] = t[i - 1];
    t[at] = w;
  }

  /** Sends what workers want after something outside the agent queued work (the kubelet port's reviews). */
  poke(now: i64): void {
    this.settle(now);
  }

  /** Applies a validated configuration and starts anchoring the clock. */
  start(now: i64, cfg: Config, seed: u64): void {
    const ctx = this.ctx;
    ctx.cfg = cfg;
    ctx.rng = new Random(seed);
    const api = ctx.api;
    api.host = cfg.apiHost;
    api.port = cfg.apiPort;
    api.serverName = cfg.serverName;
    api.token = cfg.token;
    ctx.control.timeoutMs = cfg.requestTimeoutMs;
    this.source.stream.timeoutMs = cfg.requestTimeoutMs;
    this.informer.stream.timeoutMs = cfg.requestTimeoutMs;
    this.puller.stream.timeoutMs = cfg.requestTimeoutMs;
    this.pods.refuseDaemonSets = cfg.daemonSetPods == "refuse";
    ctx.nodePath = "/api/v1/nodes/" + cfg.nodeName;
    ctx.leasePath = ctx.leasesPath + "/" + cfg.nodeName;
    makeIdentity(ctx);
    this.enter(now, Phase.Anchoring);
    logInfo("picokubelet starting as node " + cfg.nodeName + ", API server " + cfg.apiHost + ":" + cfg.apiPort.toString() +
      (cfg.token.length > 0 ? " (bearer token)" : cfg.bootstrapToken.length > 0 ? " (client certificate, bootstrap token)" : " (client certificate)") + ", boot " + ctx.identity.bootId);
    this.settle(now);
  }

  /** Goes on from a snapshot applied after `start` (agent/snapshot.ts) instead of anchoring: straight to renewing. */
  resume(now: i64): void {
    this.anchor.task.idle();
    this.enter(now, Phase.Running);
    // The client certificate is rotated by this instance from now on (its install time comes from the host).
    if (this.ctx.cfg.token.length == 0) this.client.begin(now);
    logInfo("resumed from a snapshot: node uid " + this.ctx.nodeUid + ", boot " + this.ctx.identity.bootId);
    this.settle(now);
  }

  /** snapshot_take: idles every worker and forgets the control lane; the host closes the connections. */
  handOff(now: i64): void {
    this.enter(now, Phase.HandedOff);
  }

  /** The link changed. */
  onLink(now: i64, kind: i32, ipv4: u32, bssid: i64, rssi: i32): void {
    const ctx = this.ctx;
    const wasUp = ctx.linkUp;
    const k: Link = kind == Link.Ethernet ? Link.Ethernet : kind == Link.WiFi ? Link.WiFi : Link.Down;
    if (k == Link.Down) {
      if (wasUp) logWarn("link down; holding requests until it returns");
      ctx.link = Link.Down;
      for (let i = 0; i < this.lanes.length; i++) unchecked(this.lanes[i]).linkDown();
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
      // Pending retries run now and start their backoff afresh.
      for (let i = 0; i < this.table.length; i++) unchecked(this.table[i]).task.expedite(now);
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
        this.serving.addressesChanged(now);
      }
    }
    this.settle(now);
  }

  /**
   * The host's measure of the CPU time the core has used, cumulative µs. What it adds is charged evenly to
   * the containers the node plays (they are all played by the core at once): /metrics/resource.
   */
  onCpu(now: i64, busyMicros: i64): void {
    const ctx = this.ctx;
    if (busyMicros <= ctx.cpuMicros) return;
    const delta = busyMicros - ctx.cpuMicros;
    ctx.cpuMicros = busyMicros;
    this.pods.chargeCpu(delta);
  }

  /** A heap reading. */
  onHeap(now: i64, free: i64, total: i64): void {
    this.ctx.heapFree = free;
    this.ctx.heapTotal = total;
  }

  onConnected(now: i64, conn: i32): void {
    for (let i = 0; i < this.lanes.length; i++) {
      const lane = unchecked(this.lanes[i]);
      const before = lane.established;
      lane.onConnected(now, conn);
      // Connections are kept alive, so every control connection after the first is a reconnect (Vibes
      // input). The stream lane's reconnects follow the same network events, so they are not counted twice.
      // A connection replaced on purpose (a new client certificate) is not one.
      if (i == 0 && lane.established > before && lane.established > 1 && !lane.moved) this.ctx.reconnects.record(now);
    }
    this.settle(now);
  }

  onData(now: i64, conn: i32, p: usize, n: i32): void {
    // Watch events are applied as the bytes are scanned: they need the time of this event.
    this.source.now = now;
    this.informer.now = now;
    const events = this.source.events + this.informer.events;
    const bookmarks = this.source.bookmarks + this.informer.bookmarks;
    for (let i = 0; i < this.lanes.length; i++) {
      const lane = unchecked(this.lanes[i]);
      if (lane.owns(conn)) lane.onData(now, conn, p, n);
    }
    // Watch events allocate (the fields kept, what they change): they count as work for the collector;
    // a bookmark keeps only a resourceVersion.
    const marks = this.source.bookmarks + this.informer.bookmarks - bookmarks;
    this.work += this.source.events + this.informer.events - events - marks;
    this.light += marks;
    this.settle(now);
  }

  onClosed(now: i64, conn: i32, reason: i32): void {
    this.source.now = now;
    this.informer.now = now;
    for (let i = 0; i < this.lanes.length; i++) unchecked(this.lanes[i]).onClosed(now, conn, reason);
    this.settle(now);
  }

  onTimer(now: i64): void {
    for (let i = 0; i < this.lanes.length; i++) unchecked(this.lanes[i]).onTimer(now);
    const phase = this.ctx.phase;
    if (phase == Phase.Running) {
      // An evaluation that flips a condition also logs and pushes, which count themselves.
      if (this.status.onTimer(now)) this.light++;
      if (this.pods.tick(now)) this.work++;
      if (this.serving.tick(now)) this.work++;
      if (this.puller.tick(now)) this.work++;
    }
    if ((phase == Phase.Running || phase == Phase.Bootstrapping) && this.client.tick(now)) this.work++;
    this.settle(now);
  }

  /** A host call's result (kubelet.ts routes those that are not the listener's). */
  onHostResult(now: i64, req: i32, status: i32, p: usize, n: i32): void {
    if (this.serving.onHostResult(now, req, status, p, n) || this.client.onHostResult(now, req, status, p, n) ||
      this.puller.onHostResult(now, req, status, p, n)) this.work++;
    this.settle(now);
  }

  /** Stops, optionally deleting our Lease and Node first. */
  shutdown(now: i64, mode: i32): void {
    const ctx = this.ctx;
    if (ctx.phase == Phase.Stopped || ctx.phase == Phase.Failed || ctx.phase == Phase.Stopping) return;
    for (let i = 0; i < this.table.length; i++) unchecked(this.table[i]).task.idle();
    this.status.pause();
    this.source.pause();
    this.informer.pause();
    this.pods.pause();
    this.events.clear();
    if (mode == Shutdown.Cleanup && ctx.nodeUid.length > 0 && ctx.linkUp) {
      logInfo("shutting down: deleting lease and node " + ctx.cfg.nodeName);
      this.enter(now, Phase.Stopping);
    } else {
      this.enter(now, Phase.Stopped);
    }
    this.settle(now);
  }

  /** The absolute time the core next needs on_timer, or -1. */
  nextDeadline(now: i64): i64 {
    const ctx = this.ctx;
    let d: i64 = -1;
    for (let i = 0; i < this.lanes.length; i++) d = earliest(d, unchecked(this.lanes[i]).nextDeadline());
    if (!acting(ctx.phase)) return d;
    if (ctx.linkUp) {
      for (let i = 0; i < this.table.length; i++) {
        const w = unchecked(this.table[i]);
        if (!unchecked(this.lanes[w.lane]).free) continue;
        let due = w.task.due;
        // Held back: until the pushback ends, or behind the heartbeat until a renewal lands (which settles
        // anyway) or the Lease expires.
        if (due >= 0 && !this.mayRun(w, due)) {
          due = this.heartbeatFirst(now) ? this.lease.failingSince + <i64>ctx.cfg.leaseDurationSeconds * 1000 : this.pushbackUntil;
          if (due < this.pushbackUntil) due = this.pushbackUntil;
        }
        d = earliest(d, due);
      }
    }
    if (ctx.phase == Phase.Running) {
      d = earliest(d, this.status.nextEvaluation);
      d = earliest(d, this.pods.nextStep());
      d = earliest(d, this.serving.nextStep());
      d = earliest(d, this.puller.nextStep());
    }
    if (ctx.phase == Phase.Running || ctx.phase == Phase.Bootstrapping) d = earliest(d, this.client.nextStep());
    // The LED must turn Warning once renewals have failed for a whole lease duration.
    const failing = this.lease.failingSince;
    if (failing >= 0) {
      const warnAt = failing + <i64>ctx.cfg.leaseDurationSeconds * 1000 + 1;
      if (warnAt > now) d = earliest(d, warnAt);
    }
    return d;
  }

  /** After every event: route a finished request, send the next one, flush host actions, update the LED. */
  private settle(now: i64): void {
    const ctx = this.ctx;
    for (let i = 0; i < this.lanes.length; i++) this.route(now, unchecked(this.lanes[i]).takeResult());
    // The node informer learns of a deleted Node from the stream itself, not from a result.
    const gone = this.informer.take();
    if (gone != Signal.None && ctx.phase == Phase.Running) this.signal(now, gone);
    // A new client certificate: every connection moves to it (the host presents it on new connections).
    if (this.client.takeMoved()) {
      logInfo("client certificate installed: moving the API connections to it");
      // Registry connections present no client certificate: they stay.
      for (let i = 0; i < this.lanes.length; i++) if (i != REGISTRY_LANE) unchecked(this.lanes[i]).recycle(now);
      for (let i = 0; i < this.lanes.length; i++) this.route(now, unchecked(this.lanes[i]).takeResult());
    }
    const credentialed = this.client.take();
    if (credentialed != Signal.None) this.signal(now, credentialed);
    if (ctx.phase == Phase.Running) this.puller.follow(now, this.pods.brainPod());
    const pressure = this.status.memoryPressure;
    if (pressure != this.pods.memoryPressure) {
      this.pods.memoryPressure = pressure;
      if (this.announced) this.events.nodeStatusEvent(now, memoryEvent(pressure));
    }
    this.pump(now);
    ctx.outbox.flush();
    this.updateLed(now);
  }

  private route(now: i64, r: HttpResult | null): void {
    if (r === null) return;
    if (this.isRenewal(r.owner) && r.ok && r.status == 200) this.light++;
    else this.work++;
    const ctx = this.ctx;
    // After shutdown began, only the cleanup's own results count: a renewal that was in flight must not
    // re-arm anything, and after Stopped nothing happens at all.
    if (!acting(ctx.phase)) return;
    if (ctx.phase == Phase.Stopping && r.owner != this.table.indexOf(this.cleanup)) return;
    ctx.noteResult(r);
    if (r.ok && r.sentAt > 0) ctx.latency.observe(now - r.sentAt);
    this.observeDate(now, r);
    this.notePushback(now, r);
    if (r.owner < 0 || r.owner >= this.table.length) return;
    this.signal(now, unchecked(this.table[r.owner]).handle(now, r));
  }

  /** True when work table row `owner` is the lease and it is renewing (its results are small: light work). */
  private isRenewal(owner: i32): bool {
    return owner >= 0 && owner < this.table.length && unchecked(this.table[owner]) === this.lease && this.lease.renewing;
  }

  /** Acts on a worker's signal: the phase it leads to, or a status re-post. */
  private signal(now: i64, signal: Signal): void {
    const ctx = this.ctx;
    if (signal == Signal.LeaseRecovered) {
      if (ctx.phase == Phase.Running) this.status.repost(now);
      return;
    }
    const next = transition(ctx.phase, signal);
    if (next != ctx.phase) this.enter(now, next);
  }

  /** A 429, or a 503 with Retry-After: hold the other workers back for that long (1 s by default, at most a minute). */
  private notePushback(now: i64, r: HttpResult): void {
    const throttled = r.outcome == Outcome.Throttled || (r.status == 503 && r.retryAfterMs >= 0);
    if (!throttled) return;
    let wait = r.retryAfterMs > 0 ? r.retryAfterMs : PUSHBACK_DEFAULT_MS;
    if (wait > PUSHBACK_MAX_MS) wait = PUSHBACK_MAX_MS;
    if (now + wait > this.pushbackUntil) {
      this.pushbackUntil = now + wait;
      logWarn("API server pushback (HTTP " + r.status.toString() + "): only lease renewals for " + seconds(wait));
    }
  }

  /**
   * True when worker `w` may send now. The lease always may; the others wait while the server pushes
   * back (Retry-After) and, once running, while renewals fail as an overloaded server fails (`heartbeatFirst`).
   */
  private mayRun(w: Worker, now: i64): bool {
    if (w === this.lease) return true;
    if (this.heartbeatFirst(now)) return false;
    return now >= this.pushbackUntil;
  }

  /**
   * Renewals are failing as an overloaded server fails (the lease's `strained`) and the Lease has not
   * expired yet: a status push in flight would hold the lane for up to a whole request deadline, so the
   * control lane carries renewals only. Once the Lease has expired the node is NotReady to the cluster
   * anyway, and the status push that says why (Ready=False) may go again.
   */
  private heartbeatFirst(now: i64): bool {
    const l = this.lease;
    if (this.ctx.phase != Phase.Running || !l.strained || l.failingSince < 0) return false;
    return now - l.failingSince < <i64>this.ctx.cfg.leaseDurationSeconds * 1000;
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

  /** The only place the phase changes. */
  private enter(now: i64, phase: Phase): void {
    const ctx = this.ctx;
    ctx.phase = phase;
    if (phase == Phase.Anchoring) {
      this.anchor.task.now(now);
    } else if (phase == Phase.Bootstrapping) {
      this.client.check(now);
    } else if (phase == Phase.Registering) {
      this.lease.pause();
      this.status.pause();
      this.registration.begin(now);
    } else if (phase == Phase.Leasing) {
      this.lease.begin(now);
    } else if (phase == Phase.Running) {
      const extras = this.registration.staticDiffers ? StatusExtras.All : StatusExtras.None;
      this.status.start(now, extras);
      // Pods are learnt once the Node exists (the kubelet starts its pod source after the node syncs).
      if (!this.source.synced) this.source.begin(now);
      // Our own Node is watched too, so a change someone else makes to it is answered at once.
      if (!this.informer.synced) this.informer.begin(now);
      // The serving certificate is asked for once the Node (and its addresses) exist, and only when serving.
      if (ctx.cfg.kubeletPort > 0) this.serving.begin(now);
      this.announce(now);
    } else if (phase == Phase.Stopping) {
      this.cleanup.begin(now);
    } else if (phase == Phase.Stopped) {
      for (let i = 0; i < this.table.length; i++) unchecked(this.table[i]).task.idle();
      for (let i = 0; i < this.lanes.length; i++) unchecked(this.lanes[i]).reset();
      logInfo("stopped");
    } else if (phase == Phase.HandedOff) {
      for (let i = 0; i < this.table.length; i++) unchecked(this.table[i]).task.idle();
      this.status.pause();
      ctx.control.reset();
      ctx.outbox.discard();
      logInfo("state handed off to another instance; sending nothing more");
    } else if (phase == Phase.Failed) {
      this.led = Led.Warning;
      hostLed(Led.Warning);
      logError("configuration refused; nothing will be sent");
    }
  }

  /** Hands each free lane the request of its first due worker, in table order. */
  private pump(now: i64): void {
    const ctx = this.ctx;
    if (!acting(ctx.phase) || !ctx.linkUp) return;
    for (let l = 0; l < this.lanes.length; l++) {
      const lane = unchecked(this.lanes[l]);
      if (!lane.free) continue;
      for (let i = 0; i < this.table.length; i++) {
        const w = unchecked(this.table[i]);
        if (w.lane != l || !w.task.ready(now) || !this.mayRun(w, now)) continue;
        const req = w.request(now);
        if (w === this.lease && this.lease.renewing) this.light++;
        else this.work++;
        req.owner = i;
        lane.submit(now, req);
        // A submit can complete at once (an oversized request); route it so nothing is lost.
        const r = lane.takeResult();
        if (r !== null) this.route(now, r);
        break;
      }
    }
  }

  /** The kubelet's node events of a start, once: Starting, the memory condition, NodeReady. */
  private announce(now: i64): void {
    if (this.announced) return;
    this.announced = true;
    const ev = this.events;
    ev.nodeEvent(now, false, "Starting", "Starting kubelet.");
    ev.nodeStatusEvent(now, memoryEvent(this.status.memoryPressure));
    ev.nodeStatusEvent(now, "NodeReady");
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
    else if (ctx.credentialProblem.length > 0) want = Led.Warning;
    else if (ctx.authRefused || ctx.consecutiveFailures >= WARNING_AFTER_FAILURES) want = Led.Warning;
    else if (this.lease.failuresInARow >= WARNING_AFTER_FAILURES) want = Led.Warning;
    else if (failing >= 0 && now - failing > leaseMs) want = Led.Warning;
    // The Lease's creation already carried a renewTime: from then on the cluster sees the node alive.
    else if (!this.lease.renewing) want = Led.Connecting;
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
    if (ctx.credentialProblem.length > 0) return ctx.credentialProblem;
    if (ctx.authRefused) return "the API server refused our credentials";
    if (this.lease.failingSince >= 0) return "lease renewals failing for " + seconds(now - this.lease.failingSince);
    return ctx.consecutiveFailures.toString() + " API requests failed in a row";
  }

  /** Marks the configuration as refused. */
  failConfig(): void {
    this.enter(0, Phase.Failed);
  }
}

/** Key usages of a kubelet serving certificate (ECDSA keys need no key encipherment). */
const SERVING_USAGES: string[] = ["digital signature", "server auth"];

/** The node event that reports the memory condition. */
function memoryEvent(pressure: bool): string {
  return pressure ? "NodeHasInsufficientMemory" : "NodeHasSufficientMemory";
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
    mac = (fnv1a64(c.nodeName) & 0xfeffffffffff) | 0x020000000000;
  }
  const u = new ByteBuffer(40, 40);
  u.str("00000000-0000-0000-0000-");
  u.hex(mac, 12);
  id.systemUuid = u.toString();
  // A version-4 UUID from the host's entropy: a new one on every boot (the original's was constant).
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
