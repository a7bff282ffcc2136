/**
 * What ABI version 2 added, driven through the real module (assembly/ABI.md): flow control on send, the
 * kubelet-port server's HTTP handling on accepted connections (its routes and authorization:
 * kubelet-port.test.ts), the connection limit, host_call (OP_LISTEN and an
 * unsupported op), the snapshot handed from one instance to a second, and the refusal of a v1 module.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { CoreHarness, ErrorCode, HostOp, Phase, Stat } from "../support/core-harness.js";
import { CoreInstance, ModuleError } from "../../host-sim/src/runtime.js";
import { tinyCore } from "../host-sim/support/tiny-wasm.js";

const PORT = 10250;

test("flow control: a host taking 7 bytes per send still carries whole requests, and the node runs", async () => {
  const h = await CoreHarness.create({ sendBudget: 7 });
  h.runUntil(() => h.phase === Phase.RUNNING, 20_000);
  h.run(25_000);
  assert.ok(h.stat(Stat.RENEWALS) >= 2, `renewals ${h.stat(Stat.RENEWALS)}`);
  assert.ok(h.deferredSends > 100, `deferred ${h.deferredSends}`);
  assert.equal(h.stat(Stat.SENDS_DEFERRED), h.deferredSends);
  assert.equal(h.server.count("POST", "/api/v1/nodes"), 1);
  // Every request the fake server saw parsed whole: the bodies are JSON.
  for (const r of h.server.seen("PATCH", /leases/)) JSON.parse(r.body);
});

test("flow control: a host that takes nothing until on_writable never loses a byte", async () => {
  const h = await CoreHarness.create({ sendBudget: 0 });
  h.run(500);
  assert.equal(h.server.requests.length, 0, "nothing got through");
  h.sendBudget = 100;
  h.runUntil(() => h.phase === Phase.RUNNING, 20_000);
});

async function serving(extra: Record<string, unknown> = {}): Promise<CoreHarness> {
  const h = await CoreHarness.running({ config: { kubeletPort: PORT, ...extra } });
  assert.equal(h.stat(Stat.LISTEN_PORT), PORT);
  return h;
}

const HEALTHZ = "GET /healthz HTTP/1.1\r\nHost: node\r\nUser-Agent: t\r\n\r\n";
/** A client certificate the host verified: every request is then authorized by the (fake) API server. */
const ADMIN = "CN=kube-apiserver-kubelet-client\nO=kubelet-api-admins\n";

/** Sends `data` on `c` and lets the reviews on the control lane come back. */
function ask(h: CoreHarness, c: number, data: string, ms = 100): void {
  h.clientSend(c, data);
  h.run(ms);
}

test("the kubelet port answers /healthz and 404 at every split point of the request", async () => {
  const h = await serving();
  const twoRequests = HEALTHZ + "GET /nothing HTTP/1.1\r\nHost: node\r\n\r\n";
  for (let cut = 1; cut < twoRequests.length; cut++) {
    const c = h.accept(PORT, ADMIN);
    h.clientSend(c, twoRequests.slice(0, cut));
    ask(h, c, twoRequests.slice(cut));
    const text = h.servedText(c);
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n[^]*Content-Length: 2\r\n\r\nokHTTP\/1\.1 404 Not Found\r\n/, `cut ${cut}: ${JSON.stringify(text)}`);
    assert.ok(!/Connection: close/.test(text), `cut ${cut}: kept alive`);
    assert.equal(h.served.get(c)!.closed, false);
    h.clientClose(c);
  }
  assert.ok(h.stat(Stat.SERVER_REQUESTS) >= 2 * (twoRequests.length - 1));
});

test("the kubelet port: HEAD, Connection: close, HTTP/1.0, a body, and a byte-at-a-time client", async () => {
  const h = await serving();
  let c = h.accept(PORT, ADMIN);
  ask(h, c, "HEAD /healthz HTTP/1.1\r\nHost: n\r\n\r\n");
  assert.equal(h.servedText(c), "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\nContent-Length: 2\r\n\r\n");
  c = h.accept(PORT, ADMIN);
  ask(h, c, "GET /healthz?verbose HTTP/1.1\r\nHost: n\r\nConnection: keep-alive, close\r\n\r\nGET /healthz HTTP/1.1\r\n");
  assert.match(h.servedText(c), /^HTTP\/1\.1 200 OK\r\n[^]*Connection: close\r\n\r\nok$/);
  assert.equal(h.served.get(c)!.closed, true, "closed after the answer; the pipelined request is not answered");
  c = h.accept(PORT, ADMIN);
  ask(h, c, "GET /healthz HTTP/1.0\r\n\r\n");
  assert.match(h.servedText(c), /Connection: close\r\n\r\nok$/);
  assert.equal(h.served.get(c)!.closed, true);
  c = h.accept(PORT, ADMIN);
  ask(h, c, "GET /healthz HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
  assert.match(h.servedText(c), /Connection: keep-alive\r\n\r\nok$/);
  assert.equal(h.served.get(c)!.closed, false);
  c = h.accept(PORT, ADMIN);
  ask(h, c, "POST /healthz HTTP/1.1\r\nHost: n\r\nContent-Length: 5\r\n\r\nhello" + HEALTHZ);
  assert.match(h.servedText(c), /^HTTP\/1\.1 405 Method Not Allowed\r\n[^]*HTTP\/1\.1 200 OK\r\n/);
  c = h.accept(PORT, ADMIN);
  for (const ch of HEALTHZ) h.clientSend(c, ch);
  h.run(100);
  assert.match(h.servedText(c), /\r\n\r\nok$/);
});

test("the kubelet port: garbage gets 400 and a close, at every split point", async () => {
  const h = await serving();
  const bad: [string, number][] = [
    ["\x16\x03\x01\x02\x00garbage\r\n\r\n", 400],
    ["GET /healthz\r\n\r\n", 400],
    ["GET /healthz HTTP/1.1\r\n\r\n", 400], // no Host
    ["GET /healthz HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400],
    ["GET /healthz HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n", 400],
    ["GET /healthz HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", 501],
    ["GET /healthz HTTP/2.0\r\nHost: a\r\n\r\n", 505],
  ];
  for (const [req, status] of bad) {
    for (let cut = 1; cut < req.length; cut++) {
      const c = h.accept(PORT);
      h.clientSend(c, req.slice(0, cut));
      if (!h.served.get(c)!.closed) h.clientSend(c, req.slice(cut));
      assert.match(h.servedText(c), new RegExp(`^HTTP/1\\.1 ${status} [^]*Connection: close\\r\\n`), `${JSON.stringify(req)} cut ${cut}`);
      assert.equal(h.served.get(c)!.closed, true);
    }
  }
  // A head over 8 KiB: 431.
  const c = h.accept(PORT);
  h.clientSend(c, "GET /healthz HTTP/1.1\r\nHost: a\r\nX-Big: " + "a".repeat(9000) + "\r\n\r\n");
  assert.match(h.servedText(c), /^HTTP\/1\.1 431 /);
  assert.equal(h.served.get(c)!.closed, true);
  assert.equal(h.phase, Phase.RUNNING);
});

test("the kubelet port: a slow client gets 408, an idle one is closed, and the node keeps renewing", async () => {
  const h = await serving();
  const slow = h.accept(PORT);
  h.clientSend(slow, "GET /heal");
  const idle = h.accept(PORT);
  h.run(11_000);
  assert.match(h.servedText(slow), /^HTTP\/1\.1 408 /);
  assert.equal(h.served.get(slow)!.closed, true);
  assert.equal(h.served.get(idle)!.closed, true, "no request within the head deadline");
  assert.equal(h.servedText(idle), "");
  assert.ok(h.stat(Stat.RENEWALS) >= 1);
});

test("the kubelet port: at most maxServerConnections at once; more are closed as they arrive", async () => {
  const h = await serving({ maxServerConnections: 2 });
  const a = h.accept(PORT, ADMIN);
  const b = h.accept(PORT, ADMIN);
  const c = h.accept(PORT, ADMIN);
  assert.equal(h.served.get(c)!.closed, true);
  assert.equal(h.served.get(a)!.closed, false);
  assert.equal(h.stat(Stat.SERVER_REFUSED), 1);
  h.clientClose(a);
  const d = h.accept(PORT, ADMIN);
  assert.equal(h.served.get(d)!.closed, false, "a slot came free");
  h.clientSend(d, HEALTHZ);
  ask(h, b, HEALTHZ);
  assert.match(h.servedText(d), /ok$/);
  assert.match(h.servedText(b), /ok$/);
  assert.equal(h.stat(Stat.ACCEPTED), 3);
});

test("the kubelet port with a client that reads slowly: pipelined answers wait, none is lost", async () => {
  const h = await serving();
  h.sendBudget = 10;
  const c = h.accept(PORT, ADMIN);
  h.clientSend(c, HEALTHZ.repeat(5));
  h.run(2_000);
  const text = h.servedText(c);
  assert.equal(text.match(/HTTP\/1\.1 200 OK/g)?.length, 5, text);
  assert.equal(text.match(/\r\n\r\nok/g)?.length, 5);
});

test("daemonEndpoints is advertised only after the listen succeeded", async () => {
  const h = await serving();
  const patches = h.server.seen("PATCH", /\/status$/).map((r) => r.body);
  const posts = h.server.seen("POST", "/api/v1/nodes").map((r) => r.body);
  assert.ok([...patches, ...posts].some((b) => b.includes('"daemonEndpoints":{"kubeletEndpoint":{"Port":10250}}')));
  assert.ok(h.hostCalls.some((c) => c.op === HostOp.LISTEN && c.arg === PORT));
});

test("host_call unsupported: a host that cannot listen refuses at once; nothing is advertised, nothing accepted", async () => {
  const h = await CoreHarness.running({ config: { kubeletPort: PORT }, hostCall: () => -ErrorCode.UNSUPPORTED });
  assert.equal(h.stat(Stat.LISTEN_PORT), 0);
  assert.ok(h.logged("cannot listen on the kubelet port 10250 (unsupported by the host); not advertised").length === 1);
  const bodies = h.server.requests.map((r) => r.body).join("\n");
  assert.ok(!bodies.includes("daemonEndpoints"));
  const c = h.accept(PORT);
  assert.equal(h.served.get(c)!.closed, true);
  // OP_LISTEN, and the serving certificate manager's OP_CERT_INFO (refused too: no CSR follows).
  assert.equal(h.stat(Stat.HOST_CALLS), 2);
  assert.deepEqual(h.hostCalls.map((c) => c.op), [HostOp.LISTEN, HostOp.CERT_INFO]);
});

test("host_call failing later: the listen error is logged with the host's words; the node runs on", async () => {
  const h = await CoreHarness.running({
    config: { kubeletPort: PORT },
    hostCall: (_r, op, _a, _b, result) => {
      if (op !== HostOp.LISTEN) return -ErrorCode.UNSUPPORTED;
      result(ErrorCode.HOST_CALL_FAILED, new TextEncoder().encode("address in use"));
      return 0;
    },
  });
  assert.equal(h.stat(Stat.LISTEN_PORT), 0);
  assert.equal(h.logged("address in use").length, 1);
  assert.equal(h.phase, Phase.RUNNING);
});

test("a snapshot from one instance: a second one renews at once without registering again", async () => {
  const a = await CoreHarness.running({ config: { kubeletPort: PORT } });
  a.run(30_000);
  const renewalsA = a.stat(Stat.RENEWALS);
  const boot = JSON.parse(a.server.seen("POST", "/api/v1/nodes")[0].body).status.nodeInfo.bootID;
  const snap = a.takeSnapshot();
  assert.equal(a.phase, Phase.HANDED_OFF);
  const requestsAfterTake = a.server.requests.length;
  a.run(60_000);
  assert.equal(a.server.requests.length, requestsAfterTake, "the old instance sends nothing more");
  assert.equal(Number(a.exports.next_deadline()), -1);

  const doc = JSON.parse(Buffer.from(snap).toString("utf8"));
  assert.equal(doc.picokubeletSnapshot, 1);
  assert.equal(doc.node.bootId, boot);

  const b = await CoreHarness.create({ config: { kubeletPort: PORT }, snapshot: snap, seed: 99n });
  // The same cluster, and its wall clock goes on from where the first instance left it.
  b.server.nodes = a.server.nodes;
  b.server.leases = a.server.leases;
  b.server.wallOffsetMs = a.server.wallOffsetMs + a.now;
  assert.equal(b.startResult, 0);
  assert.equal(b.phase, Phase.RUNNING);
  b.run(25_000);
  assert.equal(b.server.count("POST", "/api/v1/nodes"), 0, "no Node POST");
  assert.equal(b.server.count("POST", "/apis/coordination.k8s.io"), 0, "no Lease POST");
  assert.equal(b.server.count("GET", "/version"), 0, "no anchoring");
  assert.ok(b.server.seen("PATCH", /leases\/pico-test$/).length >= 2, "renewing");
  assert.equal(b.stat(Stat.RENEWALS), renewalsA + b.server.seen("PATCH", /leases\/pico-test$/).length);
  assert.equal(b.stat(Stat.REGISTRATIONS), 1);
  assert.equal(b.stat(Stat.RESUMED), 1);
  for (const p of b.server.seen("PATCH", /\/status$/)) assert.ok(!p.body.includes("bootID") || p.body.includes(boot));
  // The renewTime carries on from the first instance's, never backwards.
  const lastA = JSON.parse(a.server.seen("PATCH", /leases/).at(-1)!.body).spec.renewTime;
  const firstB = JSON.parse(b.server.seen("PATCH", /leases/)[0].body).spec.renewTime;
  assert.ok(firstB > lastA, `${firstB} after ${lastA}`);
  assert.equal(b.stat(Stat.LISTEN_PORT), PORT);
});

test("snapshots: refused when garbage, for another node, or taken before running; too large to write", async () => {
  const a = await CoreHarness.running();
  const snap = Buffer.from(a.takeSnapshot()).toString("utf8");
  const cases: [string, RegExp][] = [
    ["{not json", /snapshot refused: not JSON/],
    [snap.replace('"picokubeletSnapshot":1', '"picokubeletSnapshot":7'), /snapshot refused: format 7$/],
    [snap.replace('"name":"pico-test"', '"name":"someone-else"'), /bad or missing node.name \(another node's\)/],
    [snap.replace(/"wallMs":\d+/, '"wallMs":5'), /bad or missing clock.wallMs/],
    [snap.replace('"conditions":[', '"conditions":[7,'), /bad or missing status.conditions/],
    [snap.replace(/"since":\[\d+,/, '"since":['), /bad or missing status.conditions/],
  ];
  for (const [text, why] of cases) {
    const b = await CoreHarness.create({ snapshot: Buffer.from(text), link: false });
    assert.equal(b.startResult, ErrorCode.SNAPSHOT_INVALID, text.slice(0, 60));
    assert.equal(b.phase, Phase.FAILED);
    assert.ok(b.logs.some((l) => why.test(l.text)), `${why}: ${b.logs.map((l) => l.text).join(" | ")}`);
  }
  const fresh = await CoreHarness.create({ link: false });
  assert.equal(fresh.call(() => fresh.exports.snapshot_take(0n)), -ErrorCode.NOT_RUNNING);
  assert.equal(fresh.exports.snapshot_read(0), -1);
  assert.equal(fresh.exports.snapshot_write(1), ErrorCode.ALREADY_STARTED);
  await assert.rejects(CoreHarness.create({ snapshot: new Uint8Array(17 * 1024).fill(0x20) }), /snapshot_write returned 4/);
});

test("a v1 module is refused before linking, naming both versions and the fix", () => {
  const v1 = new WebAssembly.Module(tinyCore({ abiVersion: 1, v1: true }) as Uint8Array<ArrayBuffer>);
  assert.throws(
    () => new CoreInstance(v1, {} as never),
    (e: unknown) => e instanceof ModuleError && /ABI version 1; this host-sim runs version 2: rebuild the core .*npm run build/.test(e.message),
  );
});

test("the header hashes in http/incoming.ts are FNV-1a of the lower-cased names", async () => {
  const { readFileSync } = await import("node:fs");
  const { ROOT } = await import("../support/core-harness.js");
  const text = readFileSync(ROOT + "assembly/http/incoming.ts", "utf8");
  const fnv = (s: string): number => {
    let h = 0x811c9dc5;
    for (const c of s.toLowerCase()) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
    return h;
  };
  const rows = [...text.matchAll(/: u32 = (0x[0-9a-f]+); \/\/ "([^"]+)"/g)];
  assert.equal(rows.length, 8);
  for (const [, hex, name] of rows) assert.equal(Number(hex), fnv(name), name);
});
