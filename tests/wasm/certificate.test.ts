/**
 * The serving certificate manager through the real module (assembly/node/certificate.ts): a host with
 * real key slots (host-sim's KeySlots, node:crypto) and the fake API server's CSRs. Issued, renewed at
 * 70–90 % of the lifetime, pending with the approval hint, denied and retried, garbage CSR objects from
 * the server, a stored certificate at start, a hand-off while waiting, a host without crypto. Lease
 * renewals keep their rhythm throughout.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { CoreHarness, ErrorCode, HostOp, Phase, Stat, type HostCallHandler } from "../support/core-harness.js";
import { KeySlots } from "../../host-sim/src/hostcrypto/keys.js";
import { TestSigner } from "../support/csr-signer.js";
import { HOUR, cryptoHost, issue, wall } from "../support/crypto-host.js";

const PORT = 10250;
const CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests";

interface Rig {
  h: CoreHarness;
  slots: KeySlots;
  calls: { op: number; arg: number; text: string }[];
  signer: TestSigner;
}

async function rig(opts: { approve?: boolean; lifeMs?: number; slots?: KeySlots; config?: Record<string, unknown> } = {}): Promise<Rig> {
  const slots = opts.slots ?? new KeySlots();
  const calls: { op: number; arg: number; text: string }[] = [];
  const signer = new TestSigner();
  const h = await CoreHarness.create({ config: { kubeletPort: PORT, ...opts.config }, hostCall: cryptoHost(slots, calls) });
  if (opts.approve ?? true) h.server.onCsr = (csr) => issue(h, signer, csr, opts.lifeMs);
  return { h, slots, calls, signer };
}

/** Largest gap between successful lease renewals, ms. */
function renewalGap(h: CoreHarness): number {
  const at = h.server.seen("PATCH", /leases\/pico-test$/).map((r) => r.at);
  let gap = 0;
  for (let i = 1; i < at.length; i++) gap = Math.max(gap, at[i] - at[i - 1]);
  return gap;
}

function installs(r: Rig): number {
  return r.calls.filter((c) => c.op === HostOp.CERT_INSTALL).length;
}

test("the serving certificate: CERT_INFO, a key, a CSR, approval, install; renewed at 70-90 % of its life", async () => {
  const r = await rig();
  const { h, calls } = r;
  h.runUntil(() => installs(r) === 1, 60_000);
  assert.deepEqual(calls.map((c) => c.op), [HostOp.LISTEN, HostOp.CERT_INFO, HostOp.KEY_GENERATE, HostOp.CSR_CREATE, HostOp.CERT_INSTALL]);
  assert.equal(calls[3].text, "CN=system:node:pico-test\nO=system:nodes\nDNS=pico-test\nIP=10.42.0.7\n");
  const posts = h.server.seen("POST", CSRS);
  assert.equal(posts.length, 1);
  const body = JSON.parse(posts[0].body);
  assert.equal(body.apiVersion, "certificates.k8s.io/v1");
  assert.equal(body.kind, "CertificateSigningRequest");
  assert.equal(body.metadata.generateName, "csr-");
  assert.equal(body.spec.signerName, "kubernetes.io/kubelet-serving");
  assert.deepEqual(body.spec.usages, ["digital signature", "server auth"]);
  const csrPem = Buffer.from(body.spec.request, "base64").toString("utf8");
  assert.match(csrPem, /^-----BEGIN CERTIFICATE REQUEST-----\n/);
  // The certificate the server issued is what the host installed, and the slot now holds it.
  const issued = Buffer.from(h.server.csrs.get("csr-00001").status.certificate, "base64").toString("utf8");
  assert.equal(calls[4].text, issued);
  assert.equal(r.slots.identity(1)?.cert, issued);
  assert.equal(h.logged("serving certificate from CSR csr-00001: valid until").length, 1);

  // Valid from 1 min ago for an hour: renewal between 70 % and 90 % of that, a new key and a second CSR.
  const issuedAt = h.now - 60_000;
  h.runUntil(() => h.server.seen("POST", CSRS).length === 2, 2 * HOUR);
  const renewedAt = h.server.seen("POST", CSRS)[1].at;
  assert.ok(renewedAt >= issuedAt + 0.7 * HOUR - 1000 && renewedAt <= issuedAt + 0.9 * HOUR + 5000, `renewed ${(renewedAt - issuedAt) / HOUR} into its life`);
  h.runUntil(() => installs(r) === 2, 60_000);
  assert.equal(calls.filter((c) => c.op === HostOp.KEY_GENERATE).length, 2);
  // The lease kept its rhythm throughout: never more than a renew period (and its jitter) between renewals.
  assert.ok(renewalGap(h) <= 10_500, `renewal gap ${renewalGap(h)} ms`);
  assert.equal(h.stat(Stat.RENEW_FAILURES), 0);
  assert.equal(h.phase, Phase.RUNNING);
  // Two issued certificates and their CSR objects cost no lasting memory: the day's budget holds.
  assert.ok(h.peakMemory <= 256 * 1024, `peak linear memory ${h.peakMemory} B`);
});

test("a CSR nobody approves: polled with backoff, the approval hint once, installed when approved later", async () => {
  const r = await rig({ approve: false });
  const { h } = r;
  h.run(59_000);
  const name = "csr-00001";
  assert.ok(h.server.csrs.has(name));
  assert.equal(h.logged("kubectl certificate approve").length, 0, "no hint in the first minute");
  h.run(90_000);
  const hint = h.logged(`waits for approval (signer kubernetes.io/kubelet-serving); a cluster administrator approves it with: kubectl certificate approve ${name}`);
  assert.equal(hint.length, 1);
  // Polls back off: far fewer GETs than seconds waited, at most 30 s apart.
  const gets = h.server.seen("GET", `${CSRS}/${name}`).map((g) => g.at);
  assert.ok(gets.length >= 5 && gets.length <= 20, `${gets.length} polls`);
  for (let i = 1; i < gets.length; i++) assert.ok(gets[i] - gets[i - 1] <= 31_000);
  issue(h, r.signer, h.server.csrs.get(name));
  h.runUntil(() => installs(r) === 1, 40_000);
  assert.equal(h.logged("kubectl certificate approve").length, 1, "the hint is not repeated");
  assert.equal(h.server.seen("POST", CSRS).length, 1);
});

test("a denied CSR: one clear warning, no Event, and a new key and CSR after a backoff", async () => {
  const r = await rig({ approve: false });
  const { h } = r;
  let denials = 1;
  h.server.onCsr = (csr) => {
    if (denials-- > 0) csr.status = { conditions: [{ type: "Denied", status: "True", reason: "ForeignSAN", message: "SANs IP:10.42.0.7 are not the node's" }] };
    else issue(h, r.signer, csr);
  };
  h.runUntil(() => h.logged("was denied").length > 0, 30_000);
  const warn = h.logged("serving certificate: CSR csr-00001 was denied (ForeignSAN: SANs IP:10.42.0.7 are not the node's); asking again in");
  assert.equal(warn.length, 1);
  assert.equal(warn[0].level, 1);
  const deniedAt = h.now;
  h.runUntil(() => installs(r) === 1, 5 * 60_000);
  const second = h.server.seen("POST", CSRS)[1];
  assert.ok(second.at - deniedAt >= 15_000, `asked again after ${second.at - deniedAt} ms`);
  assert.equal(r.calls.filter((c) => c.op === HostOp.KEY_GENERATE).length, 2, "a new key for the new CSR");
  assert.ok(!h.server.events.some((e) => /certif|CSR/i.test(e.message + e.reason)), "no Event");
  assert.equal(h.phase, Phase.RUNNING);
});

test("garbage, truncated, huge and hostile CSR objects from the server never trap the core", async () => {
  const r = await rig({ approve: false });
  const { h } = r;
  const real = (): any => h.server.csrs.get("csr-00001");
  const b64 = (s: string): string => Buffer.from(s).toString("base64");
  const answers: (() => [number, string])[] = [
    () => [200, "{not json"],
    () => [200, JSON.stringify(real()).slice(0, 40)],
    () => [200, '{"status":{"certificate":12,"conditions":{"type":"Denied"}}}'],
    () => [200, '{"status":{"certificate":"!!!notbase64!!!"}}'],
    () => [200, `{"status":{"certificate":"${b64("-----BEGIN PRIVATE KEY-----\nx\n")}"}}`],
    () => [200, `{"status":{"certificate":"${b64("not a pem")}"}}`],
    () => [200, `{"status":{"certificate":"${"QUFB".repeat(6000)}"}}`],
    () => [200, `{"metadata":{"name":"${"x".repeat(40_000)}"}}`],
    () => [200, '{"status":{"conditions":[' + '{"type":"Approved"},'.repeat(2000) + '{"type":"Pending"}]}}'],
    () => [200, "[".repeat(5000)],
    () => [200, `{"status":{"conditions":[{"type":"${"D".repeat(3000)}","message":"${"\\u0000".repeat(500)}"}]}}`],
    () => [500, "oops"],
    () => [403, '{"kind":"Status","message":"forbidden"}'],
  ];
  // Random byte mutations of a real, issued CSR object as well.
  let seed = 7;
  const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
  for (let i = 0; i < 40; i++) {
    answers.push(() => {
      const ok = JSON.parse(JSON.stringify(real()));
      ok.status = { conditions: [{ type: "Approved" }], certificate: b64("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n") };
      const bytes = Buffer.from(JSON.stringify(ok));
      for (let k = 0; k < 1 + rand(8); k++) bytes[rand(bytes.length)] = rand(256);
      return [200, bytes.toString("latin1")];
    });
  }
  let n = 0;
  h.server.csrAnswer = (csr) => (csr && n < answers.length ? answers[n++]() : null);
  h.runUntil(() => n >= answers.length, 6 * HOUR, 1000);
  assert.equal(h.phase, Phase.RUNNING, "still running");
  assert.ok(h.peakMemory <= 256 * 1024, `peak linear memory ${h.peakMemory} B`);
  assert.ok(h.stat(Stat.RENEWALS) > 100);
  assert.ok(renewalGap(h) <= 10_500, `renewal gap ${renewalGap(h)} ms`);
  // Then a sane answer: the current CSR is issued and installed.
  h.server.csrAnswer = null;
  h.server.onCsr = (csr) => issue(h, r.signer, csr);
  for (const c of h.server.csrs.values()) if (!c.status?.certificate) issue(h, r.signer, c);
  h.runUntil(() => r.slots.identity(1) !== null, 2 * HOUR, 1000);
  assert.equal(h.phase, Phase.RUNNING);
});

test("a certificate stored by an earlier run is used until its renewal; an expired one is replaced at once", async () => {
  // Issue one for a slot, as an earlier run would have.
  const slots = new KeySlots();
  const signer = new TestSigner();
  slots.generate(1);
  const probe = await CoreHarness.create({ link: false });
  const now = probe.server.wallOffsetMs;
  slots.install(1, signer.sign(slots.csr(1, "CN=system:node:pico-test\nO=system:nodes\nDNS=pico-test"), now - HOUR, now + 23 * HOUR));
  const r = await rig({ slots, approve: true });
  r.h.run(10 * 60_000);
  assert.equal(r.h.server.seen("POST", CSRS).length, 0, "no CSR while the stored one is good");
  assert.equal(r.calls.filter((c) => c.op === HostOp.KEY_GENERATE).length, 0);
  assert.equal(r.h.logged("serving certificate from an earlier run: valid until").length, 1);

  const old = new KeySlots();
  old.generate(1);
  old.install(1, signer.sign(old.csr(1, "CN=x"), now - 48 * HOUR, now - HOUR));
  const e = await rig({ slots: old });
  e.h.runUntil(() => installs(e) === 1, 60_000);
  assert.equal(e.h.server.seen("POST", CSRS).length, 1);
});

test("a hand-off while waiting for approval: the next instance polls the same CSR instead of making another", async () => {
  const slots = new KeySlots();
  const a = await rig({ slots, approve: false });
  a.h.run(20_000);
  assert.equal(a.h.server.csrs.size, 1);
  const snap = a.h.takeSnapshot();
  const doc = JSON.parse(Buffer.from(snap).toString("utf8"));
  assert.deepEqual(doc.certificates, { serving: "csr-00001" });

  const calls: { op: number; arg: number; text: string }[] = [];
  const b = await CoreHarness.create({ config: { kubeletPort: PORT }, snapshot: snap, hostCall: cryptoHost(slots, calls) });
  b.server.nodes = a.h.server.nodes;
  b.server.leases = a.h.server.leases;
  b.server.csrs = a.h.server.csrs;
  b.server.wallOffsetMs = a.h.server.wallOffsetMs + a.h.now;
  assert.equal(b.phase, Phase.RUNNING);
  b.run(5_000);
  assert.ok(b.server.seen("GET", `${CSRS}/csr-00001`).length >= 1);
  issue(b, a.signer, b.server.csrs.get("csr-00001"));
  b.runUntil(() => calls.some((c) => c.op === HostOp.CERT_INSTALL), 60_000);
  assert.equal(b.server.seen("POST", CSRS).length, 0, "no second CSR");
  assert.equal(calls.filter((c) => c.op === HostOp.KEY_GENERATE).length, 0, "the pending key in the host is the one used");
  assert.ok(slots.identity(1) !== null);
  // And a snapshot taken while a certificate is in use carries no CSR.
  assert.deepEqual(JSON.parse(Buffer.from(b.takeSnapshot()).toString("utf8")).certificates, { serving: "" });
});

test("without the kubelet port, or on a host without crypto ops, no CSR is made", async () => {
  const off = await rig({ config: { kubeletPort: 0 } });
  off.h.run(60_000);
  assert.equal(off.h.server.seen("POST", CSRS).length, 0);
  assert.equal(off.calls.length, 0);
  const plain = await CoreHarness.running({ config: { kubeletPort: PORT } });
  plain.run(60_000);
  assert.equal(plain.server.seen("POST", CSRS).length, 0);
  assert.equal(plain.logged("serving certificate: the host has no certificate operations").length, 1);
  assert.equal(plain.phase, Phase.RUNNING);
});

test("a CSR the API server refuses to create (RBAC) is a warning and a slow retry, not a loop", async () => {
  const r = await rig();
  r.h.server.fault({ match: (q) => q.method === "POST" && q.path === CSRS, action: { kind: "status", status: 403 }, times: 3 });
  r.h.run(5 * 60_000);
  const posts = r.h.server.seen("POST", CSRS).length;
  assert.ok(posts >= 2 && posts <= 4, `${posts} POSTs in 5 min`);
  assert.ok(r.h.logged("(the node may not create certificatesigningrequests: RBAC)").length >= 1);
  r.h.runUntil(() => installs(r) === 1, HOUR);
  assert.equal(crypto.createHash("sha256").update(r.slots.identity(1)!.cert).digest("hex").length, 64);
});

test("a new IPv4 address: a new serving certificate for it at once", async () => {
  const r = await rig();
  r.h.runUntil(() => installs(r) === 1, 60_000);
  r.h.run(30_000);
  r.h.linkUp(0x0a2a0009);
  r.h.runUntil(() => installs(r) === 2, 60_000);
  const specs = r.calls.filter((c) => c.op === HostOp.CSR_CREATE).map((c) => c.text);
  assert.deepEqual(specs.map((s) => /IP=(.*)\n/.exec(s)![1]), ["10.42.0.7", "10.42.0.9"]);
  assert.equal(r.h.logged("serving certificate: the node's address changed; requesting one for 10.42.0.9").length, 1);
});
