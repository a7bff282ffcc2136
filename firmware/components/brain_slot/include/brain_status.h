/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * OP_BRAIN_STATUS's answer (docs/brain.md "Store and verify", "Roll back"): which brain this instance is
 * and the last swap that was rolled back, as the lines host-sim/src/brain/swap.ts statusLines writes.
 */
#pragma once

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct brain_state {
    char running[80]; /* manifest digest of the running brain; "" for the one the host started with */
    char failed[80];  /* the digest of the last swap rolled back; "" for none */
    char reason[48];  /* its reason word (BrainCrashed, BrainRefusedSnapshot, BrainNotRenewing) */
    char message[256];
} brain_state_t;

/*
 * Writes `running=…\n` (when running is set) and `failed=…\nreason=…\nmessage=…\n` (when failed is set;
 * runs of CR/LF in the message become one space) to out. Returns the length (without the NUL out also
 * gets), or -1 when out is too small.
 */
long brain_status_lines(const brain_state_t *s, char *out, size_t out_size);

#ifdef __cplusplus
}
#endif
