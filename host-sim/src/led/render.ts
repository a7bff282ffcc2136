// host-sim/src/led/render.ts
// The LED as a pure function: (pattern, milliseconds since it was set) -> the RGB the board's WS2812 would
// show, capped at 38/255 like the firmware (docs/behaviour.md#led). Activity is an overlay: 100 ms of yellow
// after each blip, then the steady pattern again. The terminal renderer only scales these values.
import { Led } from '../abi.js';

export type Rgb = readonly [r: number, g: number, b: number];

/** Brightness cap of every channel: 38/255, about 15 % (docs/behaviour.md#led). */
export const LED_CAP = 38;

/** Every timing of the legend, in ms (README.md "LED legend"). */
export const LED_TIMINGS = {
  /** SelfTest: red, green, blue, off; one step each. */
  selfTestStepMs: 200,
  /** Connecting: blue breathe period (~1.5 Hz). */
  connectingPeriodMs: 667,
  /** Healthy: green breathe period (~0.33 Hz). */
  healthyPeriodMs: 3000,
  /** Activity: yellow blip length. */
  activityMs: 100,
  /** Warning: amber, on for half of this period, off for the other half. */
  warningPeriodMs: 2000,
  /** Disconnected: red double blink, two flashes of `disconnectedFlashMs` per period. */
  disconnectedPeriodMs: 1500,
  disconnectedFlashMs: 150,
  /** Panic: red, on for half of this period. */
  panicPeriodMs: 200,
} as const;

const OFF: Rgb = [0, 0, 0];
const RED: Rgb = [LED_CAP, 0, 0];
const GREEN: Rgb = [0, LED_CAP, 0];
const BLUE: Rgb = [0, 0, LED_CAP];
const WHITE: Rgb = [LED_CAP, LED_CAP, LED_CAP];
const YELLOW: Rgb = [LED_CAP, LED_CAP, 0];
const AMBER: Rgb = [LED_CAP, 14, 0];

/** The colour of `pattern` shown alone, `elapsedMs` after it was set. */
export function ledColor(pattern: number, elapsedMs: number): Rgb {
  const t = Math.max(0, Math.floor(elapsedMs));
  const T = LED_TIMINGS;
  switch (pattern) {
    case Led.SELF_TEST: {
      const step = Math.floor(t / T.selfTestStepMs);
      return step === 0 ? RED : step === 1 ? GREEN : step === 2 ? BLUE : OFF;
    }
    case Led.BOOTING:
      return WHITE;
    case Led.CONNECTING:
      return [0, 0, breathe(t, T.connectingPeriodMs)];
    case Led.HEALTHY:
      return [0, breathe(t, T.healthyPeriodMs), 0];
    case Led.ACTIVITY:
      return t < T.activityMs ? YELLOW : OFF;
    case Led.WARNING:
      return t % T.warningPeriodMs < T.warningPeriodMs / 2 ? AMBER : OFF;
    case Led.DISCONNECTED: {
      const p = t % T.disconnectedPeriodMs;
      const f = T.disconnectedFlashMs;
      return p < f || (p >= 2 * f && p < 3 * f) ? RED : OFF;
    }
    case Led.PANIC:
      return t % T.panicPeriodMs < T.panicPeriodMs / 2 ? RED : OFF;
    default:
      return OFF;
  }
}

/** What a node's LED shows: the steady pattern, and when the last Activity blip started. */
export interface LedState {
  /** The steady pattern (never ACTIVITY). */
  steady: number;
  /** When `steady` was set (ms, on the node's clock). */
  since: number;
  /** When the last Activity blip started, or -Infinity. */
  blipAt: number;
}

/** The colour at time `now` (same clock as the state's times): a blip overlays the steady pattern. */
export function ledFrame(state: LedState, now: number): Rgb {
  if (now - state.blipAt >= 0 && now - state.blipAt < LED_TIMINGS.activityMs) return YELLOW;
  return ledColor(state.steady, now - state.since);
}

/**
 * The firmware's breathe curve: a triangle over the period scaled to 0..255, eased with the integer
 * smoothstep 3n² − 2n³ (rescaled by /255), mapped to 5 %..25 % of the cap: 1..9 out of 255.
 */
export function breathe(elapsedMs: number, periodMs: number): number {
  const t = elapsedMs % periodMs;
  const half = periodMs / 2;
  const tri = t < half ? t / half : (periodMs - t) / half;
  const n = Math.floor(tri * 255);
  const eased = Math.floor((n * n * (3 * 255 - 2 * n)) / (255 * 255));
  const pct = 5 + Math.floor((eased * 20) / 255);
  return Math.floor((LED_CAP * pct) / 100);
}
