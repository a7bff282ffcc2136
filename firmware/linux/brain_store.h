/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * The Linux port's brain files under --state-dir (docs/brain.md "Roll back"), as host-sim keeps them
 * (host-sim/src/brain/store.ts): a proven brain is DIR/brain-current.wasm with DIR/brain-current.json (what it
 * is: digest, layer, version, abi, pod, image, provenAt), both written to a temporary file and renamed, the
 * module first; the next start runs it when the pair matches (the module's sha256 is the record's layer).
 * Also the --brain-public-key reader (base64 of 32 raw bytes, as host-sim's brain.key.pub).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "brain_commit.h"
#include "brain_verify.h"

#define BRAIN_CURRENT_WASM "brain-current.wasm"
#define BRAIN_CURRENT_JSON "brain-current.json"

/* Reads FILE (base64 of 32 bytes, whitespace around it allowed) into key. 0, or -1 with words in err. */
int brain_store_read_key(const char *path, uint8_t key[BRAIN_PUBLIC_KEY_BYTES], char *err, size_t err_size);

/* Keeps wasm as the proven brain in dir. 0, or -1 with words in err. */
int brain_store_save(const char *dir, const brain_commit_t *c, const uint8_t *wasm, size_t size, char *err,
                     size_t err_size);

/*
 * The proven brain in dir: 1 with *wasm (malloc'd, the caller frees), *size and its record in *c; 0 when there is
 * none; -1 when the pair cannot be used (why in err: the caller starts from the core given).
 */
int brain_store_load(const char *dir, uint8_t **wasm, size_t *size, brain_commit_t *c, char *err, size_t err_size);
