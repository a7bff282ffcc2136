/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * brain_keeper.h. The brain that failed is the armed one when it never started (a refused snapshot, a trap
 * in start), else the one on probation.
 */
#include <stdio.h>
#include <string.h>

#include "brain_keeper.h"

static void copy(char *out, size_t size, const char *s)
{
    snprintf(out, size, "%s", s != NULL ? s : "");
}

void brain_keeper_init(brain_keeper_t *k, const char *running)
{
    memset(k, 0, sizeof(*k));
    copy(k->state.running, sizeof(k->state.running), running);
}

void brain_keeper_arm(brain_keeper_t *k, const brain_commit_t *c)
{
    k->pending = *c;
    k->pending.manifest = NULL;
    k->pending.manifest_len = 0;
    k->armed = true;
}

static void fail(brain_keeper_t *k, const char *digest, const char *reason, const char *message)
{
    copy(k->state.failed, sizeof(k->state.failed), digest[0] != '\0' ? digest : BRAIN_KEEPER_STARTED_WITH);
    copy(k->state.reason, sizeof(k->state.reason), reason);
    copy(k->state.message, sizeof(k->state.message), message);
}

void brain_keeper_not_swapped(brain_keeper_t *k, const char *why)
{
    if (!k->armed) {
        return;
    }
    k->armed = false;
    char message[sizeof(k->state.message)];
    snprintf(message, sizeof(message), "the running brain did not hand over its state (%s); it keeps running", why);
    fail(k, k->pending.digest, "BrainNotSwapped", message);
}

void brain_keeper_started(brain_keeper_t *k, int64_t renewals, int64_t now_ms, int64_t renew_period_ms)
{
    if (!k->armed) {
        return;
    }
    k->armed = false;
    /* A swap from a brain still on probation keeps the proven one before it as the one to go back to. */
    if (!k->proving) {
        copy(k->previous, sizeof(k->previous), k->state.running);
    }
    copy(k->state.running, sizeof(k->state.running), k->pending.digest);
    k->proving_commit = k->pending;
    k->proving = true;
    k->stalled = false;
    k->baseline = renewals;
    k->deadline_ms = now_ms + BRAIN_WINDOW_PERIODS * renew_period_ms;
}

brain_keeper_verdict_t brain_keeper_check(brain_keeper_t *k, int64_t renewals, int64_t now_ms)
{
    if (!k->proving || k->stalled) {
        return BRAIN_KEEPER_WAIT;
    }
    if (renewals - k->baseline >= BRAIN_PROVE_RENEWALS) {
        k->proving = false;
        k->previous[0] = '\0';
        return BRAIN_KEEPER_PROVEN;
    }
    if (now_ms >= k->deadline_ms && renewals <= k->baseline) {
        k->stalled = true;
        return BRAIN_KEEPER_STALLED;
    }
    return BRAIN_KEEPER_WAIT;
}

void brain_keeper_rolled_back(brain_keeper_t *k, const char *reason, const char *message)
{
    const char *failed = k->armed ? k->pending.digest : k->state.running;
    fail(k, failed, reason, message);
    /* The host goes back to the module before the swap: the one running still when the new one never started
     * and none was on probation, else the proven one kept before the probation. */
    if (!k->armed || k->proving) {
        copy(k->state.running, sizeof(k->state.running), k->previous);
    }
    k->previous[0] = '\0';
    k->armed = false;
    k->proving = false;
    k->stalled = false;
}
