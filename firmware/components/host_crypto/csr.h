/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * OP_CSR_CREATE's two halves: the spec (lines CN=, O=, DNS=, IP=) and the PKCS #10 request built from it
 * with mbedTLS's CSR writer. Private to host_crypto.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "mbedtls/pk.h"

/** Spec limits: lines, bytes per value. */
#define CSR_SPEC_MAX_LINES 32
#define CSR_SPEC_MAX_VALUE 253

typedef struct {
    const char *cn;
    const char *orgs[CSR_SPEC_MAX_LINES];
    size_t org_count;
    const char *dns[CSR_SPEC_MAX_LINES];
    size_t dns_count;
    /* addresses as bytes (4 for IPv4, 16 for IPv6) */
    uint8_t ips[CSR_SPEC_MAX_LINES][16];
    uint8_t ip_len[CSR_SPEC_MAX_LINES];
    size_t ip_count;
    /* the spec text, split in place (values point into it) */
    char *text;
} csr_spec_t;

/**
 * Parses `len` bytes of spec lines into `spec` (which keeps a copy; free with csr_spec_free). Returns 0,
 * or -1 with the reason in `err` (no or two CN lines, an unknown key, a bad DNS name or IP address, a
 * control character, a value over 253 bytes, more than 32 lines).
 */
int csr_spec_parse(const uint8_t *data, size_t len, csr_spec_t *spec, char *err, size_t err_size);

void csr_spec_free(csr_spec_t *spec);

/**
 * Writes a PEM PKCS #10 request for `key` (subject O=.. (each) then CN=.., the DNS and IP names as a
 * subjectAltName extension request, signed with ECDSA/SHA-256) into `out`. Returns its length, or a
 * negative mbedTLS error code.
 */
int csr_write_pem(const csr_spec_t *spec, mbedtls_pk_context *key, int (*f_rng)(void *, unsigned char *, size_t),
                  void *p_rng, char *out, size_t out_size);
