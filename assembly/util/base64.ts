/**
 * Base64 (RFC 4648 §4, the standard alphabet with `=` padding), as Kubernetes encodes `[]byte` fields in
 * JSON: a CSR's `spec.request` and `status.certificate`. Both directions write into a bounded ByteBuffer;
 * decoding refuses anything that is not canonical base64 instead of guessing.
 */
import { ByteBuffer } from "./bytes";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/** Appends the base64 of bytes [p, p+n) to `out` (check `out.overflow`). */
export function base64Encode(out: ByteBuffer, p: usize, n: i32): void {
  for (let i = 0; i < n; i += 3) {
    const left = n - i;
    const b0 = <u32>load<u8>(p + <usize>i);
    const b1 = left > 1 ? <u32>load<u8>(p + <usize>i + 1) : 0;
    const b2 = left > 2 ? <u32>load<u8>(p + <usize>i + 2) : 0;
    const v = (b0 << 16) | (b1 << 8) | b2;
    out.byte(ALPHABET.charCodeAt((v >> 18) & 63));
    out.byte(ALPHABET.charCodeAt((v >> 12) & 63));
    out.byte(left > 1 ? ALPHABET.charCodeAt((v >> 6) & 63) : 0x3d);
    out.byte(left > 2 ? ALPHABET.charCodeAt(v & 63) : 0x3d);
  }
}

/** The 6-bit value of a base64 character, or -1. */
function sextet(c: i32): i32 {
  if (c >= 0x41 && c <= 0x5a) return c - 0x41;
  if (c >= 0x61 && c <= 0x7a) return c - 0x61 + 26;
  if (c >= 0x30 && c <= 0x39) return c - 0x30 + 52;
  if (c == 0x2b) return 62;
  if (c == 0x2f) return 63;
  return -1;
}

/**
 * Decodes `src` (padded base64, no whitespace) into `out` (cleared first). False for a length that is not
 * a multiple of 4, a character outside the alphabet, padding anywhere but the end, or an output larger
 * than `out`'s limit; `out` holds nothing useful then.
 */
export function base64Decode(src: ByteBuffer, out: ByteBuffer): bool {
  out.clear();
  const n = src.length;
  if (n == 0 || (n & 3) != 0 || src.overflow) return false;
  for (let i = 0; i < n; i += 4) {
    const last = i + 4 == n;
    const a = sextet(src.at(i));
    const b = sextet(src.at(i + 1));
    const c2 = src.at(i + 2);
    const c3 = src.at(i + 3);
    let c = sextet(c2);
    let d = sextet(c3);
    let take = 3;
    if (last && c3 == 0x3d) {
      take = 2;
      d = 0;
      if (c2 == 0x3d) {
        take = 1;
        c = 0;
      }
    }
    if (a < 0 || b < 0 || c < 0 || d < 0) return false;
    const v = (a << 18) | (b << 12) | (c << 6) | d;
    out.byte(v >> 16);
    if (take > 1) out.byte((v >> 8) & 255);
    if (take > 2) out.byte(v & 255);
  }
  return !out.overflow;
}
