/**
 * Bounded byte buffers and the ASCII helpers the HTTP and JSON code share.
 *
 * Invariant: a ByteBuffer never grows past its `limit`. A write that would cross it is dropped whole and
 * sets `overflow`, which callers check once at the end instead of after every write. All reads and writes
 * go through explicit bounds checks, so nothing here can trap on hostile input.
 */

/** A growable byte buffer with a hard upper bound. */
export class ByteBuffer {
  /** Backing store; its length is the current capacity. */
  data: Uint8Array;
  /** Bytes in use. */
  length: i32 = 0;
  /** Largest capacity this buffer may ever have. */
  readonly limit: i32;
  /** Set when a write was refused because it would have crossed `limit`. */
  overflow: bool = false;

  constructor(initial: i32, limit: i32) {
    this.limit = limit;
    this.data = new Uint8Array(initial < limit ? initial : limit);
  }

  /** Address of the first byte (valid until the next write that grows the buffer). */
  @inline get ptr(): usize {
    return this.data.dataStart;
  }

  /** Forget the contents; keep the capacity. */
  clear(): void {
    this.length = 0;
    this.overflow = false;
  }

  /**
   * Forget the contents, and give back a capacity above `keep` bytes: a buffer that once held a large
   * body does not hold that memory for the rest of the run (linear memory never shrinks, so a few such
   * buffers kept at their high water would be the core's peak for good).
   */
  reset(keep: i32): void {
    this.clear();
    if (this.data.length > keep) this.data = new Uint8Array(keep < this.limit ? keep : this.limit);
  }

  /** Makes room for `n` more bytes; false (and `overflow`) if that would cross the limit. */
  reserve(n: i32): bool {
    if (n < 0 || this.overflow) return false;
    const need = <i64>this.length + <i64>n;
    if (need > <i64>this.limit) {
      this.overflow = true;
      return false;
    }
    const cap = this.data.length;
    if (need <= <i64>cap) return true;
    let next = cap < 64 ? 64 : cap;
    while (<i64>next < need) next <<= 1;
    if (next > this.limit) next = this.limit;
    const grown = new Uint8Array(next);
    memory.copy(grown.dataStart, this.data.dataStart, this.length);
    this.data = grown;
    return true;
  }

  /** Appends one byte. */
  byte(b: i32): void {
    if (!this.reserve(1)) return;
    store<u8>(this.data.dataStart + <usize>this.length, <u8>b);
    this.length++;
  }

  /** Appends `n` bytes from linear memory. */
  raw(src: usize, n: i32): void {
    if (n <= 0 || !this.reserve(n)) return;
    memory.copy(this.data.dataStart + <usize>this.length, src, <usize>n);
    this.length += n;
  }

  /** Appends another buffer's contents. */
  append(other: ByteBuffer): void {
    this.raw(other.ptr, other.length);
  }

  /** Appends a string as UTF-8 (lone surrogates become U+FFFD). */
  str(s: string): void {
    const n = s.length;
    let i = 0;
    // ASCII, nearly every string written (request heads, JSON keys, names), is copied in one pass when it
    // fits whole; from the first other character on (or when it does not fit) byte by byte, as before.
    if (!this.overflow && <i64>this.length + <i64>n <= <i64>this.limit && this.reserve(n)) {
      const src = changetype<usize>(s);
      const dst = this.data.dataStart + <usize>this.length;
      for (; i < n; i++) {
        const c = load<u16>(src + (<usize>i << 1));
        if (c >= 0x80) break;
        store<u8>(dst + <usize>i, <u8>c);
      }
      this.length += i;
    }
    for (; i < n; i++) {
      let c = s.charCodeAt(i);
      if (c < 0x80) {
        this.byte(c);
        continue;
      }
      if (c >= 0xd800 && c < 0xdc00 && i + 1 < n) {
        const d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d < 0xe000) {
          const cp = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
          this.byte(0xf0 | (cp >> 18));
          this.byte(0x80 | ((cp >> 12) & 0x3f));
          this.byte(0x80 | ((cp >> 6) & 0x3f));
          this.byte(0x80 | (cp & 0x3f));
          continue;
        }
      }
      if (c >= 0xd800 && c < 0xe000) c = 0xfffd;
      if (c < 0x800) {
        this.byte(0xc0 | (c >> 6));
        this.byte(0x80 | (c & 0x3f));
      } else {
        this.byte(0xe0 | (c >> 12));
        this.byte(0x80 | ((c >> 6) & 0x3f));
        this.byte(0x80 | (c & 0x3f));
      }
    }
  }

  /** Appends a signed decimal integer. */
  int(v: i64): void {
    if (v < 0) {
      this.byte(0x2d);
      // -(i64.MIN) overflows; print it through the unsigned path.
      this.uint(<u64>(-(v + 1)) + 1);
      return;
    }
    this.uint(<u64>v);
  }

  /** Appends an unsigned decimal integer. */
  uint(v: u64): void {
    let digits = 1;
    let t = v;
    while (t >= 10) {
      t /= 10;
      digits++;
    }
    if (!this.reserve(digits)) return;
    let p = this.data.dataStart + <usize>this.length + <usize>digits;
    do {
      p--;
      store<u8>(p, <u8>(0x30 + <i32>(v % 10)));
      v /= 10;
    } while (v != 0);
    this.length += digits;
  }

  /** Appends `v` as exactly `width` decimal digits, zero-padded (v must fit). */
  padded(v: i64, width: i32): void {
    let div: i64 = 1;
    for (let i = 1; i < width; i++) div *= 10;
    for (let i = 0; i < width; i++) {
      this.byte(0x30 + <i32>((v / div) % 10));
      div /= 10;
    }
  }

  /** Appends `v` as lowercase hexadecimal, zero-padded to `width` digits. */
  hex(v: u64, width: i32): void {
    for (let i = width - 1; i >= 0; i--) {
      const nib = <i32>((v >> (<u64>i * 4)) & 0xf);
      this.byte(nib < 10 ? 0x30 + nib : 0x57 + nib);
    }
  }

  /** Byte at `i` (0 when out of range). */
  at(i: i32): i32 {
    if (i < 0 || i >= this.length) return 0;
    return load<u8>(this.data.dataStart + <usize>i);
  }

  /** Decodes bytes [start, end) as UTF-8 into a string. */
  slice(start: i32, end: i32): string {
    if (start < 0) start = 0;
    if (end > this.length) end = this.length;
    if (end <= start) return "";
    return String.UTF8.decodeUnsafe(this.data.dataStart + <usize>start, <usize>(end - start));
  }

  /** The whole contents as a string. */
  toString(): string {
    return this.slice(0, this.length);
  }
}

/** ASCII lower-casing of one byte. */
@inline export function lowerAscii(c: i32): i32 {
  return c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
}

/** True for space and horizontal tab (HTTP optional whitespace). */
@inline export function isOws(c: i32): bool {
  return c == 0x20 || c == 0x09;
}

/** True for ASCII decimal digits. */
@inline export function isDigit(c: i32): bool {
  return c >= 0x30 && c <= 0x39;
}

/** Value of a hexadecimal digit, or -1. */
export function hexValue(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

/** Compares `n` bytes at `p` with the lower-case ASCII `lower`, ignoring case; false if lengths differ. */
export function equalsIgnoreCase(p: usize, n: i32, lower: string): bool {
  if (n != lower.length) return false;
  for (let i = 0; i < n; i++) {
    if (lowerAscii(load<u8>(p + <usize>i)) != lower.charCodeAt(i)) return false;
  }
  return true;
}

/** Copies a string's UTF-8 bytes into a fresh buffer (used by tests and small one-off encodings). */
export function utf8(s: string): ByteBuffer {
  const b = new ByteBuffer(s.length + 8, s.length * 3 + 8);
  b.str(s);
  return b;
}

/** True when the buffer holds exactly the UTF-8 encoding of `s` (no allocation). */
export function bytesEqual(b: ByteBuffer, s: string): bool {
  const n = s.length;
  const len = b.length;
  if (len < n) return false;
  let j = 0;
  for (let i = 0; i < n; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      if (j >= len || b.at(j) != c) return false;
      j++;
      continue;
    }
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < n) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d < 0xe000) {
        c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
        i++;
      }
    }
    if (c >= 0xd800 && c < 0xe000) c = 0xfffd;
    let need = c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    if (j + need > len) return false;
    let first = need == 2 ? 0xc0 | (c >> 6) : need == 3 ? 0xe0 | (c >> 12) : 0xf0 | (c >> 18);
    if (b.at(j) != first) return false;
    for (let k = need - 2; k >= 0; k--) {
      j++;
      if (b.at(j) != (0x80 | ((c >> (k * 6)) & 0x3f))) return false;
    }
    j++;
  }
  return j == len;
}

/** 64-bit FNV-1a over a string's UTF-16 code units: a stable, well-spread hash for derived identifiers. */
export function fnv1a64(s: string): u64 {
  let h: u64 = 0xcbf29ce484222325;
  for (let i = 0; i < s.length; i++) {
    h ^= <u64>s.charCodeAt(i);
    h *= 0x100000001b3;
  }
  return h;
}

/** `s` as one printable line: control characters (newlines, tabs, DEL) become spaces. */
/** True when every character of `s` is visible ASCII (0x21-0x7e): safe inside a header line. */
export function visibleAscii(s: string): bool {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

/** `s` as a non-negative decimal of 1 to `maxDigits` digits, or -1. */
export function decimal(s: string, maxDigits: i32): i64 {
  if (s.length == 0 || s.length > maxDigits) return -1;
  let n: i64 = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    n = n * 10 + <i64>(c - 0x30);
  }
  return n;
}

export function oneLine(s: string): string {
  return withoutControls(s, s.length, 0x20);
}

/**
 * The first `n` characters of `s` with every control character replaced by `by`: one new string (or `s`
 * itself when it has none), never one string per character, so a long text costs its own size once.
 */
export function withoutControls(s: string, n: i32, by: u16): string {
  if (n > s.length) n = s.length;
  let clean = n == s.length;
  for (let i = 0; i < n && clean; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c == 0x7f) clean = false;
  }
  if (clean) return s;
  const out = changetype<string>(__new(<usize>n << 1, idof<String>()));
  const src = changetype<usize>(s);
  const dst = changetype<usize>(out);
  for (let i = 0; i < n; i++) {
    let c = load<u16>(src + (<usize>i << 1));
    if (c < 0x20 || c == 0x7f) c = by;
    store<u16>(dst + (<usize>i << 1), c);
  }
  return out;
}
