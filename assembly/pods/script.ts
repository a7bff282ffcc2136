/**
 * The `picokubelet.dev/script` annotation: how a pod chooses to play (docs/pods.md). Comma-separated
 * `key=value` items, or one preset word:
 *
 *   run=<duration>     run this long, then exit (default: forever for restartPolicy Always, else 10s)
 *   exit=<code>        the exit code when it does (default 0)
 *   ready=<duration>   time from start to ready; `ready=never` never becomes ready (default 0)
 *   pull=<duration>    how long each image pull takes (default 1s)
 *   init=<duration>    how long each init container runs (default 1s)
 *   logEvery=<duration> how often a running container prints its next log line (default 5s, at least 100ms)
 *   crash              run=5s,exit=1: an Always pod goes through CrashLoopBackOff
 *
 * Durations are `<n>ms`, `<n>s`, `<n>m` or a bare number of seconds. Unknown items are ignored, so a typo
 * plays the default rather than refusing the pod; at most one hour per duration.
 */
import { Script } from "./pod";
import { decimal } from "./quantity";

/** A Job-like pod (restartPolicy Never or OnFailure) finishes after this by default. */
export const JOB_RUN_MS: i64 = 10_000;
const MAX_MS: i64 = 3_600_000;

export function parseScript(text: string, restartPolicy: string): Script {
  const s = new Script();
  if (restartPolicy != "Always") s.runMs = JOB_RUN_MS;
  if (text.length == 0 || text.length > 256) return s;
  let from = 0;
  while (from <= text.length) {
    let to = text.indexOf(",", from);
    if (to < 0) to = text.length;
    apply(s, text.substring(from, to).trim());
    from = to + 1;
  }
  return s;
}

function apply(s: Script, item: string): void {
  if (item == "crash") {
    s.runMs = 5_000;
    s.exitCode = 1;
    return;
  }
  const eq = item.indexOf("=");
  if (eq <= 0) return;
  const k = item.substring(0, eq);
  const v = item.substring(eq + 1);
  if (k == "exit") {
    const c = decimal(v);
    if (c >= 0 && c <= 255) s.exitCode = <i32>c;
  } else if (k == "ready" && v == "never") s.readyMs = -1;
  else if (k == "run" && v == "forever") s.runMs = -1;
  else {
    const ms = duration(v);
    if (ms < 0) return;
    if (k == "run") s.runMs = ms;
    else if (k == "ready") s.readyMs = ms;
    else if (k == "pull") s.pullMs = ms;
    else if (k == "init") s.initMs = ms;
    else if (k == "logEvery" && ms >= 100) s.logEveryMs = ms;
  }
}

/** `<n>ms`, `<n>s`, `<n>m` or `<n>` (seconds) as ms; -1 when unreadable. */
export function duration(v: string): i64 {
  let n: i64 = 0;
  let i = 0;
  for (; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x30 || c > 0x39) break;
    n = n * 10 + <i64>(c - 0x30);
    if (n > MAX_MS) return -1;
  }
  if (i == 0) return -1;
  const unit = v.substring(i);
  let ms: i64;
  if (unit == "ms") ms = n;
  else if (unit == "s" || unit.length == 0) ms = n * 1000;
  else if (unit == "m") ms = n * 60_000;
  else return -1;
  return ms > MAX_MS ? MAX_MS : ms;
}
