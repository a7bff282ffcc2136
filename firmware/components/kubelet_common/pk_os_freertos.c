/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * pk_os.h for ESP-IDF: FreeRTOS semaphores and tasks, esp_timer for the monotonic clock, the hardware RNG
 * and esp_log. Timeouts round up to whole ticks so a wait never ends before its deadline.
 */
#include <stdio.h>
#include <stdlib.h>

#include "freertos/FreeRTOS.h"
#include "freertos/semphr.h"
#include "freertos/task.h"
#include "esp_heap_caps.h"
#include "esp_log.h"
#include "esp_random.h"
#include "esp_timer.h"

#include "pk_os.h"

/* Longest formatted log line; longer lines are cut (the core's lines are far shorter). */
#define PK_LOG_LINE_MAX 512

struct pk_mutex {
    SemaphoreHandle_t h;
};

struct pk_sem {
    SemaphoreHandle_t h;
};

typedef struct {
    pk_thread_fn_t fn;
    void *arg;
} thread_start_t;

static pk_log_level_t s_log_level = PK_LOG_INFO;

static TickType_t ms_to_ticks(int64_t timeout_ms)
{
    if (timeout_ms < 0) {
        return portMAX_DELAY;
    }
    int64_t ticks = (timeout_ms * configTICK_RATE_HZ + 999) / 1000;
    if (ticks >= (int64_t)portMAX_DELAY) {
        return portMAX_DELAY - 1;
    }
    return (TickType_t)ticks;
}

int64_t pk_now_ms(void)
{
    return esp_timer_get_time() / 1000;
}

int64_t pk_now_us(void)
{
    return esp_timer_get_time();
}

void pk_sleep_ms(uint32_t ms)
{
    vTaskDelay(ms_to_ticks(ms));
}

uint64_t pk_random_u64(void)
{
    /* esp_random() draws from the hardware RNG (true random while Wi-Fi or the bootloader's entropy is on). */
    return ((uint64_t)esp_random() << 32) | esp_random();
}

pk_mutex_t *pk_mutex_create(void)
{
    pk_mutex_t *m = calloc(1, sizeof(*m));
    if (m == NULL) {
        return NULL;
    }
    m->h = xSemaphoreCreateMutex();
    if (m->h == NULL) {
        free(m);
        return NULL;
    }
    return m;
}

void pk_mutex_lock(pk_mutex_t *m)
{
    xSemaphoreTake(m->h, portMAX_DELAY);
}

void pk_mutex_unlock(pk_mutex_t *m)
{
    xSemaphoreGive(m->h);
}

void pk_mutex_destroy(pk_mutex_t *m)
{
    if (m != NULL) {
        vSemaphoreDelete(m->h);
        free(m);
    }
}

pk_sem_t *pk_sem_create(uint32_t initial, uint32_t max)
{
    pk_sem_t *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    s->h = xSemaphoreCreateCounting(max, initial);
    if (s->h == NULL) {
        free(s);
        return NULL;
    }
    return s;
}

void pk_sem_give(pk_sem_t *s)
{
    xSemaphoreGive(s->h);
}

bool pk_sem_take(pk_sem_t *s, int64_t timeout_ms)
{
    return xSemaphoreTake(s->h, ms_to_ticks(timeout_ms)) == pdTRUE;
}

void pk_sem_destroy(pk_sem_t *s)
{
    if (s != NULL) {
        vSemaphoreDelete(s->h);
        free(s);
    }
}

static void task_trampoline(void *p)
{
    thread_start_t start = *(thread_start_t *)p;
    free(p);
    start.fn(start.arg);
    vTaskDelete(NULL);
}

bool pk_thread_start(const char *name, pk_thread_fn_t fn, void *arg, uint32_t stack_bytes, int priority)
{
    thread_start_t *start = malloc(sizeof(*start));
    if (start == NULL) {
        return false;
    }
    start->fn = fn;
    start->arg = arg;
    /* ESP-IDF's FreeRTOS takes the stack depth in bytes. tskNO_AFFINITY lets the scheduler pick a core. */
    if (xTaskCreatePinnedToCore(task_trampoline, name, stack_bytes ? stack_bytes : 4096, start, priority, NULL,
                                tskNO_AFFINITY) != pdPASS) {
        free(start);
        return false;
    }
    return true;
}

void pk_log_set_level(pk_log_level_t level)
{
    s_log_level = level;
}

void pk_vlog(pk_log_level_t level, const char *tag, const char *fmt, va_list ap)
{
    if (level > s_log_level) {
        return;
    }
    char line[PK_LOG_LINE_MAX];
    vsnprintf(line, sizeof(line), fmt, ap);
    switch (level) {
    case PK_LOG_ERROR:
        ESP_LOGE(tag, "%s", line);
        break;
    case PK_LOG_WARN:
        ESP_LOGW(tag, "%s", line);
        break;
    case PK_LOG_INFO:
        ESP_LOGI(tag, "%s", line);
        break;
    default:
        ESP_LOGD(tag, "%s", line);
        break;
    }
}

void pk_log(pk_log_level_t level, const char *tag, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pk_vlog(level, tag, fmt, ap);
    va_end(ap);
}

void *pk_buffer_alloc(size_t len)
{
    /* PSRAM first (sdkconfig.defaults enables it); internal RAM only if PSRAM is full or absent. */
    void *p = heap_caps_malloc(len, MALLOC_CAP_SPIRAM | MALLOC_CAP_8BIT);
    return p != NULL ? p : heap_caps_malloc(len, MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT);
}
