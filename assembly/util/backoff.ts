/**
 * Exponential backoff with full jitter: each failure doubles the ceiling (from `base` up to `cap`) and
 * the actual delay is drawn uniformly from [ceiling/2, ceiling], so a rack of nodes that failed together
 * does not retry in lockstep. A success resets it.
 */
import { Random } from "./random";

/** Backoff for ordinary failures: 200 ms doubling to 7 s (kubelet lease controller). */
export const BACKOFF_BASE_MS: i64 = 200;
export const BACKOFF_CAP_MS: i64 = 7_000;
/** Backoff after 401/403: 10 s doubling to 5 min, so refused credentials are not hammered. */
export const AUTH_BACKOFF_BASE_MS: i64 = 10_000;
export const AUTH_BACKOFF_CAP_MS: i64 = 300_000;

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
