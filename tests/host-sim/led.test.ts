// tests/host-sim/led.test.ts
// The LED renderer is a pure function of (pattern, elapsed ms): check every timing of the legend
// (docs/behaviour.md#led: the original firmware's, plus our Warning, Disconnected and Panic) and the Activity overlay.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Led } from '../../host-sim/src/abi.js';
import { LED_CAP, LED_TIMINGS, breathe, ledColor, ledFrame } from '../../host-sim/src/led/render.js';
import { displayColor } from '../../host-sim/src/led/terminal.js';

const OFF = [0, 0, 0];

describe('LED renderer', () => {
  it('breathe: 5 %..25 % of the cap (1..9), darkest at the period start, brightest at half, symmetric', () => {
    for (const period of [667, 3000]) {
      assert.equal(breathe(0, period), 1);
      assert.equal(breathe(period / 2, period), 9);
      assert.equal(breathe(period, period), 1, 'periodic');
      for (let t = 0; t < period; t += 7) {
        const v = breathe(t, period);
        assert.ok(v >= 1 && v <= 9, `breathe(${t}) = ${v}`);
      }
      // Rising through the first half.
      assert.ok(breathe(period * 0.1, period) <= breathe(period * 0.3, period));
      assert.ok(breathe(period * 0.3, period) <= breathe(period * 0.45, period));
    }
  });

  const cases: Array<{ desc: string; pattern: number; at: number; rgb: number[] }> = [
    { desc: 'Connecting is blue, dim at 0', pattern: Led.CONNECTING, at: 0, rgb: [0, 0, 1] },
    { desc: 'Connecting peaks at 333 ms (period 667)', pattern: Led.CONNECTING, at: 333, rgb: [0, 0, 9] },
    { desc: 'Connecting is dim again at 667 ms', pattern: Led.CONNECTING, at: 667, rgb: [0, 0, 1] },
    { desc: 'Healthy is green, peaks at 1500 ms (period 3000)', pattern: Led.HEALTHY, at: 1500, rgb: [0, 9, 0] },
    { desc: 'Healthy is dim at 3000 ms', pattern: Led.HEALTHY, at: 3000, rgb: [0, 1, 0] },
    { desc: 'Activity is yellow at the cap for 100 ms', pattern: Led.ACTIVITY, at: 99, rgb: [LED_CAP, LED_CAP, 0] },
    { desc: 'Activity alone is dark after 100 ms', pattern: Led.ACTIVITY, at: 100, rgb: OFF },
    { desc: 'Booting is solid white', pattern: Led.BOOTING, at: 12345, rgb: [LED_CAP, LED_CAP, LED_CAP] },
    { desc: 'SelfTest red first', pattern: Led.SELF_TEST, at: 0, rgb: [LED_CAP, 0, 0] },
    { desc: 'SelfTest green at 200 ms', pattern: Led.SELF_TEST, at: 200, rgb: [0, LED_CAP, 0] },
    { desc: 'SelfTest blue at 400 ms', pattern: Led.SELF_TEST, at: 400, rgb: [0, 0, LED_CAP] },
    { desc: 'SelfTest off at 600 ms and after', pattern: Led.SELF_TEST, at: 5000, rgb: OFF },
    { desc: 'Warning amber on for the first second', pattern: Led.WARNING, at: 999, rgb: [LED_CAP, 14, 0] },
    { desc: 'Warning off for the second second', pattern: Led.WARNING, at: 1000, rgb: OFF },
    { desc: 'Warning on again at 2000 ms', pattern: Led.WARNING, at: 2000, rgb: [LED_CAP, 14, 0] },
    { desc: 'Disconnected first red flash', pattern: Led.DISCONNECTED, at: 0, rgb: [LED_CAP, 0, 0] },
    { desc: 'Disconnected gap between flashes', pattern: Led.DISCONNECTED, at: 150, rgb: OFF },
    { desc: 'Disconnected second red flash', pattern: Led.DISCONNECTED, at: 300, rgb: [LED_CAP, 0, 0] },
    { desc: 'Disconnected dark until the period ends', pattern: Led.DISCONNECTED, at: 1499, rgb: OFF },
    { desc: 'Disconnected repeats every 1500 ms', pattern: Led.DISCONNECTED, at: 1500, rgb: [LED_CAP, 0, 0] },
    { desc: 'Panic red on', pattern: Led.PANIC, at: 0, rgb: [LED_CAP, 0, 0] },
    { desc: 'Panic off at 100 ms (5 Hz)', pattern: Led.PANIC, at: 100, rgb: OFF },
    { desc: 'Off is off', pattern: Led.OFF, at: 50, rgb: OFF },
    { desc: 'an unknown pattern is off', pattern: 99, at: 50, rgb: OFF },
  ];
  for (const c of cases) {
    it(c.desc, () => assert.deepEqual([...ledColor(c.pattern, c.at)], c.rgb));
  }

  it('Activity overlays the steady pattern for exactly 100 ms, then the steady pattern resumes in phase', () => {
    const state = { steady: Led.HEALTHY, since: 1000, blipAt: 4000 };
    assert.deepEqual([...ledFrame(state, 4000)], [LED_CAP, LED_CAP, 0]);
    assert.deepEqual([...ledFrame(state, 4000 + LED_TIMINGS.activityMs - 1)], [LED_CAP, LED_CAP, 0]);
    assert.deepEqual([...ledFrame(state, 4000 + LED_TIMINGS.activityMs)], [...ledColor(Led.HEALTHY, 3000 + LED_TIMINGS.activityMs)]);
    assert.deepEqual([...ledFrame(state, 3999)], [...ledColor(Led.HEALTHY, 2999)]);
    assert.deepEqual([...ledFrame({ steady: Led.CONNECTING, since: 0, blipAt: -Infinity }, 333)], [0, 0, 9]);
  });

  it('the terminal keeps dark dark and lifts dim values into view', () => {
    assert.deepEqual([...displayColor([0, 0, 0])], [0, 0, 0]);
    const [, g] = displayColor([0, 1, 0]);
    assert.ok(g >= 70 && g < 100);
    assert.deepEqual([...displayColor([LED_CAP, LED_CAP, 0])], [255, 255, 0]);
  });
});
