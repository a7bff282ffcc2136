/**
 * Brain pulls at the ABI (docs/brain.md): the release module follows a trusted brain pod, pulls its brain
 * from a scripted registry over a PROFILE_PUBLIC lane (pull secret, token auth, a redirect to a blob
 * store), writes the layer into the host's slot, commits, and shows on the pod what came of it; a
 * successor started from the snapshot shows the pod Running; a restored instance after a roll-back shows
 * CrashLoopBackOff; refusals are final for their digest; failures back off. Renewals go on throughout.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { readFileSync } from "node:fs";
import { CoreHarness, HostOp, Phase, RELEASE_WASM, Stat } from "../support/core-harness.js";
import { BrainHost } from "../support/brain-host.js";
import { basic, FakeRegistry } from "../support/fake-registry.js";

const REGISTRY = "127.0.0.1:5000";
const TOKENS = "127.0.0.1:5001";
const STORE = "127.0.0.1:5002";
const WASM = readFileSync(RELEASE_WASM);
const NS = "picokubelet-system";

function brainPod(name: string, image: string, secrets: string[] = []): any {
  return {
    metadata: { name, namespace: NS, ownerReferences: [{ apiVersion: "apps/v1", kind: "DaemonSet", name: "brain", uid: "u-ds", controller: true }] },
    spec: {
      nodeName: "pico-test", runtimeClassName: "picokubelet-brain", containers: [{ name: "brain", image }],
      imagePullSecrets: secrets.map((name) => ({ name })),
    },
  };
}

function dockerSecret(name: string, registry: string, user: string, password: string): any {
  const config = { auths: { [registry]: { auth: Buffer.from(`${user}:${password}`).toString("base64") } } };
  return { kind: "Secret", metadata: { name, namespace: NS }, type: "kubernetes.io/dockerconfigjson", data: { ".dockerconfigjson": Buffer.from(JSON.stringify(config)).toString("base64") } };
}

function waiting(p: any): any {
  return p.status?.containerStatuses?.[0]?.state?.waiting;
}

function reasons(h: CoreHarness, pod: string): string[] {
  return h.server.events.filter((e) => e.involvedObject.name === pod).map((e) => `${e.type}/${e.reason}`);
}

interface Setup {
  h: CoreHarness;
  host: BrainHost;
  registry: FakeRegistry;
  key: crypto.KeyObject;
}

async function setup(opts: { snapshot?: Uint8Array; host?: BrainHost } = {}): Promise<Setup> {
  const { publicKey, privateKey } = crypto.generateKeyPairSync("ed25519");
  const host = opts.host ?? new BrainHost();
  host.keys = [publicKey];
  const registry = new FakeRegistry();
  const h = await (opts.snapshot ? CoreHarness.create : CoreHarness.running)({
    hostCall: host.handler, registries: { [REGISTRY]: registry }, snapshot: opts.snapshot,
    config: { renewIntervalMs: 10_000, leaseDurationSeconds: 40 },
  });
  return { h, host, registry, key: privateKey };
}

test("a tag behind token auth and a pull secret: the layer streams into the slot via the blob store, credentials stay home, renewals go on", async () => {
  const { h, host, registry, key } = await setup();
  const tokens = new FakeRegistry();
  const store = new FakeRegistry();
  h.registries[TOKENS] = tokens;
  h.registries[STORE] = store;
  registry.auth = { kind: "bearer", realm: `https://${TOKENS}/token`, service: "fake-registry" };
  registry.tokens = tokens;
  tokens.auth = { kind: "bearer", realm: "", service: "", user: "alice", password: "s3cret" };
  registry.redirectBlobsTo = `https://${STORE}`;
  const pub = registry.publish("picokubelet/brain", "v2", WASM, { version: "0.2.0", key });
  store.storeBlob(pub.layerDigest, WASM);
  h.server.secrets.set(`${NS}/regcred`, dockerSecret("regcred", REGISTRY, "alice", "s3cret"));
  const renewalsBefore = h.stat(Stat.RENEWALS);
  const p = h.server.addPod(brainPod("brain-a", `${REGISTRY}/picokubelet/brain:v2`, ["missing", "regcred"]));
  h.runUntil(() => host.accepted.length === 1, 20_000);
  // What the host was handed: exactly the published layer, and a commit naming the pod and the manifest.
  assert.ok(host.written.equals(WASM), "the slot holds the layer byte for byte");
  const c = host.accepted[0];
  assert.equal(c.pod, p.metadata.uid);
  assert.equal(c.image, `${REGISTRY}/picokubelet/brain:v2`);
  assert.equal(c.digest, pub.digest);
  assert.equal(c.layer, pub.layerDigest);
  assert.equal(c.size, WASM.length);
  assert.equal(c.version, "0.2.0");
  assert.equal(c.abi, 2);
  // The secret that did not exist was reported and the next one used.
  assert.equal(h.server.count("GET", `/api/v1/namespaces/${NS}/secrets/missing`), 1);
  assert.equal(h.server.count("GET", `/api/v1/namespaces/${NS}/secrets/regcred`), 1);
  // Token flow: anonymous 401, a token with the pull secret's credentials, the manifest with the token.
  const manifests = registry.seen(/\/manifests\//);
  assert.equal(manifests.length, 2);
  assert.equal(manifests[0].headers["authorization"], undefined);
  assert.match(manifests[1].headers["authorization"], /^Bearer /);
  assert.equal(manifests[1].headers["accept"], "application/vnd.oci.image.manifest.v1+json");
  const tok = tokens.seen(/^\/token/);
  assert.equal(tok.length, 1);
  assert.equal(tok[0].headers["authorization"], basic("alice", "s3cret"));
  assert.match(tok[0].path, /service=fake-registry&scope=repository%3Apicokubelet%2Fbrain%3Apull/);
  // The blob: asked of the registry with the token, fetched from the store without it.
  assert.match(registry.seen(/\/blobs\//)[0].headers["authorization"], /^Bearer /);
  const fetched = store.seen(/^\/store\//);
  assert.equal(fetched.length, 1);
  assert.equal(fetched[0].headers["authorization"], undefined, "credentials never follow a redirect to another host");
  // Registry connections are PROFILE_PUBLIC, by the registry's own names.
  assert.deepEqual([...new Set(h.publicConnects.map((c) => `${c.host}:${c.port}`))].sort(), [REGISTRY, TOKENS, STORE].sort());
  // The pod says what happened, in the kubelet's words.
  h.runUntil(() => /swapping to brain 0\.2\.0/.test(waiting(p)?.message ?? ""), 5_000);
  assert.equal(waiting(p).reason, "ContainerCreating");
  assert.equal(p.status.phase, "Pending");
  h.run(2_000);
  assert.deepEqual(reasons(h, "brain-a"), ["Warning/FailedToRetrieveImagePullSecret", "Normal/Pulling", "Normal/Pulled"]);
  assert.match(h.server.events.find((e) => e.reason === "Pulled").message, new RegExp(`Successfully pulled image "${REGISTRY}/picokubelet/brain:v2" in .*Image size: ${WASM.length} bytes`));
  h.run(25_000);
  assert.ok(h.stat(Stat.RENEWALS) >= renewalsBefore + 2, "renewals go on (the old brain runs until the host swaps)");
  assert.equal(h.phase, Phase.RUNNING);
  // The snapshot hands the committed brain to the successor.
  const doc = JSON.parse(Buffer.from(h.takeSnapshot()).toString("utf8"));
  assert.deepEqual(doc.brain, { pod: p.metadata.uid, image: `${REGISTRY}/picokubelet/brain:v2`, digest: pub.digest, version: "0.2.0", restarts: 0 });
});

test("the successor that is the committed brain shows the pod Running with imageID and its own version; a roll-back shows CrashLoopBackOff", async () => {
  const a = await setup();
  const pub = a.registry.publish("picokubelet/brain", "v2", WASM, { version: "0.2.0", key: a.key });
  const p = a.h.server.addPod(brainPod("brain-b", `${REGISTRY}/picokubelet/brain@${pub.digest}`));
  a.h.runUntil(() => a.host.accepted.length === 1, 20_000);
  const snap = JSON.parse(Buffer.from(a.h.takeSnapshot()).toString("utf8"));
  // As if the previous brain were another version: the successor's own version replaces it.
  const oldVersion = snap.node.kubeletVersion.replace(/-picokubelet\..*$/, "-picokubelet.0.0.9");
  snap.node.kubeletVersion = oldVersion;
  const snapshot = Buffer.from(JSON.stringify(snap));

  for (const outcome of ["swapped", "rolled back"] as const) {
    const host = new BrainHost();
    if (outcome === "swapped") host.running = pub.digest;
    else {
      host.failed = pub.digest;
      host.reason = "BrainCrashed";
      host.message = "the new brain trapped in start: unreachable";
    }
    const b = await setup({ snapshot, host });
    b.h.server.nodes = a.h.server.nodes;
    b.h.server.leases = a.h.server.leases;
    b.h.server.pods = a.h.server.pods;
    b.h.server.wallOffsetMs = a.h.server.wallOffsetMs + a.h.now;
    assert.equal(b.h.startResult, 0);
    const pod = b.h.server.pods.get(`${NS}/brain-b`);
    if (outcome === "swapped") {
      b.h.runUntil(() => pod.status.phase === "Running", 20_000);
      const cs = pod.status.containerStatuses[0];
      assert.ok(cs.state.running, JSON.stringify(cs.state));
      assert.equal(cs.ready, true);
      assert.equal(cs.imageID, `${REGISTRY}/picokubelet/brain@${pub.digest}`);
      assert.equal(cs.containerID, `brain://${pub.digest.slice(7, 23)}`);
      assert.equal(cs.restartCount, 0);
      b.h.run(2_000);
      assert.deepEqual(reasons(b.h, "brain-b"), ["Normal/Created", "Normal/Started"]);
      // nodeInfo is pushed with this module's version at once.
      const info = b.h.server.seen("PATCH", "/api/v1/nodes/pico-test/status").map((r) => JSON.parse(r.body).status.nodeInfo).find((i) => i);
      assert.ok(info, "a status push carries nodeInfo");
      assert.notEqual(info.kubeletVersion, oldVersion);
      assert.match(info.kubeletVersion, /^v1\.36\.3-picokubelet\.\d+\.\d+\.\d+$/);
      assert.equal(b.registry.requests.length, 0, "nothing pulled: this instance is that brain");
    } else {
      b.h.runUntil(() => waiting(pod)?.reason === "CrashLoopBackOff", 20_000);
      assert.equal(waiting(pod).message, `brain ${pub.digest} rolled back: BrainCrashed: the new brain trapped in start: unreachable`);
      assert.equal(pod.status.containerStatuses[0].restartCount, 1);
      b.h.run(60_000);
      assert.deepEqual(reasons(b.h, "brain-b"), ["Warning/BackOff"]);
      assert.equal(b.registry.requests.length, 0, "a rolled-back digest is not pulled again");
      assert.equal(b.host.accepted.length, 0);
    }
    assert.equal(b.h.server.count("POST", "/api/v1/nodes"), 0, "no re-registration");
    assert.equal(b.h.phase, Phase.RUNNING);
    assert.equal(b.h.stat(Stat.RESUMED), 1);
  }
  void p;
});

test("refusals are shown with the host's reason and never pulled again: unsigned (before the layer), tampered, a stranger's key", async () => {
  const { h, host, registry, key } = await setup();
  const stranger = crypto.generateKeyPairSync("ed25519").privateKey;
  const cases = [
    { tag: "unsigned", opts: { version: "0.3.0" }, reason: "BrainUnsigned", blobs: 0 },
    { tag: "tampered", opts: { version: "0.4.0", key, tamper: true }, reason: "BrainDigestMismatch", blobs: 1 },
    { tag: "stranger", opts: { version: "0.5.0", key: stranger }, reason: "BrainBadSignature", blobs: 1 },
  ];
  for (const c of cases) {
    const wasm = Buffer.concat([WASM, Buffer.from(c.tag)]); // a distinct layer per case
    const pub = registry.publish("picokubelet/brain", c.tag, wasm, c.opts);
    const name = `brain-${c.tag}`;
    const blobsBefore = registry.seen(/\/blobs\//).length;
    const p = h.server.addPod(brainPod(name, `${REGISTRY}/picokubelet/brain@${pub.digest}`));
    h.runUntil(() => waiting(p)?.reason === c.reason, 20_000);
    assert.equal(registry.seen(/\/blobs\//).length - blobsBefore, c.blobs, `${c.tag}: layer requests`);
    assert.equal(p.status.phase, "Pending");
    const manifests = registry.seen(/\/manifests\//).length;
    h.run(15 * 60_000);
    assert.equal(registry.seen(/\/manifests\//).length, manifests, `${c.tag}: not asked again`);
    assert.ok(reasons(h, name).includes(`Warning/${c.reason}`), `${c.tag}: ${reasons(h, name)}`);
    h.server.deletePod(NS, name, 0);
    h.runUntil(() => !h.server.pods.has(`${NS}/${name}`), 5_000);
  }
  assert.equal(host.accepted.length, 0);
  assert.deepEqual(host.refusedWords.map((w) => w.split(":")[0]), ["BrainDigestMismatch", "BrainBadSignature"]);
  assert.equal(h.phase, Phase.RUNNING);
});

test("failures back off: ErrImagePull, then ImagePullBackOff; a bad reference is InvalidImageName; a host without brain operations says so", async () => {
  const { h, registry, key } = await setup();
  registry.faults.push({ match: (r) => /manifests/.test(r.path), action: { kind: "status", status: 503, body: "busy" }, times: 3 });
  registry.publish("picokubelet/brain", "v2", WASM, { version: "0.2.0", key });
  const p = h.server.addPod(brainPod("brain-c", `${REGISTRY}/picokubelet/brain:v2`));
  h.runUntil(() => waiting(p)?.reason === "ErrImagePull", 10_000);
  assert.match(waiting(p).message, /HTTP 503/);
  const at = h.now;
  h.runUntil(() => waiting(p)?.reason === "ImagePullBackOff", 60_000);
  assert.ok(h.now - at >= 5_000, "the second attempt waited");
  assert.match(waiting(p).message, /^Back-off pulling image "127\.0\.0\.1:5000\/picokubelet\/brain:v2": /);
  h.runUntil(() => waiting(p)?.reason === "ContainerCreating" && /swapping/.test(waiting(p).message ?? ""), 120_000);
  // Repeats of one event are counted on it (PATCH count), as the kubelet's correlator does.
  const log = h.server.eventLog.map((e) => e.reason);
  assert.equal(log.filter((r) => r === "Failed").length, 3);
  assert.equal(log.filter((r) => r === "Pulling").length, 4);
  assert.equal(log.filter((r) => r === "BackOff").length, 2);
  assert.equal(log.at(-1), "Pulled");
  // A second 8 s gap at most between renewals throughout (renewIntervalSeconds 10).
  const renews = h.server.seen("PATCH", /leases\/pico-test$/).map((r) => r.at);
  for (let i = 1; i < renews.length; i++) assert.ok(renews[i] - renews[i - 1] <= 12_000, `renewal gap ${renews[i] - renews[i - 1]} ms`);

  const bad = await setup();
  const q = bad.h.server.addPod(brainPod("brain-d", `${REGISTRY}/Picokubelet/Brain:v2`));
  bad.h.runUntil(() => waiting(q)?.reason === "InvalidImageName", 10_000);
  assert.match(waiting(q).message, /couldn't parse image name/);
  assert.equal(bad.h.publicConnects.length, 0);

  const none = await CoreHarness.running({});
  const r = none.server.addPod(brainPod("brain-e", `${REGISTRY}/picokubelet/brain:v2`));
  none.runUntil(() => waiting(r)?.reason === "BrainSwapUnsupported", 10_000);
  assert.equal(none.hostCalls.filter((c) => c.op === HostOp.BRAIN_STATUS).length, 1);
  assert.equal(none.publicConnects.length, 0);
});

test("theater pods are carried on by the successor: no restart counted, no new Started event, the same start times", async () => {
  const a = await CoreHarness.running({ config: { capacity: { cpu: "240m", memory: "320Ki", pods: "3" } } });
  const p = a.server.addPod({ metadata: { name: "web" }, spec: { nodeName: "pico-test", containers: [{ name: "c", image: "nginx" }] } });
  a.runUntil(() => p.status?.phase === "Running" && p.status.containerStatuses?.[0]?.ready, 20_000);
  a.run(5_000);
  const before = structuredClone(p.status);
  const startedEvents = a.server.events.filter((e) => e.reason === "Started").length;
  const snap = a.takeSnapshot();
  assert.ok(JSON.parse(Buffer.from(snap).toString("utf8")).pods.some((r: any) => r.u === p.metadata.uid), "the pod is in the snapshot");
  const b = await CoreHarness.create({ config: { capacity: { cpu: "240m", memory: "320Ki", pods: "3" } }, snapshot: snap, seed: 7n });
  b.server.nodes = a.server.nodes;
  b.server.leases = a.server.leases;
  b.server.pods = a.server.pods;
  b.server.wallOffsetMs = a.server.wallOffsetMs + a.now;
  assert.equal(b.startResult, 0);
  b.runUntil(() => b.logs.some((l) => /pod default\/web carried on from the previous brain/.test(l.text)), 20_000);
  b.run(20_000);
  const cs = p.status.containerStatuses[0];
  assert.equal(cs.restartCount, 0);
  assert.equal(cs.state.running.startedAt, before.containerStatuses[0].state.running.startedAt);
  assert.equal(p.status.startTime, before.startTime);
  assert.equal(b.server.events.filter((e) => e.reason === "Started").length, 0, "no Started event from the successor");
  assert.equal(startedEvents, 1);
});
