/**
 * An incoming HTTP/1.1 request (RFC 9112), read byte by byte so that any split of the bytes gives the
 * same result. Only what the kubelet port needs is kept, each in a bounded buffer: the method (as a code),
 * the request target (at most TARGET_LIMIT bytes, else 414) and the credentials of an `Authorization`
 * header (at most AUTH_LIMIT bytes, else 431). Other header names and Connection tokens are hashed
 * (FNV-1a, lower-cased) and Content-Length is summed digit by digit. The head may be at most HEAD_LIMIT
 * bytes; a body (Content-Length) is skipped, up to BODY_LIMIT. Anything else that is not a well-formed
 * request sets `answer` to the status to reply with before closing: 400 for garbage, 431 for a head over
 * the limit, 413 for a body over its limit, 501 for a Transfer-Encoding (we read no chunked bodies), 505
 * for an HTTP version other than 1.0 and 1.1.
 */
import { ByteBuffer, isDigit, lowerAscii } from "../util/bytes";

export const HEAD_LIMIT: i32 = 8 * 1024;
export const BODY_LIMIT: i64 = 64 * 1024;
/** The request target (path and query): the kubelet's longest routes with every query option fit in 1 KiB. */
export const TARGET_LIMIT: i32 = 2048;
/** An Authorization value: a ServiceAccount token is about 1 KiB, an OIDC one can be 3. */
export const AUTH_LIMIT: i32 = 4096;

/** Methods by code (`method`); 0 for any other. */
export enum Method {
  Other = 0,
  Get = 1,
  Head = 2,
  Post = 3,
  Put = 4,
  Patch = 5,
  Delete = 6,
}
const METHODS = ["", "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];

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
const S_LF = 4;
const S_FIELD_START = 5;
const S_NAME = 6;
const S_VALUE = 7;
const S_END_LF = 8;
const S_BODY = 9;

const FNV_SEED: u32 = 0x811c9dc5;

@inline function fnv(h: u32, c: i32): u32 {
  return (h ^ <u32>lowerAscii(c)) * 0x01000193;
}

// FNV-1a of the lower-cased names (tests/wasm/abi-v2.test.ts recomputes them).
const H_CONNECTION: u32 = 0x38b99ed9; // "connection"
const H_CONTENT_LENGTH: u32 = 0x4df9451d; // "content-length"
const H_TRANSFER_ENCODING: u32 = 0xddb4744c; // "transfer-encoding"
const H_HOST: u32 = 0xaffea56f; // "host"
const H_CLOSE: u32 = 0x27cb3b23; // "close"
const H_KEEP_ALIVE: u32 = 0xe18edb80; // "keep-alive"
const H_AUTHORIZATION: u32 = 0x913657be; // "authorization"
const H_UPGRADE: u32 = 0xdc97cc77; // "upgrade"
const VERSION_TEXT = "HTTP/1.x";

/** RFC 9110 tchar: visible ASCII but the delimiters `"(),/:;<=>?@[\]{}` (a bit mask per half). */
function isTchar(c: i32): bool {
  if (c <= 0x20 || c >= 0x7f) return false;
  const mask: u64 = c < 64 ? 0xfc00930400000000 : 0x2800000038000001;
  return ((mask >> <u64>(c & 63)) & 1) == 0;
}

export class IncomingRequest {
  state: Incoming = Incoming.Reading;
  /** The status to answer a Bad request with. */
  answer: i32 = 0;
  /** The method's code (Method). */
  method: Method = Method.Other;
  /** The request target as sent (origin form: path and query). */
  readonly target: ByteBuffer = new ByteBuffer(64, TARGET_LIMIT);
  /** The Authorization header's value, without surrounding whitespace ("" when absent). */
  readonly authorization: ByteBuffer = new ByteBuffer(0, AUTH_LIMIT);
  /** The client asked to switch protocols (WebSocket or SPDY: exec, attach, port-forward). */
  upgrade: bool = false;
  /** 1 for HTTP/1.1, 0 for HTTP/1.0. */
  minor: i32 = 1;
  /** The client asked for the connection to end. */
  close: bool = false;
  /** An HTTP/1.0 client asked to keep the connection alive. */
  keepAlive10: bool = false;
  /** Bytes of the head read so far. */
  headBytes: i32 = 0;

  private s: i32 = S_LINE_START;
  /** Bytes of the current element (method, target, version) read so far; -1 once it cannot match. */
  private at: i32 = 0;
  private versionOther: bool = false;
  private hash: u32 = FNV_SEED;
  private header: u32 = 0;
  private value: i64 = -1;
  private contentLength: i64 = -1;
  private bodyLeft: i64 = 0;
  private hasHost: bool = false;
  private chunked: bool = false;
  private authCount: i32 = 0;
  /** Whitespace seen inside an Authorization value, written only if more of the value follows. */
  private authSpaces: i32 = 0;

  /** Ready for the next request on the connection. */
  reset(): void {
    this.state = Incoming.Reading;
    this.answer = 0;
    this.method = Method.Other;
    this.target.clear();
    this.authorization.clear();
    this.upgrade = false;
    this.authCount = 0;
    this.minor = 1;
    this.close = false;
    this.keepAlive10 = false;
    this.headBytes = 0;
    this.s = S_LINE_START;
    this.at = 0;
    this.versionOther = false;
    this.contentLength = -1;
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
      if (this.s != S_LINE_START && ++this.headBytes > HEAD_LIMIT) {
        this.bad(431);
        break;
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
    const s = this.s;
    const at = this.at;
    if (s == S_LINE_START) {
      // A server ignores empty lines before the request line (RFC 9112 §2.2).
      if (c == 0x0d || c == 0x0a) return;
      this.s = S_METHOD;
      this.headBytes = 1;
    }
    if (this.s == S_METHOD) {
      if (c == 0x20) {
        if (at <= 0) return this.bad(400);
        // A method that matched only a prefix of a known one ("GE") is another method.
        if (this.method != Method.Other && at != METHODS[this.method].length) this.method = Method.Other;
        this.s = S_TARGET;
        this.at = 0;
        return;
      }
      if (!isTchar(c) || at >= 16) return this.bad(400);
      // Matched as it comes against the known methods (case-sensitive, RFC 9110 §9.1): the code of the one
      // whose first `at` bytes match, 0 once none does.
      if (at == 0) this.method = Method.Other;
      this.method = matchMethod(this.method, at, c);
      this.at = at + 1;
      return;
    }
    if (s == S_TARGET) {
      if (c == 0x20) {
        if (at == 0) return this.bad(400);
        this.s = S_VERSION;
        this.at = 0;
        return;
      }
      if (c <= 0x20 || c >= 0x7f) return this.bad(400);
      if (this.target.length >= TARGET_LIMIT) return this.bad(414);
      this.target.byte(c);
      this.at = at + 1;
      return;
    }
    if (s == S_VERSION) {
      if (c == 0x0d || c == 0x0a) {
        // Only 1.0 and 1.1 are ours; another HTTP/x.y is well-formed but 505.
        if (at != 8) return this.bad(400);
        if (this.versionOther) return this.bad(505);
        this.s = c == 0x0d ? S_LF : S_FIELD_START;
        return;
      }
      if (at < 0 || at >= 8) return this.bad(400);
      this.at = at + 1;
      if (at == 5 || at == 7) {
        if (!isDigit(c)) return this.bad(400);
        if ((at == 5 && c != 0x31) || (at == 7 && c > 0x31)) this.versionOther = true;
        else if (at == 7) this.minor = c - 0x30;
      } else if (c != VERSION_TEXT.charCodeAt(at)) {
        this.bad(400);
      }
      return;
    }
    if (s == S_LF) {
      if (c != 0x0a) this.bad(400);
      else this.s = S_FIELD_START;
      return;
    }
    if (s == S_FIELD_START) {
      if (c == 0x0d) {
        this.s = S_END_LF;
        return;
      }
      if (c == 0x0a) return this.endHead();
      // Obsolete line folding and empty names are refused (RFC 9112 §5.2).
      if (!isTchar(c)) return this.bad(400);
      this.hash = fnv(FNV_SEED, c);
      this.s = S_NAME;
      return;
    }
    if (s == S_NAME) {
      if (c == 0x3a) {
        this.header = this.hash;
        this.hash = FNV_SEED;
        this.value = -1;
        this.at = 0;
        this.s = S_VALUE;
        return;
      }
      if (!isTchar(c)) return this.bad(400);
      this.hash = fnv(this.hash, c);
      return;
    }
    if (s == S_VALUE) {
      if (c == 0x0d || c == 0x0a) {
        this.endField();
        if (this.state == Incoming.Reading) this.s = c == 0x0d ? S_LF : S_FIELD_START;
        return;
      }
      if ((c < 0x20 && c != 0x09) || c == 0x7f) return this.bad(400);
      this.valueByte(c);
      return;
    }
    // S_END_LF
    if (c != 0x0a) this.bad(400);
    else this.endHead();
  }

  /** One byte of a header value: Content-Length digits are summed, Connection tokens hashed. */
  private valueByte(c: i32): void {
    const ows = c == 0x20 || c == 0x09;
    if (this.header == H_CONTENT_LENGTH) {
      if (ows) {
        // Whitespace only around the digits.
        if (this.value >= 0) this.at = 1;
        return;
      }
      if (!isDigit(c) || this.at == 1 || this.value > 0xffffffff) return this.bad(400);
      this.value = (this.value < 0 ? 0 : this.value * 10) + <i64>(c - 0x30);
    } else if (this.header == H_CONNECTION) {
      if (c == 0x2c) this.token();
      else if (!ows) this.hash = fnv(this.hash, c);
    } else if (this.header == H_AUTHORIZATION) {
      const a = this.authorization;
      // Leading whitespace is dropped; inner whitespace is kept once more of the value follows.
      if (ows) {
        if (a.length > 0) this.authSpaces++;
        return;
      }
      if (a.length + this.authSpaces + 1 > AUTH_LIMIT) return this.bad(431);
      for (; this.authSpaces > 0; this.authSpaces--) a.byte(0x20);
      a.byte(c);
    }
  }

  /** The end of one Connection token. */
  private token(): void {
    if (this.hash == H_CLOSE) this.close = true;
    else if (this.hash == H_KEEP_ALIVE) this.keepAlive10 = true;
    this.hash = FNV_SEED;
  }

  private endField(): void {
    const h = this.header;
    if (h == H_HOST) {
      if (this.hasHost) this.bad(400);
      this.hasHost = true;
    } else if (h == H_TRANSFER_ENCODING) {
      this.chunked = true;
    } else if (h == H_CONTENT_LENGTH) {
      if (this.value < 0 || (this.contentLength >= 0 && this.contentLength != this.value)) this.bad(400);
      this.contentLength = this.value;
    } else if (h == H_CONNECTION) {
      this.token();
    } else if (h == H_AUTHORIZATION) {
      // Two sets of credentials are ambiguous: refuse rather than pick one.
      if (++this.authCount > 1) this.bad(400);
      this.authSpaces = 0;
    } else if (h == H_UPGRADE) {
      this.upgrade = true;
    }
  }

  private endHead(): void {
    if (this.minor == 1 && !this.hasHost) return this.bad(400);
    if (this.chunked) return this.bad(501);
    if (this.contentLength > BODY_LIMIT) return this.bad(413);
    if (this.contentLength > 0) {
      this.bodyLeft = this.contentLength;
      this.s = S_BODY;
      return;
    }
    this.state = Incoming.Ready;
  }
}

/** The code of the method whose first `at` bytes, then `c`, match (`m`: the match so far), or Other. */
function matchMethod(m: Method, at: i32, c: i32): Method {
  if (at > 0 && m == Method.Other) return Method.Other;
  // At the first byte try every method; later only the current one and those sharing its prefix (PUT/PATCH/POST).
  const from = at == 0 ? 1 : <i32>m;
  for (let k = from; k < METHODS.length; k++) {
    const name = METHODS[k];
    if (at >= name.length || name.charCodeAt(at) != c) continue;
    if (at > 0 && !samePrefix(name, METHODS[<i32>m], at)) continue;
    return <Method>k;
  }
  return Method.Other;
}

function samePrefix(a: string, b: string, n: i32): bool {
  for (let i = 0; i < n; i++) if (a.charCodeAt(i) != b.charCodeAt(i)) return false;
  return true;
}

/** The name of method code `m` ("" for Other). */
export function methodName(m: Method): string {
  return METHODS[<i32>m];
}
