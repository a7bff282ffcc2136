/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * A brain slot backend on a POSIX file system (the Linux port's state directory): <dir>/brain-next.wasm,
 * as host-sim's --state-dir keeps it. Not built under ESP-IDF.
 */
#pragma once

#include "brain_slot.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The file the slot is kept in under the state directory (host-sim's NEXT_FILE). */
#define BRAIN_SLOT_FILE_NAME "brain-next.wasm"
/* The Linux port's slot size: host-sim's BRAIN_SLOT_BYTES (a release core is about 300 KiB). */
#define BRAIN_SLOT_FILE_DEFAULT_BYTES (1024u * 1024u)

typedef struct brain_slot_file brain_slot_file_t;

/*
 * Opens the backend for <dir>/brain-next.wasm (dir is created 0700 on the first image), size the largest
 * image it takes. NULL with words in err when out of memory or dir is empty.
 */
brain_slot_file_t *brain_slot_file_open(const char *dir, size_t size, char *err, size_t err_size);
const brain_backend_t *brain_slot_file_backend(const brain_slot_file_t *f);
/* The file's path, for log lines and the swap. */
const char *brain_slot_file_path(const brain_slot_file_t *f);
void brain_slot_file_close(brain_slot_file_t *f);

#ifdef __cplusplus
}
#endif
