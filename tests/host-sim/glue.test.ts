// tests/host-sim/glue.test.ts
// The import glue of host-sim: bytes in and out across calls, chunking of large reads into io_buffer-sized
// on_data calls, no export ever called from inside an import, __collect after every event, memory flat
// across many events, link and fault events, and a clean shutdown.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Close, ErrorCode, Phase } from '../../host-sim/src/abi.js';
import { Logger, silentLogger } from '../../host-sim/src/logger.js';
import { startNode } from '../../host-sim/src/node.js';
import { ManualTimers } from '../../host-sim/src/timers.js';
import { FakeApiServer as FakeApi, type FakeTlsServer, listenTls, memoryTransport } from '../support/fake-apiserver.js';
import { TraceRecorder, credentialsFor, testPki } from './support/harness.js';

const EVENT_EXPORTS = new Set(['start', 'on_link', 'on_heap', 'on_cpu', 'on_connected', 'on_data', 'on_closed', 'on_timer', 'shutdown']);
const FAST = { renewIntervalMs: 200, evaluateIntervalMs: 200, requestTimeoutMs: 2000 };

describe('import glue over TLS (fake API server on 127.0.0.1)', () => {
  const api = new FakeApi({ token: 'glue-token-123', nodePadding: 12_000 });
  let server: FakeTlsServer;

  before(async () => {
    const pki = testPki();
    server = await listenTls(api, { cert: pki.server.cert, key: pki.server.key });
  });
  after(() => server.close());

  it('registers, leases and renews; bytes cross in both directions; big reads arrive in io_buffer-sized pieces', async () => {
    const { creds } = credentialsFor({ server: server.url, caPEM: testPki().ca.cert, token: 'glue-token-123' });
    const trace = new TraceRecorder();
    const node = await startNode({ name: 'glue-1', credentials: creds, coreConfig: FAST, logger: silentLogger(), trace: trace.fn });
    try {
      const s = await node.waitFor((x) => (x.renewals as number) >= 3, 20_000, '3 renewals');
      assert.equal(s.phaseName, 'RUNNING');
      assert.ok(api.nodes.has('glue-1') && api.leases.has('glue-1'));
      assert.ok(api.count('GET', '/version') >= 1);
      assert.ok(api.count('PATCH', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/glue-1') >= 3);
      // Every request the server framed came from a send import (bytes out).
      const sent = trace.imports('send').reduce((n, e) => n + Number(e.args[1]), 0);
      assert.ok(sent > 0 && api.requests.length >= 5);
      // Bytes in: every on_data carries 1..4096 bytes; the padded Node (> 12 KiB) came in several.
      const lens = trace.exports('on_data').map((e) => Number(e.args[2]));
      assert.ok(lens.length > 0);
      assert.ok(lens.every((n) => n >= 1 && n <= 4096), `on_data lengths ${lens.join(',')}`);
      assert.ok(lens.filter((n) => n === 4096).length >= 3, 'a 12 KiB response must be split into 4096-byte pieces');
      assert.equal(s.lastHttpStatus, 200);
    } finally {
      await node.stop();
    }
  });

  it('never calls an export from inside an import, and collects after every event', async () => {
    const { creds } = credentialsFor({ server: server.url, caPEM: testPki().ca.cert, token: 'glue-token-123' });
    const trace = new TraceRecorder();
    const node = await startNode({ name: 'glue-2', credentials: creds, coreConfig: FAST, logger: silentLogger(), trace: trace.fn });
    await node.waitFor((x) => (x.renewals as number) >= 2, 20_000, '2 renewals');
    await node.stop();
    assert.ok(trace.exports().length > 20);
    for (const e of trace.exports()) assert.equal(e.depth, 0, `${e.name} called at depth ${e.depth}`);
    for (const e of trace.imports()) assert.equal(e.depth, 1, `${e.name} import outside an export`);
    const calls = trace.events.filter((e) => e.dir === 'export');
    calls.forEach((e, i) => {
      if (EVENT_EXPORTS.has(e.name)) assert.equal(calls[i + 1]?.name, '__collect', `${e.name} #${i} not followed by __collect`);
    });
    // on_heap comes right before every on_timer (with on_cpu between them at most once a second).
    calls.forEach((e, i) => {
      if (e.name !== 'on_timer') return;
      const before = calls[i - 2]?.name === 'on_cpu' ? calls[i - 4]?.name : calls[i - 2]?.name;
      assert.equal(before, 'on_heap', 'on_timer without a heap reading before it');
    });
    assert.ok(calls.some((e) => e.name === 'on_cpu'), 'the CPU time is reported');
  });

  it('stop with cleanup deletes the Lease and the Node and ends STOPPED', async () => {
    const { creds } = credentialsFor({ server: server.url, caPEM: testPki().ca.cert, token: 'glue-token-123' });
    const node = await startNode({ name: 'glue-3', credentials: creds, coreConfig: FAST, logger: silentLogger() });
    await node.waitForPhase(Phase.RUNNING, 20_000);
    const final = await node.stop({ cleanup: true });
    assert.equal(final.phaseName, 'STOPPED');
    assert.ok(!api.nodes.has('glue-3'), 'node deleted');
    assert.ok(!api.leases.has('glue-3'), 'lease deleted');
    assert.equal(final.host.openConnections, 0);
  });

  it('link down drops the connection and holds requests; link up reconnects; a reset is CLOSE_IO_ERROR and recovers', async () => {
    const { creds } = credentialsFor({ server: server.url, caPEM: testPki().ca.cert, token: 'glue-token-123' });
    const trace = new TraceRecorder();
    const node = await startNode({ name: 'glue-4', credentials: creds, coreConfig: FAST, logger: silentLogger(), trace: trace.fn });
    try {
      await node.waitFor((x) => (x.renewals as number) >= 1, 20_000, 'a renewal');
      node.linkDown();
      assert.equal(node.stats().host.link, 'down');
      assert.equal(node.ledState().name, 'DISCONNECTED');
      const requestsWhileDown = api.count('PATCH', '/apis');
      // Something that must not happen: a bounded window of three renew periods (200 ms each) in which
      // renewals fall due, sampled every 50 ms so a stray request fails at once.
      for (const stop = Date.now() + 600; Date.now() < stop; ) {
        assert.equal(api.count('PATCH', '/apis'), requestsWhileDown, 'nothing sent while the link is down');
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(api.count('PATCH', '/apis'), requestsWhileDown, 'nothing sent while the link is down');
      const connects = node.stats().connects as number;
      node.linkUpNow();
      await node.waitFor((x) => (x.connects as number) > connects && (x.consecutiveFailures as number) === 0, 10_000, 'reconnect');
      const renewals = node.stats().renewals as number;
      // Three connections: the control lane and the stream lanes of the pod watch and the node watch.
      await node.waitFor((x) => x.host.openConnections === 3, 5_000, 'the three connections open');
      assert.equal(node.resetConnection(), 3);
      const closes = trace.exports('on_closed');
      assert.equal(Number(closes[closes.length - 1].args[2]), Close.IO_ERROR);
      await node.waitFor((x) => (x.renewals as number) > renewals + 1, 10_000, 'renewals after the reset');
      const links = trace.exports('on_link').map((e) => Number(e.args[1]));
      assert.deepEqual(links, [1, 0, 1]);
    } finally {
      await node.stop();
    }
  });
});

describe('faults over TLS (fake API server on 127.0.0.1)', () => {
  const api = new FakeApi({ token: 'fault-token-1' });
  let server: FakeTlsServer;
  before(async () => {
    const pki = testPki();
    server = await listenTls(api, { cert: pki.server.cert, key: pki.server.key });
  });
  after(() => server.close());

  const start = async (name: string, trace?: TraceRecorder) => {
    const { creds } = credentialsFor({ server: server.url, caPEM: testPki().ca.cert, token: 'fault-token-1' });
    const node = await startNode({
      name, credentials: creds, logger: process.env.HS_DEBUG ? new Logger({ level: 'debug' }) : silentLogger(), logLevel: process.env.HS_DEBUG ? 'debug' : undefined, trace: trace?.fn,
      coreConfig: { renewIntervalMs: 1000, evaluateIntervalMs: 1000, requestTimeoutMs: 1000 },
    });
    await node.waitFor((x) => (x.renewals as number) >= 1 && x.host.openConnections === 3, 20_000, 'a renewal');
    return node;
  };

  it('stall shorter than the request deadline: the response arrives late and the renewal succeeds', async () => {
    const node = await start('fault-stall');
    try {
      const before = node.stats();
      node.stall(0.5);
      // Two more renewals (1 s period): the one the stall delayed, and one after it.
      const after = await node.waitFor((x) => (x.renewals as number) >= (before.renewals as number) + 2, 5_000, 'renewals through the stall');
      assert.equal(after.renewFailures, before.renewFailures, 'the late response was accepted, not timed out');
    } finally {
      await node.stop();
    }
  });

  it('stall longer than the deadline: the request times out (ERR_TIMEOUT) and renewals recover', async () => {
    const node = await start('fault-stall-long');
    try {
      node.stall(3);
      await node.waitFor((x) => (x.renewFailures as number) >= 1, 8_000, 'a failed renewal');
      assert.equal(node.stats().lastErrorName, 'TIMEOUT');
      const r = node.stats().renewals as number;
      await node.waitFor((x) => (x.renewals as number) > r + 1, 15_000, 'renewals after the stall');
    } finally {
      await node.stop();
    }
  });

  it('blackhole: requests time out, the dead connection is abandoned, a new one works after the window', async () => {
    const node = await start('fault-blackhole');
    try {
      const connects = node.stats().connects as number;
      node.blackhole(2.5);
      await node.waitFor((x) => (x.renewFailures as number) >= 1, 8_000, 'a failed renewal');
      const r = node.stats().renewals as number;
      await node.waitFor((x) => (x.renewals as number) > r + 1, 15_000, 'renewals after the blackhole');
      assert.ok((node.stats().connects as number) > connects, 'a fresh connection');
    } finally {
      await node.stop();
    }
  });

  it('a new BSSID is reported with on_link (roaming) and a Wi-Fi link keeps renewing', async () => {
    const trace = new TraceRecorder();
    const node = await start('fault-roam', trace);
    try {
      node.setLink('wifi:bssid=02:00:5e:10:00:01,rssi=-60');
      node.setBssid('02:00:5e:10:00:02');
      const links = trace.exports('on_link').map((e) => [Number(e.args[1]), BigInt(e.args[3]), Number(e.args[4])]);
      assert.deepEqual(links.slice(-2), [[2, 0x02005e100001n, -60], [2, 0x02005e100002n, -60]]);
      assert.ok(node.logs.some((l) => /roamed/.test(l)), node.logs.join('\n'));
      const r = node.stats().renewals as number;
      await node.waitFor((x) => (x.renewals as number) > r, 5_000, 'a renewal on Wi-Fi');
    } finally {
      await node.stop();
    }
  });
});

describe('import glue in virtual time (in-memory transport, ManualTimers)', () => {
  it('queues an outcome learnt inside an import and delivers it after the export returns', async () => {
    const timers = new ManualTimers();
    const api = new FakeApi();
    const { creds } = credentialsFor({ server: 'https://127.0.0.1:6443', token: 'x-token-1' });
    const trace = new TraceRecorder();
    const node = await startNode({
      name: 'sync-fail', credentials: creds, timers, transport: memoryTransport(api, timers, { connectFailsSync: true }),
      logger: silentLogger(), trace: trace.fn,
    });
    const i = trace.events.findIndex((e) => e.dir === 'import' && e.name === 'connect');
    assert.ok(i > 0, 'the core asked for a connection');
    const rest = trace.events.slice(i + 1);
    const ret = rest.findIndex((e) => e.dir === 'return');
    const closed = rest.findIndex((e) => e.dir === 'export' && e.name === 'on_closed');
    assert.ok(ret >= 0 && closed > ret, 'on_closed only after the export that called connect returned');
    assert.equal(Number((rest[closed] as { args: ReadonlyArray<unknown> }).args[2]), Close.CONNECT_FAILED);
    assert.equal(node.stats().lastError, ErrorCode.CONNECT);
    await node.stop();
  });

  it('keeps linear memory flat over hours of virtual renewals (GC after every event)', async () => {
    const timers = new ManualTimers();
    const api = new FakeApi({ nodePadding: 6_000 });
    const { creds } = credentialsFor({ server: 'https://127.0.0.1:6443', token: 'x-token-2' });
    const node = await startNode({
      name: 'flat', credentials: creds, timers, transport: memoryTransport(api, timers), logger: silentLogger(),
      heap: 'sawtooth:period=600', coreConfig: { renewIntervalMs: 1000, statusIntervalMs: 60_000, evaluateIntervalMs: 1000 },
    });
    const step = (ms: number): void => {
      for (let t = 0; t < ms; t += 50) timers.advance(50);
    };
    step(10 * 60_000);
    const warm = node.stats();
    assert.equal(warm.phaseName, 'RUNNING');
    step(3 * 3600_000);
    const end = node.stats();
    assert.ok((end.renewals as number) - (warm.renewals as number) > 9_000, `renewals: ${end.renewals}`);
    assert.ok(end.host.events > 30_000, `events: ${end.host.events}`);
    assert.equal(end.memoryBytes, warm.memoryBytes, `linear memory grew from ${warm.memoryBytes} to ${end.memoryBytes}`);
    assert.equal(end.renewFailures, 0);
    await node.stop();
  });
});
