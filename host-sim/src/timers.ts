// host-sim/src/timers.ts
// Monotonic time and one-shot timers for every node of a process. SystemTimers coalesces all timers of a
// rack into one min-heap behind a single setTimeout, so 1,000 nodes cost one armed Node.js timer.
// ManualTimers is the same interface over virtual time, for deterministic tests.

/** A scheduled callback; cancel() is idempotent. */
export interface Timer {
  cancel(): void;
}

/** Monotonic clock plus one-shot timers. */
export interface TimerService {
  /** Monotonic milliseconds (fractional), from an arbitrary fixed origin. */
  now(): number;
  /** Runs `fn` once `now() >= at`. */
  at(at: number, fn: () => void): Timer;
}

interface Entry extends Timer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** A binary min-heap of entries by (at, seq). */
class TimerHeap {
  private items: Entry[] = [];
  private seq = 0;
  /** Cancelled entries still in `items` (dropped lazily, or all at once by compact()). */
  private dead = 0;

  /** `onIdle` runs when a cancel leaves no live entry. */
  constructor(private readonly onIdle?: () => void) {}

  get size(): number {
    return this.items.length;
  }

  push(at: number, fn: () => void): Entry {
    const e: Entry = {
      at, fn, seq: this.seq++, cancelled: false,
      cancel: () => {
        if (e.cancelled) return;
        e.cancelled = true;
        this.dead++;
        if (this.dead === this.items.length) this.onIdle?.();
      },
    };
    // Nodes re-arm after every event: without this, far-future cancelled entries would pile up.
    if (this.dead > 1024 && this.dead > this.items.length / 2) this.compact();
    const a = this.items;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(a[i], a[p])) break;
      [a[i], a[p]] = [a[p], a[i]];
      i = p;
    }
    return e;
  }

  /** The earliest live entry, dropping cancelled ones on the way. */
  peek(): Entry | undefined {
    while (this.items.length > 0 && this.items[0].cancelled) {
      this.pop();
      this.dead--;
    }
    return this.items[0];
  }

  /** Removes every cancelled entry and restores the heap order. */
  private compact(): void {
    this.items = this.items.filter((e) => !e.cancelled).sort((x, y) => (before(x, y) ? -1 : before(y, x) ? 1 : 0));
    this.dead = 0;
  }

  pop(): Entry | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && before(a[l], a[m])) m = l;
        if (r < a.length && before(a[r], a[m])) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top;
  }
}

function before(x: Entry, y: Entry): boolean {
  return x.at < y.at || (x.at === y.at && x.seq < y.seq);
}

/** Real time from performance.now(), all timers behind one setTimeout. */
export class SystemTimers implements TimerService {
  // With nothing left to run, no armed setTimeout keeps the process alive.
  private heap = new TimerHeap(() => this.disarm());
  private handle: NodeJS.Timeout | null = null;
  private armedAt = Infinity;
  /** Worst lateness seen when firing a timer (ms), for benchmarks. */
  worstLatenessMs = 0;

  now(): number {
    return performance.now();
  }

  at(at: number, fn: () => void): Timer {
    const e = this.heap.push(at, fn);
    if (at < this.armedAt) this.arm();
    return e;
  }

  /** Number of pending entries (including cancelled ones not yet dropped). */
  get pending(): number {
    return this.heap.size;
  }

  private disarm(): void {
    if (this.handle !== null) clearTimeout(this.handle);
    this.handle = null;
    this.armedAt = Infinity;
  }

  private arm(): void {
    this.disarm();
    const next = this.heap.peek();
    if (next === undefined) return;
    // setTimeout cannot wait longer than 2^31-1 ms; wake up early and re-arm instead.
    const delay = Math.min(Math.max(0, Math.ceil(next.at - this.now())), 86_400_000);
    this.armedAt = next.at;
    this.handle = setTimeout(() => this.fire(), delay);
  }

  private fire(): void {
    this.handle = null;
    this.armedAt = Infinity;
    const now = this.now();
    let failure: unknown = null;
    for (let e = this.heap.peek(); e !== undefined && e.at <= now; e = this.heap.peek()) {
      this.heap.pop();
      this.worstLatenessMs = Math.max(this.worstLatenessMs, now - e.at);
      e.cancelled = true;
      // One callback's bug must not stop every other node's timers: run the rest, then rethrow.
      try {
        e.fn();
      } catch (err) {
        failure ??= err;
      }
    }
    this.arm();
    if (failure !== null) throw failure;
  }
}

/** Virtual time that only moves when a test says so. */
export class ManualTimers implements TimerService {
  private heap = new TimerHeap();
  private t: number;

  constructor(start = 0) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  at(at: number, fn: () => void): Timer {
    return this.heap.push(at, fn);
  }

  /** Moves time forward by `ms`, running every timer that falls due, in order, at its own time. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (let e = this.heap.peek(); e !== undefined && e.at <= end; e = this.heap.peek()) {
      this.heap.pop();
      this.t = Math.max(this.t, e.at);
      e.cancelled = true;
      e.fn();
    }
    this.t = end;
  }

  /** The time of the next pending timer, or undefined. */
  nextAt(): number | undefined {
    return this.heap.peek()?.at;
  }

  /** Number of entries held (including cancelled ones not yet dropped). */
  get pending(): number {
    return this.heap.size;
  }
}
