/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * The three brain host calls op by op (assembly/ABI.md "Host calls" 6-8), mirroring
 * host-sim/src/brain/calls.ts, for the wasm host to dispatch to once the swap is wired in
 * (firmware/README.md "Brain slot"): OP_BRAIN_WRITE completes inside host_call (rc is the whole answer);
 * OP_BRAIN_COMMIT and OP_BRAIN_STATUS answer with a result for on_host_result.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "brain_slot.h"
#include "brain_status.h"
#include "brain_verify.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct brain_calls {
    brain_slot_t *slot;
    const brain_verifier_t *verifier;
    const brain_state_t *state;
    /* Log lines ("brain: …"), or NULL. */
    void (*log)(void *ctx, bool warn, const char *line);
    void *log_ctx;
} brain_calls_t;

typedef struct brain_call_outcome {
    int32_t rc;        /* host_call's return */
    bool has_result;   /* rc 0 and an on_host_result to deliver */
    int32_t status;    /* its status: 0, or KUBELET_ERR_HOST_CALL_FAILED */
    char data[512];    /* its bytes: the refusal's words, or the status lines */
    size_t data_len;
    bool swap;         /* a verified commit: swap to the slot's image right after that result */
    brain_commit_t commit; /* what was committed (swap true) */
} brain_call_outcome_t;

/* True for the ops handled here. */
bool brain_calls_handles(int32_t op);

/* Runs op; out gets the outcome (-KUBELET_ERR_UNSUPPORTED for an op not handled here). */
void brain_calls_call(const brain_calls_t *b, int32_t op, int32_t arg, const uint8_t *bytes, size_t len,
                      brain_call_outcome_t *out);

#ifdef __cplusplus
}
#endif
