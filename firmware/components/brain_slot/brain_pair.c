/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * brain_pair.h.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brain_pair.h"
#include "brain_record.h"
#include "brain_verify.h"

/* How much of an image is copied at a time when it must be written again. */
#define COPY_CHUNK 4096

struct brain_pair {
    brain_backend_t backend; /* what the slot writes through */
    const brain_backend_t *slots[2];
    const brain_record_store_t *records;
    int proven;     /* the slot the record names, or -1 */
    int target; /* the slot the image being written goes to (reads of it too), or -1 (none begun) */
    char record_error[200]; /* why the record was not usable at open ("" when it was, or there was none) */
};

static int other(int slot)
{
    return slot == 0 ? 1 : 0;
}

static int pair_begin(void *ctx, char *err, size_t err_size)
{
    brain_pair_t *p = ctx;
    p->target = other(p->proven);
    const brain_backend_t *b = p->slots[p->target];
    if (b->begin(b->ctx, err, err_size) != 0) {
        p->target = -1;
        return -1;
    }
    return 0;
}

static int pair_write(void *ctx, size_t offset, const uint8_t *bytes, size_t len, char *err, size_t err_size)
{
    brain_pair_t *p = ctx;
    if (p->target < 0) {
        snprintf(err, err_size, "no brain image was begun");
        return -1;
    }
    const brain_backend_t *b = p->slots[p->target];
    return b->write(b->ctx, offset, bytes, len, err, err_size);
}

static int pair_read(void *ctx, size_t offset, uint8_t *out, size_t len, char *err, size_t err_size)
{
    brain_pair_t *p = ctx;
    if (p->target < 0) {
        snprintf(err, err_size, "no brain image was written");
        return -1;
    }
    const brain_backend_t *b = p->slots[p->target];
    return b->read(b->ctx, offset, out, len, err, err_size);
}

brain_pair_t *brain_pair_open(const brain_backend_t *slot0, const brain_backend_t *slot1,
                              const brain_record_store_t *records, char *err, size_t err_size)
{
    brain_pair_t *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    p->slots[0] = slot0;
    p->slots[1] = slot1;
    p->records = records;
    p->proven = -1;
    p->target = -1;
    p->backend = (brain_backend_t){.ctx = p,
                                   .size = slot0->size < slot1->size ? slot0->size : slot1->size,
                                   .begin = pair_begin,
                                   .write = pair_write,
                                   .read = pair_read};
    char *line = malloc(BRAIN_RECORD_MAX_BYTES);
    brain_commit_t *c = malloc(sizeof(*c));
    char why[160] = "";
    long n = line != NULL && c != NULL ? records->get(records->ctx, line, BRAIN_RECORD_MAX_BYTES, why, sizeof(why)) : -1;
    int slot = -1;
    if (line == NULL || c == NULL) {
        snprintf(p->record_error, sizeof(p->record_error), "out of memory reading the record");
    } else if (n < 0) {
        snprintf(p->record_error, sizeof(p->record_error), "the record cannot be read: %s", why);
    } else if (n > 0 && brain_record_parse(line, (size_t)n, c, &slot, why, sizeof(why)) != 0) {
        snprintf(p->record_error, sizeof(p->record_error), "the record is not one: %s", why);
    } else if (n > 0 && slot < 0) {
        snprintf(p->record_error, sizeof(p->record_error), "the record names no slot");
    } else if (n > 0) {
        p->proven = slot;
    }
    free(line);
    free(c);
    return p;
}

const brain_backend_t *brain_pair_backend(brain_pair_t *p)
{
    return &p->backend;
}

int brain_pair_proven_slot(const brain_pair_t *p)
{
    return p->proven;
}

int brain_pair_load(brain_pair_t *p, uint8_t **wasm, size_t *size, brain_commit_t *c, char *err, size_t err_size)
{
    if (p->record_error[0] != '\0') {
        snprintf(err, err_size, "%s", p->record_error);
        return -1;
    }
    if (p->proven < 0) {
        return 0;
    }
    char *line = malloc(BRAIN_RECORD_MAX_BYTES);
    char why[160] = "";
    int slot = -1;
    long n = line != NULL ? p->records->get(p->records->ctx, line, BRAIN_RECORD_MAX_BYTES, why, sizeof(why)) : -1;
    if (n <= 0 || brain_record_parse(line, (size_t)n, c, &slot, why, sizeof(why)) != 0 || slot != p->proven) {
        snprintf(err, err_size, "the record of the proven brain cannot be read again: %s", why[0] ? why : "changed");
        free(line);
        return -1;
    }
    free(line);
    const brain_backend_t *b = p->slots[slot];
    if (c->size == 0 || c->size > b->size) {
        snprintf(err, err_size, "the record says %llu bytes, but brain slot %d holds at most %zu",
                 (unsigned long long)c->size, slot, b->size);
        return -1;
    }
    size_t len = (size_t)c->size;
    uint8_t *bytes = malloc(len);
    if (bytes == NULL) {
        snprintf(err, err_size, "out of memory for the %zu bytes of the proven brain", len);
        return -1;
    }
    if (b->read(b->ctx, 0, bytes, len, why, sizeof(why)) != 0) {
        snprintf(err, err_size, "brain slot %d cannot be read: %s", slot, why);
        free(bytes);
        return -1;
    }
    char layer[BRAIN_DIGEST_LEN + 1];
    if (brain_digest(bytes, len, layer) != 0) {
        snprintf(err, err_size, "cannot hash brain slot %d (mbedTLS)", slot);
        free(bytes);
        return -1;
    }
    if (strcmp(layer, c->layer) != 0) {
        snprintf(err, err_size, "brain slot %d holds %s, but the record names %s (%s): not running it", slot, layer,
                 c->layer, c->version);
        free(bytes);
        return -1;
    }
    *wasm = bytes;
    *size = len;
    return 1;
}

/* Writes wasm into slot again, from offset 0. */
static int copy_into(const brain_backend_t *b, int slot, const uint8_t *wasm, size_t size, char *err, size_t err_size)
{
    char why[160];
    if (b->begin(b->ctx, why, sizeof(why)) != 0) {
        snprintf(err, err_size, "brain slot %d: %s", slot, why);
        return -1;
    }
    for (size_t at = 0; at < size; at += COPY_CHUNK) {
        size_t n = size - at < COPY_CHUNK ? size - at : COPY_CHUNK;
        if (b->write(b->ctx, at, wasm + at, n, why, sizeof(why)) != 0) {
            snprintf(err, err_size, "brain slot %d: %s", slot, why);
            return -1;
        }
    }
    return 0;
}

int brain_pair_save(brain_pair_t *p, const brain_commit_t *c, const uint8_t *wasm, size_t size, const char *proven_at,
                    char *err, size_t err_size)
{
    /* Where the brain was pulled: the slot that did not hold the proven one. Every begin changes a slot's
     * first bytes, so when that slot still hashes to the brain's layer, no pull has begun in it since. */
    int slot = other(p->proven);
    char why[160];
    char have[BRAIN_DIGEST_LEN + 1] = "";
    if (size == 0 || size > p->backend.size) {
        snprintf(err, err_size, "the brain is %zu bytes; a brain slot holds at most %zu", size, p->backend.size);
        return -1;
    }
    if (brain_backend_digest(p->slots[slot], size, have, why, sizeof(why)) != 0 || strcmp(have, c->layer) != 0) {
        /* A later pull is using that slot. The brain that proved itself replaces the one proven before it
         * (which nothing needs any more) in the other slot, and the pull goes on where it is. */
        slot = other(slot);
        if (copy_into(p->slots[slot], slot, wasm, size, err, err_size) != 0) {
            return -1;
        }
        if (brain_backend_digest(p->slots[slot], size, have, why, sizeof(why)) != 0) {
            snprintf(err, err_size, "brain slot %d cannot be read back: %s", slot, why);
            return -1;
        }
        if (strcmp(have, c->layer) != 0) {
            snprintf(err, err_size, "brain slot %d reads back as %s, not %s: the flash may be failing", slot, have,
                     c->layer);
            return -1;
        }
    }
    char line[BRAIN_RECORD_MAX_BYTES];
    if (brain_record_format(c, size, slot, proven_at, line, sizeof(line), err, err_size) < 0) {
        return -1;
    }
    if (p->records->set(p->records->ctx, line, why, sizeof(why)) != 0) {
        snprintf(err, err_size, "the record cannot be written: %s", why);
        return -1;
    }
    p->proven = slot;
    p->record_error[0] = '\0';
    return 0;
}

void brain_pair_close(brain_pair_t *p)
{
    free(p);
}
