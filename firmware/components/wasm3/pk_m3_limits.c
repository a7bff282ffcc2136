/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * pk_m3_limits.h. m3_env.h is wasm3's internal header; this file is the only place we touch it.
 */
#include "m3_env.h"

#include "pk_m3_limits.h"

#if defined(ESP_PLATFORM)
#include "sdkconfig.h"
#endif

/*
 * wasm3's allocator: m3_core.c is compiled with calloc/realloc/free renamed to these three, which
 * count the bytes wasm3 holds (pk_m3_heap_bytes) and, on the device, put them in PSRAM first.
 */
#include <stdlib.h>

#if defined(ESP_PLATFORM)
#include "esp_heap_caps.h"
#define PK_M3_CAPS (MALLOC_CAP_SPIRAM | MALLOC_CAP_8BIT)
#define block_size(p) heap_caps_get_allocated_size(p)
#else
#include <malloc.h>
#define block_size(p) malloc_usable_size(p)
#endif

void *pk_m3_calloc(size_t n, size_t size);
void *pk_m3_realloc(void *ptr, size_t size);
void pk_m3_free(void *ptr);

static size_t s_live;
static size_t s_peak;

static void account(void *p, size_t old_size)
{
    s_live -= old_size;
    if (p != NULL) {
        s_live += block_size(p);
    }
    if (s_live > s_peak) {
        s_peak = s_live;
    }
}

void *pk_m3_calloc(size_t n, size_t size)
{
#if defined(ESP_PLATFORM) && CONFIG_PICOKUBELET_WASM3_IN_PSRAM
    void *p = heap_caps_calloc(n, size, PK_M3_CAPS);
    if (p == NULL) {
        p = calloc(n, size);
    }
#else
    void *p = calloc(n, size);
#endif
    account(p, 0);
    return p;
}

void *pk_m3_realloc(void *ptr, size_t size)
{
    size_t old = ptr != NULL ? block_size(ptr) : 0;
#if defined(ESP_PLATFORM) && CONFIG_PICOKUBELET_WASM3_IN_PSRAM
    void *p = heap_caps_realloc(ptr, size, PK_M3_CAPS);
    if (p == NULL && size != 0) {
        p = realloc(ptr, size);
    }
#else
    void *p = realloc(ptr, size);
#endif
    if (p != NULL || size == 0) {
        account(p, old);
    }
    return p;
}

void pk_m3_free(void *ptr)
{
    if (ptr != NULL) {
        account(NULL, block_size(ptr));
        free(ptr);
    }
}

size_t pk_m3_heap_bytes(void)
{
    return s_live;
}

size_t pk_m3_heap_peak_bytes(void)
{
    return s_peak;
}

void pk_m3_set_memory_limit(IM3Runtime runtime, uint32_t bytes)
{
    runtime->memoryLimit = bytes;
}

uint32_t pk_m3_max_function_stack_height(void)
{
    return d_m3MaxFunctionStackHeight;
}
