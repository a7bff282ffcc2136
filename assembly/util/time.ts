/**
 * Calendar arithmetic, HTTP-date parsing and RFC 3339 formatting.
 *
 * Days/civil conversions use the well-known proleptic-Gregorian era algorithm (Howard Hinnant,
 * "chrono-compatible low-level date algorithms"), re-derived here. Unlike the original firmware, parsing
 * checks every field's range: a `Date` header with day 99 or hour 30 is refused, not rolled over.
 */
import { ByteBuffer, isDigit } from "./bytes";

/** Days since 1970-01-01 of a civil date (month 1..12). */
export function daysFromCivil(y: i64, m: i32, d: i32): i64 {
  const yy: i64 = m <= 2 ? y - 1 : y;
  const era: i64 = (yy >= 0 ? yy : yy - 399) / 400;
  const yoe: i64 = yy - era * 400;
  const mp: i64 = <i64>((m + 9) % 12);
  const doy: i64 = (153 * mp + 2) / 5 + <i64>d - 1;
  const doe: i64 = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

/** A civil date. */
export class Civil {
  year: i64 = 1970;
  month: i32 = 1;
  day: i32 = 1;
}

/** Civil date of a day count since 1970-01-01. */
export function civilFromDays(z0: i64): Civil {
  const z = z0 + 719468;
  const era: i64 = (z >= 0 ? z : z - 146096) / 146097;
  const doe: i64 = z - era * 146097;
  const yoe: i64 = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const doy: i64 = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const mp: i64 = (5 * doy + 2) / 153;
  const out = new Civil();
  out.day = <i32>(doy - (153 * mp + 2) / 5 + 1);
  out.month = <i32>(mp < 10 ? mp + 3 : mp - 9);
  out.year = yoe + era * 400 + (out.month <= 2 ? 1 : 0);
  return out;
}

/** Days in a month of a year (Gregorian). */
export function daysInMonth(y: i64, m: i32): i32 {
  if (m == 2) {
    const leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return leap ? 29 : 28;
  }
  return m == 4 || m == 6 || m == 9 || m == 11 ? 30 : 31;
}

const MONTHS = "JanFebMarAprMayJunJulAugSepOctNovDec";

/**
 * Parses an IMF-fixdate (RFC 9110 §5.6.7), e.g. `Sat, 02 May 2026 15:47:17 GMT`, from bytes [p, p+n).
 * Returns Unix seconds, or -1 when the text is not a valid date. Only the preferred format is accepted:
 * Go's net/http (the API server) always sends it.
 */
export function parseHttpDate(p: usize, n: i32): i64 {
  // Skip the day name and its comma; the day name itself carries no information.
  let i = 0;
  while (i < n && load<u8>(p + <usize>i) != 0x2c) i++;
  if (i >= n) return -1;
  i++;
  while (i < n && load<u8>(p + <usize>i) == 0x20) i++;
  // "DD Mon YYYY HH:MM:SS GMT" is exactly 24 bytes.
  if (n - i < 24) return -1;
  const q = p + <usize>i;
  const day = twoDigits(q);
  if (day < 0 || load<u8>(q + 2) != 0x20) return -1;
  let month = -1;
  for (let m = 0; m < 12; m++) {
    if (
      load<u8>(q + 3) == <u8>MONTHS.charCodeAt(m * 3) &&
      load<u8>(q + 4) == <u8>MONTHS.charCodeAt(m * 3 + 1) &&
      load<u8>(q + 5) == <u8>MONTHS.charCodeAt(m * 3 + 2)
    ) {
      month = m + 1;
      break;
    }
  }
  if (month < 0 || load<u8>(q + 6) != 0x20) return -1;
  const yHi = twoDigits(q + 7);
  const yLo = twoDigits(q + 9);
  if (yHi < 0 || yLo < 0 || load<u8>(q + 11) != 0x20) return -1;
  const year: i64 = <i64>(yHi * 100 + yLo);
  const hh = twoDigits(q + 12);
  const mm = twoDigits(q + 15);
  const ss = twoDigits(q + 18);
  if (hh < 0 || mm < 0 || ss < 0) return -1;
  if (load<u8>(q + 14) != 0x3a || load<u8>(q + 17) != 0x3a || load<u8>(q + 20) != 0x20) return -1;
  if (load<u8>(q + 21) != 0x47 || load<u8>(q + 22) != 0x4d || load<u8>(q + 23) != 0x54) return -1;
  // A leap second (60) is allowed by the grammar; fold it into the next minute's first second.
  if (day < 1 || day > daysInMonth(year, month) || hh > 23 || mm > 59 || ss > 60) return -1;
  return daysFromCivil(year, month, day) * 86400 + <i64>(hh * 3600 + mm * 60 + ss);
}

/**
 * Parses a metav1.Time as the API server writes it, `2026-05-02T15:47:17Z`, from bytes [p, p+n) (a
 * fraction before the `Z` is ignored). Returns Unix ms, or -1 when the text is not such a time.
 */
export function parseRfc3339(p: usize, n: i32): i64 {
  if (n < 20 || load<u8>(p + <usize>(n - 1)) != 0x5a) return -1;
  const yHi = twoDigits(p);
  const yLo = twoDigits(p + 2);
  const month = twoDigits(p + 5);
  const day = twoDigits(p + 8);
  const hh = twoDigits(p + 11);
  const mm = twoDigits(p + 14);
  const ss = twoDigits(p + 17);
  const y = yHi * 100 + yLo;
  if (yHi < 0 || yLo < 0 || month < 1 || month > 12 || hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 60) return -1;
  if (load<u8>(p + 4) != 0x2d || load<u8>(p + 7) != 0x2d || load<u8>(p + 10) != 0x54) return -1;
  if (load<u8>(p + 13) != 0x3a || load<u8>(p + 16) != 0x3a || (n > 20 && load<u8>(p + 19) != 0x2e)) return -1;
  if (day < 1 || day > daysInMonth(<i64>y, month)) return -1;
  return (daysFromCivil(<i64>y, month, day) * 86400 + <i64>(hh * 3600 + mm * 60 + ss)) * 1000;
}

/** Two ASCII digits at p, or -1. */
function twoDigits(p: usize): i32 {
  const a = <i32>load<u8>(p);
  const b = <i32>load<u8>(p + 1);
  if (!isDigit(a) || !isDigit(b)) return -1;
  return (a - 0x30) * 10 + (b - 0x30);
}

/**
 * Appends `unixMs` as RFC 3339 UTC. With `micro`, six fractional digits (Kubernetes MicroTime, for the
 * Lease); otherwise whole seconds (metav1.Time, for conditions).
 */
export function writeRfc3339(out: ByteBuffer, unixMs: i64, micro: bool): void {
  let secs = unixMs / 1000;
  let ms = unixMs % 1000;
  if (ms < 0) {
    ms += 1000;
    secs -= 1;
  }
  let days = secs / 86400;
  let rem = secs % 86400;
  if (rem < 0) {
    rem += 86400;
    days -= 1;
  }
  const c = civilFromDays(days);
  out.padded(c.year, 4);
  out.byte(0x2d);
  out.padded(c.month, 2);
  out.byte(0x2d);
  out.padded(c.day, 2);
  out.byte(0x54);
  out.padded(rem / 3600, 2);
  out.byte(0x3a);
  out.padded((rem / 60) % 60, 2);
  out.byte(0x3a);
  out.padded(rem % 60, 2);
  if (micro) {
    out.byte(0x2e);
    out.padded(ms * 1000, 6);
  }
  out.byte(0x5a);
}

/** RFC 3339 text of `unixMs` (see writeRfc3339). */
export function rfc3339(unixMs: i64, micro: bool): string {
  const b = new ByteBuffer(32, 32);
  writeRfc3339(b, unixMs, micro);
  return b.toString();
}
