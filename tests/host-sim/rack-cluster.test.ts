// tests/host-sim/rack-cluster.test.ts
// Against the real local control plane (kube-apiserver, controller-manager with the node lifecycle
// controller): a rack of 8 nodes, each with its own system:node:<name> client certificate, registers and
// is held Ready; the faults shown against the fake API server (connection reset, link down, a heap below
// the MemoryPressure threshold) behave the same here; the real server's certificate is verified (a wrong
// CA is refused); and stopping with cleanup deletes every Lease (a system:node identity may not delete its
// Node; the test removes those as admin). Without a cluster: FAIL.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Phase } from '../../host-sim/src/abi.js';
import { loadCredentials, preflight } from '../../host-sim/src/credentials.js';
import { silentLogger } from '../../host-sim/src/logger.js';
import { Rack, startRack } from '../../host-sim/src/rack.js';
import { ClusterInfo, adminApi, condition, loadCluster, mintNodeKubeconfigs } from './support/cluster.js';
import { testPki, tmpDir } from './support/harness.js';
import { writeKubeconfig } from './support/pki.js';

const COUNT = 8;

describe('rack of 8 nodes against the local control plane', () => {
  let cluster: ClusterInfo;
  let rack: Rack | null = null;
  const prefix = `hs-rack-${Date.now().toString(36)}-`;
  const names = Array.from({ length: COUNT }, (_, i) => `${prefix}${i}`);
  const dir = tmpDir('rack');

  let missing: Error | null = null;

  // A missing cluster fails every test below (never a silent skip).
  before(() => {
    try {
      cluster = loadCluster();
      mintNodeKubeconfigs(prefix, COUNT, dir);
    } catch (err) {
      missing = err as Error;
    }
  });
  const need = (): void => {
    if (missing) throw missing;
  };

  after(async () => {
    if (rack) await rack.stop({ cleanup: true });
    if (cluster) for (const name of names) await adminApi(cluster, 'DELETE', `/api/v1/nodes/${name}`).catch(() => {});
  });

  it('the real API server certificate verifies against the cluster CA (IP SAN) and not against another CA', async () => {
    need();
    const creds = loadCredentials({ kubeconfig: path.join(dir, `${names[0]}.kubeconfig`) });
    assert.equal(creds.auth, 'client-certificate');
    assert.equal(creds.apiHost, '127.0.0.1');
    assert.deepEqual(await preflight(creds), { ok: true });
    const wrong = writeKubeconfig(path.join(dir, 'wrong-ca.kubeconfig'), { server: cluster.server, caPEM: testPki().otherCa.cert, token: 'irrelevant-1' });
    const pf = await preflight(loadCredentials({ kubeconfig: wrong }));
    assert.ok(pf.ok === false && pf.unverifiable, JSON.stringify(pf));
  });

  it('8 nodes with per-node system:node credentials register and are held Ready', async () => {
    need();
    const started = startRack({
      prefix, count: COUNT, rampPerSecond: 20, logger: silentLogger(),
      credentialsFor: (name) => loadCredentials({ kubeconfig: path.join(dir, `${name}.kubeconfig`) }),
    });
    rack = started.rack;
    await started.started;
    await Promise.all(rack.nodes().map((n) => n.waitFor((s) => (s.renewals as number) >= 1, 60_000, 'a lease renewal')));
    // The API server agrees: every Node exists, is Ready, and the lifecycle controller lifted not-ready.
    for (const name of names) {
      let node: any = null;
      const t0 = Date.now();
      for (;;) {
        node = (await adminApi(cluster, 'GET', `/api/v1/nodes/${name}`)).json;
        const taints = (node?.spec?.taints ?? []) as Array<{ key: string }>;
        if (condition(node, 'Ready') === 'True' && !taints.some((t) => t.key === 'node.kubernetes.io/not-ready')) break;
        if (Date.now() - t0 > 30_000) assert.fail(`${name} not Ready without the not-ready taint: ${JSON.stringify(node?.status?.conditions)} ${JSON.stringify(taints)}`);
        await new Promise((r) => setTimeout(r, 500));
      }
      const lease = (await adminApi(cluster, 'GET', `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${name}`)).json;
      assert.equal(lease?.spec?.holderIdentity, name);
    }
    for (const n of rack.nodes()) {
      const s = n.stats();
      assert.equal(s.phase, Phase.RUNNING, n.name);
      assert.equal(s.ledName, 'HEALTHY', n.name);
      assert.equal(s.registrations, 1, n.name);
    }
  });

  it('faults behave as against the fake: reset, link down, stall and black hole recover; low heap sets MemoryPressure=True', async () => {
    need();
    assert.ok(rack, 'the rack is running');
    const [a, b, c, d, e] = rack.nodes();
    const ra = a.stats().renewals as number;
    const rd = d.stats().renewals as number;
    const fd = d.stats().renewFailures as number;
    d.stall(2);
    e.blackhole(12);
    // Three connections each: the control lane and the stream lanes of the pod watch and the node watch.
    await a.waitFor((s) => s.host.openConnections === 3, 15_000, 'the three connections open');
    assert.equal(a.resetConnection(), 3);
    b.linkDown(2);
    assert.equal(b.ledState().name, 'DISCONNECTED');
    c.setHeap(15_000);
    await a.waitFor((s) => (s.renewals as number) >= ra + 1 && (s.consecutiveFailures as number) === 0, 30_000, 'renewals after a reset');
    const rb = b.stats().renewals as number;
    await b.waitFor((s) => (s.renewals as number) > rb && s.host.link !== 'down', 30_000, 'renewals after the link returned');
    assert.equal(b.ledState().name, 'HEALTHY');
    const t0 = Date.now();
    for (;;) {
      const node = (await adminApi(cluster, 'GET', `/api/v1/nodes/${c.name}`)).json;
      if (condition(node, 'MemoryPressure') === 'True') break;
      if (Date.now() - t0 > 30_000) assert.fail(`MemoryPressure not True on ${c.name}: ${JSON.stringify(node?.status?.conditions)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(c.stats().memoryPressure, 1);
    c.setHeap(65_536);
    // A 2 s stall delays a response but fails nothing; a 12 s black hole outlasts the 10 s request deadline.
    await d.waitFor((s) => (s.renewals as number) >= rd + 1, 30_000, 'renewals through a stall');
    assert.equal(d.stats().renewFailures, fd);
    await e.waitFor((s) => (s.renewFailures as number) >= 1, 30_000, 'a renewal lost in the black hole');
    const re = e.stats().renewals as number;
    await e.waitFor((s) => (s.renewals as number) > re && (s.consecutiveFailures as number) === 0, 30_000, 'renewals after the black hole');
  });

  it('stop with cleanup deletes every Lease and ends STOPPED (the Node authorizer forbids a node deleting its Node)', async () => {
    need();
    assert.ok(rack, 'the rack is running');
    const nodes = rack.nodes();
    const finals = await rack.stop({ cleanup: true });
    rack = null;
    assert.deepEqual(finals.map((s) => s.phaseName), names.map(() => 'STOPPED'));
    for (const name of names) {
      assert.equal((await adminApi(cluster, 'GET', `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${name}`)).status, 404, name);
    }
    // A system:node identity may not delete Nodes: the core reports the 403 and stops anyway.
    for (const n of nodes) assert.ok(n.logs.some((l) => /could not delete node: HTTP 403/.test(l)) || (await adminApi(cluster, 'GET', `/api/v1/nodes/${n.name}`)).status === 404, n.name);
    for (const name of names) await adminApi(cluster, 'DELETE', `/api/v1/nodes/${name}`);
  });
});
