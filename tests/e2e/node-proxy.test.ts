/**
 * The node proxy end to end (issue 10): `kubectl get --raw /api/v1/nodes/<node>/proxy/...` through
 * kube-apiserver to a node's kubelet port, as users run it. kube-apiserver refuses to proxy to a loopback
 * address, so the node lives in a network namespace of its own (tests/e2e/netns.ts) at 10.213.X.2, a
 * separate `picokubelet-sim run` process with its own system:node:<name> credentials; the API server dials
 * it over a veth pair and verifies its serving certificate (issued through a kubelet-serving CSR, IP SAN
 * 10.213.X.2) against the cluster CA.
 */
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { execFile, execFileSync, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { promisify } from "node:util";
import { ROOT } from "../support/core-harness.js";
import { createNodeNetns, type NodeNetns } from "./netns.js";
import { CLUSTER_DIR, cluster, eventually, kubectl, nodeKubeconfig, nodeName, removeNode } from "./support.js";

const execFileAsync = promisify(execFile);
const KUBELET_PORT = 10250;

const name = nodeName("proxy");
const pod = `${name}-pod`;
let ns: NodeNetns | undefined;
let node: ChildProcess | undefined;
const logs: string[] = [];

before(async () => {
  const c = cluster();
  const apiPort = Number(new URL(c.server).port);
  ns = await createNodeNetns(apiPort);
  node = ns.spawn(process.execPath, [
    join(ROOT, "host-sim/bin/picokubelet-sim.js"), "run",
    "--name", name, "--kubeconfig", nodeKubeconfig(name),
    "--node-ip", ns.ip, "--kubelet-port", String(KUBELET_PORT), "--led", "off",
  ]);
  let partial = "";
  node.stderr!.on("data", (d: Buffer) => {
    const lines = (partial + d.toString("utf8")).split("\n");
    partial = lines.pop()!;
    logs.push(...lines);
  });
  node.stdout!.resume();
});

after(async () => {
  await kubectl(["delete", "pod", pod, "--grace-period=0", "--force", "--wait=false", "--ignore-not-found"]).catch(() => {});
  await ns?.close();
  await removeNode(name);
});

/** What the node said last, for failure messages. */
const tail = () => `\nnode log (last lines):\n${logs.slice(-15).join("\n")}`;

/** `kubectl get --raw PATH` as admin. */
const raw = (path: string): Promise<string> => kubectl(["get", "--raw", path, "--request-timeout=10s"]);

/** The certificate the kubelet port presents, verified against `ca` for `ip`. */
function presented(ip: string, port: number, ca: string): Promise<tls.PeerCertificate> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: ip, port, ca }, () => {
      const p = s.getPeerCertificate();
      s.end();
      resolve(p);
    });
    s.on("error", reject);
  });
}

test("a node in its own network namespace is served through the API server's node proxy", async () => {
  const started = Date.now();
  const c = cluster();
  const ca = readFileSync(c.caFile, "utf8");
  const ip = ns!.ip;

  // The node registers from inside the namespace (through the relay) with its namespace address.
  const registered = await eventually("the Node with its InternalIP", async () => {
    if (node!.exitCode !== null) throw new Error(`the node exited (${node!.exitCode})${tail()}`);
    const n = await kubectl(["get", "node", name, "-o", "json"]).catch(() => null);
    return n?.status?.addresses?.some((a: any) => a.type === "InternalIP" && a.address === ip) &&
      n.status.daemonEndpoints?.kubeletEndpoint?.Port === KUBELET_PORT ? n : null;
  }, 30_000).catch((e) => assert.fail(`${e.message}${tail()}`));
  assert.equal(registered.metadata.name, name);

  // Its serving certificate: a kubelet-serving CSR, approved, issued with the namespace address as IP SAN,
  // and presented on the kubelet port (verified against the cluster CA for that address).
  const issued = await eventually("the node's serving certificate issued", async () => {
    const list = await kubectl(["get", "csr", "-o", "json"]);
    const csr = list.items.find((x: any) => x.spec.username === `system:node:${name}` && x.spec.signerName === "kubernetes.io/kubelet-serving" && x.status?.certificate);
    return csr ? new crypto.X509Certificate(Buffer.from(csr.status.certificate, "base64")) : null;
  }, 30_000).catch((e) => assert.fail(`${e.message}${tail()}`));
  assert.ok(issued.checkIssued(new crypto.X509Certificate(ca)));
  assert.match(issued.subjectAltName ?? "", new RegExp(`IP Address:${ip.replace(/\./g, "\\.")}(,|$)`));
  await eventually("the kubelet port presenting the issued certificate", async () => {
    const p = await presented(ip, KUBELET_PORT, ca).catch(() => null);
    return p?.fingerprint256 === issued.fingerprint256;
  }, 15_000);

  // A pod bound to it, for /pods.
  await kubectl(["run", pod, "--image=registry.invalid/none", "--restart=Never",
    `--overrides={"spec":{"nodeName":"${name}","tolerations":[{"operator":"Exists"}]}}`]);

  // The node proxy: the API server dials 10.213.X.2:10250 with its kubelet client certificate.
  assert.equal(await raw(`/api/v1/nodes/${name}/proxy/healthz`), "ok");

  const metrics = await raw(`/api/v1/nodes/${name}/proxy/metrics`);
  assert.match(metrics, /^# HELP picokubelet_lease_renewals_total /m);
  assert.match(metrics, /^# TYPE picokubelet_lease_renewals_total counter$/m);
  assert.match(metrics, /^picokubelet_lease_renewals_total \d+$/m);

  const list = await eventually("the pod in /proxy/pods", async () => {
    const l = JSON.parse(await raw(`/api/v1/nodes/${name}/proxy/pods`));
    return l.items?.some((p: any) => p.metadata?.name === pod) ? l : null;
  }, 20_000);
  assert.equal(list.kind, "PodList");
  assert.equal(list.apiVersion, "v1");

  const resource = await raw(`/api/v1/nodes/${name}/proxy/metrics/resource`);
  assert.match(resource, /^node_memory_working_set_bytes \d+(\.\d+)?(e[+-]?\d+)? \d+$/m);

  // Users without RBAC on nodes/proxy are refused by the API server itself (403), before any dial.
  const user = `pk-nobody-${name}`;
  const kubeconfig = join(mkdtempSync(join(tmpdir(), "pk-e2e-user-")), "user.kubeconfig");
  execFileSync(process.execPath, [join(ROOT, "tools/cluster.mjs"), "kubeconfig-for-user", user, "--out", kubeconfig, "--dir", CLUSTER_DIR], { stdio: "pipe" });
  const refused = await execFileAsync(c.kubectl, ["get", "--raw", `/api/v1/nodes/${name}/proxy/healthz`, "--request-timeout=10s", "-v=6"],
    { encoding: "utf8", env: { ...process.env, KUBECONFIG: kubeconfig } }).then(
    () => assert.fail("a user without RBAC got through the node proxy"),
    (e: Error & { stderr?: string }) => String(e.stderr ?? e.message));
  // -v=6 logs the response's status line (its format differs between kubectl versions).
  assert.match(refused, /\/proxy\/healthz\S* (status=")?403 Forbidden/);
  assert.match(refused, new RegExp(`User "${user}" cannot get resource "nodes/proxy"`));

  assert.ok(Date.now() - started < 60_000, `took ${Date.now() - started} ms`);
});
