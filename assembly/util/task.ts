/**
 * One schedulable piece of work: when it is next due, and how it backs off after failures.
 *
 * `due` is -1 while there is nothing to do. A failure schedules a retry after the ordinary backoff, or
 * after the much longer auth backoff when the server refused our credentials; `retrying` marks a task
 * whose due time is a retry, so a link that comes back can pull it forward at once.
 */
import { Backoff } from "./backoff";
import { Random } from "./random";
import { AUTH_BACKOFF_BASE_MS, AUTH_BACKOFF_CAP_MS, BACKOFF_BASE_MS, BACKOFF_CAP_MS } from "./backoff";

export class Task {
  /** Monotonic ms at which the task wants to run, or -1. */
  due: i64 = -1;
  /** True while `due` is a retry after a failure. */
  retrying: bool = false;
  readonly backoff: Backoff = new Backoff(BACKOFF_BASE_MS, BACKOFF_CAP_MS);
  readonly authBackoff: Backoff = new Backoff(AUTH_BACKOFF_BASE_MS, AUTH_BACKOFF_CAP_MS);

  /**
   * True when it should run at `now`. A task whose request is on the wire is never asked: the kubelet
   * sends one request at a time and only looks for due tasks while the HTTP client is free.
   */
  ready(now: i64): bool {
    return this.due >= 0 && this.due <= now;
  }

  /** Runs at `at` (not a retry). */
  at(at: i64): void {
    this.due = at;
    this.retrying = false;
  }

  /** Runs as soon as possible. */
  now(now: i64): void {
    this.at(now);
  }

  /** Nothing to do. */
  idle(): void {
    this.due = -1;
    this.retrying = false;
  }

  /** Schedules a retry after a failure; returns the delay. `cap` bounds it (e.g. one renew period). */
  retry(now: i64, rng: Random, cap: i64 = -1): i64 {
    let d = this.backoff.next(rng);
    if (cap >= 0 && d > cap) d = cap;
    this.due = now + d;
    this.retrying = true;
    return d;
  }

  /** Schedules a retry after the server refused our credentials (401/403). */
  retryAuth(now: i64, rng: Random): i64 {
    const d = this.authBackoff.next(rng);
    this.due = now + d;
    this.retrying = true;
    return d;
  }

  /** Starts afresh: past failures forgotten, due now. */
  restart(now: i64): void {
    this.succeeded();
    this.now(now);
  }

  /** A success: forget past failures. */
  succeeded(): void {
    this.backoff.reset();
    this.authBackoff.reset();
    this.retrying = false;
  }

  /** The link came back: a pending retry runs now, with fresh backoff. */
  expedite(now: i64): void {
    if (this.retrying && this.due > now) this.due = now;
    this.backoff.reset();
  }
}
