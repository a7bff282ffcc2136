/**
 * An incoming HTTP/1.1 request (RFC 9112), read byte by byte so that any split of the bytes gives the
 * same result, with nothing buffered but the method, a prefix of the target and the values of the few
 * headers that decide framing and persistence. The head may be at most HEAD_LIMIT bytes; a body
 * (Content-Length) is skipped, up to BODY_LIMIT. Anything else that is not a well-formed request sets
 * `answer` to the status to reply with before closing: 400 for garbage, 431 for a head over the limit,
 * 413 for a body over its limit, 501 for a Transfer-Encoding (we read no chunked bodies), 505 for an
 * HTTP version other than 1.0 and 1.1.
 */
import { ByteBuffer, isDigit, lowerAscii } from "../util/bytes";

export const HEAD_LIMIT: i32 = 8 * 1024;
export const BODY_LIMIT: i64 = 64 * 1024;
/** Bytes of the target kept (longer targets are flagged `targetTooLong`; nothing we route is that long). */
const TARGET_KEEP: i32 = 256;

/** Where the parser stands. */
export enum Incoming {
  /** Reading the head or skipping the body. */
  Reading = 0,
  /** One whole request was read; reset() before the next. */
  Ready = 1,
  /** Not a request we can answer: reply `answer` and close. */
  Bad = 2,
}

const S_LINE_START = 0;
const S_METHOD = 1;
const S_TARGET = 2;
const S_VERSION = 3;
const S_LINE_LF = 4;
const S_FIELD_START = 5;
const S_NAME = 6;
const S_VALUE = 7;
const S_VALUE_LF = 8;
const S_END_LF = 9;
const S_BODY = 10;

const VERSION_TEXT = "HTTP/1.x";

const H_OTHER = 0;
const H_CONNECTION = 1;
const H_CONTENT_LENGTH = 2;
const H_TRANSFER_ENCODING = 3;
const H_HOST = 4;

/** RFC 9110 tchar. */
function isTchar(c: i32): bool {
  if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) return true;
  return c == 0x21 || c == 0x23 || c == 0x24 || c == 0x25 || c == 0x26 || c == 0x27 || c == 0x2a || c == 0x2b ||
    c == 0x2d || c == 0x2e || c == 0x5e || c == 0x5f || c == 0x60 || c == 0x7c || c == 0x7e;
}

export class IncomingRequest {
  state: Incoming = Incoming.Reading;
  /** The status to answer a Bad request with. */
  answer: i32 = 0;
  method: ByteBuffer = new ByteBuffer(16, 16);
  target: ByteBuffer = new ByteBuffer(32, TARGET_KEEP);
  targetTooLong: bool = false;
  /** 1 for HTTP/1.1, 0 for HTTP/1.0. */
  minor: i32 = 1;
  /** The client asked for the connection to end (or, on 1.0, did not ask to keep it). */
  close: bool = false;
  /** An HTTP/1.0 client asked to keep the connection alive. */
  keepAlive10: bool = false;
  /** Bytes of the head read so far (0: the request has not started). */
  headBytes: i32 = 0;

  private s: i32 = S_LINE_START;
  /** Bytes of the version read so far (it must be "HTTP/1.0" or "HTTP/1.1"). */
  private versionAt: i32 = 0;
  private versionOther: bool = false;
  private name: ByteBuffer = new ByteBuffer(32, 32);
  private nameLong: bool = false;
  private header: i32 = H_OTHER;
  private value: ByteBuffer = new ByteBuffer(64, 128);
  private contentLength: i64 = -1;
  private bodyLeft: i64 = 0;
  private hasHost: bool = false;
  private chunked: bool = false;

  /** Ready for the next request on the connection. */
  reset(): void {
    this.state = Incoming.Reading;
    this.answer = 0;
    this.method.clear();
    this.target.clear();
    this.targetTooLong = false;
    this.minor = 1;
    this.close = false;
    this.keepAlive10 = false;
    this.headBytes = 0;
    this.s = S_LINE_START;
    this.versionAt = 0;
    this.versionOther = false;
    this.contentLength = -1;
    this.bodyLeft = 0;
    this.hasHost = false;
    this.chunked = false;
  }

  /** True once some byte of a request (beyond leading empty lines) arrived. */
  get started(): bool {
    return this.s != S_LINE_START;
  }

  /** The connection stays open after the answer. */
  get persistent(): bool {
    if (this.state == Incoming.Bad || this.close) return false;
    return this.minor == 1 || this.keepAlive10;
  }

  /** The path of the target (without a query), for routing. */
  pathIs(path: string): bool {
    const t = this.target;
    let end = t.length;
    for (let i = 0; i < t.length; i++) {
      if (t.at(i) == 0x3f) {
        end = i;
        break;
      }
    }
    if (this.targetTooLong || end != path.length) return false;
    for (let i = 0; i < end; i++) if (t.at(i) != path.charCodeAt(i)) return false;
    return true;
  }

  methodIs(m: string): bool {
    const b = this.method;
    if (b.length != m.length) return false;
    for (let i = 0; i < b.length; i++) if (b.at(i) != m.charCodeAt(i)) return false;
    return true;
  }

  /** Reads bytes [p, p+n) and returns how many it consumed: it stops after a whole request or a Bad one. */
  feed(p: usize, n: i32): i32 {
    let i = 0;
    while (i < n && this.state == Incoming.Reading) {
      if (this.s == S_BODY) {
        let take = <i64>(n - i);
        if (take > this.bodyLeft) take = this.bodyLeft;
        this.bodyLeft -= take;
        i += <i32>take;
        if (this.bodyLeft == 0) this.state = Incoming.Ready;
        continue;
      }
      const c = <i32>load<u8>(p + <usize>i);
      i++;
      if (this.s != S_LINE_START) {
        this.headBytes++;
        if (this.headBytes > HEAD_LIMIT) {
          this.bad(431);
          break;
        }
      }
      this.step(c);
    }
    return i;
  }

  private bad(status: i32): void {
    this.state = Incoming.Bad;
    this.answer = status;
  }

  private step(c: i32): void {
    switch (this.s) {
      case S_LINE_START:
        // A server ignores empty lines before the request line (RFC 9112 §2.2).
        if (c == 0x0d || c == 0x0a) return;
        this.s = S_METHOD;
        this.headBytes = 1;
        this.methodByte(c);
        return;
      case S_METHOD:
        this.methodByte(c);
        return;
      case S_TARGET:
        if (c == 0x20) {
          if (this.target.length == 0) this.bad(400);
          else this.s = S_VERSION;
          return;
        }
        if (c <= 0x20 || c >= 0x7f) {
          this.bad(400);
          return;
        }
        if (this.target.length < TARGET_KEEP) this.target.byte(c);
        else this.targetTooLong = true;
        return;
      case S_VERSION:
        if (c == 0x0d || c == 0x0a) {
          // Only 1.0 and 1.1 are ours; another HTTP/x.y is well-formed but 505 (the minor digit was checked).
          if (this.versionAt != 8) this.bad(400);
          else if (this.versionOther) this.bad(505);
          else this.s = c == 0x0d ? S_LINE_LF : S_FIELD_START;
          return;
        }
        this.versionByte(c);
        return;
      case S_LINE_LF:
      case S_VALUE_LF:
        if (c != 0x0a) this.bad(400);
        else this.s = S_FIELD_START;
        return;
      case S_FIELD_START:
        if (c == 0x0d) {
          this.s = S_END_LF;
          return;
        }
        if (c == 0x0a) {
          this.endHead();
          return;
        }
        // Obsolete line folding and empty names are refused (RFC 9112 §5.2).
        if (!isTchar(c)) {
          this.bad(400);
          return;
        }
        this.name.clear();
        this.nameLong = false;
        this.nameByte(c);
        this.s = S_NAME;
        return;
      case S_NAME:
        if (c == 0x3a) {
          this.header = this.headerKind();
          this.value.clear();
          this.s = S_VALUE;
          return;
        }
        if (!isTchar(c)) {
          this.bad(400);
          return;
        }
        this.nameByte(c);
        return;
      case S_VALUE:
        if (c == 0x0d || c == 0x0a) {
          this.endField();
          if (this.state == Incoming.Reading) this.s = c == 0x0d ? S_VALUE_LF : S_FIELD_START;
          return;
        }
        if ((c < 0x20 && c != 0x09) || c == 0x7f) {
          this.bad(400);
          return;
        }
        if (this.header != H_OTHER) {
          if (this.value.length == 0 && (c == 0x20 || c == 0x09)) return;
          if (this.value.length >= 128) {
            this.bad(400);
            return;
          }
          this.value.byte(lowerAscii(c));
        }
        return;
      case S_END_LF:
        if (c != 0x0a) this.bad(400);
        else this.endHead();
        return;
    }
  }

  private methodByte(c: i32): void {
    if (c == 0x20) {
      if (this.method.length == 0) this.bad(400);
      else this.s = S_TARGET;
      return;
    }
    if (!isTchar(c) || this.method.length >= 16) {
      this.bad(400);
      return;
    }
    this.method.byte(c);
  }

  private nameByte(c: i32): void {
    if (this.name.length < 32) this.name.byte(lowerAscii(c));
    else this.nameLong = true;
  }

  private headerKind(): i32 {
    if (this.nameLong) return H_OTHER;
    const n = this.name;
    if (nameIs(n, "connection")) return H_CONNECTION;
    if (nameIs(n, "content-length")) return H_CONTENT_LENGTH;
    if (nameIs(n, "transfer-encoding")) return H_TRANSFER_ENCODING;
    if (nameIs(n, "host")) return H_HOST;
    return H_OTHER;
  }

  /** One byte of "HTTP/1.x": versionAt counts bytes; versionOther marks another digit version, -2 garbage. */
  private versionByte(c: i32): void {
    const at = this.versionAt;
    if (at < 0 || at >= 8) {
      this.versionAt = -2;
      return;
    }
    this.versionAt = at + 1;
    if (at == 5 || at == 7) {
      if (!isDigit(c)) this.versionAt = -2;
      else if ((at == 5 && c != 0x31) || (at == 7 && c > 0x31)) this.versionOther = true;
      else if (at == 7) this.minor = c - 0x30;
    } else if (c != VERSION_TEXT.charCodeAt(at)) {
      this.versionAt = -2;
    }
  }

  private endField(): void {
    // Trailing whitespace is not part of the value.
    const v = this.value;
    while (v.length > 0 && (v.at(v.length - 1) == 0x20 || v.at(v.length - 1) == 0x09)) v.length--;
    if (this.header == H_HOST) {
      if (this.hasHost) this.bad(400);
      this.hasHost = true;
    } else if (this.header == H_TRANSFER_ENCODING) {
      this.chunked = true;
    } else if (this.header == H_CONTENT_LENGTH) {
      if (v.length == 0 || v.length > 12) {
        this.bad(400);
        return;
      }
      let len: i64 = 0;
      for (let i = 0; i < v.length; i++) {
        if (!isDigit(v.at(i))) {
          this.bad(400);
          return;
        }
        len = len * 10 + <i64>(v.at(i) - 0x30);
      }
      if (this.contentLength >= 0 && this.contentLength != len) this.bad(400);
      this.contentLength = len;
    } else if (this.header == H_CONNECTION) {
      this.connectionTokens();
    }
  }

  /** Connection: a comma-separated list of tokens; `close` and `keep-alive` matter. */
  private connectionTokens(): void {
    const v = this.value;
    let start = 0;
    for (let i = 0; i <= v.length; i++) {
      if (i < v.length && v.at(i) != 0x2c) continue;
      let a = start;
      let b = i;
      while (a < b && (v.at(a) == 0x20 || v.at(a) == 0x09)) a++;
      while (b > a && (v.at(b - 1) == 0x20 || v.at(b - 1) == 0x09)) b--;
      if (rangeIs(v, a, b, "close")) this.close = true;
      else if (rangeIs(v, a, b, "keep-alive")) this.keepAlive10 = true;
      start = i + 1;
    }
  }

  private endHead(): void {
    if (this.minor == 1 && !this.hasHost) {
      this.bad(400);
      return;
    }
    if (this.chunked) {
      this.bad(501);
      return;
    }
    if (this.contentLength > BODY_LIMIT) {
      this.bad(413);
      return;
    }
    if (this.contentLength > 0) {
      this.bodyLeft = this.contentLength;
      this.s = S_BODY;
      return;
    }
    this.state = Incoming.Ready;
  }
}

function nameIs(b: ByteBuffer, s: string): bool {
  return rangeIs(b, 0, b.length, s);
}

function rangeIs(b: ByteBuffer, a: i32, e: i32, s: string): bool {
  if (e - a != s.length) return false;
  for (let i = 0; i < s.length; i++) if (b.at(a + i) != s.charCodeAt(i)) return false;
  return true;
}

/** Reason phrases of the statuses the server answers with. */
export function reasonPhrase(status: i32): string {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
  }
}

/** A whole small response: status line, Content-Type, Content-Length, Connection, then `body` unless `head`. */
export function writeResponse(out: ByteBuffer, status: i32, body: string, close: bool, keepAlive10: bool, head: bool): void {
  out.str("HTTP/1.1 ");
  out.int(status);
  out.byte(0x20);
  out.str(reasonPhrase(status));
  out.str("\r\nContent-Type: text/plain\r\nContent-Length: ");
  out.int(body.length);
  out.str("\r\n");
  if (close) out.str("Connection: close\r\n");
  else if (keepAlive10) out.str("Connection: keep-alive\r\n");
  out.str("\r\n");
  if (!head) out.str(body);
}
