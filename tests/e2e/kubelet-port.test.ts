/**
 * The kubelet port end to end (issue 10), against the real control plane: a node in host-sim serves it on
 * its own loopback address with a serving certificate issued through a kubelet-serving CSR; the API server
 * reaches it for `kubectl logs` (verifying that certificate, --kubelet-certificate-authority, and presenting
 * its kubelet client certificate), metrics-server scrapes it for `kubectl top`. Every request is
 * authenticated (a client certificate the host verified against the cluster CA, or a bearer token through a
 * TokenReview) and authorized by SubjectAccessReview on nodes/<subresource>. Exec is refused with its reason.
 *
 * The API server's node proxy (`kubectl get --raw /api/v1/nodes/<n>/proxy/...`) dials only global-unicast
 * addresses, never loopback (tests/cluster/kubelet-client.test.mjs shows the 400), so /healthz, /metrics,
 * /pods and /metrics/resource are requested here straight at the kubelet port, as the API server's own
 * kubelet client identity (the same user and certificate the node proxy would present). Through the node
 * proxy itself: tests/e2e/node-proxy.test.ts, with a node in a network namespace of its own.
 */
import { describe, test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import https from "node:https";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { cluster, eventually, kubectl, nodeName, removeNode, runNode, userKubeconfig } from "./support.js";
import type { SimNode } from "../../host-sim/src/index.js";

const c = cluster();
const dir = mkdtempSync(join(tmpdir(), "pk-kport-"));
const ip = `127.0.${100 + Math.floor(Math.random() * 100)}.${1 + Math.floor(Math.random() * 250)}`;
const name = nodeName("kport");
const ns = `ns-${name}`;
let sim: SimNode;
let port = 0;

/** The API server's kubelet client identity, as the node proxy would present it. */
const apiserverIdentity = { cert: readFileSync(c.kubeletClient.certFile, "utf8"), key: readFileSync(c.kubeletClient.keyFile, "utf8") };

interface Answer { status: number; headers: Record<string, string | string[] | undefined>; body: string }

/** One request straight at the node's kubelet port, its serving certificate verified against the cluster CA. */
function kubelet(path: string, auth: { cert?: string; key?: string; token?: string } = {}, method = "GET"): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {};
    if (auth.token) headers.Authorization = `Bearer ${auth.token}`;
    const req = https.request({ host: ip, port, path, method, headers, ca: c.caPEM, cert: auth.cert, key: auth.key, agent: false, timeout: 15_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${path}: timeout`)));
    req.on("error", reject);
    req.end();
  });
}

/** A port free on `host` right now. */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, host, () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** The certificate the kubelet port presents right now. */
function servingCertificate(): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: ip, port, rejectUnauthorized: false }, () => {
      const raw = s.getPeerCertificate().raw;
      s.end();
      resolve(new X509Certificate(raw));
    });
    s.on("error", reject);
  });
}

function apply(doc: any): Promise<any> {
  const f = join(dir, `${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(f, JSON.stringify(doc));
  return kubectl(["apply", "-f", f]);
}

const LOG_LINES = ["DOOM: E1M1 hangar loaded", "DOOM: an imp appears", "DOOM: rip and tear"];

/** A theater pod bound to the node; `script` and `restartPolicy` decide how its container runs. */
async function theaterPod(pod: string, script: string, restartPolicy = "Always"): Promise<void> {
  await apply({
    apiVersion: "v1", kind: "Pod",
    metadata: { name: pod, namespace: ns, annotations: { "picokubelet.dev/script": script, "picokubelet.dev/log": LOG_LINES.join("\n") } },
    spec: {
      nodeName: name, restartPolicy, terminationGracePeriodSeconds: 1,
      tolerations: [{ key: "picokubelet.dev/no-containers", operator: "Exists" }],
      containers: [{ name: "app", image: "registry.example/doom:1.0" }],
    },
  });
}

async function podPhase(pod: string): Promise<string> {
  return (await kubectl(["-n", ns, "get", "pod", pod, "-o", "json"])).status?.phase ?? "";
}

/** `kubectl` whose stdout is read as it arrives: each line with the time it came. */
function kubectlStream(args: string[]): { lines: { at: number; text: string }[]; exited: Promise<number | null>; stop: () => void; stderr: () => string } {
  const p = spawn(c.kubectl, args, { env: { ...process.env, KUBECONFIG: c.adminKubeconfig } });
  const lines: { at: number; text: string }[] = [];
  let partial = "";
  let err = "";
  p.stdout.setEncoding("utf8");
  p.stdout.on("data", (d: string) => {
    const parts = (partial + d).split("\n");
    partial = parts.pop()!;
    for (const t of parts) lines.push({ at: Date.now(), text: t });
  });
  p.stderr.on("data", (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => p.on("exit", (code) => resolve(code)));
  return { lines, exited, stop: () => p.kill("SIGTERM"), stderr: () => err };
}

/** An RFC 3339 timestamp at the start of a `--timestamps` line, in ms. */
function stampOf(line: string): number {
  const m = line.match(/^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z) /);
  assert.ok(m, `no timestamp in ${JSON.stringify(line)}`);
  return Date.parse(m[1]);
}

before(async () => {
  port = await freePort(ip);
  sim = await runNode(name, {
    nodeIp: ip, kubeletPort: port,
    coreConfig: { renewIntervalMs: 2000, capacity: { cpu: "240m", memory: "320Ki", pods: "8" } },
  });
  await kubectl(["wait", "--for=condition=Ready", `node/${name}`, "--timeout=60s"]);
  await kubectl(["create", "namespace", ns]);
});

after(async () => {
  await sim?.stop({ timeoutMs: 5_000 }).catch(() => undefined);
  await kubectl(["delete", "namespace", ns, "--ignore-not-found", "--wait=false"]).catch(() => undefined);
  await removeNode(name);
});

describe("the kubelet port of a node on the real control plane", () => {
  test("serves with a certificate from an approved kubelet-serving CSR, for the node's name and address, advertised in daemonEndpoints", async () => {
    const ca = new X509Certificate(c.caPEM);
    const crt = await eventually("a serving certificate issued by the cluster CA", async () => {
      const x = await servingCertificate();
      return x.checkIssued(ca) && x.verify(ca.publicKey) ? x : null;
    }, 60_000);
    assert.match(crt.subject, /CN=system:node:/);
    assert.ok(crt.subject.includes(`CN=system:node:${name}`), crt.subject);
    assert.ok(crt.subject.includes("O=system:nodes"), crt.subject);
    assert.ok((crt.subjectAltName ?? "").includes(`IP Address:${ip}`), crt.subjectAltName);
    const csrs = await kubectl(["get", "csr", "-o", "json"]);
    const mine = csrs.items.filter((x: any) => x.spec.signerName === "kubernetes.io/kubelet-serving" && x.spec.username === `system:node:${name}`);
    assert.ok(mine.length >= 1, "no kubelet-serving CSR of the node");
    assert.ok(mine.some((x: any) => x.status.conditions?.some((k: any) => k.type === "Approved" && k.status === "True") && x.status.certificate), JSON.stringify(mine.map((x: any) => x.status)));
    const node = await kubectl(["get", "node", name, "-o", "json"]);
    assert.equal(node.status.daemonEndpoints?.kubeletEndpoint?.Port, port);
    assert.ok(node.status.addresses.some((a: any) => a.type === "InternalIP" && a.address === ip), JSON.stringify(node.status.addresses));
  });

  test("`kubectl logs` of a theater pod: the honest first line and the annotation's lines", async () => {
    await theaterPod("logs", "logEvery=500ms");
    await eventually("pod logs Running", async () => (await podPhase("logs")) === "Running", 60_000);
    const out: string = await eventually("three log lines", async () => {
      const o: string = await kubectl(["-n", ns, "logs", "logs", "-c", "app"]);
      return o.split("\n").filter(Boolean).length >= 4 ? o : null;
    }, 30_000);
    const lines = out.split("\n").filter(Boolean);
    assert.equal(lines[0], "picokubelet: container app started; it is theater: no process runs on this node");
    assert.deepEqual(lines.slice(1, 4), LOG_LINES);
  });

  test("`kubectl logs -f`: lines arrive as the script prints them, one every logEvery", async () => {
    await theaterPod("follow", "logEvery=1s");
    await eventually("pod follow Running", async () => (await podPhase("follow")) === "Running", 60_000);
    const f = kubectlStream(["-n", ns, "logs", "-f", "--timestamps", "follow", "-c", "app"]);
    try {
      await eventually("the first line", () => f.lines.length >= 1 || f.stderr().length > 0, 20_000, 50);
      assert.ok(f.lines.length >= 1, `kubectl logs -f: ${f.stderr()}`);
      const initial = f.lines.length;
      await eventually("three more lines while following", () => f.lines.length >= initial + 3 || f.stderr().length > 0, 20_000, 50);
      const later = f.lines.slice(initial, initial + 3);
      assert.equal(later.length, 3, `kubectl logs -f: ${f.stderr()}`);
      // One a second, not all at once: the three came over about two seconds.
      assert.ok(later[2].at - later[0].at >= 1_200, `arrived at ${later.map((l) => l.at - later[0].at).join(", ")} ms`);
      for (const l of later) {
        // Each carries the time the script printed it, just before it arrived.
        const stamp = stampOf(l.text);
        assert.ok(Math.abs(l.at - stamp) < 3_000, `line stamped ${new Date(stamp).toISOString()} arrived ${new Date(l.at).toISOString()}`);
        assert.ok(LOG_LINES.includes(l.text.replace(/^\S+ /, "")), l.text);
      }
    } finally {
      f.stop();
      await f.exited;
    }
  });

  test("`kubectl logs -f` ends by itself when the container exits; `--tail=N` gives the last N lines", async () => {
    await theaterPod("short", "run=4s,logEvery=1s", "Never");
    await eventually("pod short Running", async () => (await podPhase("short")) === "Running", 60_000);
    const f = kubectlStream(["-n", ns, "logs", "-f", "short", "-c", "app"]);
    const code = await Promise.race([f.exited, new Promise<string>((r) => setTimeout(() => r("still following"), 30_000))]);
    if (code === "still following") f.stop();
    assert.equal(code, 0, `kubectl logs -f: ${code}; ${f.stderr()}`);
    const followed = f.lines.map((l) => l.text);
    assert.equal(followed.at(-1), "picokubelet: exited with code 0", followed.join("\n"));
    await eventually("pod short Succeeded", async () => (await podPhase("short")) === "Succeeded", 30_000);
    const full = (await kubectl(["-n", ns, "logs", "short", "-c", "app"])).split("\n").filter(Boolean);
    assert.deepEqual(full, followed);
    assert.ok(full.length >= 4, full.join("\n"));
    for (const n of [1, 2, 3]) {
      const tail = (await kubectl(["-n", ns, "logs", `--tail=${n}`, "short", "-c", "app"])).split("\n").filter(Boolean);
      assert.deepEqual(tail, full.slice(-n), `--tail=${n}`);
    }
    assert.equal(await kubectl(["-n", ns, "logs", "--tail=0", "short", "-c", "app"]), "");
  });

  test("/healthz, /metrics, /pods and /metrics/resource, as the API server's kubelet client identity", async () => {
    const h = await kubelet("/healthz", apiserverIdentity);
    assert.equal(h.status, 200, h.body);
    assert.equal(h.body, "ok");
    const m = await kubelet("/metrics", apiserverIdentity);
    assert.equal(m.status, 200, m.body);
    assert.match(String(m.headers["content-type"]), /^text\/plain; version=0\.0\.4/);
    assertPrometheusText(m.body);
    const p = await kubelet("/pods", apiserverIdentity);
    assert.equal(p.status, 200, p.body);
    const list = JSON.parse(p.body);
    assert.equal(list.kind, "PodList");
    assert.ok(list.items.some((x: any) => x.metadata.name === "logs" && x.metadata.namespace === ns), p.body.slice(0, 500));
    const r = await kubelet("/metrics/resource", apiserverIdentity);
    assert.equal(r.status, 200, r.body);
    assertPrometheusText(r.body);
    for (const series of ["node_cpu_usage_seconds_total", "node_memory_working_set_bytes", "container_cpu_usage_seconds_total", "container_memory_working_set_bytes", "container_start_time_seconds"]) {
      assert.match(r.body, new RegExp(`^${series}(\\{[^}]*\\})? `, "m"), `${series} missing:\n${r.body}`);
    }
    const start = r.body.split("\n").filter((l) => l.startsWith("container_start_time_seconds{"));
    assert.ok(start.some((l) => [`container="app"`, `pod="logs"`, `namespace="${ns}"`].every((x) => l.includes(x))), start.join("\n"));
  });

  test("`kubectl top node` and `kubectl top pod` through metrics-server", async () => {
    const top = await eventually("kubectl top node", async () => {
      const o: string = await kubectl(["top", "node", name, "--no-headers"]);
      return o.trim() ? o : null;
    }, 120_000, 2_000);
    assert.match(top, new RegExp(`^${name}\\s+\\d+m\\s+\\d+%\\s+\\d+(Ki|Mi)\\s+\\d+%`), top);
    const pods = await eventually("kubectl top pod", async () => {
      const o: string = await kubectl(["-n", ns, "top", "pod", "logs", "--no-headers"]);
      return o.trim() ? o : null;
    }, 120_000, 2_000);
    assert.match(pods, /^logs\s+\d+m\s+\d+(Ki|Mi)/, pods);
  });

  test("`kubectl exec` is refused with the reason: no process runs here", async () => {
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const p = spawn(c.kubectl, ["-n", ns, "exec", "logs", "-c", "app", "--", "sh"], { env: { ...process.env, KUBECONFIG: c.adminKubeconfig } });
      let stderr = "";
      p.stderr.on("data", (d) => (stderr += d));
      p.on("exit", (code) => resolve({ code, stderr }));
    });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /picokubelet: exec needs a running process/, r.stderr);
  });

  test("no credentials: 401 Unauthorized; a bad bearer token: 401", async () => {
    for (const path of ["/healthz", "/pods", "/metrics", `/containerLogs/${ns}/logs/app`]) {
      const r = await kubelet(path);
      assert.equal(r.status, 401, `${path}: ${r.status} ${r.body}`);
      assert.match(r.body, /^Unauthorized/);
    }
    const bad = await kubelet("/pods", { token: "not-a-token" });
    assert.equal(bad.status, 401, bad.body);
  });

  test("a client certificate of a user without RBAC: 403 naming the user, verb and subresource", async () => {
    const user = `pk-nobody-${Math.random().toString(36).slice(2, 7)}`;
    const kc = readFileSync(userKubeconfig(user), "utf8");
    const b64 = (k: string): string => Buffer.from(kc.match(new RegExp(`${k}: (\\S+)`))![1], "base64").toString("utf8");
    const auth = { cert: b64("client-certificate-data"), key: b64("client-key-data") };
    for (const [path, sub] of [["/metrics", "metrics"], ["/metrics/resource", "metrics"], [`/containerLogs/${ns}/logs/app`, "proxy"], ["/stats/summary", "stats"]]) {
      const r = await kubelet(path, auth);
      assert.equal(r.status, 403, `${path}: ${r.status} ${r.body}`);
      assert.equal(r.body.trim(), `Forbidden (user=${user}, verb=get, resource=nodes, subresource=${sub})`);
    }
  });

  test("a ServiceAccount bearer token: 403 without RBAC, 200 bound to system:kubelet-api-admin", async () => {
    await kubectl(["-n", ns, "create", "serviceaccount", "nobody"]);
    await kubectl(["-n", ns, "create", "serviceaccount", "reader"]);
    await kubectl(["create", "clusterrolebinding", `${ns}-reader`, "--clusterrole=system:kubelet-api-admin", `--serviceaccount=${ns}:reader`]);
    try {
      const nobody = (await kubectl(["-n", ns, "create", "token", "nobody", "--duration", "10m"])).trim();
      const reader = (await kubectl(["-n", ns, "create", "token", "reader", "--duration", "10m"])).trim();
      const denied = await kubelet("/metrics", { token: nobody });
      assert.equal(denied.status, 403, denied.body);
      assert.equal(denied.body.trim(), `Forbidden (user=system:serviceaccount:${ns}:nobody, verb=get, resource=nodes, subresource=metrics)`);
      const allowed = await kubelet("/metrics", { token: reader });
      assert.equal(allowed.status, 200, allowed.body);
      assertPrometheusText(allowed.body);
      const logs = await kubelet(`/containerLogs/${ns}/logs/app?tailLines=1`, { token: reader });
      assert.equal(logs.status, 200, logs.body);
      assert.equal(logs.body.split("\n").filter(Boolean).length, 1, logs.body);
    } finally {
      await kubectl(["delete", "clusterrolebinding", `${ns}-reader`, "--ignore-not-found"]).catch(() => undefined);
    }
  });
});

/** Prometheus text exposition: HELP/TYPE comments and `name{labels} value [timestamp]` samples, at least one. */
function assertPrometheusText(body: string): void {
  const lines = body.split("\n").filter(Boolean);
  let samples = 0;
  for (const l of lines) {
    if (l.startsWith("# HELP ") || l.startsWith("# TYPE ")) continue;
    assert.match(l, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (-?[0-9.eE+-]+|[+-]?Inf|NaN)( -?\d+)?$/, `not a Prometheus sample: ${l}`);
    samples++;
  }
  assert.ok(samples > 0, `no samples:\n${body}`);
}
