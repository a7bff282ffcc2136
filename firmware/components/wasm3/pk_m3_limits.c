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

#if defined(ESP_PLATFORM) && CONFIG_PICOKUBELET_WASM3_IN_PSRAM
#include <stdlib.h>

#include "esp_heap_caps.h"

/*
 * wasm3's allocator (m3_core.c is compiled with calloc/realloc/free renamed to these): PSRAM first,
 * internal RAM only when PSRAM is exhausted.
 */
#define PK_M3_CAPS (MALLOC_CAP_SPIRAM | MALLOC_CAP_8BIT)

void *pk_m3_calloc(size_t n, size_t size);
void *pk_m3_realloc(void *ptr, size_t size);
void pk_m3_free(void *ptr);

void *pk_m3_calloc(size_t n, size_t size)
{
    void *p = heap_caps_calloc(n, size, PK_M3_CAPS);
    return p != NULL ? p : calloc(n, size);
}

void *pk_m3_realloc(void *ptr, size_t size)
{
    void *p = heap_caps_realloc(ptr, size, PK_M3_CAPS);
    return p != NULL || size == 0 ? p : realloc(ptr, size);
}

void pk_m3_free(void *ptr)
{
    heap_caps_free(ptr);
}
#endif

void pk_m3_set_memory_limit(IM3Runtime runtime, uint32_t bytes)
{
    runtime->memoryLimit = bytes;
}

uint32_t pk_m3_max_function_stack_height(void)
{
    return d_m3MaxFunctionStackHeight;
}
