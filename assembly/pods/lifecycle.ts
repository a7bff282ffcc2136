/**
 * The pod worker's state machine: how an admitted pod is played through a believable life without
 * running anything (the kubelet's syncPod, pkg/kubelet/kubelet.go, reduced to its visible effects).
 *
 *   Creating --pull--> [Initializing (each init container in turn)] --pull--> Running
 *   Running --exit--> Done                      (restartPolicy Never, or OnFailure with exit 0)
 *   Running --exit--> BackOff --delay--> Running (Always, or OnFailure with a failure: CrashLoopBackOff)
 *   any --deletionTimestamp--> (Killing) --min(grace, 1 s)--> Done
 *
 * The first restart is immediate, then the delay doubles from 10 s to at most 300 s, as the kubelet's
 * container restart backoff does. `step` is called when `nextStepAt` is due; it moves the pod, records
 * the events the kubelet would report, and sets the next due time. Times the status shows are wall times.
 */
import { Pod, Stage } from "./pod";
import { EventRecorder } from "./events";

/** Receives the kubelet events a step produces. */
type EventSink = EventRecorder;

/** Restart backoff of a crashing container (kubelet: 10 s doubling, capped at 5 min). */
export const BACKOFF_INITIAL_MS: i64 = 10_000;
export const BACKOFF_MAX_MS: i64 = 300_000;
/** A deleted pod's containers stop within this, or at once for a grace period of 0. */
export const STOP_MS: i64 = 1_000;

/** The restart delay before restart number `restarts + 1`. */
export function restartDelay(restarts: i32): i64 {
  if (restarts <= 0) return 0;
  let d = BACKOFF_INITIAL_MS;
  for (let i = 1; i < restarts && d < BACKOFF_MAX_MS; i++) d *= 2;
  return d < BACKOFF_MAX_MS ? d : BACKOFF_MAX_MS;
}

/** Starts playing a pod admitted at monotonic `now` (wall time `wall`). */
export function begin(pod: Pod, now: i64, wall: i64, ev: EventSink): void {
  pod.stage = Stage.Creating;
  pod.startTimeMs = wall;
  pod.sandboxReadyMs = wall;
  pod.readyChangedMs = wall;
  if (pod.initContainers.length == 0) pod.initializedMs = wall;
  pull(pod, now, ev);
}

/** Advances `pod` if its next step is due at `now`. Returns true when its status changed. */
export function step(pod: Pod, now: i64, wall: i64, ev: EventSink): bool {
  if (pod.nextStepAt < 0 || now < pod.nextStepAt) return false;
  pod.nextStepAt = -1;
  if (pod.deleting) {
    stop(pod, wall);
    return true;
  }
  const s = pod.script;
  if (pod.stage == Stage.Creating || (pod.stage == Stage.Initializing && pod.initIndex < 0)) {
    start(pod, now, wall, ev);
  } else if (pod.stage == Stage.Initializing) {
    // The running init container exits 0; the next one starts, or the main containers are pulled.
    pod.initIndex++;
    if (pod.initIndex >= pod.initContainers.length) {
      pod.initializedMs = wall;
      pod.stage = Stage.Creating;
    }
    pull(pod, now, ev);
  } else if (pod.stage == Stage.Running) {
    const readyAt = s.readyMs >= 0 ? pod.lastStartedMono + s.readyMs : -1;
    if (pod.readyMs == 0 && readyAt >= 0 && now >= readyAt) {
      pod.readyMs = wall;
      pod.readyChangedMs = wall;
    }
    const exitAt = s.runMs >= 0 ? pod.lastStartedMono + s.runMs : -1;
    if (exitAt >= 0 && now >= exitAt) exited(pod, now, wall, ev);
    else schedule(pod, now);
  } else if (pod.stage == Stage.BackOff) {
    pod.restartCount++;
    run(pod, now, wall, ev, true);
  }
  return true;
}

/** The pod got a deletionTimestamp: report Killing and stop within the grace period. */
export function kill(pod: Pod, now: i64, ev: EventSink): void {
  if (pod.killing || pod.stage == Stage.Done) return;
  pod.killing = true;
  if (pod.stage == Stage.Running) {
    for (let i = 0; i < pod.containers.length; i++) ev.podEvent(now, pod, pod.containers[i], false, false, "Killing", "Stopping container " + pod.containers[i]);
  }
  const grace = pod.graceSeconds * 1000;
  pod.nextStepAt = now + (grace < STOP_MS ? (grace > 0 ? grace : 0) : STOP_MS);
}

/** Pulls the images of what starts next (the next init container, or all containers). */
function pull(pod: Pod, now: i64, ev: EventSink): void {
  if (pod.initializedMs == 0) {
    pod.stage = Stage.Initializing;
    const i = pod.initIndex;
    ev.podEvent(now, pod, pod.initContainers[i], true, false, "Pulling", "Pulling image \"" + pod.initImages[i] + "\"");
    // initIndex < 0 marks "pulling, not yet started" for the init container initIndex ^ -1.
    pod.initIndex = ~i;
  } else {
    for (let i = 0; i < pod.containers.length; i++) {
      ev.podEvent(now, pod, pod.containers[i], false, false, "Pulling", "Pulling image \"" + pod.images[i] + "\"");
    }
  }
  pod.nextStepAt = now + pod.script.pullMs;
}

/** The pull finished: create and start the pulled containers. */
function start(pod: Pod, now: i64, wall: i64, ev: EventSink): void {
  const took = "Successfully pulled image \"";
  const secs = " in " + (pod.script.pullMs / 1000).toString() + "." + ((pod.script.pullMs % 1000) / 100).toString() + "s (lies). Image size: 0 bytes.";
  if (pod.stage == Stage.Initializing) {
    const i = ~pod.initIndex;
    pod.initIndex = i;
    const c = pod.initContainers[i];
    ev.podEvent(now, pod, c, true, false, "Pulled", took + pod.initImages[i] + "\"" + secs);
    ev.podEvent(now, pod, c, true, false, "Created", "Container created");
    ev.podEvent(now, pod, c, true, false, "Started", "Container started");
    pod.nextStepAt = now + pod.script.initMs;
    return;
  }
  for (let i = 0; i < pod.containers.length; i++) ev.podEvent(now, pod, pod.containers[i], false, false, "Pulled", took + pod.images[i] + "\"" + secs);
  run(pod, now, wall, ev, false);
}

/** Creates and starts the main containers (again, after a restart). */
function run(pod: Pod, now: i64, wall: i64, ev: EventSink, again: bool): void {
  for (let i = 0; i < pod.containers.length; i++) {
    const c = pod.containers[i];
    if (again) ev.podEvent(now, pod, c, false, false, "Pulled", "Container image \"" + pod.images[i] + "\" already present on machine");
    ev.podEvent(now, pod, c, false, false, "Created", "Container created");
    ev.podEvent(now, pod, c, false, false, "Started", "Container started");
  }
  pod.stage = Stage.Running;
  if (again) pod.prevStartedMs = pod.lastStartedMs;
  pod.lastStartedMs = wall;
  pod.lastStartedMono = now;
  if (pod.startedMs == 0) pod.startedMs = wall;
  pod.readyMs = 0;
  if (pod.script.readyMs == 0) {
    pod.readyMs = wall;
    pod.readyChangedMs = wall;
  }
  schedule(pod, now);
}

/** The containers exited with the script's code: finish, or back off and restart. */
function exited(pod: Pod, now: i64, wall: i64, ev: EventSink): void {
  pod.exited = true;
  pod.lastExitCode = pod.script.exitCode;
  pod.lastFinishedMs = wall;
  pod.readyMs = 0;
  pod.readyChangedMs = wall;
  const ok = pod.lastExitCode == 0;
  const policy = pod.restartPolicy;
  if (policy == "Never" || (policy == "OnFailure" && ok)) {
    finish(pod, wall, ok);
    return;
  }
  pod.stage = Stage.BackOff;
  const delay = restartDelay(pod.restartCount);
  pod.nextBackoffMs = delay;
  if (delay > 0) {
    for (let i = 0; i < pod.containers.length; i++) {
      ev.podEvent(now, pod, pod.containers[i], false, true, "BackOff", "Back-off restarting failed container " + pod.containers[i] + " in pod " +
        pod.name + "_" + pod.namespace + "(" + pod.uid + ")");
    }
  }
  pod.nextStepAt = now + delay;
}

/** Deletion: the containers stop (exit 0 on the polite signal), and the pod is terminal. */
function stop(pod: Pod, wall: i64): void {
  if (pod.stage == Stage.Running) {
    pod.exited = true;
    pod.lastExitCode = 0;
    pod.lastFinishedMs = wall;
  }
  // A pod that never started did not succeed.
  finish(pod, wall, pod.exited && pod.lastExitCode == 0);
}

function finish(pod: Pod, wall: i64, ok: bool): void {
  pod.stage = Stage.Done;
  pod.succeeded = ok;
  pod.finishedMs = wall;
  if (pod.readyMs != 0) pod.readyChangedMs = wall;
  pod.readyMs = 0;
  pod.nextStepAt = -1;
}

/** The next due time of a running pod: readiness, or the scripted exit. */
function schedule(pod: Pod, now: i64): void {
  const s = pod.script;
  let next: i64 = -1;
  if (pod.readyMs == 0 && s.readyMs > 0) next = pod.lastStartedMono + s.readyMs;
  if (s.runMs >= 0) {
    const exitAt = pod.lastStartedMono + s.runMs;
    if (next < 0 || exitAt < next) next = exitAt;
  }
  pod.nextStepAt = next >= 0 && next < now ? now : next;
}
