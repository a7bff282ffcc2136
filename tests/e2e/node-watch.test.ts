/**
 * The node watches its own Node on the real control plane (as `system:node:<name>`, under the Node
 * authorizer): an admin's Ready=Unknown is undone within seconds, not at the next 5-minute status push,
 * and `kubectl describe node` shows the recovery as Ready's transition time; a deleted Node comes back at once.
 */
import { describe, test, after } from "node:test";
import assert from "node:assert/strict";
import { condition, eventually, getNode, kubectl, nodeName, removeNode, runNode } from "./support.js";
import { Phase, type SimNode } from "../../host-sim/src/index.js";

const nodes: { name: string; sim: SimNode }[] = [];
async function start(what: string): Promise<{ name: string; sim: SimNode }> {
  const name = nodeName(what);
  const sim = await runNode(name);
  nodes.push({ name, sim });
  await sim.waitForPhase(Phase.RUNNING, 30_000);
  await kubectl(["wait", "--for=condition=Ready", `node/${name}`, "--timeout=60s"]);
  return { name, sim };
}

after(async () => {
  for (const n of nodes) {
    await n.sim.stop({ timeoutMs: 5_000 }).catch(() => undefined);
    await removeNode(n.name);
  }
});

/** Ready's LastTransitionTime in `kubectl describe node` (e.g. `Wed, 02 Dec 2026 15:25:51 +0000`), as epoch ms. */
function describedReadyTransition(text: string): number {
  const line = text.split("\n").find((l) => /^\s+Ready\s+(True|False|Unknown)\s/.test(l));
  assert.ok(line, text);
  const times = [...line.matchAll(/\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}/g)].map((m) => Date.parse(m[0]));
  assert.equal(times.length, 2, `heartbeat and transition times in: ${line}`);
  return times[1];
}

describe("the node watches its own Node", { concurrency: true }, () => {
  test("Ready patched to Unknown by an admin is True again within 15 s; describe shows the recovery time", async () => {
    const { name } = await start("unknown");
    const boot = Date.parse(condition(await getNode(name), "Ready").lastTransitionTime);
    // Some time must pass for a transition at the recovery to be told from one at boot.
    await new Promise((r) => setTimeout(r, 5_000));
    const stamp = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    const patch = { status: { conditions: [{ type: "Ready", status: "Unknown", reason: "NodeStatusUnknown", message: "an admin says so", lastTransitionTime: stamp }] } };
    const t0 = Date.now();
    await kubectl(["patch", "node", name, "--subresource=status", "--type=strategic", "-p", JSON.stringify(patch)]);
    const ready = await eventually("Ready=True again", async () => {
      const r = condition(await getNode(name), "Ready");
      return r?.status === "True" ? r : null;
    }, 15_000, 250);
    const took = Date.now() - t0;
    assert.ok(took <= 15_000, `back to True after ${took} ms`);
    assert.equal(ready.reason, "KubeletReady");
    const at = Date.parse(ready.lastTransitionTime);
    assert.ok(at >= t0 - 2_000 && at <= Date.now() + 2_000, `lastTransitionTime ${ready.lastTransitionTime} is the recovery`);
    assert.ok(at > boot + 4_000, `not boot time (${new Date(boot).toISOString()})`);
    const described = describedReadyTransition(await kubectl(["describe", "node", name]));
    assert.equal(described, Math.floor(at / 1000) * 1000, "describe shows the recovery as Ready's transition");
    console.log(`# Ready=Unknown (admin patch) corrected in ${took} ms; transition ${ready.lastTransitionTime} (boot ${new Date(boot).toISOString()})`);
  });

  test("a deleted Node is registered again within seconds", async () => {
    const { name } = await start("gone");
    const old = await getNode(name);
    const t0 = Date.now();
    await kubectl(["delete", "node", name, "--wait=false"]);
    await eventually("node re-registered", async () => {
      const n = await getNode(name);
      return n && n.metadata.uid !== old.metadata.uid ? n : null;
    }, 10_000, 250);
    console.log(`# deleted Node registered again in ${Date.now() - t0} ms`);
    await eventually("Ready", async () => condition(await getNode(name), "Ready")?.status === "True", 20_000);
  });
});
