/**
 * Brains against the real control plane and its registry (CNCF distribution, TLS by the cluster CA,
 * htpasswd): a host-sim node trusting one brain key pulls a brain pod's image over its own lanes with the
 * pod's imagePullSecret, the host verifies and swaps; the node keeps its bootID, stays Ready and shows the
 * new brain in kubeletVersion, the pod Running with imageID = the digest. A brain that traps at start is
 * rolled back by the host and the pod says so; an unsigned one and a stranger's are refused.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { readFileSync } from "node:fs";
import { cluster, condition, eventually, getNode, kubectl, nodeName, removeNode, runNode } from "./support.js";
import { apply, BRAIN_NS, brainNamespace, localRegistry } from "./brain-setup.js";
import { push } from "../../host-sim/src/brain.js";
import type { SimNode } from "../../host-sim/src/index.js";
import { releaseWasm, trapsAtStart, withVersion } from "../host-sim/support/brains.js";

const NS = BRAIN_NS;
const nodes: SimNode[] = [];
const names: string[] = [];
const pods: string[] = [];

after(async () => {
  for (const p of pods) await kubectl(["-n", NS, "delete", "pod", p, "--ignore-not-found", "--wait=false"]).catch(() => {});
  for (const n of nodes) await n.stop().catch(() => {});
  for (const name of names) await removeNode(name);
});

function brainPod(name: string, node: string, image: string): any {
  return {
    apiVersion: "v1", kind: "Pod", metadata: { name, namespace: NS },
    spec: {
      nodeName: node, runtimeClassName: "picokubelet-brain", imagePullSecrets: [{ name: "brain-registry" }],
      tolerations: [{ key: "picokubelet.dev/no-containers", operator: "Exists" }],
      containers: [{ name: "brain", image }],
    },
  };
}

async function podNow(name: string): Promise<any> {
  return kubectl(["-n", NS, "get", "pod", name, "-o", "json"]);
}

const waitingOf = (p: any): any => p?.status?.containerStatuses?.[0]?.state?.waiting;

test("a signed brain pulled from the local registry with a pull secret: swapped live, same bootID, Ready throughout, Running with imageID; a trap at start rolled back; unsigned and a stranger's refused", async () => {
  const reg = localRegistry();
  const oras = reg.oras;
  const key = crypto.generateKeyPairSync("ed25519");
  const stranger = crypto.generateKeyPairSync("ed25519").privateKey;
  const repo = `${reg.address}/picokubelet/brain-e2e-${Math.random().toString(36).slice(2, 7)}`;
  const v2 = push({ reference: `${repo}:v2`, wasm: withVersion(releaseWasm(), "0.2.0"), version: "0.2.0", revision: "e2e", key: key.privateKey, oras });
  const v3 = push({ reference: `${repo}:v3`, wasm: trapsAtStart(withVersion(releaseWasm(), "0.3.0")), version: "0.3.0", revision: "e2e", key: key.privateKey, oras });
  const unsigned = push({ reference: `${repo}:unsigned`, wasm: withVersion(releaseWasm(), "0.4.0"), version: "0.4.0", revision: "e2e", oras });
  const strange = push({ reference: `${repo}:stranger`, wasm: withVersion(releaseWasm(), "0.5.0"), version: "0.5.0", revision: "e2e", key: stranger, oras });

  await brainNamespace(reg);

  const name = nodeName("brain");
  names.push(name);
  const sim = await runNode(name, {
    coreConfig: { renewIntervalMs: 2000, capacity: { cpu: "240m", memory: "320Ki", pods: "4" } },
    registryCa: readFileSync(cluster().caFile),
    brain: { publicKeys: [key.publicKey] },
  });
  nodes.push(sim);
  await kubectl(["wait", "--for=condition=Ready", `node/${name}`, "--timeout=60s"]);
  const before = await getNode(name);
  const bootId = before.status.nodeInfo.bootID;
  const readySince = condition(before, "Ready").lastTransitionTime;
  assert.match(before.status.nodeInfo.kubeletVersion, /-picokubelet\.0\.1\.0$/);

  // v2: pulled, verified, swapped.
  pods.push("brain-v2");
  await apply(brainPod("brain-v2", name, `${repo}@${v2.digest}`));
  const running = await eventually("the v2 brain pod Running", async () => {
    const p = await podNow("brain-v2");
    return p.status?.phase === "Running" ? p : null;
  }, 90_000);
  const cs = running.status.containerStatuses[0];
  assert.equal(cs.imageID, `${repo}@${v2.digest}`);
  assert.equal(cs.ready, true);
  const after2 = await eventually("kubeletVersion shows v2", async () => {
    const n = await getNode(name);
    return /-picokubelet\.0\.2\.0$/.test(n.status.nodeInfo.kubeletVersion) ? n : null;
  }, 30_000);
  assert.equal(after2.status.nodeInfo.bootID, bootId, "the same boot: a swap, not a reboot");
  assert.equal(condition(after2, "Ready").status, "True");
  assert.equal(condition(after2, "Ready").lastTransitionTime, readySince, "no Ready blip");
  assert.equal(sim.brainState().running, v2.digest);
  const events = await kubectl(["-n", NS, "get", "events", "--field-selector", "involvedObject.name=brain-v2", "-o", "json"]);
  const reasons = events.items.filter((e: any) => e.source?.component === "kubelet").map((e: any) => e.reason);
  for (const r of ["Pulling", "Pulled", "Created", "Started"]) assert.ok(reasons.includes(r), `${r} in ${reasons}`);

  // v2 proves itself (3 renewals after the swap); a roll-back goes back to the last proven brain.
  await eventually("v2 proven", () => !sim.brainState().proving, 30_000);
  // v3 traps at start: the host restores v2 and the pod says why.
  await kubectl(["-n", NS, "delete", "pod", "brain-v2", "--wait=true", "--timeout=30s"]);
  pods.push("brain-v3");
  await apply(brainPod("brain-v3", name, `${repo}@${v3.digest}`));
  const back = await eventually("the v3 brain pod shows the roll-back", async () => {
    const p = await podNow("brain-v3");
    return waitingOf(p)?.reason === "CrashLoopBackOff" ? p : null;
  }, 90_000);
  assert.match(waitingOf(back).message, new RegExp(`brain ${v3.digest} rolled back: BrainCrashed`));
  assert.equal(back.status.containerStatuses[0].restartCount, 1);
  const n3 = await getNode(name);
  assert.equal(n3.status.nodeInfo.bootID, bootId);
  assert.equal(condition(n3, "Ready").status, "True");
  assert.equal(condition(n3, "Ready").lastTransitionTime, readySince, "no Ready blip through the roll-back");
  assert.match(n3.status.nodeInfo.kubeletVersion, /-picokubelet\.0\.2\.0$/, "v2 runs again");
  assert.equal(sim.brainState().running, v2.digest);

  // Refused: unsigned (before its layer is fetched), and signed by a key the node does not trust.
  await kubectl(["-n", NS, "delete", "pod", "brain-v3", "--wait=true", "--timeout=30s"]);
  for (const [pod, ref, reason] of [["brain-unsigned", unsigned.digest, "BrainUnsigned"], ["brain-stranger", strange.digest, "BrainBadSignature"]] as const) {
    pods.push(pod);
    await apply(brainPod(pod, name, `${repo}@${ref}`));
    await eventually(`${pod} refused with ${reason}`, async () => waitingOf(await podNow(pod))?.reason === reason, 60_000);
    await kubectl(["-n", NS, "delete", "pod", pod, "--wait=true", "--timeout=30s"]);
  }
  const last = await getNode(name);
  assert.equal(condition(last, "Ready").lastTransitionTime, readySince);
  assert.equal(sim.brainState().running, v2.digest);
});
