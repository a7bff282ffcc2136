/** A fixed-bucket histogram of durations in ms, for the Prometheus text format (cumulative buckets). */
export const BUCKETS_MS: i64[] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

export class Histogram {
  /** Per bucket: observations at or below its bound (not yet cumulative). */
  readonly counts: StaticArray<i64> = new StaticArray<i64>(BUCKETS_MS.length);
  count: i64 = 0;
  sumMs: i64 = 0;

  observe(ms: i64): void {
    if (ms < 0) ms = 0;
    this.count++;
    this.sumMs += ms;
    for (let i = 0; i < BUCKETS_MS.length; i++) {
      if (ms <= BUCKETS_MS[i]) {
        this.counts[i]++;
        return;
      }
    }
  }
}
