/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * brain_calls.h. A commit forgets the slot's image either way (it is the next brain's now, or refused),
 * so the next pull starts again at offset 0, as host-sim does.
 */
#include <stdio.h>
#include <string.h>

#include "kubelet_abi.h"
#include "brain_calls.h"

static void say(const brain_calls_t *b, bool warn, const char *fmt, const char *a, const char *c)
{
    if (b->log != NULL) {
        char line[640];
        snprintf(line, sizeof(line), fmt, a, c);
        b->log(b->log_ctx, warn, line);
    }
}

bool brain_calls_handles(int32_t op)
{
    return op == KUBELET_OP_BRAIN_WRITE || op == KUBELET_OP_BRAIN_COMMIT || op == KUBELET_OP_BRAIN_STATUS;
}

void brain_calls_call(const brain_calls_t *b, int32_t op, int32_t arg, const uint8_t *bytes, size_t len,
                      brain_call_outcome_t *out)
{
    memset(out, 0, sizeof(*out));
    if (op == KUBELET_OP_BRAIN_WRITE) {
        char why[256] = "";
        out->rc = brain_slot_write(b->slot, arg, bytes, len, why, sizeof(why));
        if (out->rc == -KUBELET_ERR_HOST_CALL_FAILED) {
            say(b, true, "brain: %s%s", why, "");
        }
        return;
    }
    if (op == KUBELET_OP_BRAIN_STATUS) {
        long n = brain_status_lines(b->state, out->data, sizeof(out->data));
        out->rc = 0;
        out->has_result = true;
        if (n < 0) {
            /* The buffer holds two digests, a reason and a 256-byte message: cannot happen; say so if it does. */
            out->status = KUBELET_ERR_HOST_CALL_FAILED;
            n = snprintf(out->data, sizeof(out->data), "the brain status does not fit %zu bytes", sizeof(out->data));
        }
        out->data_len = (size_t)n;
        return;
    }
    if (op != KUBELET_OP_BRAIN_COMMIT) {
        out->rc = -KUBELET_ERR_UNSUPPORTED;
        return;
    }
    brain_verify_result_t r = brain_verify_commit(b->verifier, b->slot, bytes, len, &out->commit, out->data,
                                                  sizeof(out->data));
    brain_slot_reset(b->slot);
    if (r == BRAIN_VERIFY_MALFORMED) {
        say(b, true, "brain: commit refused: %s%s", out->data, "");
        memset(out, 0, sizeof(*out));
        out->rc = -KUBELET_ERR_HOST_CALL_INVALID;
        return;
    }
    out->rc = 0;
    out->has_result = true;
    if (r == BRAIN_VERIFY_REFUSED) {
        say(b, true, "brain: refused: %s%s", out->data, "");
        out->status = KUBELET_ERR_HOST_CALL_FAILED;
        out->data_len = strlen(out->data);
        return;
    }
    say(b, false, "brain: %s (version %s) verified; swapping to it", out->commit.digest, out->commit.version);
    out->data[0] = '\0';
    out->swap = true;
}
