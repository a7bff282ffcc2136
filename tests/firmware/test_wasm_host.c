/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * wasm_host.h under wasm3 with a stand-in core (fixtures/fake_core.ts, path in argv[1]): the start-up
 * sequence and the imports of a well-behaved core, then each kind of trap (a pointer past the end of
 * memory, a negative length, an abort, a call over its time budget). For every trap the host must log
 * it, show Panic, drop the old instance's connections, rebuild the runtime with the same configuration
 * after the back-off, and stop cleanly on request. Brain swaps: the swap after a commit's result (the
 * snapshot handed over, a new generation, the new module running), a rollback on a trap in start, on a
 * refused snapshot and on request, a running instance that does not hand over, and the module check.
 * Only built when wasm3 is available.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kubelet_abi.h"
#include "pk_evq.h"
#include "pk_os.h"
#include "wasm_host.h"

static uint8_t *s_wasm;
static size_t s_wasm_size;
static uint8_t *s_wasm_v1;
static size_t s_wasm_v1_size;
/* The fake core with its MARK "brain-A" patched to "brain-B": the brain the swap tests swap to. */
static uint8_t *s_wasm_b;

typedef struct {
    pk_evq_t *q;
    atomic_int panics;
    atomic_int close_alls;
    atomic_uint last_close_all_gen;
    atomic_int connects;
    atomic_int sends;
    /* stat(STAT_HOST_CALLS) as the fake core reports it: 2 once a refused and an answered host call went right */
    atomic_int host_results;
    atomic_int cpu_reports;
    atomic_llong cpu_busy;
    atomic_int closes;
    atomic_int leds;
    char connect_host[64];
    char connect_name[64];
    int connect_port;
    uint32_t connect_gen;
    wasm_host_t *host;
    int result;
    char mode;
    /* mode r: events posted to fill the queue before connect was refused, and the last close() seen */
    int filled;
    atomic_int last_close;
    /* brain swaps: the host's brain events, and what the instance said after each turn */
    atomic_int commits;
    atomic_int started_events;
    atomic_int rolled_back_events;
    atomic_int not_swapped_events;
    char reason[48];
    char detail[256];
    atomic_int module_id;     /* stat(103): 1 module A, 2 module B */
    atomic_int resumed_bytes; /* stat(102) */
    atomic_int started_module;
    atomic_uint started_gen;
    atomic_bool kept;
    atomic_bool asked_rollback;
} fake_t;

static int32_t op_connect(void *ctx, uint32_t gen, int32_t conn, const char *host, uint16_t port, const char *name,
                          int32_t profile)
{
    (void)profile;
    fake_t *f = ctx;
    if (f->mode == 'r') {
        /* The link is down and the queue is full: the refusal must still reach the core. */
        pk_event_t wake = {.kind = PK_EV_WAKE, .gen = gen};
        while (pk_evq_post(f->q, &wake, 0)) {
            f->filled++;
        }
        atomic_fetch_add(&f->connects, 1);
        return KUBELET_CLOSE_LINK_DOWN;
    }
    snprintf(f->connect_host, sizeof(f->connect_host), "%s", host);
    snprintf(f->connect_name, sizeof(f->connect_name), "%s", name);
    f->connect_port = port;
    f->connect_gen = gen;
    atomic_fetch_add(&f->connects, 1);
    pk_event_t ev = {.kind = PK_EV_CONNECTED, .gen = gen, .conn = conn};
    pk_evq_post(f->q, &ev, 0);
    return 0;
}

static int32_t op_send(void *ctx, uint32_t gen, int32_t conn, const uint8_t *data, size_t len)
{
    fake_t *f = ctx;
    atomic_fetch_add(&f->sends, 1);
    /* answer with more bytes than io_buffer holds, to exercise chunking */
    pk_event_t ev = {.kind = PK_EV_DATA, .gen = gen, .conn = conn, .data = calloc(1, 5000), .len = 5000};
    pk_evq_post(f->q, &ev, 0);
    return (int32_t)len;
}

/* OP_LISTEN is answered (later, through the queue); every other op is refused at once. */
static int32_t op_host_call(void *ctx, uint32_t gen, int32_t req, int32_t op, int32_t arg, const uint8_t *data,
                            size_t len)
{
    fake_t *f = ctx;
    if (op == KUBELET_OP_BRAIN_COMMIT) {
        /* As brain_host does for a verified commit: the result from inside host_call, then the swap. */
        atomic_fetch_add(&f->commits, 1);
        CHECK(wasm_host_queue_result(f->host, req, 0, NULL, 0));
        uint8_t *copy = malloc(s_wasm_size);
        memcpy(copy, s_wasm_b, s_wasm_size);
        wasm_host_swap_after(f->host, req, copy, s_wasm_size);
        return 0;
    }
    if (op != KUBELET_OP_LISTEN) {
        return -KUBELET_ERR_UNSUPPORTED;
    }
    pk_event_t ev = {.kind = PK_EV_HOST_RESULT, .gen = gen, .conn = req, .arg = 0};
    pk_evq_post(f->q, &ev, 0);
    return 0;
}

static void op_close(void *ctx, uint32_t gen, int32_t conn)
{
    atomic_fetch_add(&((fake_t *)ctx)->closes, 1);
    atomic_store(&((fake_t *)ctx)->last_close, conn);
}

static void op_close_all(void *ctx, uint32_t gen)
{
    fake_t *f = ctx;
    atomic_fetch_add(&f->close_alls, 1);
    atomic_store(&f->last_close_all_gen, gen);
}

static void op_led(void *ctx, int pattern)
{
    fake_t *f = ctx;
    atomic_fetch_add(&f->leds, 1);
    if (pattern == KUBELET_LED_PANIC) {
        atomic_fetch_add(&f->panics, 1);
    }
}

static void op_link(void *ctx, wasm_host_link_t *out)
{
    out->kind = KUBELET_LINK_ETHERNET;
    out->ipv4 = 0x7F000001;
    out->bssid = 0;
    out->rssi = 0;
}

static void op_heap(void *ctx, uint32_t *free_bytes, uint32_t *total)
{
    *free_bytes = 200000;
    *total = 300000;
}

static void op_brain(void *ctx, wasm_host_t *host, wasm_host_brain_event_t event, const char *reason,
                     const char *detail)
{
    fake_t *f = ctx;
    snprintf(f->reason, sizeof(f->reason), "%s", reason != NULL ? reason : "");
    snprintf(f->detail, sizeof(f->detail), "%s", detail);
    if (event == WASM_HOST_BRAIN_STARTED) {
        atomic_store(&f->started_module, (int)wasm_host_stat(host, 103));
        atomic_store(&f->started_gen, wasm_host_generation(host));
        atomic_fetch_add(&f->started_events, 1);
    } else if (event == WASM_HOST_BRAIN_ROLLED_BACK) {
        atomic_fetch_add(&f->rolled_back_events, 1);
    } else if (event == WASM_HOST_BRAIN_NOT_SWAPPED) {
        atomic_fetch_add(&f->not_swapped_events, 1);
    }
}

static void op_after_turn(void *ctx, wasm_host_t *host)
{
    fake_t *f = ctx;
    atomic_store(&f->module_id, (int)wasm_host_stat(host, 103));
    atomic_store(&f->resumed_bytes, (int)wasm_host_stat(host, 102));
    if (atomic_load(&f->started_events) > 0 && f->mode == 'k' && !atomic_load(&f->kept)) {
        wasm_host_keep_brain(host);
        size_t size = 0;
        const uint8_t *running = wasm_host_running_module(host, &size);
        CHECK(!wasm_host_brain_on_probation(host));
        CHECK(size == s_wasm_size && memcmp(running, s_wasm_b, size) == 0);
        atomic_store(&f->kept, true);
    }
    if (atomic_load(&f->started_events) > 0 && f->mode == 'w' && !atomic_load(&f->asked_rollback)) {
        CHECK(wasm_host_brain_on_probation(host));
        wasm_host_roll_back(host, "BrainNotRenewing", "no Lease renewal within 30 s of the swap");
        atomic_store(&f->asked_rollback, true);
    }
    atomic_store(&((fake_t *)ctx)->host_results, (int)wasm_host_stat(host, KUBELET_STAT_HOST_CALLS));
    /* the fake core's own stat ids: on_cpu readings and the last busy time (-1 if one went back) */
    atomic_store(&((fake_t *)ctx)->cpu_reports, (int)wasm_host_stat(host, 100));
    atomic_store(&((fake_t *)ctx)->cpu_busy, wasm_host_stat(host, 101));
}

static void *run_host(void *arg)
{
    fake_t *f = arg;
    f->result = wasm_host_run(f->host);
    return NULL;
}

/* Runs the fake core in `mode` until `until(f)` holds (or 10 s pass), then shuts it down. */
static fake_t *run_mode(char mode, bool (*until)(fake_t *), wasm_host_metrics_t *metrics)
{
    static char config[6000];
    memset(config, ' ', sizeof(config));
    config[0] = mode; /* the document spans two config_write chunks */
    fake_t *f = calloc(1, sizeof(*f));
    f->mode = mode;
    f->q = pk_evq_create(16);
    wasm_host_config_t cfg = {
        .wasm = s_wasm,
        .wasm_size = s_wasm_size,
        .config_json = config,
        .config_len = sizeof(config),
        .stack_bytes = 32 * 1024,
        .call_budget_ms = 200,
        .restart_delay_ms = 100,
        .max_wait_ms = 50,
        .queue = f->q,
        .ops = {.connect = op_connect, .send = op_send, .host_call = op_host_call, .close = op_close,
                .close_all = op_close_all, .led = op_led, .link = op_link, .heap = op_heap, .after_turn = op_after_turn,
                .brain = op_brain, .ctx = f},
    };
    if (mode == 'v') {
        cfg.wasm = s_wasm_v1;
        cfg.wasm_size = s_wasm_v1_size;
    }
    f->host = wasm_host_create(&cfg);
    CHECK(f->host != NULL);
    pthread_t t;
    pthread_create(&t, NULL, run_host, f);
    int64_t deadline = pk_now_ms() + 10000;
    while (!until(f) && pk_now_ms() < deadline) {
        pk_sleep_ms(10);
    }
    CHECK(until(f));
    pk_event_t stop = {.kind = PK_EV_SHUTDOWN, .arg = KUBELET_SHUTDOWN_STOP};
    pk_evq_post(f->q, &stop, PK_WAIT_FOREVER);
    pthread_join(t, NULL);
    wasm_host_metrics(f->host, metrics);
    return f;
}

static bool connected_and_closed(fake_t *f)
{
    return atomic_load(&f->closes) >= 1;
}

static void free_fake(fake_t *f)
{
    wasm_host_destroy(f->host);
    pk_evq_destroy(f->q);
    free(f);
}

static bool refusal_seen(fake_t *f)
{
    return atomic_load(&f->last_close) == 1000 + KUBELET_CLOSE_LINK_DOWN;
}

/* A connect refused at once while the event queue is full: the close is delivered, not dropped. */
static void test_refused_connect_on_full_queue(void)
{
    wasm_host_metrics_t m;
    fake_t *f = run_mode('r', refusal_seen, &m);
    CHECK_EQ_INT(f->result, 0);
    CHECK_EQ_INT(atomic_load(&f->connects), 1);
    CHECK_EQ_INT(f->filled, 16); /* the queue really was full when the refusal happened */
    CHECK_EQ_INT(atomic_load(&f->last_close), 1000 + KUBELET_CLOSE_LINK_DOWN);
    CHECK_EQ_INT(m.traps, 0);
    free_fake(f);
}

static bool two_panics(fake_t *f)
{
    return atomic_load(&f->panics) >= 2;
}

static void test_good_core(void)
{
    wasm_host_metrics_t m;
    fake_t *f = run_mode('g', connected_and_closed, &m);
    CHECK_EQ_INT(f->result, 0);
    CHECK_EQ_STR(f->connect_host, "api.test");
    CHECK_EQ_STR(f->connect_name, "server.test");
    CHECK_EQ_INT(f->connect_port, 6443);
    CHECK_EQ_INT(f->connect_gen, 1);
    CHECK_EQ_INT(atomic_load(&f->host_results), 2);
    CHECK_EQ_INT(atomic_load(&f->sends), 1);
    CHECK_EQ_INT(atomic_load(&f->panics), 0);
    CHECK_EQ_INT(m.traps, 0);
    CHECK(m.events >= 3);        /* connected, data, shutdown */
    CHECK(m.memory_bytes >= 65536);
    CHECK(m.compile_us > 0);
    CHECK_EQ_INT(wasm_host_generation(f->host), 1);
    CHECK(atomic_load(&f->close_alls) >= 1); /* on the way out */
    free_fake(f);
}

static bool two_cpu_readings(fake_t *f)
{
    return atomic_load(&f->cpu_reports) >= 2;
}

/* on_cpu, when the core exports it: the time spent in its exports, cumulative, about once a second. */
static void test_cpu_readings(void)
{
    wasm_host_metrics_t m;
    int64_t started = pk_now_ms();
    fake_t *f = run_mode('g', two_cpu_readings, &m);
    CHECK_EQ_INT(f->result, 0);
    CHECK(atomic_load(&f->cpu_reports) >= 2);
    CHECK(pk_now_ms() - started >= 1000); /* at most one a second: the second came a second after the first */
    CHECK(atomic_load(&f->cpu_busy) > 0);  /* -1: a reading went backwards */
    CHECK(atomic_load(&f->cpu_busy) < (pk_now_ms() - started) * 1000);
    free_fake(f);
}

static void check_trapped(char mode)
{
    wasm_host_metrics_t m;
    fake_t *f = run_mode(mode, two_panics, &m);
    CHECK_EQ_INT(f->result, 0);
    CHECK(m.traps >= 2);
    CHECK(m.restarts >= 1);
    CHECK(wasm_host_generation(f->host) >= 3);
    CHECK(atomic_load(&f->close_alls) >= 2);
    CHECK(atomic_load(&f->last_close_all_gen) >= 2);
    CHECK_EQ_INT(atomic_load(&f->connects), 0);
    free_fake(f);
}

static void test_out_of_bounds_pointer_traps(void)
{
    check_trapped('b');
}

static void test_negative_length_traps(void)
{
    check_trapped('n');
}

static void test_abort_traps(void)
{
    check_trapped('a');
}

static void test_time_budget_traps(void)
{
    check_trapped('l');
}

static bool never(fake_t *f)
{
    (void)f;
    return true;
}

/* A version-1 module is refused by its abi_version() before its (v1) imports are linked. */
static void test_v1_module_refused(void)
{
    wasm_host_metrics_t m;
    fake_t *f = run_mode('v', never, &m);
    pk_sleep_ms(200);
    CHECK_EQ_INT(f->result, -1);
    CHECK_EQ_INT(atomic_load(&f->connects), 0);
    CHECK_EQ_INT(m.restarts, 0);
    free_fake(f);
}


static bool swapped_to_b(fake_t *f)
{
    return atomic_load(&f->module_id) == 2 && atomic_load(&f->resumed_bytes) == 5;
}

/* The swap after the commit's result: module B runs in a new generation, resumed from A's 5 bytes. */
static void test_swap(void)
{
    wasm_host_metrics_t m;
    fake_t *f = run_mode('s', swapped_to_b, &m);
    CHECK_EQ_INT(f->result, 0);
    CHECK_EQ_INT(atomic_load(&f->commits), 1);
    CHECK_EQ_INT(atomic_load(&f->started_events), 1);
    CHECK_EQ_INT(atomic_load(&f->started_module), 2);
    CHECK_EQ_INT(atomic_load(&f->started_gen), 2);
    CHECK_EQ_INT(atomic_load(&f->last_close_all_gen), 2); /* gen 1's connections closed at the swap, 2's at the end */
    CHECK(atomic_load(&f->close_alls) >= 2);
    CHECK_EQ_INT(atomic_load(&f->rolled_back_events), 0);
    CHECK_EQ_INT(m.traps, 0);
    CHECK(wasm_host_brain_on_probation(f->host));
    free_fake(f);
}

static bool kept(fake_t *f)
{
    return atomic_load(&f->kept);
}

/* Proven: the previous module is dropped, the new one is what runs (and what a later trap rebuilds). */
static void test_swap_kept(void)
{
    wasm_host_metrics_t m;
    fake_t *f = run_mode('k', kept, &m);
    CHECK_EQ_INT(f->result, 0);
    CHECK(!wasm_host_brain_on_probation(f->host));
    CHECK_EQ_INT(atomic_load(&f->module_id), 2);
    free_fake(f);
}

static bool rolled_back(fake_t *f)
{
    return atomic_load(&f->rolled_back_events) >= 1 && atomic_load(&f->module_id) == 1 &&
           atomic_load(&f->resumed_bytes) == 5;
}

/* B traps in start: A boots again at once from the snapshot it handed over (no back-off, no panic). */
static void test_swap_trap_in_start_rolls_back(void)
{
    wasm_host_metrics_t m;
    fake_t *f = run_mode('t', rolled_back, &m);
    CHECK_EQ_INT(f->result, 0);
    CHECK_EQ_STR(f->reason, "BrainCrashed");
    CHECK(strstr(f->detail, "it trapped in start") != NULL);
    CHECK_EQ_INT(atomic_load(&f->started_events), 0);
    CHECK_EQ_INT(atomic_load(&f->commits), 1); /* the restored A resumed: it does not commit again */
    CHECK_EQ_INT(atomic_load(&f->panics), 0);
    CHECK_EQ_INT(m.restarts, 0);
    CHECK(!wasm_host_brain_on_probation(f->host));
    CHECK_EQ_INT(wasm_host_generation(f->host), 3);
    free_fake(f);
}

static void test_swap_refused_snapshot_rolls_back(void)
{
    wasm_host_metrics_t m;
    fake_t *f = run_mode('f', rolled_back, &m);
    CHECK_EQ_INT(f->result, 0);
    CHECK_EQ_STR(f->reason, "BrainRefusedSnapshot");
    CHECK_EQ_STR(f->detail, "start returned error 5");
    CHECK_EQ_INT(atomic_load(&f->panics), 0);
    free_fake(f);
}

/* BrainNotRenewing comes from the caller (brain_keeper): the rollback is done at the end of that turn. */
static void test_swap_rolled_back_on_request(void)
{
    wasm_host_metrics_t m;
    fake_t *f = run_mode('w', rolled_back, &m);
    CHECK_EQ_INT(f->result, 0);
    CHECK_EQ_INT(atomic_load(&f->started_events), 1);
    CHECK_EQ_STR(f->reason, "BrainNotRenewing");
    CHECK_EQ_STR(f->detail, "no Lease renewal within 30 s of the swap");
    CHECK_EQ_INT(wasm_host_generation(f->host), 3);
    free_fake(f);
}

static bool not_swapped(fake_t *f)
{
    return atomic_load(&f->not_swapped_events) >= 1;
}

/* snapshot_take refuses: no swap, the old instance keeps running in its generation. */
static void test_swap_not_handed_over(void)
{
    wasm_host_metrics_t m;
    fake_t *f = run_mode('u', not_swapped, &m);
    CHECK_EQ_INT(f->result, 0);
    CHECK_EQ_STR(f->detail, "snapshot_take returned error 6");
    CHECK_EQ_INT(atomic_load(&f->module_id), 1);
    CHECK_EQ_INT(wasm_host_generation(f->host), 1);
    CHECK(!wasm_host_brain_on_probation(f->host));
    free_fake(f);
}

static void test_check_module(void)
{
    char why[200] = "";
    CHECK_EQ_INT(wasm_host_check_module(s_wasm, s_wasm_size, 2, why, sizeof(why)), 0);
    CHECK_EQ_INT(wasm_host_check_module(s_wasm, s_wasm_size, 3, why, sizeof(why)), -1);
    CHECK(strstr(why, "abi_version() is 2 (the commit says 3") != NULL);
    CHECK_EQ_INT(wasm_host_check_module(s_wasm_v1, s_wasm_v1_size, 1, why, sizeof(why)), -1);
    static const uint8_t junk[] = {0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x0a, 0xff, 0xff};
    CHECK_EQ_INT(wasm_host_check_module(junk, sizeof(junk), 2, why, sizeof(why)), -1);
    CHECK(strstr(why, "does not parse under wasm3") != NULL);
}

/* A copy of the fake core whose MARK says "brain-B" (the same length, so nothing else moves). */
static uint8_t *module_b(void)
{
    static const uint8_t from[] = {'b', 0, 'r', 0, 'a', 0, 'i', 0, 'n', 0, '-', 0, 'A', 0};
    uint8_t *b = malloc(s_wasm_size);
    memcpy(b, s_wasm, s_wasm_size);
    int n = 0;
    for (size_t i = 0; i + sizeof(from) <= s_wasm_size; i++) {
        if (memcmp(b + i, from, sizeof(from)) == 0) {
            b[i + 12] = 'B';
            n++;
        }
    }
    CHECK_EQ_INT(n, 1);
    return b;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s fake_core.wasm v1_core.wasm\n", argv[0]);
        return 2;
    }
    FILE *v1 = fopen(argv[2], "rb");
    if (v1 == NULL) {
        fprintf(stderr, "cannot open %s\n", argv[2]);
        return 2;
    }
    s_wasm_v1 = malloc(1 << 20);
    s_wasm_v1_size = fread(s_wasm_v1, 1, 1 << 20, v1);
    fclose(v1);
    FILE *file = fopen(argv[1], "rb");
    if (file == NULL) {
        fprintf(stderr, "cannot open %s\n", argv[1]);
        return 2;
    }
    s_wasm = malloc(1 << 20);
    s_wasm_size = fread(s_wasm, 1, 1 << 20, file);
    fclose(file);
    RUN(test_good_core);
    RUN(test_cpu_readings);
    RUN(test_refused_connect_on_full_queue);
    RUN(test_out_of_bounds_pointer_traps);
    RUN(test_negative_length_traps);
    RUN(test_abort_traps);
    RUN(test_time_budget_traps);
    RUN(test_v1_module_refused);
    s_wasm_b = module_b();
    RUN(test_check_module);
    RUN(test_swap);
    RUN(test_swap_kept);
    RUN(test_swap_trap_in_start_rolls_back);
    RUN(test_swap_refused_snapshot_rolls_back);
    RUN(test_swap_rolled_back_on_request);
    RUN(test_swap_not_handed_over);
    free(s_wasm_b);
    free(s_wasm);
    return check_summary("wasm_host");
}
