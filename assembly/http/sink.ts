/**
 * Where a response body goes. The parser frames the body (Content-Length, chunked, until close) and hands
 * the bytes to a sink; the sink decides what to keep. BufferSink keeps a bounded prefix for ordinary
 * responses and only counts the rest, so a huge body costs no more memory than the budget.
 */
import { ByteBuffer } from "../util/bytes";

/** Receives the body bytes of one response at a time. */
export abstract class BodySink {
  /** A new response starts. */
  abstract begin(): void;
  /** The final status is known, before any body byte (a sink may keep only a 200's body). */
  head(status: i32): void {}
  /** Body bytes [p, p+n). */
  abstract write(p: usize, n: i32): void;
}

/** Keeps at most `budget` body bytes; remembers whether more came. */
/** Capacity a body buffer keeps between responses (most bodies are smaller; a larger one grows it again). */
const KEEP_BYTES = 4096;

export class BufferSink extends BodySink {
  readonly body: ByteBuffer;
  /** More body bytes arrived than the budget keeps. */
  truncated: bool = false;
  /** Body bytes received in total. */
  total: i64 = 0;
  budget: i32;

  constructor(limit: i32) {
    super();
    this.body = new ByteBuffer(256, limit);
    this.budget = limit;
  }

  begin(): void {
    this.body.reset(KEEP_BYTES);
    this.truncated = false;
    this.total = 0;
  }

  write(p: usize, n: i32): void {
    this.total += <i64>n;
    const room = this.budget - this.body.length;
    if (room >= n) {
      this.body.raw(p, n);
    } else {
      if (room > 0) this.body.raw(p, room);
      this.truncated = true;
    }
  }
}
