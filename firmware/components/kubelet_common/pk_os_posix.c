/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * pk_os.h for POSIX (the Linux host port and the unit tests): pthreads, CLOCK_MONOTONIC, getrandom.
 * Condition variables wait on CLOCK_MONOTONIC so a wall-clock step never stretches a timeout.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "pk_os.h"

struct pk_mutex {
    pthread_mutex_t m;
};

struct pk_sem {
    pthread_mutex_t m;
    pthread_cond_t c;
    uint32_t count;
    uint32_t max;
};

typedef struct {
    pk_thread_fn_t fn;
    void *arg;
} thread_start_t;

static pk_log_level_t s_log_level = PK_LOG_INFO;
static pthread_mutex_t s_log_lock = PTHREAD_MUTEX_INITIALIZER;

int64_t pk_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t pk_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void pk_sleep_ms(uint32_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

uint64_t pk_random_u64(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v)) {
        /* getrandom cannot fail for 8 bytes once the pool is initialised; mix the clock in as a fallback. */
        v ^= (uint64_t)pk_now_ms() * 0x9E3779B97F4A7C15ULL;
    }
    return v;
}

pk_mutex_t *pk_mutex_create(void)
{
    pk_mutex_t *m = calloc(1, sizeof(*m));
    if (m != NULL) {
        pthread_mutex_init(&m->m, NULL);
    }
    return m;
}

void pk_mutex_lock(pk_mutex_t *m)
{
    pthread_mutex_lock(&m->m);
}

void pk_mutex_unlock(pk_mutex_t *m)
{
    pthread_mutex_unlock(&m->m);
}

void pk_mutex_destroy(pk_mutex_t *m)
{
    if (m != NULL) {
        pthread_mutex_destroy(&m->m);
        free(m);
    }
}

pk_sem_t *pk_sem_create(uint32_t initial, uint32_t max)
{
    pk_sem_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->c, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&s->m, NULL);
    s->count = initial;
    s->max = max;
    return s;
}

void pk_sem_give(pk_sem_t *s)
{
    pthread_mutex_lock(&s->m);
    if (s->count < s->max) {
        s->count++;
        pthread_cond_signal(&s->c);
    }
    pthread_mutex_unlock(&s->m);
}

bool pk_sem_take(pk_sem_t *s, int64_t timeout_ms)
{
    struct timespec deadline;
    if (timeout_ms > 0) {
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += timeout_ms / 1000;
        deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    pthread_mutex_lock(&s->m);
    while (s->count == 0) {
        if (timeout_ms == 0) {
            break;
        }
        int rc = timeout_ms < 0 ? pthread_cond_wait(&s->c, &s->m) : pthread_cond_timedwait(&s->c, &s->m, &deadline);
        if (rc == ETIMEDOUT) {
            break;
        }
    }
    bool got = s->count > 0;
    if (got) {
        s->count--;
    }
    pthread_mutex_unlock(&s->m);
    return got;
}

void pk_sem_destroy(pk_sem_t *s)
{
    if (s != NULL) {
        pthread_cond_destroy(&s->c);
        pthread_mutex_destroy(&s->m);
        free(s);
    }
}

static void *thread_trampoline(void *p)
{
    thread_start_t start = *(thread_start_t *)p;
    free(p);
    start.fn(start.arg);
    return NULL;
}

bool pk_thread_start(const char *name, pk_thread_fn_t fn, void *arg, uint32_t stack_bytes, int priority)
{
    (void)priority;
    thread_start_t *start = malloc(sizeof(*start));
    if (start == NULL) {
        return false;
    }
    start->fn = fn;
    start->arg = arg;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    /* PTHREAD_STACK_MIN is a long (sysconf) in newer glibc: compare without a sign change on 32-bit. */
    if ((uint64_t)stack_bytes >= (uint64_t)PTHREAD_STACK_MIN) {
        pthread_attr_setstacksize(&attr, stack_bytes);
    }
    pthread_t t;
    int rc = pthread_create(&t, &attr, thread_trampoline, start);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        free(start);
        return false;
    }
    if (name != NULL) {
        char short_name[16];
        snprintf(short_name, sizeof(short_name), "%s", name);
        pthread_setname_np(t, short_name);
    }
    return true;
}

void pk_log_set_level(pk_log_level_t level)
{
    s_log_level = level;
}

void pk_vlog(pk_log_level_t level, const char *tag, const char *fmt, va_list ap)
{
    static const char letters[] = {'E', 'W', 'I', 'D'};
    if (level > s_log_level) {
        return;
    }
    int64_t now = pk_now_ms();
    pthread_mutex_lock(&s_log_lock);
    fprintf(stderr, "%c (%lld.%03lld) %s: ", letters[level & 3], (long long)(now / 1000), (long long)(now % 1000),
            tag);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    fflush(stderr);
    pthread_mutex_unlock(&s_log_lock);
}

void pk_log(pk_log_level_t level, const char *tag, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pk_vlog(level, tag, fmt, ap);
    va_end(ap);
}

static atomic_uint s_buffer_fail_next;

void pk_buffer_alloc_fail_next(uint32_t count)
{
    atomic_store(&s_buffer_fail_next, count);
}

void *pk_buffer_alloc(size_t len)
{
    unsigned int left = atomic_load(&s_buffer_fail_next);
    while (left > 0) {
        if (atomic_compare_exchange_weak(&s_buffer_fail_next, &left, left - 1)) {
            return NULL;
        }
    }
    return malloc(len == 0 ? 1 : len);
}
