/**
 * A bounded JSON reader that builds a small tree (RFC 8259).
 *
 * Used for the configuration document and for the few API responses whose content we need (the Node we
 * adopt after a 409). It never traps: malformed input, nesting deeper than MAX_DEPTH or a string that is
 * not UTF-8 yields null and an error message. Members named in `skip` (Kubernetes' `managedFields`) are
 * validated but not stored, which keeps the tree of a full Node object small.
 */
import { ByteBuffer, hexValue, isDigit } from "../util/bytes";

const MAX_DEPTH = 32;

/** The JSON value types. */
export enum JsonKind {
  Null = 0,
  Bool = 1,
  Number = 2,
  String = 3,
  Array = 4,
  Object = 5,
}

// Scalars share these (never written), so a string or number costs one small object, not three.
const NO_KEYS: string[] = [];
const NO_ITEMS: JsonValue[] = [];

/** One parsed value. Numbers keep their text; `asInt` converts when an integer is wanted. */
export class JsonValue {
  kind: JsonKind = JsonKind.Null;
  /** String contents, or a number's literal text. */
  text: string = "";
  flag: bool = false;
  /** Object member names, parallel to `items` (a shared empty array for scalars). */
  keys: string[] = NO_KEYS;
  /** Array elements or object member values (a shared empty array for scalars). */
  items: JsonValue[] = NO_ITEMS;

  /** The member `key` of an object, or null. */
  get(key: string): JsonValue | null {
    if (this.kind != JsonKind.Object) return null;
    for (let i = 0; i < this.keys.length; i++) {
      if (unchecked(this.keys[i]) == key) return unchecked(this.items[i]);
    }
    return null;
  }

  /** Follows a dotted path of object members, e.g. "metadata.uid". */
  path(dotted: string): JsonValue | null {
    let cur: JsonValue | null = this;
    let start = 0;
    while (cur !== null) {
      let dot = dotted.indexOf(".", start);
      if (dot < 0) dot = dotted.length;
      cur = cur.get(dotted.substring(start, dot));
      if (dot >= dotted.length) return cur;
      start = dot + 1;
    }
    return null;
  }

  /** String at a dotted path, or `fallback` when absent or not a string. */
  stringAt(dotted: string, fallback: string = ""): string {
    const v = this.path(dotted);
    if (v === null || v.kind != JsonKind.String) return fallback;
    return v.text;
  }

  /** True for a number with no fraction or exponent that fits an i64... within ±2^53. */
  isInteger(): bool {
    if (this.kind != JsonKind.Number) return false;
    const t = this.text;
    const start = t.charCodeAt(0) == 0x2d ? 1 : 0;
    if (t.length - start > 15) return false;
    for (let i = start; i < t.length; i++) if (!isDigit(t.charCodeAt(i))) return false;
    return true;
  }

  /** Integer value (check isInteger first); 0 otherwise. */
  asInt(): i64 {
    if (!this.isInteger()) return 0;
    const t = this.text;
    const neg = t.charCodeAt(0) == 0x2d;
    let v: i64 = 0;
    for (let i = neg ? 1 : 0; i < t.length; i++) v = v * 10 + <i64>(t.charCodeAt(i) - 0x30);
    return neg ? -v : v;
  }
}

/** What a skipped value parses to: one shared object, never stored in a tree. */
const SKIPPED = new JsonValue();

/** Parses one JSON document from [ptr, ptr+len). */
export class JsonReader {
  private p: usize = 0;
  private end: usize = 0;
  private start: usize = 0;
  /** Why the last parse failed ("" after success). */
  error: string = "";
  /** Member names whose values are skipped, not stored. */
  skip: string[] = [];
  private scratch: ByteBuffer = new ByteBuffer(64, 1 << 20);

  /** The document's value, or null with `error` set. */
  parse(ptr: usize, len: i32): JsonValue | null {
    this.p = ptr;
    this.start = ptr;
    this.end = ptr + <usize>(len > 0 ? len : <i32>0);
    this.error = "";
    this.ws();
    const v = this.value(0, true);
    if (v === null) return null;
    this.ws();
    if (this.p != this.end) return this.fail("unexpected data after the JSON value");
    return v;
  }

  /** Parses a whole buffer. */
  parseBuffer(b: ByteBuffer): JsonValue | null {
    return this.parse(b.ptr, b.length);
  }

  private fail(msg: string): JsonValue | null {
    if (this.error.length == 0) {
      this.error = msg + " at byte " + (<i64>(this.p - this.start)).toString();
    }
    return null;
  }

  @inline private peek(): i32 {
    return this.p < this.end ? <i32>load<u8>(this.p) : -1;
  }

  private ws(): void {
    while (this.p < this.end) {
      const c = load<u8>(this.p);
      if (c != 0x20 && c != 0x0a && c != 0x0d && c != 0x09) break;
      this.p++;
    }
  }

  private literal(word: string): bool {
    const n = word.length;
    if (this.end - this.p < <usize>n) return false;
    for (let i = 0; i < n; i++) {
      if (<i32>load<u8>(this.p + <usize>i) != word.charCodeAt(i)) return false;
    }
    this.p += <usize>n;
    return true;
  }

  /**
   * Parses a value; with keep=false the value is only checked, nothing is allocated for it, and a shared
   * placeholder is returned.
   */
  private value(depth: i32, keep: bool): JsonValue | null {
    if (depth > MAX_DEPTH) return this.fail("JSON nested too deeply");
    const c = this.peek();
    if (c == 0x7b) return this.object(depth, keep);
    if (c == 0x5b) return this.array(depth, keep);
    if (c == 0x22) {
      const s = this.string(keep);
      if (s === null) return null;
      if (!keep) return SKIPPED;
      const v = new JsonValue();
      v.kind = JsonKind.String;
      v.text = s;
      return v;
    }
    if (c == 0x74 || c == 0x66) {
      const yes = this.literal("true");
      if (!yes && !this.literal("false")) return this.fail("invalid literal");
      if (!keep) return SKIPPED;
      const v = new JsonValue();
      v.flag = yes;
      v.kind = JsonKind.Bool;
      return v;
    }
    if (c == 0x6e) {
      if (!this.literal("null")) return this.fail("invalid literal");
      return keep ? new JsonValue() : SKIPPED;
    }
    if (c == 0x2d || isDigit(c)) return this.number(keep);
    return this.fail(c < 0 ? "unexpected end of JSON" : "unexpected character");
  }

  private object(depth: i32, keep: bool): JsonValue | null {
    const v = keep ? new JsonValue() : SKIPPED;
    if (keep) {
      v.kind = JsonKind.Object;
      v.keys = [];
      v.items = [];
    }
    this.p++;
    this.ws();
    if (this.peek() == 0x7d) {
      this.p++;
      return v;
    }
    while (true) {
      this.ws();
      if (this.peek() != 0x22) return this.fail("expected a member name");
      const k = this.string(keep);
      if (k === null) return null;
      this.ws();
      if (this.peek() != 0x3a) return this.fail("expected ':'");
      this.p++;
      this.ws();
      const keepMember = keep && !this.skip.includes(k);
      const m = this.value(depth + 1, keepMember);
      if (m === null) return null;
      if (keepMember) {
        v.keys.push(k);
        v.items.push(m);
      }
      this.ws();
      const c = this.peek();
      this.p++;
      if (c == 0x2c) continue;
      if (c == 0x7d) return v;
      this.p--;
      return this.fail("expected ',' or '}'");
    }
  }

  private array(depth: i32, keep: bool): JsonValue | null {
    const v = keep ? new JsonValue() : SKIPPED;
    if (keep) {
      v.kind = JsonKind.Array;
      v.items = [];
    }
    this.p++;
    this.ws();
    if (this.peek() == 0x5d) {
      this.p++;
      return v;
    }
    while (true) {
      this.ws();
      const e = this.value(depth + 1, keep);
      if (e === null) return null;
      if (keep) v.items.push(e);
      this.ws();
      const c = this.peek();
      this.p++;
      if (c == 0x2c) continue;
      if (c == 0x5d) return v;
      this.p--;
      return this.fail("expected ',' or ']'");
    }
  }

  private number(keep: bool): JsonValue | null {
    const s = this.p;
    if (this.peek() == 0x2d) this.p++;
    if (this.peek() == 0x30) this.p++;
    else if (!this.digits()) return this.fail("invalid number");
    if (this.peek() == 0x2e) {
      this.p++;
      if (!this.digits()) return this.fail("invalid number");
    }
    const e = this.peek();
    if (e == 0x65 || e == 0x45) {
      this.p++;
      const sign = this.peek();
      if (sign == 0x2b || sign == 0x2d) this.p++;
      if (!this.digits()) return this.fail("invalid number");
    }
    if (!keep) return SKIPPED;
    const v = new JsonValue();
    v.kind = JsonKind.Number;
    v.text = String.UTF8.decodeUnsafe(s, this.p - s);
    return v;
  }

  private digits(): bool {
    const s = this.p;
    while (this.p < this.end && isDigit(<i32>load<u8>(this.p))) this.p++;
    return this.p > s;
  }

  /** Parses a string literal at the cursor; returns its value ("" when not kept) or null on error. */
  private string(keep: bool): string | null {
    this.p++;
    const s = this.p;
    let simple = true;
    while (true) {
      if (this.p >= this.end) {
        this.fail("unterminated string");
        return null;
      }
      const c = <i32>load<u8>(this.p);
      if (c == 0x22) break;
      if (c < 0x20) {
        this.fail("control character in string");
        return null;
      }
      if (c == 0x5c) {
        simple = false;
        this.p++;
      }
      this.p++;
    }
    const stop = this.p;
    this.p++;
    if (!keep) return "";
    if (simple) return String.UTF8.decodeUnsafe(s, stop - s);
    return this.unescape(s, stop);
  }

  private unescape(s: usize, stop: usize): string | null {
    const b = this.scratch;
    b.clear();
    let q = s;
    while (q < stop) {
      const c = <i32>load<u8>(q++);
      if (c != 0x5c) {
        b.byte(c);
        continue;
      }
      if (q >= stop) break;
      const e = <i32>load<u8>(q++);
      if (e == 0x22 || e == 0x5c || e == 0x2f) b.byte(e);
      else if (e == 0x62) b.byte(0x08);
      else if (e == 0x66) b.byte(0x0c);
      else if (e == 0x6e) b.byte(0x0a);
      else if (e == 0x72) b.byte(0x0d);
      else if (e == 0x74) b.byte(0x09);
      else if (e == 0x75) {
        let cp = hex4(q, stop);
        if (cp < 0) {
          this.fail("invalid \\u escape");
          return null;
        }
        q += 4;
        if (cp >= 0xd800 && cp < 0xdc00 && stop - q >= 6 && load<u8>(q) == 0x5c && load<u8>(q + 1) == 0x75) {
          const lo = hex4(q + 2, stop);
          if (lo >= 0xdc00 && lo < 0xe000) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            q += 6;
          }
        }
        if (cp >= 0xd800 && cp < 0xe000) cp = 0xfffd;
        writeCodePoint(b, cp);
      } else {
        this.fail("invalid escape");
        return null;
      }
    }
    return b.toString();
  }
}

function hex4(q: usize, stop: usize): i32 {
  if (stop - q < 4) return -1;
  let v = 0;
  for (let i = 0; i < 4; i++) {
    const h = hexValue(<i32>load<u8>(q + <usize>i));
    if (h < 0) return -1;
    v = (v << 4) | h;
  }
  return v;
}

function writeCodePoint(b: ByteBuffer, cp: i32): void {
  if (cp < 0x80) b.byte(cp);
  else if (cp < 0x800) {
    b.byte(0xc0 | (cp >> 6));
    b.byte(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    b.byte(0xe0 | (cp >> 12));
    b.byte(0x80 | ((cp >> 6) & 0x3f));
    b.byte(0x80 | (cp & 0x3f));
  } else {
    b.byte(0xf0 | (cp >> 18));
    b.byte(0x80 | ((cp >> 12) & 0x3f));
    b.byte(0x80 | ((cp >> 6) & 0x3f));
    b.byte(0x80 | (cp & 0x3f));
  }
}
