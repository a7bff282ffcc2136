/**
 * An incremental HTTP/1.1 response parser (RFC 9112), fed any split of the bytes.
 *
 * Theory of operation: `feed` walks the bytes through a small state machine (status line, header lines,
 * then a body framed by Content-Length, chunked coding, or the end of the connection) and returns
 * NeedMore until one response is complete. Head lines are collected in a bounded line buffer; body bytes
 * go to a sink (http/sink.ts): by default a bounded buffer that keeps the caller's budget and only counts
 * the rest, so a huge response costs no memory.
 * Anything that is not HTTP/1.x we can frame unambiguously is an error, never a trap. Only the headers
 * the core acts on are kept: Date (clock anchoring, parsed here once), Retry-After (pushback), Connection,
 * Content-Length, Transfer-Encoding.
 */
import { ByteBuffer, equalsIgnoreCase, hexValue, isDigit, isOws } from "../util/bytes";
import { ErrorCode } from "../abi/errors";
import { parseHttpDate } from "../util/time";
import { BodySink, BufferSink } from "./sink";

/** Longest status line or header line (Go's net/http server keeps heads under 1 MiB; ours are small). */
export const MAX_LINE = 8192;
/** Largest response head in total. */
export const MAX_HEAD = 32768;
/** Most header fields in one head. */
export const MAX_HEADERS = 100;
/** Longest chunk-size line, extensions included. */
const MAX_CHUNK_LINE = 1024;

/** What feed() found. */
export enum ParseResult {
  /** The response is not complete yet. */
  NeedMore = 0,
  /** A whole response has been parsed. */
  Done = 1,
  /** The bytes are not a response we accept (see `error`). */
  Error = 2,
}

enum State {
  StatusLine,
  HeaderLine,
  BodyLength,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailer,
  BodyUntilClose,
  Done,
  Failed,
}

/** Parses one response at a time; reset() before each request. */
export class ResponseParser {
  /** Status code of the final (non-1xx) response. */
  status: i32 = 0;
  /** HTTP minor version (0 or 1). */
  minor: i32 = 1;
  /** Where body bytes go: `buffer` unless a caller gave another sink. */
  sink: BodySink;
  /** The default sink: keeps at most the request's body budget. */
  readonly buffer: BufferSink;
  /** The Date header as Unix seconds (-1 when absent or not a valid IMF-fixdate). */
  dateSecs: i64 = -1;
  /** Retry-After in seconds (delta-seconds form only, at most a day), or -1. */
  retryAfterSecs: i64 = -1;
  /** The server asked to close the connection, or the framing needs it closed. */
  mustClose: bool = false;
  /** Set with ParseResult.Error. */
  error: ErrorCode = ErrorCode.Ok;
  /** Words for the error. */
  detail: string = "";
  /** Any byte of the response has arrived. */
  started: bool = false;
  /** Keep the registry headers below (set per request: other responses pay nothing for them). */
  registryHeaders: bool = false;
  /** WWW-Authenticate, Docker-Content-Digest and Location ("" when absent or not kept). */
  challenge: string = "";
  contentDigest: string = "";
  location: string = "";

  private state: State = State.StatusLine;
  private line: ByteBuffer = new ByteBuffer(256, MAX_LINE);
  private headBytes: i32 = 0;
  private headerCount: i32 = 0;
  private contentLength: i64 = -1;
  private chunked: bool = false;
  private remaining: i64 = 0;
  private noBody: bool = false;

  constructor(maxBody: i32) {
    const b = new BufferSink(maxBody);
    this.buffer = b;
    this.sink = b;
  }

  /** Body bytes kept by the default sink. */
  get body(): ByteBuffer {
    return this.buffer.body;
  }

  /** Body bytes received in total (default sink). */
  get bodyTotal(): i64 {
    return this.buffer.total;
  }

  /** True when the body was longer than the budget (default sink). */
  get bodyTruncated(): bool {
    return this.buffer.truncated;
  }

  /** Prepares for the next response; keeps at most `bodyBudget` body bytes of it. */
  reset(bodyBudget: i32, noBody: bool = false): void {
    const b = this.buffer;
    b.budget = bodyBudget < b.body.limit ? bodyBudget : b.body.limit;
    this.resetTo(b, noBody);
  }

  /** Prepares for the next response, whose body goes to `sink`. */
  resetTo(sink: BodySink, noBody: bool = false): void {
    this.sink = sink;
    sink.begin();
    this.status = 0;
    this.minor = 1;
    this.dateSecs = -1;
    this.retryAfterSecs = -1;
    this.challenge = "";
    this.contentDigest = "";
    this.location = "";
    this.mustClose = false;
    this.error = ErrorCode.Ok;
    this.detail = "";
    this.started = false;
    this.state = State.StatusLine;
    this.line.clear();
    this.headBytes = 0;
    this.headerCount = 0;
    this.contentLength = -1;
    this.chunked = false;
    this.remaining = 0;
    this.noBody = noBody;
  }

  /** True once a whole response is parsed. */
  get done(): bool {
    return this.state == State.Done;
  }

  /** True when the body runs until the connection closes. */
  get untilClose(): bool {
    return this.state == State.BodyUntilClose;
  }

  /**
   * Consumes bytes [p, p+n). Returns Done when a response completed (extra bytes after it are an error:
   * we never pipeline), Error with `error`/`detail`, or NeedMore.
   */
  feed(p: usize, n: i32): ParseResult {
    if (n > 0) this.started = true;
    let i = 0;
    while (i < n) {
      const s = this.state;
      if (s == State.Done) return this.fail(ErrorCode.HttpMalformed, "unexpected bytes after the response");
      if (s == State.Failed) return ParseResult.Error;
      if (s == State.BodyLength || s == State.ChunkData || s == State.BodyUntilClose) {
        let take = n - i;
        if (s != State.BodyUntilClose && <i64>take > this.remaining) take = <i32>this.remaining;
        this.sink.write(p + <usize>i, take);
        i += take;
        if (s != State.BodyUntilClose) {
          this.remaining -= <i64>take;
          if (this.remaining == 0) this.state = s == State.BodyLength ? State.Done : State.ChunkDataEnd;
        }
        continue;
      }
      const c = <i32>load<u8>(p + <usize>i);
      i++;
      if (s == State.ChunkDataEnd) {
        // The CRLF after chunk data; a bare LF is tolerated (RFC 9112 §2.2).
        if (c == 0x0d) continue;
        if (c != 0x0a) return this.fail(ErrorCode.HttpMalformed, "chunk data not followed by CRLF");
        this.state = State.ChunkSize;
        continue;
      }
      // Line-oriented states: status line, header lines, chunk-size lines, trailers.
      const head = s == State.StatusLine || s == State.HeaderLine || s == State.Trailer;
      if (c != 0x0a) {
        // The line's bytes up to its LF (or the end of the input) are taken in one go, with the same
        // limits, checked in the same order, as byte by byte: the head's size, then the line's length.
        let j = i;
        while (j < n && load<u8>(p + <usize>j) != 0x0a) j++;
        const k = j - i + 1;
        const limit = s == State.ChunkSize ? MAX_CHUNK_LINE : MAX_LINE;
        const headRoom = head ? MAX_HEAD - this.headBytes : i32.MAX_VALUE;
        const lineRoom = limit - this.line.length;
        if (headRoom < k || lineRoom < k) {
          if (headRoom <= lineRoom) return this.fail(ErrorCode.HttpHeadTooLarge, "response head too large");
          return this.fail(ErrorCode.HttpHeadTooLarge, s == State.ChunkSize ? "chunk-size line too long" : "header line too long");
        }
        if (head) this.headBytes += k;
        this.line.raw(p + <usize>(i - 1), k);
        i = j;
        continue;
      }
      if (head) {
        this.headBytes++;
        if (this.headBytes > MAX_HEAD) return this.fail(ErrorCode.HttpHeadTooLarge, "response head too large");
      }
      // End of a line: drop the CR, then act on it.
      let len = this.line.length;
      if (len > 0 && this.line.at(len - 1) == 0x0d) len--;
      const r = this.endLine(len);
      this.line.clear();
      if (r != ParseResult.NeedMore) {
        if (r == ParseResult.Done && i < n) {
          return this.fail(ErrorCode.HttpMalformed, "unexpected bytes after the response");
        }
        return r;
      }
    }
    return this.state == State.Done ? ParseResult.Done : ParseResult.NeedMore;
  }

  /** The connection closed: completes a body that runs until close, otherwise it is an error. */
  finish(): ParseResult {
    if (this.state == State.BodyUntilClose) {
      this.state = State.Done;
      this.mustClose = true;
      return ParseResult.Done;
    }
    if (this.state == State.Done) return ParseResult.Done;
    return this.fail(ErrorCode.Closed, this.started ? "connection closed mid-response" : "connection closed before any response");
  }

  private fail(code: ErrorCode, why: string): ParseResult {
    if (this.state != State.Failed) {
      this.error = code;
      this.detail = why;
      this.state = State.Failed;
      this.mustClose = true;
    }
    return ParseResult.Error;
  }

  private endLine(len: i32): ParseResult {
    const lp = this.line.ptr;
    switch (this.state) {
      case State.StatusLine: return this.statusLine(lp, len);
      case State.HeaderLine: return this.headerLine(lp, len);
      case State.ChunkSize: return this.chunkSize(lp, len);
      case State.Trailer: {
        // Trailer fields are read and ignored; an empty line ends the message.
        if (len == 0) this.state = State.Done;
        return len == 0 ? ParseResult.Done : ParseResult.NeedMore;
      }
    }
    return ParseResult.NeedMore;
  }

  /** `HTTP/1.x SP 3DIGIT SP reason` (RFC 9112 §4). */
  private statusLine(p: usize, len: i32): ParseResult {
    // Tolerate empty lines before the status line (RFC 9112 §2.2 allows it for requests; cheap here too).
    if (len == 0 && this.headBytes <= 2) return ParseResult.NeedMore;
    if (len < 12) return this.fail(ErrorCode.HttpMalformed, "status line too short");
    if (
      load<u8>(p) != 0x48 || load<u8>(p + 1) != 0x54 || load<u8>(p + 2) != 0x54 || load<u8>(p + 3) != 0x50 ||
      load<u8>(p + 4) != 0x2f || load<u8>(p + 5) != 0x31 || load<u8>(p + 6) != 0x2e
    ) {
      return this.fail(ErrorCode.HttpMalformed, "not an HTTP/1.x status line");
    }
    const minor = <i32>load<u8>(p + 7) - 0x30;
    if (minor < 0 || minor > 1 || load<u8>(p + 8) != 0x20) {
      return this.fail(ErrorCode.HttpMalformed, "unsupported HTTP version");
    }
    let code = 0;
    for (let k = 9; k < 12; k++) {
      const d = <i32>load<u8>(p + <usize>k);
      if (!isDigit(d)) return this.fail(ErrorCode.HttpMalformed, "status code is not three digits");
      code = code * 10 + d - 0x30;
    }
    if (code < 100 || (len > 12 && load<u8>(p + 12) != 0x20)) {
      return this.fail(ErrorCode.HttpMalformed, "bad status code");
    }
    this.status = code;
    this.minor = minor;
    if (minor == 0) this.mustClose = true;
    this.state = State.HeaderLine;
    return ParseResult.NeedMore;
  }

  private headerLine(p: usize, len: i32): ParseResult {
    if (len == 0) return this.endOfHead();
    this.headerCount++;
    if (this.headerCount > MAX_HEADERS) return this.fail(ErrorCode.HttpHeadTooLarge, "too many header fields");
    const first = <i32>load<u8>(p);
    // Obsolete line folding is refused (RFC 9112 §5.2).
    if (isOws(first)) return this.fail(ErrorCode.HttpMalformed, "folded header line");
    let colon = -1;
    for (let k = 0; k < len; k++) {
      const c = <i32>load<u8>(p + <usize>k);
      if (c == 0x3a) {
        colon = k;
        break;
      }
      // Field names are tokens: no whitespace or controls (RFC 9110 §5.1).
      if (c <= 0x20 || c == 0x7f) return this.fail(ErrorCode.HttpMalformed, "invalid header name");
    }
    if (colon <= 0) return this.fail(ErrorCode.HttpMalformed, "header line without a name");
    let vs = colon + 1;
    let ve = len;
    while (vs < ve && isOws(<i32>load<u8>(p + <usize>vs))) vs++;
    while (ve > vs && isOws(<i32>load<u8>(p + <usize>(ve - 1)))) ve--;
    const vp = p + <usize>vs;
    const vn = ve - vs;
    if (equalsIgnoreCase(p, colon, "content-length")) return this.contentLengthHeader(vp, vn);
    if (equalsIgnoreCase(p, colon, "transfer-encoding")) {
      // The final coding decides the framing (RFC 9112 §6.3): chunked, or read until close.
      this.chunked = endsWithToken(vp, vn, "chunked");
      if (!this.chunked) this.mustClose = true;
      return ParseResult.NeedMore;
    }
    if (equalsIgnoreCase(p, colon, "connection")) {
      if (containsToken(vp, vn, "close")) this.mustClose = true;
      return ParseResult.NeedMore;
    }
    if (equalsIgnoreCase(p, colon, "date")) {
      this.dateSecs = parseHttpDate(vp, vn);
    } else if (equalsIgnoreCase(p, colon, "retry-after")) {
      this.retryAfterSecs = deltaSeconds(vp, vn);
    } else if (this.registryHeaders) {
      if (equalsIgnoreCase(p, colon, "www-authenticate")) this.challenge = String.UTF8.decodeUnsafe(vp, vn);
      else if (equalsIgnoreCase(p, colon, "docker-content-digest")) this.contentDigest = String.UTF8.decodeUnsafe(vp, vn);
      else if (equalsIgnoreCase(p, colon, "location")) this.location = String.UTF8.decodeUnsafe(vp, vn);
    }
    return ParseResult.NeedMore;
  }

  private contentLengthHeader(vp: usize, vn: i32): ParseResult {
    if (vn == 0 || vn > 15) return this.fail(ErrorCode.HttpMalformed, "invalid Content-Length");
    let v: i64 = 0;
    for (let k = 0; k < vn; k++) {
      const d = <i32>load<u8>(vp + <usize>k);
      if (!isDigit(d)) return this.fail(ErrorCode.HttpMalformed, "invalid Content-Length");
      v = v * 10 + <i64>(d - 0x30);
    }
    if (this.contentLength >= 0 && this.contentLength != v) {
      return this.fail(ErrorCode.HttpMalformed, "conflicting Content-Length values");
    }
    this.contentLength = v;
    return ParseResult.NeedMore;
  }

  private endOfHead(): ParseResult {
    const code = this.status;
    if (code < 200) {
      // An interim response (100 Continue, 103 Early Hints): the real one follows.
      this.state = State.StatusLine;
      this.headerCount = 0;
      this.contentLength = -1;
      this.chunked = false;
      return ParseResult.NeedMore;
    }
    this.sink.head(code);
    if (this.noBody || code == 204 || code == 304) {
      this.state = State.Done;
      return ParseResult.Done;
    }
    if (this.chunked) {
      this.state = State.ChunkSize;
      return ParseResult.NeedMore;
    }
    if (this.contentLength >= 0) {
      if (this.contentLength == 0) {
        this.state = State.Done;
        return ParseResult.Done;
      }
      this.remaining = this.contentLength;
      this.state = State.BodyLength;
      return ParseResult.NeedMore;
    }
    this.mustClose = true;
    this.state = State.BodyUntilClose;
    return ParseResult.NeedMore;
  }

  /** `chunk-size [; ext]` in hex (RFC 9112 §7.1). */
  private chunkSize(p: usize, len: i32): ParseResult {
    let size: i64 = 0;
    let digits = 0;
    let k = 0;
    while (k < len) {
      const h = hexValue(<i32>load<u8>(p + <usize>k));
      if (h < 0) break;
      size = (size << 4) | <i64>h;
      digits++;
      if (digits > 12) return this.fail(ErrorCode.HttpMalformed, "chunk size too large");
      k++;
    }
    if (digits == 0) return this.fail(ErrorCode.HttpMalformed, "invalid chunk size");
    while (k < len && isOws(<i32>load<u8>(p + <usize>k))) k++;
    if (k < len && load<u8>(p + <usize>k) != 0x3b) return this.fail(ErrorCode.HttpMalformed, "invalid chunk size");
    if (size == 0) {
      this.state = State.Trailer;
      return ParseResult.NeedMore;
    }
    this.remaining = size;
    this.state = State.ChunkData;
    return ParseResult.NeedMore;
  }
}

/** True when the comma-separated list [p, p+n) ends with `token` (case-insensitive). */
function endsWithToken(p: usize, n: i32, token: string): bool {
  let e = n;
  while (e > 0 && isOws(<i32>load<u8>(p + <usize>(e - 1)))) e--;
  let s = e;
  while (s > 0 && load<u8>(p + <usize>(s - 1)) != 0x2c) s--;
  while (s < e && isOws(<i32>load<u8>(p + <usize>s))) s++;
  return equalsIgnoreCase(p + <usize>s, e - s, token);
}

/** True when the comma-separated list [p, p+n) contains `token` (case-insensitive). */
function containsToken(p: usize, n: i32, token: string): bool {
  let s = 0;
  while (s < n) {
    let e = s;
    while (e < n && load<u8>(p + <usize>e) != 0x2c) e++;
    let a = s;
    let b = e;
    while (a < b && isOws(<i32>load<u8>(p + <usize>a))) a++;
    while (b > a && isOws(<i32>load<u8>(p + <usize>(b - 1)))) b--;
    if (equalsIgnoreCase(p + <usize>a, b - a, token)) return true;
    s = e + 1;
  }
  return false;
}

/** Retry-After as delta-seconds (RFC 9110 §10.2.3), capped at a day; -1 for anything else (an HTTP date is not used). */
function deltaSeconds(p: usize, n: i32): i64 {
  if (n == 0 || n > 10) return -1;
  let v: i64 = 0;
  for (let k = 0; k < n; k++) {
    const d = <i32>load<u8>(p + <usize>k);
    if (!isDigit(d)) return -1;
    v = v * 10 + <i64>(d - 0x30);
  }
  return v > 86400 ? 86400 : v;
}
