/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * brain_slot_partition.h: the slot as a flash partition. Flash must be erased before it is written, and
 * erasing a whole 1 MiB partition at offset 0 would hold the wasm task (OP_BRAIN_WRITE is synchronous)
 * for seconds, so begin erases the first sector only and each write erases the sectors it is about to
 * enter, just ahead of the bytes. Not run on a board yet (firmware/README.md).
 */
#ifdef ESP_PLATFORM

#include <stdio.h>
#include <stdlib.h>

#include "esp_err.h"
#include "esp_partition.h"

#include "brain_slot_partition.h"

struct brain_slot_partition {
    brain_backend_t backend;
    const esp_partition_t *part;
    size_t erased; /* bytes from offset 0 erased since begin, a multiple of the sector size */
};

static int part_begin(void *ctx, char *err, size_t err_size)
{
    brain_slot_partition_t *p = ctx;
    /* The first sector now (one sector is quick), the rest as the image reaches it: the previous image is
     * gone from the start, which brain_pair relies on. */
    p->erased = 0;
    esp_err_t e = esp_partition_erase_range(p->part, 0, p->part->erase_size);
    if (e != ESP_OK) {
        snprintf(err, err_size, "cannot erase partition %s at 0: %s", p->part->label, esp_err_to_name(e));
        return -1;
    }
    p->erased = p->part->erase_size;
    return 0;
}

static int part_write(void *ctx, size_t offset, const uint8_t *bytes, size_t len, char *err, size_t err_size)
{
    brain_slot_partition_t *p = ctx;
    const size_t sector = p->part->erase_size;
    size_t end = offset + len;
    if (end > p->erased) {
        size_t to = (end + sector - 1) / sector * sector;
        if (to > p->part->size) {
            to = p->part->size;
        }
        esp_err_t e = esp_partition_erase_range(p->part, p->erased, to - p->erased);
        if (e != ESP_OK) {
            snprintf(err, err_size, "cannot erase partition %s at %zu: %s", p->part->label, p->erased,
                     esp_err_to_name(e));
            return -1;
        }
        p->erased = to;
    }
    esp_err_t e = esp_partition_write(p->part, offset, bytes, len);
    if (e != ESP_OK) {
        snprintf(err, err_size, "cannot write partition %s at %zu: %s", p->part->label, offset, esp_err_to_name(e));
        return -1;
    }
    return 0;
}

static int part_read(void *ctx, size_t offset, uint8_t *out, size_t len, char *err, size_t err_size)
{
    brain_slot_partition_t *p = ctx;
    esp_err_t e = esp_partition_read(p->part, offset, out, len);
    if (e != ESP_OK) {
        snprintf(err, err_size, "cannot read partition %s at %zu: %s", p->part->label, offset, esp_err_to_name(e));
        return -1;
    }
    return 0;
}

brain_slot_partition_t *brain_slot_partition_open(const char *label, char *err, size_t err_size)
{
    const esp_partition_t *part = esp_partition_find_first(ESP_PARTITION_TYPE_DATA, ESP_PARTITION_SUBTYPE_ANY, label);
    if (part == NULL) {
        snprintf(err, err_size, "no data partition '%s' for the brain slot (partitions.csv)", label);
        return NULL;
    }
    brain_slot_partition_t *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    p->part = part;
    p->backend = (brain_backend_t){
        .ctx = p, .size = part->size, .begin = part_begin, .write = part_write, .read = part_read};
    return p;
}

const brain_backend_t *brain_slot_partition_backend(const brain_slot_partition_t *p)
{
    return &p->backend;
}

void brain_slot_partition_close(brain_slot_partition_t *p)
{
    free(p);
}

#endif /* ESP_PLATFORM */
