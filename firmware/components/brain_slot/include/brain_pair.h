/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * The board's two brain slots and the record of the proven one (docs/brain.md "Roll back"): a pulled brain is
 * written to the slot that does not hold the proven brain, so that a reset in the middle of a pull, a commit
 * that is refused, or a brain rolled back on probation never touches what the board boots. When a brain has
 * proved itself (brain_host's save_proven), the record names its slot, and the next start runs it instead of
 * the core in the app image. The record is replaced whole (NVS on the board) after the image is in place and
 * read back, so a power cut at any point leaves either the old record with its untouched slot, or the new
 * one with a verified image.
 *
 * Portable over two brain_backend_t (esp_partition on the board; files or memory in the tests) and a record
 * store (an NVS string on the board).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "brain_commit.h"
#include "brain_slot.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where the record of the proven brain is kept. */
typedef struct brain_record_store {
    void *ctx;
    /* The record line into buf, NUL-terminated: its length, 0 when there is none, -1 with words in err. */
    long (*get)(void *ctx, char *buf, size_t size, char *err, size_t err_size);
    /* Replaces the record whole (the old one stays intact until the new one is in place): 0 or -1 (words). */
    int (*set)(void *ctx, const char *line, char *err, size_t err_size);
} brain_record_store_t;

typedef struct brain_pair brain_pair_t;

/*
 * Opens the pair over two slot backends and the record store (all kept by pointer: they outlive the pair).
 * Reads the record once; one that cannot be read or parsed is remembered (brain_pair_load says why) and
 * treated as none, so pulls go to slot 0. NULL with words in err only when out of memory.
 */
brain_pair_t *brain_pair_open(const brain_backend_t *slot0, const brain_backend_t *slot1,
                              const brain_record_store_t *records, char *err, size_t err_size);

/*
 * The backend OP_BRAIN_WRITE's slot writes through (brain_slot_init): every image begun at offset 0 goes to
 * the slot that does not hold the proven brain; its size is the smaller slot's.
 */
const brain_backend_t *brain_pair_backend(brain_pair_t *p);

/* The slot the record names (0 or 1), or -1 when no brain has proved itself here. */
int brain_pair_proven_slot(const brain_pair_t *p);

/*
 * The proven brain to run at start: 1 with *wasm (malloc'd, the caller frees), *size and its record in *c;
 * 0 when there is none; -1 when the record or the image cannot be used (why in err: the caller starts the
 * core it was built with). The image must hash to the record's layer.
 */
int brain_pair_load(brain_pair_t *p, uint8_t **wasm, size_t *size, brain_commit_t *c, char *err, size_t err_size);

/*
 * Makes the brain that just proved itself (c, and its image wasm/size, which the host holds in RAM) the one
 * the next start runs. The image normally is still in the slot it was pulled into (it hashes to c's layer),
 * and the record then names that slot. When a later pull has begun there meanwhile, the image is written
 * from wasm into the other slot instead (over the brain proven before, which is no longer needed), read
 * back and hashed, and the pull goes on undisturbed. The record is replaced last. proven_at: a timestamp
 * for the record, or NULL. 0, or -1 with words in err (the old record stays).
 */
int brain_pair_save(brain_pair_t *p, const brain_commit_t *c, const uint8_t *wasm, size_t size, const char *proven_at,
                    char *err, size_t err_size);

void brain_pair_close(brain_pair_t *p);

#ifdef __cplusplus
}
#endif
