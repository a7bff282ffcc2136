/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * brain_status.h: the status lines. The message is made one line because the core reads the answer line
 * by line: a newline in a trap's words would start a line it does not know.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "brain_status.h"

typedef struct {
    char *out;
    size_t size;
    size_t n;
    bool full;
} buf_t;

static void put(buf_t *b, const char *s, size_t len)
{
    if (b->full || len >= b->size - b->n) {
        b->full = true;
        return;
    }
    memcpy(b->out + b->n, s, len);
    b->n += len;
    b->out[b->n] = '\0';
}

static void put_str(buf_t *b, const char *s)
{
    put(b, s, strlen(s));
}

long brain_status_lines(const brain_state_t *s, char *out, size_t out_size)
{
    if (out_size == 0) {
        return -1;
    }
    buf_t b = {out, out_size, 0, false};
    out[0] = '\0';
    if (s->running[0] != '\0') {
        put_str(&b, "running=");
        put_str(&b, s->running);
        put_str(&b, "\n");
    }
    if (s->failed[0] != '\0') {
        put_str(&b, "failed=");
        put_str(&b, s->failed);
        put_str(&b, "\nreason=");
        put_str(&b, s->reason);
        put_str(&b, "\nmessage=");
        for (const char *p = s->message; *p;) {
            if (*p == '\r' || *p == '\n') {
                while (*p == '\r' || *p == '\n') {
                    p++;
                }
                put(&b, " ", 1);
            } else {
                put(&b, p++, 1);
            }
        }
        put_str(&b, "\n");
    }
    return b.full ? -1 : (long)b.n;
}
