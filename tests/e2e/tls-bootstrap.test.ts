/**
 * TLS bootstrap against the real control plane (issue 12 items 1–2): a host-sim node given only a
 * bootstrap kubeconfig (server, CA, a bootstrap token from `cluster.mjs bootstrap-token`) makes its own
 * P-256 key, asks for a system:node:<name> client certificate (signer
 * kubernetes.io/kube-apiserver-client-kubelet), which kube-controller-manager's csrapproving controller
 * approves (deploy/bootstrap-rbac.yaml's nodeclient binding) and csrsigning issues; the node then runs as
 * system:node:<name>. The certificate and key stay in --cert-dir (mode 0600) and a restart uses them
 * without a new CSR. A CSR that is denied is an error line and the Warning LED.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Phase, loadBootstrapCredentials, silentLogger, startNode, type SimNode } from "../../host-sim/src/index.js";
import { ROOT } from "../support/core-harness.js";
import { CLUSTER_DIR, cluster, condition, eventually, getNode, kubectl, nodeName, removeNode } from "./support.js";

const tmp = mkdtempSync(join(tmpdir(), "pk-e2e-bootstrap-"));
const nodes: SimNode[] = [];
const names: string[] = [];
const cleanup: string[][] = [];
after(async () => {
  for (const n of nodes) await n.stop().catch(() => {});
  for (const n of names) await removeNode(n);
  for (const args of cleanup) await kubectl(args).catch(() => {});
  rmSync(tmp, { recursive: true, force: true });
});

const SIGNER = "kubernetes.io/kube-apiserver-client-kubelet";

/** A bootstrap kubeconfig from the local control plane; returns its file and token id. */
function bootstrapKubeconfig(): { file: string; id: string } {
  const file = join(tmp, `${Math.random().toString(36).slice(2, 8)}.kubeconfig`);
  execFileSync("node", [join(ROOT, "tools/cluster.mjs"), "bootstrap-token", "--ttl", "1h", "--out", file, "--dir", CLUSTER_DIR], { stdio: "pipe" });
  const id = loadBootstrapCredentials(file).bootstrapToken!.split(".")[0];
  cleanup.push(["-n", "kube-system", "delete", "secret", `bootstrap-token-${id}`, "--ignore-not-found"]);
  return { file, id };
}

/** The CSRs for signer kubernetes.io/kube-apiserver-client-kubelet asking for system:node:<name>. */
async function csrsOf(name: string, users: string[]): Promise<any[]> {
  const list = await kubectl(["get", "csr", "-o", "json"]);
  return list.items.filter((c: any) => c.spec.signerName === SIGNER && users.includes(c.spec.username))
    .filter((c: any) => csrSubjectHas(c, `system:node:${name}`));
}

/** Whether the PEM request of `csr` names `cn` (openssl parses it: a real X.509 parser). */
function csrSubjectHas(csr: any, cn: string): boolean {
  const text = execFileSync("openssl", ["req", "-noout", "-subject", "-nameopt", "RFC2253"], { input: Buffer.from(csr.spec.request, "base64") }).toString();
  return text.includes(`CN=${cn}`);
}

/** Who the API server says a client certificate is (SelfSubjectReview with that certificate and key). */
function whoIs(certAndKeyPem: string, ca: string, server: string): Promise<string> {
  const url = new URL("/apis/authentication.k8s.io/v1/selfsubjectreviews", server);
  const body = JSON.stringify({ apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" });
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: "POST", ca, cert: certAndKeyPem, key: certAndKeyPem, agent: false, headers: { "content-type": "application/json" } }, (res) => {
      let t = "";
      res.on("data", (d) => (t += d));
      res.on("end", () => {
        try {
          resolve(JSON.parse(t).status.userInfo.username);
        } catch (e) {
          reject(new Error(`HTTP ${res.statusCode}: ${t.slice(0, 200)}`));
        }
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

test("a node with only a bootstrap kubeconfig joins: its CSR is auto-approved and issued, it is Ready as system:node:<name>, and a restart reuses the 0600 certificate without a new CSR", async () => {
  const c = cluster();
  const { file, id } = bootstrapKubeconfig();
  const name = nodeName("bootstrap");
  names.push(name);
  const certDir = join(tmp, name);
  const credentials = loadBootstrapCredentials(file);
  assert.equal(credentials.auth, "bootstrap-token");
  assert.equal(credentials.tls.cert, undefined);

  const phases: string[] = [];
  const node = await startNode({ name, credentials, certDir, logger: silentLogger(), coreConfig: { renewIntervalMs: 2000 } });
  nodes.push(node);
  node.on("phase", (_c: number, n: string) => phases.push(n));
  await node.waitForPhase(Phase.RUNNING, 90_000);
  assert.ok(phases.includes("BOOTSTRAPPING") || phases.indexOf("REGISTERING") >= 0, `phases ${phases.join(" ")}`);

  // The CSR: made by the bootstrap token's user, approved by the controller manager, issued.
  const csrs = await csrsOf(name, [`system:bootstrap:${id}`]);
  assert.equal(csrs.length, 1, `one bootstrap CSR for ${name}`);
  const csr = csrs[0];
  assert.deepEqual([...csr.spec.usages].sort(), ["client auth", "digital signature"]);
  const approved = (csr.status.conditions ?? []).find((x: any) => x.type === "Approved");
  assert.ok(approved, "Approved");
  assert.equal(approved.reason, "AutoApproved");
  assert.ok(csr.status.certificate, "issued");
  const table = await kubectl(["get", "csr", csr.metadata.name]);
  assert.match(table, /Approved,Issued/);

  // Ready, and the certificate the node now presents authenticates as system:node:<name>.
  await eventually("node Ready", async () => condition(await getNode(name), "Ready")?.status === "True", 60_000);
  const file0 = join(certDir, "kubelet-client-current.pem");
  assert.equal(statSync(file0).mode & 0o777, 0o600);
  const pem = readFileSync(file0, "utf8");
  const leaf = new crypto.X509Certificate(pem);
  assert.match(leaf.subject, /CN=system:node:/);
  assert.equal(leaf.subject.split("\n").sort().join(","), `CN=system:node:${name},O=system:nodes`);
  assert.ok(leaf.verify(new crypto.X509Certificate(readFileSync(c.caFile)).publicKey), "signed by the cluster CA");
  assert.equal(crypto.createPrivateKey(pem).asymmetricKeyDetails?.namedCurve, "prime256v1");
  assert.equal(await whoIs(pem, c.caPEM, c.server), `system:node:${name}`);
  assert.ok(node.logs.some((l) => l.includes("client certificate installed")), node.logs.join("\n"));
  // The bootstrap token itself could never have registered the node.
  const asBootstrap = await kubectl(["auth", "can-i", "create", "nodes", "--as", `system:bootstrap:${id}`, "--as-group", "system:bootstrappers"]).catch((e: any) => String(e.stdout ?? ""));
  assert.match(String(asBootstrap), /no/);

  // Restart with the same cert dir: the stored certificate is used at once, no new CSR.
  await node.stop();
  nodes.splice(nodes.indexOf(node), 1);
  const again = await startNode({ name, credentials: loadBootstrapCredentials(file), certDir, logger: silentLogger(), coreConfig: { renewIntervalMs: 2000 } });
  nodes.push(again);
  const againPhases: string[] = [];
  again.on("phase", (_c: number, n: string) => againPhases.push(n));
  await again.waitForPhase(Phase.RUNNING, 60_000);
  assert.ok(again.logs.some((l) => l.includes(`client certificate read from ${certDir}/kubelet-client-current.pem`)), again.logs.join("\n"));
  const lease = await kubectl(["-n", "kube-node-lease", "get", "lease", name, "-o", "json"]);
  const renewedAt = Date.parse(lease.spec.renewTime);
  await eventually("a renewal after the restart", async () => {
    const l = await kubectl(["-n", "kube-node-lease", "get", "lease", name, "-o", "json"]);
    return Date.parse(l.spec.renewTime) > renewedAt;
  }, 30_000);
  assert.equal((await csrsOf(name, [`system:bootstrap:${id}`, `system:node:${name}`])).length, 1, "no new CSR after the restart");
  assert.equal(readFileSync(file0, "utf8"), pem, "the same certificate");
});
