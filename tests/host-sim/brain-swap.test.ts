// tests/host-sim/brain-swap.test.ts
// Brain swaps in host-sim against the fake API server over TLS on 127.0.0.1 (docs/brain.md "Swap" and
// "Roll back"). The core cannot pull yet, so the test writes and commits each brain through the node's own
// brain calls, as a pulling core would. A v2 brain takes over with the snapshot (same boot ID, no second
// Node POST, renewals go on, its own User-Agent), is proven after 3 renewals and kept under --state-dir,
// and the next start runs it; a brain that traps in start, and one that never renews, are rolled back to
// the previous brain with its snapshot, and OP_BRAIN_STATUS says why.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HostOp, Phase } from '../../host-sim/src/abi.js';
import { silentLogger } from '../../host-sim/src/logger.js';
import { SimNode, startNode, systemTimers } from '../../host-sim/src/node.js';
import { FakeApiServer, type FakeTlsServer, listenTls, memoryTransport } from '../support/fake-apiserver.js';
import { callsBrainOps, commitFor, installBrain, neverRenews, releaseWasm, trapsAtStart, withVersion } from './support/brains.js';
import { TraceRecorder, credentialsFor, testPki, tmpDir, until } from './support/harness.js';

const TOKEN = 'brain-swap-token-1';
/** Short renew periods: the proving window (3 periods) is 600 ms. */
const FAST = { renewIntervalMs: 200, evaluateIntervalMs: 200, requestTimeoutMs: 150 };
const NODES = '/api/v1/nodes';

describe('brain host calls made by a core (the node\'s host_call import)', () => {
  it('OP_BRAIN_WRITE completes inside host_call with no on_host_result; OP_BRAIN_STATUS answers with one', async () => {
    const timers = systemTimers();
    const api = new FakeApiServer();
    const { creds } = credentialsFor({ server: 'https://127.0.0.1:6443', token: 'brain-calls-token' });
    const trace = new TraceRecorder();
    const node = await startNode({
      name: 'brain-calls', credentials: creds, timers, transport: memoryTransport(api, timers), logger: silentLogger(), trace: trace.fn,
      module: new WebAssembly.Module(new Uint8Array(callsBrainOps(releaseWasm()))),
    });
    try {
      await until(() => trace.exports('on_host_result').length > 0, 5_000, 'the status result');
      const calls = trace.imports('host_call').map((e) => e.args.slice(0, 4).map(Number));
      assert.deepEqual(calls.slice(0, 2), [[0x7001, HostOp.BRAIN_WRITE, 0, 16], [0x7002, HostOp.BRAIN_STATUS, 0, 0]]);
      const results = trace.exports('on_host_result').map((e) => e.args.slice(1).map(Number)).filter((r) => r[0] >= 0x7001 && r[0] <= 0x7002);
      assert.deepEqual(results, [[0x7002, 0, 0]], 'one result, for the status (nothing to report yet), none for the write');
      // The core's 16 bytes are in the slot: the next chunk goes at offset 16.
      assert.equal(node.brainCall(HostOp.BRAIN_WRITE, 0x10, Buffer.from('more')).rc, 0);
      assert.equal(node.brainCall(HostOp.BRAIN_WRITE, 0x10, Buffer.from('more')).rc, -31, 'offset 16 again is behind the 20 bytes written');
    } finally {
      await node.stop();
    }
  });
});

describe('brain swaps (fake API server over TLS)', () => {
  const api = new FakeApiServer({ token: TOKEN });
  const key = crypto.generateKeyPairSync('ed25519');
  let server: FakeTlsServer;
  let release: Buffer;

  before(async () => {
    server = await listenTls(api, { cert: testPki().server.cert, key: testPki().server.key });
    release = releaseWasm();
  });
  after(() => server.close());

  async function start(name: string, stateDir?: string): Promise<SimNode> {
    const { creds } = credentialsFor({ server: server.url, caPEM: testPki().ca.cert, token: TOKEN });
    const node = await startNode({
      name, credentials: creds, coreConfig: FAST, logger: silentLogger(), logLevel: 'info', keepLogs: 400,
      brain: { publicKeys: [key.publicKey], stateDir, preferProven: true },
    });
    await node.waitFor((s) => (s.renewals as number) >= 2, 20_000, '2 renewals');
    return node;
  }

  const bootId = (name: string): string => api.nodes.get(name).status.nodeInfo.bootID;
  const status = (node: SimNode): string => {
    // OP_BRAIN_STATUS as the core asks it: the same lines as its on_host_result would carry.
    const r = node.brainCall(HostOp.BRAIN_STATUS, 0, new Uint8Array(0));
    assert.equal(r.rc, 0);
    assert.equal(r.status, 0);
    return r.text!;
  };

  it('v2 takes over with the snapshot: same boot ID, no new Node, renewals go on; proven, kept, and run by the next start', async () => {
    const dir = path.join(tmpDir('brain-state'), 'n');
    const node = await start('brain-v2', dir);
    const v2 = withVersion(release, '0.2.0');
    const c = commitFor(v2, { key: key.privateKey });
    try {
      const boot = bootId('brain-v2');
      assert.equal(api.count('POST', NODES), 1);
      assert.equal(status(node), '', 'the core host-sim was started with is no registry brain');
      const before = node.stats().renewals as number;
      const requestsBefore = api.requests.length;
      const r = installBrain(node, v2, c.bytes);
      assert.deepEqual(r, { rc: 0, status: 0, text: '' });
      assert.equal(node.brainState().running, c.digest);
      const s = await node.waitFor(() => !node.brainState().proving, 10_000, 'the new brain proven');
      assert.equal(node.brainState().reason, null, node.logs.join('\n'));
      assert.equal(s.phaseName, 'RUNNING');
      assert.equal(s.resumed, 1, 'the new instance resumed from the snapshot');
      assert.ok((s.renewals as number) >= before + 3, `renewals ${before} -> ${s.renewals}: they carry on from the snapshot's`);
      assert.equal(api.count('POST', NODES), 1, 'no second Node POST: not a reboot');
      assert.equal(bootId('brain-v2'), boot, 'the same boot ID');
      assert.equal(api.count('GET', '/version'), 1, 'no anchoring again');
      // The requests since the swap come from v2 (its own User-Agent).
      const since = api.requests.slice(requestsBefore).map((q) => q.headers['user-agent']);
      assert.ok(since.some((ua) => ua?.startsWith('picokubelet/0.2.0')), since.join(', '));
      assert.equal(status(node), `running=${c.digest}\n`);
      assert.match(node.logs.join('\n'), /brain: swapping from the core host-sim was started with to sha256:[0-9a-f]{64} \(version 0\.2\.0\) with its \d+-byte snapshot/);
      assert.ok(fs.readFileSync(path.join(dir, 'brain-current.wasm')).equals(v2), 'the proven brain is kept');
      const rec = JSON.parse(fs.readFileSync(path.join(dir, 'brain-current.json'), 'utf8'));
      assert.equal(rec.digest, c.digest);
      assert.equal(rec.version, '0.2.0');
    } finally {
      await node.stop();
    }
    // The next start (no --wasm) runs the proven brain and says so.
    const again = await start('brain-v2', dir);
    try {
      assert.equal(again.brainState().running, c.digest);
      assert.equal(status(again), `running=${c.digest}\n`);
      assert.match(again.logs.join('\n'), /brain: starting from the proven brain .*brain-current\.wasm \(sha256:[0-9a-f]{64}, version 0\.2\.0/);
      const last = api.requests.at(-1)!;
      assert.match(last.headers['user-agent'] ?? '', /^picokubelet\/0\.2\.0/);
    } finally {
      await again.stop();
    }
  });

  it('a brain that traps in start is rolled back: the previous brain runs again from its snapshot', async () => {
    const node = await start('brain-trap');
    try {
      const boot = bootId('brain-trap');
      const bad = trapsAtStart(release);
      const c = commitFor(bad, { key: key.privateKey });
      assert.equal(installBrain(node, bad, c.bytes).status, 0, 'it passes every check: only running it shows the fault');
      const st = node.brainState();
      assert.equal(st.reason, 'BrainCrashed', node.logs.join('\n'));
      assert.equal(st.failed, c.digest);
      assert.equal(st.running, null, 'back to the core host-sim was started with');
      assert.match(status(node), new RegExp(`^failed=${c.digest}\nreason=BrainCrashed\nmessage=.*unreachable.*\n$`));
      const renewals = node.stats().renewals as number;
      const s = await node.waitFor((x) => (x.renewals as number) >= renewals + 2, 10_000, 'renewals after the rollback');
      assert.equal(s.phase, Phase.RUNNING);
      assert.equal(s.host.panic, null, 'the node did not panic');
      assert.equal(api.seen('POST', NODES).filter((q) => q.body.includes('"brain-trap"')).length, 1, 'no second Node POST');
      assert.equal(bootId('brain-trap'), boot);
      assert.match(node.logs.join('\n'), /brain: sha256:[0-9a-f]{64} rolled back: BrainCrashed: .*unreachable/);
    } finally {
      await node.stop();
    }
  });

  it('a brain that does not renew within 3 renew periods is rolled back (BrainNotRenewing)', async () => {
    const node = await start('brain-quiet');
    try {
      const boot = bootId('brain-quiet');
      const quiet = neverRenews(release);
      const c = commitFor(quiet, { key: key.privateKey });
      assert.equal(installBrain(node, quiet, c.bytes).status, 0);
      assert.equal(node.brainState().running, c.digest);
      await node.waitFor(() => node.brainState().reason !== null, 10_000, 'the rollback');
      const st = node.brainState();
      assert.equal(st.reason, 'BrainNotRenewing', node.logs.join('\n'));
      assert.equal(st.failed, c.digest);
      assert.equal(st.running, null);
      assert.equal(status(node), `failed=${c.digest}\nreason=BrainNotRenewing\nmessage=no Lease renewal within 0.6 s of the swap\n`);
      const renewals = node.stats().renewals as number;
      await node.waitFor((x) => (x.renewals as number) >= renewals + 2, 10_000, 'renewals after the rollback');
      assert.equal(bootId('brain-quiet'), boot);
      assert.equal(api.seen('POST', NODES).filter((q) => q.body.includes('"brain-quiet"')).length, 1, 'no second Node POST');
    } finally {
      await node.stop();
    }
  });
});
