/**
 * The core's only logger. Lines go to the host's `log` import as UTF-8; the level filter lives here so
 * a quiet host pays nothing for debug lines. Nothing that carries a secret is ever passed in.
 */
import { hostLog } from "../abi/imports";
import { LogLevel } from "../abi/codes";
import { ByteBuffer } from "../util/bytes";

let threshold: LogLevel = LogLevel.Info;
/** Lines emitted since start: each built strings, which the collection policy (kubelet.ts) counts as work. */
export let linesEmitted: i64 = 0;
const line = new ByteBuffer(256, 2048);

/** Sets the most verbose level that is emitted. */
export function setLogLevel(level: LogLevel): void {
  threshold = level;
}

/** True when lines at `level` are emitted (to skip building a message nobody sees). */
export function logEnabled(level: LogLevel): bool {
  return level <= threshold;
}

/** Emits one line at `level`. */
export function log(level: LogLevel, msg: string): void {
  if (level > threshold) return;
  linesEmitted++;
  line.clear();
  line.str(msg);
  hostLog(level, line.ptr, line.length);
}

/** Error-level line. */
export function logError(msg: string): void {
  log(LogLevel.Error, msg);
}

/** Warning-level line. */
export function logWarn(msg: string): void {
  log(LogLevel.Warn, msg);
}

/** Info-level line. */
export function logInfo(msg: string): void {
  log(LogLevel.Info, msg);
}

/** Debug-level line. */
export function logDebug(msg: string): void {
  log(LogLevel.Debug, msg);
}

/** "1.2 s" for a duration in ms, for log lines. */
export function seconds(ms: i64): string {
  return (ms / 1000).toString() + "." + ((ms % 1000) / 100).toString() + " s";
}
