/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * OP_BRAIN_COMMIT's checks (docs/brain.md "Store and verify"), in the contract's order, on the commit bytes
 * and the image a brain_slot holds; the first that fails names the reason the core shows on the brain pod,
 * in host-sim's words (host-sim/src/brain/verify.ts): BrainIncomplete, BrainDigestMismatch, BrainUnsigned,
 * BrainUntrusted, BrainBadSignature, BrainAbiUnsupported, BrainInvalidModule. The host holds the keys, not
 * the core: a core cannot be trusted to judge its successor. sha256 is mbedTLS's, Ed25519 libsodium's.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "brain_commit.h"
#include "brain_slot.h"

#ifdef __cplusplus
extern "C" {
#endif

#define BRAIN_PUBLIC_KEY_BYTES 32
#define BRAIN_SIGNATURE_BYTES 64

/*
 * The module check past the header (the caller's: compile the image with wasm3, look for the core's
 * exports, ask its abi_version). 0 when the module will do; else non-zero with why in words.
 */
typedef int (*brain_module_check_fn)(void *ctx, const brain_slot_t *slot, const brain_commit_t *c, char *why,
                                     size_t why_size);

typedef struct brain_verifier {
    const uint8_t (*keys)[BRAIN_PUBLIC_KEY_BYTES]; /* the host's brain public keys (raw Ed25519) */
    size_t key_count;
    /* Where this host's keys are configured, for BrainUntrusted's message; NULL: the firmware's and the
     * Linux port's settings. */
    const char *keys_hint;
    brain_module_check_fn module_check; /* NULL: the header check only */
    void *module_ctx;
} brain_verifier_t;

typedef enum {
    BRAIN_VERIFY_MALFORMED = -1, /* no commit line: host_call returns -KUBELET_ERR_HOST_CALL_INVALID */
    BRAIN_VERIFY_OK = 0,         /* every check passed: the host may swap to the slot's image */
    BRAIN_VERIFY_REFUSED = 1,    /* words hold `<Reason>: <message>` for on_host_result */
} brain_verify_result_t;

/*
 * Checks the commit bytes against the image in slot (its `written` bytes, read back through its backend in
 * small pieces: no copy of the image in RAM). c gets the parsed commit; words the refusal (or, malformed,
 * why the bytes are no commit).
 */
brain_verify_result_t brain_verify_commit(const brain_verifier_t *v, const brain_slot_t *slot, const uint8_t *bytes,
                                          size_t len, brain_commit_t *c, char *words, size_t words_size);

/* The statement a brain's key signs: "picokubelet-brain-v1\nlayer <layer>\nabi <n>\nversion <version>\n". */
long brain_statement(const brain_commit_t *c, char *out, size_t out_size);

/* "sha256:<64 lowercase hex>" of bytes (out: BRAIN_DIGEST_LEN + 1 bytes); -1 when mbedTLS fails. */
int brain_digest(const uint8_t *bytes, size_t len, char out[BRAIN_DIGEST_LEN + 1]);

/*
 * "sha256:<64 lowercase hex>" of the first len bytes a backend holds, read back in small pieces (the image is
 * never copied whole). 0, or -1 with words in err.
 */
int brain_backend_digest(const brain_backend_t *b, size_t len, char out[BRAIN_DIGEST_LEN + 1], char *err,
                         size_t err_size);

/* The key id host-sim prints: the first 16 hex digits of sha256 of the raw key (out: 17 bytes). */
void brain_key_id(const uint8_t key[BRAIN_PUBLIC_KEY_BYTES], char out[17]);

#ifdef __cplusplus
}
#endif
