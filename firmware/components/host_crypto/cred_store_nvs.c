/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * cred_store.h in NVS (the board): namespace "pk_certs", one blob per item (<slot>_key, <slot>_crt),
 * PEM text without its NUL. Blobs rather than strings: a chain can exceed NVS's 4000-byte string limit.
 * Mirrors cred_store_file.c; the key is written first. Not run on a board yet (firmware/README.md).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nvs.h"

#include "kubelet_abi.h"
#include "cred_store.h"

#define CRED_NVS_NAMESPACE "pk_certs"

struct cred_store {
    char ns[16];
};

const char *cred_store_slot_name(int32_t slot)
{
    return slot == KUBELET_KEY_SLOT_SERVING ? "serving" : "client";
}

cred_store_t *cred_store_open(const char *location, char *err, size_t err_size)
{
    cred_store_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        snprintf(err, err_size, "out of memory");
        return NULL;
    }
    snprintf(s->ns, sizeof(s->ns), "%s", location != NULL ? location : CRED_NVS_NAMESPACE);
    return s;
}

static char *get_blob(nvs_handle_t h, const char *key)
{
    size_t len = 0;
    if (nvs_get_blob(h, key, NULL, &len) != ESP_OK) {
        return NULL;
    }
    char *buf = malloc(len + 1);
    if (buf != NULL && nvs_get_blob(h, key, buf, &len) != ESP_OK) {
        free(buf);
        return NULL;
    }
    if (buf != NULL) {
        buf[len] = '\0';
    }
    return buf;
}

bool cred_store_load(cred_store_t *s, int32_t slot, char **key_pem, char **chain_pem)
{
    *key_pem = NULL;
    *chain_pem = NULL;
    nvs_handle_t h;
    if (nvs_open(s->ns, NVS_READONLY, &h) != ESP_OK) {
        return false;
    }
    char key[16];
    snprintf(key, sizeof(key), "%s_key", cred_store_slot_name(slot));
    *key_pem = get_blob(h, key);
    snprintf(key, sizeof(key), "%s_crt", cred_store_slot_name(slot));
    *chain_pem = get_blob(h, key);
    nvs_close(h);
    if (*key_pem == NULL || *chain_pem == NULL) {
        if (*key_pem != NULL) {
            memset(*key_pem, 0, strlen(*key_pem));
            free(*key_pem);
        }
        free(*chain_pem);
        *key_pem = NULL;
        *chain_pem = NULL;
        return false;
    }
    return true;
}

bool cred_store_save(cred_store_t *s, int32_t slot, const char *key_pem, const char *chain_pem, char *err,
                     size_t err_size)
{
    nvs_handle_t h;
    esp_err_t rc = nvs_open(s->ns, NVS_READWRITE, &h);
    if (rc != ESP_OK) {
        snprintf(err, err_size, "NVS namespace %s: %s", s->ns, esp_err_to_name(rc));
        return false;
    }
    char key[16];
    snprintf(key, sizeof(key), "%s_key", cred_store_slot_name(slot));
    rc = nvs_set_blob(h, key, key_pem, strlen(key_pem));
    if (rc == ESP_OK) {
        snprintf(key, sizeof(key), "%s_crt", cred_store_slot_name(slot));
        rc = nvs_set_blob(h, key, chain_pem, strlen(chain_pem));
    }
    if (rc == ESP_OK) {
        rc = nvs_commit(h);
    }
    nvs_close(h);
    if (rc != ESP_OK) {
        snprintf(err, err_size, "NVS %s/%s: %s", s->ns, key, esp_err_to_name(rc));
        return false;
    }
    return true;
}

void cred_store_close(cred_store_t *s)
{
    free(s);
}
