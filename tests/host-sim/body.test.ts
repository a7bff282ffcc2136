// tests/host-sim/body.test.ts
// The simulated body and the command language as pure functions: heap scenarios over time, link specs and
// their on_link arguments, scenario files, --at flags, control commands, the ABI mirror's helpers.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Link, STAT_KEYS, bssidToI64, ipv4ToI32, nameOf, Phase } from '../../host-sim/src/abi.js';
import { heapFree, parseHeapSpec } from '../../host-sim/src/body/heap.js';
import { DEFAULT_BSSID, LinkSpec, linkArgs, parseLinkSpec } from '../../host-sim/src/body/link.js';
import { parseCommand } from '../../host-sim/src/control.js';
import { csvField } from '../../host-sim/src/nvs.js';
import { ipPlus } from '../../host-sim/src/rack.js';
import { parseAtFlag, parseScenario } from '../../host-sim/src/scenario.js';
import { ManualTimers, SystemTimers } from '../../host-sim/src/timers.js';

const BASE: LinkSpec = { kind: 'ethernet', ip: '10.0.0.7', bssid: DEFAULT_BSSID, rssi: -55 };

describe('heap scenarios', () => {
  it('steady stays put', () => {
    const s = parseHeapSpec('steady:free=40000,total=100000');
    assert.equal(heapFree(s, 0), 40000);
    assert.equal(heapFree(s, 3_600_000), 40000);
  });

  it('leak crosses the 20 KiB MemoryPressure threshold after (free - 20480) / rate seconds and stops at the floor', () => {
    const s = parseHeapSpec('leak:free=30720,rate=512,floor=4096');
    assert.equal(heapFree(s, 0), 30720);
    assert.ok(heapFree(s, 19_900) > 20480);
    assert.ok(heapFree(s, 20_100) < 20480);
    assert.equal(heapFree(s, 3_600_000), 4096);
  });

  it('sawtooth falls from free to low over the period, then jumps back', () => {
    const s = parseHeapSpec('sawtooth:free=60000,low=10000,period=100');
    assert.equal(heapFree(s, 0), 60000);
    assert.equal(heapFree(s, 50_000), 35000);
    assert.ok(heapFree(s, 99_999) < 10100);
    assert.equal(heapFree(s, 100_000), 60000);
  });

  for (const bad of ['nope', 'leak:rate=-1', 'leak:speed=3', 'steady:free=200000', 'sawtooth:period=0', 'leak:rate']) {
    it(`refuses '${bad}'`, () => assert.throws(() => parseHeapSpec(bad)));
  }
});

describe('link specs', () => {
  it('ethernet: on_link(ETHERNET, ip as a big-endian u32, bssid 0, rssi 0)', () => {
    const l = parseLinkSpec('ethernet:ip=192.168.0.111', BASE);
    assert.deepEqual(linkArgs(l.spec, l.up), { kind: Link.ETHERNET, ipv4: 0xc0a8006f | 0, bssid: 0n, rssi: 0 });
  });

  it('wifi: BSSID in the low 48 bits (first octet most significant), RSSI in dBm', () => {
    const l = parseLinkSpec('wifi:bssid=AA:BB:CC:DD:EE:FF,rssi=-71', BASE);
    assert.deepEqual(linkArgs(l.spec, true), { kind: Link.WIFI, ipv4: ipv4ToI32('10.0.0.7'), bssid: 0xaabbccddeeffn, rssi: -71 });
  });

  it('down starts without a link; down reports LINK_DOWN with zeros', () => {
    const l = parseLinkSpec('down', BASE);
    assert.equal(l.up, false);
    assert.deepEqual(linkArgs(l.spec, false), { kind: Link.DOWN, ipv4: 0, bssid: 0n, rssi: 0 });
  });

  for (const bad of ['token-ring', 'ethernet:ip=300.1.1.1', 'wifi:bssid=aa:bb', 'wifi:rssi=5', 'ethernet:rssi=-50', 'down:ip=1.2.3.4', 'wifi:channel=6']) {
    it(`refuses '${bad}'`, () => assert.throws(() => parseLinkSpec(bad, BASE)));
  }

  it('ipv4 and bssid encodings', () => {
    assert.equal(ipv4ToI32('255.255.255.255'), -1);
    assert.equal(ipv4ToI32('127.0.0.1'), 0x7f000001);
    assert.equal(bssidToI64('02:00:5e:10:00:01'), 0x02005e100001n);
    assert.equal(ipPlus('10.77.0.250', 10), '10.77.1.4');
  });
});

describe('command language and scenarios', () => {
  it('parses text with an @node prefix and JSON with id and args', () => {
    assert.deepEqual(parseCommand('@sim-3 link down 10').cmd, { verb: 'link', args: ['down', '10'], node: 'sim-3' });
    assert.deepEqual(parseCommand('  STATS ').cmd, { verb: 'stats', args: [], node: undefined });
    const j = parseCommand('{"cmd":"heap","args":[15000],"node":"a","id":"x1"}');
    assert.deepEqual(j, { cmd: { verb: 'heap', args: ['15000'], node: 'a' }, id: 'x1' });
    assert.throws(() => parseCommand(''), /empty command/);
    assert.throws(() => parseCommand('{"verb":"x"}'), /needs "cmd"/);
    assert.throws(() => parseCommand('{nope'), /not valid JSON/);
  });

  it('scenario files: sorted timeline, per-node steps, object actions, strict keys', () => {
    const s = parseScenario({
      heap: 'leak', link: 'wifi',
      timeline: [{ at: 20, action: 'stall 5' }, { at: 5, action: { cmd: 'link down', args: [3] }, node: 'n1' }],
    });
    assert.equal(s.heap, 'leak');
    assert.deepEqual(s.timeline.map((t) => [t.at, t.text]), [[5, '@n1 link down 3'], [20, 'stall 5']]);
    assert.deepEqual(parseScenario([{ at: 1, action: 'reset-connection' }]).timeline.length, 1);
    assert.throws(() => parseScenario({ timeline: [{ at: -1, action: 'stall 1' }] }), /"at"/);
    assert.throws(() => parseScenario({ timeline: [{ at: 1, action: 'stats' }] }), /cannot be scheduled/);
    assert.throws(() => parseScenario({ timeline: [{ at: 1, action: 'stall 1', when: 2 }] }), /unknown key/);
    assert.throws(() => parseScenario({ steps: [] }), /unknown key/);
  });

  it('--at SECONDS:COMMAND', () => {
    assert.deepEqual(parseAtFlag('30:link down 10').cmd, { verb: 'link', args: ['down', '10'], node: undefined });
    assert.equal(parseAtFlag('0.5:@x reset-connection').cmd.node, 'x');
    assert.throws(() => parseAtFlag('link down'), /SECONDS:COMMAND/);
  });

  it('CSV fields are quoted only when they must be', () => {
    assert.equal(csvField('plain'), 'plain');
    assert.equal(csvField('a,b'), '"a,b"');
    assert.equal(csvField('say "hi"'), '"say ""hi"""');
    assert.throws(() => csvField('two\nlines'));
  });

  it('the ABI mirror names stats and codes', () => {
    assert.equal(nameOf(Phase, 4), 'RUNNING');
    assert.equal(nameOf(Phase, 42), '#42');
    assert.deepEqual(STAT_KEYS.slice(0, 4), [['phase', 0], ['led', 1], ['renewals', 2], ['renewFailures', 3]]);
    assert.equal(STAT_KEYS.length, 22);
    assert.deepEqual(STAT_KEYS.at(-1), ['sendsDeferred', 21]);
  });
});

describe('timers', () => {
  it('ManualTimers run due callbacks in time order, each at its own time, and skip cancelled ones', () => {
    const t = new ManualTimers(100);
    const seen: Array<[string, number]> = [];
    t.at(150, () => seen.push(['b', t.now()]));
    t.at(120, () => seen.push(['a', t.now()]));
    const c = t.at(130, () => seen.push(['cancelled', t.now()]));
    t.at(150, () => seen.push(['b2', t.now()]));
    c.cancel();
    t.advance(100);
    assert.deepEqual(seen, [['a', 120], ['b', 150], ['b2', 150]]);
    assert.equal(t.now(), 200);
  });

  it('cancelled timers do not pile up (nodes re-arm after every event)', () => {
    const t = new ManualTimers();
    let live = t.at(1e9, () => {});
    for (let i = 0; i < 20_000; i++) {
      live.cancel();
      live = t.at(1e9 + i, () => {});
    }
    assert.ok(t.pending < 3000, `pending ${t.pending}`);
    let fired = 0;
    t.at(5, () => fired++);
    t.advance(10);
    assert.equal(fired, 1);
  });

  it('SystemTimers keep no timer armed once everything is cancelled', async () => {
    const t = new SystemTimers();
    const a = t.at(t.now() + 3_600_000, () => assert.fail('cancelled'));
    const b = t.at(t.now() + 7_200_000, () => assert.fail('cancelled'));
    a.cancel();
    b.cancel();
    assert.equal((t as unknown as { handle: unknown }).handle, null);
  });

  it('SystemTimers coalesce many timers behind one setTimeout and fire them in order', async () => {
    const t = new SystemTimers();
    const order: number[] = [];
    const now = t.now();
    for (let i = 9; i >= 0; i--) t.at(now + 5 + i * 3, () => order.push(i));
    t.at(now + 1, () => order.push(-1)).cancel();
    for (let i = 0; i < 100 && order.length < 10; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(order, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal(t.pending, 0);
  });
});
