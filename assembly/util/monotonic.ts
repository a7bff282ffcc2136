/**
 * The core's own monotonic time, made from the host's `now`.
 *
 * The ABI says `now` never goes backwards, but a broken host must not be able to wedge the core: a due
 * time computed from a `now` that later jumps back would read as idle for as long as the jump. So the
 * core keeps its own time: the host's `now` plus an offset. A step backwards (or a negative `now`) does
 * not move core time; a step forward of more than MAX_STEP_MS at once (no host sleeps that long: the core
 * always has a deadline within minutes) is taken as zero. Either is logged once. Deadlines go back to
 * the host in its own time.
 */

/** Longest forward step of `now` between two calls that is believed. */
export const MAX_STEP_MS: i64 = 30 * 24 * 3600 * 1000;

export class Monotonic {
  /** Core time at the last call (-1 before the first). */
  last: i64 = -1;
  /** Core time minus host time. */
  private offset: i64 = 0;
  /** Host `now` values outside the contract seen so far. */
  anomalies: i64 = 0;

  /** Core time for the host's `now`. */
  toCore(now: i64): i64 {
    // Keep the arithmetic far from i64 overflow whatever the host sends.
    const lim: i64 = (<i64>1) << 61;
    if (now > lim) now = lim;
    if (now < -lim) now = -lim;
    let t = now + this.offset;
    const last = this.last;
    if (last < 0) {
      if (t < 0) {
        this.offset -= t;
        t = 0;
        this.anomalies++;
      }
    } else if (t < last || t - last > MAX_STEP_MS) {
      this.offset += last - t;
      t = last;
      this.anomalies++;
    }
    this.last = t;
    return t;
  }

  /** A core deadline in host time (-1 stays -1). */
  toHost(deadline: i64): i64 {
    if (deadline < 0) return -1;
    const h = deadline - this.offset;
    return h < 0 ? 0 : h;
  }
}
