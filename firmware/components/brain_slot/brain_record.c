/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * brain_record.h.
 */
#include <stdio.h>
#include <string.h>

#include "brain_record.h"

/* Appends s as a JSON string. The commit's strings came through brain_commit_parse, which refuses control
 * characters, so only the quote and the backslash need escaping. */
static void put_string(char *out, size_t size, size_t *o, const char *s)
{
    if (*o < size) {
        out[(*o)++] = '"';
    }
    for (; *s && *o + 2 < size; s++) {
        if (*s == '"' || *s == '\\') {
            out[(*o)++] = '\\';
        }
        out[(*o)++] = *s;
    }
    if (*o < size) {
        out[(*o)++] = '"';
    }
}

long brain_record_format(const brain_commit_t *c, size_t size, int slot, const char *proven_at, char *out,
                         size_t out_size, char *err, size_t err_size)
{
    const struct {
        const char *key;
        const char *value;
    } fields[] = {{"digest", c->digest}, {"layer", c->layer}, {"version", c->version},
                  {"pod", c->pod},       {"image", c->image}, {"provenAt", proven_at}};
    size_t o = 0;
    int n = slot >= 0 ? snprintf(out, out_size, "{\"slot\":%d,", slot) : snprintf(out, out_size, "{");
    if (n < 0 || (size_t)n >= out_size) {
        snprintf(err, err_size, "the record of %s does not fit %zu bytes", c->digest, out_size);
        return -1;
    }
    o = (size_t)n;
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        /* The commit's fields are all required by brain_commit_parse, even when empty; provenAt is not. */
        if (fields[i].value == NULL || (i == sizeof(fields) / sizeof(fields[0]) - 1 && fields[i].value[0] == '\0')) {
            continue;
        }
        n = snprintf(out + o, out_size - o, "\"%s\":", fields[i].key);
        if (n < 0 || (size_t)n >= out_size - o) {
            break;
        }
        o += (size_t)n;
        put_string(out, out_size, &o, fields[i].value);
        if (o < out_size) {
            out[o++] = ',';
        }
    }
    n = o < out_size ? snprintf(out + o, out_size - o, "\"abi\":%llu,\"size\":%zu}\n", (unsigned long long)c->abi, size)
                     : -1;
    if (n < 0 || (size_t)n >= out_size - o) {
        snprintf(err, err_size, "the record of %s does not fit %zu bytes", c->digest, out_size);
        return -1;
    }
    return (long)(o + (size_t)n);
}

int brain_record_parse(const char *line, size_t len, brain_commit_t *c, int *slot, char *err, size_t err_size)
{
    *slot = -1;
    static const char prefix[] = "{\"slot\":";
    const size_t plen = sizeof(prefix) - 1;
    if (len > plen + 1 && memcmp(line, prefix, plen) == 0) {
        /* One digit and a comma: a board has two slots. */
        char d = line[plen];
        if (d < '0' || d > '1' || line[plen + 1] != ',') {
            snprintf(err, err_size, "its \"slot\" is not 0 or 1");
            return -1;
        }
        *slot = d - '0';
    }
    char why[160];
    if (brain_commit_parse((const uint8_t *)line, len, c, why, sizeof(why)) != 0) {
        snprintf(err, err_size, "%s", why);
        return -1;
    }
    c->manifest = NULL;
    c->manifest_len = 0;
    return 0;
}
