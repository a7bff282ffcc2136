/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * The C mirror (kubelet_abi.h) against the ABI document itself (assembly/ABI.md, path in argv[1]):
 * every named number in the document's tables and inline lists must exist in the mirror with the same
 * value, every number in the mirror must be in the document, and the import signatures must match.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kubelet_abi.h"

typedef struct {
    const char *name;
    long value;
} named_t;

#define M(prefix, name) {#name, KUBELET_##prefix##name}
static const named_t k_mirror[] = {
    M(, LINK_DOWN), M(, LINK_ETHERNET), M(, LINK_WIFI),
    M(, CLOSE_EOF), M(, CLOSE_CONNECT_FAILED), M(, CLOSE_TLS_FAILED), M(, CLOSE_IO_ERROR), M(, CLOSE_LINK_DOWN),
    M(, LED_OFF), M(, LED_SELF_TEST), M(, LED_BOOTING), M(, LED_CONNECTING), M(, LED_HEALTHY), M(, LED_ACTIVITY),
    M(, LED_WARNING), M(, LED_DISCONNECTED), M(, LED_PANIC),
    M(, LOG_ERROR), M(, LOG_WARN), M(, LOG_INFO), M(, LOG_DEBUG),
    M(, SHUTDOWN_STOP), M(, SHUTDOWN_CLEANUP),
    M(, STAT_PHASE), M(, STAT_LED), M(, STAT_RENEWALS), M(, STAT_RENEW_FAILURES), M(, STAT_STATUS_PUSHES),
    M(, STAT_REQUESTS), M(, STAT_CONNECTS), M(, STAT_WALL_MS), M(, STAT_LAST_HTTP_STATUS),
    M(, STAT_CONSECUTIVE_FAILURES), M(, STAT_MEMORY_PRESSURE), M(, STAT_REGISTRATIONS), M(, STAT_LAST_ERROR),
    M(, STAT_RECONNECTS), M(, STAT_MEMORY_BYTES), M(, STAT_ACCEPTED), M(, STAT_SERVER_REQUESTS),
    M(, STAT_SERVER_REFUSED), M(, STAT_HOST_CALLS), M(, STAT_LISTEN_PORT), M(, STAT_RESUMED), M(, STAT_SENDS_DEFERRED),
    M(, PHASE_CONFIGURING), M(, PHASE_ANCHORING), M(, PHASE_REGISTERING), M(, PHASE_LEASING), M(, PHASE_RUNNING),
    M(, PHASE_STOPPING), M(, PHASE_STOPPED), M(, PHASE_FAILED), M(, PHASE_HANDED_OFF), M(, PHASE_BOOTSTRAPPING),
    M(, OK), M(, ERR_CONFIG_TOO_LARGE), M(, ERR_CONFIG_INVALID), M(, ERR_ALREADY_STARTED),
    M(, ERR_SNAPSHOT_TOO_LARGE), M(, ERR_SNAPSHOT_INVALID), M(, ERR_NOT_RUNNING), M(, ERR_HTTP_MALFORMED),
    M(, ERR_HTTP_HEAD_TOO_LARGE), M(, ERR_HTTP_STATUS), M(, ERR_JSON), M(, ERR_BODY_TOO_LARGE), M(, ERR_AUTH),
    M(, ERR_TIMEOUT), M(, ERR_CLOSED), M(, ERR_CONNECT), M(, ERR_LINK_DOWN),
    M(, ERR_UNSUPPORTED), M(, ERR_HOST_CALL_INVALID), M(, ERR_HOST_CALL_FAILED), M(, ERR_HOST_BUSY),
    M(, CONN_CORE_MAX), M(, CONN_ACCEPTED_MIN), M(, PROFILE_CLUSTER), M(, PROFILE_PUBLIC),
    M(, OP_LISTEN), M(, OP_KEY_GENERATE), M(, OP_CSR_CREATE), M(, OP_CERT_INSTALL), M(, OP_CERT_INFO),
    M(, OP_BRAIN_WRITE), M(, OP_BRAIN_COMMIT), M(, OP_BRAIN_STATUS),
    M(, KEY_SLOT_CLIENT), M(, KEY_SLOT_SERVING),
};
#undef M
#define MIRROR_COUNT (sizeof(k_mirror) / sizeof(k_mirror[0]))

static named_t s_doc[256];
static size_t s_doc_count;
static char *s_text;

static bool is_name_char(char c)
{
    return isupper((unsigned char)c) || isdigit((unsigned char)c) || c == '_';
}

static void add_doc(const char *name, size_t len, long value)
{
    for (size_t i = 0; i < s_doc_count; i++) {
        if (strlen(s_doc[i].name) == len && strncmp(s_doc[i].name, name, len) == 0) {
            if (s_doc[i].value != value) {
                fprintf(stderr, "ABI.md gives %.*s two values: %ld and %ld\n", (int)len, name, s_doc[i].value, value);
                g_failures++;
            }
            return;
        }
    }
    if (s_doc_count < sizeof(s_doc) / sizeof(s_doc[0])) {
        s_doc[s_doc_count].name = strndup(name, len);
        s_doc[s_doc_count].value = value;
        s_doc_count++;
    }
}

/* Table rows "| 12 | `NAME` |" and inline lists "`NAME` 12". Names are upper case with underscores. */
static void scan_document(void)
{
    for (char *p = s_text; (p = strchr(p, '`')) != NULL;) {
        char *name = p + 1;
        char *end = name;
        while (is_name_char(*end)) {
            end++;
        }
        if (*end != '`' || end == name || !isupper((unsigned char)*name)) {
            p = name;
            continue;
        }
        size_t len = (size_t)(end - name);
        /* inline: `NAME` 12 */
        char *after = end + 1;
        if (*after == ' ' && isdigit((unsigned char)after[1])) {
            add_doc(name, len, strtol(after + 1, NULL, 10));
        } else {
            /* table: | 12 | `NAME` | */
            char *q = p - 1;
            while (q > s_text && *q == ' ') {
                q--;
            }
            if (q > s_text && *q == '|') {
                char *r = q - 1;
                while (r > s_text && *r == ' ') {
                    r--;
                }
                char *digits_end = r + 1;
                while (r > s_text && isdigit((unsigned char)*r)) {
                    r--;
                }
                if (digits_end > r + 1 && *r == ' ' && r > s_text && r[-1] == '|') {
                    add_doc(name, len, strtol(r + 1, NULL, 10));
                }
            }
        }
        p = end + 1;
    }
}

static void test_every_document_number_is_mirrored(void)
{
    CHECK(s_doc_count >= MIRROR_COUNT);
    for (size_t i = 0; i < s_doc_count; i++) {
        bool found = false;
        for (size_t j = 0; j < MIRROR_COUNT; j++) {
            if (strcmp(s_doc[i].name, k_mirror[j].name) == 0) {
                found = true;
                if (s_doc[i].value != k_mirror[j].value) {
                    fprintf(stderr, "%s: ABI.md says %ld, kubelet_abi.h says %ld\n", s_doc[i].name, s_doc[i].value,
                            k_mirror[j].value);
                    g_failures++;
                }
            }
        }
        if (!found) {
            fprintf(stderr, "ABI.md names %s = %ld, which kubelet_abi.h does not mirror\n", s_doc[i].name,
                    s_doc[i].value);
            g_failures++;
        }
        g_checks++;
    }
}

static void test_every_mirrored_number_is_documented(void)
{
    for (size_t j = 0; j < MIRROR_COUNT; j++) {
        bool found = false;
        for (size_t i = 0; i < s_doc_count; i++) {
            found = found || strcmp(s_doc[i].name, k_mirror[j].name) == 0;
        }
        if (!found) {
            fprintf(stderr, "kubelet_abi.h has %s, which ABI.md does not name\n", k_mirror[j].name);
        }
        CHECK(found);
    }
}

static void expect_import(const char *name, const char *sig)
{
    char row[64];
    snprintf(row, sizeof(row), "| `%s` |", name);
    const char *p = strstr(s_text, row);
    if (p == NULL) {
        snprintf(row, sizeof(row), "| `env.%s` |", name);
        p = strstr(s_text, row);
    }
    CHECK(p != NULL);
    if (p == NULL) {
        fprintf(stderr, "ABI.md has no import row for %s\n", name);
        return;
    }
    const char *eol = strchr(p, '\n');
    char want[32];
    snprintf(want, sizeof(want), "[`%s`]", sig);
    const char *s = strstr(p, want);
    CHECK(s != NULL && (eol == NULL || s < eol));
    if (s == NULL || (eol != NULL && s > eol)) {
        fprintf(stderr, "import %s: ABI.md does not give the signature %s\n", name, sig);
    }
}

static void test_import_signatures(void)
{
    expect_import("connect", KUBELET_SIG_CONNECT);
    expect_import("send", KUBELET_SIG_SEND);
    expect_import("close", KUBELET_SIG_CLOSE);
    expect_import("led", KUBELET_SIG_LED);
    expect_import("log", KUBELET_SIG_LOG);
    expect_import("host_call", KUBELET_SIG_HOST_CALL);
    expect_import("abort", KUBELET_SIG_ABORT);
}

static void test_version_and_sizes(void)
{
    char title[64];
    snprintf(title, sizeof(title), "ABI, version %d\n", KUBELET_ABI_VERSION);
    CHECK(strstr(s_text, title) != NULL);
    char io[64];
    snprintf(io, sizeof(io), "(%d in version %d)", KUBELET_ABI_IO_BUFFER_SIZE, KUBELET_ABI_VERSION);
    CHECK(strstr(s_text, io) != NULL);
    CHECK(strstr(s_text, "at most 16 KiB") != NULL);
    CHECK_EQ_INT(KUBELET_ABI_CONFIG_MAX_BYTES, 16 * 1024);
    char module[64];
    snprintf(module, sizeof(module), "Module `%s`", KUBELET_ABI_IMPORT_MODULE);
    CHECK(strstr(s_text, module) != NULL);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s path/to/assembly/ABI.md\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s\n", argv[1]);
        return 1;
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    s_text = calloc(1, (size_t)size + 1);
    if (fread(s_text, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 1;
    }
    fclose(f);
    scan_document();
    printf("ABI.md: %zu named numbers\n", s_doc_count);
    RUN(test_every_document_number_is_mirrored);
    RUN(test_every_mirrored_number_is_documented);
    RUN(test_import_signatures);
    RUN(test_version_and_sizes);
    return check_summary("abi_mirror");
}
