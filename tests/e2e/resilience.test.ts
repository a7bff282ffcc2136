/**
 * End to end, run one at a time because they disturb the control plane or need a token identity:
 * an API server restart, and a wrong token that must be backed off rather than hammered.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { join } from "node:path";
import { ROOT } from "../support/core-harness.js";
import { CLUSTER_DIR, cluster, condition, eventually, getNode, holdsFor, nodeName, removeNode, runNode } from "./support.js";
import { loadCredentials, Phase, silentLogger, startNode, type SimNode } from "../../host-sim/src/index.js";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";

const sims: { name: string; sim: SimNode }[] = [];
after(async () => {
  for (const s of sims) {
    await s.sim.stop({ timeoutMs: 5_000 }).catch(() => undefined);
    await removeNode(s.name);
  }
});

test("an API server restart is survived", async () => {
  const name = nodeName("restart");
  const sim = await runNode(name);
  sims.push({ name, sim });
  await sim.waitForPhase(Phase.RUNNING, 30_000);
  await sim.waitFor((s) => Number(s.renewals) >= 1, 20_000, "first renewal");
  const before = Number(sim.stats().renewals);
  // Asynchronously, so the node's timers keep running while the API server is down.
  await promisify(execFile)("node", [join(ROOT, "tools/cluster.mjs"), "restart-apiserver", "--dir", CLUSTER_DIR], { timeout: 120_000 });
  await sim.waitFor((s) => Number(s.renewals) >= before + 2, 60_000, "renewals after the restart");
  await eventually("Ready", async () => condition(await getNode(name), "Ready")?.status === "True", 20_000);
  assert.equal(sim.stats().ledName, "HEALTHY");
});

test("a wrong token is backed off (few requests), shows Warning, and never registers", async () => {
  cluster();
  const dir = mkdtempSync(join(tmpdir(), "pk-e2e-tok-"));
  const kc = join(dir, "tok.kubeconfig");
  execFileSync("node", [join(ROOT, "tools/cluster.mjs"), "kubeconfig-for-node", "pk-token-3", "--token", "--out", kc, "--dir", CLUSTER_DIR], { stdio: "pipe" });
  const credentials = loadCredentials({ kubeconfig: kc, token: "this-is-not-the-token" });
  const sim = await startNode({ name: "pk-token-3", credentials, logger: silentLogger() });
  sims.push({ name: "pk-token-3", sim });
  // What is checked is an absence (no hammering, no Node) over a bounded window of 60 s, so the window
  // has to pass; it is watched every second and fails as soon as the limit is crossed.
  // Anchoring (any response with a Date works), then 401s backed off 10 s, 20 s, 40 s...
  await holdsFor("at most 7 requests and no Node", async () => {
    const n = Number(sim.stats().requests);
    assert.ok(n <= 7, `requests with a wrong token: ${n}`);
    assert.equal(await getNode("pk-token-3"), null, "never registered");
  }, 60_000, 1_000);
  const s = sim.stats();
  const requests = Number(s.requests);
  assert.ok(requests >= 2 && requests <= 7, `requests in 60 s with a wrong token: ${requests}`);
  assert.equal(s.ledName, "WARNING");
  assert.equal(await getNode("pk-token-3"), null);
});
