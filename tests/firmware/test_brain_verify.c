/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * Host tests of OP_BRAIN_COMMIT's checks (firmware/components/brain_slot/brain_verify.c) and of the three
 * brain calls op by op (brain_calls.c), with real Ed25519 key pairs made here by libsodium and statements
 * signed here: every refusal in host-sim's words, a valid commit accepted, malformed commits refused as
 * invalid host calls, the status lines.
 *
 *   test_brain_verify                      # the unit tests
 *   test_brain_verify --emit DIR [IMAGE]   # writes commit cases for brain_crosscheck.mjs (host-sim's verdict)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mbedtls/sha256.h"
#include "mbedtls/version.h"
#include "sodium.h"

#include "check.h"
#include "test_digest.h"
#include "kubelet_abi.h"
#include "brain_calls.h"
#include "brain_verify.h"

/* --- a memory backend ---------------------------------------------------------------------------------- */

typedef struct {
    uint8_t *bytes;
    size_t cap;
    int fail_read;
} mem_t;

static int mem_begin(void *ctx, char *err, size_t n)
{
    return 0;
}

static int mem_write(void *ctx, size_t off, const uint8_t *b, size_t len, char *err, size_t n)
{
    memcpy(((mem_t *)ctx)->bytes + off, b, len);
    return 0;
}

static int mem_read(void *ctx, size_t off, uint8_t *out, size_t len, char *err, size_t n)
{
    mem_t *m = ctx;
    if (m->fail_read) {
        snprintf(err, n, "flash read failed");
        return -1;
    }
    memcpy(out, m->bytes + off, len);
    return 0;
}

static mem_t g_mem;
static brain_backend_t g_be;
static brain_slot_t g_slot;

static void slot_store(const uint8_t *img, size_t len)
{
    char why[128];
    brain_slot_init(&g_slot, &g_be);
    /* In 1000-byte chunks, as the core writes them. */
    for (size_t at = 0; at == 0 || at < len; at += 1000) {
        size_t n = len - at < 1000 ? len - at : 1000;
        CHECK_EQ_INT(brain_slot_write(&g_slot, (int64_t)at, img + at, n, why, sizeof(why)), 0);
        if (len == 0) {
            break;
        }
    }
}

/* --- building commits ---------------------------------------------------------------------------------- */

typedef struct {
    uint8_t pk[crypto_sign_PUBLICKEYBYTES];
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
} pair_t;


/* A valid module header and a custom section, so the image spans several read-back pieces. */
static size_t make_image(uint8_t *out)
{
    static const uint8_t head[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00};
    size_t n = 0;
    memcpy(out, head, sizeof(head));
    n += sizeof(head);
    const size_t payload = 1500;
    out[n++] = 0x00;                                   /* custom section */
    size_t body = 1 + 4 + payload;                     /* name length, "pk-t", payload */
    out[n++] = (uint8_t)(0x80 | (body & 0x7f));
    out[n++] = (uint8_t)(body >> 7);
    out[n++] = 4;
    memcpy(out + n, "pk-t", 4);
    n += 4;
    for (size_t i = 0; i < payload; i++) {
        out[n++] = (uint8_t)(i * 7);
    }
    return n;
}

typedef struct {
    const char *digest;   /* NULL: the manifest's */
    const char *layer;    /* NULL: the image's */
    long long size;       /* -1: the image's */
    int abi;              /* 0: 2 */
    const char *version;  /* NULL: "0.2.0" */
    const pair_t *signer; /* NULL: unsigned */
    const char *signed_version; /* NULL: version (what the statement says) */
    const char *signature;      /* a literal signature instead of signing */
} spec_t;

static char g_manifest[512];
static uint8_t g_commit[4096];

/* Builds the commit bytes for image per spec; returns their length. */
static size_t make_commit(const uint8_t *img, size_t img_len, const spec_t *sp)
{
    char layer[BRAIN_DIGEST_LEN + 1], mdigest[BRAIN_DIGEST_LEN + 1];
    digest_of(img, img_len, layer);
    if (sp->layer != NULL) {
        snprintf(layer, sizeof(layer), "%s", sp->layer);
    }
    snprintf(g_manifest, sizeof(g_manifest),
             "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
             "\"layers\":[{\"mediaType\":\"application/wasm\",\"digest\":\"%s\",\"size\":%zu}]}",
             layer, img_len);
    digest_of((const uint8_t *)g_manifest, strlen(g_manifest), mdigest);
    const char *version = sp->version ? sp->version : "0.2.0";
    int abi = sp->abi ? sp->abi : 2;
    char sig64[128] = "";
    char key_id[17] = "";
    if (sp->signature != NULL) {
        snprintf(sig64, sizeof(sig64), "%s", sp->signature);
    } else if (sp->signer != NULL) {
        char said[512];
        int n = snprintf(said, sizeof(said), "picokubelet-brain-v1\nlayer %s\nabi %d\nversion %s\n", layer, abi,
                         sp->signed_version ? sp->signed_version : version);
        uint8_t sig[crypto_sign_BYTES];
        crypto_sign_detached(sig, NULL, (const uint8_t *)said, (unsigned long long)n, sp->signer->sk);
        sodium_bin2base64(sig64, sizeof(sig64), sig, sizeof(sig), sodium_base64_VARIANT_ORIGINAL);
        brain_key_id(sp->signer->pk, key_id);
    }
    char sigfields[256] = "";
    if (sig64[0] != '\0') {
        snprintf(sigfields, sizeof(sigfields), ",\"signature\":\"%s\",\"keyId\":\"%s\"", sig64, key_id);
    }
    int n = snprintf((char *)g_commit, sizeof(g_commit),
                     "{\"pod\":\"0b5e-uid\",\"image\":\"127.0.0.1:5000/picokubelet/brain:v2\",\"digest\":\"%s\","
                     "\"layer\":\"%s\",\"size\":%lld,\"abi\":%d,\"version\":\"%s\"%s}\n%s",
                     sp->digest ? sp->digest : mdigest, layer, sp->size >= 0 ? sp->size : (long long)img_len, abi,
                     version, sigfields, g_manifest);
    return (size_t)n;
}

static pair_t g_signer, g_other;
static uint8_t g_image[4096];
static size_t g_image_len;

static brain_verify_result_t verify(const uint8_t (*keys)[32], size_t nkeys, size_t commit_len, brain_commit_t *c,
                                    char *words, size_t n)
{
    brain_verifier_t v = {keys, nkeys, NULL, NULL, NULL};
    return brain_verify_commit(&v, &g_slot, g_commit, commit_len, c, words, n);
}

static void test_statement_and_key_id(void)
{
    brain_commit_t c;
    memset(&c, 0, sizeof(c));
    strcpy(c.layer, "sha256:abc");
    c.abi = 2;
    strcpy(c.version, "0.2.0");
    char out[128];
    CHECK_EQ_INT(brain_statement(&c, out, sizeof(out)), 58);
    CHECK_EQ_STR(out, "picokubelet-brain-v1\nlayer sha256:abc\nabi 2\nversion 0.2.0\n");
    CHECK_EQ_INT(brain_statement(&c, out, 10), -1);
    /* sha256 of 32 zero bytes is 66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925. */
    uint8_t zero[32] = {0};
    char id[17];
    brain_key_id(zero, id);
    CHECK_EQ_STR(id, "66687aadf862bd77");
}

static void test_valid_commit(void)
{
    uint8_t keys[2][32];
    memcpy(keys[0], g_other.pk, 32);
    memcpy(keys[1], g_signer.pk, 32);
    slot_store(g_image, g_image_len);
    spec_t sp = {.size = -1, .signer = &g_signer};
    size_t len = make_commit(g_image, g_image_len, &sp);
    brain_commit_t c;
    char words[512] = "";
    CHECK_EQ_INT(verify((const uint8_t(*)[32])keys, 2, len, &c, words, sizeof(words)), BRAIN_VERIFY_OK);
    CHECK_EQ_STR(words, "");
    CHECK_EQ_STR(c.version, "0.2.0");
    CHECK_EQ_INT(c.size, g_image_len);
    CHECK_EQ_INT(c.manifest_len, strlen(g_manifest));
}

/* One refusal: the words are exactly `expect`. */
static void expect_refusal(const spec_t *sp, const uint8_t (*keys)[32], size_t nkeys, const char *expect)
{
    size_t len = make_commit(g_image, g_image_len, sp);
    brain_commit_t c;
    char words[768] = "";
    CHECK_EQ_INT(verify(keys, nkeys, len, &c, words, sizeof(words)), BRAIN_VERIFY_REFUSED);
    CHECK_EQ_STR(words, expect);
}

static void test_refusals(void)
{
    const uint8_t (*keys)[32] = (const uint8_t(*)[32])g_signer.pk;
    char layer[BRAIN_DIGEST_LEN + 1], expect[768], sid[17], oid[17];
    digest_of(g_image, g_image_len, layer);
    brain_key_id(g_signer.pk, sid);
    brain_key_id(g_other.pk, oid);
    slot_store(g_image, g_image_len);

    spec_t sp = {.size = (long long)g_image_len + 1, .signer = &g_signer};
    snprintf(expect, sizeof(expect), "BrainIncomplete: the host holds %zu bytes of the image, the manifest says %zu",
             g_image_len, g_image_len + 1);
    expect_refusal(&sp, keys, 1, expect);
    /* The contract's order: a short image is named before a wrong digest. */
    sp.digest = "sha256:" "0000000000000000000000000000000000000000000000000000000000000000";
    expect_refusal(&sp, keys, 1, expect);

    sp = (spec_t){.size = -1, .signer = &g_signer, .digest = "sha256:" "1111111111111111111111111111111111111111111111111111111111111111"};
    make_commit(g_image, g_image_len, &sp);
    char mdigest[BRAIN_DIGEST_LEN + 1];
    digest_of((const uint8_t *)g_manifest, strlen(g_manifest), mdigest);
    snprintf(expect, sizeof(expect), "BrainDigestMismatch: the manifest's bytes are %s, not %s", mdigest, sp.digest);
    expect_refusal(&sp, keys, 1, expect);

    sp = (spec_t){.size = -1, .signer = &g_signer, .layer = "sha256:" "2222222222222222222222222222222222222222222222222222222222222222"};
    snprintf(expect, sizeof(expect), "BrainDigestMismatch: the image's bytes are %s, not the layer %s", layer, sp.layer);
    expect_refusal(&sp, keys, 1, expect);

    sp = (spec_t){.size = -1};
    make_commit(g_image, g_image_len, &sp);
    digest_of((const uint8_t *)g_manifest, strlen(g_manifest), mdigest);
    snprintf(expect, sizeof(expect), "BrainUnsigned: %s carries no signature (push it with --key)", mdigest);
    expect_refusal(&sp, keys, 1, expect);

    sp = (spec_t){.size = -1, .signer = &g_signer};
    expect_refusal(&sp, keys, 0,
                   "BrainUntrusted: this host trusts no brain key (the firmware's NVS brain_pubkey, the Linux port's "
                   "--brain-public-key)");

    /* Signed by a key this host does not trust. */
    sp = (spec_t){.size = -1, .signer = &g_other};
    snprintf(expect, sizeof(expect),
             "BrainBadSignature: the signature (key id %s) verifies with none of the 1 key(s) this host trusts (%s)", oid,
             sid);
    expect_refusal(&sp, keys, 1, expect);
    /* By the right key over another statement (a version it did not sign). */
    sp = (spec_t){.size = -1, .signer = &g_signer, .signed_version = "0.1.0"};
    snprintf(expect, sizeof(expect),
             "BrainBadSignature: the signature (key id %s) verifies with none of the 1 key(s) this host trusts (%s)", sid,
             sid);
    expect_refusal(&sp, keys, 1, expect);
    /* Not base64 of 64 bytes, and no key id given; two keys listed. */
    uint8_t two[2][32];
    memcpy(two[0], g_other.pk, 32);
    memcpy(two[1], g_other.pk, 32);
    sp = (spec_t){.size = -1, .signature = "bm90IGEgc2lnbmF0dXJl"};
    snprintf(expect, sizeof(expect),
             "BrainBadSignature: the signature (key id not given) verifies with none of the 2 key(s) this host trusts "
             "(%s, %s)", oid, oid);
    expect_refusal(&sp, (const uint8_t(*)[32])two, 2, expect);
    sp.signature = "!!!";
    expect_refusal(&sp, (const uint8_t(*)[32])two, 2, expect);

    /* Signed, but for an ABI this host does not run. */
    sp = (spec_t){.size = -1, .signer = &g_signer, .abi = 3};
    expect_refusal(&sp, keys, 1, "BrainAbiUnsupported: the brain speaks ABI 3; this host runs 2");
    sp.abi = 1;
    expect_refusal(&sp, keys, 1, "BrainAbiUnsupported: the brain speaks ABI 1; this host runs 2");
}

static int g_hook_calls;

static int hook_refuse(void *ctx, const brain_slot_t *slot, const brain_commit_t *c, char *why, size_t n)
{
    g_hook_calls++;
    /* The hook sees the stored image (and the commit it was signed with). */
    uint8_t head[4];
    char err[64];
    if (brain_slot_read(slot, 0, head, 4, err, sizeof(err)) != 0 || memcmp(head, "\0asm", 4) != 0 || c->abi != 2) {
        snprintf(why, n, "the hook did not see the image");
        return -1;
    }
    snprintf(why, n, "it lacks the core's exports %s", (const char *)ctx);
    return -1;
}

static int hook_accept(void *ctx, const brain_slot_t *slot, const brain_commit_t *c, char *why, size_t n)
{
    g_hook_calls++;
    return 0;
}

static void test_invalid_module(void)
{
    const uint8_t (*keys)[32] = (const uint8_t(*)[32])g_signer.pk;
    static const uint8_t text[] = "hello, not a module";
    uint8_t saved[sizeof(g_image)];
    size_t saved_len = g_image_len;
    memcpy(saved, g_image, g_image_len);

    memcpy(g_image, text, sizeof(text) - 1);
    g_image_len = sizeof(text) - 1;
    slot_store(g_image, g_image_len);
    spec_t sp = {.size = -1, .signer = &g_signer};
    expect_refusal(&sp, keys, 1,
                   "BrainInvalidModule: it does not compile: it does not start with the WebAssembly magic \\0asm");

    g_image_len = 5;
    memcpy(g_image, "\0asm\1", 5);
    slot_store(g_image, g_image_len);
    expect_refusal(&sp, keys, 1, "BrainInvalidModule: it does not compile: 5 bytes are no WebAssembly module");

    memcpy(g_image, saved, saved_len);
    g_image_len = saved_len;
    g_image[4] = 2;
    slot_store(g_image, g_image_len);
    expect_refusal(&sp, keys, 1, "BrainInvalidModule: it does not compile: WebAssembly binary version 2, not 1");
    g_image[4] = 1;

    /* The caller's module check runs after the header, on the stored image. */
    slot_store(g_image, g_image_len);
    size_t len = make_commit(g_image, g_image_len, &sp);
    brain_verifier_t v = {keys, 1, NULL, hook_refuse, "start, abi_version"};
    brain_commit_t c;
    char words[512];
    g_hook_calls = 0;
    CHECK_EQ_INT(brain_verify_commit(&v, &g_slot, g_commit, len, &c, words, sizeof(words)), BRAIN_VERIFY_REFUSED);
    CHECK_EQ_STR(words, "BrainInvalidModule: it lacks the core's exports start, abi_version");
    CHECK_EQ_INT(g_hook_calls, 1);
    v.module_check = hook_accept;
    CHECK_EQ_INT(brain_verify_commit(&v, &g_slot, g_commit, len, &c, words, sizeof(words)), BRAIN_VERIFY_OK);
    CHECK_EQ_INT(g_hook_calls, 2);
    /* An earlier refusal never reaches the hook. */
    v.key_count = 0;
    CHECK_EQ_INT(brain_verify_commit(&v, &g_slot, g_commit, len, &c, words, sizeof(words)), BRAIN_VERIFY_REFUSED);
    CHECK_EQ_INT(g_hook_calls, 2);
}

static void test_read_back_fails(void)
{
    slot_store(g_image, g_image_len);
    spec_t sp = {.size = -1, .signer = &g_signer};
    g_mem.fail_read = 1;
    expect_refusal(&sp, (const uint8_t(*)[32])g_signer.pk, 1,
                   "BrainIncomplete: cannot read the stored image back: flash read failed");
    g_mem.fail_read = 0;
}

static void test_malformed_commit(void)
{
    slot_store(g_image, g_image_len);
    brain_commit_t c;
    char words[256] = "";
    static const char *const lines[] = {"no newline", "not json\n{}", "{\"pod\":\"u\"}\n{}"};
    for (size_t i = 0; i < 3; i++) {
        brain_verifier_t v = {(const uint8_t(*)[32])g_signer.pk, 1, NULL, NULL, NULL};
        CHECK_EQ_INT(brain_verify_commit(&v, &g_slot, (const uint8_t *)lines[i], strlen(lines[i]), &c, words,
                                         sizeof(words)),
                     BRAIN_VERIFY_MALFORMED);
        CHECK(words[0] != '\0');
    }
}

static char g_log[2048];

static void log_line(void *ctx, bool warn, const char *line)
{
    size_t n = strlen(g_log);
    snprintf(g_log + n, sizeof(g_log) - n, "%s %s\n", warn ? "W" : "I", line);
}

static void test_calls(void)
{
    brain_verifier_t v = {(const uint8_t(*)[32])g_signer.pk, 1, NULL, NULL, NULL};
    brain_state_t st;
    memset(&st, 0, sizeof(st));
    brain_slot_init(&g_slot, &g_be);
    brain_calls_t b = {&g_slot, &v, &st, log_line, NULL};
    brain_call_outcome_t o;
    g_log[0] = '\0';

    CHECK(brain_calls_handles(KUBELET_OP_BRAIN_WRITE) && brain_calls_handles(KUBELET_OP_BRAIN_COMMIT) &&
          brain_calls_handles(KUBELET_OP_BRAIN_STATUS) && !brain_calls_handles(KUBELET_OP_CERT_INFO));
    brain_calls_call(&b, KUBELET_OP_CERT_INFO, 0, NULL, 0, &o);
    CHECK_EQ_INT(o.rc, -KUBELET_ERR_UNSUPPORTED);

    /* WRITE: synchronous, no result. */
    brain_calls_call(&b, KUBELET_OP_BRAIN_WRITE, 0, g_image, 1000, &o);
    CHECK_EQ_INT(o.rc, 0);
    CHECK(!o.has_result);
    brain_calls_call(&b, KUBELET_OP_BRAIN_WRITE, 999, g_image + 1000, 10, &o);
    CHECK_EQ_INT(o.rc, -KUBELET_ERR_HOST_CALL_INVALID);
    brain_calls_call(&b, KUBELET_OP_BRAIN_WRITE, 1000, g_image + 1000, g_image_len - 1000, &o);
    CHECK_EQ_INT(o.rc, 0);

    /* COMMIT, malformed: an invalid host call, and the slot is forgotten. */
    brain_calls_call(&b, KUBELET_OP_BRAIN_COMMIT, 0, (const uint8_t *)"{}", 2, &o);
    CHECK_EQ_INT(o.rc, -KUBELET_ERR_HOST_CALL_INVALID);
    CHECK(!o.has_result);
    CHECK_EQ_INT(g_slot.written, 0);
    CHECK(strstr(g_log, "W brain: commit refused: the commit has no newline") != NULL);

    /* COMMIT, refused: status ERR_HOST_CALL_FAILED with the words. */
    slot_store(g_image, g_image_len);
    spec_t sp = {.size = -1};
    size_t len = make_commit(g_image, g_image_len, &sp);
    brain_calls_call(&b, KUBELET_OP_BRAIN_COMMIT, 0, g_commit, len, &o);
    CHECK_EQ_INT(o.rc, 0);
    CHECK(o.has_result && !o.swap);
    CHECK_EQ_INT(o.status, KUBELET_ERR_HOST_CALL_FAILED);
    CHECK(strncmp(o.data, "BrainUnsigned: sha256:", 22) == 0);
    CHECK_EQ_INT(o.data_len, strlen(o.data));
    CHECK_EQ_INT(g_slot.written, 0);
    /* The same commit again finds no image: the next pull must write it anew. */
    sp.signer = &g_signer;
    len = make_commit(g_image, g_image_len, &sp);
    brain_calls_call(&b, KUBELET_OP_BRAIN_COMMIT, 0, g_commit, len, &o);
    CHECK(strncmp(o.data, "BrainIncomplete: the host holds 0 bytes", 39) == 0);

    /* COMMIT, verified: status 0, no bytes, swap. */
    slot_store(g_image, g_image_len);
    brain_calls_call(&b, KUBELET_OP_BRAIN_COMMIT, 0, g_commit, len, &o);
    CHECK_EQ_INT(o.rc, 0);
    CHECK(o.has_result && o.swap);
    CHECK_EQ_INT(o.status, 0);
    CHECK_EQ_INT(o.data_len, 0);
    CHECK_EQ_STR(o.commit.pod, "0b5e-uid");
    CHECK(strstr(g_log, "verified; swapping to it") != NULL);

    /* STATUS. */
    brain_calls_call(&b, KUBELET_OP_BRAIN_STATUS, 0, NULL, 0, &o);
    CHECK_EQ_INT(o.rc, 0);
    CHECK(o.has_result);
    CHECK_EQ_INT(o.data_len, 0);
    snprintf(st.running, sizeof(st.running), "%s", o.commit.digest[0] ? o.commit.digest : "sha256:x");
    snprintf(st.failed, sizeof(st.failed), "sha256:f");
    snprintf(st.reason, sizeof(st.reason), "BrainNotRenewing");
    snprintf(st.message, sizeof(st.message), "no Lease renewal within 30 s");
    brain_calls_call(&b, KUBELET_OP_BRAIN_STATUS, 0, NULL, 0, &o);
    CHECK_EQ_STR(o.data, "running=sha256:x\nfailed=sha256:f\nreason=BrainNotRenewing\nmessage=no Lease renewal within 30 s\n");
    CHECK_EQ_INT(o.data_len, strlen(o.data));
}

/* --- cases for host-sim's verdict (tests/firmware/brain_crosscheck.mjs) -------------------------------- */

static int write_file(const char *dir, const char *name, const char *ext, const void *b, size_t len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s.%s", dir, name, ext);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(b, 1, len, f) != len) {
        fprintf(stderr, "cannot write %s\n", path);
        if (f) {
            fclose(f);
        }
        return -1;
    }
    return fclose(f) == 0 ? 0 : -1;
}

static int emit_case(const char *dir, const char *name, const uint8_t *img, size_t img_len, const spec_t *sp,
                     const pair_t *keys, size_t nkeys)
{
    uint8_t raw[2][32];
    char pub[256] = "";
    for (size_t i = 0; i < nkeys; i++) {
        memcpy(raw[i], keys[i].pk, 32);
        size_t n = strlen(pub);
        sodium_bin2base64(pub + n, sizeof(pub) - n, keys[i].pk, 32, sodium_base64_VARIANT_ORIGINAL);
        strcat(pub, "\n");
    }
    slot_store(img, img_len);
    size_t len = make_commit(img, img_len, sp);
    brain_verifier_t v = {(const uint8_t(*)[32])raw, nkeys, NULL, NULL, NULL};
    brain_commit_t c;
    char words[768] = "";
    if (brain_verify_commit(&v, &g_slot, g_commit, len, &c, words, sizeof(words)) == BRAIN_VERIFY_MALFORMED) {
        fprintf(stderr, "case %s: malformed: %s\n", name, words);
        return -1;
    }
    return write_file(dir, name, "commit", g_commit, len) || write_file(dir, name, "image", img, img_len) ||
                   write_file(dir, name, "keys", pub, strlen(pub)) || write_file(dir, name, "words", words, strlen(words))
               ? -1
               : 0;
}

static int emit(const char *dir, const char *image_path)
{
    uint8_t *img = g_image;
    size_t img_len = g_image_len;
    if (image_path != NULL) {
        FILE *f = fopen(image_path, "rb");
        if (f == NULL) {
            fprintf(stderr, "cannot read %s\n", image_path);
            return 1;
        }
        img = g_mem.bytes + g_mem.cap / 2; /* the second half of the slot's buffer holds the source */
        img_len = fread(img, 1, g_mem.cap / 2, f);
        fclose(f);
    }
    pair_t both[2] = {g_other, g_signer};
    static const uint8_t text[] = "hello, not a module";
    int bad = 0;
    bad |= emit_case(dir, "valid", img, img_len, &(spec_t){.size = -1, .signer = &g_signer}, both, 2);
    bad |= emit_case(dir, "incomplete", img, img_len, &(spec_t){.size = (long long)img_len - 1, .signer = &g_signer}, both, 2);
    bad |= emit_case(dir, "manifest-digest", img, img_len,
                     &(spec_t){.size = -1, .signer = &g_signer,
                               .digest = "sha256:3333333333333333333333333333333333333333333333333333333333333333"},
                     both, 2);
    bad |= emit_case(dir, "layer-digest", img, img_len,
                     &(spec_t){.size = -1, .signer = &g_signer,
                               .layer = "sha256:4444444444444444444444444444444444444444444444444444444444444444"},
                     both, 2);
    bad |= emit_case(dir, "unsigned", img, img_len, &(spec_t){.size = -1}, both, 2);
    bad |= emit_case(dir, "untrusted", img, img_len, &(spec_t){.size = -1, .signer = &g_signer}, both, 0);
    bad |= emit_case(dir, "bad-signature", img, img_len, &(spec_t){.size = -1, .signer = &g_other}, &g_signer, 1);
    bad |= emit_case(dir, "other-statement", img, img_len,
                     &(spec_t){.size = -1, .signer = &g_signer, .signed_version = "9.9.9"}, both, 2);
    bad |= emit_case(dir, "abi", img, img_len, &(spec_t){.size = -1, .signer = &g_signer, .abi = 3}, both, 2);
    bad |= emit_case(dir, "not-wasm", text, sizeof(text) - 1, &(spec_t){.size = -1, .signer = &g_signer}, both, 2);
    return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0) {
        fprintf(stderr, "libsodium did not initialise\n");
        return 1;
    }
    g_mem.cap = 4u * 1024u * 1024u;
    g_mem.bytes = calloc(1, g_mem.cap);
    if (g_mem.bytes == NULL) {
        return 1;
    }
    g_be = (brain_backend_t){&g_mem, g_mem.cap / 2, mem_begin, mem_write, mem_read};
    crypto_sign_keypair(g_signer.pk, g_signer.sk);
    crypto_sign_keypair(g_other.pk, g_other.sk);
    g_image_len = make_image(g_image);

    if (argc >= 3 && strcmp(argv[1], "--emit") == 0) {
        int rc = emit(argv[2], argc >= 4 ? argv[3] : NULL);
        free(g_mem.bytes);
        return rc;
    }
    RUN(test_statement_and_key_id);
    RUN(test_valid_commit);
    RUN(test_refusals);
    RUN(test_invalid_module);
    RUN(test_read_back_fails);
    RUN(test_malformed_commit);
    RUN(test_calls);
    free(g_mem.bytes);
    return check_summary("test_brain_verify");
}
