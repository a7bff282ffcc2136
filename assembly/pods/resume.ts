/**
 * A pod's lifecycle as one compact record, for the snapshot of a brain swap (docs/brain.md "Swap"): the
 * successor matches the pods its relist brings back by uid and carries on playing them from the record
 * (same stage, restart count, startTime and transition times, the status hash the server already has)
 * instead of starting them again, so a rollout adds no restarts and no Started events.
 *
 * The record is the pod's numbers joined by commas, in RECORD_FIELDS order; the spec fields come back
 * with the pod itself. A record of another length is not used (the pod then starts afresh, as after a
 * reboot: honest, only less smooth).
 */
import { Pod, Stage } from "./pod";

/** How many numbers a record holds (RECORD_FIELDS below). */
export const RECORD_FIELDS = 23;

/** `pod`'s record. */
export function podRecord(p: Pod): string {
  const v: i64[] = [
    <i64>p.stage, <i64>p.restartCount, <i64>p.initIndex, <i64>p.lastExitCode, p.exited ? 1 : 0, p.nextBackoffMs,
    p.succeeded ? 1 : 0, p.startTimeMs, p.initializedMs, p.sandboxReadyMs, p.startedMs, p.readyMs,
    p.readyChangedMs, p.finishedMs, p.lastStartedMs, p.prevStartedMs, p.lastStartedMono, p.lastFinishedMs,
    p.nextStepAt, p.killing ? 1 : 0, p.terminalPosted ? 1 : 0, <i64>p.sentHash, p.cpuMicros,
  ];
  return v.join(",");
}

/** Applies record `r` to a freshly held `p`; false (and `p` untouched) when the record is not usable. */
export function resumePod(p: Pod, r: string): bool {
  const parts = r.split(",");
  if (parts.length != RECORD_FIELDS) return false;
  const v = new StaticArray<i64>(RECORD_FIELDS);
  for (let i = 0; i < RECORD_FIELDS; i++) {
    const n = integer(parts[i]);
    if (n == i64.MIN_VALUE) return false;
    v[i] = n;
  }
  if (v[0] < <i64>Stage.Creating || v[0] > <i64>Stage.Done) return false;
  p.stage = <Stage><i32>v[0];
  p.restartCount = <i32>v[1];
  p.initIndex = <i32>v[2];
  p.lastExitCode = <i32>v[3];
  p.exited = v[4] != 0;
  p.nextBackoffMs = v[5];
  p.succeeded = v[6] != 0;
  p.startTimeMs = v[7];
  p.initializedMs = v[8];
  p.sandboxReadyMs = v[9];
  p.startedMs = v[10];
  p.readyMs = v[11];
  p.readyChangedMs = v[12];
  p.finishedMs = v[13];
  p.lastStartedMs = v[14];
  p.prevStartedMs = v[15];
  p.lastStartedMono = v[16];
  p.lastFinishedMs = v[17];
  p.nextStepAt = v[18];
  p.killing = v[19] != 0;
  p.terminalPosted = v[20] != 0;
  p.sentHash = <u32>v[21];
  p.cpuMicros = v[22];
  return true;
}

/** A decimal integer (optionally negative, at most 19 digits), or i64.MIN_VALUE. */
function integer(s: string): i64 {
  const neg = s.startsWith("-");
  const start = neg ? 1 : 0;
  if (s.length == start || s.length - start > 19) return i64.MIN_VALUE;
  let n: i64 = 0;
  for (let i = start; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return i64.MIN_VALUE;
    n = n * 10 + <i64>(c - 0x30);
  }
  return neg ? -n : n;
}
