/*
 * The tests' own sha256 digest ("sha256:<64 hex>"), computed with mbedTLS directly rather than with the
 * component's brain_digest, so a digest bug in the component cannot hide from them.
 */
#ifndef TEST_DIGEST_H
#define TEST_DIGEST_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mbedtls/sha256.h"
#include "mbedtls/version.h"

static void digest_of(const uint8_t *b, size_t len, char out[72])
{
    uint8_t sum[32];
#if MBEDTLS_VERSION_MAJOR >= 3
    mbedtls_sha256(b, len, sum, 0);
#else
    mbedtls_sha256_ret(b, len, sum, 0);
#endif
    strcpy(out, "sha256:");
    for (int i = 0; i < 32; i++) {
        sprintf(out + 7 + 2 * i, "%02x", sum[i]);
    }
}

#endif
