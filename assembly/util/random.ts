/**
 * A small deterministic PRNG (xorshift64*), seeded by the host's entropy at start.
 * Used for backoff jitter and the boot ID; never for anything secret.
 */
export class Random {
  private s: u64;

  constructor(seed: u64) {
    // A zero state would stay zero forever.
    this.s = seed != 0 ? seed : 0x9e3779b97f4a7c15;
  }

  /** Next 64 random bits. */
  next(): u64 {
    let x = this.s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    this.s = x;
    return x * 0x2545f4914f6cdd1d;
  }

  /** A uniform integer in [0, bound) (bound > 0). */
  below(bound: i64): i64 {
    if (bound <= 1) return 0;
    return <i64>((this.next() >> 11) % <u64>bound);
  }
}
