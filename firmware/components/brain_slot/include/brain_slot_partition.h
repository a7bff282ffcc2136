/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * A brain slot backend on a flash partition (the board), built only under ESP-IDF: each of partitions.csv's
 * two brain partitions (brain_0, brain_1) is one, and brain_pair chooses between them.
 */
#pragma once

#include "brain_slot.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct brain_slot_partition brain_slot_partition_t;

/* Finds the data partition `label`; NULL with words in err when there is none. */
brain_slot_partition_t *brain_slot_partition_open(const char *label, char *err, size_t err_size);
const brain_backend_t *brain_slot_partition_backend(const brain_slot_partition_t *p);
void brain_slot_partition_close(brain_slot_partition_t *p);

#ifdef __cplusplus
}
#endif
