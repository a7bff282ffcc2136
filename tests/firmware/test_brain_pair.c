/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * Host tests of the board's two brain slots and the record of the proven brain (brain_pair.c, brain_record.c),
 * over two memory slots that stand for the partitions brain_0 and brain_1 and a record store that stands for
 * NVS (both can be told to fail), with real sha256 digests. Each "reset" opens a new pair over the same
 * slots and store, as the board does at start.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "brain_pair.h"
#include "brain_record.h"
#include "brain_slot.h"
#include "brain_verify.h"

#define SLOT_BYTES 8192
#define SECTOR 1024

/* A flash partition in memory: begin erases the first sector (as the partition backend does), writes land
 * anywhere (the slot keeps the order), and the whole can be made to fail. */
typedef struct {
    uint8_t bytes[SLOT_BYTES];
    brain_backend_t backend;
    int begins;
    bool fail_write;
} mem_slot_t;

static int slot_begin(void *ctx, char *err, size_t n)
{
    (void)err;
    (void)n;
    mem_slot_t *m = ctx;
    m->begins++;
    memset(m->bytes, 0xFF, SECTOR);
    return 0;
}

static int slot_write(void *ctx, size_t off, const uint8_t *b, size_t len, char *err, size_t n)
{
    mem_slot_t *m = ctx;
    if (m->fail_write) {
        snprintf(err, n, "write failed");
        return -1;
    }
    memcpy(m->bytes + off, b, len);
    return 0;
}

static int slot_read(void *ctx, size_t off, uint8_t *out, size_t len, char *err, size_t n)
{
    (void)err;
    (void)n;
    mem_slot_t *m = ctx;
    memcpy(out, m->bytes + off, len);
    return 0;
}

static void slot_init(mem_slot_t *m)
{
    memset(m, 0xFF, sizeof(*m));
    m->begins = 0;
    m->fail_write = false;
    m->backend = (brain_backend_t){
        .ctx = m, .size = SLOT_BYTES, .begin = slot_begin, .write = slot_write, .read = slot_read};
}

/* NVS in memory: one string, replaced whole. */
typedef struct {
    char line[BRAIN_RECORD_MAX_BYTES];
    bool present;
    bool fail_set;
    int sets;
} mem_records_t;

static long rec_get(void *ctx, char *buf, size_t size, char *err, size_t n)
{
    mem_records_t *r = ctx;
    if (!r->present) {
        return 0;
    }
    size_t len = strlen(r->line);
    if (len + 1 > size) {
        snprintf(err, n, "too long");
        return -1;
    }
    memcpy(buf, r->line, len + 1);
    return (long)len;
}

static int rec_set(void *ctx, const char *line, char *err, size_t n)
{
    mem_records_t *r = ctx;
    if (r->fail_set) {
        snprintf(err, n, "NVS full");
        return -1;
    }
    snprintf(r->line, sizeof(r->line), "%s", line);
    r->present = true;
    r->sets++;
    return 0;
}

static mem_slot_t s0, s1;
static mem_records_t recs;
static brain_record_store_t store = {.ctx = &recs, .get = rec_get, .set = rec_set};

static void reset_all(void)
{
    slot_init(&s0);
    slot_init(&s1);
    memset(&recs, 0, sizeof(recs));
}

static brain_pair_t *open_pair(void)
{
    char err[200];
    brain_pair_t *p = brain_pair_open(&s0.backend, &s1.backend, &store, err, sizeof(err));
    CHECK(p != NULL);
    return p;
}

/* An image of len bytes made from seed, and its commit. */
typedef struct {
    uint8_t wasm[SLOT_BYTES];
    size_t len;
    brain_commit_t c;
} brain_t;

static void make_brain(brain_t *b, uint8_t seed, size_t len, const char *version)
{
    memset(b, 0, sizeof(*b));
    for (size_t i = 0; i < len; i++) {
        b->wasm[i] = (uint8_t)(seed + i * 7);
    }
    b->len = len;
    CHECK_EQ_INT(brain_digest(b->wasm, len, b->c.layer), 0);
    snprintf(b->c.digest, sizeof(b->c.digest), "sha256:%064x", seed);
    snprintf(b->c.version, sizeof(b->c.version), "%s", version);
    snprintf(b->c.pod, sizeof(b->c.pod), "pod-%u", seed);
    snprintf(b->c.image, sizeof(b->c.image), "127.0.0.1:5000/brains/picokubelet:%s", version);
    b->c.size = len;
    b->c.abi = 2;
}

/* Pulls b through the pair's backend as brain_slot does for OP_BRAIN_WRITE, in 1000-byte chunks. */
static void pull(brain_pair_t *p, const brain_t *b)
{
    brain_slot_t slot;
    brain_slot_init(&slot, brain_pair_backend(p));
    char why[200];
    for (size_t at = 0; at < b->len; at += 1000) {
        size_t n = b->len - at < 1000 ? b->len - at : 1000;
        CHECK_EQ_INT(brain_slot_write(&slot, (int64_t)at, b->wasm + at, n, why, sizeof(why)), 0);
    }
}

/* Pulls b and keeps it as the proven brain (brain_host's save_proven after 3 renewals). */
static void pull_and_prove(brain_pair_t *p, const brain_t *b)
{
    char err[300] = "";
    pull(p, b);
    CHECK_EQ_INT(brain_pair_save(p, &b->c, b->wasm, b->len, NULL, err, sizeof(err)), 0);
}

static bool holds(const mem_slot_t *m, const brain_t *b)
{
    return memcmp(m->bytes, b->wasm, b->len) == 0;
}

static void check_boots(const brain_t *b, int slot)
{
    brain_pair_t *p = open_pair();
    CHECK_EQ_INT(brain_pair_proven_slot(p), slot);
    uint8_t *wasm = NULL;
    size_t size = 0;
    brain_commit_t c;
    char err[300] = "";
    CHECK_EQ_INT(brain_pair_load(p, &wasm, &size, &c, err, sizeof(err)), 1);
    CHECK_EQ_INT(size, b->len);
    CHECK(wasm != NULL && memcmp(wasm, b->wasm, b->len) == 0);
    CHECK_EQ_STR(c.digest, b->c.digest);
    CHECK_EQ_STR(c.version, b->c.version);
    CHECK_EQ_STR(c.image, b->c.image);
    free(wasm);
    brain_pair_close(p);
}

static void test_first_brain_goes_to_slot_0_and_boots(void)
{
    reset_all();
    brain_pair_t *p = open_pair();
    CHECK_EQ_INT(brain_pair_proven_slot(p), -1);
    uint8_t *wasm = NULL;
    size_t size = 0;
    brain_commit_t c;
    char err[300] = "";
    CHECK_EQ_INT(brain_pair_load(p, &wasm, &size, &c, err, sizeof(err)), 0); /* the embedded core runs */
    CHECK_EQ_INT(brain_pair_backend(p)->size, SLOT_BYTES);
    brain_t a;
    make_brain(&a, 1, 5000, "0.2.0");
    pull(p, &a);
    CHECK(holds(&s0, &a));
    CHECK_EQ_INT(s1.begins, 0);
    CHECK_EQ_INT(brain_pair_save(p, &a.c, a.wasm, a.len, NULL, err, sizeof(err)), 0);
    CHECK_EQ_INT(brain_pair_proven_slot(p), 0);
    CHECK_EQ_INT(recs.sets, 1);
    /* Found where it was pulled: not written again. */
    CHECK_EQ_INT(s0.begins, 1);
    CHECK(strncmp(recs.line, "{\"slot\":0,", 10) == 0);
    CHECK(strstr(recs.line, "provenAt") == NULL);
    brain_pair_close(p);
    check_boots(&a, 0); /* after a reset */
}

static void test_next_brain_never_touches_the_proven_slot(void)
{
    reset_all();
    brain_pair_t *p = open_pair();
    brain_t a, b, c;
    char err[300] = "";
    make_brain(&a, 1, 5000, "0.2.0");
    make_brain(&b, 2, 6000, "0.3.0");
    make_brain(&c, 3, 4000, "0.4.0");
    pull_and_prove(p, &a);
    pull(p, &b);
    CHECK(holds(&s0, &a)); /* the proven brain is untouched by the next pull */
    CHECK(holds(&s1, &b));
    brain_pair_close(p);
    /* A reset before b proved itself: a boots. */
    check_boots(&a, 0);
    p = open_pair();
    pull(p, &b);
    CHECK_EQ_INT(brain_pair_save(p, &b.c, b.wasm, b.len, "2026-12-04T05:00:00Z", err, sizeof(err)), 0);
    CHECK_EQ_INT(brain_pair_proven_slot(p), 1);
    CHECK(strstr(recs.line, "\"provenAt\":\"2026-12-04T05:00:00Z\"") != NULL);
    /* c is refused or rolled back (never saved): b still boots, and c went to slot 0. */
    pull(p, &c);
    CHECK(holds(&s0, &c));
    CHECK(holds(&s1, &b));
    brain_pair_close(p);
    check_boots(&b, 1);
}

static void test_pull_during_probation_goes_on(void)
{
    /* a proven in slot 0; d pulled into slot 1 and on probation; e begins in slot 1 before d has proved
     * itself. d must land in slot 0 (over a, which d replaces) and e's pull must go on in slot 1. */
    reset_all();
    brain_pair_t *p = open_pair();
    brain_t a, d, e;
    char err[300] = "";
    make_brain(&a, 1, 5000, "0.2.0");
    make_brain(&d, 4, 7000, "0.5.0");
    make_brain(&e, 5, 3000, "0.6.0");
    pull_and_prove(p, &a);
    pull(p, &d);
    CHECK(holds(&s1, &d));
    brain_slot_t slot;
    brain_slot_init(&slot, brain_pair_backend(p));
    CHECK_EQ_INT(brain_slot_write(&slot, 0, e.wasm, 1000, err, sizeof(err)), 0);
    CHECK_EQ_INT(brain_pair_save(p, &d.c, d.wasm, d.len, NULL, err, sizeof(err)), 0);
    CHECK_EQ_INT(brain_pair_proven_slot(p), 0);
    CHECK(holds(&s0, &d));
    for (size_t at = 1000; at < e.len; at += 1000) {
        CHECK_EQ_INT(brain_slot_write(&slot, (int64_t)at, e.wasm + at, 1000, err, sizeof(err)), 0);
    }
    CHECK(holds(&s1, &e));
    /* e's commit check reads back e, not d. */
    char got[BRAIN_DIGEST_LEN + 1];
    CHECK_EQ_INT(brain_backend_digest(brain_pair_backend(p), e.len, got, err, sizeof(err)), 0);
    CHECK_EQ_STR(got, e.c.layer);
    brain_pair_close(p);
    check_boots(&d, 0);
}

static void test_a_changed_slot_is_not_booted(void)
{
    reset_all();
    brain_pair_t *p = open_pair();
    brain_t a;
    char err[300] = "";
    make_brain(&a, 1, 5000, "0.2.0");
    pull_and_prove(p, &a);
    brain_pair_close(p);
    s0.bytes[4321] ^= 0x40; /* a flash bit flipped, or a write cut off */
    p = open_pair();
    uint8_t *wasm = NULL;
    size_t size = 0;
    brain_commit_t c;
    CHECK_EQ_INT(brain_pair_load(p, &wasm, &size, &c, err, sizeof(err)), -1);
    CHECK(wasm == NULL);
    CHECK(strstr(err, "brain slot 0 holds sha256:") != NULL && strstr(err, a.c.layer) != NULL);
    brain_pair_close(p);
}

static void test_record_failures_keep_the_old_record(void)
{
    reset_all();
    brain_pair_t *p = open_pair();
    brain_t a, b;
    char err[300] = "";
    make_brain(&a, 1, 5000, "0.2.0");
    make_brain(&b, 2, 6000, "0.3.0");
    pull_and_prove(p, &a);
    pull(p, &b);
    recs.fail_set = true;
    CHECK_EQ_INT(brain_pair_save(p, &b.c, b.wasm, b.len, NULL, err, sizeof(err)), -1);
    CHECK(strstr(err, "the record cannot be written: NVS full") != NULL);
    CHECK_EQ_INT(brain_pair_proven_slot(p), 0);
    brain_pair_close(p);
    recs.fail_set = false;
    check_boots(&a, 0);

    /* A slot that cannot be written while the brain must be copied: the old record stays too. */
    p = open_pair();
    brain_t d;
    make_brain(&d, 4, 7000, "0.5.0");
    pull(p, &d);            /* into slot 1 */
    s1.bytes[0] ^= 1;       /* changed since: save must copy d into slot 0 */
    s0.fail_write = true;
    CHECK_EQ_INT(brain_pair_save(p, &d.c, d.wasm, d.len, NULL, err, sizeof(err)), -1);
    CHECK(strstr(err, "brain slot 0: write failed") != NULL);
    CHECK(strncmp(recs.line, "{\"slot\":0,", 10) == 0 && strstr(recs.line, a.c.digest) != NULL);
    brain_pair_close(p);
    s0.fail_write = false;
}

static void test_bad_records(void)
{
    static const struct {
        const char *line;
        const char *says;
    } cases[] = {
        {"not json at all\n", "the record is not one"},
        {"{\"slot\":2,\"digest\":\"x\"}\n", "is not 0 or 1"},
        {"{\"digest\":\"sha256:0000000000000000000000000000000000000000000000000000000000000001\","
         "\"layer\":\"sha256:0000000000000000000000000000000000000000000000000000000000000001\","
         "\"version\":\"1\",\"pod\":\"p\",\"image\":\"i\",\"abi\":2,\"size\":10}\n",
         "the record names no slot"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        reset_all();
        recs.present = true;
        snprintf(recs.line, sizeof(recs.line), "%s", cases[i].line);
        brain_pair_t *p = open_pair();
        CHECK_EQ_INT(brain_pair_proven_slot(p), -1);
        uint8_t *wasm = NULL;
        size_t size = 0;
        brain_commit_t c;
        char err[300] = "";
        CHECK_EQ_INT(brain_pair_load(p, &wasm, &size, &c, err, sizeof(err)), -1);
        if (strstr(err, cases[i].says) == NULL) {
            fprintf(stderr, "case %zu: %s\n", i, err);
        }
        CHECK(strstr(err, cases[i].says) != NULL);
        /* Pulls still work, into slot 0, and a proven brain replaces the bad record. */
        brain_t a;
        make_brain(&a, 1, 5000, "0.2.0");
        pull(p, &a);
        CHECK(holds(&s0, &a));
        CHECK_EQ_INT(brain_pair_save(p, &a.c, a.wasm, a.len, NULL, err, sizeof(err)), 0);
        brain_pair_close(p);
        check_boots(&a, 0);
    }
    /* A record whose size is more than a slot holds. */
    reset_all();
    brain_t a;
    make_brain(&a, 1, 5000, "0.2.0");
    a.c.size = SLOT_BYTES + 1;
    char err[300] = "";
    CHECK(brain_record_format(&a.c, SLOT_BYTES + 1, 1, NULL, recs.line, sizeof(recs.line), err, sizeof(err)) > 0);
    recs.present = true;
    brain_pair_t *p = open_pair();
    uint8_t *wasm = NULL;
    size_t size = 0;
    brain_commit_t c;
    CHECK_EQ_INT(brain_pair_load(p, &wasm, &size, &c, err, sizeof(err)), -1);
    CHECK(strstr(err, "holds at most 8192") != NULL);
    brain_pair_close(p);
}

static void test_record_round_trip(void)
{
    brain_t a;
    make_brain(&a, 9, 100, "0.2.0+\"quoted\"\\x");
    snprintf(a.c.image, sizeof(a.c.image), "reg.example:5000/a\"b:1");
    char line[BRAIN_RECORD_MAX_BYTES];
    char err[200] = "";
    long n = brain_record_format(&a.c, 100, -1, "2026-12-04T05:00:00Z", line, sizeof(line), err, sizeof(err));
    CHECK(n > 0 && line[n - 1] == '\n' && (size_t)n == strlen(line));
    CHECK(line[0] == '{' && strstr(line, "\"slot\"") == NULL); /* the Linux port's record: no slot */
    brain_commit_t c;
    int slot = 7;
    CHECK_EQ_INT(brain_record_parse(line, (size_t)n, &c, &slot, err, sizeof(err)), 0);
    CHECK_EQ_INT(slot, -1);
    CHECK_EQ_STR(c.version, a.c.version);
    CHECK_EQ_STR(c.image, a.c.image);
    CHECK_EQ_STR(c.layer, a.c.layer);
    CHECK_EQ_INT(c.size, 100);
    CHECK_EQ_INT(c.abi, 2);
    CHECK(c.manifest == NULL && c.manifest_len == 0);
    /* Too small a buffer is an error, not a cut record. */
    CHECK_EQ_INT(brain_record_format(&a.c, 100, 1, NULL, line, 40, err, sizeof(err)), -1);
    CHECK(strstr(err, "does not fit") != NULL);
}

int main(void)
{
    RUN(test_first_brain_goes_to_slot_0_and_boots);
    RUN(test_next_brain_never_touches_the_proven_slot);
    RUN(test_pull_during_probation_goes_on);
    RUN(test_a_changed_slot_is_not_booted);
    RUN(test_record_failures_keep_the_old_record);
    RUN(test_bad_records);
    RUN(test_record_round_trip);
    return check_summary("test_brain_pair");
}
