/**
 * Kubernetes resource quantities (k8s.io/apimachinery resource.Quantity), as far as admission needs them:
 * cpu in millicores and everything else in whole units (bytes for memory). Accepted: an optional sign-less
 * decimal number with an optional fraction, then one suffix: `m` (milli), the decimal SI suffixes k M G T P E,
 * the binary Ki Mi Gi Ti Pi Ei, or an exponent `e<n>`/`E<n>`. Anything else is -1 (a pod whose quantity we
 * cannot read is refused rather than guessed at).
 */

/** Unit scale: value * 1000 (so `m` is exact), saturating at i64 max / 4. */
const LIMIT: i64 = 0x1fffffffffffffff;

/** The quantity in thousandths of a unit (cpu "250m" -> 250, memory "1Ki" -> 1_024_000), or -1. */
export function parseMilli(s: string): i64 {
  const n = s.length;
  if (n == 0 || n > 64) return -1;
  let i = 0;
  let whole: i64 = 0;
  let frac: i64 = 0;
  let fracDigits = 0;
  let digits = 0;
  while (i < n && isDigitCode(s.charCodeAt(i))) {
    whole = whole * 10 + <i64>(s.charCodeAt(i) - 0x30);
    if (whole > LIMIT / 1000) return -1;
    i++;
    digits++;
  }
  if (i < n && s.charCodeAt(i) == 0x2e) {
    i++;
    while (i < n && isDigitCode(s.charCodeAt(i))) {
      // Digits below a thousandth of a unit cannot change an admission decision by a whole milli: dropped.
      if (fracDigits < 3) {
        frac = frac * 10 + <i64>(s.charCodeAt(i) - 0x30);
        fracDigits++;
      }
      i++;
      digits++;
    }
  }
  if (digits == 0) return -1;
  while (fracDigits < 3) {
    frac *= 10;
    fracDigits++;
  }
  let milli = whole * 1000 + frac;
  const suffix = s.substring(i);
  if (suffix.length == 0) return milli;
  if (suffix == "m") return (milli + 999) / 1000;
  let mul: i64 = 0;
  if (suffix == "k") mul = 1000;
  else if (suffix == "M") mul = 1000_000;
  else if (suffix == "G") mul = 1000_000_000;
  else if (suffix == "T") mul = 1000_000_000_000;
  else if (suffix == "P") mul = 1000_000_000_000_000;
  else if (suffix == "E") mul = 1000_000_000_000_000_000;
  else if (suffix == "Ki") mul = 1 << 10;
  else if (suffix == "Mi") mul = 1 << 20;
  else if (suffix == "Gi") mul = 1 << 30;
  else if (suffix == "Ti") mul = 1 << 40;
  else if (suffix == "Pi") mul = 1 << 50;
  else if (suffix == "Ei") mul = 1 << 60;
  else if (suffix.charCodeAt(0) == 0x65 || suffix.charCodeAt(0) == 0x45) {
    // Decimal exponent, e.g. "129e6".
    let e = 0;
    for (let j = 1; j < suffix.length; j++) {
      const c = suffix.charCodeAt(j);
      if (!isDigitCode(c) || e > 18) return -1;
      e = e * 10 + (c - 0x30);
    }
    if (suffix.length < 2) return -1;
    mul = 1;
    for (let j = 0; j < e; j++) mul *= 10;
  } else return -1;
  if (milli != 0 && mul > LIMIT / milli) return LIMIT;
  return milli * mul;
}

/** cpu in millicores ("250m" -> 250, "2" -> 2000), or -1. */
export function parseCpuMilli(s: string): i64 {
  return parseMilli(s);
}

/** A quantity in whole units, rounded up ("1Ki" -> 1024, "1500m" -> 2), or -1. */
export function parseUnits(s: string): i64 {
  const v = parseMilli(s);
  return v < 0 ? -1 : (v + 999) / 1000;
}

@inline function isDigitCode(c: i32): bool {
  return c >= 0x30 && c <= 0x39;
}

/** A decimal integer with an optional '-', or I64.MIN_VALUE when `s` is not one. */
export function decimal(s: string): i64 {
  const n = s.length;
  let i = n > 0 && s.charCodeAt(0) == 0x2d ? 1 : 0;
  if (i == n || n > 19) return I64.MIN_VALUE;
  let x: i64 = 0;
  for (let j = i; j < n; j++) {
    const c = s.charCodeAt(j);
    if (!isDigitCode(c)) return I64.MIN_VALUE;
    x = x * 10 + <i64>(c - 0x30);
  }
  return i == 1 ? -x : x;
}
