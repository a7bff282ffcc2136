/**
 * Node conditions: the evaluators (pure functions from signals to a verdict) and the tracker that
 * decides when lastTransitionTime moves.
 *
 * The kubelet's rule (pkg/kubelet/nodestatus/setters.go): lastHeartbeatTime is refreshed on every push,
 * lastTransitionTime only when the condition's *status* flips. A new reason or message under the same
 * status does not move it. The five joke conditions keep the original firmware's thresholds, reasons and
 * order (docs/behaviour.md, conditions); their inputs are real signals here: a rolling reconnect window, BSSID changes
 * and clock skew measured at re-anchoring. Messages are our own words.
 */
import { HEAP_TOTAL_BYTES } from "./defaults";
import { ByteBuffer, bytesEqual } from "../util/bytes";

/** Condition status values. */
export enum CStatus {
  True = 0,
  False = 1,
  Unknown = 2,
}

/** "True", "False" or "Unknown". */
export function statusText(s: CStatus): string {
  return s == CStatus.True ? "True" : s == CStatus.False ? "False" : "Unknown";
}

/** Index of each condition in the pushed list; the order is the order on the wire. */
export enum Cond {
  Ready = 0,
  MemoryPressure = 1,
  DiskPressure = 2,
  PIDPressure = 3,
  NetworkUnavailable = 4,
  Vibes = 5,
  Caffeinated = 6,
  Existential = 7,
  Peckish = 8,
  Haunted = 9,
}

export const CONDITION_COUNT = 10;

const TYPES: string[] = [
  "Ready", "MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable",
  "Vibes", "Caffeinated", "Existential", "Peckish", "Haunted",
];

/** The Kubernetes type name of condition `i`. */
export function conditionType(i: i32): string {
  return i >= 0 && i < TYPES.length ? TYPES[i] : "";
}

/** The index of condition type `v`, or -1 when it is not one of ours. */
export function conditionIndex(v: ByteBuffer): i32 {
  for (let i = 0; i < TYPES.length; i++) if (bytesEqual(v, unchecked(TYPES[i]))) return i;
  return -1;
}

/** The CStatus of `v` ("True", "False", "Unknown"), or -1. */
export function statusOf(v: ByteBuffer): i32 {
  for (let s = 0; s < 3; s++) if (bytesEqual(v, statusText(<CStatus>s))) return s;
  return -1;
}

/** Everything the evaluators look at, sampled once per evaluation. */
export class Signals {
  /** Free heap bytes (host reading). */
  freeHeap: i64 = 0;
  /** Heap size the percentages refer to. */
  totalHeap: i64 = HEAP_TOTAL_BYTES;
  /** Seconds since the host booted. */
  uptimeSeconds: i64 = 0;
  /** Link re-ups and API reconnects in the rolling window. */
  reconnects: i32 = 0;
  /** Successful lease renewals since start. */
  renewals: i64 = 0;
  /** A new BSSID was seen within the hold window. */
  bssidChanged: bool = false;
  /** The wall clock had to be corrected by more than the slip threshold within the hold window. */
  timeSlipped: bool = false;
  /** MemoryPressure threshold in bytes. */
  memoryThreshold: i64 = 20480;
  /** MemoryPressure after hysteresis (see memoryPressure()). */
  memoryPressure: bool = false;
  /** How long lease renewals have been failing, in ms (0 when the last one succeeded). */
  renewFailingMs: i64 = 0;
  /** Lease duration in ms. */
  leaseDurationMs: i64 = 40_000;
  /** Link kind (abi/codes.ts Link) and Wi-Fi RSSI. */
  link: i32 = 0;
  rssi: i32 = 0;
}

/** One evaluator's answer. */
export class Verdict {
  constructor(public status: CStatus, public reason: string, public message: string) {}
}

/** floor(min(free, total) × 100 / total): the original firmware's integer heap percentage. */
export function heapPercentFree(free: i64, total: i64): i64 {
  if (total <= 0) total = HEAP_TOTAL_BYTES;
  if (free < 0) free = 0;
  const f = free < total ? free : total;
  return (f * 100) / total;
}

/**
 * MemoryPressure with hysteresis: it turns True below `threshold` and turns False again only once free
 * heap is back at `threshold + hysteresis`, so a heap hovering at the line cannot flap (the original had no hysteresis).
 */
export function memoryPressure(previous: bool, free: i64, threshold: i64, hysteresis: i64): bool {
  return previous ? free < threshold + hysteresis : free < threshold;
}

/** Ready: this kubelet is doing its job (lease renewals landing, heap not critically low). */
export function evalReady(s: Signals, full: bool = true): Verdict {
  if (s.renewFailingMs > s.leaseDurationMs / 2) {
    return new Verdict(CStatus.False, "KubeletNotReady",
      full ? "lease renewals have been failing for " + (s.renewFailingMs / 1000).toString() + " s" : "");
  }
  if (s.freeHeap < s.memoryThreshold / 2) {
    return new Verdict(CStatus.False, "KubeletNotReady",
      full ? "free heap is critically low (" + s.freeHeap.toString() + " bytes)" : "");
  }
  return new Verdict(CStatus.True, "KubeletReady",
    "picokubelet is posting status and renewing its lease on a microcontroller");
}

export function evalMemoryPressure(s: Signals, full: bool = true): Verdict {
  if (s.memoryPressure) {
    return new Verdict(CStatus.True, "KubeletHasInsufficientMemory",
      full ? "free heap " + s.freeHeap.toString() + " bytes is below " + s.memoryThreshold.toString() + " bytes" : "");
  }
  return new Verdict(CStatus.False, "KubeletHasSufficientMemory",
    full ? "free heap " + s.freeHeap.toString() + " bytes, which is more than zero and then some" : "");
}

export function evalDiskPressure(_s: Signals): Verdict {
  return new Verdict(CStatus.False, "KubeletHasNoDiskPressure",
    "picokubelet writes nothing to flash, so there is no disk to pressure");
}

export function evalPIDPressure(_s: Signals): Verdict {
  return new Verdict(CStatus.False, "KubeletHasSufficientPID",
    "no processes are started here: pods are theater, and PIDs are fictional");
}

export function evalNetworkUnavailable(s: Signals, full: bool = true): Verdict {
  if (!full) return new Verdict(CStatus.False, "LinkUp", "");
  const kind = s.link == 2 ? "Wi-Fi" : "Ethernet";
  const extra = s.link == 2 ? " (RSSI " + s.rssi.toString() + " dBm)" : "";
  return new Verdict(CStatus.False, "LinkUp", kind + " link is up" + extra);
}

/** Vibes: first match wins (thresholds in docs/behaviour.md). */
export function evalVibes(s: Signals, full: bool = true): Verdict {
  const pct = heapPercentFree(s.freeHeap, s.totalHeap);
  if (s.reconnects >= 3) {
    return new Verdict(CStatus.False, "Cursed",
      full ? s.reconnects.toString() + " reconnects in the last five minutes: the network is cursed" : "");
  }
  if (pct < 30) return new Verdict(CStatus.False, "Off", full ? "only " + pct.toString() + "% of the heap is free; the mood is hostile" : "");
  if (pct > 70 && s.reconnects == 0 && s.uptimeSeconds < 600) {
    return new Verdict(CStatus.True, "Immaculate", "fresh boot, plenty of heap, not one reconnect");
  }
  if (pct > 50 && s.reconnects == 0) return new Verdict(CStatus.True, "Cromulent", "a perfectly cromulent node");
  return new Verdict(CStatus.Unknown, "Dissociating", "the vibes cannot be determined right now");
}

/** Caffeinated: fresh for the first ten minutes (the boundary is exclusive). */
export function evalCaffeinated(s: Signals, full: bool = true): Verdict {
  if (s.uptimeSeconds < 600) return new Verdict(CStatus.True, "FreshlyBrewed", "booted less than ten minutes ago");
  return new Verdict(CStatus.False, "Decaf", full ? "up for " + (s.uptimeSeconds / 60).toString() + " minutes on fumes and conviction" : "");
}

/**
 * Existential: driven by the count of successful lease renewals. The message names the tier's bounds, not
 * the running count: status is pushed every few minutes, and a count would be stale for all of them.
 */
export function evalExistential(s: Signals): Verdict {
  const n = s.renewals;
  if (n >= 10000) return new Verdict(CStatus.True, "Transcendent", "the lease has become the self (10000+ renewals)");
  if (n >= 1000) return new Verdict(CStatus.True, "Accepting", "at peace with renewing forever (1000+ renewals)");
  if (n >= 100) return new Verdict(CStatus.True, "Questioning", "wondering whether renewing is all there is (100+ renewals)");
  return new Verdict(CStatus.False, "Innocent", "still believes a pod will come (under 100 renewals)");
}

/** Peckish: hunger follows free heap; below the MemoryPressure line it is always Hungry. */
export function evalPeckish(s: Signals, full: bool = true): Verdict {
  const pct = heapPercentFree(s.freeHeap, s.totalHeap);
  if (s.freeHeap < s.memoryThreshold) return new Verdict(CStatus.True, "Hungry", "would eat a byte (or several)");
  if (pct > 60) return new Verdict(CStatus.False, "Sated", full ? pct.toString() + "% of the heap is free; no snacks needed" : "");
  if (pct > 40) return new Verdict(CStatus.True, "CouldGoForASnack", full ? pct.toString() + "% of the heap is free" : "");
  return new Verdict(CStatus.True, "Hungry", "would eat a byte (or several)");
}

/** Haunted: a new access point or a clock that jumped, within the hold window. */
export function evalHaunted(s: Signals): Verdict {
  if (s.bssidChanged) return new Verdict(CStatus.True, "NewGhost", "associated with a different access point recently");
  if (s.timeSlipped) return new Verdict(CStatus.True, "TimeSlipped", "the wall clock disagreed with the monotonic clock by more than 5 s");
  return new Verdict(CStatus.False, "Calm", "no ghosts in the last five minutes");
}

/**
 * Evaluates condition `i`. Without `full`, messages that would have to be built (numbers in them) are left
 * "": the status and reason are the same, and the tracker builds the message only when it is read.
 */
export function evaluate(i: i32, s: Signals, full: bool = true): Verdict {
  switch (i) {
    case Cond.Ready: return evalReady(s, full);
    case Cond.MemoryPressure: return evalMemoryPressure(s, full);
    case Cond.DiskPressure: return evalDiskPressure(s);
    case Cond.PIDPressure: return evalPIDPressure(s);
    case Cond.NetworkUnavailable: return evalNetworkUnavailable(s, full);
    case Cond.Vibes: return evalVibes(s, full);
    case Cond.Caffeinated: return evalCaffeinated(s, full);
    case Cond.Existential: return evalExistential(s);
    case Cond.Peckish: return evalPeckish(s, full);
    default: return evalHaunted(s);
  }
}

/** One condition as last evaluated. */
export class Condition {
  status: CStatus = CStatus.Unknown;
  reason: string = "";
  /** The message, or "" while `from` says what to build it from. */
  private text: string = "";
  /**
   * The signals of the evaluation whose message is not built yet. Conditions are evaluated every 10 s and
   * their messages read only when status is pushed (every few minutes), so building them on each
   * evaluation was most of its allocations.
   */
  private from: Signals | null = null;

  constructor(private index: i32) {}

  /** The message of the last evaluation (built now from its signals if it was not yet). */
  get message(): string {
    const s = this.from;
    if (s !== null) {
      this.text = evaluate(this.index, s, true).message;
      this.from = null;
    }
    return this.text;
  }

  set message(m: string) {
    this.text = m;
    this.from = null;
  }

  /** The message is the one evaluating this condition on `s` gives, built when read. */
  messageFrom(s: Signals): void {
    this.from = s;
  }

  /** Wall time (Unix ms) of the last status flip. */
  transitionMs: i64 = 0;
  /** False until the first evaluation. */
  seen: bool = false;
}

/**
 * Tracks every condition's status and transition time. The real conditions' first evaluation stamps the
 * time of registration; the joke ones start Unknown (as in the original firmware), so their first real value is a
 * flip that stamps the same time.
 */
export class ConditionTracker {
  items: Condition[] = [];

  constructor() {
    for (let i = 0; i < CONDITION_COUNT; i++) this.items.push(new Condition(i));
  }

  /** Records a verdict for condition `i` at wall time `wallMs`; true when its status flipped. */
  set(i: i32, v: Verdict, wallMs: i64): bool {
    const c = this.items[i];
    const flipped = !c.seen || c.status != v.status;
    if (flipped) c.transitionMs = wallMs;
    // A first evaluation that lands on the initial Unknown is not a flip, but still stamps the time.
    const reportFlip = c.seen ? flipped : v.status != CStatus.Unknown || i < Cond.Vibes;
    c.seen = true;
    c.status = v.status;
    c.reason = v.reason;
    c.message = v.message;
    return reportFlip;
  }

  /**
   * Compares condition `i` with the server's copy: `server` is its status there (-1: missing), `serverMs`
   * its lastTransitionTime (-1: unreadable), `posted` the status we last posted (-1: none yet). True when
   * the server must be told again. A status someone else set (the node lifecycle controller's Unknown, an
   * admin's edit) or a missing condition is a change against what the server holds: going back to ours is
   * a transition at `wallMs`. Under the same status the later of the two times stands, so the server's
   * lastTransitionTime never moves backwards (times compare in whole seconds, as they are written).
   */
  reconcile(i: i32, server: i32, serverMs: i64, posted: i32, wallMs: i64): bool {
    const c = this.items[i];
    if (posted < 0) return false;
    if (server == <i32>c.status) {
      if (serverMs < 0) return false;
      const ours = c.transitionMs / 1000;
      if (serverMs / 1000 > ours) c.transitionMs = serverMs;
      return serverMs / 1000 < ours;
    }
    // Our own flip is on its way (the server still holds what we posted).
    if (server == posted) return false;
    c.transitionMs = serverMs > wallMs ? serverMs : wallMs;
    return true;
  }

  /**
   * Evaluates every condition; returns a bit mask of the ones whose status flipped. The messages are built
   * from `s` when read, so the caller must not change `s` afterwards (StatusReconciler makes a new one each time).
   */
  evaluateAll(s: Signals, wallMs: i64): i32 {
    let mask = 0;
    for (let i = 0; i < CONDITION_COUNT; i++) {
      if (this.set(i, evaluate(i, s, false), wallMs)) mask |= 1 << i;
      unchecked(this.items[i]).messageFrom(s);
    }
    return mask;
  }
}
