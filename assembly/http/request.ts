/**
 * HTTP/1.1 requests (RFC 9112 §3): what the core asks of the API server, and the bytes that say it.
 *
 * Every request carries Host, User-Agent, Accept and Content-Length, plus Authorization when a token is
 * configured (or the request carries its own: the TLS bootstrap's) and Content-Type when there is a body. No `Connection: close`: the connection is kept alive.
 */
import { ByteBuffer } from "../util/bytes";
import { USER_AGENT } from "../util/version";
import { BodySink } from "./sink";

/** Content types of the API calls we make. */
export const JSON_TYPE = "application/json";
export const MERGE_PATCH = "application/merge-patch+json";
export const STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json";

/** One request, as a reconciler hands it to the HTTP client. */
export class HttpRequest {
  /** Which worker of the agent's work table made it; the result goes back to it. */
  owner: i32 = 0;
  /** Which step of that worker this is (node/work.ts); echoed in the result. */
  tag: i32 = 0;
  method: string = "GET";
  path: string = "/";
  contentType: string = "";
  body: ByteBuffer | null = null;
  /** How many body bytes of the response to keep; the rest are counted and discarded. */
  bodyBudget: i32 = 0;
  /** Safe to send again after a kept-alive connection closed under it (GET, PATCH, DELETE). */
  replayable: bool = false;
  /** Where the response body goes instead of the lane's bounded buffer (a watch's line scanner). */
  sink: BodySink | null = null;
  /** A stream (watch): no whole-response deadline, but at most this much silence (0: ordinary request). */
  progressMs: i64 = 0;
  /** A bearer token for this request only, instead of the endpoint's (the bootstrap token's CSR requests). */
  bearer: string = "";
  /** The whole Authorization value for this request only (`Basic …` to a registry); wins over `bearer`. */
  authorization: string = "";
  /** The Accept value ("": application/json). */
  accept: string = "";
  /** A registry request: the response's WWW-Authenticate, Docker-Content-Digest and Location are kept. */
  registry: bool = false;
}

/** Appends the request line and headers of `req` to `out`. */
export function writeRequestHead(
  out: ByteBuffer,
  req: HttpRequest,
  host: string,
  port: i32,
  token: string,
): void {
  const body = req.body;
  const bodyLen = body !== null ? body.length : 0;
  out.str(req.method);
  out.byte(0x20);
  out.str(req.path);
  out.str(" HTTP/1.1\r\nHost: ");
  // An IPv6 literal must be bracketed in Host (RFC 9110 §7.2 via RFC 3986 §3.2.2).
  if (host.includes(":")) {
    out.byte(0x5b);
    out.str(host);
    out.byte(0x5d);
  } else {
    out.str(host);
  }
  out.byte(0x3a);
  out.int(port);
  if (req.authorization.length > 0) {
    out.str("\r\nAuthorization: ");
    out.str(req.authorization);
  } else if (token.length > 0) {
    out.str("\r\nAuthorization: Bearer ");
    out.str(token);
  }
  out.str("\r\nUser-Agent: ");
  out.str(USER_AGENT);
  out.str("\r\nAccept: ");
  out.str(req.accept.length > 0 ? req.accept : "application/json");
  if (bodyLen > 0) {
    out.str("\r\nContent-Type: ");
    out.str(req.contentType);
  }
  out.str("\r\nContent-Length: ");
  out.int(bodyLen);
  out.str("\r\n\r\n");
}
