/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * The operating-system seam: the few primitives the portable host code needs (monotonic clock, mutex,
 * counting semaphore, thread, entropy, log). pk_os_posix.c implements them for the Linux host port and
 * the unit tests, pk_os_freertos.c for ESP-IDF. Nothing above this header knows which one it runs on.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Wait forever (pk_sem_take, pk_evq_wait). */
#define PK_WAIT_FOREVER (-1)

/** Log levels; the numbers are the ABI's LOG_* values (assembly/ABI.md "Imports"). */
typedef enum {
    PK_LOG_ERROR = 0,
    PK_LOG_WARN = 1,
    PK_LOG_INFO = 2,
    PK_LOG_DEBUG = 3,
} pk_log_level_t;

typedef struct pk_mutex pk_mutex_t;
typedef struct pk_sem pk_sem_t;

/** Monotonic milliseconds since an arbitrary origin before the first call (boot on the device). */
int64_t pk_now_ms(void);

/** Monotonic microseconds (same origin as pk_now_ms), for measurements. */
int64_t pk_now_us(void);

/** Sleeps the calling thread. */
void pk_sleep_ms(uint32_t ms);

/** 64 bits from the platform's entropy source (hardware RNG, getrandom). */
uint64_t pk_random_u64(void);

/** A non-recursive mutex, or NULL when out of memory. */
pk_mutex_t *pk_mutex_create(void);
void pk_mutex_lock(pk_mutex_t *m);
void pk_mutex_unlock(pk_mutex_t *m);
void pk_mutex_destroy(pk_mutex_t *m);

/** A counting semaphore holding `initial` of at most `max` counts, or NULL when out of memory. */
pk_sem_t *pk_sem_create(uint32_t initial, uint32_t max);
/** Adds one count (never blocks; a give beyond `max` is dropped). */
void pk_sem_give(pk_sem_t *s);
/** Takes one count, waiting at most `timeout_ms` (PK_WAIT_FOREVER: no limit). Returns false on timeout. */
bool pk_sem_take(pk_sem_t *s, int64_t timeout_ms);
void pk_sem_destroy(pk_sem_t *s);

/**
 * A byte buffer for network data in flight (received chunks waiting in the event queue, output waiting
 * for the socket), freed with free(). On the board it comes from PSRAM, falling back to internal RAM:
 * up to a queue's worth of chunks can wait at once, and internal RAM is what Wi-Fi, lwIP and mbedTLS
 * need. NULL when out of memory.
 */
void *pk_buffer_alloc(size_t len);

#ifndef ESP_PLATFORM
/** Tests only (POSIX): the next `count` pk_buffer_alloc calls fail as if out of memory. */
void pk_buffer_alloc_fail_next(uint32_t count);
#endif

/** Thread body. */
typedef void (*pk_thread_fn_t)(void *arg);

/**
 * Starts a detached thread. `stack_bytes` and `priority` are honoured on FreeRTOS (priority is a FreeRTOS
 * priority) and ignored on POSIX, except that a non-zero `stack_bytes` sets the pthread stack size.
 * Returns false when the thread could not be created.
 */
bool pk_thread_start(const char *name, pk_thread_fn_t fn, void *arg, uint32_t stack_bytes, int priority);

/** Writes one log line (`tag` names the component). Never blocks on the network. */
void pk_log(pk_log_level_t level, const char *tag, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/** Same, with a va_list. */
void pk_vlog(pk_log_level_t level, const char *tag, const char *fmt, va_list ap);
/** Only lines at or below this level are written (default PK_LOG_INFO). */
void pk_log_set_level(pk_log_level_t level);

#define PK_LOGE(tag, ...) pk_log(PK_LOG_ERROR, tag, __VA_ARGS__)
#define PK_LOGW(tag, ...) pk_log(PK_LOG_WARN, tag, __VA_ARGS__)
#define PK_LOGI(tag, ...) pk_log(PK_LOG_INFO, tag, __VA_ARGS__)
#define PK_LOGD(tag, ...) pk_log(PK_LOG_DEBUG, tag, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
