/**
 * Rolling-window event counting for the joke conditions' inputs (docs/behaviour.md, joke conditions: the original
 * counted "since the last successful push" and showed edge events for about 10 s).
 */

/** Timestamps of recent events in a fixed ring; counts those inside a window. */
export class EventWindow {
  private times: StaticArray<i64>;
  private next: i32 = 0;
  private filled: i32 = 0;

  constructor(capacity: i32) {
    this.times = new StaticArray<i64>(capacity);
  }

  /** Records an event at `now`. */
  record(now: i64): void {
    this.times[this.next] = now;
    this.next = (this.next + 1) % this.times.length;
    if (this.filled < this.times.length) this.filled++;
  }

  /** Events in (now - windowMs, now]; saturates at the ring's capacity. */
  count(now: i64, windowMs: i64): i32 {
    let n = 0;
    for (let i = 0; i < this.filled; i++) {
      const t = this.times[i];
      if (t > now - windowMs && t <= now) n++;
    }
    return n;
  }
}

/** True when an event last seen at `at` (-1: never) is still inside the hold window. */
export function recent(at: i64, now: i64, holdMs: i64): bool {
  return at >= 0 && now - at < holdMs;
}
