/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * Host tests of the brain calls wired into the wasm host (firmware/components/brain_slot/brain_host.c) against
 * a recording stand-in for the wasm host's swap functions (defined here, so no wasm3 is needed: this runs in
 * CI): routing of ops 6-8, OP_BRAIN_WRITE answered inside host_call, the commit's result queued and the image
 * handed to the swap after it, the module check's verdict, the host's brain events, and the probation driven
 * from after_turn (proven after 3 renewals and kept; rolled back when the renewals do not grow).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mbedtls/sha256.h"
#include "mbedtls/version.h"
#include "sodium.h"

#include "check.h"
#include "test_digest.h"
#include "kubelet_abi.h"
#include "pk_os.h"
#include "brain_host.h"

/* --- the wasm host, as brain_host sees it ---------------------------------------------------------------- */

struct wasm_host {
    int results;
    int32_t result_req, result_status;
    char result[600];
    int32_t swap_req;
    uint8_t *swap_wasm;
    size_t swap_size;
    int keeps;
    char rollback[300];
    int64_t renewals;
    bool queue_fails;
};

bool wasm_host_queue_result(wasm_host_t *h, int32_t req, int32_t status, const uint8_t *data, size_t len)
{
    if (h->queue_fails) {
        return false;
    }
    h->results++;
    h->result_req = req;
    h->result_status = status;
    snprintf(h->result, sizeof(h->result), "%.*s", (int)len, (const char *)data);
    return true;
}

void wasm_host_swap_after(wasm_host_t *h, int32_t req, uint8_t *wasm, size_t size)
{
    free(h->swap_wasm);
    h->swap_req = req;
    h->swap_wasm = wasm;
    h->swap_size = size;
}

void wasm_host_keep_brain(wasm_host_t *h)
{
    h->keeps++;
}

void wasm_host_roll_back(wasm_host_t *h, const char *reason, const char *detail)
{
    snprintf(h->rollback, sizeof(h->rollback), "%s: %s", reason, detail);
}

int64_t wasm_host_stat(wasm_host_t *h, int32_t id)
{
    return id == KUBELET_STAT_RENEWALS ? h->renewals : -1;
}

const uint8_t *wasm_host_running_module(const wasm_host_t *h, size_t *size)
{
    *size = h->swap_size;
    return h->swap_wasm;
}

/* --- a memory slot, an image, a signed commit -------------------------------------------------------------- */

static uint8_t g_store[8192];

static int mem_begin(void *ctx, char *err, size_t n)
{
    return 0;
}

static int mem_write(void *ctx, size_t off, const uint8_t *b, size_t len, char *err, size_t n)
{
    memcpy(g_store + off, b, len);
    return 0;
}

static int mem_read(void *ctx, size_t off, uint8_t *out, size_t len, char *err, size_t n)
{
    memcpy(out, g_store + off, len);
    return 0;
}

static const brain_backend_t g_backend = {NULL, sizeof(g_store), mem_begin, mem_write, mem_read};


static uint8_t g_pk[crypto_sign_PUBLICKEYBYTES], g_sk[crypto_sign_SECRETKEYBYTES];
static uint8_t g_image[3000];
static char g_commit[4096];
static char g_digest[BRAIN_DIGEST_LEN + 1];

static size_t make_commit(void)
{
    static const uint8_t head[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00};
    memcpy(g_image, head, sizeof(head));
    for (size_t i = sizeof(head); i < sizeof(g_image); i++) {
        g_image[i] = (uint8_t)i; /* past the header only the module check looks */
    }
    char layer[BRAIN_DIGEST_LEN + 1];
    digest_of(g_image, sizeof(g_image), layer);
    char manifest[400];
    snprintf(manifest, sizeof(manifest),
             "{\"schemaVersion\":2,\"layers\":[{\"mediaType\":\"application/wasm\",\"digest\":\"%s\",\"size\":%zu}]}",
             layer, sizeof(g_image));
    digest_of((const uint8_t *)manifest, strlen(manifest), g_digest);
    char said[300];
    int n = snprintf(said, sizeof(said), "picokubelet-brain-v1\nlayer %s\nabi 2\nversion 0.2.0\n", layer);
    uint8_t sig[crypto_sign_BYTES];
    crypto_sign_detached(sig, NULL, (const uint8_t *)said, (unsigned long long)n, g_sk);
    char sig64[128];
    sodium_bin2base64(sig64, sizeof(sig64), sig, sizeof(sig), sodium_base64_VARIANT_ORIGINAL);
    return (size_t)snprintf(g_commit, sizeof(g_commit),
                            "{\"pod\":\"uid-1\",\"image\":\"127.0.0.1:5000/brain:v2\",\"digest\":\"%s\",\"layer\":\"%s\","
                            "\"size\":%zu,\"abi\":2,\"version\":\"0.2.0\",\"signature\":\"%s\"}\n%s",
                            g_digest, layer, sizeof(g_image), sig64, manifest);
}

/* --- the platform's side ------------------------------------------------------------------------------------ */

static char g_log[4096];
static int g_checks_run;
static int g_check_verdict;
static int g_saved;
static char g_saved_digest[80];

static void log_line(void *ctx, bool warn, const char *line)
{
    size_t n = strlen(g_log);
    snprintf(g_log + n, sizeof(g_log) - n, "%s %s\n", warn ? "W" : "I", line);
}

static int check_module(const uint8_t *wasm, size_t size, uint64_t abi, char *why, size_t why_size)
{
    g_checks_run++;
    CHECK_EQ_INT(size, sizeof(g_image));
    CHECK(memcmp(wasm, g_image, size) == 0);
    CHECK_EQ_INT(abi, 2);
    if (g_check_verdict != 0) {
        snprintf(why, why_size, "it does not compile under wasm3: unknown opcode");
    }
    return g_check_verdict;
}

static void save_proven(void *ctx, const brain_commit_t *c, const uint8_t *wasm, size_t size)
{
    g_saved++;
    snprintf(g_saved_digest, sizeof(g_saved_digest), "%s", c->digest);
    CHECK_EQ_INT(size, sizeof(g_image));
}

static brain_host_t *make_host(size_t key_count, const brain_backend_t *backend)
{
    brain_host_config_t cfg = {.backend = backend, .keys = (const uint8_t(*)[32])g_pk, .key_count = key_count,
                               .keys_hint = "--brain-public-key FILE", .check_module = check_module,
                               .renew_period_ms = 1000, .save_proven = save_proven, .log = log_line};
    char err[100];
    brain_host_t *b = brain_host_create(&cfg, err, sizeof(err));
    CHECK(b != NULL);
    return b;
}

static void write_image(brain_host_t *b, wasm_host_t *h)
{
    int before = h->results;
    CHECK_EQ_INT(brain_host_call(b, h, 1, KUBELET_OP_BRAIN_WRITE, 0, g_image, 1000), 0);
    CHECK_EQ_INT(brain_host_call(b, h, 2, KUBELET_OP_BRAIN_WRITE, 1000, g_image + 1000, sizeof(g_image) - 1000), 0);
    CHECK_EQ_INT(h->results, before); /* OP_BRAIN_WRITE's rc is its whole answer */
}

static void test_no_slot(void)
{
    wasm_host_t h = {0};
    CHECK(brain_host_serves(KUBELET_OP_BRAIN_WRITE) && brain_host_serves(KUBELET_OP_BRAIN_COMMIT) &&
          brain_host_serves(KUBELET_OP_BRAIN_STATUS) && !brain_host_serves(KUBELET_OP_LISTEN));
    CHECK_EQ_INT(brain_host_call(NULL, &h, 1, KUBELET_OP_BRAIN_STATUS, 0, NULL, 0), -KUBELET_ERR_UNSUPPORTED);
    brain_host_t *b = make_host(1, NULL);
    CHECK_EQ_INT(brain_host_call(b, &h, 1, KUBELET_OP_BRAIN_WRITE, 0, g_image, 10), -KUBELET_ERR_UNSUPPORTED);
    brain_host_destroy(b);
}

static void test_untrusted_without_keys(void)
{
    wasm_host_t h = {0};
    brain_host_t *b = make_host(0, &g_backend);
    write_image(b, &h);
    size_t len = make_commit();
    CHECK_EQ_INT(brain_host_call(b, &h, 3, KUBELET_OP_BRAIN_COMMIT, 0, (const uint8_t *)g_commit, len), 0);
    CHECK_EQ_INT(h.results, 1);
    CHECK_EQ_INT(h.result_req, 3);
    CHECK_EQ_INT(h.result_status, KUBELET_ERR_HOST_CALL_FAILED);
    CHECK(strncmp(h.result, "BrainUntrusted: ", 16) == 0);
    CHECK(strstr(h.result, "--brain-public-key FILE") != NULL);
    CHECK(h.swap_wasm == NULL);
    brain_host_destroy(b);
}

static void test_invalid_module(void)
{
    wasm_host_t h = {0};
    brain_host_t *b = make_host(1, &g_backend);
    write_image(b, &h);
    size_t len = make_commit();
    g_check_verdict = -1;
    g_checks_run = 0;
    CHECK_EQ_INT(brain_host_call(b, &h, 3, KUBELET_OP_BRAIN_COMMIT, 0, (const uint8_t *)g_commit, len), 0);
    g_check_verdict = 0;
    CHECK_EQ_INT(g_checks_run, 1);
    CHECK_EQ_INT(h.result_status, KUBELET_ERR_HOST_CALL_FAILED);
    CHECK(strstr(h.result, "BrainInvalidModule: ") == h.result);
    CHECK(strstr(h.result, "unknown opcode") != NULL);
    CHECK(h.swap_wasm == NULL);
    brain_host_destroy(b);
}

static void test_swap_proven(void)
{
    wasm_host_t h = {0};
    g_log[0] = '\0';
    g_saved = 0;
    brain_host_t *b = make_host(1, &g_backend);
    write_image(b, &h);
    size_t len = make_commit();
    CHECK_EQ_INT(brain_host_call(b, &h, 4, KUBELET_OP_BRAIN_COMMIT, 0, (const uint8_t *)g_commit, len), 0);
    CHECK_EQ_INT(h.result_status, 0);
    CHECK_EQ_STR(h.result, "");
    /* The image the check passed goes to the swap, right after request 4's result. */
    CHECK_EQ_INT(h.swap_req, 4);
    CHECK(h.swap_wasm != NULL && h.swap_size == sizeof(g_image) && memcmp(h.swap_wasm, g_image, sizeof(g_image)) == 0);
    CHECK_EQ_STR(brain_host_state(b)->running, "");

    h.renewals = 10;
    brain_host_on_event(b, &h, WASM_HOST_BRAIN_STARTED, NULL, "");
    CHECK_EQ_STR(brain_host_state(b)->running, g_digest);
    CHECK_EQ_INT(brain_host_call(b, &h, 5, KUBELET_OP_BRAIN_STATUS, 0, NULL, 0), 0);
    char want[120];
    snprintf(want, sizeof(want), "running=%s\n", g_digest);
    CHECK_EQ_STR(h.result, want);

    h.renewals = 12;
    brain_host_after_turn(b, &h);
    CHECK_EQ_INT(h.keeps, 0);
    h.renewals = 13;
    brain_host_after_turn(b, &h);
    CHECK_EQ_INT(h.keeps, 1);
    CHECK_EQ_INT(g_saved, 1);
    CHECK_EQ_STR(g_saved_digest, g_digest);
    CHECK(strstr(g_log, "proven (3 Lease renewals since the swap)") != NULL);
    brain_host_after_turn(b, &h);
    CHECK_EQ_INT(h.keeps, 1);
    CHECK_EQ_STR(h.rollback, "");
    free(h.swap_wasm);
    brain_host_destroy(b);
}

static void test_swap_not_renewing(void)
{
    wasm_host_t h = {0};
    brain_host_t *b = make_host(1, &g_backend);
    write_image(b, &h);
    size_t len = make_commit();
    CHECK_EQ_INT(brain_host_call(b, &h, 4, KUBELET_OP_BRAIN_COMMIT, 0, (const uint8_t *)g_commit, len), 0);
    h.renewals = 3;
    brain_host_on_event(b, &h, WASM_HOST_BRAIN_STARTED, NULL, "");
    /* The window is 3 renew periods (1 s here): poll the clock, not a sleep, until it passes. */
    int64_t until = pk_now_ms() + 3000;
    while (h.rollback[0] == '\0' && pk_now_ms() <= until + 500) {
        brain_host_after_turn(b, &h);
    }
    CHECK_EQ_STR(h.rollback, "BrainNotRenewing: no Lease renewal within 3 s of the swap");
    CHECK(pk_now_ms() >= until);
    brain_host_on_event(b, &h, WASM_HOST_BRAIN_ROLLED_BACK, "BrainNotRenewing", "no Lease renewal within 3 s of the swap");
    CHECK_EQ_INT(brain_host_call(b, &h, 6, KUBELET_OP_BRAIN_STATUS, 0, NULL, 0), 0);
    char want[300];
    snprintf(want, sizeof(want), "failed=%s\nreason=BrainNotRenewing\nmessage=no Lease renewal within 3 s of the swap\n",
             g_digest);
    CHECK_EQ_STR(h.result, want);
    CHECK_EQ_INT(h.keeps, 0);
    free(h.swap_wasm);
    brain_host_destroy(b);
}

static void test_not_swapped_and_queue_failure(void)
{
    wasm_host_t h = {0};
    brain_host_t *b = make_host(1, &g_backend);
    write_image(b, &h);
    size_t len = make_commit();
    CHECK_EQ_INT(brain_host_call(b, &h, 4, KUBELET_OP_BRAIN_COMMIT, 0, (const uint8_t *)g_commit, len), 0);
    brain_host_on_event(b, &h, WASM_HOST_BRAIN_NOT_SWAPPED, NULL, "snapshot_take returned error 6");
    CHECK_EQ_STR(brain_host_state(b)->reason, "BrainNotSwapped");
    CHECK_EQ_STR(brain_host_state(b)->running, "");
    free(h.swap_wasm);
    h.swap_wasm = NULL;
    /* No memory to record the result: the call fails at once and nothing is swapped. */
    write_image(b, &h);
    h.queue_fails = true;
    CHECK_EQ_INT(brain_host_call(b, &h, 7, KUBELET_OP_BRAIN_COMMIT, 0, (const uint8_t *)g_commit, len),
                 -KUBELET_ERR_HOST_CALL_FAILED);
    CHECK(h.swap_wasm == NULL);
    brain_host_destroy(b);
}

int main(void)
{
    if (sodium_init() < 0) {
        fprintf(stderr, "libsodium does not initialise\n");
        return 1;
    }
    crypto_sign_keypair(g_pk, g_sk);
    make_commit(); /* the image too: every test writes it before committing */
    RUN(test_no_slot);
    RUN(test_untrusted_without_keys);
    RUN(test_invalid_module);
    RUN(test_swap_proven);
    RUN(test_swap_not_renewing);
    RUN(test_not_swapped_and_queue_failure);
    return check_summary("test_brain_host");
}
