/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * A throwaway PKI for the firmware's host tests, made with mbedTLS at run time: P-256 keys, a CA, leaf
 * certificates issued by it for any public key (a CSR's), and the subjectAltName of a request read back
 * from its DER (mbedTLS 2.28 does not parse request extensions itself). Header-only, like check.h.
 */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mbedtls/asn1.h"
#include "mbedtls/bignum.h"
#include "mbedtls/ctr_drbg.h"
#include "mbedtls/ecp.h"
#include "mbedtls/entropy.h"
#include "mbedtls/oid.h"
#include "mbedtls/pk.h"
#include "mbedtls/platform.h"
#include "mbedtls/version.h"
#include "mbedtls/x509_crt.h"
#include "mbedtls/x509_csr.h"

static mbedtls_entropy_context s_pki_entropy;
static mbedtls_ctr_drbg_context s_pki_drbg;

static inline void pki_init(void)
{
    static bool done;
    if (!done) {
        mbedtls_entropy_init(&s_pki_entropy);
        mbedtls_ctr_drbg_init(&s_pki_drbg);
        if (mbedtls_ctr_drbg_seed(&s_pki_drbg, mbedtls_entropy_func, &s_pki_entropy, NULL, 0) != 0) {
            fprintf(stderr, "pki: cannot seed the DRBG\n");
            exit(2);
        }
        done = true;
    }
}

/* A fresh P-256 key (the caller frees it). */
static inline void pki_key(mbedtls_pk_context *key)
{
    pki_init();
    mbedtls_pk_init(key);
    if (mbedtls_pk_setup(key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0 ||
        mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*key), mbedtls_ctr_drbg_random, &s_pki_drbg) != 0) {
        fprintf(stderr, "pki: key generation failed\n");
        exit(2);
    }
}

/* The key as PEM (heap). */
static inline char *pki_key_pem(mbedtls_pk_context *key)
{
    char *pem = calloc(1, 2048);
    if (pem == NULL || mbedtls_pk_write_key_pem(key, (unsigned char *)pem, 2048) != 0) {
        fprintf(stderr, "pki: cannot write a key\n");
        exit(2);
    }
    return pem;
}

typedef struct {
    mbedtls_pk_context key;
    char name[128];
    char *pem;
} pki_ca_t;

#if MBEDTLS_VERSION_MAJOR >= 3
#define PKI_FIELD(ctx, f) ((ctx)->MBEDTLS_PRIVATE(f))
#else
#define PKI_FIELD(ctx, f) ((ctx)->f)
#endif

/* A name list from "CN=..,O=..,O=.." in that order (mbedTLS's own string parser merges repeated O). */
static inline int pki_names(mbedtls_asn1_named_data **head, const char *text)
{
    char copy[512];
    snprintf(copy, sizeof(copy), "%s", text);
    for (char *save = NULL, *part = strtok_r(copy, ",", &save); part != NULL; part = strtok_r(NULL, ",", &save)) {
        const char *oid;
        size_t oid_len;
        if (strncmp(part, "CN=", 3) == 0) {
            oid = MBEDTLS_OID_AT_CN;
            oid_len = MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_CN);
        } else if (strncmp(part, "O=", 2) == 0) {
            oid = MBEDTLS_OID_AT_ORGANIZATION;
            oid_len = MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_ORGANIZATION);
        } else {
            return -1;
        }
        const char *value = strchr(part, '=') + 1;
        mbedtls_asn1_named_data *a = mbedtls_calloc(1, sizeof(*a));
        a->oid.tag = MBEDTLS_ASN1_OID;
        a->oid.p = mbedtls_calloc(1, oid_len);
        a->oid.len = oid_len;
        memcpy(a->oid.p, oid, oid_len);
        a->val.tag = MBEDTLS_ASN1_UTF8_STRING;
        a->val.len = strlen(value);
        a->val.p = mbedtls_calloc(1, a->val.len);
        memcpy(a->val.p, value, a->val.len);
        a->next = *head; /* written last to first: prepending keeps the text's order */
        *head = a;
    }
    return 0;
}

/*
 * Issues a certificate for `subject_key` named `subject` ("CN=..,O=..") by `issuer` (NULL: self-signed
 * with `self_key`), valid from..to ("YYYYMMDDhhmmss"), a CA or a leaf, with an optional subjectAltName
 * (GeneralNames DER). Returns the PEM (heap).
 */
static inline char *pki_issue(const pki_ca_t *issuer, mbedtls_pk_context *self_key, mbedtls_pk_context *subject_key,
                       const char *subject, bool is_ca, const char *from, const char *to, const unsigned char *san,
                       size_t san_len)
{
    pki_init();
    static int serial_no = 1000;
    mbedtls_x509write_cert w;
    mbedtls_x509write_crt_init(&w);
    mbedtls_mpi serial;
    mbedtls_mpi_init(&serial);
    mbedtls_mpi_lset(&serial, ++serial_no);
    mbedtls_x509write_crt_set_version(&w, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(&w, MBEDTLS_MD_SHA256);
    int rc = mbedtls_x509write_crt_set_serial(&w, &serial);
    if (rc == 0) {
        rc = mbedtls_x509write_crt_set_validity(&w, from, to);
    }
    if (rc == 0) {
        rc = pki_names(&PKI_FIELD(&w, subject), subject);
    }
    if (rc == 0) {
        rc = pki_names(&PKI_FIELD(&w, issuer), issuer != NULL ? issuer->name : subject);
    }
    mbedtls_x509write_crt_set_subject_key(&w, subject_key);
    mbedtls_x509write_crt_set_issuer_key(&w, issuer != NULL ? (mbedtls_pk_context *)&issuer->key : self_key);
    if (rc == 0) {
        rc = mbedtls_x509write_crt_set_basic_constraints(&w, is_ca, is_ca ? 1 : -1);
    }
    if (rc == 0 && is_ca) {
        rc = mbedtls_x509write_crt_set_key_usage(&w, MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN);
    }
    if (rc == 0 && san != NULL) {
        rc = mbedtls_x509write_crt_set_extension(&w, MBEDTLS_OID_SUBJECT_ALT_NAME,
                                                 MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0, san, san_len);
    }
    char *pem = calloc(1, 4096);
    if (rc == 0 && pem != NULL) {
        rc = mbedtls_x509write_crt_pem(&w, (unsigned char *)pem, 4096, mbedtls_ctr_drbg_random, &s_pki_drbg);
    }
    mbedtls_x509write_crt_free(&w);
    mbedtls_mpi_free(&serial);
    if (rc != 0 || pem == NULL) {
        fprintf(stderr, "pki: cannot issue %s (-0x%04x)\n", subject, (unsigned)-rc);
        exit(2);
    }
    return pem;
}

/* A CA named `cn`, self-signed, valid 2020..2099. */
static inline void pki_ca(pki_ca_t *ca, const char *cn)
{
    pki_key(&ca->key);
    snprintf(ca->name, sizeof(ca->name), "CN=%s", cn);
    ca->pem = pki_issue(NULL, &ca->key, &ca->key, ca->name, true, "20200101000000", "20991231235959", NULL, 0);
}

static inline void pki_ca_free(pki_ca_t *ca)
{
    mbedtls_pk_free(&ca->key);
    free(ca->pem);
    ca->pem = NULL;
}

/* A leaf for a fresh key: its certificate and key as PEM (heap). */
static inline void pki_leaf(const pki_ca_t *ca, const char *subject, const unsigned char *san, size_t san_len,
                     char **cert_pem, char **key_pem)
{
    mbedtls_pk_context key;
    pki_key(&key);
    *cert_pem = pki_issue(ca, NULL, &key, subject, false, "20200101000000", "20991231235959", san, san_len);
    *key_pem = pki_key_pem(&key);
    mbedtls_pk_free(&key);
}

/*
 * The subjectAltName extension value (GeneralNames DER) of a parsed request, found by walking its
 * CertificationRequestInfo: version, subject, SPKI, [0] attributes -> extensionRequest -> Extensions.
 * Returns a pointer into csr->cri and its length, or NULL.
 */
static inline const unsigned char *pki_csr_san(const mbedtls_x509_csr *csr, size_t *san_len)
{
    unsigned char *p = csr->cri.p;
    const unsigned char *end = csr->cri.p + csr->cri.len;
    size_t len;
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0) {
        return NULL;
    }
    end = p + len;
    for (int skip = 0; skip < 3; skip++) { /* version, subject, subjectPKInfo */
        unsigned char *start = p;
        if (mbedtls_asn1_get_tag(&p, end, &len, *start) != 0) {
            return NULL;
        }
        p += len;
    }
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED) != 0) {
        return NULL;
    }
    const unsigned char *attrs_end = p + len;
    while (p < attrs_end) {
        if (mbedtls_asn1_get_tag(&p, attrs_end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0) {
            return NULL;
        }
        const unsigned char *attr_end = p + len;
        mbedtls_asn1_buf oid;
        if (mbedtls_asn1_get_tag(&p, attr_end, &oid.len, MBEDTLS_ASN1_OID) != 0) {
            return NULL;
        }
        oid.p = p;
        p += oid.len;
        if (MBEDTLS_OID_CMP(MBEDTLS_OID_PKCS9_CSR_EXT_REQ, &oid) != 0) {
            p = (unsigned char *)attr_end;
            continue;
        }
        /* SET { Extensions ::= SEQUENCE OF Extension } */
        if (mbedtls_asn1_get_tag(&p, attr_end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SET) != 0 ||
            mbedtls_asn1_get_tag(&p, attr_end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0) {
            return NULL;
        }
        const unsigned char *exts_end = p + len;
        while (p < exts_end) {
            if (mbedtls_asn1_get_tag(&p, exts_end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0) {
                return NULL;
            }
            const unsigned char *ext_end = p + len;
            if (mbedtls_asn1_get_tag(&p, ext_end, &oid.len, MBEDTLS_ASN1_OID) != 0) {
                return NULL;
            }
            oid.p = p;
            p += oid.len;
            int critical = 0;
            mbedtls_asn1_get_bool(&p, ext_end, &critical);
            if (mbedtls_asn1_get_tag(&p, ext_end, &len, MBEDTLS_ASN1_OCTET_STRING) != 0) {
                return NULL;
            }
            if (MBEDTLS_OID_CMP(MBEDTLS_OID_SUBJECT_ALT_NAME, &oid) == 0) {
                *san_len = len;
                return p;
            }
            p = (unsigned char *)ext_end;
        }
    }
    return NULL;
}

/* The entries of GeneralNames DER as lines "DNS=..\n" / "IP=a.b.c.d\n" / "IP6=<32 hex>\n" into `out`. */
static inline void pki_san_lines(const unsigned char *san, size_t san_len, char *out, size_t out_size)
{
    out[0] = '\0';
    unsigned char *p = (unsigned char *)san;
    const unsigned char *end = san + san_len;
    size_t len;
    if (mbedtls_asn1_get_tag(&p, end, &len, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE) != 0) {
        snprintf(out, out_size, "(not a SEQUENCE)");
        return;
    }
    while (p < end) {
        unsigned char tag = *p++;
        if (mbedtls_asn1_get_len(&p, end, &len) != 0) {
            snprintf(out, out_size, "(bad length)");
            return;
        }
        size_t o = strlen(out);
        if (tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2)) {
            snprintf(out + o, out_size - o, "DNS=%.*s\n", (int)len, (const char *)p);
        } else if (tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) && len == 4) {
            snprintf(out + o, out_size - o, "IP=%u.%u.%u.%u\n", p[0], p[1], p[2], p[3]);
        } else if (tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) && len == 16) {
            o += (size_t)snprintf(out + o, out_size - o, "IP6=");
            for (size_t i = 0; i < 16; i++) {
                o += (size_t)snprintf(out + o, out_size - o, "%02x", p[i]);
            }
            snprintf(out + o, out_size - o, "\n");
        } else {
            snprintf(out + o, out_size - o, "tag%02x\n", tag);
        }
        p += len;
    }
}
