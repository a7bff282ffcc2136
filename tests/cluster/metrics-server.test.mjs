// metrics-server (issue 10 item 6): `up` starts it on 127.0.0.1 and registers it
// as the APIService v1beta1.metrics.k8s.io behind the aggregation layer. It
// scrapes each node's kubelet port over TLS, verified against the cluster CA:
// here a stand-in for a node's kubelet port (an HTTPS server in this test with a
// serving certificate obtained through a kubelet-serving CSR, as a node gets
// one) serves /metrics/resource, and its numbers come back from the metrics API.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CSR_PATH, addressesPatch, certificateRequest, condition, decidedCSR, issuedCertificate, postCSR } from './csr.mjs';
import { MERGE_PATCH, api, cleanup, cluster, clusterCli, kubectl, nodeManifest, readKubeconfig, readyStatusPatch, uniqueName, waitUntil } from './helpers.mjs';
import { cmdlineOf, listeningSockets } from './proc.mjs';

const ms = cluster.addons?.metricsServer;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pk-metrics-test-'));
const toDelete = [];
after(async () => {
  await cleanup(toDelete);
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('cluster.json and status name metrics-server; it listens on 127.0.0.1 only', () => {
  assert.ok(ms, 'cluster.json has no addons.metricsServer');
  assert.equal(ms.apiService, 'v1beta1.metrics.k8s.io');
  const socks = listeningSockets(cluster.pids['metrics-server']);
  assert.ok(socks.length > 0, 'metrics-server listens on nothing?');
  for (const s of socks) assert.match(s, /^127\.0\.0\.1:\d+$/, `metrics-server listens on ${s}`);
  assert.ok(socks.includes(new URL(ms.url).host), `${socks} lacks ${ms.url}`);
  const status = clusterCli(['status']);
  assert.equal(status.status, 0, status.stdout + status.stderr);
  assert.match(status.stdout, /^metrics-server +pid \d+ running/m);
});

test('metrics-server scrapes kubelets by InternalIP/Hostname at the node status port, verifying the cluster CA', () => {
  const argv = cmdlineOf(cluster.pids['metrics-server']);
  for (const flag of [
    '--kubelet-preferred-address-types=InternalIP,Hostname',
    '--kubelet-use-node-status-port',
    `--kubelet-certificate-authority=${cluster.caFile}`,
    '--bind-address=127.0.0.1',
  ]) {
    assert.ok(argv.includes(flag), `metrics-server lacks ${flag}: ${argv.join(' ')}`);
  }
  assert.ok(!argv.some((a) => a.startsWith('--kubelet-insecure-tls')), argv.join(' '));
});

test('kube-apiserver runs the aggregation layer with a front-proxy CA of its own', () => {
  const argv = cmdlineOf(cluster.pids['kube-apiserver']);
  const flag = (n) => argv.find((a) => a.startsWith(`--${n}=`))?.split('=').slice(1).join('=');
  const frontProxyCA = flag('requestheader-client-ca-file');
  assert.ok(frontProxyCA, argv.join(' '));
  assert.notEqual(frontProxyCA, cluster.caFile, 'the front-proxy CA must not be the cluster CA');
  assert.equal(flag('requestheader-allowed-names'), 'front-proxy-client');
  assert.ok(flag('proxy-client-cert-file'));
  const proxyClient = new X509Certificate(fs.readFileSync(flag('proxy-client-cert-file')));
  assert.ok(proxyClient.checkIssued(new X509Certificate(fs.readFileSync(frontProxyCA))));
});

test('the APIService v1beta1.metrics.k8s.io is Available and verified by caBundle, not skipped', async () => {
  const { stdout } = await kubectl(['get', 'apiservice', 'v1beta1.metrics.k8s.io', '-o', 'json']);
  const as = JSON.parse(stdout);
  const available = as.status.conditions.find((c) => c.type === 'Available');
  assert.equal(available?.status, 'True', JSON.stringify(as.status));
  assert.equal(as.spec.insecureSkipTLSVerify, undefined);
  assert.equal(Buffer.from(as.spec.caBundle, 'base64').toString('utf8').trim(), cluster.caPEM.trim());
  assert.deepEqual(as.spec.service, { namespace: 'kube-system', name: 'metrics-server', port: Number(new URL(ms.url).port) });
});

test('/apis/metrics.k8s.io/v1beta1/nodes answers through the API server', async () => {
  const { stdout } = await kubectl(['get', '--raw', '/apis/metrics.k8s.io/v1beta1/nodes']);
  const list = JSON.parse(stdout);
  assert.equal(list.kind, 'NodeMetricsList');
  assert.ok(Array.isArray(list.items));
});

test('a node identity may not read node metrics (delegated authorization at metrics-server)', async () => {
  const name = uniqueName('pk-metrics-reader');
  const out = path.join(tmp, `${name}.kubeconfig`);
  assert.equal(clusterCli(['kubeconfig-for-node', name, '--out', out]).status, 0);
  const kc = readKubeconfig(out);
  const r = await api('GET', '/apis/metrics.k8s.io/v1beta1/nodes', { auth: { cert: kc.cert, key: kc.key } });
  assert.equal(r.status, 403, r.text);
});

test('metrics-server trusts X-Remote-User only from the front proxy: a cluster-CA client certificate cannot claim admin', async () => {
  const name = uniqueName('pk-spoof');
  const out = path.join(tmp, `${name}.kubeconfig`);
  assert.equal(clusterCli(['kubeconfig-for-node', name, '--out', out]).status, 0);
  const kc = readKubeconfig(out);
  const status = await new Promise((resolve, reject) => {
    const req = https.get(
      `${ms.url}/apis/metrics.k8s.io/v1beta1/nodes`,
      {
        ca: cluster.caPEM,
        servername: 'metrics-server.kube-system.svc',
        cert: kc.cert,
        key: kc.key,
        agent: false,
        headers: { 'X-Remote-User': 'admin', 'X-Remote-Group': 'system:masters' },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      },
    );
    req.on('error', reject);
  });
  assert.equal(status, 403, 'the node was taken for admin');
});

describe('a node serving /metrics/resource on its kubelet port', () => {
  let node;
  let server;
  const seenClients = [];
  const t0 = Date.now();

  before(async () => {
    const name = uniqueName('pk-metrics');
    const out = path.join(tmp, `${name}.kubeconfig`);
    assert.equal(clusterCli(['kubeconfig-for-node', name, '--out', out]).status, 0);
    const kc = readKubeconfig(out);
    const auth = { cert: kc.cert, key: kc.key };
    node = { name, auth };
    toDelete.push(`/api/v1/nodes/${name}`);
    assert.equal((await api('POST', '/api/v1/nodes', { auth, body: nodeManifest(name) })).status, 201);
    const addresses = [
      { type: 'InternalIP', address: '127.0.0.1' },
      { type: 'Hostname', address: name },
    ];
    assert.equal((await api('PATCH', `/api/v1/nodes/${name}/status`, { auth, body: addressesPatch(addresses), contentType: MERGE_PATCH })).status, 200);

    // The serving certificate, as a node gets it: a kubelet-serving CSR the approver approves.
    const req = certificateRequest({ cn: `system:node:${name}`, san: `DNS:${name},IP:127.0.0.1` });
    const csrName = await postCSR(auth, req.requestPEM);
    toDelete.push(`${CSR_PATH}/${csrName}`);
    const csr = await decidedCSR(csrName);
    assert.ok(condition(csr, 'Approved'), JSON.stringify(csr.status));
    const { pem } = issuedCertificate(csr);

    // The kubelet port: TLS with that certificate, clients must show a cluster-CA certificate.
    server = https.createServer({ cert: pem, key: req.keyPEM, ca: cluster.caPEM, requestCert: true, rejectUnauthorized: true }, (rq, rs) => {
      seenClients.push({ path: rq.url, subject: rq.socket.getPeerCertificate()?.subject?.CN });
      if (rq.url !== '/metrics/resource') {
        rs.writeHead(404).end();
        return;
      }
      const now = Date.now();
      const cpu = ((now - t0) / 1000) * 0.25 + 1; // a quarter of a core
      rs.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
      rs.end(
        [
          '# HELP node_cpu_usage_seconds_total Cumulative cpu time consumed by the node in core-seconds',
          '# TYPE node_cpu_usage_seconds_total counter',
          `node_cpu_usage_seconds_total ${cpu} ${now}`,
          '# HELP node_memory_working_set_bytes Current working set of the node in bytes',
          '# TYPE node_memory_working_set_bytes gauge',
          `node_memory_working_set_bytes 262144 ${now}`,
          '',
        ].join('\n'),
      );
    });
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address();
    const ready = readyStatusPatch();
    ready.status.addresses = addresses;
    ready.status.daemonEndpoints = { kubeletEndpoint: { Port: port } };
    assert.equal((await api('PATCH', `/api/v1/nodes/${name}/status`, { auth, body: ready, contentType: MERGE_PATCH })).status, 200);
  });
  after(() => server?.close());

  test('metrics-server scrapes it over verified TLS and serves its NodeMetrics', async () => {
    // Two scrapes (15 s --metric-resolution) are needed for a CPU rate.
    const nm = await waitUntil(
      `NodeMetrics of ${node.name}`,
      async () => {
        const r = await api('GET', `/apis/metrics.k8s.io/v1beta1/nodes/${node.name}`);
        return r.status === 200 ? r.json : null;
      },
      { timeoutMs: 90_000, intervalMs: 1000 },
    );
    assert.equal(nm.kind, 'NodeMetrics');
    assert.equal(nm.usage.memory, '256Ki');
    // A CPU quantity such as 250m or 249873412n, in cores.
    const m = nm.usage.cpu.match(/^(\d+)(n|u|m|)$/);
    assert.ok(m, `cpu ${nm.usage.cpu}`);
    const cores = Number(m[1]) * { n: 1e-9, u: 1e-6, m: 1e-3, '': 1 }[m[2]];
    assert.ok(cores > 0.2 && cores < 0.3, `cpu ${nm.usage.cpu} is not about 250m`);
    assert.ok(seenClients.some((c) => c.path === '/metrics/resource' && c.subject === cluster.addons.metricsServer.user), JSON.stringify(seenClients));
    const top = await kubectl(['top', 'node', node.name, '--no-headers']);
    assert.match(top.stdout, new RegExp(`^${node.name}\\s+2\\d\\dm\\s`));
  });
});
