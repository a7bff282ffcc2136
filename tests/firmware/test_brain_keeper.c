/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * Host tests of the brain swap's bookkeeping (firmware/components/brain_slot/brain_keeper.c), the rules of
 * host-sim/src/brain/swap.ts: proven after 3 renewals, rolled back when renewals do not grow within 3 renew
 * periods, a swap from a brain on probation keeps the proven one to go back to, a refused hand-over and
 * rollbacks in OP_BRAIN_STATUS's lines. No wasm3, no crypto: it runs in CI and in the 32-bit pass.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "brain_keeper.h"

static brain_commit_t commit(const char *digest, const char *version)
{
    brain_commit_t c;
    memset(&c, 0, sizeof(c));
    snprintf(c.digest, sizeof(c.digest), "%s", digest);
    snprintf(c.version, sizeof(c.version), "%s", version);
    c.abi = 2;
    return c;
}

static const char *status(const brain_keeper_t *k)
{
    static char out[512];
    CHECK(brain_status_lines(&k->state, out, sizeof(out)) >= 0);
    return out;
}

static void test_proven(void)
{
    brain_keeper_t k;
    brain_keeper_init(&k, NULL);
    CHECK_EQ_STR(status(&k), "");
    CHECK_EQ_INT(brain_keeper_check(&k, 50, 0), BRAIN_KEEPER_WAIT);
    brain_commit_t c = commit("sha256:b", "0.2.0");
    brain_keeper_arm(&k, &c);
    CHECK_EQ_STR(status(&k), ""); /* still the old brain until the new one started */
    brain_keeper_started(&k, 7, 1000, 10000);
    CHECK_EQ_STR(status(&k), "running=sha256:b\n");
    CHECK(k.proving);
    CHECK_EQ_INT(brain_keeper_check(&k, 9, 5000), BRAIN_KEEPER_WAIT);
    /* Two renewals only, even past the window: it renews, so it is not stalled; not proven either. */
    CHECK_EQ_INT(brain_keeper_check(&k, 9, 40000), BRAIN_KEEPER_WAIT);
    CHECK_EQ_INT(brain_keeper_check(&k, 10, 41000), BRAIN_KEEPER_PROVEN);
    CHECK(!k.proving);
    CHECK_EQ_INT(brain_keeper_check(&k, 20, 50000), BRAIN_KEEPER_WAIT); /* once */
    CHECK_EQ_STR(status(&k), "running=sha256:b\n");
}

static void test_not_renewing(void)
{
    brain_keeper_t k;
    brain_keeper_init(&k, "sha256:a");
    brain_commit_t c = commit("sha256:b", "0.2.0");
    brain_keeper_arm(&k, &c);
    brain_keeper_started(&k, 4, 1000, 10000);
    CHECK_EQ_INT(brain_keeper_check(&k, 4, 30999), BRAIN_KEEPER_WAIT); /* the window is 3 x 10 s */
    CHECK_EQ_INT(brain_keeper_check(&k, 4, 31000), BRAIN_KEEPER_STALLED);
    CHECK_EQ_INT(brain_keeper_check(&k, 4, 32000), BRAIN_KEEPER_WAIT); /* said once; the rollback follows */
    brain_keeper_rolled_back(&k, "BrainNotRenewing", "no Lease renewal within 30 s of the swap");
    CHECK_EQ_STR(status(&k), "running=sha256:a\nfailed=sha256:b\nreason=BrainNotRenewing\n"
                             "message=no Lease renewal within 30 s of the swap\n");
    CHECK(!k.proving);
}

static void test_refused_snapshot_before_start(void)
{
    brain_keeper_t k;
    brain_keeper_init(&k, "");
    brain_commit_t c = commit("sha256:b", "0.2.0");
    brain_keeper_arm(&k, &c);
    /* The new brain never started: the failure is the armed one's, and the host's own core runs again. */
    brain_keeper_rolled_back(&k, "BrainRefusedSnapshot", "start returned error 5\r\nline two");
    CHECK_EQ_STR(status(&k), "failed=sha256:b\nreason=BrainRefusedSnapshot\nmessage=start returned error 5 line two\n");
    CHECK(!k.armed);

    /* Started from a proven brain: a new one that never starts leaves that one running. */
    brain_keeper_init(&k, "sha256:a");
    brain_keeper_arm(&k, &c);
    brain_keeper_rolled_back(&k, "BrainCrashed", "it trapped in start: [trap] unreachable executed");
    CHECK_EQ_STR(status(&k), "running=sha256:a\nfailed=sha256:b\nreason=BrainCrashed\n"
                             "message=it trapped in start: [trap] unreachable executed\n");
}

static void test_not_swapped(void)
{
    brain_keeper_t k;
    brain_keeper_init(&k, "sha256:a");
    brain_commit_t c = commit("sha256:b", "0.2.0");
    brain_keeper_arm(&k, &c);
    brain_keeper_not_swapped(&k, "snapshot_take returned error 6");
    CHECK_EQ_STR(status(&k), "running=sha256:a\nfailed=sha256:b\nreason=BrainNotSwapped\n"
                             "message=the running brain did not hand over its state (snapshot_take returned error 6); "
                             "it keeps running\n");
    brain_keeper_started(&k, 0, 0, 10000); /* nothing armed: ignored */
    CHECK_EQ_STR(k.state.running, "sha256:a");
}

static void test_swap_while_proving_never_starts(void)
{
    brain_keeper_t k;
    brain_keeper_init(&k, "sha256:a");
    brain_commit_t b = commit("sha256:b", "0.2.0");
    brain_commit_t c = commit("sha256:c", "0.3.0");
    brain_keeper_arm(&k, &b);
    brain_keeper_started(&k, 1, 0, 10000);
    brain_keeper_arm(&k, &c);
    /* c never starts: the host goes back to a, the proven one, not to b on probation. */
    brain_keeper_rolled_back(&k, "BrainRefusedSnapshot", "start returned error 5");
    CHECK_EQ_STR(status(&k), "running=sha256:a\nfailed=sha256:c\nreason=BrainRefusedSnapshot\nmessage=start returned error 5\n");
    CHECK(!k.proving);
}

static void test_swap_while_proving(void)
{
    brain_keeper_t k;
    brain_keeper_init(&k, "sha256:a");
    brain_commit_t b = commit("sha256:b", "0.2.0");
    brain_commit_t c = commit("sha256:c", "0.3.0");
    brain_keeper_arm(&k, &b);
    brain_keeper_started(&k, 1, 0, 10000);
    brain_keeper_arm(&k, &c);
    brain_keeper_started(&k, 2, 5000, 10000);
    CHECK_EQ_STR(k.state.running, "sha256:c");
    CHECK_EQ_STR(k.previous, "sha256:a"); /* the unproven b is never the fallback */
    CHECK_EQ_INT(k.baseline, 2);
    brain_keeper_rolled_back(&k, "BrainCrashed", "it trapped: unreachable");
    CHECK_EQ_STR(status(&k), "running=sha256:a\nfailed=sha256:c\nreason=BrainCrashed\nmessage=it trapped: unreachable\n");
}

int main(void)
{
    RUN(test_proven);
    RUN(test_not_renewing);
    RUN(test_refused_snapshot_before_start);
    RUN(test_not_swapped);
    RUN(test_swap_while_proving);
    RUN(test_swap_while_proving_never_starts);
    return check_summary("test_brain_keeper");
}
