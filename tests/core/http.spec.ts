import { ParseResult, ResponseParser, MAX_HEAD, MAX_LINE, MAX_HEADERS } from "../../assembly/http/response";
import { HttpRequest, writeRequestHead, MERGE_PATCH } from "../../assembly/http/request";
import { ByteBuffer, utf8 } from "../../assembly/util/bytes";
import { ErrorCode } from "../../assembly/abi/errors";

const OK_CL = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Sat, 02 May 2026 15:47:17 GMT\r\nContent-Length: 17\r\n\r\n{\"kind\":\"Lease\"}\n";
const CHUNKED = "HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\nDATE: Sat, 02 May 2026 15:47:17 GMT\r\n\r\n5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\n";

/** Feeds `text` in two pieces split at `at`; returns the final result. */
function feedSplit(p: ResponseParser, text: string, at: i32): ParseResult {
  const b = utf8(text);
  const first = p.feed(b.ptr, at);
  if (first != ParseResult.NeedMore) return at == b.length ? first : ParseResult.Error;
  return p.feed(b.ptr + <usize>at, b.length - at);
}

/** Feeds `text` one byte at a time. */
function feedBytes(p: ResponseParser, text: string): ParseResult {
  const b = utf8(text);
  let r = ParseResult.NeedMore;
  for (let i = 0; i < b.length; i++) {
    r = p.feed(b.ptr + <usize>i, 1);
    if (r != ParseResult.NeedMore && i != b.length - 1) return ParseResult.Error;
  }
  return r;
}

function fresh(budget: i32 = 4096): ResponseParser {
  const p = new ResponseParser(32768);
  p.reset(budget);
  return p;
}

describe("response parser: framing", () => {
  it("parses a Content-Length response at every split point", () => {
    const n = utf8(OK_CL).length;
    for (let at = 0; at <= n; at++) {
      const p = fresh();
      expect(feedSplit(p, OK_CL, at)).toBe(ParseResult.Done);
      expect(p.status).toBe(200);
      expect(p.body.toString()).toBe("{\"kind\":\"Lease\"}\n");
      expect(p.dateSecs).toBe(1777736837);
      expect(p.mustClose).toBe(false);
    }
  });
  it("parses a chunked response at every split point, with extensions and trailers", () => {
    const n = utf8(CHUNKED).length;
    for (let at = 0; at <= n; at++) {
      const p = fresh();
      expect(feedSplit(p, CHUNKED, at)).toBe(ParseResult.Done);
      expect(p.status).toBe(201);
      expect(p.body.toString()).toBe("hello, world");
      expect(p.dateSecs).toBe(1777736837);
    }
  });
  it("parses byte by byte", () => {
    const p = fresh();
    expect(feedBytes(p, CHUNKED)).toBe(ParseResult.Done);
    expect(p.body.toString()).toBe("hello, world");
  });
  it("reads a body without framing until the connection closes", () => {
    const p = fresh();
    expect(feedSplit(p, "HTTP/1.1 200 OK\r\n\r\npartial body", 10)).toBe(ParseResult.NeedMore);
    expect(p.finish()).toBe(ParseResult.Done);
    expect(p.body.toString()).toBe("partial body");
    expect(p.mustClose).toBe(true);
  });
  it("treats 204 and 304 as bodiless", () => {
    const p = fresh();
    expect(feedSplit(p, "HTTP/1.1 204 No Content\r\n\r\n", 3)).toBe(ParseResult.Done);
    const q = fresh();
    expect(feedSplit(q, "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", 3)).toBe(ParseResult.Done);
  });
  it("skips interim 1xx responses", () => {
    const p = fresh();
    expect(feedSplit(p, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 20)).toBe(ParseResult.Done);
    expect(p.status).toBe(200);
    expect(p.body.toString()).toBe("ok");
  });
  it("reports a missing or invalid Date header as -1", () => {
    const p = fresh();
    expect(feedSplit(p, "HTTP/1.1 200 OK\r\nDate: yesterday\r\nContent-Length: 0\r\n\r\n", 7)).toBe(ParseResult.Done);
    expect(p.dateSecs).toBe(-1);
    const q = fresh();
    expect(feedSplit(q, "HTTP/1.1 204 No Content\r\n\r\n", 7)).toBe(ParseResult.Done);
    expect(q.dateSecs).toBe(-1);
  });
  it("accepts bare LF line endings", () => {
    const p = fresh();
    expect(feedSplit(p, "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", 5)).toBe(ParseResult.Done);
    expect(p.body.toString()).toBe("ok");
  });
  it("honours Connection: close and HTTP/1.0", () => {
    const p = fresh();
    feedSplit(p, "HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 0\r\n\r\n", 0);
    expect(p.mustClose).toBe(true);
    const q = fresh();
    expect(feedSplit(q, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 0)).toBe(ParseResult.Done);
    expect(q.mustClose).toBe(true);
  });
  it("lets chunked coding win over Content-Length", () => {
    const p = fresh();
    expect(feedSplit(p, "HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", 0)).toBe(ParseResult.Done);
    expect(p.body.toString()).toBe("ok");
  });
});

describe("response parser: budgets", () => {
  it("keeps only the body budget and counts the rest", () => {
    const p = fresh(4);
    expect(feedSplit(p, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", 30)).toBe(ParseResult.Done);
    expect(p.body.toString()).toBe("0123");
    expect(p.bodyTotal).toBe(10);
    expect(p.bodyTruncated).toBe(true);
  });
  it("discards a huge chunked body without buffering it", () => {
    const p = fresh(16);
    const head = utf8("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    expect(p.feed(head.ptr, head.length)).toBe(ParseResult.NeedMore);
    const chunk = utf8("1000\r\n" + "x".repeat(4096) + "\r\n");
    for (let i = 0; i < 256; i++) expect(p.feed(chunk.ptr, chunk.length)).toBe(ParseResult.NeedMore);
    const end = utf8("0\r\n\r\n");
    expect(p.feed(end.ptr, end.length)).toBe(ParseResult.Done);
    expect(p.bodyTotal).toBe(1 << 20);
    expect(p.body.length).toBe(16);
  });
  it("refuses a header line longer than the limit", () => {
    const p = fresh();
    const r = feedSplit(p, "HTTP/1.1 200 OK\r\nX-Big: " + "a".repeat(MAX_LINE) + "\r\n\r\n", 0);
    expect(r).toBe(ParseResult.Error);
    expect(p.error).toBe(ErrorCode.HttpHeadTooLarge);
  });
  it("takes a header line of exactly the limit and a head of exactly the limit, whole or byte by byte", () => {
    // The line limit counts the bytes before LF (CR included); the head limit every byte of the head.
    const atLine = "HTTP/1.1 204 No Content\r\nX-Big: " + "a".repeat(MAX_LINE - 8) + "\r\n\r\n";
    const overLine = "HTTP/1.1 204 No Content\r\nX-Big: " + "a".repeat(MAX_LINE - 7) + "\r\n\r\n";
    let head = "HTTP/1.1 204 No Content\r\n";
    const filler = "X-Pad: " + "b".repeat(1000) + "\r\n";
    while (head.length + filler.length + 2 <= MAX_HEAD) head += filler;
    const pad = MAX_HEAD - head.length - 11;
    const atHead = head + "X-End: " + "c".repeat(pad) + "\r\n\r\n";
    const overHead = head + "X-End: " + "c".repeat(pad + 1) + "\r\n\r\n";
    expect(utf8(atHead).length).toBe(MAX_HEAD);
    for (let bytewise = 0; bytewise < 2; bytewise++) {
      const texts = [atLine, overLine, atHead, overHead];
      for (let t = 0; t < texts.length; t++) {
        const p = fresh();
        const r = bytewise == 1 ? feedBytes(p, texts[t]) : feedSplit(p, texts[t], 0);
        if (t % 2 == 0) {
          expect(r).toBe(ParseResult.Done);
          expect(p.status).toBe(204);
        } else {
          expect(r).toBe(ParseResult.Error);
          expect(p.error).toBe(ErrorCode.HttpHeadTooLarge);
          expect(p.detail).toBe(t == 1 ? "header line too long" : "response head too large");
        }
      }
    }
  });
  it("refuses a chunk-size line longer than its limit, and one line at both limits as the head's", () => {
    const p = fresh();
    const r = feedSplit(p, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;" + "e".repeat(2000) + "\r\n", 0);
    expect(r).toBe(ParseResult.Error);
    expect(p.detail).toBe("chunk-size line too long");
    // A line that crosses the line limit where the head crosses its own: the head is checked first.
    let head = "HTTP/1.1 200 OK\r\n";
    const filler = "X-Pad: " + "b".repeat(1000) + "\r\n";
    while (head.length + filler.length < MAX_HEAD - MAX_LINE) head += filler;
    const rest = MAX_HEAD - head.length;
    const q = fresh();
    expect(feedSplit(q, head + "X-Big: " + "a".repeat(rest + MAX_LINE) + "\r\n\r\n", 0)).toBe(ParseResult.Error);
    expect(q.detail).toBe(rest < MAX_LINE ? "response head too large" : "header line too long");
  });
  it("refuses too many header fields", () => {
    let text = "HTTP/1.1 200 OK\r\n";
    for (let i = 0; i <= MAX_HEADERS; i++) text += "X-" + i.toString() + ": v\r\n";
    const p = fresh();
    expect(feedSplit(p, text + "\r\n", 0)).toBe(ParseResult.Error);
    expect(p.error).toBe(ErrorCode.HttpHeadTooLarge);
  });
});

describe("response parser: garbage", () => {
  it("rejects what is not HTTP/1.x", () => {
    const bad: string[] = [
      "SSH-2.0-OpenSSH_9.2\r\n",
      "HTTP/2 200\r\n\r\n",
      "HTTP/1.1 2x0 OK\r\n\r\n",
      "HTTP/1.1 099 Low\r\n\r\n",
      "HTTP/1.1 200OK\r\n\r\n",
      "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a",
      "HTTP/1.1 200 OK\r\n folded: header\r\n\r\n",
      "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
      "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX",
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA",
    ];
    for (let i = 0; i < bad.length; i++) {
      const p = fresh();
      const r = feedSplit(p, bad[i], 0);
      expect(r).toBe(ParseResult.Error, "case " + i.toString());
      expect(p.error).not.toBe(ErrorCode.Ok);
      expect(p.mustClose).toBe(true);
    }
  });
  it("reports a connection closed mid-response", () => {
    const p = fresh();
    feedSplit(p, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", 0);
    expect(p.finish()).toBe(ParseResult.Error);
    expect(p.error).toBe(ErrorCode.Closed);
  });
  it("never traps on pseudo-random bytes", () => {
    let seed: u32 = 12345;
    for (let round = 0; round < 200; round++) {
      const b = new ByteBuffer(512, 512);
      b.str(round % 2 == 0 ? "HTTP/1.1 200 OK\r\n" : "");
      for (let i = 0; i < 300; i++) {
        seed = seed * 1103515245 + 12345;
        const c = (seed >> 16) & 0xff;
        b.byte(round % 3 == 0 ? (c & 0x3f) + 0x20 : c);
      }
      const p = fresh();
      const r = p.feed(b.ptr, b.length);
      expect(r == ParseResult.Done || r == ParseResult.NeedMore || r == ParseResult.Error).toBe(true);
      p.finish();
    }
  });
});

describe("request head", () => {
  it("is byte-exact for a PATCH with a token", () => {
    const req = new HttpRequest();
    req.method = "PATCH";
    req.path = "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1";
    req.contentType = MERGE_PATCH;
    req.body = utf8("{}");
    const out = new ByteBuffer(512, 4096);
    writeRequestHead(out, req, "10.0.0.1", 6443, "abc.def");
    expect(out.toString()).toBe(
      "PATCH /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1 HTTP/1.1\r\n" +
      "Host: 10.0.0.1:6443\r\n" +
      "Authorization: Bearer abc.def\r\n" +
      "User-Agent: picokubelet/0.1.0 (esp32-s3; wasm)\r\n" +
      "Accept: application/json\r\n" +
      "Content-Type: application/merge-patch+json\r\n" +
      "Content-Length: 2\r\n\r\n",
    );
  });
  it("omits Authorization without a token, Content-Type without a body, and brackets IPv6", () => {
    const req = new HttpRequest();
    req.path = "/version";
    const out = new ByteBuffer(512, 4096);
    writeRequestHead(out, req, "fd00::1", 443, "");
    expect(out.toString()).toBe(
      "GET /version HTTP/1.1\r\nHost: [fd00::1]:443\r\nUser-Agent: picokubelet/0.1.0 (esp32-s3; wasm)\r\n" +
      "Accept: application/json\r\nContent-Length: 0\r\n\r\n",
    );
  });
});

describe("response parser: Retry-After", () => {
  it("reads delta-seconds, caps it at a day, and ignores the date form and garbage", () => {
    const cases: string[] = ["5", "86400", "999999", "Fri, 31 Dec 2027 23:59:59 GMT", "-1", "", "1x"];
    const want: i64[] = [5, 86400, 86400, -1, -1, -1, -1];
    for (let i = 0; i < cases.length; i++) {
      const p = fresh();
      const r = feedSplit(p, "HTTP/1.1 429 Too Many Requests\r\nRetry-After: " + cases[i] + "\r\nContent-Length: 0\r\n\r\n", 20);
      expect(r).toBe(ParseResult.Done);
      expect(p.retryAfterSecs).toBe(want[i], cases[i]);
    }
  });
});
