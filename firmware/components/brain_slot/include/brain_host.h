/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * The brain calls wired into the wasm host (docs/brain.md "Store and verify", "Swap", "Roll back"), shared by
 * the Linux port and the board: ops 6-8 answered through brain_calls (OP_BRAIN_WRITE inside host_call, the
 * commit's and the status's results queued with wasm_host_queue_result), the verified image handed to
 * wasm_host_swap_after, and the probation (brain_keeper) driven from after_turn and the host's brain events.
 * Mirrors host-sim/src/node.ts (brainCall, swapTo, rollBack, proven).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "brain_keeper.h"
#include "brain_slot.h"
#include "brain_verify.h"
#include "wasm_host.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct brain_host_config {
    /* The slot's backend; NULL: no slot, and ops 6-8 answer -KUBELET_ERR_UNSUPPORTED. */
    const brain_backend_t *backend;
    /* The host's brain public keys (none: every commit is BrainUntrusted); copied. */
    const uint8_t (*keys)[BRAIN_PUBLIC_KEY_BYTES];
    size_t key_count;
    const char *keys_hint;
    /* The module check past the header (wasm_host_check_module), on the image read into RAM; NULL: none. */
    int (*check_module)(const uint8_t *wasm, size_t size, uint64_t abi, char *why, size_t why_size);
    /* The digest of the brain the host starts with ("" or NULL: the core it was given). */
    const char *running_digest;
    /* The core's renew period (the proving window is BRAIN_WINDOW_PERIODS of them); 0: 10 s. */
    uint32_t renew_period_ms;
    /* Optional: keep a proven brain (Linux: brain-current.wasm in the state directory). */
    void (*save_proven)(void *ctx, const brain_commit_t *c, const uint8_t *wasm, size_t size);
    /* Log lines ("brain: …"). */
    void (*log)(void *ctx, bool warn, const char *line);
    void *ctx;
} brain_host_config_t;

typedef struct brain_host brain_host_t;

/* NULL with words in err when out of memory. */
brain_host_t *brain_host_create(const brain_host_config_t *cfg, char *err, size_t err_size);

/* True for ops 6-8 (the caller routes them here). */
bool brain_host_serves(int32_t op);

/* host_call for ops 6-8 from the wasm task: the rc host_call returns. */
int32_t brain_host_call(brain_host_t *b, wasm_host_t *h, int32_t req, int32_t op, int32_t arg, const uint8_t *data,
                        size_t len);

/* wasm_host_ops_t.brain. */
void brain_host_on_event(brain_host_t *b, wasm_host_t *h, wasm_host_brain_event_t event, const char *reason,
                         const char *detail);

/* From after_turn: proves or rolls back the brain on probation. */
void brain_host_after_turn(brain_host_t *b, wasm_host_t *h);

/* The host starts another brain than cfg.running_digest said (the board: its proven brain does not run,
 * so it runs the embedded core, running ""): OP_BRAIN_STATUS answers for that one from now. */
void brain_host_started_with(brain_host_t *b, const char *running);

/* What OP_BRAIN_STATUS would answer now. */
const brain_state_t *brain_host_state(const brain_host_t *b);

void brain_host_destroy(brain_host_t *b);

#ifdef __cplusplus
}
#endif
