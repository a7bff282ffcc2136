/**
 * Exponential backoff with full jitter: each failure doubles the ceiling (from `base` up to `cap`) and
 * the actual delay is drawn uniformly from [ceiling/2, ceiling], so a rack of nodes that failed together
 * does not retry in lockstep. A success resets it.
 */
import { Random } from "./random";

export class Backoff {
  private attempt: i32 = 0;

  constructor(public base: i64, public cap: i64) {}

  /** Delay before the next retry; advances the ceiling. */
  next(rng: Random): i64 {
    let ceiling = this.base;
    for (let i = 0; i < this.attempt && ceiling < this.cap; i++) ceiling <<= 1;
    if (ceiling > this.cap) ceiling = this.cap;
    if (this.attempt < 30) this.attempt++;
    const half = ceiling >> 1;
    return half + rng.below(ceiling - half + 1);
  }

  /** Failures since the last reset. */
  get failures(): i32 {
    return this.attempt;
  }

  /** Forget past failures. */
  reset(): void {
    this.attempt = 0;
  }
}
