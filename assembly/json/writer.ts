/**
 * A streaming JSON writer over a ByteBuffer.
 *
 * It tracks only whether a comma is needed at each nesting level, so bodies are built in one pass with no
 * intermediate objects. Keys and string values are escaped per RFC 8259 §7; output is compact and keys
 * come out in the order they are written, which makes request bodies byte-exact and testable.
 */
import { ByteBuffer } from "../util/bytes";
import { writeRfc3339 } from "../util/time";

const MAX_DEPTH = 32;

/** Writes one JSON document into `out`. */
export class JsonWriter {
  out: ByteBuffer;
  /** Bit d set: the container at depth d already has a member. */
  private hasMember: u64 = 0;
  private depth: i32 = 0;
  /** True right after a key, so the next value takes no comma. */
  private afterKey: bool = false;

  constructor(out: ByteBuffer) {
    this.out = out;
  }

  /** Opens an object, as a value or as the document. */
  beginObject(): JsonWriter {
    this.valueStart();
    this.out.byte(0x7b);
    this.push();
    return this;
  }

  /** Closes the innermost object. */
  endObject(): JsonWriter {
    this.pop();
    this.out.byte(0x7d);
    return this;
  }

  /** Opens an array. */
  beginArray(): JsonWriter {
    this.valueStart();
    this.out.byte(0x5b);
    this.push();
    return this;
  }

  /** Closes the innermost array. */
  endArray(): JsonWriter {
    this.pop();
    this.out.byte(0x5d);
    return this;
  }

  /** Writes a member name; the next call writes its value. */
  key(k: string): JsonWriter {
    this.valueStart();
    writeString(this.out, k);
    this.out.byte(0x3a);
    this.afterKey = true;
    return this;
  }

  /** Writes a string value. */
  string(v: string): JsonWriter {
    this.valueStart();
    writeString(this.out, v);
    return this;
  }

  /** Writes an integer value. */
  int(v: i64): JsonWriter {
    this.valueStart();
    this.out.int(v);
    return this;
  }

  /** Writes a boolean value. */
  bool(v: bool): JsonWriter {
    this.valueStart();
    this.out.str(v ? "true" : "false");
    return this;
  }

  /** Starts a value the caller writes itself (complete and valid JSON) into the returned buffer. */
  rawValue(): ByteBuffer {
    this.valueStart();
    return this.out;
  }

  /** A timestamp string: RFC 3339 UTC, whole seconds (metav1.Time) or, with `micro`, microseconds (MicroTime). */
  timestamp(unixMs: i64, micro: bool = false): JsonWriter {
    const out = this.rawValue();
    out.byte(0x22);
    writeRfc3339(out, unixMs, micro);
    out.byte(0x22);
    return this;
  }

  /** Shorthand for key + string. */
  field(k: string, v: string): JsonWriter {
    return this.key(k).string(v);
  }

  /** Shorthand for key + integer. */
  fieldInt(k: string, v: i64): JsonWriter {
    return this.key(k).int(v);
  }

  private valueStart(): void {
    if (this.afterKey) {
      this.afterKey = false;
      return;
    }
    if (this.depth == 0) return;
    const bit: u64 = (<u64>1) << (<u64>(this.depth - 1));
    if (this.hasMember & bit) this.out.byte(0x2c);
    else this.hasMember |= bit;
  }

  private push(): void {
    if (this.depth < MAX_DEPTH) {
      this.hasMember &= ~((<u64>1) << (<u64>this.depth));
    }
    this.depth++;
  }

  private pop(): void {
    if (this.depth > 0) this.depth--;
  }
}

/** Appends `s` as a quoted, escaped JSON string. */
export function writeString(out: ByteBuffer, s: string): void {
  out.byte(0x22);
  const n = s.length;
  const chars = changetype<usize>(s);
  let start = 0;
  for (let i = 0; i < n; i++) {
    const c = <i32>load<u16>(chars + (<usize>i << 1));
    if (c >= 0x20 && c != 0x22 && c != 0x5c) continue;
    if (i > start) out.str(s.substring(start, i));
    out.byte(0x5c);
    if (c == 0x22) out.byte(0x22);
    else if (c == 0x5c) out.byte(0x5c);
    else if (c == 0x0a) out.byte(0x6e);
    else if (c == 0x0d) out.byte(0x72);
    else if (c == 0x09) out.byte(0x74);
    else {
      out.byte(0x75);
      out.hex(<u64>c, 4);
    }
    start = i + 1;
  }
  if (start == 0) out.str(s);
  else if (start < n) out.str(s.substring(start, n));
  out.byte(0x22);
}
