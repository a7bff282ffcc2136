/**
 * Bytes a broken or hostile API server can send, through the ABI: bodies whose shape used to cost memory
 * (dense JSON was parsed into a tree on every path, error paths included) and identifiers of absurd size.
 * Responses are read with the streaming scanner, so memory is bounded by what is kept.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { CoreHarness, Phase, Stat } from "../support/core-harness.js";

/** 10,922 empty objects in one array: 32 KiB of the densest JSON there is. */
const DENSE = "[" + Array(10_922).fill("{}").join(",") + "]";

/** Peak linear memory of a core whose first five registrations are answered 500 with `body`. */
async function peakWithErrorBody(body: string): Promise<number> {
  const h = await CoreHarness.create();
  h.server.fault({ match: (r) => r.method === "POST" && r.path === "/api/v1/nodes", action: { kind: "status", status: 500, body }, times: 5 });
  h.runUntil(() => h.phase === Phase.RUNNING, 120_000);
  assert.equal(h.server.seen("POST", "/api/v1/nodes").length, 6, "five refusals, then the registration that landed");
  return h.peakMemory;
}

test("a dense JSON error body on registration costs what any body of its size costs, and the node recovers", async () => {
  const dense = await peakWithErrorBody(DENSE);
  // The same number of bytes as one flat string: only the size of the kept prefix may cost memory.
  const flat = await peakWithErrorBody(JSON.stringify({ message: "x".repeat(DENSE.length - 14) }));
  assert.ok(dense <= flat, `dense ${dense} B, flat ${flat} B`);
  assert.ok(dense <= 256 * 1024, `peak linear memory ${dense} B within the 256 KiB budget`);
});

test("a dense JSON Node on adoption costs no more than a flat one; the node still ends up registered and leased", async () => {
  const h = await CoreHarness.create();
  h.server.fault({ match: (r) => r.method === "POST" && r.path === "/api/v1/nodes", action: { kind: "status", status: 409, body: "{}" }, times: 1 });
  h.server.fault({
    match: (r) => r.method === "GET" && r.path === "/api/v1/nodes/pico-test",
    action: { kind: "status", status: 200, body: `{"metadata":{"uid":"uid-dense","x":${DENSE}}}` },
    times: 1,
  });
  h.runUntil(() => h.phase === Phase.RUNNING, 60_000);
  assert.ok(h.peakMemory <= 256 * 1024, `peak linear memory ${h.peakMemory} B`);
  // The cut body could not be compared, so everything was reconciled; the fake server had no such Node,
  // so the core registered it afresh and owns the Lease by the real uid.
  const node = h.server.nodes.get("pico-test");
  assert.equal(h.server.leases.get("pico-test").metadata.ownerReferences[0].uid, node.metadata.uid);
});

test("a uid of 16,200 bytes is refused up front: no request body overflows, the node registers properly", async () => {
  const h = await CoreHarness.create();
  const huge = "u".repeat(16_200);
  h.server.fault({
    match: (r) => r.method === "POST" && r.path === "/api/v1/nodes",
    action: { kind: "status", status: 201, body: `{"metadata":{"name":"pico-test","uid":"${huge}"}}` },
    times: 1,
  });
  h.runUntil(() => h.phase === Phase.RUNNING, 60_000);
  h.run(30_000);
  for (const r of h.server.requests) {
    if (r.body.length > 0) assert.doesNotThrow(() => JSON.parse(r.body), `${r.method} ${r.path} sent valid JSON`);
    assert.ok(!r.body.includes(huge), `${r.method} ${r.path} does not carry the absurd uid`);
  }
  const node = h.server.nodes.get("pico-test");
  const lease = h.server.leases.get("pico-test");
  assert.equal(lease.metadata.ownerReferences[0].uid, node.metadata.uid);
  assert.ok(h.stat(2 /* RENEWALS */) >= 2, "renewing");
});

test("a now outside the contract (negative, 2^62 and back) is logged once and the core keeps its deadlines sane", async () => {
  const h = await CoreHarness.running();
  const before = h.stat(Stat.RENEWALS);
  const t = BigInt(h.now);
  for (const bad of [-5n, 1n << 62n, t, -(1n << 62n), t - 1000n]) {
    h.exports.on_timer(bad);
    h.exports.__collect();
    const d = h.exports.next_deadline();
    assert.ok(d >= 0n, `next_deadline ${d} after now=${bad}: the running core always has a deadline`);
    // In the host's own frame: near its (absurd) now while it claims 2^62, near the real time once it is back.
    if (bad <= t) assert.ok(d <= t + 60_000n, `next_deadline ${d} after now=${bad} is not stuck far in the future`);
  }
  h.run(60_000);
  assert.ok(h.stat(Stat.RENEWALS) >= before + 5, `renewals went on: ${before} -> ${h.stat(Stat.RENEWALS)}`);
  assert.equal(h.logged("the host's now went backwards or jumped").length, 1, "logged once");
});

test("shutdown(CLEANUP) with a renewal and a status push in flight: they cannot re-arm anything, STOPPED is final", async () => {
  const h = await CoreHarness.running();
  // Slow answers, so the next request is still on the wire when shutdown comes.
  h.latencyMs = 2_000;
  const sent = h.server.requests.length;
  h.runUntil(() => h.server.requests.length > sent, 15_000);
  h.shutdown(1);
  const atShutdown = h.server.requests.length;
  h.runUntil(() => h.phase === Phase.STOPPED, 30_000);
  h.run(120_000);
  const after = h.server.requests.slice(atShutdown).map((r) => `${r.method} ${r.path}`);
  assert.deepEqual(after, [
    "DELETE /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/pico-test",
    "DELETE /api/v1/nodes/pico-test",
  ], "only the cleanup's deletes after shutdown: no annotation, no renewal, no re-registration");
  assert.equal(h.phase, Phase.STOPPED);
  assert.equal(h.server.nodes.size, 0);
  assert.equal(h.server.leases.size, 0);
  assert.equal(Number(h.exports.next_deadline()), -1);
});

test("one far-future Date header (year 9999, or 2106) does not corrupt later renewTimes: they stay on the server's clock", async () => {
  for (const date of ["Fri, 31 Dec 9999 23:59:59 GMT", "Sun, 07 Feb 2106 06:28:15 GMT"]) {
    const h = await CoreHarness.running({ randomSplits: false });
    h.run(12_000);
    const before = h.server.seen("PATCH", /leases\/pico-test$/).length;
    // The answer to the next renewal carries the absurd Date; every later one is normal again.
    let done = false;
    h.mutate = (data) => {
      const t = Buffer.from(data).toString("latin1");
      if (done || !t.startsWith("HTTP/1.1 200") || !t.includes('"kind":"Lease"')) return data;
      done = true;
      return Buffer.from(t.replace(/\r\nDate: [^\r]*/, `\r\nDate: ${date}`), "latin1");
    };
    h.run(60_000);
    assert.ok(done, "one renewal was answered with the absurd Date");
    const later = h.server.seen("PATCH", /leases\/pico-test$/).slice(before + 1);
    assert.ok(later.length >= 4, `renewals went on: ${later.length}`);
    for (const r of later) {
      const t = Date.parse(JSON.parse(r.body).spec.renewTime);
      const server = h.server.wallOffsetMs + r.at;
      assert.ok(Math.abs(t - server) < 5_000, `${date}: renewTime ${JSON.parse(r.body).spec.renewTime} is the server's time (${new Date(server).toISOString()})`);
    }
  }
});
