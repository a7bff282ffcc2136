/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * Shared between wasm_host.c (lifecycle and loop) and wasm_imports.c (the host functions).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "wasm3.h"

#include "pk_evq.h"
#include "wasm_host.h"

/** The exports the host calls, looked up once per runtime. */
typedef struct {
    IM3Function abi_version;
    IM3Function io_buffer;
    IM3Function io_buffer_size;
    IM3Function config_write;
    IM3Function start;
    IM3Function on_link;
    IM3Function on_heap;
    IM3Function on_connected;
    IM3Function on_data;
    IM3Function on_closed;
    IM3Function on_writable;
    IM3Function on_accepted;
    IM3Function on_host_result;
    /** Optional (NULL when the core lacks it): the CPU time the host measured, cumulative. */
    IM3Function on_cpu;
    /** Optional too: the snapshot exports brain swaps use (NULL: this module cannot hand over or resume). */
    IM3Function snapshot_write;
    IM3Function snapshot_take;
    IM3Function snapshot_read;
    IM3Function on_timer;
    IM3Function next_deadline;
    IM3Function shutdown;
    IM3Function stat;
    IM3Function collect;
} wasm_exports_t;

struct wasm_host {
    wasm_host_config_t cfg;
    IM3Environment env;
    IM3Runtime runtime;
    wasm_exports_t fn;
    uint32_t gen;
    /** io_buffer() offset and size of the current instance. */
    uint32_t io_offset;
    uint32_t io_size;
    /** next_deadline() after the last call; -1 for none. */
    int64_t deadline;
    /** `now` of the last on_timer call (a deadline not beyond it must not make the loop spin). */
    int64_t last_timer_at;
    /** Set by a trap during the current turn (the M3Result, a static string). */
    const char *trap;
    /** Detail for the trap, written by the import that raised it. */
    char trap_detail[160];
    /** Last link and heap reported to this instance. */
    wasm_host_link_t link_reported;
    bool link_valid;
    uint32_t heap_free;
    uint32_t heap_total;
    /** A shutdown was requested (mode) and when. */
    bool stopping;
    int64_t stopping_since;
    /** Start of the export call in progress (for the time budget), microseconds; 0 outside calls. */
    int64_t call_started_us;
    uint32_t yield_count;
    uint32_t consecutive_traps;
    /** The first import that did not link (for the log line), set by wasm_host_link_imports. */
    const char *link_error_name;
    /** Microseconds this instance spent inside export calls, and when on_cpu last reported them. */
    int64_t busy_us;
    int64_t cpu_reported_at;
    wasm_host_metrics_t metrics;
    /**
     * Closes raised on the wasm task itself (a connect refused at once), delivered in order before the
     * next event from the queue. Kept here rather than posted to the queue so that none is ever lost.
     */
    pk_event_t *pending;
    uint32_t pending_count;
    uint32_t pending_cap;
    /** The module running now: cfg.wasm, or a swapped-in one (owned, freed when replaced). */
    const uint8_t *wasm;
    size_t wasm_size;
    uint8_t *wasm_owned;
    /** The snapshot the next boot resumes from (owned; NULL: a fresh start). */
    uint8_t *resume;
    size_t resume_len;
    /** A swap armed for after the result of request swap_req, to swap_wasm (owned). */
    bool swap_armed;
    bool swap_now;
    int32_t swap_req;
    uint8_t *swap_wasm;
    size_t swap_size;
    /** The module before a swap on probation, with the snapshot it handed over (owned). */
    bool prev_held;
    const uint8_t *prev_wasm;
    size_t prev_size;
    uint8_t *prev_owned;
    uint8_t *prev_snapshot;
    size_t prev_snapshot_len;
    /** A rollback asked for (wasm_host_roll_back), done at the end of the turn. */
    bool rollback_pending;
    char rollback_reason[48];
    char rollback_detail[256];
    /** Why the last boot failed, in words (for a rollback's message), and start()'s result. */
    char boot_error[200];
    int32_t start_rc;
};

/** Links every import the core declares (ABI.md "Imports") to `host`'s functions. */
M3Result wasm_host_link_imports(wasm_host_t *host, IM3Module module);

/** Records the detail of a trap raised by an import (the first one of a turn wins). */
void wasm_host_note_trap(wasm_host_t *host, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/**
 * Records a close of `conn` for this host's own instance (synchronous connect failures), delivered after
 * the current call. False when there was no memory for the record: the caller traps (the instance is
 * rebuilt, which the core survives) rather than lose the close.
 */
bool wasm_host_queue_closed(wasm_host_t *host, int32_t conn, int32_t reason);
