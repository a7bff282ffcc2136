/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * brain_commit.h: a recursive-descent reader for one flat JSON object, bounded by the line it is given.
 * Strings are decoded (\" \\ \/ \b \f \n \r \t \uXXXX, surrogate pairs included) into the field's buffer;
 * a value longer than its buffer refuses the line rather than cutting it, since a cut digest or
 * signature would be checked as something the core never sent.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "brain_commit.h"

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
    char *err;
    size_t err_size;
} rd_t;

static int fail(rd_t *r, const char *what)
{
    snprintf(r->err, r->err_size, "%s", what);
    return -1;
}

static void skip_ws(rd_t *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\r')) {
        r->p++;
    }
}

static int hex4(rd_t *r, uint32_t *out)
{
    if (r->end - r->p < 4) {
        return -1;
    }
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t ch = *r->p++;
        v <<= 4;
        if (ch >= '0' && ch <= '9') {
            v |= (uint32_t)(ch - '0');
        } else if (ch >= 'a' && ch <= 'f') {
            v |= (uint32_t)(ch - 'a' + 10);
        } else if (ch >= 'A' && ch <= 'F') {
            v |= (uint32_t)(ch - 'A' + 10);
        } else {
            return -1;
        }
    }
    *out = v;
    return 0;
}

/* Appends b to out (size cap including the NUL); false when it does not fit. out NULL: skipped value. */
static bool put(char *out, size_t cap, size_t *n, uint8_t b)
{
    if (out == NULL) {
        return true;
    }
    if (*n + 1 >= cap) {
        return false;
    }
    out[(*n)++] = (char)b;
    return true;
}

static bool put_utf8(char *out, size_t cap, size_t *n, uint32_t cp)
{
    if (cp < 0x80) {
        return put(out, cap, n, (uint8_t)cp);
    }
    if (cp < 0x800) {
        return put(out, cap, n, (uint8_t)(0xC0 | (cp >> 6))) && put(out, cap, n, (uint8_t)(0x80 | (cp & 0x3F)));
    }
    if (cp < 0x10000) {
        return put(out, cap, n, (uint8_t)(0xE0 | (cp >> 12))) &&
               put(out, cap, n, (uint8_t)(0x80 | ((cp >> 6) & 0x3F))) && put(out, cap, n, (uint8_t)(0x80 | (cp & 0x3F)));
    }
    return put(out, cap, n, (uint8_t)(0xF0 | (cp >> 18))) && put(out, cap, n, (uint8_t)(0x80 | ((cp >> 12) & 0x3F))) &&
           put(out, cap, n, (uint8_t)(0x80 | ((cp >> 6) & 0x3F))) && put(out, cap, n, (uint8_t)(0x80 | (cp & 0x3F)));
}

/* A string at r->p (its opening quote) into out[cap], or skipped when out is NULL. */
static int read_string(rd_t *r, char *out, size_t cap, bool *too_long)
{
    size_t n = 0;
    *too_long = false;
    if (r->p >= r->end || *r->p != '"') {
        return fail(r, "the commit line is not JSON: a string was expected");
    }
    r->p++;
    while (r->p < r->end) {
        uint8_t ch = *r->p++;
        if (ch == '"') {
            if (out != NULL) {
                out[n] = '\0';
            }
            return 0;
        }
        if (ch < 0x20) {
            return fail(r, "the commit line is not JSON: a control character in a string");
        }
        if (ch == '\\') {
            if (r->p >= r->end) {
                break;
            }
            uint8_t e = *r->p++;
            uint32_t cp;
            switch (e) {
            case '"': case '\\': case '/': cp = e; break;
            case 'b': cp = '\b'; break;
            case 'f': cp = '\f'; break;
            case 'n': cp = '\n'; break;
            case 'r': cp = '\r'; break;
            case 't': cp = '\t'; break;
            case 'u':
                if (hex4(r, &cp) != 0) {
                    return fail(r, "the commit line is not JSON: a bad \\u escape");
                }
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    uint32_t lo;
                    if (r->end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u') {
                        return fail(r, "the commit line is not JSON: a lone surrogate");
                    }
                    r->p += 2;
                    if (hex4(r, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF) {
                        return fail(r, "the commit line is not JSON: a lone surrogate");
                    }
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    return fail(r, "the commit line is not JSON: a lone surrogate");
                }
                break;
            default:
                return fail(r, "the commit line is not JSON: a bad escape");
            }
            if (!put_utf8(out, cap, &n, cp)) {
                *too_long = true;
            }
        } else if (!put(out, cap, &n, ch)) {
            *too_long = true;
        }
        if (*too_long) {
            return -1;
        }
    }
    return fail(r, "the commit line is not JSON: an unterminated string");
}

/* A JSON number at r->p; *is_int says whether it is a non-negative integer that fits in out. */
static int read_number(rd_t *r, uint64_t *out, bool *is_int)
{
    const uint8_t *start = r->p;
    bool neg = false, frac = false;
    uint64_t v = 0;
    bool overflow = false;
    if (r->p < r->end && *r->p == '-') {
        neg = true;
        r->p++;
    }
    const uint8_t *digits = r->p;
    while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
        uint64_t d = (uint64_t)(*r->p - '0');
        /* JavaScript's safe integers: 2^53 - 1 (host-sim's Number.isSafeInteger). */
        if (v > (((uint64_t)1 << 53) - 1 - d) / 10) {
            overflow = true;
        }
        v = v * 10 + d;
        r->p++;
    }
    if (r->p == digits || (digits[0] == '0' && r->p - digits > 1)) {
        return fail(r, "the commit line is not JSON: a bad number");
    }
    if (r->p < r->end && *r->p == '.') {
        r->p++;
        const uint8_t *f = r->p;
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
            if (*r->p != '0') {
                frac = true;
            }
            r->p++;
        }
        if (r->p == f) {
            return fail(r, "the commit line is not JSON: a bad number");
        }
    }
    if (r->p < r->end && (*r->p == 'e' || *r->p == 'E')) {
        /* An exponent: valid JSON, never an integer the core writes; refused as not an integer below. */
        r->p++;
        if (r->p < r->end && (*r->p == '+' || *r->p == '-')) {
            r->p++;
        }
        const uint8_t *x = r->p;
        while (r->p < r->end && *r->p >= '0' && *r->p <= '9') {
            r->p++;
        }
        if (r->p == x) {
            return fail(r, "the commit line is not JSON: a bad number");
        }
        frac = true;
    }
    (void)start;
    *is_int = !frac && !overflow && !(neg && v != 0);
    *out = v;
    return 0;
}

static int skip_literal(rd_t *r)
{
    static const char *const words[] = {"true", "false", "null"};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(words[i]);
        if ((size_t)(r->end - r->p) >= n && memcmp(r->p, words[i], n) == 0) {
            r->p += n;
            return 0;
        }
    }
    return fail(r, "the commit line is not JSON: an unexpected value");
}

typedef struct {
    const char *key;
    char *out;
    size_t cap;
    uint64_t *num;
    bool optional;
    bool seen;
} field_t;

static bool is_digest(const char *s)
{
    if (strncmp(s, "sha256:", 7) != 0 || strlen(s) != BRAIN_DIGEST_LEN) {
        return false;
    }
    for (const char *p = s + 7; *p; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) {
            return false;
        }
    }
    return true;
}

int brain_commit_parse(const uint8_t *bytes, size_t len, brain_commit_t *c, char *err, size_t err_size)
{
    memset(c, 0, sizeof(*c));
    const uint8_t *nl = len > 0 ? memchr(bytes, '\n', len) : NULL;
    rd_t rd = {bytes, nl, err, err_size};
    rd_t *r = &rd;
    if (nl == NULL) {
        return fail(r, "the commit has no newline between its JSON line and the manifest");
    }
    c->manifest = nl + 1;
    c->manifest_len = len - (size_t)(nl + 1 - bytes);

    field_t fields[] = {
        {"pod", c->pod, sizeof(c->pod), NULL, false, false},
        {"image", c->image, sizeof(c->image), NULL, false, false},
        {"digest", c->digest, sizeof(c->digest), NULL, false, false},
        {"layer", c->layer, sizeof(c->layer), NULL, false, false},
        {"size", NULL, 0, &c->size, false, false},
        {"abi", NULL, 0, &c->abi, false, false},
        {"version", c->version, sizeof(c->version), NULL, false, false},
        {"signature", c->signature, sizeof(c->signature), NULL, true, false},
        {"keyId", c->key_id, sizeof(c->key_id), NULL, true, false},
    };
    const size_t nfields = sizeof(fields) / sizeof(fields[0]);

    skip_ws(r);
    if (r->p >= r->end || *r->p != '{') {
        return fail(r, "the commit line is not a JSON object");
    }
    r->p++;
    skip_ws(r);
    bool first = true;
    for (;;) {
        skip_ws(r);
        if (r->p < r->end && *r->p == '}' && first) {
            r->p++;
            break;
        }
        char key[32];
        bool too_long;
        if (read_string(r, key, sizeof(key), &too_long) != 0) {
            if (!too_long) {
                return -1;
            }
            /* A key longer than any we know: skip the rest of it and its value. */
            key[0] = '\0';
            while (r->p < r->end && *r->p != '"') {
                r->p += *r->p == '\\' && r->p + 1 < r->end ? 2 : 1;
            }
            if (r->p >= r->end) {
                return fail(r, "the commit line is not JSON: an unterminated string");
            }
            r->p++;
        }
        skip_ws(r);
        if (r->p >= r->end || *r->p != ':') {
            return fail(r, "the commit line is not JSON: ':' was expected");
        }
        r->p++;
        skip_ws(r);
        field_t *f = NULL;
        for (size_t i = 0; i < nfields; i++) {
            if (strcmp(fields[i].key, key) == 0) {
                f = &fields[i];
            }
        }
        if (r->p >= r->end) {
            return fail(r, "the commit line is not JSON: a value was expected");
        }
        uint8_t ch = *r->p;
        if (ch == '"') {
            if (read_string(r, f != NULL && f->out != NULL ? f->out : NULL, f != NULL ? f->cap : 0, &too_long) != 0) {
                if (too_long) {
                    snprintf(err, err_size, "the commit line's \"%s\" is longer than %zu bytes", f->key, f->cap - 1);
                }
                return -1;
            }
            if (f != NULL && f->out == NULL) {
                snprintf(err, err_size, "the commit line's \"%s\" is not a non-negative integer", f->key);
                return -1;
            }
        } else if (ch == '-' || (ch >= '0' && ch <= '9')) {
            uint64_t v;
            bool is_int;
            if (read_number(r, &v, &is_int) != 0) {
                return -1;
            }
            if (f != NULL && f->num == NULL) {
                snprintf(err, err_size, "the commit line's \"%s\" is not a string", f->key);
                return -1;
            }
            if (f != NULL && !is_int) {
                snprintf(err, err_size, "the commit line's \"%s\" is not a non-negative integer", f->key);
                return -1;
            }
            if (f != NULL) {
                *f->num = v;
            }
        } else if (ch == '{' || ch == '[') {
            return fail(r, "the commit line holds a nested object or array, which a commit never has");
        } else {
            if (skip_literal(r) != 0) {
                return -1;
            }
            if (f != NULL) {
                snprintf(err, err_size, "the commit line's \"%s\" is not %s", f->key,
                         f->num != NULL ? "a non-negative integer" : "a string");
                return -1;
            }
        }
        if (f != NULL) {
            f->seen = true;
        }
        first = false;
        skip_ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == '}') {
            r->p++;
            break;
        }
        return fail(r, "the commit line is not JSON: ',' or '}' was expected");
    }
    skip_ws(r);
    if (r->p != r->end) {
        return fail(r, "the commit line is not JSON: bytes after the object");
    }
    for (size_t i = 0; i < nfields; i++) {
        if (!fields[i].seen && !fields[i].optional) {
            snprintf(err, err_size, "the commit line's \"%s\" is not %s", fields[i].key,
                     fields[i].num != NULL ? "a non-negative integer" : "a string");
            return -1;
        }
    }
    if (!is_digest(c->digest)) {
        return fail(r, "the commit line's \"digest\" is not sha256:<64 hex digits>");
    }
    if (!is_digest(c->layer)) {
        return fail(r, "the commit line's \"layer\" is not sha256:<64 hex digits>");
    }
    return 0;
}
