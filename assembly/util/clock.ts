/**
 * The wall clock, anchored from the API server's `Date` headers.
 *
 * Theory of operation: wall time is `now + offset`, where `now` is the host's monotonic clock. A response
 * whose request was sent at monotonic `sentAt` and whose first byte arrived at `recvAt` carries a Date of
 * whole second D. The server wrote it at some instant in [sentAt, recvAt] during which its clock read
 * between D and D+999 ms, so the true offset lies in [D·1000 − recvAt, D·1000 + 999 − sentAt]. The first
 * sample sets the offset to that interval's middle; every later sample moves it only as far as needed to
 * fall inside the new interval. Drift is corrected by the smallest step, and the distance moved is the
 * clock skew that feeds Haunted/TimeSlipped. Until the first sample the clock is unanchored and nothing
 * may write a timestamp (the original wrote 1970 dates when anchoring failed).
 */
/** Dates outside [2020-01-01, 2100-01-01) are absurd for a node running now: refused, never anchored to. */
export const MIN_DATE_SECS: i64 = 1_577_836_800;
export const MAX_DATE_SECS: i64 = 4_102_444_800;

export class WallClock {
  /** Samples refused as absurd. */
  refused: i64 = 0;
  /** True once a Date header has anchored the clock. */
  anchored: bool = false;
  /** Samples taken. */
  samples: i64 = 0;
  /** The last correction applied, signed (positive: the clock was behind and moved forward). */
  lastCorrectionMs: i64 = 0;
  private offset: i64 = 0;

  /** Unix milliseconds at monotonic `now` (meaningless while !anchored). */
  wallMs(now: i64): i64 {
    return now + this.offset;
  }

  /** Anchors at wall time `wallMs` for monotonic `now` (a resumed snapshot); the next Date sample refines it. */
  resume(now: i64, wallMs: i64): void {
    this.offset = wallMs - now;
    this.anchored = true;
  }

  /**
   * Takes one Date sample (Unix seconds) for a request sent at `sentAt` and answered at `recvAt`.
   * Returns the correction applied in milliseconds (0 on the first sample and when consistent).
   */
  observe(dateSecs: i64, sentAt: i64, recvAt: i64): i64 {
    if (dateSecs < MIN_DATE_SECS || dateSecs >= MAX_DATE_SECS) {
      this.refused++;
      return 0;
    }
    if (recvAt < sentAt) recvAt = sentAt;
    const lo = dateSecs * 1000 - recvAt;
    const hi = dateSecs * 1000 + 999 - sentAt;
    this.samples++;
    let correction: i64 = 0;
    if (!this.anchored) {
      this.offset = lo + (hi - lo) / 2;
      this.anchored = true;
    } else if (this.offset < lo) {
      correction = lo - this.offset;
      this.offset = lo;
    } else if (this.offset > hi) {
      correction = hi - this.offset;
      this.offset = hi;
    }
    this.lastCorrectionMs = correction;
    return correction;
  }
}
