/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * brain_board.h. A proven brain is not yet marked in NVS (firmware/README.md "Brain slot"): after a reset the
 * board runs the embedded core again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esp_log.h"
#include "mbedtls/base64.h"
#include "nvs.h"

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

/* The keys in NVS `brain_pubkey`; how many (a bad one is logged and skipped). */
static size_t load_keys(uint8_t keys[MAX_KEYS][BRAIN_PUBLIC_KEY_BYTES])
{
    nvs_handle_t h;
    if (nvs_open(KUBELET_CONFIG_NVS_NAMESPACE, NVS_READONLY, &h) != ESP_OK) {
        return 0;
    }
    size_t len = 0;
    char *text = NULL;
    if (nvs_get_str(h, "brain_pubkey", NULL, &len) == ESP_OK && (text = malloc(len)) != NULL &&
        nvs_get_str(h, "brain_pubkey", text, &len) != ESP_OK) {
        free(text);
        text = NULL;
    }
    nvs_close(h);
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

brain_host_t *brain_board_start(void)
{
    char err[160];
    brain_slot_partition_t *p = brain_slot_partition_open(CONFIG_PICOKUBELET_BRAIN_PARTITION, err, sizeof(err));
    if (p == NULL) {
        ESP_LOGI(TAG, "no brain slot (%s): brain swaps are unsupported", err);
        return NULL;
    }
    static uint8_t keys[MAX_KEYS][BRAIN_PUBLIC_KEY_BYTES];
    size_t key_count = load_keys(keys);
    brain_host_config_t cfg = {
        .backend = brain_slot_partition_backend(p),
        .keys = (const uint8_t(*)[BRAIN_PUBLIC_KEY_BYTES])keys,
        .key_count = key_count,
        .keys_hint = "NVS key brain_pubkey",
        .check_module = wasm_host_check_module,
        .log = log_line,
    };
    brain_host_t *b = brain_host_create(&cfg, err, sizeof(err));
    if (b == NULL) {
        ESP_LOGE(TAG, "brain calls: %s", err);
        brain_slot_partition_close(p);
        return NULL;
    }
    ESP_LOGI(TAG, "brain slot in partition \"%s\", %zu brain public key%s%s", CONFIG_PICOKUBELET_BRAIN_PARTITION,
             key_count, key_count == 1 ? "" : "s",
             key_count == 0 ? " (every brain is refused, BrainUntrusted: set NVS brain_pubkey)" : "");
    return b;
}
