/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * brain_verify.h. The messages are host-sim's (verify.ts) word for word where they do not name host-sim
 * itself, so a brain pod reads the same on every host; BrainInvalidModule's differ (host-sim quotes V8's
 * compile error).
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "mbedtls/base64.h"
#include "mbedtls/sha256.h"
#include "mbedtls/version.h"
#include "sodium.h"

#include "kubelet_abi.h"
#include "brain_verify.h"

#if MBEDTLS_VERSION_MAJOR >= 3
#define PK_SHA256_STARTS mbedtls_sha256_starts
#define PK_SHA256_UPDATE mbedtls_sha256_update
#define PK_SHA256_FINISH mbedtls_sha256_finish
#else
#define PK_SHA256_STARTS mbedtls_sha256_starts_ret
#define PK_SHA256_UPDATE mbedtls_sha256_update_ret
#define PK_SHA256_FINISH mbedtls_sha256_finish_ret
#endif

/* How much of the image is read back at a time for hashing: small, so the wasm task's stack holds it. */
#define READ_CHUNK 512

#define DEFAULT_KEYS_HINT "the firmware's NVS brain_pubkey, the Linux port's --brain-public-key"

static void hex_digest(const uint8_t sum[32], char out[BRAIN_DIGEST_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    memcpy(out, "sha256:", 7);
    for (int i = 0; i < 32; i++) {
        out[7 + 2 * i] = hex[sum[i] >> 4];
        out[8 + 2 * i] = hex[sum[i] & 15];
    }
    out[BRAIN_DIGEST_LEN] = '\0';
}

static int sha256_bytes(const uint8_t *b, size_t len, uint8_t sum[32])
{
    mbedtls_sha256_context ctx;
    mbedtls_sha256_init(&ctx);
    int rc = PK_SHA256_STARTS(&ctx, 0) || PK_SHA256_UPDATE(&ctx, b, len) || PK_SHA256_FINISH(&ctx, sum) ? -1 : 0;
    mbedtls_sha256_free(&ctx);
    return rc;
}

int brain_digest(const uint8_t *bytes, size_t len, char out[BRAIN_DIGEST_LEN + 1])
{
    uint8_t sum[32];
    if (sha256_bytes(bytes, len, sum) != 0) {
        return -1;
    }
    hex_digest(sum, out);
    return 0;
}

/* sha256 of the slot's image, read back piece by piece. -1 with err when a read (or mbedTLS) fails. */
static int sha256_slot(const brain_slot_t *slot, uint8_t sum[32], char *err, size_t err_size)
{
    mbedtls_sha256_context ctx;
    uint8_t buf[READ_CHUNK];
    int rc = 0;
    mbedtls_sha256_init(&ctx);
    if (PK_SHA256_STARTS(&ctx, 0) != 0) {
        snprintf(err, err_size, "sha256 failed");
        rc = -1;
    }
    for (size_t at = 0; rc == 0 && at < slot->written;) {
        size_t n = slot->written - at < sizeof(buf) ? slot->written - at : sizeof(buf);
        if (brain_slot_read(slot, at, buf, n, err, err_size) != 0) {
            rc = -1;
        } else if (PK_SHA256_UPDATE(&ctx, buf, n) != 0) {
            snprintf(err, err_size, "sha256 failed");
            rc = -1;
        }
        at += n;
    }
    if (rc == 0 && PK_SHA256_FINISH(&ctx, sum) != 0) {
        snprintf(err, err_size, "sha256 failed");
        rc = -1;
    }
    mbedtls_sha256_free(&ctx);
    return rc;
}

int brain_backend_digest(const brain_backend_t *b, size_t len, char out[BRAIN_DIGEST_LEN + 1], char *err,
                         size_t err_size)
{
    const brain_slot_t whole = {.backend = b, .written = len, .started = true};
    uint8_t sum[32];
    if (sha256_slot(&whole, sum, err, err_size) != 0) {
        return -1;
    }
    hex_digest(sum, out);
    return 0;
}

long brain_statement(const brain_commit_t *c, char *out, size_t out_size)
{
    int n = snprintf(out, out_size, "picokubelet-brain-v1\nlayer %s\nabi %llu\nversion %s\n", c->layer,
                     (unsigned long long)c->abi, c->version);
    return n < 0 || (size_t)n >= out_size ? -1 : n;
}

void brain_key_id(const uint8_t key[BRAIN_PUBLIC_KEY_BYTES], char out[17])
{
    uint8_t sum[32];
    char d[BRAIN_DIGEST_LEN + 1];
    if (sha256_bytes(key, BRAIN_PUBLIC_KEY_BYTES, sum) != 0) {
        memset(sum, 0, sizeof(sum));
    }
    hex_digest(sum, d);
    memcpy(out, d + 7, 16);
    out[16] = '\0';
}

static brain_verify_result_t refuse(char *words, size_t words_size, const char *reason, const char *message)
{
    snprintf(words, words_size, "%s: %s", reason, message);
    return BRAIN_VERIFY_REFUSED;
}

/* Whether any key verifies sig over the statement. */
static bool signed_by_one(const brain_verifier_t *v, const brain_commit_t *c)
{
    uint8_t sig[BRAIN_SIGNATURE_BYTES + 3];
    size_t sig_len = 0;
    char said[sizeof(c->layer) + sizeof(c->version) + 64];
    long said_len = brain_statement(c, said, sizeof(said));
    if (said_len < 0 || sodium_init() < 0) {
        return false;
    }
    /* host-sim decodes leniently and lets a wrong length fail the check: here both are a bad signature. */
    if (mbedtls_base64_decode(sig, sizeof(sig), &sig_len, (const unsigned char *)c->signature,
                              strlen(c->signature)) != 0 ||
        sig_len != BRAIN_SIGNATURE_BYTES) {
        return false;
    }
    for (size_t i = 0; i < v->key_count; i++) {
        if (crypto_sign_verify_detached(sig, (const unsigned char *)said, (unsigned long long)said_len, v->keys[i]) ==
            0) {
            return true;
        }
    }
    return false;
}

/* The wasm binary header: "\0asm" and version 1. */
static int check_header(const brain_slot_t *slot, char *why, size_t why_size)
{
    static const uint8_t magic[4] = {0x00, 0x61, 0x73, 0x6d};
    uint8_t head[8];
    char err[160];
    if (slot->written < sizeof(head)) {
        snprintf(why, why_size, "it does not compile: %zu bytes are no WebAssembly module", slot->written);
        return -1;
    }
    if (brain_slot_read(slot, 0, head, sizeof(head), err, sizeof(err)) != 0) {
        snprintf(why, why_size, "it cannot be read back: %s", err);
        return -1;
    }
    if (memcmp(head, magic, sizeof(magic)) != 0) {
        snprintf(why, why_size, "it does not compile: it does not start with the WebAssembly magic \\0asm");
        return -1;
    }
    uint32_t version = (uint32_t)head[4] | (uint32_t)head[5] << 8 | (uint32_t)head[6] << 16 | (uint32_t)head[7] << 24;
    if (version != 1) {
        snprintf(why, why_size, "it does not compile: WebAssembly binary version %u, not 1", (unsigned)version);
        return -1;
    }
    return 0;
}

brain_verify_result_t brain_verify_commit(const brain_verifier_t *v, const brain_slot_t *slot, const uint8_t *bytes,
                                          size_t len, brain_commit_t *c, char *words, size_t words_size)
{
    char msg[320];
    char err[160];
    uint8_t sum[32];
    char got[BRAIN_DIGEST_LEN + 1];

    if (brain_commit_parse(bytes, len, c, words, words_size) != 0) {
        return BRAIN_VERIFY_MALFORMED;
    }
    if ((uint64_t)slot->written != c->size) {
        snprintf(msg, sizeof(msg), "the host holds %zu bytes of the image, the manifest says %llu", slot->written,
                 (unsigned long long)c->size);
        return refuse(words, words_size, "BrainIncomplete", msg);
    }
    if (sha256_bytes(c->manifest, c->manifest_len, sum) != 0) {
        return refuse(words, words_size, "BrainDigestMismatch", "sha256 of the manifest failed");
    }
    hex_digest(sum, got);
    if (strcmp(got, c->digest) != 0) {
        snprintf(msg, sizeof(msg), "the manifest's bytes are %s, not %s", got, c->digest);
        return refuse(words, words_size, "BrainDigestMismatch", msg);
    }
    if (sha256_slot(slot, sum, err, sizeof(err)) != 0) {
        snprintf(msg, sizeof(msg), "cannot read the stored image back: %s", err);
        return refuse(words, words_size, "BrainIncomplete", msg);
    }
    hex_digest(sum, got);
    if (strcmp(got, c->layer) != 0) {
        snprintf(msg, sizeof(msg), "the image's bytes are %s, not the layer %s", got, c->layer);
        return refuse(words, words_size, "BrainDigestMismatch", msg);
    }
    if (c->signature[0] == '\0') {
        snprintf(msg, sizeof(msg), "%s carries no signature (push it with --key)", c->digest);
        return refuse(words, words_size, "BrainUnsigned", msg);
    }
    if (v->key_count == 0) {
        snprintf(msg, sizeof(msg), "this host trusts no brain key (%s)", v->keys_hint ? v->keys_hint : DEFAULT_KEYS_HINT);
        return refuse(words, words_size, "BrainUntrusted", msg);
    }
    if (!signed_by_one(v, c)) {
        int n = snprintf(msg, sizeof(msg), "the signature (key id %s) verifies with none of the %zu key(s) this host trusts (",
                         c->key_id[0] ? c->key_id : "not given", v->key_count);
        for (size_t i = 0; i < v->key_count && n > 0 && (size_t)n < sizeof(msg); i++) {
            char id[17];
            brain_key_id(v->keys[i], id);
            n += snprintf(msg + n, sizeof(msg) - (size_t)n, "%s%s", i > 0 ? ", " : "", id);
        }
        if (n > 0 && (size_t)n < sizeof(msg)) {
            snprintf(msg + n, sizeof(msg) - (size_t)n, ")");
        }
        return refuse(words, words_size, "BrainBadSignature", msg);
    }
    if (c->abi < KUBELET_ABI_VERSION_MIN || c->abi > KUBELET_ABI_VERSION_MAX) {
        if (KUBELET_ABI_VERSION_MIN == KUBELET_ABI_VERSION_MAX) {
            snprintf(msg, sizeof(msg), "the brain speaks ABI %llu; this host runs %d", (unsigned long long)c->abi,
                     KUBELET_ABI_VERSION_MIN);
        } else {
            snprintf(msg, sizeof(msg), "the brain speaks ABI %llu; this host runs %d..%d", (unsigned long long)c->abi,
                     KUBELET_ABI_VERSION_MIN, KUBELET_ABI_VERSION_MAX);
        }
        return refuse(words, words_size, "BrainAbiUnsupported", msg);
    }
    if (check_header(slot, msg, sizeof(msg)) != 0 ||
        (v->module_check != NULL && v->module_check(v->module_ctx, slot, c, msg, sizeof(msg)) != 0)) {
        return refuse(words, words_size, "BrainInvalidModule", msg);
    }
    return BRAIN_VERIFY_OK;
}
