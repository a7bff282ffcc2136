/**
 * The kubelet port through the ABI, against the fake API server's TokenReview and SubjectAccessReview:
 * authentication (client certificate, bearer token, neither), authorization per nodes/<subresource> with
 * its cache and the fine-grained fallback, and the routes (healthz, pods, metrics, metrics/resource,
 * containerLogs with its options and follow, exec). The same flows against the real control plane are in
 * tests/e2e/kubelet-port.test.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { CoreHarness, Phase, Stat } from "../support/core-harness.js";

const PORT = 10250;
const ADMIN = "CN=kube-apiserver-kubelet-client\nO=kubelet-api-admins\n";
const SAR = "/apis/authorization.k8s.io/v1/subjectaccessreviews";
const TR = "/apis/authentication.k8s.io/v1/tokenreviews";

async function serving(extra: Record<string, unknown> = {}): Promise<CoreHarness> {
  const h = await CoreHarness.running({ config: { kubeletPort: PORT, ...extra } });
  assert.equal(h.stat(Stat.LISTEN_PORT), PORT);
  return h;
}

function get(path: string, headers = ""): string {
  return `GET ${path} HTTP/1.1\r\nHost: 10.42.0.7:10250\r\n${headers}\r\n`;
}

/** One request on a fresh connection; returns the answer once the connection is idle again. */
function request(h: CoreHarness, ident: string, req: string, ms = 200): { status: number; head: string; body: string; text: string } {
  const c = h.accept(PORT, ident);
  h.clientSend(c, req);
  h.run(ms);
  const answer = parse(h.servedText(c));
  h.clientClose(c);
  return answer;
}

/** Splits an answer into status, head and (de-chunked) body. */
function parse(text: string): { status: number; head: string; body: string; text: string } {
  const end = text.indexOf("\r\n\r\n");
  assert.ok(end > 0, `a whole head: ${JSON.stringify(text.slice(0, 200))}`);
  const head = text.slice(0, end);
  let rest = text.slice(end + 4);
  let body = rest;
  if (/Transfer-Encoding: chunked/.test(head)) {
    body = "";
    for (;;) {
      const nl = rest.indexOf("\r\n");
      if (nl < 0) break;
      const n = parseInt(rest.slice(0, nl), 16);
      if (n === 0) break;
      body += rest.slice(nl + 2, nl + 2 + n);
      rest = rest.slice(nl + 2 + n + 2);
    }
  }
  return { status: Number(head.split(" ")[1]), head, body: Buffer.from(body, "latin1").toString("utf8"), text };
}

function sars(h: CoreHarness): any[] {
  return h.server.seen("POST", SAR).map((r) => JSON.parse(r.body).spec);
}

function pod(name: string, annotations: Record<string, string> = {}): any {
  return {
    metadata: { name, namespace: "default", annotations },
    spec: { nodeName: "pico-test", containers: [{ name: "app", image: "registry.example/doom:1.0" }] },
  };
}

test("kubelet port: no client certificate and no token is 401; nothing is asked of the API server", async () => {
  const h = await serving();
  const a = request(h, "", get("/healthz"));
  assert.equal(a.status, 401);
  assert.equal(a.body, "Unauthorized\n");
  const b = request(h, "", get("/healthz", "Authorization: Basic dXNlcjpwdw==\r\n"));
  assert.equal(b.status, 401, "another scheme is not a bearer token");
  assert.equal(h.server.seen("POST", TR).length, 0);
  assert.equal(h.server.seen("POST", SAR).length, 0);
});

test("kubelet port: a client certificate's identity is authorized with a SubjectAccessReview, then cached", async () => {
  const h = await serving();
  const a = request(h, ADMIN, get("/healthz"));
  assert.equal(a.status, 200);
  assert.equal(a.body, "ok");
  const spec = sars(h);
  assert.equal(spec.length, 1);
  assert.equal(spec[0].user, "kube-apiserver-kubelet-client");
  assert.deepEqual(spec[0].groups, ["kubelet-api-admins", "system:authenticated"]);
  assert.deepEqual(spec[0].resourceAttributes, { verb: "get", resource: "nodes", subresource: "healthz", name: "pico-test" });
  // The decision is cached: a second request asks nothing.
  assert.equal(request(h, ADMIN, get("/healthz")).status, 200);
  assert.equal(sars(h).length, 1);
  // Another subresource is another question.
  assert.equal(request(h, ADMIN, get("/metrics")).status, 200);
  assert.equal(sars(h)[1].resourceAttributes.subresource, "metrics");
  assert.equal(request(h, ADMIN, get("/containerLogs/default/x/y")).status, 404);
  assert.equal(sars(h)[2].resourceAttributes.subresource, "proxy");
});

test("kubelet port: denied is 403 with the attributes; a fine-grained denial falls back to nodes/proxy", async () => {
  const h = await serving();
  h.server.authorize = (user, verb, sub) => (user === "nobody" ? "no RBAC for nobody" : sub === "proxy");
  const a = request(h, "CN=nobody\n", get("/metrics"));
  assert.equal(a.status, 403);
  assert.equal(a.body, "Forbidden (user=nobody, verb=get, resource=nodes, subresource=metrics)\n");
  // healthz is denied, proxy allowed: served.
  const b = request(h, "CN=proxier\n", get("/healthz"));
  assert.equal(b.status, 200);
  assert.deepEqual(sars(h).slice(1).map((s) => s.resourceAttributes.subresource), ["healthz", "proxy"]);
  // Both denied: the 403 names the subresource asked for first.
  const c = request(h, "CN=nobody\n", get("/pods"));
  assert.equal(c.status, 403);
  assert.match(c.body, /subresource=pods\)/);
  assert.equal(h.stat(Stat.PHASE), Phase.RUNNING);
});

test("kubelet port: a bearer token is reviewed (TokenReview), its user authorized; a bad one is 401", async () => {
  const h = await serving();
  h.server.tokens.set("sa-token-1", { username: "system:serviceaccount:default:reader", groups: ["system:serviceaccounts", "system:authenticated"] });
  h.server.authorize = (user) => user === "system:serviceaccount:default:reader";
  const a = request(h, "", get("/healthz", "Authorization: Bearer sa-token-1\r\n"));
  assert.equal(a.status, 200);
  const tr = h.server.seen("POST", TR);
  assert.equal(tr.length, 1);
  assert.deepEqual(JSON.parse(tr[0].body).spec, { token: "sa-token-1" });
  assert.equal(sars(h)[0].user, "system:serviceaccount:default:reader");
  assert.deepEqual(sars(h)[0].groups, ["system:serviceaccounts", "system:authenticated"]);
  // Cached: no second TokenReview.
  assert.equal(request(h, "", get("/healthz", "authorization:   bearer  sa-token-1 \r\n")).status, 200);
  assert.equal(h.server.seen("POST", TR).length, 1);
  const b = request(h, "", get("/healthz", "Authorization: Bearer forged\r\n"));
  assert.equal(b.status, 401);
  // Tokens are never logged.
  assert.equal(h.logs.filter((l) => l.text.includes("sa-token-1") || l.text.includes("forged")).length, 0);
});

test("kubelet port: a review that fails is 500 (authz) or 401 (authn) and is not cached; an API server that never answers is 503", async () => {
  const h = await serving();
  h.server.faults.push({ match: (r) => r.path === SAR, action: { kind: "status", status: 500 } });
  const a = request(h, ADMIN, get("/healthz"));
  assert.equal(a.status, 500);
  assert.match(a.body, /^Authorization error \(user=kube-apiserver-kubelet-client, verb=get, resource=nodes, subresource=healthz\)/);
  assert.equal(request(h, ADMIN, get("/healthz")).status, 200, "not cached: asked again");
  h.server.faults.push({ match: (r) => r.path === TR, action: { kind: "garbage" } });
  assert.equal(request(h, "", get("/healthz", "Authorization: Bearer t\r\n"), 2_000).status, 401);
  // An API server that does not answer: the review request times out (500).
  h.server.faults.push({ match: (r) => r.path === SAR, action: { kind: "silent" } });
  const renewals = h.stat(Stat.RENEWALS);
  assert.equal(request(h, "CN=other\n", get("/metrics"), 16_000).status, 500);
  assert.ok(h.stat(Stat.RENEWALS) > renewals, "renewals went on meanwhile");
  // No link: nothing can be asked; the client gets 503 after the review deadline.
  h.linkDown();
  assert.equal(request(h, "CN=third\n", get("/metrics"), 16_000).status, 503);
});

test("kubelet port: garbage, wrong types and huge answers from the review endpoints never trap", async () => {
  const h = await serving();
  const bodies = ['{"status":{"allowed":"yes"}}', '{"status":[1,2]}', "[", '{"status":{"allowed":true,"reason":' + '"r'.repeat(1) + "x".repeat(5000) + '"}}', "null", '{"status":{"allowed":false,"denied":true}}'];
  for (const b of bodies) {
    h.server.faults.push({ match: (r) => r.path === SAR, action: { kind: "status", status: 201, body: b } });
    const a = request(h, `CN=u${bodies.indexOf(b)}\n`, get("/metrics"));
    assert.ok([200, 403, 500].includes(a.status), `${b.slice(0, 40)}: ${a.status}`);
    if (b.includes("denied") || b.includes("[")) assert.notEqual(a.status, 200, b);
  }
  assert.equal(h.stat(Stat.PHASE), Phase.RUNNING);
});

test("kubelet port: /pods lists the pods with their status; /metrics is Prometheus text", async () => {
  const h = await serving();
  const p = h.server.addPod(pod("doom"));
  h.runUntil(() => p.status?.phase === "Running", 10_000);
  const a = request(h, ADMIN, get("/pods"));
  assert.equal(a.status, 200);
  assert.match(a.head, /Content-Type: application\/json/);
  const list = JSON.parse(a.body);
  assert.equal(list.kind, "PodList");
  assert.equal(list.items.length, 1);
  assert.equal(list.items[0].metadata.name, "doom");
  assert.equal(list.items[0].metadata.uid, p.metadata.uid);
  assert.equal(list.items[0].status.phase, "Running");
  assert.equal(list.items[0].spec.containers[0].image, "registry.example/doom:1.0");
  const m = request(h, ADMIN, get("/metrics"));
  assert.equal(m.status, 200);
  assert.match(m.head, /Content-Type: text\/plain; version=0\.0\.4/);
  for (const line of m.body.trimEnd().split("\n")) {
    assert.match(line, /^(# (HELP|TYPE) [a-z_]+ .+|[a-z_]+(\{[^}]*\})? -?[0-9.+Inf]+)$/, line);
  }
  assert.match(m.body, /^picokubelet_node_status_pushes_total [1-9]/m);
  assert.match(m.body, /^picokubelet_pods\{phase="Running"\} 1$/m);
  assert.match(m.body, /^picokubelet_http_request_duration_seconds_count [1-9]/m);
  assert.match(m.body, /^picokubelet_server_requests_total 2$/m);
  assert.match(m.body, /^picokubelet_node_condition\{condition="Ready",status="True"\} 1$/m);
});

test("kubelet port: /metrics/resource has the series metrics-server reads once the host reported CPU time", async () => {
  const h = await serving();
  const p = h.server.addPod(pod("doom"));
  h.runUntil(() => p.status?.phase === "Running", 10_000);
  let r = request(h, ADMIN, get("/metrics/resource"));
  assert.equal(r.status, 200);
  assert.doesNotMatch(r.body, /^node_cpu_usage_seconds_total/m, "no CPU figure before the host measured one");
  const cpu = (us: bigint) => h.call(() => h.exports.on_cpu!(BigInt(h.now), us));
  cpu(1_500_000n);
  h.run(1000);
  cpu(2_500_000n);
  r = request(h, ADMIN, get("/metrics/resource"));
  const wall = h.stat(Stat.WALL_MS);
  const line = (name: string) => r.body.split("\n").find((l) => l.startsWith(name + " ") || l.startsWith(name + "{"));
  assert.match(line("node_cpu_usage_seconds_total")!, /^node_cpu_usage_seconds_total 2\.500000 \d+$/);
  assert.match(line("node_memory_working_set_bytes")!, /^node_memory_working_set_bytes [1-9]\d* \d+$/);
  const used = line("container_cpu_usage_seconds_total")!;
  // The whole first report is charged (the pod ran), then the second's increase: all of it, one pod.
  assert.match(used, /^container_cpu_usage_seconds_total\{container="app",namespace="default",pod="doom"\} 2\.500000 \d+$/);
  assert.ok(Math.abs(Number(used.split(" ")[2]) - wall) < 5_000, "timestamps are wall ms");
  assert.match(line("container_memory_working_set_bytes")!, /\} [1-9]\d* \d+$/);
  assert.match(line("container_start_time_seconds")!, /\} 1\d{9} \d+$/);
  assert.match(r.body, /^scrape_error 0$/m);
});

test("kubelet port: containerLogs with tailLines, timestamps, limitBytes, sinceSeconds and previous", async () => {
  const h = await serving();
  const p = h.server.addPod(pod("doom", { "picokubelet.dev/script": "logEvery=1s", "picokubelet.dev/log": "E1M1\nE1M2" }));
  h.runUntil(() => p.status?.phase === "Running", 10_000);
  h.run(10_500);
  const all = request(h, ADMIN, get("/containerLogs/default/doom/app"));
  assert.equal(all.status, 200);
  const lines = all.body.trimEnd().split("\n");
  assert.match(lines[0], /^picokubelet: container app started/);
  assert.deepEqual(lines.slice(1, 4), ["E1M1", "E1M2", "E1M1"]);
  assert.ok(lines.length >= 10, `${lines.length} lines`);
  const tail = request(h, ADMIN, get("/containerLogs/default/doom/app?tailLines=2"));
  assert.equal(tail.body.trimEnd().split("\n").length, 2);
  assert.deepEqual(tail.body.trimEnd().split("\n"), lines.slice(-2));
  const ts = request(h, ADMIN, get("/containerLogs/default/doom/app?timestamps=true&tailLines=1"));
  assert.match(ts.body, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z \S/);
  const limited = request(h, ADMIN, get("/containerLogs/default/doom/app?limitBytes=7"));
  assert.equal(limited.body, "picokub");
  const since = request(h, ADMIN, get("/containerLogs/default/doom/app?sinceSeconds=3"));
  const n = since.body.trimEnd().split("\n").length;
  assert.ok(n >= 2 && n <= 4, `${n} lines in the last 3 s`);
  assert.equal(request(h, ADMIN, get("/containerLogs/default/doom/app?tailLines=x")).status, 400);
  assert.equal(request(h, ADMIN, get("/containerLogs/default/doom/app?previous=true")).status, 400, "no previous run");
  assert.equal(request(h, ADMIN, get("/containerLogs/default/doom/nope")).status, 404);
  assert.equal(request(h, ADMIN, get("/containerLogs/default/ghost/app")).status, 404);
  // HEAD: the head alone.
  const c = h.accept(PORT, ADMIN);
  h.clientSend(c, "HEAD /containerLogs/default/doom/app HTTP/1.1\r\nHost: n\r\n\r\n");
  h.run(100);
  assert.match(h.servedText(c), /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\n$/);
});

test("kubelet port: follow streams each line when the script produces it, through a client that reads slowly", async () => {
  const h = await serving();
  const p = h.server.addPod(pod("doom", { "picokubelet.dev/script": "logEvery=2s,run=20s,exit=3", "picokubelet.dev/log": "frag" }));
  h.runUntil(() => p.status?.phase === "Running", 10_000);
  const c = h.accept(PORT, ADMIN);
  h.sendBudget = 64;
  h.clientSend(c, get("/containerLogs/default/doom/app?follow=true"));
  h.run(500);
  const count = () => (parse(h.servedText(c)).body.match(/\n/g) ?? []).length;
  const first = count();
  assert.ok(first >= 1, "the lines so far at once");
  h.run(2_000);
  assert.equal(count(), first + 1, "one more line two seconds later");
  h.run(4_000);
  assert.equal(count(), first + 3);
  assert.equal(h.served.get(c)!.closed, false, "still following");
  h.runUntil(() => /0\r\n\r\n$/.test(h.servedText(c)), 30_000);
  const body = parse(h.servedText(c)).body;
  assert.match(body, /picokubelet: exited with code 3\n$/, "the stream ends with the run");
  assert.equal((body.match(/^frag$/gm) ?? []).length, 9, body);
  // What was followed is the ended run's log, line for line (no tick at the instant of the exit).
  h.sendBudget = 1 << 20;
  assert.equal(request(h, ADMIN, get("/containerLogs/default/doom/app?previous=true")).body, body);
});

test("kubelet port: exec, attach and port-forward say why they cannot work; unknown paths are 404", async () => {
  const h = await serving();
  const p = h.server.addPod(pod("doom"));
  h.runUntil(() => p.status?.phase === "Running", 10_000);
  const e = request(h, ADMIN, "POST /exec/default/doom/app?command=sh&input=1 HTTP/1.1\r\nHost: n\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n");
  assert.equal(e.status, 501);
  assert.match(e.body, /exec needs a running process, and this node runs none/);
  assert.equal(sars(h).at(-1).resourceAttributes.verb, "create");
  assert.equal(sars(h).at(-1).resourceAttributes.subresource, "proxy");
  assert.equal(request(h, ADMIN, get("/portForward/default/doom")).status, 501);
  assert.equal(request(h, ADMIN, get("/stats/summary")).status, 404);
});

test("kubelet port: the request parser never traps on bytes a client can send (fuzz)", async () => {
  const h = await serving();
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const pieces = ["GET ", "/containerLogs/", "default/doom/app", "?follow=1&tailLines=", "%zz", "9".repeat(20), " HTTP/1.1\r\n", "Host: a\r\n",
    "Authorization: Bearer ", "x".repeat(5000), "\r\n", "\x00\xff", "Transfer-Encoding: chunked\r\n", "Content-Length: 3\r\n\r\nabc", "\r\n\r\n"];
  for (let i = 0; i < 300; i++) {
    const c = h.accept(PORT, i % 3 === 0 ? ADMIN : "");
    let req = "";
    const n = 1 + Math.floor(rand() * 12);
    for (let j = 0; j < n; j++) req += pieces[Math.floor(rand() * pieces.length)];
    h.clientSend(c, req);
    h.run(20);
    h.clientClose(c);
  }
  h.run(20_000);
  assert.equal(h.stat(Stat.PHASE), Phase.RUNNING);
  assert.ok(h.stat(Stat.RENEWALS) >= 2, `renewals ${h.stat(Stat.RENEWALS)}`);
});

test("kubelet port: lease renewals keep their period while clients follow logs and scrape with reviews queued", async () => {
  const h = await serving({ maxServerConnections: 8 });
  const p = h.server.addPod(pod("doom", { "picokubelet.dev/script": "logEvery=1s" }));
  h.runUntil(() => p.status?.phase === "Running", 10_000);
  h.sendBudget = 512;
  // Two followers, and every 100 ms a scrape by a new identity (each one a SubjectAccessReview).
  for (let i = 0; i < 2; i++) h.clientSend(h.accept(PORT, ADMIN), get("/containerLogs/default/doom/app?follow=true"));
  const start = h.now;
  let n = 0;
  while (h.now - start < 60_000) {
    const c = h.accept(PORT, `CN=scraper-${n++}\n`);
    h.clientSend(c, get(n % 2 ? "/metrics" : "/metrics/resource"));
    h.run(100);
    h.clientClose(c);
  }
  const renews = h.server.seen("PATCH", /\/leases\/pico-test$/).map((r) => r.at).filter((t) => t >= start);
  assert.ok(renews.length >= 5, `${renews.length} renewals in a minute`);
  const gaps = renews.slice(1).map((t, i) => t - renews[i]);
  assert.ok(Math.max(...gaps) <= 10_500, `renewal gaps ${gaps.join(", ")} ms`);
  assert.ok(sars(h).length >= 500, `${sars(h).length} reviews asked meanwhile`);
});
