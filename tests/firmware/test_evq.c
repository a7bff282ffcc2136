/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * pk_evq.h and the POSIX pk_os.h: FIFO order, timeouts, back-pressure of a full queue, data ownership,
 * and a producer/consumer run across threads.
 */
#include <stdatomic.h>
#include <stdlib.h>

#include "check.h"
#include "pk_evq.h"
#include "pk_os.h"

static pk_event_t ev_of(int32_t conn)
{
    pk_event_t ev = {.kind = PK_EV_CLOSED, .gen = 1, .conn = conn};
    return ev;
}

static void test_fifo_and_timeout(void)
{
    pk_evq_t *q = pk_evq_create(4);
    CHECK(q != NULL);
    pk_event_t out;
    int64_t t0 = pk_now_ms();
    CHECK(!pk_evq_wait(q, &out, 50));
    int64_t waited = pk_now_ms() - t0;
    CHECK(waited >= 49 && waited < 1000);
    for (int i = 1; i <= 4; i++) {
        pk_event_t ev = ev_of(i);
        CHECK(pk_evq_post(q, &ev, 0));
    }
    CHECK_EQ_INT(pk_evq_count(q), 4);
    pk_event_t extra = ev_of(5);
    CHECK(!pk_evq_post(q, &extra, 0));
    CHECK(!pk_evq_post(q, &extra, 20));
    for (int i = 1; i <= 4; i++) {
        CHECK(pk_evq_wait(q, &out, 0));
        CHECK_EQ_INT(out.conn, i);
    }
    CHECK(pk_evq_post(q, &extra, 0)); /* room again */
    CHECK(pk_evq_wait(q, &out, PK_WAIT_FOREVER));
    CHECK_EQ_INT(out.conn, 5);
    CHECK_EQ_INT(pk_evq_count(q), 0);
    pk_evq_destroy(q);
    CHECK(pk_evq_create(0) == NULL);
}

static void test_data_ownership(void)
{
    pk_evq_t *q = pk_evq_create(2);
    pk_event_t ev = {.kind = PK_EV_DATA, .gen = 1, .conn = 7, .data = malloc(16), .len = 16};
    CHECK(pk_evq_post(q, &ev, 0));
    pk_event_t ev2 = {.kind = PK_EV_DATA, .gen = 1, .conn = 7, .data = malloc(8), .len = 8};
    CHECK(pk_evq_post(q, &ev2, 0));
    pk_event_t out;
    CHECK(pk_evq_wait(q, &out, 0));
    CHECK(out.data == ev.data && out.len == 16);
    pk_event_release(&out);
    CHECK(out.data == NULL && out.len == 0);
    /* destroying a queue frees what is still in it (ev2); run under valgrind/ASan to see it */
    pk_evq_destroy(q);
}

typedef struct {
    pk_evq_t *q;
    int count;
    /* Posts the producer has started and finished. */
    atomic_int started;
    atomic_int finished;
} producer_t;

static void producer(void *arg)
{
    producer_t *p = arg;
    for (int i = 0; i < p->count; i++) {
        pk_event_t ev = ev_of(i);
        ev.data = malloc(4);
        ev.len = 4;
        atomic_store(&p->started, i + 1);
        if (!pk_evq_post(p->q, &ev, PK_WAIT_FOREVER)) {
            free(ev.data);
        }
        atomic_store(&p->finished, i + 1);
    }
}

/* Polls `cond` for up to `ms`; true as soon as it holds. */
static bool within_ms(int64_t ms, bool (*cond)(producer_t *), producer_t *p)
{
    int64_t until = pk_now_ms() + ms;
    while (!cond(p)) {
        if (pk_now_ms() >= until) {
            return false;
        }
        pk_sleep_ms(1);
    }
    return true;
}

static bool fourth_post_started(producer_t *p)
{
    return atomic_load(&p->started) >= 4;
}

static bool fourth_post_finished(producer_t *p)
{
    return atomic_load(&p->finished) >= 4;
}

static void test_threads_with_back_pressure(void)
{
    pk_evq_t *q = pk_evq_create(3);
    /* static: the detached producer's last store may land after this function returned */
    static producer_t p;
    p.q = q;
    p.count = 2000;
    CHECK(pk_thread_start("producer", producer, &p, 0, 0));

    /* Nobody reads: the producer fills the queue and must then block inside its fourth post. */
    CHECK(within_ms(5000, fourth_post_started, &p));
    CHECK(!within_ms(200, fourth_post_finished, &p)); /* still inside the post 200 ms later */
    CHECK_EQ_INT(atomic_load(&p.finished), 3);
    CHECK_EQ_INT(pk_evq_count(q), 3);

    /* One event taken: exactly that room lets the blocked post complete. */
    pk_event_t out;
    CHECK(pk_evq_wait(q, &out, 0));
    CHECK_EQ_INT(out.conn, 0);
    pk_event_release(&out);
    CHECK(within_ms(5000, fourth_post_finished, &p));

    /* The rest arrive in order, with the producer blocking whenever the queue is full. */
    int next = 1;
    bool in_order = true;
    while (next < p.count && pk_evq_wait(q, &out, 5000)) {
        in_order = in_order && out.conn == next;
        pk_event_release(&out);
        next++;
    }
    CHECK(in_order);
    CHECK_EQ_INT(next, p.count);
    CHECK(pk_evq_count(q) <= 3);
    pk_evq_destroy(q);
}

static void test_clock_and_random(void)
{
    int64_t a = pk_now_ms();
    int64_t au = pk_now_us();
    pk_sleep_ms(20);
    CHECK(pk_now_ms() - a >= 19);
    CHECK(pk_now_us() - au >= 19000);
    CHECK(pk_random_u64() != pk_random_u64());
}

int main(void)
{
    RUN(test_fifo_and_timeout);
    RUN(test_data_ownership);
    RUN(test_threads_with_back_pressure);
    RUN(test_clock_and_random);
    return check_summary("evq");
}
