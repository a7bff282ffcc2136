/**
 * The serving certificate against the real control plane (issue 10 item 2): a host-sim node with a
 * kubelet port asks for a kubernetes.io/kubelet-serving certificate by CSR; the local control plane's
 * approver (what a cluster administrator's `kubectl certificate approve` does) approves it, and
 * kube-controller-manager signs it with the cluster CA. The listener then presents that certificate, which
 * verifies with node:tls against the cluster CA for the node's IP: the same check kube-apiserver makes
 * with --kubelet-certificate-authority; and kube-apiserver itself reaches the port for `kubectl logs` (a
 * connection reaches the core only after the API server accepted the certificate). A restart with the same
 * --cert-dir uses the stored one.
 */
import { test, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import type { SimNode } from "../../host-sim/src/index.js";
import { Stat } from "../../host-sim/src/abi.js";
import { cluster, eventually, kubectl, nodeName, removeNode, runNode } from "./support.js";

const nodes: SimNode[] = [];
const names: string[] = [];
after(async () => {
  for (const n of nodes) await n.stop().catch(() => {});
  for (const n of names) await removeNode(n);
});

/** A port free on `host` right now. */
async function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, host, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** The certificate the listener presents, verified against `ca` for `ip`; rejects when it does not verify. */
function presented(ip: string, port: number, ca: string): Promise<tls.PeerCertificate> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: ip, port, ca }, () => {
      const c = s.getPeerCertificate();
      s.end();
      resolve(c);
    });
    s.on("error", reject);
  });
}

test("a node's serving CSR is approved and issued by the cluster; its kubelet port then presents a cluster-CA certificate for its IP", async () => {
  const c = cluster();
  const ca = readFileSync(c.caFile, "utf8");
  const name = nodeName("serving");
  names.push(name);
  const ip = `127.0.${10 + Math.floor(Math.random() * 200)}.${10 + Math.floor(Math.random() * 200)}`;
  const port = await freePort(ip);
  const certDir = join(mkdtempSync(join(tmpdir(), "pk-e2e-certs-")), "pki");
  let node = await runNode(name, { nodeIp: ip, kubeletPort: port, certDir, keepLogs: 200 });
  nodes.push(node);

  // Before the CSR is issued the listener has only a self-signed certificate, which the cluster CA refuses.
  const line = await eventually("the serving certificate installed", () => node.logs.find((l) => /serving certificate from CSR csr-\w+: valid until/.test(l)), 60_000);
  const csrName = /CSR (csr-\w+)/.exec(line)![1];
  const csr = await kubectl(["get", "csr", csrName, "-o", "json"]);
  assert.equal(csr.spec.signerName, "kubernetes.io/kubelet-serving");
  assert.equal(csr.spec.username, `system:node:${name}`);
  assert.deepEqual([...csr.spec.usages].sort(), ["digital signature", "server auth"]);
  const approved = csr.status.conditions.find((x: any) => x.type === "Approved");
  assert.equal(approved?.status, "True");
  const issued = new crypto.X509Certificate(Buffer.from(csr.status.certificate, "base64"));
  assert.ok(issued.checkIssued(new crypto.X509Certificate(ca)), "issued by the cluster CA");
  assert.match(issued.subject, new RegExp(`CN=system:node:${name}`));
  assert.match(issued.subjectAltName ?? "", new RegExp(`DNS:${name}`));
  assert.match(issued.subjectAltName ?? "", new RegExp(`IP Address:${ip.replace(/\./g, "\\.")}`));
  const csrFromNode = Buffer.from(csr.spec.request, "base64").toString("utf8");
  assert.match(csrFromNode, /^-----BEGIN CERTIFICATE REQUEST-----/);

  const peer = await eventually("the listener presenting the issued certificate", async () => {
    const p = await presented(ip, port, ca).catch(() => null);
    return p && p.fingerprint256 === issued.fingerprint256 ? p : null;
  }, 10_000);
  assert.equal(peer.subject.CN, `system:node:${name}`);
  const file = join(certDir, "kubelet-server-current.pem");
  assert.equal(statSync(file).mode & 0o777, 0o600);

  // kube-apiserver verifies the kubelet with the cluster CA: its `kubectl logs` connection gets through the
  // handshake to the core (whatever the route answers), and no x509 error comes back.
  const pod = `${name}-logs`;
  await kubectl(["run", pod, "--image=registry.invalid/none", "--restart=Never",
    `--overrides={"spec":{"nodeName":"${name}","tolerations":[{"operator":"Exists"}]}}`]);
  try {
    const accepted = node.stat(Stat.ACCEPTED);
    let err = "";
    await kubectl(["logs", pod, "--request-timeout=10s"]).catch((e: Error & { stderr?: string }) => (err = String(e.stderr ?? e.message)));
    // Today's minimal server answers 404 ("the server could not find the requested resource"): that answer
    // came from the node, through a verified connection. No TLS or dial error.
    assert.doesNotMatch(err, /x509|certificate|tls|dial|connection refused|not allowed/i, err);
    assert.ok(node.stat(Stat.ACCEPTED) > accepted, "the API server's connection reached the node");
  } finally {
    await kubectl(["delete", "pod", pod, "--grace-period=0", "--force", "--wait=false"]).catch(() => {});
  }

  // `kubectl get csr` shows it approved and issued, as an administrator sees it.
  const table = await kubectl(["get", "csr", csrName]);
  assert.match(table, /Approved,Issued/);

  // A restart with the same --cert-dir: the stored certificate at once, and no new CSR.
  const before = (await kubectl(["get", "csr", "-o", "json"])).items.filter((x: any) => x.spec.username === `system:node:${name}`).length;
  await node.stop();
  node = await runNode(name, { nodeIp: ip, kubeletPort: port, certDir, keepLogs: 200 });
  nodes.push(node);
  await eventually("the stored certificate used", () => node.logs.find((l) => /serving certificate from an earlier run: valid until/.test(l)), 30_000);
  const again = await presented(ip, port, ca);
  assert.equal(again.fingerprint256, issued.fingerprint256);
  const afterRestart = (await kubectl(["get", "csr", "-o", "json"])).items.filter((x: any) => x.spec.username === `system:node:${name}`).length;
  assert.equal(afterRestart, before, "no new CSR after the restart");
});
