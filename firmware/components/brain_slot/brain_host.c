/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * brain_host.h. The module check reads the image into RAM once: the same block is what the swap runs (wasm3
 * keeps pointers into the bytes it parsed, so they must live as long as the module).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelet_abi.h"
#include "pk_os.h"
#include "brain_calls.h"
#include "brain_host.h"

struct brain_host {
    brain_host_config_t cfg;
    uint8_t (*keys)[BRAIN_PUBLIC_KEY_BYTES];
    brain_slot_t slot;
    brain_verifier_t verifier;
    brain_calls_t calls;
    brain_keeper_t keeper;
    /* The checked image of the commit in progress (owned until handed to the swap). */
    uint8_t *image;
    size_t image_size;
};

static void say(brain_host_t *b, bool warn, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(brain_host_t *b, bool warn, const char *fmt, ...)
{
    if (b->cfg.log == NULL) {
        return;
    }
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    b->cfg.log(b->cfg.ctx, warn, line);
}

static void calls_log(void *ctx, bool warn, const char *line)
{
    brain_host_t *b = ctx;
    if (b->cfg.log != NULL) {
        b->cfg.log(b->cfg.ctx, warn, line);
    }
}

/* brain_verifier_t's hook: the image into RAM, then the caller's wasm3 check; the block is kept for the swap. */
static int module_check(void *ctx, const brain_slot_t *slot, const brain_commit_t *c, char *why, size_t why_size)
{
    brain_host_t *b = ctx;
    free(b->image);
    b->image = NULL;
    b->image_size = 0;
    uint8_t *image = malloc(slot->written > 0 ? slot->written : 1);
    if (image == NULL) {
        snprintf(why, why_size, "no memory to load its %zu bytes", slot->written);
        return -1;
    }
    if (brain_slot_read(slot, 0, image, slot->written, why, why_size) != 0) {
        free(image);
        return -1;
    }
    if (b->cfg.check_module != NULL && b->cfg.check_module(image, slot->written, c->abi, why, why_size) != 0) {
        free(image);
        return -1;
    }
    b->image = image;
    b->image_size = slot->written;
    return 0;
}

brain_host_t *brain_host_create(const brain_host_config_t *cfg, char *err, size_t err_size)
{
    brain_host_t *b = calloc(1, sizeof(*b));
    if (b == NULL || (cfg->key_count > 0 && (b->keys = calloc(cfg->key_count, sizeof(*b->keys))) == NULL)) {
        free(b);
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    b->cfg = *cfg;
    if (b->cfg.renew_period_ms == 0) {
        b->cfg.renew_period_ms = 10000;
    }
    if (cfg->key_count > 0) {
        memcpy(b->keys, cfg->keys, cfg->key_count * sizeof(*b->keys));
    }
    b->cfg.keys = NULL;
    if (cfg->backend != NULL) {
        brain_slot_init(&b->slot, cfg->backend);
    }
    b->verifier = (brain_verifier_t){.keys = (const uint8_t(*)[BRAIN_PUBLIC_KEY_BYTES])b->keys,
                                     .key_count = cfg->key_count,
                                     .keys_hint = cfg->keys_hint,
                                     .module_check = module_check,
                                     .module_ctx = b};
    brain_keeper_init(&b->keeper, cfg->running_digest);
    b->calls = (brain_calls_t){.slot = &b->slot, .verifier = &b->verifier, .state = &b->keeper.state,
                               .log = calls_log, .log_ctx = b};
    return b;
}

bool brain_host_serves(int32_t op)
{
    return brain_calls_handles(op);
}

int32_t brain_host_call(brain_host_t *b, wasm_host_t *h, int32_t req, int32_t op, int32_t arg, const uint8_t *data,
                        size_t len)
{
    if (b == NULL || b->cfg.backend == NULL) {
        return -KUBELET_ERR_UNSUPPORTED;
    }
    static brain_call_outcome_t out; /* about 2 KiB: the wasm task's stack is small on the board */
    brain_calls_call(&b->calls, op, arg, data, len, &out);
    if (!out.has_result) {
        return out.rc;
    }
    if (!wasm_host_queue_result(h, req, out.status, (const uint8_t *)out.data, out.data_len)) {
        free(b->image);
        b->image = NULL;
        return -KUBELET_ERR_HOST_CALL_FAILED;
    }
    if (out.swap) {
        if (b->image == NULL) {
            /* Cannot happen: the module check kept the image it passed. */
            say(b, true, "brain: %s verified but its image is not in memory; not swapping", out.commit.digest);
            return 0;
        }
        brain_keeper_arm(&b->keeper, &out.commit);
        wasm_host_swap_after(h, req, b->image, b->image_size);
        b->image = NULL;
        b->image_size = 0;
    } else {
        free(b->image);
        b->image = NULL;
    }
    return 0;
}

void brain_host_on_event(brain_host_t *b, wasm_host_t *h, wasm_host_brain_event_t event, const char *reason,
                         const char *detail)
{
    if (b == NULL) {
        return;
    }
    switch (event) {
    case WASM_HOST_BRAIN_NOT_SWAPPED:
        say(b, true, "brain: not swapping to %s: %s", b->keeper.pending.digest, detail);
        brain_keeper_not_swapped(&b->keeper, detail);
        break;
    case WASM_HOST_BRAIN_STARTED: {
        int64_t renewals = wasm_host_stat(h, KUBELET_STAT_RENEWALS);
        brain_keeper_started(&b->keeper, renewals, pk_now_ms(), b->cfg.renew_period_ms);
        say(b, false, "brain: %s (version %s) running from the snapshot; proven after %d Lease renewals within %" PRIu32
                      " s",
            b->keeper.state.running, b->keeper.proving_commit.version, BRAIN_PROVE_RENEWALS,
            BRAIN_WINDOW_PERIODS * b->cfg.renew_period_ms / 1000);
        break;
    }
    case WASM_HOST_BRAIN_ROLLED_BACK: {
        const char *failed = b->keeper.armed ? b->keeper.pending.digest : b->keeper.state.running;
        say(b, true, "brain: %s rolled back: %s: %s", failed, reason, detail);
        brain_keeper_rolled_back(&b->keeper, reason, detail);
        say(b, false, "brain: running %s again, from the snapshot it handed over",
            b->keeper.state.running[0] ? b->keeper.state.running : "the core given at start");
        break;
    }
    default:
        break;
    }
}

void brain_host_after_turn(brain_host_t *b, wasm_host_t *h)
{
    if (b == NULL || !b->keeper.proving) {
        return;
    }
    int64_t renewals = wasm_host_stat(h, KUBELET_STAT_RENEWALS);
    brain_keeper_verdict_t v = brain_keeper_check(&b->keeper, renewals, pk_now_ms());
    if (v == BRAIN_KEEPER_PROVEN) {
        const brain_commit_t *c = &b->keeper.proving_commit;
        say(b, false, "brain: %s proven (%d Lease renewals since the swap)", c->digest, BRAIN_PROVE_RENEWALS);
        wasm_host_keep_brain(h);
        size_t size = 0;
        const uint8_t *wasm = wasm_host_running_module(h, &size);
        if (b->cfg.save_proven != NULL) {
            b->cfg.save_proven(b->cfg.ctx, c, wasm, size);
        }
    } else if (v == BRAIN_KEEPER_STALLED) {
        char detail[96];
        snprintf(detail, sizeof(detail), "no Lease renewal within %" PRIu32 " s of the swap",
                 BRAIN_WINDOW_PERIODS * b->cfg.renew_period_ms / 1000);
        wasm_host_roll_back(h, "BrainNotRenewing", detail);
    }
}

void brain_host_started_with(brain_host_t *b, const char *running)
{
    if (b != NULL) {
        brain_keeper_init(&b->keeper, running);
    }
}

const brain_state_t *brain_host_state(const brain_host_t *b)
{
    return &b->keeper.state;
}

void brain_host_destroy(brain_host_t *b)
{
    if (b != NULL) {
        free(b->image);
        free(b->keys);
        free(b);
    }
}
