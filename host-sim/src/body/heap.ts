// host-sim/src/body/heap.ts
// A simulated ESP32-S3 heap: free and total bytes as a pure function of the scenario and the time since
// it was set. The node reports it with `on_heap` before every `on_timer`, and at once when it changes.
//
// Scenarios (spec strings `NAME[:key=value,...]`, sizes in bytes, times in seconds):
//   steady    free stays at `free`
//   leak      free falls from `free` by `rate` bytes/s down to `floor` (crosses the 20 KiB MemoryPressure
//             threshold after (free - 20480) / rate seconds)
//   sawtooth  free falls from `free` to `low` over `period` seconds, then jumps back, forever

import { splitOnce } from '../util.js';

/** The board's heap in the original firmware: 64 KiB + 36 KiB (docs/behaviour.md#heap-percentage). */
export const HEAP_TOTAL_BYTES = 102_400;

export interface HeapSpec {
  scenario: 'steady' | 'leak' | 'sawtooth';
  total: number;
  /** Free bytes at the start (steady: always). */
  free: number;
  /** leak: bytes lost per second. */
  rate: number;
  /** leak: free never falls below this. */
  floor: number;
  /** sawtooth: lowest free value. */
  low: number;
  /** sawtooth: seconds per tooth. */
  period: number;
}

export const DEFAULT_HEAP: HeapSpec = {
  scenario: 'steady', total: HEAP_TOTAL_BYTES, free: 65_536, rate: 256, floor: 8_192, low: 16_384, period: 120,
};

/** Parses `steady`, `leak:rate=512,floor=4096`, `sawtooth:low=12000,period=60`, ... Throws on nonsense. */
export function parseHeapSpec(text: string, base: HeapSpec = DEFAULT_HEAP): HeapSpec {
  const [name, params = ''] = splitOnce(text.trim(), ':');
  if (name !== 'steady' && name !== 'leak' && name !== 'sawtooth') {
    throw new Error(`unknown heap scenario '${name}' (steady, leak, sawtooth)`);
  }
  const spec: HeapSpec = { ...base, scenario: name };
  for (const kv of params.split(',').filter(Boolean)) {
    const [k, v] = splitOnce(kv, '=');
    if (!(k in DEFAULT_HEAP) || k === 'scenario') throw new Error(`unknown heap parameter '${k}' (total, free, rate, floor, low, period)`);
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < 0) throw new Error(`heap parameter ${k} needs a non-negative number, got '${v ?? ''}'`);
    (spec as unknown as Record<string, number>)[k] = n;
  }
  if (spec.free > spec.total) throw new Error(`heap free (${spec.free}) exceeds total (${spec.total})`);
  if (spec.scenario === 'sawtooth' && (spec.period <= 0 || spec.low > spec.free)) {
    throw new Error('sawtooth needs period > 0 and low <= free');
  }
  return spec;
}

/** Free bytes `elapsedMs` after the scenario started. */
export function heapFree(spec: HeapSpec, elapsedMs: number): number {
  const t = Math.max(0, elapsedMs) / 1000;
  switch (spec.scenario) {
    case 'steady':
      return Math.round(spec.free);
    case 'leak':
      return Math.round(Math.max(Math.min(spec.floor, spec.free), spec.free - spec.rate * t));
    case 'sawtooth': {
      const phase = (t % spec.period) / spec.period;
      return Math.round(spec.free - (spec.free - spec.low) * phase);
    }
  }
}

/** A short description for logs and `stats`. */
export function describeHeap(spec: HeapSpec): string {
  switch (spec.scenario) {
    case 'steady':
      return `steady ${spec.free}/${spec.total}`;
    case 'leak':
      return `leak from ${spec.free} at ${spec.rate} B/s to ${spec.floor} (of ${spec.total})`;
    case 'sawtooth':
      return `sawtooth ${spec.free}..${spec.low} every ${spec.period} s (of ${spec.total})`;
  }
}
