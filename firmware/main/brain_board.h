/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * The board's brain calls (docs/brain.md): the keys from NVS key `brain_pubkey` (namespace "kubelet": one or
 * more base64 Ed25519 public keys, 32 raw bytes each, separated by commas or spaces) and the slot in the data
 * partition CONFIG_PICOKUBELET_BRAIN_PARTITION. Not yet compiled against ESP-IDF (tests/firmware/idf_host_check.sh
 * lists it) and never run.
 */
#pragma once

#include "brain_host.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The brain calls, or NULL (logged) when the image has no brain partition: ops 6-8 then answer
 * -ERR_UNSUPPORTED. Without keys every commit is refused (BrainUntrusted). */
brain_host_t *brain_board_start(void);

#ifdef __cplusplus
}
#endif
