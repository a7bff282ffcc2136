/**
 * The node's client certificate through the real module (assembly/node/bootstrap.ts): TLS bootstrap with a
 * bootstrap token, a denied bootstrap CSR, rotation of a stored certificate with the connections moved to
 * the new one, an expired certificate with and without a token, and the configuration rules. The host is
 * host-sim's key slots; the fake API server authenticates each request by the certificate its connection
 * presented (chosen when the core opened it, as TLS does) or by the bootstrap token on the CSR requests.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { CoreHarness, HostOp, Led, Phase, Stat, type HostCallHandler } from "../support/core-harness.js";
import { FakeApiServer, type ApiRequest } from "../support/fake-apiserver.js";
import { KeySlots } from "../../host-sim/src/hostcrypto/keys.js";
import { TestSigner } from "../support/csr-signer.js";
import { HOUR, cryptoHost, issue, wall } from "../support/crypto-host.js";

const TOKEN = "abcdef.0123456789abcdef";
const CSRS = "/apis/certificates.k8s.io/v1/certificatesigningrequests";
const CLIENT = 0;

interface Rig {
  h: CoreHarness;
  slots: KeySlots;
  signer: TestSigner;
  calls: { op: number; arg: number; text: string }[];
  /** The client certificate each connection presented ("" for none). */
  presented: Map<number, string>;
  /** Phases seen, in order, without repeats. */
  phases: number[];
}

/** The request's connection presented a certificate this signer issued and that is valid now. */
function byCertificate(r: Rig, req: ApiRequest): boolean {
  const cert = r.presented.get(req.conn) ?? "";
  return cert.length > 0 && r.signer.valid(cert, wall(r.h));
}

interface RigOptions {
  config?: Record<string, unknown>;
  slots?: KeySlots;
  signer?: TestSigner;
  approve?: boolean;
  lifeMs?: number;
  /** Wraps the host's crypto (to hold a result back). */
  wrap?: (inner: HostCallHandler) => HostCallHandler;
}

async function rig(opts: RigOptions = {}): Promise<Rig> {
  const slots = opts.slots ?? new KeySlots();
  const signer = opts.signer ?? new TestSigner();
  const calls: Rig["calls"] = [];
  const host = cryptoHost(slots, calls);
  // The link comes up once the host's hooks are in place, so every connection is seen opening.
  const h = await CoreHarness.create({ config: { token: undefined, bootstrapToken: TOKEN, ...opts.config }, hostCall: opts.wrap ? opts.wrap(host) : host, link: false });
  const r: Rig = { h, slots, signer, calls, presented: new Map(), phases: [h.phase] };
  h.onConnect = (conn) => r.presented.set(conn, slots.identity(CLIENT)?.cert ?? "");
  // The bootstrap token may GET /version and create and read CSRs, nothing else (system:node-bootstrapper).
  h.server.authenticate = (req) =>
    byCertificate(r, req) || (req.headers.authorization === `Bearer ${TOKEN}` && (req.path === "/version" || req.path.startsWith(CSRS)));
  if (opts.approve ?? true) h.server.onCsr = (csr) => issue(h, signer, csr, opts.lifeMs ?? HOUR);
  h.linkUp();
  return r;
}

/** Runs until `pred`, recording the phases passed (seen every `stepMs`). */
function until(r: Rig, pred: () => boolean, maxMs: number, stepMs = 100): void {
  r.h.runUntil(() => {
    if (r.phases[r.phases.length - 1] !== r.h.phase) r.phases.push(r.h.phase);
    return pred();
  }, maxMs, stepMs);
}

function clientOps(r: Rig): number[] {
  return r.calls.filter((c) => c.arg === CLIENT && c.op !== HostOp.LISTEN).map((c) => c.op);
}

/** Largest gap between lease renewals, ms. */
function renewalGap(h: CoreHarness): number {
  const at = h.server.seen("PATCH", /leases\/pico-test$/).map((q) => q.at);
  let gap = 0;
  for (let i = 1; i < at.length; i++) gap = Math.max(gap, at[i] - at[i - 1]);
  return gap;
}

/** A key slot that already holds a certificate from `signer`, valid [from, to] (Unix ms). */
function stored(signer: TestSigner, fromMs: number, toMs: number): KeySlots {
  const slots = new KeySlots();
  slots.generate(CLIENT);
  const csr = slots.csr(CLIENT, "CN=system:node:pico-test\nO=system:nodes\n");
  slots.install(CLIENT, signer.sign(csr, fromMs, toMs));
  return slots;
}

test("TLS bootstrap: only a bootstrap token; a key, a CSR for system:node:<name>, install, then the node talks as itself", async () => {
  const r = await rig();
  const { h } = r;
  until(r, () => h.phase === Phase.RUNNING, 60_000, 1);
  assert.deepEqual(r.phases, [Phase.ANCHORING, Phase.BOOTSTRAPPING, Phase.REGISTERING, Phase.LEASING, Phase.RUNNING]);
  assert.deepEqual(clientOps(r), [HostOp.CERT_INFO, HostOp.KEY_GENERATE, HostOp.CSR_CREATE, HostOp.CERT_INSTALL]);
  const spec = r.calls.find((c) => c.op === HostOp.CSR_CREATE)!.text;
  assert.equal(spec, "CN=system:node:pico-test\nO=system:nodes\n", "no SANs in a client certificate");
  const [post] = h.server.seen("POST", CSRS);
  const body = JSON.parse(post.body);
  assert.equal(body.spec.signerName, "kubernetes.io/kube-apiserver-client-kubelet");
  assert.deepEqual(body.spec.usages, ["digital signature", "client auth"]);
  assert.equal(post.headers.authorization, `Bearer ${TOKEN}`);
  for (const g of h.server.seen("GET", /certificatesigningrequests\//)) assert.equal(g.headers.authorization, `Bearer ${TOKEN}`);

  // The issued certificate is the slot's, and everything after the CSR went out on connections presenting it.
  const issued = Buffer.from(h.server.csrs.get("csr-00001").status.certificate, "base64").toString("utf8");
  assert.equal(r.slots.identity(CLIENT)?.cert, issued);
  const register = h.server.seen("POST", "/api/v1/nodes")[0];
  assert.equal(register.headers.authorization, undefined, "no token once the node has its certificate");
  assert.equal(r.presented.get(register.conn), issued);
  const installAt = h.server.seen("GET", /certificatesigningrequests\//).at(-1)!.at;
  for (const q of h.server.requests.filter((q) => q.at > installAt)) {
    assert.equal(r.presented.get(q.conn), issued, `${q.method} ${q.path} on a connection with the new certificate`);
    assert.equal(q.headers.authorization, undefined);
  }
  // The connection that carried the bootstrap token was closed.
  assert.ok(h.closes.includes(post.conn));
  assert.equal(h.logged("TLS bootstrap done: the node talks as system:node:pico-test").length, 1);
  assert.equal(h.logs.filter((l) => l.text.includes("0123456789abcdef")).length, 0, "the token is never logged");
  h.run(30_000);
  assert.equal(h.led, Led.HEALTHY);
  assert.equal(h.stat(Stat.RENEW_FAILURES), 0);
});

test("a denied bootstrap CSR: a clear error, the Warning LED, no registration; a new CSR after the backoff", async () => {
  const r = await rig({ approve: false });
  const { h } = r;
  let deny = true;
  h.server.onCsr = (csr) => {
    if (deny) csr.status = { conditions: [{ type: "Denied", status: "True", reason: "NotApproved", message: "no bootstrap for you" }] };
    else issue(h, r.signer, csr);
  };
  until(r, () => h.logged("TLS bootstrap failed").length > 0, 60_000);
  const [err] = h.logged("TLS bootstrap failed: CSR csr-00001 was denied (NotApproved: no bootstrap for you)");
  assert.ok(err, "the denial, in the server's words");
  assert.equal(err.level, 0, "an error line");
  assert.match(err.text, /bootstrap-rbac\.yaml/, "says where the approval comes from");
  h.run(5_000);
  assert.equal(h.led, Led.WARNING);
  assert.equal(h.phase, Phase.BOOTSTRAPPING);
  assert.equal(h.server.seen("POST", "/api/v1/nodes").length, 0, "nothing registered without an identity");
  deny = false;
  until(r, () => h.phase === Phase.RUNNING, 40 * 60_000);
  assert.equal(h.server.seen("POST", CSRS).length, 2);
  h.run(20_000);
  assert.equal(h.led, Led.HEALTHY, "the warning ends with the certificate");
});

test("a stored certificate is used as it is, and rotated at 70-90 % of its life with the connections moved to the new one", async () => {
  const signer = new TestSigner();
  const startWall = new FakeApiServer().wallOffsetMs;
  const slots = stored(signer, startWall - 60_000, startWall - 60_000 + HOUR);
  const old = slots.identity(CLIENT)!.cert;
  const r = await rig({ slots, signer, config: { bootstrapToken: undefined } });
  const { h } = r;
  until(r, () => h.phase === Phase.RUNNING, 60_000);
  assert.deepEqual(clientOps(r), [HostOp.CERT_INFO], "no CSR while the certificate is good");
  assert.equal(h.server.seen("POST", CSRS).length, 0);
  assert.ok(h.server.requests.every((q) => q.headers.authorization === undefined));
  h.run(60_000);
  const watchesBefore = h.server.seen("GET", /\/api\/v1\/pods\?.*watch=1/).length;
  assert.ok(watchesBefore >= 1, "the pod watch runs");

  until(r, () => h.server.seen("POST", CSRS).length === 1, 2 * HOUR);
  const post = h.server.seen("POST", CSRS)[0];
  const life = (post.at + startWall - (startWall - 60_000)) / HOUR;
  assert.ok(life >= 0.7 - 0.01 && life <= 0.9 + 0.01, `rotated ${life.toFixed(3)} into its life`);
  assert.equal(post.headers.authorization, undefined, "the rotation CSR is made as the node itself");
  assert.equal(r.presented.get(post.conn), old);
  until(r, () => clientOps(r).filter((o) => o === HostOp.CERT_INSTALL).length === 1, 60_000);
  const fresh = r.slots.identity(CLIENT)!.cert;
  assert.notEqual(fresh, old);
  const movedAt = h.server.seen("GET", /certificatesigningrequests\//).at(-1)!.at;
  h.run(60_000);
  // Every connection opened before the install is closed; the watches were made again, on new connections.
  const before = [...r.presented].filter(([, c]) => c === old).map(([conn]) => conn);
  for (const conn of before) assert.ok(h.closes.includes(conn), `connection ${conn} with the old certificate closed`);
  const later = h.server.requests.filter((q) => q.at > movedAt);
  assert.ok(later.length > 0);
  for (const q of later) assert.equal(r.presented.get(q.conn), fresh, `${q.method} ${q.path} with the new certificate`);
  for (const what of ["pods", "nodes"]) {
    const again = h.server.seen("GET", new RegExp(`/api/v1/${what}\\?.*watch=1`)).find((q) => q.at > movedAt);
    assert.ok(again && again.at - movedAt < 1_000, `the ${what} watch was made again at once`);
    assert.match(again.path, /resourceVersion=/, "from where it was");
  }
  assert.equal(h.logged("condition change: Vibes").length, 0, "moving connections is not a flaky network");
  assert.equal(h.logged("watch failed").length, 0, "ending a watch to move it is not a failure");
  assert.ok(renewalGap(h) <= 10_500, `renewal gap ${renewalGap(h)} ms`);
  assert.equal(h.stat(Stat.RENEW_FAILURES), 0);
  assert.equal(h.phase, Phase.RUNNING);
});

test("a new certificate while a renewal is in flight: the renewal completes on its connection, which closes after it", async () => {
  const signer = new TestSigner();
  const startWall = new FakeApiServer().wallOffsetMs;
  const slots = stored(signer, startWall - 60_000, startWall - 60_000 + HOUR);
  let hold = false;
  let held: (() => void) | null = null;
  const r = await rig({
    slots, signer, config: { bootstrapToken: undefined },
    // The install's answer is held until the next renewal is on the wire, so it lands while the lane is busy.
    wrap: (inner) => (req, op, arg, bytes, result) =>
      inner(req, op, arg, bytes, (status, data) => {
        if (op === HostOp.CERT_INSTALL && arg === CLIENT && hold) held = () => result(status, data);
        else result(status, data);
      }),
  });
  const { h } = r;
  hold = true;
  let inFlight: ApiRequest | null = null;
  const auth = h.server.authenticate!;
  h.server.authenticate = (req) => {
    if (held && /leases\/pico-test$/.test(req.path) && req.method === "PATCH") {
      inFlight = req;
      const release = held;
      held = null;
      release();
    }
    return auth(req);
  };
  until(r, () => inFlight !== null, 2 * HOUR);
  const renewal = inFlight! as ApiRequest;
  const failures = h.stat(Stat.RENEW_FAILURES);
  h.run(30_000);
  assert.equal(h.stat(Stat.RENEW_FAILURES), failures, "the renewal in flight was not cut off");
  assert.ok(h.closes.includes(renewal.conn), "its connection closed after the exchange");
  const next = h.server.seen("PATCH", /leases\/pico-test$/).find((q) => q.at > renewal.at)!;
  assert.notEqual(next.conn, renewal.conn);
  assert.equal(r.presented.get(next.conn), r.slots.identity(CLIENT)!.cert);
  assert.ok(renewalGap(h) <= 10_500, `renewal gap ${renewalGap(h)} ms`);
});

test("an expired certificate with a bootstrap token: bootstrap again", async () => {
  const signer = new TestSigner();
  const now = new FakeApiServer().wallOffsetMs;
  const r = await rig({ slots: stored(signer, now - 3 * HOUR, now - HOUR), signer });
  const { h } = r;
  until(r, () => h.phase === Phase.RUNNING, 60_000);
  assert.equal(h.logged("client certificate expired at").length, 1);
  assert.equal(h.server.seen("POST", CSRS)[0].headers.authorization, `Bearer ${TOKEN}`);
  assert.deepEqual(clientOps(r), [HostOp.CERT_INFO, HostOp.KEY_GENERATE, HostOp.CSR_CREATE, HostOp.CERT_INSTALL]);
});

test("an expired certificate without a bootstrap token: an error that says what to do, and the Warning LED", async () => {
  const signer = new TestSigner();
  const now = new FakeApiServer().wallOffsetMs;
  const r = await rig({ slots: stored(signer, now - 3 * HOUR, now - HOUR), signer, config: { bootstrapToken: undefined } });
  const { h } = r;
  until(r, () => h.logged("client certificate expired").length > 0, 60_000);
  const [line] = h.logged("client certificate expired at");
  assert.equal(line.level, 0);
  assert.match(line.text, /no bootstrap token is configured: give the node a bootstrap token/);
  h.run(20_000);
  assert.equal(h.led, Led.WARNING);
  assert.equal(h.server.seen("POST", CSRS).length, 0);
  // The API server refuses the expired certificate: the node does not get in, and keeps saying why.
  assert.equal(h.server.nodes.size, 0);
});

test("a host without a client certificate and no bootstrap token: the host's own credentials, nothing rotated", async () => {
  const r = await rig({ config: { bootstrapToken: undefined } });
  const { h } = r;
  h.server.authenticate = null;
  until(r, () => h.phase === Phase.RUNNING, 60_000);
  assert.deepEqual(clientOps(r), [HostOp.CERT_INFO]);
  h.run(2 * HOUR);
  assert.equal(h.server.seen("POST", CSRS).length, 0);
});

test("configuration: bootstrapToken must look like one and excludes token", async () => {
  const bad = await CoreHarness.create({ config: { token: undefined, bootstrapToken: "ABCDEF.secret" } });
  assert.equal(bad.phase, Phase.FAILED);
  assert.ok(bad.logged("'bootstrapToken' must be a bootstrap token").length === 1);
  assert.equal(bad.logs.filter((l) => l.text.includes("secret")).length, 0, "the value is not echoed");
  const both = await CoreHarness.create({ config: { token: "t0ken", bootstrapToken: TOKEN } });
  assert.equal(both.phase, Phase.FAILED);
  assert.equal(both.logged("'token' and 'bootstrapToken' exclude each other").length, 1);
});
