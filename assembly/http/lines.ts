/**
 * The body sink of a watch stream: one JSON object per line (`{"type":…,"object":…}`), each scanned for
 * the caller's fields as it arrives. Nothing of a line is buffered but the fields kept, so a 1 MiB object
 * in the stream costs no more memory than those fields. A line that is not JSON is reported and skipped:
 * the next line starts afresh.
 */
import { BodySink } from "./sink";
import { JsonScanner, ScanHandler } from "../json/scanner";

/** Receives each line's fields (as a ScanHandler) and then the end of the line. */
export abstract class LineHandler extends ScanHandler {
  /** A line ended: `ok` when it was one whole JSON value, else `scanner.error` says why. */
  abstract line(ok: bool, scanner: JsonScanner): void;
}

export class LineSink extends BodySink {
  readonly scanner: JsonScanner;
  /** Lines seen since begin(). */
  lines: i64 = 0;
  private empty: bool = true;

  constructor(fields: string[], private handler: LineHandler) {
    super();
    this.scanner = new JsonScanner(fields, handler);
  }

  begin(): void {
    this.scanner.reset();
    this.lines = 0;
    this.empty = true;
  }

  write(p: usize, n: i32): void {
    let start = 0;
    for (let i = 0; i < n; i++) {
      if (load<u8>(p + <usize>i) != 0x0a) continue;
      this.scan(p + <usize>start, i - start);
      this.endLine();
      start = i + 1;
    }
    this.scan(p + <usize>start, n - start);
  }

  private scan(p: usize, n: i32): void {
    if (n <= 0) return;
    if (this.empty) {
      // Blank space between lines is not a document.
      let blank = true;
      for (let i = 0; i < n; i++) {
        const c = load<u8>(p + <usize>i);
        if (c != 0x20 && c != 0x0d && c != 0x09) {
          blank = false;
          break;
        }
      }
      if (blank) return;
      this.empty = false;
    }
    // After a failure the rest of the line is ignored.
    if (!this.scanner.failed) this.scanner.feed(p, n);
  }

  private endLine(): void {
    if (this.empty) return;
    const ok = this.scanner.finish();
    this.lines++;
    this.handler.line(ok, this.scanner);
    this.scanner.reset();
    this.empty = true;
  }
}

/** The body sink of one JSON document scanned as it arrives (a list response): nothing but the fields kept. */
export class ScanSink extends BodySink {
  readonly scanner: JsonScanner;

  constructor(fields: string[], handler: ScanHandler) {
    super();
    this.scanner = new JsonScanner(fields, handler);
  }

  begin(): void {
    this.scanner.reset();
  }

  write(p: usize, n: i32): void {
    if (!this.scanner.failed) this.scanner.feed(p, n);
  }
}
