/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * The record of a proven brain (docs/brain.md "Roll back"): what the next start runs instead of the core it
 * was built with. One compact JSON line and a newline, a commit's fields (digest, layer, version, pod, image,
 * abi, size) plus provenAt, so brain_commit_parse reads it back and host-sim's JSON.parse does too. The
 * board's record also says which of its two brain partitions holds the image: "slot" comes first, so it is
 * read without a second parser.
 */
#pragma once

#include <stddef.h>

#include "brain_commit.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Enough for every field at its commit buffer's size. */
#define BRAIN_RECORD_MAX_BYTES 2048

/*
 * Writes c's record (size: the image's bytes; slot < 0: none, the Linux port's; proven_at NULL or "": no
 * provenAt) into out, NUL-terminated. Its length, or -1 with words in err when it does not fit.
 */
long brain_record_format(const brain_commit_t *c, size_t size, int slot, const char *proven_at, char *out,
                         size_t out_size, char *err, size_t err_size);

/*
 * Reads a record line back into c (manifest cleared) and *slot (-1 when it names none). 0, or -1 with why
 * in err.
 */
int brain_record_parse(const char *line, size_t len, brain_commit_t *c, int *slot, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif
