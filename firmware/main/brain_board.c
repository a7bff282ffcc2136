/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * brain_board.h. The record store is one NVS string: NVS replaces an entry whole (the old one is erased only
 * after the new one is written), which is the atomic replace brain_pair needs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esp_log.h"
#include "mbedtls/base64.h"
#include "nvs.h"

#include "brain_pair.h"
#include "brain_slot_partition.h"
#include "kubelet_config.h"
#include "brain_board.h"

static const char *TAG = "brain";

#define MAX_KEYS 4

static void log_line(void *ctx, bool warn, const char *line)
{
    (void)ctx;
    if (warn) {
        ESP_LOGW(TAG, "%s", line);
    } else {
        ESP_LOGI(TAG, "%s", line);
    }
}

/* NVS string `key` (namespace "kubelet"), malloc'd, or NULL when there is none. */
static char *nvs_string(const char *key)
{
    nvs_handle_t h;
    if (nvs_open(KUBELET_CONFIG_NVS_NAMESPACE, NVS_READONLY, &h) != ESP_OK) {
        return NULL;
    }
    size_t len = 0;
    char *text = NULL;
    if (nvs_get_str(h, key, NULL, &len) == ESP_OK && (text = malloc(len)) != NULL &&
        nvs_get_str(h, key, text, &len) != ESP_OK) {
        free(text);
        text = NULL;
    }
    nvs_close(h);
    return text;
}

/* The keys in NVS `brain_pubkey`; how many (a bad one is logged and skipped). */
static size_t load_keys(uint8_t keys[MAX_KEYS][BRAIN_PUBLIC_KEY_BYTES])
{
    char *text = nvs_string(BRAIN_BOARD_NVS_KEYS);
    size_t n = 0;
    for (char *save = NULL, *tok = text != NULL ? strtok_r(text, ", \t\r\n", &save) : NULL; tok != NULL;
         tok = strtok_r(NULL, ", \t\r\n", &save)) {
        uint8_t raw[64];
        size_t got = 0;
        if (n == MAX_KEYS) {
            ESP_LOGW(TAG, "brain_pubkey: more than %d keys; the rest are ignored", MAX_KEYS);
            break;
        }
        if (mbedtls_base64_decode(raw, sizeof(raw), &got, (const unsigned char *)tok, strlen(tok)) != 0 ||
            got != BRAIN_PUBLIC_KEY_BYTES) {
            ESP_LOGW(TAG, "brain_pubkey: key %zu is not the base64 of 32 bytes (brain.key.pub); ignored", n + 1);
            continue;
        }
        memcpy(keys[n++], raw, BRAIN_PUBLIC_KEY_BYTES);
    }
    free(text);
    return n;
}

char *brain_board_registry_ca(void)
{
    char *pem = nvs_string(BRAIN_BOARD_NVS_REGISTRY_CA);
    if (pem != NULL) {
        ESP_LOGI(TAG, "registry connections (PROFILE_PUBLIC) are verified against NVS %s", BRAIN_BOARD_NVS_REGISTRY_CA);
    } else {
        ESP_LOGI(TAG, "registry connections (PROFILE_PUBLIC) are verified against ESP-IDF's certificate bundle");
    }
    return pem;
}

static long record_get(void *ctx, char *buf, size_t size, char *err, size_t err_size)
{
    (void)ctx;
    nvs_handle_t h;
    esp_err_t e = nvs_open(KUBELET_CONFIG_NVS_NAMESPACE, NVS_READONLY, &h);
    if (e == ESP_ERR_NVS_NOT_FOUND) {
        return 0; /* no namespace yet: no record */
    }
    if (e != ESP_OK) {
        snprintf(err, err_size, "NVS: %s", esp_err_to_name(e));
        return -1;
    }
    size_t len = size;
    e = nvs_get_str(h, BRAIN_BOARD_NVS_PROVEN, buf, &len);
    nvs_close(h);
    if (e == ESP_ERR_NVS_NOT_FOUND) {
        return 0;
    }
    if (e != ESP_OK) {
        snprintf(err, err_size, "NVS %s: %s", BRAIN_BOARD_NVS_PROVEN, esp_err_to_name(e));
        return -1;
    }
    return len > 0 ? (long)(len - 1) : 0; /* len counts the NUL */
}

static int record_set(void *ctx, const char *line, char *err, size_t err_size)
{
    (void)ctx;
    nvs_handle_t h;
    esp_err_t e = nvs_open(KUBELET_CONFIG_NVS_NAMESPACE, NVS_READWRITE, &h);
    if (e == ESP_OK) {
        e = nvs_set_str(h, BRAIN_BOARD_NVS_PROVEN, line);
        if (e == ESP_OK) {
            e = nvs_commit(h);
        }
        nvs_close(h);
    }
    if (e != ESP_OK) {
        snprintf(err, err_size, "NVS %s: %s", BRAIN_BOARD_NVS_PROVEN, esp_err_to_name(e));
        return -1;
    }
    return 0;
}

static const brain_record_store_t s_records = {.get = record_get, .set = record_set};
static brain_pair_t *s_pair;

/* brain_host's save_proven: the next start runs this brain. */
static void save_proven(void *ctx, const brain_commit_t *c, const uint8_t *wasm, size_t size)
{
    (void)ctx;
    char err[200];
    /* No provenAt: the board has no wall clock of its own (the core keeps the server's time). */
    if (brain_pair_save(s_pair, c, wasm, size, NULL, err, sizeof(err)) != 0) {
        ESP_LOGW(TAG, "cannot keep the proven brain %s: %s; after a reset the board runs the brain before it", c->digest,
                 err);
        return;
    }
    ESP_LOGI(TAG, "brain %s (version %s) kept in partition brain_%d: the board boots it after a reset", c->digest,
             c->version, brain_pair_proven_slot(s_pair));
}

/* The proven brain into boot, if there is one that still hashes to its record. */
static void load_proven(brain_board_boot_t *boot)
{
    char err[256];
    brain_commit_t *c = malloc(sizeof(*c));
    if (c == NULL) {
        ESP_LOGW(TAG, "out of memory reading the proven brain; running the embedded core");
        return;
    }
    int got = brain_pair_load(s_pair, &boot->wasm, &boot->size, c, err, sizeof(err));
    if (got < 0) {
        ESP_LOGW(TAG, "proven brain: %s; running the embedded core", err);
    } else if (got > 0) {
        snprintf(boot->digest, sizeof(boot->digest), "%s", c->digest);
        snprintf(boot->version, sizeof(boot->version), "%s", c->version);
        ESP_LOGI(TAG, "booting the proven brain %s (version %s, %zu bytes, partition brain_%d) instead of the "
                      "embedded core", boot->digest, boot->version, boot->size, brain_pair_proven_slot(s_pair));
    }
    free(c);
}

brain_host_t *brain_board_start(brain_board_boot_t *boot)
{
    char err[160];
    memset(boot, 0, sizeof(*boot));
    brain_slot_partition_t *p0 = brain_slot_partition_open(BRAIN_BOARD_PARTITION_0, err, sizeof(err));
    brain_slot_partition_t *p1 = p0 != NULL ? brain_slot_partition_open(BRAIN_BOARD_PARTITION_1, err, sizeof(err)) : NULL;
    if (p1 == NULL) {
        ESP_LOGI(TAG, "no brain slots (%s): brain swaps are unsupported", err);
        brain_slot_partition_close(p0);
        return NULL;
    }
    s_pair = brain_pair_open(brain_slot_partition_backend(p0), brain_slot_partition_backend(p1), &s_records, err,
                             sizeof(err));
    if (s_pair == NULL) {
        ESP_LOGE(TAG, "brain slots: %s", err);
        brain_slot_partition_close(p0);
        brain_slot_partition_close(p1);
        return NULL;
    }
    load_proven(boot);
    static uint8_t keys[MAX_KEYS][BRAIN_PUBLIC_KEY_BYTES];
    size_t key_count = load_keys(keys);
    brain_host_config_t cfg = {
        .backend = brain_pair_backend(s_pair),
        .keys = (const uint8_t(*)[BRAIN_PUBLIC_KEY_BYTES])keys,
        .key_count = key_count,
        .keys_hint = "NVS key " BRAIN_BOARD_NVS_KEYS,
        .check_module = wasm_host_check_module,
        .running_digest = boot->digest,
        .save_proven = save_proven,
        .log = log_line,
    };
    brain_host_t *b = brain_host_create(&cfg, err, sizeof(err));
    if (b == NULL) {
        ESP_LOGE(TAG, "brain calls: %s", err);
        return NULL;
    }
    ESP_LOGI(TAG, "brain slots in partitions %s and %s, %zu brain public key%s%s", BRAIN_BOARD_PARTITION_0,
             BRAIN_BOARD_PARTITION_1, key_count, key_count == 1 ? "" : "s",
             key_count == 0 ? " (every brain is refused, BrainUntrusted: set NVS " BRAIN_BOARD_NVS_KEYS ")" : "");
    return b;
}
