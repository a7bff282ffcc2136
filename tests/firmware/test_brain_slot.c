/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * Host tests of the brain slot (firmware/components/brain_slot), the parts without crypto: OP_BRAIN_WRITE's
 * order and size rules over the file backend and over a memory backend that can be made to fail, the
 * commit line's reader on good and malformed lines, and OP_BRAIN_STATUS's lines. Built by every pass,
 * the 32-bit one included.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "kubelet_abi.h"
#include "brain_commit.h"
#include "brain_slot.h"
#include "brain_slot_file.h"
#include "brain_status.h"

#define INVALID (-KUBELET_ERR_HOST_CALL_INVALID)
#define FAILED (-KUBELET_ERR_HOST_CALL_FAILED)

/* A backend in memory whose begin, write or read can be told to fail. */
typedef struct {
    uint8_t bytes[64];
    int begins;
    int fail_begin, fail_write, fail_read;
} mem_t;

static int mem_begin(void *ctx, char *err, size_t n)
{
    mem_t *m = ctx;
    m->begins++;
    if (m->fail_begin) {
        snprintf(err, n, "erase failed");
        return -1;
    }
    memset(m->bytes, 0xFF, sizeof(m->bytes));
    return 0;
}

static int mem_write(void *ctx, size_t off, const uint8_t *b, size_t len, char *err, size_t n)
{
    mem_t *m = ctx;
    if (m->fail_write) {
        snprintf(err, n, "write failed");
        return -1;
    }
    memcpy(m->bytes + off, b, len);
    return 0;
}

static int mem_read(void *ctx, size_t off, uint8_t *out, size_t len, char *err, size_t n)
{
    mem_t *m = ctx;
    if (m->fail_read) {
        snprintf(err, n, "read failed");
        return -1;
    }
    memcpy(out, m->bytes + off, len);
    return 0;
}

static void test_write_order_and_limits(void)
{
    mem_t m = {0};
    brain_backend_t be = {&m, 10, mem_begin, mem_write, mem_read};
    brain_slot_t s;
    char why[128];
    brain_slot_init(&s, &be);
    const uint8_t abc[] = "abcdefghijkl";

    /* Nothing begun: only offset 0 may come. */
    CHECK_EQ_INT(brain_slot_write(&s, 3, abc, 3, why, sizeof(why)), INVALID);
    CHECK_EQ_INT(brain_slot_write(&s, -1, abc, 3, why, sizeof(why)), INVALID);
    CHECK_EQ_INT(m.begins, 0);
    CHECK_EQ_INT(brain_slot_write(&s, 0, abc, 4, why, sizeof(why)), 0);
    CHECK_EQ_INT(m.begins, 1);
    CHECK_EQ_INT(s.written, 4);
    /* Out of order: behind, repeated, ahead. */
    CHECK_EQ_INT(brain_slot_write(&s, 2, abc, 2, why, sizeof(why)), INVALID);
    CHECK_EQ_INT(brain_slot_write(&s, 5, abc, 2, why, sizeof(why)), INVALID);
    CHECK_EQ_INT(s.written, 4);
    CHECK_EQ_INT(brain_slot_write(&s, 4, abc + 4, 4, why, sizeof(why)), 0);
    /* Past the slot's 10 bytes: refused, and what was written stays. */
    CHECK_EQ_INT(brain_slot_write(&s, 8, abc + 8, 3, why, sizeof(why)), INVALID);
    CHECK_EQ_INT(s.written, 8);
    CHECK_EQ_INT(brain_slot_write(&s, 8, abc + 8, 2, why, sizeof(why)), 0);
    CHECK_EQ_INT(s.written, 10);
    CHECK_EQ_INT(brain_slot_write(&s, 10, abc, 1, why, sizeof(why)), INVALID);
    /* An empty chunk at the end is in order and in size. */
    CHECK_EQ_INT(brain_slot_write(&s, 10, abc, 0, why, sizeof(why)), 0);
    uint8_t back[10];
    CHECK_EQ_INT(brain_slot_read(&s, 0, back, 10, why, sizeof(why)), 0);
    CHECK(memcmp(back, "abcdefghij", 10) == 0);
    CHECK_EQ_INT(brain_slot_read(&s, 5, back, 6, why, sizeof(why)), -1);
    /* A whole image larger than the slot at offset 0. */
    CHECK_EQ_INT(brain_slot_write(&s, 0, abc, 11, why, sizeof(why)), INVALID);
    /* Offset 0 starts a new image. */
    CHECK_EQ_INT(brain_slot_write(&s, 0, abc + 2, 2, why, sizeof(why)), 0);
    CHECK_EQ_INT(m.begins, 2);
    CHECK_EQ_INT(s.written, 2);
    CHECK_EQ_INT(brain_slot_read(&s, 0, back, 2, why, sizeof(why)), 0);
    CHECK(memcmp(back, "cd", 2) == 0);
    /* After a reset (a commit), the image must start again at 0. */
    brain_slot_reset(&s);
    CHECK_EQ_INT(brain_slot_write(&s, 2, abc, 1, why, sizeof(why)), INVALID);
    CHECK_EQ_INT(brain_slot_write(&s, 0, abc, 1, why, sizeof(why)), 0);
}

static void test_write_io_errors(void)
{
    mem_t m = {0};
    brain_backend_t be = {&m, 10, mem_begin, mem_write, mem_read};
    brain_slot_t s;
    char why[128] = "";
    brain_slot_init(&s, &be);
    const uint8_t abc[] = "abcdef";

    m.fail_begin = 1;
    CHECK_EQ_INT(brain_slot_write(&s, 0, abc, 2, why, sizeof(why)), FAILED);
    CHECK_EQ_STR(why, "erase failed");
    CHECK_EQ_INT(brain_slot_write(&s, 2, abc, 2, why, sizeof(why)), INVALID);
    m.fail_begin = 0;
    CHECK_EQ_INT(brain_slot_write(&s, 0, abc, 2, why, sizeof(why)), 0);
    m.fail_write = 1;
    CHECK_EQ_INT(brain_slot_write(&s, 2, abc, 2, why, sizeof(why)), FAILED);
    CHECK_EQ_STR(why, "write failed");
    /* What is stored is no longer the image so far: it must start again at offset 0. */
    CHECK_EQ_INT(s.written, 0);
    m.fail_write = 0;
    CHECK_EQ_INT(brain_slot_write(&s, 2, abc, 2, why, sizeof(why)), INVALID);
    CHECK_EQ_INT(brain_slot_write(&s, 0, abc, 2, why, sizeof(why)), 0);
    m.fail_read = 1;
    uint8_t back[2];
    CHECK_EQ_INT(brain_slot_read(&s, 0, back, 2, why, sizeof(why)), -1);
    CHECK_EQ_STR(why, "read failed");
}

static size_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (size_t)st.st_size : (size_t)-1;
}

static void test_file_backend(void)
{
    char tmpl[] = "/tmp/pk-brain-slot-XXXXXX";
    char *tmp = mkdtemp(tmpl);
    CHECK(tmp != NULL);
    if (tmp == NULL) {
        return;
    }
    char dir[256], err[256];
    snprintf(dir, sizeof(dir), "%s/state", tmp); /* made by the first image */
    brain_slot_file_t *f = brain_slot_file_open(dir, 8, err, sizeof(err));
    CHECK(f != NULL);
    if (f == NULL) {
        return;
    }
    char expect[300];
    snprintf(expect, sizeof(expect), "%s/brain-next.wasm", dir);
    CHECK_EQ_STR(brain_slot_file_path(f), expect);
    brain_slot_t s;
    brain_slot_init(&s, brain_slot_file_backend(f));
    CHECK_EQ_INT(brain_slot_write(&s, 0, (const uint8_t *)"0123", 4, err, sizeof(err)), 0);
    CHECK_EQ_INT(brain_slot_write(&s, 4, (const uint8_t *)"4567", 4, err, sizeof(err)), 0);
    CHECK_EQ_INT(file_size(expect), 8);
    struct stat st;
    CHECK(stat(expect, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
    CHECK_EQ_INT(brain_slot_write(&s, 8, (const uint8_t *)"8", 1, err, sizeof(err)), INVALID);
    uint8_t back[8];
    CHECK_EQ_INT(brain_slot_read(&s, 0, back, 8, err, sizeof(err)), 0);
    CHECK(memcmp(back, "01234567", 8) == 0);
    /* Offset 0 truncates: the new, shorter image is all the file holds. */
    CHECK_EQ_INT(brain_slot_write(&s, 0, (const uint8_t *)"ab", 2, err, sizeof(err)), 0);
    CHECK_EQ_INT(file_size(expect), 2);
    brain_slot_file_close(f);

    /* A state directory that cannot be made: the I/O error, in words. */
    snprintf(dir, sizeof(dir), "%s/brain-next.wasm-is-a-file", tmp);
    FILE *block = fopen(dir, "w");
    CHECK(block != NULL);
    if (block != NULL) {
        fclose(block);
    }
    snprintf(expect, sizeof(expect), "%s/sub", dir);
    f = brain_slot_file_open(expect, 8, err, sizeof(err));
    CHECK(f != NULL);
    if (f != NULL) {
        brain_slot_init(&s, brain_slot_file_backend(f));
        CHECK_EQ_INT(brain_slot_write(&s, 0, (const uint8_t *)"x", 1, err, sizeof(err)), FAILED);
        CHECK(strstr(err, "cannot create") != NULL);
        brain_slot_file_close(f);
    }
    CHECK(brain_slot_file_open("", 8, err, sizeof(err)) == NULL);

    unlink(dir);
    snprintf(expect, sizeof(expect), "%s/state/brain-next.wasm", tmp);
    unlink(expect);
    snprintf(expect, sizeof(expect), "%s/state", tmp);
    rmdir(expect);
    rmdir(tmp);
}

#define D64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define GOOD_LINE                                                                                          \
    "{\"pod\":\"uid-1\",\"image\":\"reg/brain:v2\",\"digest\":\"sha256:" D64 "\",\"layer\":\"sha256:" D64  \
    "\",\"size\":12,\"abi\":2,\"version\":\"0.2.0\",\"signature\":\"c2ln\",\"keyId\":\"00112233aabbccdd\"}"

static int parse(const char *s, brain_commit_t *c, char *err, size_t n)
{
    return brain_commit_parse((const uint8_t *)s, strlen(s), c, err, n);
}

static void test_commit_good(void)
{
    brain_commit_t c;
    char err[256] = "";
    CHECK_EQ_INT(parse(GOOD_LINE "\n{\"m\":1}", &c, err, sizeof(err)), 0);
    CHECK_EQ_STR(err, "");
    CHECK_EQ_STR(c.pod, "uid-1");
    CHECK_EQ_STR(c.image, "reg/brain:v2");
    CHECK_EQ_STR(c.digest, "sha256:" D64);
    CHECK_EQ_INT(c.size, 12);
    CHECK_EQ_INT(c.abi, 2);
    CHECK_EQ_STR(c.version, "0.2.0");
    CHECK_EQ_STR(c.signature, "c2ln");
    CHECK_EQ_STR(c.key_id, "00112233aabbccdd");
    CHECK_EQ_INT(c.manifest_len, 7);
    CHECK(memcmp(c.manifest, "{\"m\":1}", 7) == 0);

    /* Optional signature and keyId, escapes, spaces, unknown keys of every scalar kind, an empty manifest. */
    const char *line = "{ \"pod\" : \"u\\u00e9\\\"\\n\", \"image\":\"i\\/x\", \"extra\":[1],"
                       "\"digest\":\"sha256:" D64 "\",\"layer\":\"sha256:" D64 "\",\"size\":0,\"abi\":3,"
                       "\"version\":\"v\\ud83d\\ude00\"}\n";
    CHECK_EQ_INT(parse(line, &c, err, sizeof(err)), -1); /* a nested array, even under an unknown key */
    line = "{ \"pod\" : \"u\\u00e9\\\"\\n\", \"image\":\"i\\/x\", \"t\":true,\"f\":false,\"n\":null,\"x\":-1.5e3,"
           "\"s\":\"\",\"digest\":\"sha256:" D64 "\",\"layer\":\"sha256:" D64 "\",\"size\":0,\"abi\":3.0,"
           "\"version\":\"v\\ud83d\\ude00\"}\n";
    CHECK_EQ_INT(parse(line, &c, err, sizeof(err)), 0);
    CHECK_EQ_STR(c.pod, "u\xc3\xa9\"\n");
    CHECK_EQ_STR(c.image, "i/x");
    CHECK_EQ_STR(c.version, "v\xf0\x9f\x98\x80");
    CHECK_EQ_STR(c.signature, "");
    CHECK_EQ_STR(c.key_id, "");
    CHECK_EQ_INT(c.abi, 3);
    CHECK_EQ_INT(c.manifest_len, 0);
}

static void test_commit_malformed(void)
{
    static const struct {
        const char *line;
        const char *why;
    } cases[] = {
        {"", "the commit has no newline between its JSON line and the manifest"},
        {GOOD_LINE, "the commit has no newline between its JSON line and the manifest"},
        {"[1]\n", "the commit line is not a JSON object"},
        {"\"x\"\n", "the commit line is not a JSON object"},
        {"{\n", "the commit line is not JSON: a string was expected"},
        {"{\"pod\":\"a\"\n", "the commit line is not JSON: ',' or '}' was expected"},
        {"{\"pod\":\"a\n", "the commit line is not JSON: an unterminated string"},
        {"{\"pod\":\"a\",}\n", "the commit line is not JSON: a string was expected"},
        {"{\"pod\" \"a\"}\n", "the commit line is not JSON: ':' was expected"},
        {"{\"pod\":\"a\\q\"}\n", "the commit line is not JSON: a bad escape"},
        {"{\"pod\":\"\\ud800\"}\n", "the commit line is not JSON: a lone surrogate"},
        {"{\"pod\":\"a\tb\"}\n", "the commit line is not JSON: a control character in a string"},
        {"{\"pod\":01}\n", "the commit line is not JSON: a bad number"},
        {"{\"pod\":nope}\n", "the commit line is not JSON: an unexpected value"},
        {"{} x\n", "the commit line is not JSON: bytes after the object"},
        {"{}\n", "the commit line's \"pod\" is not a string"},
        {"{\"pod\":1}\n", "the commit line's \"pod\" is not a string"},
        {"{\"pod\":null}\n", "the commit line's \"pod\" is not a string"},
        {"{\"size\":\"12\"}\n", "the commit line's \"size\" is not a non-negative integer"},
        {"{\"size\":-1}\n", "the commit line's \"size\" is not a non-negative integer"},
        {"{\"size\":1.5}\n", "the commit line's \"size\" is not a non-negative integer"},
        {"{\"size\":9007199254740992}\n", "the commit line's \"size\" is not a non-negative integer"},
        {"{\"pod\":{\"a\":1}}\n", "the commit line holds a nested object or array, which a commit never has"},
        {"{\"pod\":\"u\",\"image\":\"i\",\"digest\":\"sha256:abc\",\"layer\":\"sha256:" D64
         "\",\"size\":1,\"abi\":2,\"version\":\"v\"}\n",
         "the commit line's \"digest\" is not sha256:<64 hex digits>"},
        {"{\"pod\":\"u\",\"image\":\"i\",\"digest\":\"sha256:" D64 "\",\"layer\":\"sha256:" D64
         "\",\"size\":1,\"abi\":2}\n",
         "the commit line's \"version\" is not a string"},
        {"{\"pod\":\"u\",\"image\":\"i\",\"digest\":\"sha256:" D64 "\",\"layer\":\"SHA256:" D64
         "\",\"size\":1,\"abi\":2,\"version\":\"v\"}\n",
         "the commit line's \"layer\" is not sha256:<64 hex digits>"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        brain_commit_t c;
        char err[256] = "";
        int rc = parse(cases[i].line, &c, err, sizeof(err));
        CHECK_EQ_INT(rc, -1);
        if (rc != -1 || strcmp(err, cases[i].why) != 0) {
            fprintf(stderr, "  case %zu: %s\n", i, cases[i].line);
        }
        CHECK_EQ_STR(err, cases[i].why);
    }
    /* A field longer than its buffer is refused, not cut. */
    char line[1024];
    char pod[200];
    memset(pod, 'p', sizeof(pod) - 1);
    pod[sizeof(pod) - 1] = '\0';
    snprintf(line, sizeof(line), "{\"pod\":\"%s\"}\n", pod);
    brain_commit_t c;
    char err[256];
    CHECK_EQ_INT(parse(line, &c, err, sizeof(err)), -1);
    CHECK_EQ_STR(err, "the commit line's \"pod\" is longer than 63 bytes");
    /* A key longer than any known one is skipped with its value. */
    snprintf(line, sizeof(line), "{\"%s\":\"x\"}\n", pod);
    CHECK_EQ_INT(parse(line, &c, err, sizeof(err)), -1);
    CHECK_EQ_STR(err, "the commit line's \"pod\" is not a string");
}

static void test_status_lines(void)
{
    brain_state_t s;
    char out[512];
    memset(&s, 0, sizeof(s));
    CHECK_EQ_INT(brain_status_lines(&s, out, sizeof(out)), 0);
    CHECK_EQ_STR(out, "");
    snprintf(s.running, sizeof(s.running), "sha256:" D64);
    CHECK_EQ_INT(brain_status_lines(&s, out, sizeof(out)), (long)strlen("running=sha256:" D64 "\n"));
    CHECK_EQ_STR(out, "running=sha256:" D64 "\n");
    snprintf(s.failed, sizeof(s.failed), "sha256:%064d", 0);
    snprintf(s.reason, sizeof(s.reason), "BrainCrashed");
    snprintf(s.message, sizeof(s.message), "unreachable\r\n\nat start\nnow");
    brain_status_lines(&s, out, sizeof(out));
    CHECK_EQ_STR(out, "running=sha256:" D64 "\nfailed=sha256:0000000000000000000000000000000000000000000000000000000000000000\n"
                      "reason=BrainCrashed\nmessage=unreachable at start now\n");
    /* The host's own brain (no running digest) that rolled one back. */
    s.running[0] = '\0';
    brain_status_lines(&s, out, sizeof(out));
    CHECK(strncmp(out, "failed=sha256:", 14) == 0);
    /* Too small a buffer: -1, never a cut line. */
    CHECK_EQ_INT(brain_status_lines(&s, out, 20), -1);
    CHECK_EQ_INT(brain_status_lines(&s, out, 0), -1);
}

int main(void)
{
    RUN(test_write_order_and_limits);
    RUN(test_write_io_errors);
    RUN(test_file_backend);
    RUN(test_commit_good);
    RUN(test_commit_malformed);
    RUN(test_status_lines);
    return check_summary("test_brain_slot");
}
