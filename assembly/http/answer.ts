/**
 * What the kubelet port sends back (RFC 9112): a response head, then either a body of known length or a
 * chunked one (§7.1), which lets the server produce a body piece by piece while the client reads it.
 * An HTTP/1.0 client cannot read chunks: its streamed body ends with the connection instead.
 */
import { ByteBuffer } from "../util/bytes";

/** How a response body is framed. */
export enum Framing {
  /** Content-Length. */
  Length = 0,
  /** Transfer-Encoding: chunked. */
  Chunked = 1,
  /** Ends with the connection (HTTP/1.0 streaming). */
  UntilClose = 2,
}

/** Width of a chunk-size field: every chunk this server writes is shorter than 16^CHUNK_DIGITS. */
const CHUNK_DIGITS = 4;
export const MAX_CHUNK: i32 = (1 << (CHUNK_DIGITS * 4)) - 1;

/** Appends a status line and headers. `length` is used with Framing.Length. */
export function writeHead(out: ByteBuffer, status: i32, contentType: string, framing: Framing, length: i64, close: bool, keepAlive10: bool): void {
  out.str("HTTP/1.1 ");
  out.int(status);
  out.byte(0x20);
  // The reason phrase is optional (RFC 9112 §4); the rarer statuses go without one.
  out.str(reason(status));
  out.str("\r\nContent-Type: ");
  out.str(contentType);
  out.str("\r\nX-Content-Type-Options: nosniff");
  if (framing == Framing.Length) {
    out.str("\r\nContent-Length: ");
    out.int(length);
  } else if (framing == Framing.Chunked) {
    out.str("\r\nTransfer-Encoding: chunked");
  }
  out.str(close ? "\r\nConnection: close\r\n\r\n" : keepAlive10 ? "\r\nConnection: keep-alive\r\n\r\n" : "\r\n\r\n");
}

/** A whole small text response (HEAD: the head alone, with the length the body would have). */
export function writeText(out: ByteBuffer, status: i32, body: string, close: bool, keepAlive10: bool, head: bool): void {
  writeHead(out, status, "text/plain; charset=utf-8", Framing.Length, String.UTF8.byteLength(body), close, keepAlive10);
  if (!head) out.str(body);
}

/** Frames `body` as one chunk into `out` (nothing for an empty body: that would end the stream). */
export function writeChunk(out: ByteBuffer, body: ByteBuffer): void {
  if (body.length == 0) return;
  out.hex(<u64>body.length, CHUNK_DIGITS);
  out.str("\r\n");
  out.append(body);
  out.str("\r\n");
}

/** The last chunk: the end of a chunked body. */
export function writeLastChunk(out: ByteBuffer): void {
  out.str("0\r\n\r\n");
}

function reason(status: i32): string {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "";
  }
}
