/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * The wasm task's event queue: a bounded FIFO that the network task, the link manager and the host's
 * control code post into, and that the wasm task drains one event at a time (ABI.md: "A host delivers
 * events for one module instance one at a time, in the order they happened").
 *
 * Ownership: an event's `data` is a heap block (malloc) that passes to the queue on a successful post and
 * to the receiver on a successful wait; the receiver frees it with pk_event_release(). A failed post
 * leaves it with the poster. Bounded on purpose: a full queue makes the network task wait, which is
 * the back-pressure that keeps a fast peer from filling the heap.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** What happened. */
typedef enum {
    PK_EV_NONE = 0,
    /** Connection `conn` is established and verified. */
    PK_EV_CONNECTED = 1,
    /** `len` bytes arrived on `conn` in `data`. */
    PK_EV_DATA = 2,
    /** `conn` closed; `arg` is the ABI close reason. */
    PK_EV_CLOSED = 3,
    /** The link changed; the receiver reads the current state itself (the event carries none). */
    PK_EV_LINK = 4,
    /** Stop: `arg` is the ABI shutdown mode. */
    PK_EV_SHUTDOWN = 5,
    /** Wake the receiver without an event of its own (heap reading, watchdog). */
    PK_EV_WAKE = 6,
    /** `conn` can take bytes again after a send that took fewer than offered (on_writable). */
    PK_EV_WRITABLE = 7,
    /** Connection `conn` was accepted on port `arg` from `arg2` (IPv4); `data` holds the client identity lines. */
    PK_EV_ACCEPTED = 8,
    /** Host call `conn` (the request id) finished with status `arg`; `data` holds its result. */
    PK_EV_HOST_RESULT = 9,
} pk_event_kind_t;

/** One event. */
typedef struct {
    pk_event_kind_t kind;
    /** The runtime generation the connection belongs to; events of an older generation are dropped. */
    uint32_t gen;
    int32_t conn;
    int32_t arg;
    /** A second argument (PK_EV_ACCEPTED: the peer's IPv4 address as on_link gives it). */
    int32_t arg2;
    uint8_t *data;
    uint32_t len;
} pk_event_t;

typedef struct pk_evq pk_evq_t;

/** A queue of at most `capacity` events, or NULL when out of memory. */
pk_evq_t *pk_evq_create(uint32_t capacity);

/** Frees the queue and the data of every event still in it. No thread may use it any more. */
void pk_evq_destroy(pk_evq_t *q);

/**
 * Appends a copy of `ev`, waiting at most `timeout_ms` for room (0: do not wait; PK_WAIT_FOREVER: no
 * limit). Returns false, keeping `ev->data` with the caller, when there was no room in time.
 */
bool pk_evq_post(pk_evq_t *q, const pk_event_t *ev, int64_t timeout_ms);

/** Takes the oldest event, waiting at most `timeout_ms`. Returns false on timeout. */
bool pk_evq_wait(pk_evq_t *q, pk_event_t *out, int64_t timeout_ms);

/** Events currently queued. */
uint32_t pk_evq_count(pk_evq_t *q);

/** Frees an event's data and clears it. */
void pk_event_release(pk_event_t *ev);

#ifdef __cplusplus
}
#endif
