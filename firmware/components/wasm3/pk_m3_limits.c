/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * pk_m3_limits.h. m3_env.h is wasm3's internal header; this file is the only place we touch it.
 */
#include "m3_env.h"

#include "pk_m3_limits.h"

void pk_m3_set_memory_limit(IM3Runtime runtime, uint32_t bytes)
{
    runtime->memoryLimit = bytes;
}

uint32_t pk_m3_max_function_stack_height(void)
{
    return d_m3MaxFunctionStackHeight;
}
