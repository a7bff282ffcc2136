/**
 * The project's fuzzer: drives the release module through its ABI against the scripted API server and
 * mutates the server's responses in bursts — bit flips, replaced and inserted bytes, cut responses, dense
 * JSON bodies, absurd Content-Length and Date values, status codes turned into others — split at random
 * points. After every burst the responses are clean again and the node must be back to renewing.
 * Registry responses are mutated too: brain pods come and go, pulled from a registry with token auth
 * and a blob store (tests/support/fake-registry.ts) into a host slot (tests/support/brain-host.ts).
 *
 * Checks, per burst: no trap (an abort or any exception out of an export), no hang (a deadline that never
 * makes progress, or no renewal within the recovery window), linear memory at most the budget.
 *
 *   node build/ts/tests/fuzz/fuzz.js [--seed N] [--bursts N] [--seeds N]
 *
 * `npm test` runs a bounded set of fixed seeds (tests/wasm/fuzz.test.ts); a long run is `--bursts 100000`.
 */
import crypto from "node:crypto";
import { readFileSync } from "node:fs";
import { CoreHarness, Phase, RELEASE_WASM, Stat } from "../support/core-harness.js";
import { BrainHost } from "../support/brain-host.js";
import { FakeRegistry } from "../support/fake-registry.js";

/** Linear memory budget, the firmware's cap for the core's heap. */
export const MEMORY_BUDGET = 256 * 1024;

export interface FuzzReport {
  seed: number;
  bursts: number;
  mutated: number;
  findings: string[];
  peakMemory: number;
  /** Requests the registries answered (their responses are mutated like the API server's). */
  registryRequests: number;
  /** GETs of the brain pods' pull secrets (their answers are mutated too). */
  secretReads: number;
  /** Brains the host accepted, and refused. */
  commits: number;
  refusals: number;
}

class Rng {
  constructor(private s: number) {
    if (this.s === 0) this.s = 0x2545f491;
  }
  next(): number {
    this.s ^= this.s << 13;
    this.s ^= this.s >>> 17;
    this.s ^= this.s << 5;
    return (this.s >>> 0) / 0x1_0000_0000;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
}

const enc = new TextEncoder();
const DENSE = enc.encode("[" + Array(4000).fill("{}").join(",") + "]");

/** One mutation of one server write. */
function mutate(rng: Rng, data: Uint8Array): Uint8Array | null {
  const b = Uint8Array.from(data);
  switch (rng.int(10)) {
    case 0: { // flip bits
      for (let k = 1 + rng.int(4); k > 0; k--) b[rng.int(b.length)] ^= 1 << rng.int(8);
      return b;
    }
    case 1: { // replace bytes
      for (let k = 1 + rng.int(8); k > 0; k--) b[rng.int(b.length)] = rng.int(256);
      return b;
    }
    case 2: // cut short
      return b.subarray(0, rng.int(b.length + 1));
    case 3: { // insert garbage
      const at = rng.int(b.length + 1);
      const junk = Uint8Array.from({ length: 1 + rng.int(64) }, () => rng.int(256));
      return concat(b.subarray(0, at), junk, b.subarray(at));
    }
    case 4: { // a dense JSON body after the head
      const head = headEnd(b);
      if (head < 0) return b;
      return concat(enc.encode("HTTP/1.1 200 OK\r\nContent-Length: " + DENSE.length + "\r\n\r\n"), DENSE);
    }
    case 5: // another status code
      return rewriteStatus(b, [200, 201, 204, 301, 400, 401, 403, 404, 409, 410, 422, 429, 500, 503, 999][rng.int(15)]);
    case 6: // an absurd Date
      return replaceHeader(b, "date", ["Fri, 31 Dec 9999 23:59:59 GMT", "Thu, 01 Jan 1970 00:00:00 GMT", "Sun, 07 Feb 2106 06:28:15 GMT", "garbage"][rng.int(4)]);
    case 7: // an absurd Content-Length
      return replaceHeader(b, "content-length", ["99999999999", "-1", "1", "0", "18446744073709551616"][rng.int(5)]);
    case 8: // duplicate the write
      return concat(b, b);
    default: // drop it
      return rng.int(4) === 0 ? null : b;
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function headEnd(b: Uint8Array): number {
  for (let i = 0; i + 3 < b.length; i++) if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i;
  return -1;
}

function rewriteStatus(b: Uint8Array, status: number): Uint8Array {
  const t = Buffer.from(b).toString("latin1");
  if (!t.startsWith("HTTP/1.1 ")) return b;
  return Buffer.from("HTTP/1.1 " + status + t.slice(12), "latin1");
}

function replaceHeader(b: Uint8Array, name: string, value: string): Uint8Array {
  const t = Buffer.from(b).toString("latin1");
  const re = new RegExp(`\\r\\n${name}:[^\\r]*`, "i");
  return re.test(t) ? Buffer.from(t.replace(re, `\r\n${name}: ${value}`), "latin1") : b;
}

/** What a fuzzed brain pod names as imagePullSecrets. */
const PULL_SECRETS: string[][] = [[], ["regcred"], ["missing", "regcred"]];

const SCRIPTS = ["", "crash", "run=3s,exit=1", "ready=never", "run=2s", "logEvery=1s"];

/**
 * The registry side of the fuzz: brains to pull, signed, unsigned and tampered, behind token auth (the
 * token server wants the pull secret's credentials) and a redirect, and a second registry behind Basic
 * auth; brain pods name no pull secret, a missing one, or the one the API server holds.
 */
interface Registries {
  images: string[];
}

function registries(h: CoreHarness, host: BrainHost): Registries {
  const { publicKey, privateKey } = crypto.generateKeyPairSync("ed25519");
  host.keys = [publicKey];
  const reg = new FakeRegistry();
  const tokens = new FakeRegistry();
  const store = new FakeRegistry();
  reg.auth = { kind: "bearer", realm: "https://127.0.0.1:5001/token", service: "fuzz" };
  reg.tokens = tokens;
  tokens.auth = { kind: "bearer", realm: "", service: "", user: "fuzz", password: "s3cret" };
  const basicReg = new FakeRegistry();
  basicReg.auth = { kind: "basic", user: "fuzz", password: "s3cret" };
  h.registries["127.0.0.1:5003"] = basicReg;
  const auth = { auth: Buffer.from("fuzz:s3cret").toString("base64") };
  const config = { auths: { "127.0.0.1:5000": auth, "127.0.0.1:5003": auth } };
  h.server.secrets.set("picokubelet-system/regcred", {
    kind: "Secret", metadata: { name: "regcred", namespace: "picokubelet-system" }, type: "kubernetes.io/dockerconfigjson",
    data: { ".dockerconfigjson": Buffer.from(JSON.stringify(config)).toString("base64") },
  });
  reg.redirectBlobsTo = "https://127.0.0.1:5002";
  h.registries["127.0.0.1:5000"] = reg;
  h.registries["127.0.0.1:5001"] = tokens;
  h.registries["127.0.0.1:5002"] = store;
  const wasm = readFileSync(RELEASE_WASM);
  const images: string[] = [];
  for (const [tag, opts] of [["good", { version: "9.9.9", key: privateKey }], ["unsigned", { version: "9.9.8" }], ["tampered", { version: "9.9.7", key: privateKey, tamper: true }]] as const) {
    // "good" is the release module itself (the host compiles it); the others need only distinct digests.
    const layer = tag === "good" ? wasm : Buffer.concat([wasm, Buffer.from(tag)]);
    const pub = reg.publish("fuzz/brain", tag, layer, opts);
    store.storeBlob(pub.layerDigest, "tamper" in opts ? Buffer.concat([layer.subarray(0, -1), Buffer.from("X")]) : layer);
    images.push(`127.0.0.1:5000/fuzz/brain:${tag}`, `127.0.0.1:5000/fuzz/brain@${pub.digest}`);
  }
  basicReg.publish("fuzz/brain", "good", wasm, { version: "9.9.6", key: privateKey });
  images.push("127.0.0.1:5003/fuzz/brain:good");
  images.push("127.0.0.1:5000/fuzz/missing:v1", "Not A Reference");
  return { images };
}

/** Pod churn between bursts: pods bound and deleted, brain pods replaced, watches ended, garbage lines on the stream. */
function churn(rng: Rng, h: CoreHarness, n: number, regs: Registries): void {
  const s = h.server;
  const r = rng.next();
  if (r < 0.2) {
    for (const p of [...s.pods.values()]) if (p.metadata.namespace === "picokubelet-system") s.deletePod("picokubelet-system", p.metadata.name, 0);
    s.addPod({
      metadata: { name: `b${n}`, namespace: "picokubelet-system" },
      spec: {
        nodeName: "pico-test", runtimeClassName: "picokubelet-brain", containers: [{ name: "brain", image: regs.images[rng.int(regs.images.length)] }],
        imagePullSecrets: PULL_SECRETS[rng.int(PULL_SECRETS.length)].map((name) => ({ name })),
      },
    });
  } else if (r < 0.5) {
    s.addPod({
      metadata: { name: `f${n}`, annotations: { "picokubelet.dev/script": SCRIPTS[rng.int(SCRIPTS.length)] } },
      spec: { nodeName: "pico-test", restartPolicy: rng.next() < 0.5 ? "Always" : "Never", containers: [{ name: "c", image: "i" }] },
    });
  } else if (r < 0.75) {
    const names = [...s.pods.values()].filter((p) => p.metadata.namespace === "default").map((p) => p.metadata.name);
    if (names.length) s.deletePod("default", names[rng.int(names.length)], rng.int(3));
  } else if (r < 0.85) {
    s.endWatches();
  } else {
    s.pushLine(rng.next() < 0.5 ? "{\"type\":\"MODIFIED\",\"object\":{\"metadata\":" : "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[");
  }
}

/** Runs `bursts` bursts for one seed. */
export async function fuzzSeed(seed: number, bursts: number): Promise<FuzzReport> {
  const rng = new Rng(seed);
  const report: FuzzReport = { seed, bursts: 0, mutated: 0, findings: [], peakMemory: 0, registryRequests: 0, secretReads: 0, commits: 0, refusals: 0 };
  const host = new BrainHost();
  const h = await CoreHarness.create({ seed: BigInt(seed), hostCall: host.handler, config: { capacity: { cpu: "240m", memory: "320Ki", pods: "3" } } });
  const regs = registries(h, host);
  let pods = 0;
  const finding = (what: string) => report.findings.push(`seed ${seed} burst ${report.bursts}: ${what}`);
  try {
    h.runUntil(() => h.phase === Phase.RUNNING, 60_000);
    for (let i = 0; i < bursts; i++) {
      report.bursts++;
      churn(rng, h, pods++, regs);
      const rate = 0.2 + rng.next() * 0.8;
      h.mutate = (data) => {
        if (rng.next() > rate) return data;
        report.mutated++;
        return mutate(rng, data);
      };
      h.run(5_000 + rng.int(60_000));
      h.mutate = null;
      // Recovery: clean responses again; the node must renew within the window (auth backoff is 5 min at most).
      const before = h.stat(Stat.RENEWALS);
      try {
        h.runUntil(() => h.phase === Phase.RUNNING && h.stat(Stat.RENEWALS) > before, 12 * 60_000, 1_000);
      } catch (e) {
        finding(`no recovery: ${(e as Error).message}`);
        break;
      }
      if (h.peakMemory > MEMORY_BUDGET) {
        finding(`linear memory ${h.peakMemory} B over the ${MEMORY_BUDGET} B budget`);
        break;
      }
      // Now and then a clean stretch longer than the pull backoff (5 min), so a brain pulled through
      // mutated bursts can also complete: the whole path to OP_BRAIN_COMMIT runs, not only its failures.
      if (i % 20 === 19) h.run(6 * 60_000);
    }
  } catch (e) {
    finding(`trap or hang: ${(e as Error).message}`);
  }
  report.peakMemory = h.peakMemory;
  report.registryRequests = Object.values(h.registries).reduce((n, r) => n + (r as FakeRegistry).requests.length, 0);
  report.secretReads = h.server.seen("GET", /\/secrets\//).length;
  report.commits = host.accepted.length;
  report.refusals = host.refusedWords.length;
  return report;
}

async function main(): Promise<void> {
  const arg = (name: string, dflt: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : dflt;
  };
  if (process.argv.includes("--help")) {
    console.log("usage: node build/ts/tests/fuzz/fuzz.js [--seed N] [--seeds N] [--bursts N]");
    return;
  }
  const first = arg("seed", 1);
  const seeds = arg("seeds", 4);
  const bursts = arg("bursts", 50);
  let mutated = 0;
  let findings = 0;
  let peak = 0;
  const t0 = Date.now();
  for (let s = first; s < first + seeds; s++) {
    const r = await fuzzSeed(s, bursts);
    mutated += r.mutated;
    findings += r.findings.length;
    peak = Math.max(peak, r.peakMemory);
    for (const f of r.findings) console.log(`FINDING ${f}`);
    console.log(`seed ${s}: ${r.bursts} bursts, ${r.mutated} mutated responses, ${r.registryRequests} registry requests, ${r.secretReads} pull-secret reads, ${r.commits} brains committed, ${r.refusals} refused, peak memory ${r.peakMemory} B`);
  }
  console.log(`fuzz: ${seeds} seeds, ${mutated} mutated responses, ${findings} findings, peak memory ${peak} B, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  if (findings > 0) process.exitCode = 1;
}

if (process.argv[1]?.endsWith("fuzz.js")) main();
