/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * csr.h. The subject is built as a name list of our own (mbedTLS's "CN=..,O=.." string parser merges
 * repeated attributes, and a node may be in several organisations), and the subjectAltName extension's
 * DER is written here and added with mbedtls_x509write_csr_set_extension: Debian's mbedTLS 2.28 has no
 * SAN setter for requests, and the same code then runs on ESP-IDF's 3.6.
 */
#include <arpa/inet.h>
/* AF_INET/AF_INET6, and on ESP-IDF inet_pton too: lwIP's arpa/inet.h declares neither (lwip/sockets.h does). */
#include <sys/socket.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mbedtls/asn1.h"
#include "mbedtls/error.h"
#include "mbedtls/oid.h"
#include "mbedtls/platform.h"
#include "mbedtls/version.h"
#include "mbedtls/x509_csr.h"

#include "csr.h"

#if MBEDTLS_VERSION_MAJOR >= 3
#define CSR_SUBJECT(ctx) ((ctx)->MBEDTLS_PRIVATE(subject))
#else
#define CSR_SUBJECT(ctx) ((ctx)->subject)
#endif

static bool dns_name_ok(const char *v)
{
    size_t n = strlen(v);
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        bool ok = alnum || (i == 0 && c == '*') || (i > 0 && i + 1 < n && (c == '.' || c == '-'));
        if (!ok) {
            return false;
        }
    }
    return n > 0;
}

int csr_spec_parse(const uint8_t *data, size_t len, csr_spec_t *spec, char *err, size_t err_size)
{
    memset(spec, 0, sizeof(*spec));
    spec->text = malloc(len + 1);
    if (spec->text == NULL) {
        snprintf(err, err_size, "out of memory");
        return -1;
    }
    memcpy(spec->text, data, len);
    spec->text[len] = '\0';
    if (memchr(data, '\0', len) != NULL) {
        snprintf(err, err_size, "the spec holds a NUL byte");
        return -1;
    }
    size_t lines = 0;
    for (char *line = spec->text; *line != '\0';) {
        char *eol = strchr(line, '\n');
        char *next = eol != NULL ? eol + 1 : line + strlen(line);
        if (eol != NULL) {
            *eol = '\0';
        }
        if (*line == '\0') {
            line = next;
            continue;
        }
        if (++lines > CSR_SPEC_MAX_LINES) {
            snprintf(err, err_size, "more than %d spec lines", CSR_SPEC_MAX_LINES);
            return -1;
        }
        char *eq = strchr(line, '=');
        char *value = eq != NULL ? eq + 1 : NULL;
        bool printable = value != NULL && value[0] != '\0' && strlen(value) <= CSR_SPEC_MAX_VALUE;
        for (const char *p = value; printable && *p; p++) {
            printable = (unsigned char)*p >= 0x20 && *p != 0x7f;
        }
        if (!printable) {
            snprintf(err, err_size, "bad spec line \"%.40s\"", line);
            return -1;
        }
        *eq = '\0';
        if (strcmp(line, "CN") == 0) {
            if (spec->cn != NULL) {
                snprintf(err, err_size, "more than one CN line");
                return -1;
            }
            spec->cn = value;
        } else if (strcmp(line, "O") == 0) {
            spec->orgs[spec->org_count++] = value;
        } else if (strcmp(line, "DNS") == 0) {
            if (!dns_name_ok(value)) {
                snprintf(err, err_size, "bad DNS name: %.64s", value);
                return -1;
            }
            spec->dns[spec->dns_count++] = value;
        } else if (strcmp(line, "IP") == 0) {
            size_t i = spec->ip_count;
            if (inet_pton(AF_INET, value, spec->ips[i]) == 1) {
                spec->ip_len[i] = 4;
            } else if (inet_pton(AF_INET6, value, spec->ips[i]) == 1) {
                spec->ip_len[i] = 16;
            } else {
                snprintf(err, err_size, "bad IP address: %.64s", value);
                return -1;
            }
            spec->ip_count++;
        } else {
            snprintf(err, err_size, "unknown spec key in \"%.40s\" (CN, O, DNS, IP)", line);
            return -1;
        }
        line = next;
    }
    if (spec->cn == NULL) {
        snprintf(err, err_size, "the spec has no CN line");
        return -1;
    }
    return 0;
}

void csr_spec_free(csr_spec_t *spec)
{
    free(spec->text);
    spec->text = NULL;
}

/* Prepends one attribute (OID, UTF8String value) to a name list mbedTLS frees (mbedtls_calloc'd). */
static int name_prepend(mbedtls_asn1_named_data **head, const char *oid, size_t oid_len, const char *value)
{
    mbedtls_asn1_named_data *a = mbedtls_calloc(1, sizeof(*a));
    size_t vlen = strlen(value);
    if (a == NULL) {
        return MBEDTLS_ERR_X509_ALLOC_FAILED;
    }
    a->oid.tag = MBEDTLS_ASN1_OID;
    a->oid.p = mbedtls_calloc(1, oid_len);
    a->val.tag = MBEDTLS_ASN1_UTF8_STRING;
    a->val.p = mbedtls_calloc(1, vlen);
    if (a->oid.p == NULL || a->val.p == NULL) {
        mbedtls_free(a->oid.p);
        mbedtls_free(a->val.p);
        mbedtls_free(a);
        return MBEDTLS_ERR_X509_ALLOC_FAILED;
    }
    memcpy(a->oid.p, oid, oid_len);
    a->oid.len = oid_len;
    memcpy(a->val.p, value, vlen);
    a->val.len = vlen;
    a->next = *head;
    *head = a;
    return 0;
}

/* DER length octets; returns how many were written at `out` (NULL: only count). */
static size_t der_len(uint8_t *out, size_t len)
{
    if (len < 0x80) {
        if (out != NULL) {
            out[0] = (uint8_t)len;
        }
        return 1;
    }
    if (len < 0x100) {
        if (out != NULL) {
            out[0] = 0x81;
            out[1] = (uint8_t)len;
        }
        return 2;
    }
    if (out != NULL) {
        out[0] = 0x82;
        out[1] = (uint8_t)(len >> 8);
        out[2] = (uint8_t)len;
    }
    return 3;
}

/* GeneralNames (RFC 5280 4.2.1.6): dNSName [2] IA5String, iPAddress [7] OCTET STRING, both implicit. */
static uint8_t *san_der(const csr_spec_t *spec, size_t *out_len)
{
    size_t body = 0;
    for (size_t i = 0; i < spec->dns_count; i++) {
        body += 1 + der_len(NULL, strlen(spec->dns[i])) + strlen(spec->dns[i]);
    }
    for (size_t i = 0; i < spec->ip_count; i++) {
        body += 2 + spec->ip_len[i];
    }
    size_t total = 1 + der_len(NULL, body) + body;
    uint8_t *der = malloc(total);
    if (der == NULL) {
        return NULL;
    }
    size_t o = 0;
    der[o++] = MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE;
    o += der_len(der + o, body);
    for (size_t i = 0; i < spec->dns_count; i++) {
        size_t n = strlen(spec->dns[i]);
        der[o++] = MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2;
        o += der_len(der + o, n);
        memcpy(der + o, spec->dns[i], n);
        o += n;
    }
    for (size_t i = 0; i < spec->ip_count; i++) {
        der[o++] = MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7;
        der[o++] = spec->ip_len[i];
        memcpy(der + o, spec->ips[i], spec->ip_len[i]);
        o += spec->ip_len[i];
    }
    *out_len = o;
    return der;
}

int csr_write_pem(const csr_spec_t *spec, mbedtls_pk_context *key, int (*f_rng)(void *, unsigned char *, size_t),
                  void *p_rng, char *out, size_t out_size)
{
    mbedtls_x509write_csr csr;
    mbedtls_x509write_csr_init(&csr);
    mbedtls_x509write_csr_set_md_alg(&csr, MBEDTLS_MD_SHA256);
    mbedtls_x509write_csr_set_key(&csr, key);
    /* The writer emits the list last to first: prepending in subject order gives O=.., then CN=.. */
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < spec->org_count; i++) {
        rc = name_prepend(&CSR_SUBJECT(&csr), MBEDTLS_OID_AT_ORGANIZATION, MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_ORGANIZATION),
                          spec->orgs[i]);
    }
    if (rc == 0) {
        rc = name_prepend(&CSR_SUBJECT(&csr), MBEDTLS_OID_AT_CN, MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_CN), spec->cn);
    }
    if (rc == 0 && spec->dns_count + spec->ip_count > 0) {
        size_t san_len = 0;
        uint8_t *san = san_der(spec, &san_len);
        if (san == NULL) {
            rc = MBEDTLS_ERR_X509_ALLOC_FAILED;
        } else {
#if MBEDTLS_VERSION_MAJOR >= 3
            rc = mbedtls_x509write_csr_set_extension(&csr, MBEDTLS_OID_SUBJECT_ALT_NAME,
                                                     MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0, san, san_len);
#else
            rc = mbedtls_x509write_csr_set_extension(&csr, MBEDTLS_OID_SUBJECT_ALT_NAME,
                                                     MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), san, san_len);
#endif
            free(san);
        }
    }
    if (rc == 0) {
        rc = mbedtls_x509write_csr_pem(&csr, (unsigned char *)out, out_size, f_rng, p_rng);
    }
    mbedtls_x509write_csr_free(&csr);
    return rc == 0 ? (int)strlen(out) : rc;
}
