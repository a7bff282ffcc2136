/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * The OP_BRAIN_COMMIT bytes (docs/brain.md "Store and verify"): one compact JSON object, "\n", then the
 * manifest exactly as fetched. A bounded, strict reader for that flat object (no allocation; every field
 * has a fixed buffer), mirroring host-sim/src/brain/verify.ts parseCommit: pod, image, digest, layer and
 * version are strings, size and abi non-negative integers, signature and keyId optional strings; digest
 * and layer are sha256:<64 lowercase hex>. Keys it does not know are skipped when their value is a string,
 * number, true, false or null (a nested object or array is refused: the core never sends one).
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BRAIN_DIGEST_LEN 71 /* "sha256:" + 64 hex */

typedef struct brain_commit {
    char pod[64];
    char image[512];
    char digest[BRAIN_DIGEST_LEN + 1];
    char layer[BRAIN_DIGEST_LEN + 1];
    uint64_t size;
    uint64_t abi;
    char version[128];
    char signature[128]; /* base64 of 64 bytes is 88 characters; "" when absent */
    char key_id[64];     /* "" when absent */
    const uint8_t *manifest; /* into the commit bytes, after the newline */
    size_t manifest_len;
} brain_commit_t;

/*
 * Parses the commit bytes into c. 0, or -1 with why the bytes are no commit line in err (host_call then
 * returns -KUBELET_ERR_HOST_CALL_INVALID: that is a bug in the core, not a bad brain).
 */
int brain_commit_parse(const uint8_t *bytes, size_t len, brain_commit_t *c, char *err, size_t err_size);

#ifdef __cplusplus
}
#endif
