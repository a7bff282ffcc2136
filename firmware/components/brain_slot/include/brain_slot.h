/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * The inactive brain slot: where OP_BRAIN_WRITE puts a pulled image chunk by chunk (docs/brain.md "Store
 * and verify"). The image arrives in order: each chunk's offset is the number of bytes written so far,
 * offset 0 starts a new image, and the whole may not pass the slot's size. The bytes go straight to a
 * backend (a file on Linux, a flash partition on the board): the host never holds the image in RAM.
 * Mirrors host-sim/src/brain/slot.ts.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Where a slot keeps its bytes. Each call returns 0, or -1 with the reason in words in err. `size` is the
 * most bytes an image may have (the partition's or the file slot's size).
 */
typedef struct brain_backend {
    void *ctx;
    size_t size;
    /* Starts a new image: erase (board) or truncate (file) from offset 0. Afterwards the slot no longer
     * holds the image before (at least its first bytes are gone): brain_pair relies on it. */
    int (*begin)(void *ctx, char *err, size_t err_size);
    /* Stores len bytes at offset (always the end of what was stored since begin). */
    int (*write)(void *ctx, size_t offset, const uint8_t *bytes, size_t len, char *err, size_t err_size);
    /* Reads len bytes at offset back, for hashing and the module check. */
    int (*read)(void *ctx, size_t offset, uint8_t *out, size_t len, char *err, size_t err_size);
} brain_backend_t;

typedef struct brain_slot {
    const brain_backend_t *backend;
    size_t written; /* bytes of the current image so far */
    bool started;   /* an image was begun at offset 0 and no write of it failed since */
} brain_slot_t;

void brain_slot_init(brain_slot_t *slot, const brain_backend_t *backend);

/*
 * OP_BRAIN_WRITE: stores one chunk at offset. Returns 0, -KUBELET_ERR_HOST_CALL_INVALID (a negative offset,
 * an offset that is not the bytes written so far, a chunk that would pass the slot's size) or
 * -KUBELET_ERR_HOST_CALL_FAILED (the backend failed; why gets its words, and the next image must start again
 * at offset 0 because what is stored is no longer the image so far).
 */
int32_t brain_slot_write(brain_slot_t *slot, int64_t offset, const uint8_t *bytes, size_t len, char *why,
                         size_t why_size);

/* Reads back len bytes of the stored image at offset: 0 or -1 (words in err). */
int brain_slot_read(const brain_slot_t *slot, size_t offset, uint8_t *out, size_t len, char *err, size_t err_size);

/*
 * Forgets the image (after a commit: it is the next brain's now, or refused). The bytes stay in the backend
 * for the swap to read; the next OP_BRAIN_WRITE must start at offset 0.
 */
void brain_slot_reset(brain_slot_t *slot);

#ifdef __cplusplus
}
#endif
