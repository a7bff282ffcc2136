/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * Runtime limits that wasm3 keeps in internal structures. Compiled inside the wasm3 component, with
 * wasm3's own configuration, so the struct layout it reads is the one the interpreter was built with.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "wasm3.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Caps the linear memory of `runtime` at `bytes` (0: no cap); memory.grow beyond it fails. */
void pk_m3_set_memory_limit(IM3Runtime runtime, uint32_t bytes);

/**
 * Bytes wasm3 holds on the heap now and at most (structures, compiled code pages, value stack and
 * linear memory), counted by its allocator hooks. Not thread-safe: read from the wasm task.
 */
size_t pk_m3_heap_bytes(void);
size_t pk_m3_heap_peak_bytes(void);

/** wasm3's d_m3MaxFunctionStackHeight as built (slots). */
uint32_t pk_m3_max_function_stack_height(void);

#ifdef __cplusplus
}
#endif
