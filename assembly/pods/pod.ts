/**
 * What the node keeps of one pod bound to it: identity, the few spec fields the theater plays from, and
 * the lifecycle state the status is generated from. Everything else of the API object (env, volumes, large
 * annotations) is skipped by the scanner as it streams past, so a pod costs the same whatever its size.
 */

/** Most containers (and, separately, init containers) one pod may have on this node. */
export const MAX_CONTAINERS = 8;

/** Where a pod is in its (theatrical) life. */
export enum Stage {
  /** Admitted; images "pulling", containers not created yet. */
  Creating = 0,
  /** Init container `initIndex` is running. */
  Initializing = 1,
  /** The containers are running. */
  Running = 2,
  /** The containers exited and wait for a restart (CrashLoopBackOff). */
  BackOff = 3,
  /** Terminal: Succeeded or Failed. Nothing more happens but the final status (and a delete if asked). */
  Done = 4,
}

/** What this node does with the pod. */
export enum Role {
  /** Admitted and played. */
  Playing = 0,
  /** Refused at admission: its Failed status is sent once, then it is forgotten. */
  Rejected = 1,
  /** Terminal on the server and being deleted: only the DELETE is sent. */
  Deleting = 2,
  /**
   * A trusted brain pod (docs/brain.md): not played; the brain puller (brain/puller.ts) shows on it how
   * the pull and the swap go (`reason`/`message` while it waits, Stage.Running once the node runs it).
   */
  Brain = 3,
}

/** How the pod plays (the `picokubelet.dev/script` annotation, docs/pods.md). */
export class Script {
  /** How long an image "pull" takes. */
  pullMs: i64 = 1000;
  /** A log line is printed this often while a container runs. */
  logEveryMs: i64 = 5000;
  /** How long the containers run before they exit (-1: forever). */
  runMs: i64 = -1;
  /** Exit code when they do. */
  exitCode: i32 = 0;
  /** Time from start to ready (-1: never ready). */
  readyMs: i64 = 0;
  /** Each init container runs this long, then exits 0. */
  initMs: i64 = 1000;
}

export class Pod {
  namespace: string = "";
  name: string = "";
  uid: string = "";
  /** metadata.generation, or -1 where the server has none for pods (before v1.33). */
  generation: i64 = -1;
  restartPolicy: string = "Always";
  hostNetwork: bool = false;
  containers: string[] = [];
  images: string[] = [];
  /** spec.imagePullSecrets[].name (a brain pull reads them in order). */
  pullSecrets: string[] = [];
  /** A brain pod's container runs this brain: `<repository>@sha256:…` (its imageID), "" otherwise. */
  imageRef: string = "";
  initContainers: string[] = [];
  initImages: string[] = [];
  qosClass: string = "BestEffort";
  /** Requests summed like the scheduler does (max of the init containers, sum of the others). */
  cpuMilli: i64 = 0;
  memoryBytes: i64 = 0;
  script: Script = new Script();
  /** The lines its containers print in turn (the `picokubelet.dev/log` annotation), "" for the default line. */
  logText: string = "";
  /** The server already has a PodScheduled condition (the scheduler's): we do not overwrite its time. */
  scheduledOnServer: bool = false;

  role: Role = Role.Playing;
  /** Why it was refused (Role.Rejected), or why a brain pod waits (Role.Brain). */
  reason: string = "";
  message: string = "";

  stage: Stage = Stage.Creating;
  /** The running init container (Stage.Initializing). */
  initIndex: i32 = 0;
  /** Restarts of the containers; starts above the server's count when a reboot interrupted them. */
  restartCount: i32 = 0;
  /** Exit code of the last run (for lastState and the terminal phase). */
  lastExitCode: i32 = 0;
  /** The containers have terminated at least once (lastState is shown). */
  exited: bool = false;
  /** The restart delay being waited out (Stage.BackOff). */
  nextBackoffMs: i64 = 0;
  /** Final phase when Stage.Done. */
  succeeded: bool = false;

  // Wall times (Unix ms) the status reports; 0 = not yet.
  startTimeMs: i64 = 0;
  /** startTime as the server holds it (kept across our reboots), "" until known. */
  startTimeText: string = "";
  initializedMs: i64 = 0;
  sandboxReadyMs: i64 = 0;
  startedMs: i64 = 0;
  readyMs: i64 = 0;
  /** When readiness last flipped (the ContainersReady and Ready transition time). */
  readyChangedMs: i64 = 0;
  finishedMs: i64 = 0;
  lastStartedMs: i64 = 0;
  /** Wall time the previous run started (for `kubectl logs --previous`), 0 before a restart. */
  prevStartedMs: i64 = 0;
  /** Monotonic time of the last start (the script's clocks run from it). */
  lastStartedMono: i64 = 0;
  lastFinishedMs: i64 = 0;
  /** CPU time charged to the pod's containers (the core's, shared among the running ones), µs. */
  cpuMicros: i64 = 0;

  /** Monotonic time of the next lifecycle step (-1: none). */
  nextStepAt: i64 = -1;

  // Deletion.
  /** metadata.deletionTimestamp is set. */
  deleting: bool = false;
  /** The grace period the server gave (seconds). */
  graceSeconds: i64 = 30;
  /** Killing was reported (the containers are stopping). */
  killing: bool = false;
  /** The terminal status landed: the DELETE may go. */
  terminalPosted: bool = false;

  // Status manager bookkeeping.
  /** Something the status shows changed since `pendingHash` was computed. */
  dirty: bool = true;
  /** Hash of the status as it is now (valid while !dirty). */
  pendingHash: u32 = 0;
  /** Hash of the last status body the server accepted (0: none). */
  sentHash: u32 = 0;
  /** Monotonic time a failed request may be retried (-1: nothing pending). */
  retryAt: i64 = -1;
  failures: i32 = 0;
  /** Seen in the current list/initial events (relist reconciliation). */
  seen: bool = true;

  /** `namespace/name`, for logs. */
  get key(): string {
    return this.namespace + "/" + this.name;
  }

  /** True once its phase can never change again. */
  get terminal(): bool {
    return this.stage == Stage.Done;
  }
}
