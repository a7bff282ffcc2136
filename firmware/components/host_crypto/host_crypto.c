/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * host_crypto.h: the key slots, the worker task and the four crypto ops. Slot state is touched only by
 * the worker (and by host_crypto_start before the worker exists); the request list is under `lock`.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mbedtls/ctr_drbg.h"
#include "mbedtls/ecp.h"
#include "mbedtls/entropy.h"
#include "mbedtls/error.h"
#include "mbedtls/pk.h"
#include "mbedtls/platform_util.h"
#include "mbedtls/version.h"
#include "mbedtls/x509_crt.h"
#if defined(MBEDTLS_PSA_CRYPTO_C)
#include "psa/crypto.h"
#endif

#include "csr.h"
#include "host_crypto.h"
#include "kubelet_abi.h"
#include "pk_os.h"

static const char *TAG = "crypto";

#define SLOT_COUNT 2
/* A P-256 private key as PEM is about 230 bytes. */
#define KEY_PEM_MAX 1024
/* Results go into the core's io_buffer. */
#define RESULT_MAX KUBELET_ABI_IO_BUFFER_SIZE

/* A slot: the installed pair (key and chain, both or neither) and a pending key waiting for its
 * certificate. CSRs are for the pending key, else the installed one; so are installs. */
typedef struct {
    mbedtls_pk_context key;
    /* the installed chain (PEM) for `key`; NULL: nothing installed */
    char *chain_pem;
    int64_t not_before;
    int64_t not_after;
    mbedtls_pk_context pending;
    bool has_pending;
} slot_t;

/* The key CSRs and installs are for: the pending one, else the installed one; NULL for none. */
static mbedtls_pk_context *target_key(slot_t *s)
{
    return s->has_pending ? &s->pending : s->chain_pem != NULL ? &s->key : NULL;
}

typedef struct request {
    struct request *next;
    uint32_t gen;
    int32_t req;
    int32_t op;
    int32_t arg;
    size_t len;
    uint8_t data[];
} request_t;

struct host_crypto {
    host_crypto_config_t cfg;
    slot_t slots[SLOT_COUNT];
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    pk_mutex_t *lock;
    pk_sem_t *wake;
    request_t *head;
    request_t *tail;
    uint32_t pending;
};

static void describe(int rc, char *out, size_t size)
{
#if defined(MBEDTLS_ERROR_C)
    char text[96];
    mbedtls_strerror(rc, text, sizeof(text));
    snprintf(out, size, "-0x%04X %s", (unsigned)-rc, text);
#else
    snprintf(out, size, "-0x%04X", (unsigned)-rc);
#endif
}

static const char *slot_name(int32_t slot)
{
    return slot == KUBELET_KEY_SLOT_SERVING ? "serving" : "client";
}

/* Days since 1970-01-01 of a proleptic Gregorian date (month 1..12). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int64_t unix_seconds(const mbedtls_x509_time *t)
{
    return days_from_civil(t->year, t->mon, t->day) * 86400 + (int64_t)t->hour * 3600 + (int64_t)t->min * 60 + t->sec;
}

static int parse_key(host_crypto_t *hc, mbedtls_pk_context *key, const char *pem)
{
#if MBEDTLS_VERSION_MAJOR >= 3
    return mbedtls_pk_parse_key(key, (const unsigned char *)pem, strlen(pem) + 1, NULL, 0, mbedtls_ctr_drbg_random,
                                &hc->drbg);
#else
    (void)hc;
    return mbedtls_pk_parse_key(key, (const unsigned char *)pem, strlen(pem) + 1, NULL, 0);
#endif
}

/* True when both carry the same public key (compared as SubjectPublicKeyInfo DER). */
static bool same_public_key(mbedtls_pk_context *a, mbedtls_pk_context *b)
{
    unsigned char da[160];
    unsigned char db[160];
    int la = mbedtls_pk_write_pubkey_der(a, da, sizeof(da));
    int lb = mbedtls_pk_write_pubkey_der(b, db, sizeof(db));
    return la > 0 && la == lb && memcmp(da + sizeof(da) - la, db + sizeof(db) - lb, (size_t)la) == 0;
}

/*
 * Parses `chain_pem` and checks its leaf against `key`. 0 with the leaf's validity, or
 * KUBELET_ERR_HOST_CALL_INVALID with the reason.
 */
static int32_t check_chain(const char *chain_pem, mbedtls_pk_context *key, int32_t slot, int64_t *not_before,
                           int64_t *not_after, char *why, size_t why_size)
{
    mbedtls_x509_crt chain;
    mbedtls_x509_crt_init(&chain);
    int rc = mbedtls_x509_crt_parse(&chain, (const unsigned char *)chain_pem, strlen(chain_pem) + 1);
    int32_t status = 0;
    if (rc != 0 || chain.raw.len == 0) {
        char text[128];
        describe(rc < 0 ? rc : MBEDTLS_ERR_X509_INVALID_FORMAT, text, sizeof(text));
        snprintf(why, why_size, "not a PEM certificate chain: %s", text);
        status = KUBELET_ERR_HOST_CALL_INVALID;
    } else if (!same_public_key(&chain.pk, key)) {
        snprintf(why, why_size, "the certificate does not match key slot %" PRId32 " (%s)", slot, slot_name(slot));
        status = KUBELET_ERR_HOST_CALL_INVALID;
    } else {
        *not_before = unix_seconds(&chain.valid_from);
        *not_after = unix_seconds(&chain.valid_to);
    }
    mbedtls_x509_crt_free(&chain);
    return status;
}

/* ---------------------------------------------------------------- ops (worker) */

static int32_t op_key_generate(host_crypto_t *hc, int32_t slot, char *out, size_t *out_len)
{
    mbedtls_pk_context key;
    mbedtls_pk_init(&key);
    int rc = mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
    if (rc == 0) {
        rc = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key), mbedtls_ctr_drbg_random, &hc->drbg);
    }
    if (rc != 0) {
        char text[128];
        describe(rc, text, sizeof(text));
        *out_len = (size_t)snprintf(out, RESULT_MAX, "key generation failed: %s", text);
        mbedtls_pk_free(&key);
        return KUBELET_ERR_HOST_CALL_FAILED;
    }
    slot_t *s = &hc->slots[slot];
    mbedtls_pk_free(&s->pending);
    s->pending = key; /* the context owns heap state only: moving the struct moves the key */
    s->has_pending = true;
    PK_LOGI(TAG, "%s slot: new ECDSA P-256 key, pending until a certificate for it is installed%s", slot_name(slot),
            s->chain_pem != NULL ? " (the installed one stays in use)" : "");
    *out_len = 0;
    return 0;
}

static int32_t op_csr_create(host_crypto_t *hc, int32_t slot, const uint8_t *data, size_t len, char *out,
                             size_t *out_len)
{
    mbedtls_pk_context *key = target_key(&hc->slots[slot]);
    if (key == NULL) {
        *out_len = (size_t)snprintf(out, RESULT_MAX, "key slot %" PRId32 " has no key (OP_KEY_GENERATE first)", slot);
        return KUBELET_ERR_HOST_CALL_INVALID;
    }
    csr_spec_t spec;
    char why[160];
    if (csr_spec_parse(data, len, &spec, why, sizeof(why)) != 0) {
        csr_spec_free(&spec);
        *out_len = (size_t)snprintf(out, RESULT_MAX, "%s", why);
        return KUBELET_ERR_HOST_CALL_INVALID;
    }
    int n = csr_write_pem(&spec, key, mbedtls_ctr_drbg_random, &hc->drbg, out, RESULT_MAX);
    csr_spec_free(&spec);
    if (n < 0) {
        char text[128];
        describe(n, text, sizeof(text));
        *out_len = (size_t)snprintf(out, RESULT_MAX, "cannot write the request: %s", text);
        return KUBELET_ERR_HOST_CALL_FAILED;
    }
    *out_len = (size_t)n;
    return 0;
}

static size_t validity_lines(const slot_t *s, char *out)
{
    return (size_t)snprintf(out, RESULT_MAX, "notBefore=%" PRId64 "\nnotAfter=%" PRId64 "\n", s->not_before,
                            s->not_after);
}

static int32_t op_cert_install(host_crypto_t *hc, int32_t slot, const uint8_t *data, size_t len, char *out,
                               size_t *out_len)
{
    slot_t *s = &hc->slots[slot];
    mbedtls_pk_context *key = target_key(s);
    if (key == NULL) {
        *out_len = (size_t)snprintf(out, RESULT_MAX, "key slot %" PRId32 " has no key (OP_KEY_GENERATE first)", slot);
        return KUBELET_ERR_HOST_CALL_INVALID;
    }
    char *chain = malloc(len + 1);
    char *key_pem = malloc(KEY_PEM_MAX);
    if (chain == NULL || key_pem == NULL) {
        free(chain);
        free(key_pem);
        *out_len = (size_t)snprintf(out, RESULT_MAX, "out of memory");
        return KUBELET_ERR_HOST_CALL_FAILED;
    }
    memcpy(chain, data, len);
    chain[len] = '\0';
    int64_t not_before = 0;
    int64_t not_after = 0;
    char why[256];
    int32_t status = memchr(data, '\0', len) != NULL ? KUBELET_ERR_HOST_CALL_INVALID : 0;
    if (status != 0) {
        snprintf(why, sizeof(why), "not a PEM certificate chain: it holds a NUL byte");
    } else {
        status = check_chain(chain, key, slot, &not_before, &not_after, why, sizeof(why));
    }
    if (status == 0) {
        int rc = mbedtls_pk_write_key_pem(key, (unsigned char *)key_pem, KEY_PEM_MAX);
        if (rc != 0) {
            char text[128];
            describe(rc, text, sizeof(text));
            snprintf(why, sizeof(why), "cannot encode the key: %s", text);
            status = KUBELET_ERR_HOST_CALL_FAILED;
        }
    }
    if (status == 0 && hc->cfg.store != NULL && !cred_store_save(hc->cfg.store, slot, key_pem, chain, why, sizeof(why))) {
        status = KUBELET_ERR_HOST_CALL_FAILED;
    }
    if (status == 0) {
        if (key == &s->pending) {
            mbedtls_pk_free(&s->key);
            s->key = s->pending;
            mbedtls_pk_init(&s->pending);
            s->has_pending = false;
        }
        free(s->chain_pem);
        s->chain_pem = chain;
        chain = NULL;
        s->not_before = not_before;
        s->not_after = not_after;
        if (hc->cfg.on_identity != NULL) {
            hc->cfg.on_identity(hc->cfg.ctx, slot, s->chain_pem, key_pem);
        }
        PK_LOGI(TAG, "%s slot: certificate installed (valid %" PRId64 "..%" PRId64 ")%s", slot_name(slot), not_before,
                not_after, hc->cfg.store != NULL ? " and stored" : "");
        *out_len = validity_lines(s, out);
    } else {
        PK_LOGW(TAG, "%s slot: certificate refused: %s", slot_name(slot), why);
        *out_len = (size_t)snprintf(out, RESULT_MAX, "%s", why);
    }
    mbedtls_platform_zeroize(key_pem, KEY_PEM_MAX);
    free(key_pem);
    free(chain);
    return status;
}

static int32_t op_cert_info(host_crypto_t *hc, int32_t slot, char *out, size_t *out_len)
{
    const slot_t *s = &hc->slots[slot];
    if (s->chain_pem == NULL) {
        *out_len = (size_t)snprintf(out, RESULT_MAX, "no certificate in key slot %" PRId32 " (%s)", slot,
                                    slot_name(slot));
        return KUBELET_ERR_HOST_CALL_FAILED;
    }
    *out_len = validity_lines(s, out);
    return 0;
}

static void run_request(host_crypto_t *hc, request_t *r)
{
    char *out = malloc(RESULT_MAX + 1);
    size_t out_len = 0;
    int32_t status;
    if (out == NULL) {
        status = KUBELET_ERR_HOST_CALL_FAILED;
    } else if (r->op == KUBELET_OP_KEY_GENERATE) {
        status = op_key_generate(hc, r->arg, out, &out_len);
    } else if (r->op == KUBELET_OP_CSR_CREATE) {
        status = op_csr_create(hc, r->arg, r->data, r->len, out, &out_len);
    } else if (r->op == KUBELET_OP_CERT_INSTALL) {
        status = op_cert_install(hc, r->arg, r->data, r->len, out, &out_len);
    } else {
        status = op_cert_info(hc, r->arg, out, &out_len);
    }
    if (out_len > RESULT_MAX) {
        out_len = RESULT_MAX; /* snprintf's would-be length; never more than the buffer */
    }
    if (out != NULL && out_len == 0) {
        free(out);
        out = NULL;
    }
    pk_event_t ev = {.kind = PK_EV_HOST_RESULT, .gen = r->gen, .conn = r->req, .arg = status,
                     .data = (uint8_t *)out, .len = (uint32_t)out_len};
    if (!pk_evq_post(hc->cfg.queue, &ev, PK_WAIT_FOREVER)) {
        free(out);
    }
}

static void worker(void *arg)
{
    host_crypto_t *hc = arg;
    for (;;) {
        pk_sem_take(hc->wake, PK_WAIT_FOREVER);
        pk_mutex_lock(hc->lock);
        request_t *r = hc->head;
        if (r != NULL) {
            hc->head = r->next;
            if (hc->head == NULL) {
                hc->tail = NULL;
            }
        }
        pk_mutex_unlock(hc->lock);
        if (r == NULL) {
            continue;
        }
        run_request(hc, r);
        /* a certificate chain or spec is not secret, but the copy goes the way of every buffer here */
        mbedtls_platform_zeroize(r->data, r->len);
        free(r);
        pk_mutex_lock(hc->lock);
        hc->pending--;
        pk_mutex_unlock(hc->lock);
    }
}

/* ---------------------------------------------------------------- entry points */

int host_crypto_serves(int32_t op)
{
    return op == KUBELET_OP_KEY_GENERATE || op == KUBELET_OP_CSR_CREATE || op == KUBELET_OP_CERT_INSTALL ||
           op == KUBELET_OP_CERT_INFO;
}

int32_t host_crypto_call(host_crypto_t *hc, uint32_t gen, int32_t req, int32_t op, int32_t arg, const uint8_t *data,
                         size_t len)
{
    if (!host_crypto_serves(op)) {
        return -KUBELET_ERR_UNSUPPORTED;
    }
    if ((arg != KUBELET_KEY_SLOT_CLIENT && arg != KUBELET_KEY_SLOT_SERVING) || len > HOST_CRYPTO_MAX_INPUT) {
        return -KUBELET_ERR_HOST_CALL_INVALID;
    }
    request_t *r = malloc(sizeof(*r) + len);
    if (r == NULL) {
        return -KUBELET_ERR_HOST_BUSY;
    }
    *r = (request_t){.gen = gen, .req = req, .op = op, .arg = arg, .len = len};
    if (len > 0) {
        memcpy(r->data, data, len);
    }
    pk_mutex_lock(hc->lock);
    bool busy = hc->pending >= HOST_CRYPTO_MAX_PENDING;
    if (!busy) {
        hc->pending++;
        if (hc->tail != NULL) {
            hc->tail->next = r;
        } else {
            hc->head = r;
        }
        hc->tail = r;
    }
    pk_mutex_unlock(hc->lock);
    if (busy) {
        free(r);
        return -KUBELET_ERR_HOST_BUSY;
    }
    pk_sem_give(hc->wake);
    return 0;
}

/* A stored pair: used when the key parses and the chain's leaf carries it; ignored (logged) otherwise. */
static void load_slot(host_crypto_t *hc, int32_t slot)
{
    char *key_pem = NULL;
    char *chain = NULL;
    if (hc->cfg.store == NULL || !cred_store_load(hc->cfg.store, slot, &key_pem, &chain)) {
        return;
    }
    slot_t *s = &hc->slots[slot];
    char why[256];
    int rc = parse_key(hc, &s->key, key_pem);
    if (rc != 0) {
        describe(rc, why, sizeof(why));
        PK_LOGW(TAG, "%s slot: the stored key does not parse (%s); ignoring the stored pair", slot_name(slot), why);
        mbedtls_pk_free(&s->key);
        mbedtls_pk_init(&s->key);
    } else if (check_chain(chain, &s->key, slot, &s->not_before, &s->not_after, why, sizeof(why)) != 0) {
        PK_LOGW(TAG, "%s slot: the stored certificate is not usable (%s); ignoring the stored pair", slot_name(slot),
                why);
        mbedtls_pk_free(&s->key);
        mbedtls_pk_init(&s->key);
    } else {
        s->chain_pem = chain;
        chain = NULL;
        PK_LOGI(TAG, "%s slot: using the stored certificate (valid %" PRId64 "..%" PRId64 ")", slot_name(slot),
                s->not_before, s->not_after);
        if (hc->cfg.on_identity != NULL) {
            hc->cfg.on_identity(hc->cfg.ctx, slot, s->chain_pem, key_pem);
        }
    }
    mbedtls_platform_zeroize(key_pem, strlen(key_pem));
    free(key_pem);
    free(chain);
}

host_crypto_t *host_crypto_start(const host_crypto_config_t *config, char *err, size_t err_size)
{
    if (config->queue == NULL) {
        snprintf(err, err_size, "an event queue is required");
        return NULL;
    }
    host_crypto_t *hc = calloc(1, sizeof(*hc));
    if (hc == NULL) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    hc->cfg = *config;
    for (int i = 0; i < SLOT_COUNT; i++) {
        mbedtls_pk_init(&hc->slots[i].key);
        mbedtls_pk_init(&hc->slots[i].pending);
    }
    mbedtls_entropy_init(&hc->entropy);
    mbedtls_ctr_drbg_init(&hc->drbg);
#if defined(MBEDTLS_PSA_CRYPTO_C)
    psa_crypto_init();
#endif
    /* mbedtls_entropy_func gathers the platform's sources: getrandom on Linux, the hardware RNG on the
     * ESP32-S3 (ESP-IDF's MBEDTLS_ENTROPY_HARDWARE_ALT). */
    static const char personalisation[] = "picokubelet-keys";
    int rc = mbedtls_ctr_drbg_seed(&hc->drbg, mbedtls_entropy_func, &hc->entropy,
                                   (const unsigned char *)personalisation, sizeof(personalisation) - 1);
    hc->lock = pk_mutex_create();
    hc->wake = pk_sem_create(0, UINT32_MAX);
    if (rc != 0) {
        char text[128];
        describe(rc, text, sizeof(text));
        snprintf(err, err_size, "seeding the DRBG: %s", text);
        goto fail;
    }
    if (hc->lock == NULL || hc->wake == NULL) {
        snprintf(err, err_size, "out of memory");
        goto fail;
    }
    load_slot(hc, KUBELET_KEY_SLOT_CLIENT);
    load_slot(hc, KUBELET_KEY_SLOT_SERVING);
    /* ECDSA signing and key generation with mbedTLS's bignum code; an estimate for the board, not measured. */
    if (!pk_thread_start("crypto", worker, hc, config->task_stack_bytes ? config->task_stack_bytes : 8 * 1024,
                         config->task_priority)) {
        snprintf(err, err_size, "cannot start the crypto task");
        goto fail;
    }
    return hc;

fail:
    for (int i = 0; i < SLOT_COUNT; i++) {
        mbedtls_pk_free(&hc->slots[i].key);
        mbedtls_pk_free(&hc->slots[i].pending);
        free(hc->slots[i].chain_pem);
    }
    if (hc->wake != NULL) {
        pk_sem_destroy(hc->wake);
    }
    pk_mutex_destroy(hc->lock);
    mbedtls_ctr_drbg_free(&hc->drbg);
    mbedtls_entropy_free(&hc->entropy);
    free(hc);
    return NULL;
}
