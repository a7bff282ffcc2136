/**
 * One row of the agent's work table: a piece of work with its due time (a Task) that turns into one
 * request at a time and handles that request's result. The agent asks the rows in table order, so the
 * order is the priority; what a result means for the phase is the Signal it returns.
 */
import { Task } from "../util/task";
import { HttpRequest } from "../http/request";
import { HttpResult } from "../http/lane";

/** What a handled result means for the agent's phase (agent/phases.ts maps it to a transition). */
export enum Signal {
  None = 0,
  /** The wall clock is anchored. */
  Anchored = 1,
  /** The Node is registered (created or adopted). */
  Registered = 2,
  /** The Lease was created or taken over. */
  LeaseReady = 3,
  /** A renewal found the Lease gone: re-check the Node, then create the Lease. */
  LeaseVanished = 4,
  /**
   * A renewal landed after failures or a long gap. The node lifecycle controller may have marked the Node
   * Unknown meanwhile, and it never sets Ready back itself: status must be posted again now.
   */
  LeaseRecovered = 5,
  /** Our Node is gone: register again. */
  NodeGone = 6,
  /** The cleanup deletes are done. */
  CleanedUp = 7,
  /** The node can talk as itself: its client certificate is in place (or the host's own credentials do). */
  Credentialed = 8,
}

export abstract class Worker {
  readonly task: Task = new Task();
  /** The agent's lane this worker's requests go on (0: the control lane). */
  lane: i32 = 0;

  /** The request for the work that is due (called only when `task.ready`). */
  abstract request(now: i64): HttpRequest;

  /** Handles the result of this worker's request. */
  abstract handle(now: i64, r: HttpResult): Signal;
}
