/**
 * The fuzzer (tests/fuzz/fuzz.ts) for a bounded time with fixed seeds: mutated responses in bursts, and
 * after every burst a node that renews again, with no trap, no hang and memory inside the budget.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { fuzzSeed, MEMORY_BUDGET } from "../fuzz/fuzz.js";

for (const seed of [1, 2, 3, 4]) {
  test(`fuzz seed ${seed}: 200 bursts of mutated responses, recovery after each`, async () => {
    const r = await fuzzSeed(seed, 200);
    assert.deepEqual(r.findings, []);
    assert.equal(r.bursts, 200);
    assert.ok(r.mutated > 400, `mutated ${r.mutated} responses`);
    assert.ok(r.peakMemory <= MEMORY_BUDGET, `peak ${r.peakMemory} B`);
    assert.ok(r.registryRequests > 5, `registry requests ${r.registryRequests}`);
  });
}
