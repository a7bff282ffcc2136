/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * Where a key slot's private key and certificate chain persist (both PEM text): files in a directory
 * on Linux (cred_store_file.c: <dir>/client.key, client.crt, serving.key, serving.crt; the directory
 * 0700, key files 0600), NVS on the board (cred_store_nvs.c: namespace "pk_certs", blobs client_key,
 * client_crt, serving_key, serving_crt). Writes replace a slot's pair, key first; a reader checks that
 * the pair still belongs together (host_crypto.c), so a pair torn by a power cut is ignored, not used.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cred_store cred_store_t;

/**
 * Opens the store: on Linux a directory (created 0700 when missing), on the board an NVS namespace
 * (NULL: "pk_certs"; NVS must be initialised). NULL with the reason in `err`.
 */
cred_store_t *cred_store_open(const char *location, char *err, size_t err_size);

/** Loads slot `slot`'s key and chain (heap strings for the caller, who wipes the key); false if either is absent. */
bool cred_store_load(cred_store_t *s, int32_t slot, char **key_pem, char **chain_pem);

/** Replaces slot `slot`'s key and chain. False with the reason in `err`. */
bool cred_store_save(cred_store_t *s, int32_t slot, const char *key_pem, const char *chain_pem, char *err,
                     size_t err_size);

void cred_store_close(cred_store_t *s);

/** The item names of a slot ("client"/"serving"), for file and NVS key names. */
const char *cred_store_slot_name(int32_t slot);

#ifdef __cplusplus
}
#endif
