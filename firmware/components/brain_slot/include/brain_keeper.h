/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * The bookkeeping of brain swaps (docs/brain.md "Swap", "Roll back"), apart from the mechanics of replacing
 * an instance (wasm_host.c): which brain runs, the one before it, the proving window, and the last failure
 * for OP_BRAIN_STATUS. Mirrors host-sim/src/brain/swap.ts: a new brain is proven by BRAIN_PROVE_RENEWALS
 * Lease renewals after its start; it is rolled back when it traps, refuses the snapshot, or STAT_RENEWALS
 * has not grown within BRAIN_WINDOW_PERIODS renew periods. Pure C, no clock of its own: the caller passes
 * the time and the renewal count.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "brain_commit.h"
#include "brain_status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BRAIN_PROVE_RENEWALS 3
#define BRAIN_WINDOW_PERIODS 3
/* failed= when the brain that failed is the one the host was started with (it has no digest). */
#define BRAIN_KEEPER_STARTED_WITH "(the core the host was started with)"

typedef enum {
    BRAIN_KEEPER_WAIT = 0,    /* nothing to do (no brain on probation, or still in its window) */
    BRAIN_KEEPER_PROVEN = 1,  /* the brain on probation renewed enough: keep it */
    BRAIN_KEEPER_STALLED = 2, /* its window passed without a renewal: roll it back (BrainNotRenewing) */
} brain_keeper_verdict_t;

typedef struct brain_keeper {
    brain_state_t state;    /* what OP_BRAIN_STATUS answers */
    char previous[80];      /* the brain running before the one on probation ("" for the host's own) */
    bool armed;             /* a verified commit waits for its swap */
    brain_commit_t pending; /* that commit (manifest pointer cleared) */
    bool proving;
    brain_commit_t proving_commit; /* the brain on probation */
    int64_t baseline;              /* its STAT_RENEWALS right after its start */
    int64_t deadline_ms;           /* by when they must have grown */
    bool stalled;                  /* STALLED was said once; the rollback follows */
} brain_keeper_t;

/* running: the manifest digest of the brain the host starts with ("" or NULL: the core it was given). */
void brain_keeper_init(brain_keeper_t *k, const char *running);

/* A commit was verified; the swap to it follows that commit's result. */
void brain_keeper_arm(brain_keeper_t *k, const brain_commit_t *c);

/* The running brain did not hand over its state: no swap (failed=, reason=BrainNotSwapped). */
void brain_keeper_not_swapped(brain_keeper_t *k, const char *why);

/* The armed brain started from the snapshot: on probation from now, its renewals counted from `renewals`. */
void brain_keeper_started(brain_keeper_t *k, int64_t renewals, int64_t now_ms, int64_t renew_period_ms);

/* After a turn: PROVEN once (the probation ends), STALLED once, else WAIT. */
brain_keeper_verdict_t brain_keeper_check(brain_keeper_t *k, int64_t renewals, int64_t now_ms);

/* The host went back to the brain before (reason BrainCrashed, BrainRefusedSnapshot or BrainNotRenewing). */
void brain_keeper_rolled_back(brain_keeper_t *k, const char *reason, const char *message);

#ifdef __cplusplus
}
#endif
