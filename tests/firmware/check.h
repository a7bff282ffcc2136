/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * A minimal test harness for the firmware's host tests: CHECK macros that record failures and keep
 * going, and a summary line. Each test program is one ctest test; it exits non-zero on any failure.
 */
#pragma once

#include <stdio.h>
#include <string.h>

static int g_checks;
static int g_failures;

#define CHECK(cond)                                                                                        \
    do {                                                                                                   \
        g_checks++;                                                                                        \
        if (!(cond)) {                                                                                     \
            g_failures++;                                                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);                       \
        }                                                                                                  \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                                 \
    do {                                                                                                   \
        long long va_ = (long long)(a), vb_ = (long long)(b);                                              \
        g_checks++;                                                                                        \
        if (va_ != vb_) {                                                                                  \
            g_failures++;                                                                                  \
            fprintf(stderr, "%s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a, #b, va_, vb_); \
        }                                                                                                  \
    } while (0)

#define CHECK_EQ_STR(a, b)                                                                                 \
    do {                                                                                                   \
        const char *sa_ = (a), *sb_ = (b);                                                                 \
        g_checks++;                                                                                        \
        if (sa_ == NULL || sb_ == NULL || strcmp(sa_, sb_) != 0) {                                         \
            g_failures++;                                                                                  \
            fprintf(stderr, "%s:%d: %s == %s failed:\n  got:      %s\n  expected: %s\n", __FILE__, __LINE__, \
                    #a, #b, sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)");                                   \
        }                                                                                                  \
    } while (0)

/* Runs a test function and reports it. */
#define RUN(fn)                                                                                            \
    do {                                                                                                   \
        int before_ = g_failures;                                                                          \
        fn();                                                                                              \
        printf("%s %s\n", g_failures == before_ ? "ok  " : "FAIL", #fn);                                   \
    } while (0)

static inline int check_summary(const char *suite)
{
    printf("%s: %d checks, %d failed\n", suite, g_checks, g_failures);
    return g_failures == 0 ? 0 : 1;
}
