/**
 * A streaming JSON field scanner (RFC 8259): fed any split of the bytes, it reports only the fields its
 * caller asked for and skips everything else without buffering it.
 *
 * Theory of operation. The scanner is a byte-at-a-time state machine that can stop at any byte and go on
 * with the next `feed`. It keeps a stack of the containers it is inside (at most MAX_DEPTH) and, for each
 * level, a hash of the path to it: object members add their key, array elements add a fixed mark. A field
 * is a dotted path such as `object.metadata.resourceVersion`, where `[]` stands for any array element
 * (`object.status.conditions[].type`) and a last segment `*` for any member (`metadata.labels.*`; `*` alone
 * is any member of the top-level object); a segment in backticks is one literal key, dots and all
 * (`auths.\`ghcr.io\`.auth`). When a
 * scalar value ends at a wanted path the handler gets it (strings unescaped, numbers and literals as their
 * text) in a bounded buffer; containers at wanted paths get begin/end calls. Memory is fixed: the stack,
 * one key buffer and one value buffer, whatever the document's size or shape. A 1 MiB annotation that no
 * field names costs nothing but the time to read it.
 */
import { ByteBuffer, hexValue, isDigit } from "../util/bytes";

/** Deepest nesting accepted (the API server's own limit for JSON is far deeper; ours need 10). */
export const MAX_DEPTH = 32;
/** Longest kept value and key; longer ones are cut and flagged. */
export const MAX_VALUE = 1024;
const MAX_KEY = 256;

/** What kind of value a field event carries. */
export enum ValueKind {
  String = 0,
  Number = 1,
  True = 2,
  False = 3,
  Null = 4,
  Object = 5,
  Array = 6,
}

/** Receives the wanted fields, in document order. */
export abstract class ScanHandler {
  /** A scalar at field `field` (its index in the scanner's list); `key` is the member name (for `*`). */
  abstract value(field: i32, kind: ValueKind, v: ByteBuffer, key: ByteBuffer): void;
  /** A container starts at field `field`. */
  begin(field: i32, kind: ValueKind, key: ByteBuffer): void {}
  /** The container at `field` ended. */
  end(field: i32): void {}
}

// States of the machine.
const S_VALUE = 0; // expecting a value
const S_AFTER_VALUE = 1; // expecting ',' or a closing bracket
const S_KEY = 2; // expecting a member name or '}'
const S_COLON = 3; // expecting ':'
const S_STRING = 4; // inside a string
const S_ESCAPE = 5; // after a backslash
const S_UNICODE = 6; // inside \uXXXX
const S_ATOM = 7; // inside a number or literal
const S_DONE = 8; // the top-level value is complete
const S_FAILED = 9;
const S_FIRST_KEY = 10; // right after '{': a member name or '}'
const S_FIRST_VALUE = 11; // right after '[': a value or ']'

const ARRAY_MARK: u32 = 0x9e3779b9;
const WILD_MARK: u32 = 0x85ebca6b;

@inline function mix(h: u32, v: u32): u32 {
  let x = (h ^ v) * 0x01000193;
  return x ^ (x >> 15);
}

/** FNV-1a over a key's bytes. */
@inline function hashStep(h: u32, c: u32): u32 {
  return (h ^ c) * 0x01000193;
}

const KEY_SEED: u32 = 0x811c9dc5;

/** The hash a dotted field path has when the scanner reaches it. */
function pathHash(path: string): u32 {
  let h: u32 = 0;
  let start = 0;
  const n = path.length;
  for (let i = 0; i <= n; i++) {
    if (i == start && i < n && path.charCodeAt(i) == 0x60) {
      // A quoted segment: up to the closing backtick, whatever it holds.
      const close = path.indexOf("`", i + 1);
      if (close > i) {
        i = close;
        continue;
      }
    }
    if (i < n && path.charCodeAt(i) != 0x2e && path.charCodeAt(i) != 0x5b) continue;
    // One segment: [start, i). "[]" marks an array element after the segment before it.
    if (i > start) {
      let seg = path.substring(start, i);
      if (seg.length >= 2 && seg.charCodeAt(0) == 0x60) seg = seg.substring(1, seg.length - 1);
      if (seg == "*") h = mix(h, WILD_MARK);
      else {
        let k = KEY_SEED;
        for (let j = 0; j < seg.length; j++) k = hashStep(k, <u32>seg.charCodeAt(j));
        h = mix(h, k);
      }
    }
    if (i < n && path.charCodeAt(i) == 0x5b) {
      h = mix(h, ARRAY_MARK);
      i++; // skip ']'
    }
    start = i + 1;
  }
  return h;
}

export class JsonScanner {
  /** Why scanning stopped ("" while fine): a literal, so failing allocates nothing. */
  why: string = "";
  /** Where it stopped (bytes consumed). */
  failedAt: i64 = 0;
  /** Bytes consumed since reset. */
  offset: i64 = 0;

  private fields: u32[] = [];
  /** For a `*` field: the hash of its parent, so any member of that parent matches. */
  private wildParents: u32[] = [];
  private wildFields: i32[] = [];
  private handler: ScanHandler;

  private state: i32 = S_VALUE;
  private depth: i32 = 0;
  /** Per level: 1 for an object, 2 for an array. */
  private kinds: StaticArray<u8> = new StaticArray<u8>(MAX_DEPTH + 1);
  /** Per level: the path hash of the container at that level. */
  private hashes: StaticArray<u32> = new StaticArray<u32>(MAX_DEPTH + 1);
  /** Per level: the field index of the container at that level (-1 when not wanted). */
  private containerField: StaticArray<i32> = new StaticArray<i32>(MAX_DEPTH + 1);
  /** Path hash and field of the value being read (-1: skipped). */
  private valueHash: u32 = 0;
  private valueField: i32 = -1;
  private readingKey: bool = false;
  private keyHash: u32 = KEY_SEED;
  private unicode: i32 = 0;
  private unicodeDigits: i32 = 0;
  private highSurrogate: i32 = 0;
  private atomKind: ValueKind = ValueKind.Number;
  readonly key: ByteBuffer = new ByteBuffer(32, MAX_KEY);
  readonly value: ByteBuffer;

  /** `maxValue`: the longest value kept whole (a certificate is longer than the default). */
  constructor(paths: string[], handler: ScanHandler, maxValue: i32 = MAX_VALUE) {
    this.handler = handler;
    this.value = new ByteBuffer(32, maxValue);
    for (let i = 0; i < paths.length; i++) {
      const p = paths[i];
      if (p == "*" || p.endsWith(".*")) {
        // "*" alone: any member of the top-level object, whose path hash is 0.
        this.fields.push(0xffffffff);
        this.wildParents.push(p == "*" ? 0 : pathHash(p.substring(0, p.length - 2)));
        this.wildFields.push(i);
      } else {
        this.fields.push(pathHash(p));
      }
    }
    this.reset();
  }

  /** Ready for the next document. */
  reset(): void {
    this.state = S_VALUE;
    this.depth = 0;
    this.why = "";
    this.offset = 0;
    this.hashes[0] = 0;
    this.containerField[0] = -1;
    this.valueHash = 0;
    this.valueField = this.match(0, false);
  }

  /** True once one whole top-level value has been read. */
  get done(): bool {
    return this.state == S_DONE;
  }

  get failed(): bool {
    return this.state == S_FAILED;
  }

  /** Why and where scanning stopped, in words ("" while fine). */
  get error(): string {
    return this.why.length == 0 ? "" : this.why + " at byte " + this.failedAt.toString();
  }

  /** Reads bytes [p, p+n); false once the input is not JSON (see `error`). */
  feed(p: usize, n: i32): bool {
    let i = 0;
    while (i < n) {
      // Inside a string, a run of plain bytes (no quote, backslash or control character) is taken at once:
      // most of a document's bytes are string contents, which this path keeps, hashes or skips exactly as
      // stringByte would one by one.
      if (this.state == S_STRING && this.highSurrogate == 0) {
        let j = i;
        while (j < n) {
          const c = <i32>load<u8>(p + <usize>j);
          if (c == 0x22 || c == 0x5c || c < 0x20) break;
          j++;
        }
        if (j > i) {
          this.plainRun(p + <usize>i, j - i);
          i = j;
          if (i == n) break;
        }
      }
      if (!this.step(<i32>load<u8>(p + <usize>i))) return false;
      i++;
    }
    return true;
  }

  /** `n` plain string bytes at `p` (see feed): what `keep` does with each, in one go. */
  private plainRun(p: usize, n: i32): void {
    this.offset += n;
    if (this.readingKey) {
      let h = this.keyHash;
      for (let k = 0; k < n; k++) h = hashStep(h, <u32>load<u8>(p + <usize>k));
      this.keyHash = h;
      appendRun(this.key, p, n);
    } else if (this.valueField >= 0) {
      appendRun(this.value, p, n);
    }
  }

  /** The document ended (end of line or body): an unfinished number completes; anything else unfinished fails. */
  finish(): bool {
    if (this.state == S_ATOM && this.depth == 0) {
      if (!this.endAtom()) return false;
    }
    if (this.state == S_DONE) return true;
    if (this.state != S_FAILED) this.fail(this.offset == 0 ? "empty document" : "unexpected end of JSON");
    return false;
  }

  private fail(why: string): bool {
    if (this.state != S_FAILED) {
      this.why = why;
      this.failedAt = this.offset;
      this.state = S_FAILED;
    }
    return false;
  }

  /** The field index wanted at path hash `h` (a member named by `key` when `member`), or -1. */
  private match(h: u32, member: bool): i32 {
    const f = this.fields;
    for (let i = 0; i < f.length; i++) if (unchecked(f[i]) == h) return i;
    if (member && this.depth > 0) {
      const parent = this.hashes[this.depth];
      const w = this.wildParents;
      for (let i = 0; i < w.length; i++) if (unchecked(w[i]) == parent) return unchecked(this.wildFields[i]);
    }
    return -1;
  }

  private step(c: i32): bool {
    this.offset++;
    const s = this.state;
    if (s == S_STRING) return this.stringByte(c);
    if (s == S_ESCAPE) return this.escapeByte(c);
    if (s == S_UNICODE) return this.unicodeByte(c);
    if (s == S_ATOM) {
      if (isAtomByte(c)) {
        // Numbers and literals are short: kept whole, even when skipped, so they are always checked.
        this.value.byte(c);
        return true;
      }
      if (!this.endAtom()) return false;
      return this.step2(c);
    }
    return this.step2(c);
  }

  /** Structural bytes (whitespace, brackets, commas, colons, the start of a value or key). */
  private step2(c: i32): bool {
    if (c == 0x20 || c == 0x0a || c == 0x0d || c == 0x09) return true;
    const s = this.state;
    if (s == S_DONE) return this.fail("unexpected data after the JSON value");
    if (s == S_FAILED) return false;
    if (s == S_VALUE || s == S_FIRST_VALUE) {
      if (s == S_FIRST_VALUE && c == 0x5d) return this.close(2);
      return this.startValue(c);
    }
    if (s == S_KEY || s == S_FIRST_KEY) {
      if (s == S_FIRST_KEY && c == 0x7d) return this.close(1);
      if (c != 0x22) return this.fail("expected a member name");
      this.readingKey = true;
      this.keyHash = KEY_SEED;
      this.key.clear();
      this.key.overflow = false;
      this.state = S_STRING;
      return true;
    }
    if (s == S_COLON) {
      if (c != 0x3a) return this.fail("expected ':'");
      this.state = S_VALUE;
      return true;
    }
    // S_AFTER_VALUE
    const d = this.depth;
    if (d == 0) return this.fail("unexpected data after the JSON value");
    const kind = this.kinds[d];
    if (c == 0x2c) {
      if (kind == 1) this.state = S_KEY;
      else {
        this.state = S_VALUE;
        this.elementPath();
      }
      return true;
    }
    if (c == 0x7d && kind == 1) return this.close(1);
    if (c == 0x5d && kind == 2) return this.close(2);
    return this.fail(kind == 1 ? "expected ',' or '}'" : "expected ',' or ']'");
  }

  /** The next array element's path. */
  private elementPath(): void {
    this.valueHash = mix(this.hashes[this.depth], ARRAY_MARK);
    this.valueField = this.match(this.valueHash, false);
  }

  private startValue(c: i32): bool {
    if (c == 0x7b || c == 0x5b) {
      const d = this.depth + 1;
      if (d > MAX_DEPTH) return this.fail("JSON nested too deeply");
      this.depth = d;
      const isObject = c == 0x7b;
      this.kinds[d] = isObject ? 1 : 2;
      this.hashes[d] = this.valueHash;
      this.containerField[d] = this.valueField;
      if (this.valueField >= 0) this.handler.begin(this.valueField, isObject ? ValueKind.Object : ValueKind.Array, this.key);
      if (isObject) this.state = S_FIRST_KEY;
      else {
        this.state = S_FIRST_VALUE;
        this.elementPath();
      }
      return true;
    }
    this.value.clear();
    this.value.overflow = false;
    if (c == 0x22) {
      this.readingKey = false;
      this.state = S_STRING;
      return true;
    }
    if (c == 0x2d || isDigit(c)) this.atomKind = ValueKind.Number;
    else if (c == 0x74) this.atomKind = ValueKind.True;
    else if (c == 0x66) this.atomKind = ValueKind.False;
    else if (c == 0x6e) this.atomKind = ValueKind.Null;
    else return this.fail("unexpected character");
    this.state = S_ATOM;
    this.value.byte(c);
    return true;
  }

  private close(kind: u8): bool {
    const d = this.depth;
    if (this.kinds[d] != kind) return this.fail("mismatched bracket");
    const f = this.containerField[d];
    this.depth = d - 1;
    if (f >= 0) this.handler.end(f);
    this.valueDone();
    return true;
  }

  /** A value ended: the state after it. */
  private valueDone(): void {
    this.state = this.depth == 0 ? S_DONE : S_AFTER_VALUE;
  }

  @inline private keep(c: i32): void {
    if (this.readingKey) {
      this.keyHash = hashStep(this.keyHash, <u32>c);
      this.key.byte(c);
    } else if (this.valueField >= 0) {
      this.value.byte(c);
    }
  }

  private stringByte(c: i32): bool {
    if (c == 0x22) return this.endString();
    if (c == 0x5c) {
      this.state = S_ESCAPE;
      return true;
    }
    if (c < 0x20) return this.fail("control character in string");
    this.flushSurrogate();
    this.keep(c);
    return true;
  }

  private escapeByte(c: i32): bool {
    this.state = S_STRING;
    let b = -1;
    if (c == 0x22 || c == 0x5c || c == 0x2f) b = c;
    else if (c == 0x62) b = 0x08;
    else if (c == 0x66) b = 0x0c;
    else if (c == 0x6e) b = 0x0a;
    else if (c == 0x72) b = 0x0d;
    else if (c == 0x74) b = 0x09;
    else if (c == 0x75) {
      this.state = S_UNICODE;
      this.unicode = 0;
      this.unicodeDigits = 0;
      return true;
    } else return this.fail("invalid escape");
    this.flushSurrogate();
    this.keep(b);
    return true;
  }

  private unicodeByte(c: i32): bool {
    const h = hexValue(c);
    if (h < 0) return this.fail("invalid \\u escape");
    this.unicode = (this.unicode << 4) | h;
    if (++this.unicodeDigits < 4) return true;
    this.state = S_STRING;
    let cp = this.unicode;
    if (cp >= 0xd800 && cp < 0xdc00) {
      this.flushSurrogate();
      this.highSurrogate = cp;
      return true;
    }
    if (cp >= 0xdc00 && cp < 0xe000) {
      if (this.highSurrogate != 0) {
        cp = 0x10000 + ((this.highSurrogate - 0xd800) << 10) + (cp - 0xdc00);
        this.highSurrogate = 0;
      } else cp = 0xfffd;
    } else this.flushSurrogate();
    this.keepCodePoint(cp);
    return true;
  }

  /** A high surrogate not followed by a low one stands for U+FFFD. */
  private flushSurrogate(): void {
    if (this.highSurrogate == 0) return;
    this.highSurrogate = 0;
    this.keepCodePoint(0xfffd);
  }

  private keepCodePoint(cp: i32): void {
    if (cp < 0x80) this.keep(cp);
    else if (cp < 0x800) {
      this.keep(0xc0 | (cp >> 6));
      this.keep(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      this.keep(0xe0 | (cp >> 12));
      this.keep(0x80 | ((cp >> 6) & 0x3f));
      this.keep(0x80 | (cp & 0x3f));
    } else {
      this.keep(0xf0 | (cp >> 18));
      this.keep(0x80 | ((cp >> 12) & 0x3f));
      this.keep(0x80 | ((cp >> 6) & 0x3f));
      this.keep(0x80 | (cp & 0x3f));
    }
  }

  private endString(): bool {
    this.flushSurrogate();
    if (this.readingKey) {
      this.readingKey = false;
      this.valueHash = mix(this.hashes[this.depth], this.keyHash);
      this.valueField = this.match(this.valueHash, true);
      this.state = S_COLON;
      return true;
    }
    if (this.valueField >= 0) this.handler.value(this.valueField, ValueKind.String, this.value, this.key);
    this.valueDone();
    return true;
  }

  private endAtom(): bool {
    const k = this.atomKind;
    if (k != ValueKind.Number) {
      const want = k == ValueKind.True ? "true" : k == ValueKind.False ? "false" : "null";
      if (!this.valueIs(want)) return this.fail("invalid literal");
    } else if (!validNumber(this.value)) {
      return this.fail("invalid number");
    }
    if (this.valueField >= 0) this.handler.value(this.valueField, k, this.value, this.key);
    this.valueDone();
    return true;
  }

  private valueIs(word: string): bool {
    const v = this.value;
    if (v.length != word.length) return false;
    for (let i = 0; i < word.length; i++) if (v.at(i) != word.charCodeAt(i)) return false;
    return true;
  }
}

/** Bytes that may continue a number or a literal. */
@inline function isAtomByte(c: i32): bool {
  return isDigit(c) || (c >= 0x61 && c <= 0x7a) || c == 0x2e || c == 0x2b || c == 0x2d || c == 0x45;
}

/** A JSON number: -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)? */
function validNumber(v: ByteBuffer): bool {
  const n = v.length;
  let i = 0;
  if (i < n && v.at(i) == 0x2d) i++;
  if (i >= n) return false;
  if (v.at(i) == 0x30) i++;
  else {
    if (!isDigit(v.at(i))) return false;
    while (i < n && isDigit(v.at(i))) i++;
  }
  if (i < n && v.at(i) == 0x2e) {
    i++;
    const s = i;
    while (i < n && isDigit(v.at(i))) i++;
    if (i == s) return false;
  }
  if (i < n && (v.at(i) == 0x65 || v.at(i) == 0x45)) {
    i++;
    if (i < n && (v.at(i) == 0x2b || v.at(i) == 0x2d)) i++;
    const s = i;
    while (i < n && isDigit(v.at(i))) i++;
    if (i == s) return false;
  }
  return i == n && !v.overflow;
}

/** A JSON number's integer part (fractions and exponents are not fields we read), saturating. */
export function numberOf(v: ByteBuffer): i64 {
  let x: i64 = 0;
  let neg = false;
  for (let i = 0; i < v.length; i++) {
    const c = v.at(i);
    if (i == 0 && c == 0x2d) {
      neg = true;
      continue;
    }
    if (c < 0x30 || c > 0x39) break;
    if (x > 0x0ccccccccccccccc) return neg ? -0x7fffffffffffffff : 0x7fffffffffffffff;
    x = x * 10 + <i64>(c - 0x30);
  }
  return neg ? -x : x;
}

/** Appends `n` bytes as `n` calls of `b.byte` would: whole when they fit, else up to the limit (overflow set). */
function appendRun(b: ByteBuffer, p: usize, n: i32): void {
  if (!b.overflow && <i64>b.length + <i64>n <= <i64>b.limit) {
    b.raw(p, n);
    return;
  }
  for (let k = 0; k < n; k++) b.byte(<i32>load<u8>(p + <usize>k));
}
