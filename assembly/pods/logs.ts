/**
 * Container logs, as `kubectl logs` reads them from the kubelet (`/containerLogs/{ns}/{pod}/{container}`).
 *
 * Nothing runs, so nothing writes: a container's log is a pure function of its lifecycle times and its
 * script, generated when it is asked for. A run prints an honest first line, then one line every
 * `logEvery` (the pod's `picokubelet.dev/log` lines in turn, or a default line), then, when it exits, its
 * exit code. Only the last RING_LINES lines of a run exist, like a rotated log on a small device, so the
 * cost of a request is bounded whatever the uptime. Query options are the kubelet's: `tailLines`,
 * `sinceSeconds` (as a wall time), `limitBytes`, `timestamps`, `previous`; `follow` is the server's loop
 * around `writeLogs`, which reports the time of the last line it wrote.
 */
import { ByteBuffer, oneLine } from "../util/bytes";
import { writeRfc3339 } from "../util/time";
import { Pod, Stage } from "./pod";

/** Lines of one run that are kept (older ones are rotated away). */
export const RING_LINES: i64 = 200;

/** What a log request asks for. */
export class LogQuery {
  /** Only the last N lines (-1: all that are kept). */
  tailLines: i64 = -1;
  /** Only lines at or after this wall time (-1: no bound). */
  sinceMs: i64 = -1;
  /** Only lines after this wall time (follow: what was already sent), -1: none. */
  afterMs: i64 = -1;
  /** At most this many bytes (-1: no bound). */
  limitBytes: i64 = -1;
  timestamps: bool = false;
  previous: bool = false;
  /**
   * Write at most this many bytes into the buffer this time (-1: no bound), stopping at a line's end; the
   * caller goes on from the time writeLogs returns with `afterMs`. `more` says whether lines were left.
   */
  room: i32 = -1;
  more: bool = false;
}

/** One run of a container: when it started and, if it did, when it ended with which code. */
class Run {
  /** Restarts before this run (its number). */
  restarts: i32 = 0;
  startMs: i64 = 0;
  endMs: i64 = -1;
  exitCode: i32 = 0;
}

/** The run a query reads, or null when there is none (not started yet, or no previous run). */
function runOf(pod: Pod, previous: bool): Run | null {
  const r = new Run();
  if (previous) {
    if (!pod.exited) return null;
    // While waiting to restart, the previous run is the one that just ended.
    r.startMs = pod.stage == Stage.Running ? pod.prevStartedMs : pod.lastStartedMs;
    r.restarts = pod.stage == Stage.Running ? pod.restartCount - 1 : pod.restartCount;
    r.endMs = pod.lastFinishedMs;
    r.exitCode = pod.lastExitCode;
    return r.startMs > 0 ? r : null;
  }
  if (pod.lastStartedMs == 0) return null;
  r.startMs = pod.lastStartedMs;
  r.restarts = pod.restartCount;
  if (pod.stage != Stage.Running) {
    r.endMs = pod.lastFinishedMs;
    r.exitCode = pod.lastExitCode;
  }
  return r;
}

/** True when the run a query reads exists (the kubelet answers a missing one with an error). */
export function hasRun(pod: Pod, previous: bool): bool {
  return runOf(pod, previous) !== null;
}

/**
 * Appends the log lines of container `name` up to wall time `nowMs` that the query selects. Returns the
 * wall time of the last line written, or -1 when none was (also when there is no such run: see `hasRun`).
 */
export function writeLogs(out: ByteBuffer, pod: Pod, name: string, nowMs: i64, q: LogQuery): i64 {
  const run = runOf(pod, q.previous);
  if (run === null) return -1;
  const every = pod.script.logEveryMs;
  let until = run.endMs >= 0 ? run.endMs : nowMs;
  // A run with a planned end prints no tick at or after it, so that a follower that reads at the very
  // instant of the exit sees what the ended run's log will say (its exit line, not one more tick).
  const planned = pod.script.runMs;
  if (run.endMs < 0 && planned >= 0 && until >= run.startMs + planned) until = run.startMs + planned - 1;
  // Lines: 0 = the first line at start, 1..n ticks, then the exit line.
  let ticks = (until - run.startMs) / every;
  if (run.endMs >= 0 && ticks > 0 && run.startMs + ticks * every >= run.endMs) ticks--;
  if (ticks < 0) ticks = 0;
  const total = ticks + 1 + (run.endMs >= 0 ? 1 : 0);
  let first: i64 = total > RING_LINES ? total - RING_LINES : 0;
  if (q.tailLines >= 0 && total - q.tailLines > first) first = total - q.tailLines;
  let last: i64 = -1;
  let written: i64 = 0;
  const base = out.length;
  q.more = false;
  for (let i = first; i < total; i++) {
    const at = i <= ticks ? run.startMs + i * every : run.endMs;
    if (q.sinceMs >= 0 && at < q.sinceMs) continue;
    if (q.afterMs >= 0 && at <= q.afterMs) continue;
    const start = out.length;
    if (q.timestamps) {
      writeTimestamp(out, at);
      out.byte(0x20);
    }
    if (i == 0) lineStart(out, name, run.restarts);
    else if (i <= ticks) lineTick(out, pod, i);
    else lineExit(out, run.exitCode);
    out.byte(0x0a);
    const n = out.length - start;
    if (q.limitBytes >= 0 && written + n > q.limitBytes) {
      // limitBytes cuts the stream where the limit falls, mid-line if need be, as the kubelet does.
      out.length = start + <i32>(q.limitBytes - written);
      return at;
    }
    if (q.room >= 0 && last >= 0 && out.length - base > q.room) {
      // Over this call's room: the line goes next time.
      out.length = start;
      q.more = true;
      return last;
    }
    written += n;
    last = at;
  }
  return last;
}

/** When the next line of a running container is due after `lastMs` (-1 when it runs no more). */
export function nextLineAt(pod: Pod, lastMs: i64): i64 {
  if (pod.stage != Stage.Running || pod.lastStartedMs == 0) return -1;
  const every = pod.script.logEveryMs;
  const k = lastMs < pod.lastStartedMs ? 0 : (lastMs - pod.lastStartedMs) / every + 1;
  return pod.lastStartedMs + k * every;
}

function lineStart(out: ByteBuffer, name: string, restarts: i32): void {
  out.str("picokubelet: container ");
  out.str(name);
  out.str(" started; it is theater: no process runs on this node");
  if (restarts > 0) {
    out.str(" (restart ");
    out.int(restarts);
    out.str(")");
  }
}

/** The i-th tick: the pod's log lines in turn, or the default line. */
function lineTick(out: ByteBuffer, pod: Pod, i: i64): void {
  const text = pod.logText;
  if (text.length == 0) {
    out.str("tick ");
    out.int(i);
    out.str(": still pretending, and that is fine");
    return;
  }
  // Count the lines (without allocating), then print line (i - 1) mod count.
  let count = 1;
  for (let j = 0; j < text.length; j++) if (text.charCodeAt(j) == 0x0a) count++;
  let want = <i32>((i - 1) % <i64>count);
  let from = 0;
  while (want > 0) {
    from = text.indexOf("\n", from) + 1;
    want--;
  }
  let to = text.indexOf("\n", from);
  if (to < 0) to = text.length;
  // A log line is one line: a carriage return or tab from the annotation becomes a space.
  out.str(oneLine(text.substring(from, to)));
}

function lineExit(out: ByteBuffer, code: i32): void {
  out.str("picokubelet: exited with code ");
  out.int(code);
}

/** RFC 3339 with nanoseconds, as the kubelet prefixes lines with `timestamps=true`. */
function writeTimestamp(out: ByteBuffer, ms: i64): void {
  writeRfc3339(out, ms, true);
  // writeRfc3339 gives microseconds; the kubelet prints nanoseconds: insert three zeros before the Z.
  out.length -= 1;
  out.str("000Z");
}
