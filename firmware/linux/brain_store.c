/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * brain_store.h. The record is brain_record's line (without a slot: the file beside it is the image).
 */
#define _GNU_SOURCE

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mbedtls/base64.h"

#include "kubeconfig.h"
#include "brain_record.h"
#include "brain_store.h"
#include "brain_verify.h"

int brain_store_read_key(const char *path, uint8_t key[BRAIN_PUBLIC_KEY_BYTES], char *err, size_t err_size)
{
    size_t len = 0;
    char *text = kubeconfig_read_file(path, &len);
    if (text == NULL) {
        snprintf(err, err_size, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    char *b = text;
    while (*b == ' ' || *b == '\t' || *b == '\r' || *b == '\n') {
        b++;
    }
    size_t n = strcspn(b, " \t\r\n");
    uint8_t raw[64];
    size_t got = 0;
    int rc = mbedtls_base64_decode(raw, sizeof(raw), &got, (const unsigned char *)b, n);
    free(text);
    if (rc != 0 || got != BRAIN_PUBLIC_KEY_BYTES) {
        snprintf(err, err_size, "%s is not the base64 of a 32-byte Ed25519 public key (as host-sim's brain.key.pub; "
                 "make a pair with `node host-sim/bin/picokubelet-sim.js brain-key --out FILE`)", path);
        return -1;
    }
    memcpy(key, raw, BRAIN_PUBLIC_KEY_BYTES);
    return 0;
}

static int atomic_write(const char *path, const void *bytes, size_t len, char *err, size_t err_size)
{
    char tmp[1200];
    snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (f == NULL) {
        snprintf(err, err_size, "cannot write %s: %s", tmp, strerror(errno));
        return -1;
    }
    chmod(tmp, 0600);
    bool ok = fwrite(bytes, 1, len, f) == len;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        snprintf(err, err_size, "cannot write %s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

int brain_store_save(const char *dir, const brain_commit_t *c, const uint8_t *wasm, size_t size, char *err,
                     size_t err_size)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, err_size, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    char path[1100];
    snprintf(path, sizeof(path), "%s/%s", dir, BRAIN_CURRENT_WASM);
    /* The module first: a record never names a module that is not there. */
    if (atomic_write(path, wasm, size, err, err_size) != 0) {
        return -1;
    }
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    char rec[BRAIN_RECORD_MAX_BYTES];
    long n = brain_record_format(c, size, -1, when, rec, sizeof(rec), err, err_size);
    if (n < 0) {
        return -1;
    }
    snprintf(path, sizeof(path), "%s/%s", dir, BRAIN_CURRENT_JSON);
    return atomic_write(path, rec, (size_t)n, err, err_size);
}

int brain_store_load(const char *dir, uint8_t **wasm, size_t *size, brain_commit_t *c, char *err, size_t err_size)
{
    char wasm_path[1100];
    char json_path[1100];
    snprintf(wasm_path, sizeof(wasm_path), "%s/%s", dir, BRAIN_CURRENT_WASM);
    snprintf(json_path, sizeof(json_path), "%s/%s", dir, BRAIN_CURRENT_JSON);
    struct stat st;
    if (stat(wasm_path, &st) != 0) {
        return 0;
    }
    size_t json_len = 0;
    char *json = kubeconfig_read_file(json_path, &json_len);
    if (json == NULL) {
        snprintf(err, err_size, "%s is there but %s cannot be read (%s): delete both to silence this", wasm_path,
                 json_path, strerror(errno));
        return -1;
    }
    char why[200];
    int slot = -1;
    int rc = brain_record_parse(json, json_len, c, &slot, why, sizeof(why));
    free(json);
    if (rc != 0) {
        snprintf(err, err_size, "%s: %s: delete it and %s to silence this", json_path, why, wasm_path);
        return -1;
    }
    size_t n = 0;
    uint8_t *bytes = (uint8_t *)kubeconfig_read_file(wasm_path, &n);
    if (bytes == NULL) {
        snprintf(err, err_size, "cannot read %s: %s", wasm_path, strerror(errno));
        return -1;
    }
    char layer[BRAIN_DIGEST_LEN + 1];
    if (brain_digest(bytes, n, layer) != 0) {
        snprintf(err, err_size, "cannot hash %s (mbedTLS)", wasm_path);
        free(bytes);
        return -1;
    }
    if (strcmp(layer, c->layer) != 0) {
        snprintf(err, err_size, "%s is %s, but %s names %s; not running it (delete both to silence this)", wasm_path,
                 layer, json_path, c->layer);
        free(bytes);
        return -1;
    }
    *wasm = bytes;
    *size = n;
    return 1;
}
