/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * The board's brain calls (docs/brain.md): the keys from NVS key `brain_pubkey` (namespace "kubelet": one or
 * more base64 Ed25519 public keys, 32 raw bytes each, separated by commas or spaces), the two brain slots in
 * the data partitions brain_0 and brain_1 (partitions.csv) with the record of the proven one in NVS key
 * `brain_proven` (brain_pair.h), and the CAs of registry connections (NVS `registry_ca`, else ESP-IDF's
 * certificate bundle). Compiled against ESP-IDF's headers (tests/firmware/idf_host_check.sh); never run.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "brain_commit.h"
#include "brain_host.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BRAIN_BOARD_PARTITION_0 "brain_0"
#define BRAIN_BOARD_PARTITION_1 "brain_1"
/* NVS keys (namespace "kubelet") read outside kubelet_config's table. */
#define BRAIN_BOARD_NVS_KEYS "brain_pubkey"
#define BRAIN_BOARD_NVS_PROVEN "brain_proven"
#define BRAIN_BOARD_NVS_REGISTRY_CA "registry_ca"

/* The proven brain the board boots instead of its embedded core. */
typedef struct brain_board_boot {
    uint8_t *wasm; /* NULL: none, run the embedded core */
    size_t size;
    char digest[BRAIN_DIGEST_LEN + 1];
    char version[128];
} brain_board_boot_t;

/*
 * The brain calls, or NULL (logged) when the image has no brain partitions: ops 6-8 then answer
 * -ERR_UNSUPPORTED. Without keys every commit is refused (BrainUntrusted). boot gets the proven brain to run,
 * if there is one and it still hashes to its record (else the reason is logged and the embedded core runs).
 */
brain_host_t *brain_board_start(brain_board_boot_t *boot);

/* NVS registry_ca (PEM, malloc'd, kept for the firmware's life), or NULL: the certificate bundle is used. */
char *brain_board_registry_ca(void);

#ifdef __cplusplus
}
#endif
