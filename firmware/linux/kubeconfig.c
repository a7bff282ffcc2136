/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * kubeconfig.h. Base64 via mbedTLS (already linked for TLS).
 */
#include <ctype.h>
#include <stdbool.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mbedtls/base64.h"

#include "kubeconfig.h"

char *kubeconfig_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    size_t cap = 4096;
    size_t used = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        size_t n = fread(buf + used, 1, cap - used - 1, f);
        used += n;
        if (n == 0) {
            break;
        }
        if (cap - used - 1 == 0) {
            char *bigger = realloc(buf, cap * 2);
            if (bigger == NULL) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf != NULL) {
        buf[used] = '\0';
        if (len != NULL) {
            *len = used;
        }
    }
    return buf;
}

static char *decode_base64(const char *b64)
{
    size_t need = 0;
    size_t in_len = strlen(b64);
    mbedtls_base64_decode(NULL, 0, &need, (const unsigned char *)b64, in_len);
    char *out = malloc(need + 1);
    if (out == NULL) {
        return NULL;
    }
    size_t got = 0;
    if (mbedtls_base64_decode((unsigned char *)out, need, &got, (const unsigned char *)b64, in_len) != 0) {
        free(out);
        return NULL;
    }
    out[got] = '\0';
    return out;
}

static char *read_relative(const char *base_dir, const char *path)
{
    char full[4096];
    if (path[0] == '/' || base_dir == NULL || base_dir[0] == '\0') {
        snprintf(full, sizeof(full), "%s", path);
    } else {
        snprintf(full, sizeof(full), "%s/%s", base_dir, path);
    }
    return kubeconfig_read_file(full, NULL);
}

int kubeconfig_split_url(const char *url, char **host, uint16_t *port)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *end = p + strcspn(p, "/");
    const char *host_start = p;
    const char *host_end;
    const char *colon;
    if (*p == '[') {
        host_start = p + 1;
        host_end = memchr(p, ']', (size_t)(end - p));
        if (host_end == NULL) {
            return -1;
        }
        colon = host_end[1] == ':' ? host_end + 1 : NULL;
    } else {
        colon = memchr(p, ':', (size_t)(end - p));
        host_end = colon ? colon : end;
    }
    if (host_end == host_start) {
        return -1;
    }
    long value = 443;
    if (colon != NULL) {
        char *stop = NULL;
        value = strtol(colon + 1, &stop, 10);
        if (stop != end || value < 1 || value > 65535) {
            return -1;
        }
    }
    *host = strndup(host_start, (size_t)(host_end - host_start));
    *port = (uint16_t)value;
    return *host ? 0 : -1;
}

/* Takes "key: value" from a line (after list dashes and indentation); false if it is not one. */
static bool split_line(char *line, char **key, char **value)
{
    while (*line == ' ' || *line == '\t' || *line == '-') {
        line++;
    }
    char *colon = strstr(line, ": ");
    if (colon == NULL) {
        return false;
    }
    *colon = '\0';
    char *v = colon + 2;
    while (*v == ' ') {
        v++;
    }
    size_t n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\r')) {
        v[--n] = '\0';
    }
    if (n >= 2 && ((v[0] == '"' && v[n - 1] == '"') || (v[0] == '\'' && v[n - 1] == '\''))) {
        v[n - 1] = '\0';
        v++;
    }
    *key = line;
    *value = v;
    return true;
}

static int set_once(char **slot, char *value, const char *what, char *err, size_t err_size)
{
    if (*slot != NULL) {
        free(value);
        return 0; /* the first entry wins */
    }
    if (value == NULL) {
        snprintf(err, err_size, "kubeconfig: cannot read or decode %s", what);
        return -1;
    }
    *slot = value;
    return 0;
}

int kubeconfig_parse(const char *text, const char *base_dir, kubeconfig_t *out, char *err, size_t err_size)
{
    memset(out, 0, sizeof(*out));
    char *copy = strdup(text);
    if (copy == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    int rc = 0;
    for (char *save = NULL, *line = strtok_r(copy, "\n", &save); line != NULL && rc == 0;
         line = strtok_r(NULL, "\n", &save)) {
        char *key;
        char *value;
        if (!split_line(line, &key, &value)) {
            continue;
        }
        if (strcmp(key, "server") == 0) {
            rc = set_once(&out->server, strdup(value), "server", err, err_size);
        } else if (strcmp(key, "certificate-authority-data") == 0) {
            rc = set_once(&out->ca_pem, decode_base64(value), key, err, err_size);
        } else if (strcmp(key, "certificate-authority") == 0) {
            rc = set_once(&out->ca_pem, read_relative(base_dir, value), key, err, err_size);
        } else if (strcmp(key, "client-certificate-data") == 0) {
            rc = set_once(&out->client_cert_pem, decode_base64(value), key, err, err_size);
        } else if (strcmp(key, "client-certificate") == 0) {
            rc = set_once(&out->client_cert_pem, read_relative(base_dir, value), key, err, err_size);
        } else if (strcmp(key, "client-key-data") == 0) {
            rc = set_once(&out->client_key_pem, decode_base64(value), key, err, err_size);
        } else if (strcmp(key, "client-key") == 0) {
            rc = set_once(&out->client_key_pem, read_relative(base_dir, value), key, err, err_size);
        } else if (strcmp(key, "token") == 0) {
            rc = set_once(&out->token, strdup(value), key, err, err_size);
        } else if (strcmp(key, "tokenFile") == 0) {
            char *t = read_relative(base_dir, value);
            if (t != NULL) {
                t[strcspn(t, "\r\n")] = '\0';
            }
            rc = set_once(&out->token, t, key, err, err_size);
        }
    }
    free(copy);
    if (rc == 0 && out->server == NULL) {
        snprintf(err, err_size, "kubeconfig: no cluster server");
        rc = -1;
    }
    if (rc == 0 && kubeconfig_split_url(out->server, &out->host, &out->port) != 0) {
        snprintf(err, err_size, "kubeconfig: cannot read host and port from '%s'", out->server);
        rc = -1;
    }
    if (rc != 0) {
        kubeconfig_free(out);
    }
    return rc;
}

int kubeconfig_load(const char *path, kubeconfig_t *out, char *err, size_t err_size)
{
    char *text = kubeconfig_read_file(path, NULL);
    if (text == NULL) {
        snprintf(err, err_size, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash != NULL) {
        *slash = '\0';
    } else {
        dir[0] = '\0';
    }
    int rc = kubeconfig_parse(text, dir, out, err, err_size);
    free(text);
    return rc;
}

void kubeconfig_free(kubeconfig_t *k)
{
    free(k->server);
    free(k->host);
    free(k->ca_pem);
    free(k->client_cert_pem);
    free(k->client_key_pem);
    free(k->token);
    memset(k, 0, sizeof(*k));
}
