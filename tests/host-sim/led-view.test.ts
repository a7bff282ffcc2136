// tests/host-sim/led-view.test.ts
// What the terminal (run --led tty, and the demo's LED view) shows for the board's LED values: bright
// enough to read at every point of a breathe, dark only when the LED is off, and the hue kept.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Led } from '../../host-sim/src/abi.js';
import { LED_CAP, LED_TIMINGS, ledColor } from '../../host-sim/src/led/render.js';
import { displayColor } from '../../host-sim/src/led/terminal.js';

describe('LED display colours', () => {
  it('a Healthy breathe peaks at full green and never drops below 99 (was rgb(0,60,0) at its peak)', () => {
    assert.deepEqual([...displayColor(ledColor(Led.HEALTHY, LED_TIMINGS.healthyPeriodMs / 2))], [0, 255, 0]);
    for (let t = 0; t < LED_TIMINGS.healthyPeriodMs; t += 50) {
      const [r, g, b] = displayColor(ledColor(Led.HEALTHY, t));
      assert.ok(r === 0 && b === 0 && g >= 99 && g <= 255, `t=${t}: ${r},${g},${b}`);
    }
  });

  it('Connecting breathes blue over the same range', () => {
    assert.deepEqual([...displayColor(ledColor(Led.CONNECTING, 333))], [0, 0, 255]);
    assert.ok(displayColor(ledColor(Led.CONNECTING, 0))[2] >= 99);
  });

  it('steady colours are at full brightness and keep their hue; off stays off', () => {
    assert.deepEqual([...displayColor([LED_CAP, 0, 0])], [255, 0, 0]);
    assert.deepEqual([...displayColor([LED_CAP, LED_CAP, LED_CAP])], [255, 255, 255]);
    const [r, g, b] = displayColor(ledColor(Led.WARNING, 0));
    assert.equal(r, 255);
    assert.ok(g > 60 && g < 128 && b === 0, `amber stays amber, not yellow: ${r},${g},${b}`);
    assert.deepEqual([...displayColor([0, 0, 0])], [0, 0, 0]);
  });
});
