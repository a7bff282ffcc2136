/**
 * The kubelet port's pure parts: the request parser at every split point and at its limits, routes and
 * the authorization attributes of paths, query values, log options, the review cache, the chunk framing
 * and the Prometheus text helpers.
 */
import { AUTH_LIMIT, Incoming, IncomingRequest, Method, TARGET_LIMIT, methodName } from "../../assembly/http/incoming";
import { Framing, writeChunk, writeHead, writeLastChunk, writeText } from "../../assembly/http/answer";
import { Route, fallback, isSubpath, parseTarget, queryValue, subresourceOf, verbOf } from "../../assembly/server/routes";
import { AuthCache, ALLOWED_TTL_MS, DENIED_TTL_MS, TOKEN_TTL_MS, decisionKey } from "../../assembly/server/auth";
import { Identity, certIdentity } from "../../assembly/server/reviews";
import { readLogQuery } from "../../assembly/server/server";
import { LogQuery } from "../../assembly/pods/logs";
import { escapeLabel, microsText } from "../../assembly/server/prometheus";
import { ByteBuffer, utf8 } from "../../assembly/util/bytes";

/** Feeds `text` in two pieces cut at `cut`; returns the parser. */
function parse(text: string, cut: i32 = -1): IncomingRequest {
  const b = utf8(text);
  const r = new IncomingRequest();
  if (cut < 0 || cut > b.length) cut = b.length;
  let used = r.feed(b.ptr, cut);
  if (r.state == Incoming.Reading) used += r.feed(b.ptr + <usize>cut, b.length - cut);
  return r;
}

function who(user: string): Identity {
  const id = new Identity();
  id.user = user;
  id.groups = ["g1", "system:authenticated"];
  return id;
}

const REQUEST = "GET /containerLogs/default/doom/app?follow=true&tailLines=10 HTTP/1.1\r\nHost: 10.0.0.7:10250\r\nAuthorization:  Bearer abc.def-ghi \r\nUser-Agent: kube-apiserver\r\n\r\n";

describe("incoming request parser", () => {
  it("reads method, target and credentials the same at every split point", () => {
    for (let cut = 0; cut <= REQUEST.length; cut++) {
      const r = parse(REQUEST, cut);
      expect(r.state).toBe(Incoming.Ready, "cut " + cut.toString());
      expect(r.method).toBe(Method.Get);
      expect(r.target.toString()).toBe("/containerLogs/default/doom/app?follow=true&tailLines=10");
      expect(r.authorization.toString()).toBe("Bearer abc.def-ghi");
      expect(r.persistent).toBe(true);
    }
  });

  it("knows the methods, and a prefix or a lower-case method is another", () => {
    const names = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"];
    for (let i = 0; i < names.length; i++) {
      const r = parse(names[i] + " / HTTP/1.1\r\nHost: a\r\n\r\n");
      expect(r.method).toBe(<Method>(i + 1));
      expect(methodName(r.method)).toBe(names[i]);
    }
    expect(parse("GE / HTTP/1.1\r\nHost: a\r\n\r\n").method).toBe(Method.Other);
    expect(parse("get / HTTP/1.1\r\nHost: a\r\n\r\n").method).toBe(Method.Other);
    expect(parse("PUTS / HTTP/1.1\r\nHost: a\r\n\r\n").method).toBe(Method.Other);
    expect(parse("PAT / HTTP/1.1\r\nHost: a\r\n\r\n").method).toBe(Method.Other);
  });

  it("refuses a target over its limit (414), credentials over theirs (431) and two Authorization headers (400)", () => {
    const long = parse("GET /" + "a".repeat(TARGET_LIMIT) + " HTTP/1.1\r\nHost: a\r\n\r\n");
    expect(long.state).toBe(Incoming.Bad);
    expect(long.answer).toBe(414);
    const fits = parse("GET /" + "a".repeat(TARGET_LIMIT - 1) + " HTTP/1.1\r\nHost: a\r\n\r\n");
    expect(fits.state).toBe(Incoming.Ready);
    const auth = parse("GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer " + "t".repeat(AUTH_LIMIT) + "\r\n\r\n");
    expect(auth.answer).toBe(431);
    const two = parse("GET / HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer a\r\nAuthorization: Bearer b\r\n\r\n");
    expect(two.answer).toBe(400);
  });

  it("notes an Upgrade, and forgets everything on reset", () => {
    const r = parse("POST /exec/a/b/c HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n");
    expect(r.upgrade).toBe(true);
    r.reset();
    expect(r.upgrade).toBe(false);
    expect(r.target.length).toBe(0);
    expect(r.authorization.length).toBe(0);
    expect(r.method).toBe(Method.Other);
  });

  it("never reads past a garbage byte, whatever the split", () => {
    const bad = ["GET /a\x00b HTTP/1.1\r\n\r\n", "GET  / HTTP/1.1\r\n\r\n", "\x16\x03\x01\x00", "GET / HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n"];
    for (let i = 0; i < bad.length; i++) {
      for (let cut = 0; cut <= bad[i].length; cut++) {
        const r = parse(bad[i], cut);
        expect(r.state).not.toBe(Incoming.Ready, bad[i]);
      }
    }
  });
});

describe("routes and authorization attributes", () => {
  it("maps paths to routes", () => {
    expect(parseTarget("/healthz").route).toBe(Route.Healthz);
    expect(parseTarget("/healthz?verbose").route).toBe(Route.Healthz);
    expect(parseTarget("/pods").route).toBe(Route.Pods);
    expect(parseTarget("/metrics").route).toBe(Route.Metrics);
    expect(parseTarget("/metrics/resource").route).toBe(Route.MetricsResource);
    expect(parseTarget("/metrics/cadvisor").route).toBe(Route.NotFound);
    const t = parseTarget("/containerLogs/kube-system/coredns-1/coredns?follow=1");
    expect(t.route).toBe(Route.ContainerLogs);
    expect(t.namespace).toBe("kube-system");
    expect(t.pod).toBe("coredns-1");
    expect(t.container).toBe("coredns");
    expect(t.query).toBe("follow=1");
    expect(parseTarget("/containerLogs/a/b").route).toBe(Route.NotFound);
    expect(parseTarget("/containerLogs/a//c").route).toBe(Route.NotFound);
    expect(parseTarget("/exec/a/b/c").what).toBe("exec");
    expect(parseTarget("/portForward/a/b").route).toBe(Route.Streaming);
    expect(parseTarget("/executive").route).toBe(Route.NotFound);
  });

  it("authorizes paths as the kubelet does", () => {
    expect(subresourceOf("/stats/summary")).toBe("stats");
    expect(subresourceOf("/metrics")).toBe("metrics");
    expect(subresourceOf("/metrics/resource")).toBe("metrics");
    expect(subresourceOf("/metricsx")).toBe("proxy");
    expect(subresourceOf("/logs/messages")).toBe("log");
    expect(subresourceOf("/healthz")).toBe("healthz");
    expect(subresourceOf("/pods")).toBe("pods");
    expect(subresourceOf("/containerLogs/a/b/c")).toBe("proxy");
    expect(subresourceOf("/exec/a/b/c")).toBe("proxy");
    expect(fallback("healthz")).toBe("proxy");
    expect(fallback("pods")).toBe("proxy");
    expect(fallback("metrics")).toBe("");
    expect(fallback("proxy")).toBe("");
    expect(verbOf(Method.Get)).toBe("get");
    expect(verbOf(Method.Head)).toBe("get");
    expect(verbOf(Method.Post)).toBe("create");
    expect(verbOf(Method.Delete)).toBe("delete");
    expect(verbOf(Method.Other)).toBe("");
    expect(isSubpath("/stats", "/stats")).toBe(true);
    expect(isSubpath("/statsx", "/stats")).toBe(false);
  });

  it("reads query values, percent-decoded, and refuses a bad escape", () => {
    expect(queryValue("follow=true&tailLines=10", "tailLines")!).toBe("10");
    expect(queryValue("follow&x=1", "follow")!).toBe("");
    expect(queryValue("tailLinesX=1", "tailLines")).toBeNull();
    expect(queryValue("sinceTime=2026-12-02T18%3A00%3A00Z", "sinceTime")!).toBe("2026-12-02T18:00:00Z");
    expect(queryValue("a=b+c", "a")!).toBe("b c");
    expect(queryValue("a=%zz", "a")).toBeNull();
    expect(queryValue("a=%4", "a")).toBeNull();
    expect(queryValue("", "a")).toBeNull();
  });

  it("reads the kubelet's log options and names what is wrong", () => {
    const q = new LogQuery();
    expect(readLogQuery("tailLines=5&timestamps=true&limitBytes=100&previous=1", q, 1_000_000)).toBe("");
    expect(q.tailLines).toBe(5);
    expect(q.limitBytes).toBe(100);
    expect(q.timestamps).toBe(true);
    expect(q.previous).toBe(true);
    const s = new LogQuery();
    expect(readLogQuery("sinceSeconds=30", s, 1_000_000)).toBe("");
    expect(s.sinceMs).toBe(970_000);
    const t = new LogQuery();
    expect(readLogQuery("sinceTime=2026-12-02T18%3A00%3A00Z", t, 0)).toBe("");
    expect(t.sinceMs).toBe(1796234400000);
    expect(readLogQuery("tailLines=-1", new LogQuery(), 0).includes("tailLines")).toBe(true);
    expect(readLogQuery("tailLines=" + "9".repeat(40), new LogQuery(), 0).includes("tailLines")).toBe(true);
    expect(readLogQuery("limitBytes=0", new LogQuery(), 0).includes("limitBytes")).toBe(true);
    expect(readLogQuery("sinceSeconds=1&sinceTime=2026-12-02T18:00:00Z", new LogQuery(), 0).includes("at most one")).toBe(true);
    expect(readLogQuery("sinceTime=yesterday", new LogQuery(), 0).includes("sinceTime")).toBe(true);
  });
});

describe("authentication and authorization cache", () => {
  it("reads a certificate's identity lines", () => {
    const b = utf8("CN=system:node:a\nO=system:nodes\nO=x\n");
    const id = certIdentity(b.ptr, b.length)!;
    expect(id.user).toBe("system:node:a");
    expect(id.groups.length).toBe(3);
    expect(id.groups[2]).toBe("system:authenticated");
    const none = utf8("O=only-a-group\n");
    expect(certIdentity(none.ptr, none.length)).toBeNull();
  });

  it("keeps tokens for their TTL, whole", () => {
    const c = new AuthCache();
    c.rememberToken(0, "token-a", who("a"));
    c.rememberToken(0, "token-bad", null);
    expect(c.token(1000, "token-a")!.identity!.user).toBe("a");
    expect(c.token(1000, "token-b")).toBeNull();
    expect(c.token(1000, "token-a-longer")).toBeNull();
    expect(c.token(1000, "token-bad")!.identity).toBeNull();
    expect(c.token(20_000, "token-bad")).toBeNull();
    expect(c.token(TOKEN_TTL_MS, "token-a")).toBeNull();
  });

  it("keeps decisions for 5 minutes (allowed) or 30 s (denied), and stays bounded", () => {
    const c = new AuthCache();
    const k = decisionKey(who("a"), "get", "proxy");
    c.rememberDecision(0, k, true, "");
    c.rememberDecision(0, decisionKey(who("b"), "get", "proxy"), false, "no");
    expect(c.decision(ALLOWED_TTL_MS - 1, k)!.allowed).toBe(true);
    expect(c.decision(ALLOWED_TTL_MS, k)).toBeNull();
    expect(c.decision(DENIED_TTL_MS, decisionKey(who("b"), "get", "proxy"))).toBeNull();
    expect(decisionKey(who("a"), "get", "proxy")).not.toBe(decisionKey(who("a"), "get", "pods"));
    const other = who("a");
    other.groups = ["g2"];
    expect(decisionKey(other, "get", "proxy")).not.toBe(k);
    for (let i = 0; i < 100; i++) c.rememberDecision(<i64>i, "k" + i.toString(), true, "");
    // The newest are kept, the oldest forgotten.
    expect(c.decision(200, "k99")).not.toBeNull();
    expect(c.decision(200, "k0")).toBeNull();
  });
});

describe("answers", () => {
  it("frames chunks with a fixed-width size and ends with the last chunk", () => {
    const out = new ByteBuffer(64, 4096);
    writeChunk(out, utf8("hello"));
    writeChunk(out, new ByteBuffer(0, 0));
    writeLastChunk(out);
    expect(out.toString()).toBe("0005\r\nhello\r\n0\r\n\r\n");
  });

  it("writes heads with the length the UTF-8 body has", () => {
    const out = new ByteBuffer(64, 4096);
    writeText(out, 404, "pod \"é\" not found\n", false, false, false);
    expect(out.toString().includes("Content-Length: 19\r\n")).toBe(true);
    const head = new ByteBuffer(64, 4096);
    writeHead(head, 200, "text/plain", Framing.Chunked, 0, true, false);
    expect(head.toString().includes("Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")).toBe(true);
  });

  it("writes Prometheus values and label values", () => {
    expect(microsText(2_500_000)).toBe("2.500000");
    expect(microsText(7)).toBe("0.000007");
    expect(microsText(-3)).toBe("0.000000");
    expect(escapeLabel('a"b\\c\nd')).toBe('a\\"b\\\\c\\nd');
    expect(escapeLabel("plain")).toBe("plain");
  });
});
