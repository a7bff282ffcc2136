/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * wasm_host.h: the wasm3 lifecycle, the event loop and trap recovery. See the header for the theory of
 * operation. Memory rule (ABI.md "Memory ownership"): linear memory may move whenever the module runs,
 * so the base is fetched again (m3_GetMemory) right before every copy into it and never kept.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wasm3.h"

#include "kubelet_abi.h"
#include "pk_m3_limits.h"
#include "pk_os.h"
#include "wasm_host_priv.h"

static const char *TAG = "wasm";

/* Instances that ran at least this long reset the trap back-off. */
#define HEALTHY_RUN_MS (5 * 60 * 1000)
/* Longest trap back-off. */
#define MAX_RESTART_DELAY_MS 60000
/* m3_Yield runs on every wasm call; look at the clock once per this many (a power of two). */
#define YIELD_CHECK_EVERY 1024u

typedef enum {
    BOOT_OK = 0,
    /* The instance trapped while booting: retry after a back-off. */
    BOOT_TRAP = 1,
    /* The module or the configuration cannot run at all. */
    BOOT_FATAL = 2,
    /* start() (or snapshot_write) refused: the configuration, or the snapshot of a swap. */
    BOOT_REFUSED = 3,
} boot_result_t;

/* Why a boot failed, kept for a rollback's message (the log line says it too). */
#define BOOT_ERROR(h, ...) snprintf((h)->boot_error, sizeof((h)->boot_error), __VA_ARGS__)

/* The host whose export call is in progress (there is one wasm task), for m3_Yield. */
static wasm_host_t *s_active;
static const char k_trap_budget[] = "[trap] a call into the core exceeded its time budget";
static const char k_trap_io[] = "[trap] io_buffer lies outside linear memory";

/*
 * wasm3 calls m3_Yield on every wasm call (a weak symbol in m3_core.c; this strong one replaces it).
 * It feeds the watchdog during long calls and aborts a call that runs over its time budget; a loop
 * without calls cannot be interrupted this way (the core has none that depend on input).
 */
M3Result m3_Yield(void)
{
    wasm_host_t *h = s_active;
    if (h == NULL || (++h->yield_count & (YIELD_CHECK_EVERY - 1)) != 0) {
        return m3Err_none;
    }
    if (h->cfg.ops.watchdog != NULL) {
        h->cfg.ops.watchdog(h->cfg.ops.ctx);
    }
    if (h->cfg.call_budget_ms > 0 && h->call_started_us > 0 &&
        pk_now_us() - h->call_started_us > (int64_t)h->cfg.call_budget_ms * 1000) {
        wasm_host_note_trap(h, "the call ran longer than %" PRIu32 " ms", h->cfg.call_budget_ms);
        return k_trap_budget;
    }
    return m3Err_none;
}

void wasm_host_note_trap(wasm_host_t *host, const char *fmt, ...)
{
    if (host->trap_detail[0] != '\0') {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(host->trap_detail, sizeof(host->trap_detail), fmt, ap);
    va_end(ap);
}

bool wasm_host_queue_closed(wasm_host_t *host, int32_t conn, int32_t reason)
{
    if (host->pending_count == host->pending_cap) {
        uint32_t cap = host->pending_cap == 0 ? 4 : host->pending_cap * 2;
        pk_event_t *grown = realloc(host->pending, cap * sizeof(*grown));
        if (grown == NULL) {
            /* Losing the close would desynchronise the core; a rebuilt instance starts consistent. */
            wasm_host_note_trap(host, "no memory to record the close of connection %" PRId32, conn);
            return false;
        }
        host->pending = grown;
        host->pending_cap = cap;
    }
    host->pending[host->pending_count++] =
        (pk_event_t){.kind = PK_EV_CLOSED, .gen = host->gen, .conn = conn, .arg = reason};
    return true;
}

bool wasm_host_queue_result(wasm_host_t *host, int32_t req, int32_t status, const uint8_t *data, size_t len)
{
    uint8_t *copy = NULL;
    if (len > 0) {
        copy = malloc(len);
        if (copy == NULL) {
            return false;
        }
        memcpy(copy, data, len);
    }
    if (!wasm_host_queue_closed(host, req, 0)) {
        free(copy);
        return false;
    }
    host->pending[host->pending_count - 1] = (pk_event_t){
        .kind = PK_EV_HOST_RESULT, .gen = host->gen, .conn = req, .arg = status, .data = copy, .len = (uint32_t)len};
    return true;
}

/* Drops the recorded events of the instance going away (and their bytes). */
static void drop_pending(wasm_host_t *h)
{
    for (uint32_t i = 0; i < h->pending_count; i++) {
        pk_event_release(&h->pending[i]);
    }
    h->pending_count = 0;
}

/* Takes the oldest recorded close; false if there is none. */
static bool take_pending(wasm_host_t *h, pk_event_t *out)
{
    if (h->pending_count == 0) {
        return false;
    }
    *out = h->pending[0];
    h->pending_count--;
    memmove(h->pending, h->pending + 1, h->pending_count * sizeof(*h->pending));
    return true;
}

/* Calls an export with its arguments; on failure records the trap and returns false. */
static bool call(wasm_host_t *h, IM3Function f, ...)
{
    if (h->trap != NULL || h->runtime == NULL) {
        return false;
    }
    va_list ap;
    va_start(ap, f);
    s_active = h;
    h->call_started_us = pk_now_us();
    M3Result r = m3_CallVL(f, ap);
    int64_t took = pk_now_us() - h->call_started_us;
    h->call_started_us = 0;
    s_active = NULL;
    va_end(ap);
    h->metrics.calls++;
    h->busy_us += took;
    if (took > h->metrics.longest_call_us) {
        h->metrics.longest_call_us = took;
    }
    if (h->cfg.call_budget_ms > 0 && took > (int64_t)h->cfg.call_budget_ms * 500) {
        pk_log(PK_LOG_WARN, TAG, "%s() took %" PRId64 " ms, over half its budget", m3_GetFunctionName(f), took / 1000);
    } else if (took > 5000) {
        pk_log(PK_LOG_DEBUG, TAG, "%s() took %" PRId64 " us", m3_GetFunctionName(f), took);
    }
    if (r != m3Err_none) {
        M3ErrorInfo info;
        memset(&info, 0, sizeof(info));
        m3_GetErrorInfo(h->runtime, &info);
        h->trap = r;
        pk_log(PK_LOG_ERROR, TAG, "trap in %s(): %s%s%s%s%s", m3_GetFunctionName(f), r,
               h->trap_detail[0] ? " - " : "", h->trap_detail, (info.message && info.message[0]) ? " - " : "",
               info.message ? info.message : "");
        return false;
    }
    return true;
}

static int32_t result_i32(IM3Function f)
{
    int32_t v = 0;
    m3_GetResultsV(f, &v);
    return v;
}

static int64_t result_i64(IM3Function f)
{
    int64_t v = 0;
    m3_GetResultsV(f, &v);
    return v;
}

/* Copies bytes to io_buffer; false (and a trap) if it does not lie inside linear memory. */
static bool write_io(wasm_host_t *h, const uint8_t *src, uint32_t len)
{
    uint32_t size = 0;
    uint8_t *mem = m3_GetMemory(h->runtime, &size, 0);
    if (mem == NULL || len > h->io_size || (uint64_t)h->io_offset + len > size) {
        wasm_host_note_trap(h, "io_buffer [%" PRIu32 ", +%" PRIu32 ") vs memory of %" PRIu32 " bytes", h->io_offset,
                            len, size);
        h->trap = k_trap_io;
        pk_log(PK_LOG_ERROR, TAG, "%s - %s", k_trap_io, h->trap_detail);
        return false;
    }
    memcpy(mem + h->io_offset, src, len);
    return true;
}

static void free_runtime(wasm_host_t *h)
{
    if (h->runtime != NULL) {
        m3_FreeRuntime(h->runtime);
        h->runtime = NULL;
    }
    if (h->env != NULL) {
        m3_FreeEnvironment(h->env);
        h->env = NULL;
    }
    memset(&h->fn, 0, sizeof(h->fn));
}

static M3Result find_exports(wasm_host_t *h)
{
    static const struct {
        const char *name;
        size_t offset;
    } exports[] = {
        {"abi_version", offsetof(wasm_exports_t, abi_version)},
        {"io_buffer", offsetof(wasm_exports_t, io_buffer)},
        {"io_buffer_size", offsetof(wasm_exports_t, io_buffer_size)},
        {"config_write", offsetof(wasm_exports_t, config_write)},
        {"start", offsetof(wasm_exports_t, start)},
        {"on_link", offsetof(wasm_exports_t, on_link)},
        {"on_heap", offsetof(wasm_exports_t, on_heap)},
        {"on_connected", offsetof(wasm_exports_t, on_connected)},
        {"on_data", offsetof(wasm_exports_t, on_data)},
        {"on_closed", offsetof(wasm_exports_t, on_closed)},
        {"on_writable", offsetof(wasm_exports_t, on_writable)},
        {"on_accepted", offsetof(wasm_exports_t, on_accepted)},
        {"on_host_result", offsetof(wasm_exports_t, on_host_result)},
        {"on_timer", offsetof(wasm_exports_t, on_timer)},
        {"next_deadline", offsetof(wasm_exports_t, next_deadline)},
        {"shutdown", offsetof(wasm_exports_t, shutdown)},
        {"stat", offsetof(wasm_exports_t, stat)},
        {"__collect", offsetof(wasm_exports_t, collect)},
    };
    for (size_t i = 0; i < sizeof(exports) / sizeof(exports[0]); i++) {
        IM3Function *slot = (IM3Function *)((char *)&h->fn + exports[i].offset);
        M3Result r = m3_FindFunction(slot, h->runtime, exports[i].name);
        if (r != m3Err_none) {
            pk_log(PK_LOG_ERROR, TAG, "the module does not export %s(): %s", exports[i].name, r);
            return r;
        }
    }
    /* Optional: a core without it simply gets no CPU readings. */
    if (m3_FindFunction(&h->fn.on_cpu, h->runtime, "on_cpu") != m3Err_none) {
        h->fn.on_cpu = NULL;
    }
    if (m3_FindFunction(&h->fn.snapshot_write, h->runtime, "snapshot_write") != m3Err_none) {
        h->fn.snapshot_write = NULL;
    }
    if (m3_FindFunction(&h->fn.snapshot_take, h->runtime, "snapshot_take") != m3Err_none) {
        h->fn.snapshot_take = NULL;
    }
    if (m3_FindFunction(&h->fn.snapshot_read, h->runtime, "snapshot_read") != m3Err_none) {
        h->fn.snapshot_read = NULL;
    }
    return m3Err_none;
}

/* on_cpu: the time this instance has spent in its exports (its CPU time: the core runs only inside them),
 * at most once a second. */
static void report_cpu(wasm_host_t *h, int64_t now)
{
    if (h->fn.on_cpu == NULL || now - h->cpu_reported_at < 1000) {
        return;
    }
    h->cpu_reported_at = now;
    int64_t busy = h->busy_us;
    call(h, h->fn.on_cpu, now, busy);
}

static void report_heap(wasm_host_t *h, int64_t now)
{
    uint32_t free_bytes = 0;
    uint32_t total = 0;
    h->cfg.ops.heap(h->cfg.ops.ctx, &free_bytes, &total);
    if (call(h, h->fn.on_heap, now, (int32_t)free_bytes, (int32_t)total)) {
        h->heap_free = free_bytes;
        h->heap_total = total;
    }
}

static void sync_link(wasm_host_t *h, int64_t now)
{
    wasm_host_link_t link;
    memset(&link, 0, sizeof(link));
    h->cfg.ops.link(h->cfg.ops.ctx, &link);
    if (h->link_valid && link.kind == h->link_reported.kind && link.ipv4 == h->link_reported.ipv4 &&
        link.bssid == h->link_reported.bssid && link.rssi == h->link_reported.rssi) {
        return;
    }
    if (call(h, h->fn.on_link, now, link.kind, (int32_t)link.ipv4, (int64_t)link.bssid, link.rssi)) {
        h->link_reported = link;
        h->link_valid = true;
    }
}

/* Runs the collector, asks for the next deadline and notes the memory size. */
static void settle(wasm_host_t *h)
{
    if (!call(h, h->fn.collect)) {
        return;
    }
    if (call(h, h->fn.next_deadline)) {
        h->deadline = result_i64(h->fn.next_deadline);
    }
    uint32_t size = m3_GetMemorySize(h->runtime);
    h->metrics.wasm3_heap_bytes = (uint32_t)pk_m3_heap_bytes();
    h->metrics.wasm3_heap_peak_bytes = (uint32_t)pk_m3_heap_peak_bytes();
    h->metrics.memory_bytes = size;
    if (size > h->metrics.memory_peak_bytes) {
        h->metrics.memory_peak_bytes = size;
    }
}

/* Asks abi_version() and refuses a module outside KUBELET_ABI_VERSION_MIN..MAX. */
static boot_result_t check_version(wasm_host_t *h)
{
    M3Result r = m3_FindFunction(&h->fn.abi_version, h->runtime, "abi_version");
    if (r != m3Err_none) {
        pk_log(PK_LOG_ERROR, TAG, "the module does not export abi_version(): %s", r);
        return BOOT_FATAL;
    }
    if (!call(h, h->fn.abi_version)) {
        return BOOT_FATAL;
    }
    int32_t version = result_i32(h->fn.abi_version);
    if (version < KUBELET_ABI_VERSION_MIN || version > KUBELET_ABI_VERSION_MAX) {
        pk_log(PK_LOG_ERROR, TAG,
               "the core speaks ABI version %" PRId32 "; this firmware runs version%s %d..%d: rebuild the core "
               "from the same checkout (npm run build) and flash both together",
               version, KUBELET_ABI_VERSION_MIN == KUBELET_ABI_VERSION_MAX ? "" : "s", KUBELET_ABI_VERSION_MIN,
               KUBELET_ABI_VERSION_MAX);
        return BOOT_FATAL;
    }
    return BOOT_OK;
}

static boot_result_t boot(wasm_host_t *h)
{
    int64_t t0 = pk_now_us();
    h->trap = NULL;
    h->trap_detail[0] = '\0';
    h->boot_error[0] = '\0';
    h->start_rc = KUBELET_OK;
    h->link_valid = false;
    h->deadline = -1;
    h->last_timer_at = -1;
    h->env = m3_NewEnvironment();
    h->runtime = h->env ? m3_NewRuntime(h->env, h->cfg.stack_bytes, h) : NULL;
    if (h->runtime == NULL) {
        pk_log(PK_LOG_ERROR, TAG, "out of memory creating the wasm3 runtime (stack %" PRIu32 " bytes)",
               h->cfg.stack_bytes);
        return BOOT_TRAP;
    }
    if (h->cfg.memory_limit > 0) {
        pk_m3_set_memory_limit(h->runtime, h->cfg.memory_limit);
    }
    IM3Module module = NULL;
    M3Result r = m3_ParseModule(h->env, &module, h->wasm, (uint32_t)h->wasm_size);
    if (r != m3Err_none) {
        pk_log(PK_LOG_ERROR, TAG, "the module does not parse: %s", r);
        BOOT_ERROR(h, "the module does not parse: %s", r);
        return BOOT_FATAL;
    }
    r = m3_LoadModule(h->runtime, module);
    if (r != m3Err_none) {
        m3_FreeModule(module);
        pk_log(PK_LOG_ERROR, TAG, "the module does not load: %s", r);
        BOOT_ERROR(h, "the module does not load: %s", r);
        return r == m3Err_mallocFailed ? BOOT_TRAP : BOOT_FATAL;
    }
    /* The version before any link failure is reported: a module of another version has other import
     * signatures, and a link error would name neither version (ABI.md "Versions"). abi_version() calls
     * no import, and the imports that did link are enough to run the module's start function. */
    r = wasm_host_link_imports(h, module);
    boot_result_t v = check_version(h);
    if (v != BOOT_OK) {
        return v;
    }
    if (r != m3Err_none) {
        pk_log(PK_LOG_ERROR, TAG, "linking the import %s: %s", h->link_error_name ? h->link_error_name : "?", r);
        BOOT_ERROR(h, "linking the import %s: %s", h->link_error_name ? h->link_error_name : "?", r);
        return BOOT_FATAL;
    }
    int64_t t1 = pk_now_us();
    r = m3_CompileModule(module);
    int64_t t2 = pk_now_us();
    if (r != m3Err_none) {
        M3ErrorInfo info;
        memset(&info, 0, sizeof(info));
        m3_GetErrorInfo(h->runtime, &info);
        pk_log(PK_LOG_ERROR, TAG, "the module does not compile under wasm3 %s: %s %s", M3_VERSION, r,
               info.message ? info.message : "");
        BOOT_ERROR(h, "the module does not compile under wasm3 %s: %s", M3_VERSION, r);
        return r == m3Err_mallocFailed || r == m3Err_mallocFailedCodePage ? BOOT_TRAP : BOOT_FATAL;
    }
    h->metrics.load_us = t1 - t0;
    h->metrics.compile_us = t2 - t1;
    h->metrics.runtime_heap_bytes = (uint32_t)pk_m3_heap_bytes();
    if (find_exports(h) != m3Err_none) {
        return BOOT_FATAL;
    }
    if (!call(h, h->fn.io_buffer)) {
        return BOOT_TRAP;
    }
    h->io_offset = (uint32_t)result_i32(h->fn.io_buffer);
    if (!call(h, h->fn.io_buffer_size)) {
        return BOOT_TRAP;
    }
    int32_t io_size = result_i32(h->fn.io_buffer_size);
    if (io_size <= 0) {
        pk_log(PK_LOG_ERROR, TAG, "io_buffer_size() is %" PRId32, io_size);
        return BOOT_FATAL;
    }
    h->io_size = (uint32_t)io_size;
    for (size_t done = 0; done < h->cfg.config_len;) {
        uint32_t n = (uint32_t)(h->cfg.config_len - done < h->io_size ? h->cfg.config_len - done : h->io_size);
        if (!write_io(h, (const uint8_t *)h->cfg.config_json + done, n) || !call(h, h->fn.config_write, (int32_t)n)) {
            return BOOT_TRAP;
        }
        int32_t rc = result_i32(h->fn.config_write);
        if (rc != KUBELET_OK) {
            pk_log(PK_LOG_ERROR, TAG, "config_write refused the configuration document (error %" PRId32 ", %zu bytes)",
                   rc, h->cfg.config_len);
            return BOOT_FATAL;
        }
        done += n;
    }
    /* A swap's snapshot after the configuration and before start (ABI.md "Snapshot"). */
    if (h->resume != NULL && h->fn.snapshot_write == NULL) {
        BOOT_ERROR(h, "the module does not export snapshot_write()");
        pk_log(PK_LOG_ERROR, TAG, "%s: it cannot resume from a snapshot", h->boot_error);
        return BOOT_REFUSED;
    }
    for (size_t done = 0; h->resume != NULL && done < h->resume_len;) {
        uint32_t n = (uint32_t)(h->resume_len - done < h->io_size ? h->resume_len - done : h->io_size);
        if (!write_io(h, h->resume + done, n) || !call(h, h->fn.snapshot_write, (int32_t)n)) {
            return BOOT_TRAP;
        }
        int32_t rc = result_i32(h->fn.snapshot_write);
        if (rc != KUBELET_OK) {
            pk_log(PK_LOG_ERROR, TAG, "snapshot_write refused the %zu-byte snapshot (error %" PRId32 ")", h->resume_len, rc);
            BOOT_ERROR(h, "snapshot_write returned error %" PRId32 " for the %zu-byte snapshot", rc, h->resume_len);
            h->start_rc = rc;
            return BOOT_REFUSED;
        }
        done += n;
    }
    int64_t now = pk_now_ms();
    report_heap(h, now);
    uint64_t seed = pk_random_u64();
    if (!call(h, h->fn.start, now, (int64_t)seed)) {
        BOOT_ERROR(h, "it trapped in start: %s%s%s", h->trap, h->trap_detail[0] ? " - " : "", h->trap_detail);
        return BOOT_TRAP;
    }
    int32_t rc = result_i32(h->fn.start);
    if (rc != KUBELET_OK) {
        pk_log(PK_LOG_ERROR, TAG, "start() refused the configuration%s (error %" PRId32 "); see the core's lines above",
               h->resume != NULL ? " or the snapshot" : "", rc);
        BOOT_ERROR(h, "start returned error %" PRId32, rc);
        h->start_rc = rc;
        return BOOT_REFUSED;
    }
    h->metrics.boot_us = pk_now_us() - t0;
    sync_link(h, pk_now_ms());
    settle(h);
    if (h->trap != NULL) {
        BOOT_ERROR(h, "it trapped after start: %s%s%s", h->trap, h->trap_detail[0] ? " - " : "", h->trap_detail);
        return BOOT_TRAP;
    }
    pk_log(PK_LOG_INFO, TAG,
           "core running under wasm3 %s (generation %" PRIu32 "): load %" PRId64 " us, compile %" PRId64
           " us, boot %" PRId64 " us, wasm3 heap %" PRIu32 " bytes of which linear memory %" PRIu32,
           M3_VERSION, h->gen, h->metrics.load_us, h->metrics.compile_us, h->metrics.boot_us,
           h->metrics.wasm3_heap_bytes, h->metrics.memory_bytes);
    return BOOT_OK;
}

/* Delivers one event to the instance. */
static void deliver(wasm_host_t *h, pk_event_t *ev)
{
    int64_t now = pk_now_ms();
    bool current = ev->gen == h->gen;
    h->metrics.events++;
    switch (ev->kind) {
    case PK_EV_CONNECTED:
        if (current) {
            call(h, h->fn.on_connected, now, ev->conn);
        }
        break;
    case PK_EV_DATA:
        for (uint32_t done = 0; current && done < ev->len && h->trap == NULL;) {
            uint32_t n = ev->len - done < h->io_size ? ev->len - done : h->io_size;
            if (!write_io(h, ev->data + done, n)) {
                break;
            }
            call(h, h->fn.on_data, now, ev->conn, (int32_t)n);
            done += n;
        }
        break;
    case PK_EV_CLOSED:
        if (current) {
            call(h, h->fn.on_closed, now, ev->conn, ev->arg);
        }
        break;
    case PK_EV_WRITABLE:
        if (current) {
            call(h, h->fn.on_writable, now, ev->conn);
        }
        break;
    case PK_EV_ACCEPTED:
    case PK_EV_HOST_RESULT: {
        /* Both carry bytes for io_buffer (identity lines, a result), at most one buffer's worth. */
        uint32_t n = ev->len < h->io_size ? ev->len : h->io_size;
        if (!current || (n > 0 && !write_io(h, ev->data, n))) {
            break;
        }
        if (ev->kind == PK_EV_ACCEPTED) {
            call(h, h->fn.on_accepted, now, ev->conn, ev->arg, ev->arg2, (int32_t)n);
        } else {
            call(h, h->fn.on_host_result, now, ev->conn, ev->arg, (int32_t)n);
            if (h->swap_armed && ev->conn == h->swap_req && h->trap == NULL) {
                h->swap_now = true; /* at the end of this turn (docs/brain.md "Swap") */
            }
        }
        break;
    }
    case PK_EV_SHUTDOWN:
        if (!h->stopping) {
            pk_log(PK_LOG_INFO, TAG, "shutting down (%s)", ev->arg == KUBELET_SHUTDOWN_CLEANUP ? "cleanup" : "stop");
            h->stopping = true;
            h->stopping_since = now;
            call(h, h->fn.shutdown, now, ev->arg);
        }
        break;
    default:
        break;
    }
    pk_event_release(ev);
}

/*
 * After a trap: Panic on the LED, drop the instance and its connections, wait out the back-off while
 * discarding the old instance's events, rebuild. Returns false if a shutdown arrived meanwhile.
 */
static bool recover(wasm_host_t *h, int64_t instance_started)
{
    h->metrics.traps++;
    if (pk_now_ms() - instance_started > HEALTHY_RUN_MS) {
        h->consecutive_traps = 0;
    }
    h->consecutive_traps++;
    uint32_t shift = h->consecutive_traps - 1 > 6 ? 6 : h->consecutive_traps - 1;
    uint32_t delay = h->cfg.restart_delay_ms << shift;
    if (delay > MAX_RESTART_DELAY_MS) {
        delay = MAX_RESTART_DELAY_MS;
    }
    pk_log(PK_LOG_ERROR, TAG, "rebuilding the core in %" PRIu32 " ms with the same configuration (trap %" PRIu32
           " in a row%s)", delay, h->consecutive_traps, h->trap == NULL ? ", out of memory" : "");
    h->cfg.ops.led(h->cfg.ops.ctx, KUBELET_LED_PANIC);
    h->cfg.ops.close_all(h->cfg.ops.ctx, h->gen);
    free_runtime(h);
    drop_pending(h); /* closes and results of the old instance */
    h->gen++;
    /* on_cpu counts from each instance's start (ABI.md) */
    h->busy_us = 0;
    h->cpu_reported_at = 0;
    int64_t until = pk_now_ms() + delay;
    for (int64_t now = pk_now_ms(); now < until; now = pk_now_ms()) {
        if (h->cfg.ops.watchdog != NULL) {
            h->cfg.ops.watchdog(h->cfg.ops.ctx);
        }
        int64_t wait = until - now < h->cfg.max_wait_ms ? until - now : h->cfg.max_wait_ms;
        pk_event_t ev;
        if (pk_evq_wait(h->cfg.queue, &ev, wait)) {
            bool shutdown = ev.kind == PK_EV_SHUTDOWN;
            pk_event_release(&ev);
            if (shutdown) {
                pk_log(PK_LOG_INFO, TAG, "shutdown requested while the core was down");
                return false;
            }
        }
    }
    h->metrics.restarts++;
    return true;
}

wasm_host_t *wasm_host_create(const wasm_host_config_t *config)
{
    const wasm_host_ops_t *ops = &config->ops;
    if (config->wasm == NULL || config->wasm_size == 0 || config->queue == NULL || config->config_json == NULL ||
        ops->connect == NULL || ops->send == NULL || ops->close == NULL || ops->close_all == NULL ||
        ops->led == NULL || ops->link == NULL || ops->heap == NULL) {
        return NULL;
    }
    wasm_host_t *h = calloc(1, sizeof(*h));
    if (h == NULL) {
        return NULL;
    }
    h->cfg = *config;
    if (h->cfg.stack_bytes == 0) {
        h->cfg.stack_bytes = 32 * 1024;
    }
    if (h->cfg.max_wait_ms == 0) {
        h->cfg.max_wait_ms = 1000;
    }
    if (h->cfg.restart_delay_ms == 0) {
        h->cfg.restart_delay_ms = 2000;
    }
    if (h->cfg.shutdown_timeout_ms == 0) {
        h->cfg.shutdown_timeout_ms = 15000;
    }
    h->gen = 1;
    h->deadline = -1;
    h->wasm = config->wasm;
    h->wasm_size = config->wasm_size;
    return h;
}

/* Frees a module block the host owns, unless it is still the one running or the one kept. */
static void free_module(wasm_host_t *h, uint8_t *block)
{
    if (block != NULL && block != h->wasm_owned && block != h->prev_owned) {
        free(block);
    }
}

/* Ends the running instance for another module: its connections closed, its events dropped, a new generation. */
static void end_instance(wasm_host_t *h)
{
    h->cfg.ops.close_all(h->cfg.ops.ctx, h->gen);
    free_runtime(h);
    drop_pending(h);
    h->gen++;
    h->busy_us = 0;
    h->cpu_reported_at = 0;
    h->stopping = false;
}

static void brain_event(wasm_host_t *h, wasm_host_brain_event_t event, const char *reason, const char *detail)
{
    if (h->cfg.ops.brain != NULL) {
        h->cfg.ops.brain(h->cfg.ops.ctx, h, event, reason, detail);
    }
}

/*
 * The swap after the commit's result (docs/brain.md "Swap"): the running instance's snapshot, then the new
 * module in place of the old. False when the old instance did not hand over (it keeps running; a trap in
 * snapshot_take is its own and goes the usual way).
 */
static bool take_over(wasm_host_t *h)
{
    uint8_t *next = h->swap_wasm;
    size_t next_size = h->swap_size;
    h->swap_armed = false;
    h->swap_now = false;
    h->swap_wasm = NULL;
    char why[160] = "";
    uint8_t *snap = NULL;
    size_t got = 0;
    if (h->fn.snapshot_take == NULL || h->fn.snapshot_read == NULL) {
        snprintf(why, sizeof(why), "the running module does not export snapshot_take()/snapshot_read()");
    } else if (call(h, h->fn.snapshot_take, pk_now_ms())) {
        int32_t n = result_i32(h->fn.snapshot_take);
        if (n < 0) {
            snprintf(why, sizeof(why), "snapshot_take returned error %" PRId32, -n);
        } else if ((snap = malloc(n > 0 ? (size_t)n : 1)) == NULL) {
            snprintf(why, sizeof(why), "no memory for its %" PRId32 "-byte snapshot", n);
        } else {
            while (got < (size_t)n && call(h, h->fn.snapshot_read, (int32_t)got)) {
                int32_t k = result_i32(h->fn.snapshot_read);
                uint32_t mem_size = 0;
                uint8_t *mem = m3_GetMemory(h->runtime, &mem_size, 0);
                if (k <= 0 || (size_t)k > (size_t)n - got || (uint64_t)h->io_offset + (uint32_t)k > mem_size) {
                    break;
                }
                memcpy(snap + got, mem + h->io_offset, (size_t)k);
                got += (size_t)k;
            }
            if (got != (size_t)n && h->trap == NULL) {
                snprintf(why, sizeof(why), "snapshot_read gave %zu of %" PRId32 " bytes", got, n);
            }
        }
    }
    if (h->trap != NULL || why[0] != '\0') {
        free(snap);
        free(next);
        if (h->trap == NULL) {
            pk_log(PK_LOG_WARN, TAG, "brain: not swapping: the running brain did not hand over its state (%s)", why);
            brain_event(h, WASM_HOST_BRAIN_NOT_SWAPPED, NULL, why);
        }
        return false;
    }
    end_instance(h);
    if (!h->prev_held) {
        /* The old module and its snapshot are what a rollback returns to. */
        h->prev_held = true;
        h->prev_wasm = h->wasm;
        h->prev_size = h->wasm_size;
        h->prev_owned = h->wasm_owned;
        h->prev_snapshot = snap;
        h->prev_snapshot_len = got;
        h->wasm_owned = NULL;
        h->resume = malloc(got > 0 ? got : 1);
        if (h->resume != NULL) {
            memcpy(h->resume, snap, got);
        }
    } else {
        /* Swapping from a brain still on probation: the proven one stays the fallback. */
        uint8_t *unproven = h->wasm_owned;
        h->wasm_owned = NULL;
        free_module(h, unproven);
        h->resume = snap;
    }
    h->resume_len = got;
    h->wasm = next;
    h->wasm_size = next_size;
    h->wasm_owned = next;
    pk_log(PK_LOG_INFO, TAG, "brain: swapping to the new module (%zu bytes) with a %zu-byte snapshot", next_size, got);
    return true;
}

/* Back to the module kept before the swap, resuming from its snapshot. False when none is kept. */
static bool roll_back(wasm_host_t *h, const char *reason, const char *detail)
{
    h->rollback_pending = false;
    if (!h->prev_held) {
        return false;
    }
    pk_log(PK_LOG_ERROR, TAG, "brain: rolling back: %s: %s", reason, detail);
    if (h->runtime != NULL) {
        end_instance(h);
    } else {
        drop_pending(h);
        h->gen++;
    }
    uint8_t *failed = h->wasm_owned;
    h->wasm_owned = h->prev_owned;
    h->wasm = h->prev_wasm;
    h->wasm_size = h->prev_size;
    free(h->resume);
    h->resume = h->prev_snapshot;
    h->resume_len = h->prev_snapshot_len;
    h->prev_held = false;
    h->prev_owned = NULL;
    h->prev_snapshot = NULL;
    free_module(h, failed);
    brain_event(h, WASM_HOST_BRAIN_ROLLED_BACK, reason, detail);
    return true;
}

int wasm_host_run(wasm_host_t *h)
{
    for (;;) {
        int64_t instance_started = pk_now_ms();
        bool resumed = h->resume != NULL;
        boot_result_t b = boot(h);
        free(h->resume);
        h->resume = NULL;
        h->resume_len = 0;
        if (b != BOOT_OK && h->prev_held) {
            /* The new brain failed to come up: its fault, not the node's (docs/brain.md "Roll back"). */
            char detail[sizeof(h->boot_error)];
            snprintf(detail, sizeof(detail), "%s", h->boot_error[0] ? h->boot_error : "it did not start");
            roll_back(h, b == BOOT_REFUSED ? "BrainRefusedSnapshot" : "BrainCrashed", detail);
            continue;
        }
        if (b == BOOT_FATAL || b == BOOT_REFUSED) {
            free_runtime(h);
            h->cfg.ops.led(h->cfg.ops.ctx, KUBELET_LED_PANIC);
            return -1;
        }
        if (b == BOOT_OK && resumed && h->prev_held) {
            brain_event(h, WASM_HOST_BRAIN_STARTED, NULL, "");
        }
        bool swapped = false;
        while (b == BOOT_OK && h->trap == NULL) {
            int64_t now = pk_now_ms();
            int64_t wait = h->cfg.max_wait_ms;
            if (h->deadline >= 0 && h->deadline - now < wait) {
                wait = h->deadline - now > 0 ? h->deadline - now : 0;
                /* A deadline that on_timer already served (a core bug) must not make this task spin and
                 * starve the lower-priority tasks: wait a little anyway. */
                if (wait == 0 && h->deadline <= h->last_timer_at) {
                    wait = 10;
                }
            }
            pk_event_t ev;
            bool got = take_pending(h, &ev) || pk_evq_wait(h->cfg.queue, &ev, wait);
            if (h->cfg.ops.watchdog != NULL) {
                h->cfg.ops.watchdog(h->cfg.ops.ctx);
            }
            if (got) {
                deliver(h, &ev);
            }
            now = pk_now_ms();
            sync_link(h, now);
            report_cpu(h, now);
            if (h->deadline >= 0 && now >= h->deadline) {
                report_heap(h, now);
                call(h, h->fn.on_timer, now);
                h->last_timer_at = now;
            }
            settle(h);
            if (h->trap != NULL) {
                break;
            }
            if (h->cfg.ops.after_turn != NULL) {
                h->cfg.ops.after_turn(h->cfg.ops.ctx, h);
            }
            if (h->rollback_pending && roll_back(h, h->rollback_reason, h->rollback_detail)) {
                swapped = true;
                break;
            }
            if (h->swap_now && !h->stopping) {
                if (take_over(h)) {
                    swapped = true;
                    break;
                }
                if (h->trap != NULL) {
                    break;
                }
            }
            if (h->stopping) {
                int64_t phase = wasm_host_stat(h, KUBELET_STAT_PHASE);
                bool timed_out = now - h->stopping_since > (int64_t)h->cfg.shutdown_timeout_ms;
                if (phase == KUBELET_PHASE_STOPPED || phase == KUBELET_PHASE_FAILED || timed_out) {
                    if (timed_out) {
                        pk_log(PK_LOG_WARN, TAG, "shutdown did not finish within %" PRIu32 " ms",
                               h->cfg.shutdown_timeout_ms);
                    }
                    h->cfg.ops.close_all(h->cfg.ops.ctx, h->gen);
                    free_runtime(h);
                    return 0;
                }
            }
        }
        if (swapped) {
            continue;
        }
        if (h->trap != NULL && h->prev_held) {
            char detail[sizeof(h->trap_detail) + 64];
            snprintf(detail, sizeof(detail), "it trapped: %s%s%s", h->trap, h->trap_detail[0] ? " - " : "", h->trap_detail);
            h->metrics.traps++;
            roll_back(h, "BrainCrashed", detail);
            continue;
        }
        if (!recover(h, instance_started)) {
            return 0;
        }
    }
}

void wasm_host_swap_after(wasm_host_t *h, int32_t req, uint8_t *wasm, size_t size)
{
    free(h->swap_wasm);
    h->swap_armed = true;
    h->swap_now = false;
    h->swap_req = req;
    h->swap_wasm = wasm;
    h->swap_size = size;
}

void wasm_host_keep_brain(wasm_host_t *h)
{
    if (!h->prev_held) {
        return;
    }
    uint8_t *old = h->prev_owned;
    h->prev_owned = NULL;
    h->prev_held = false;
    free_module(h, old);
    free(h->prev_snapshot);
    h->prev_snapshot = NULL;
}

void wasm_host_roll_back(wasm_host_t *h, const char *reason, const char *detail)
{
    if (!h->prev_held) {
        return;
    }
    h->rollback_pending = true;
    snprintf(h->rollback_reason, sizeof(h->rollback_reason), "%s", reason);
    snprintf(h->rollback_detail, sizeof(h->rollback_detail), "%s", detail);
}

const uint8_t *wasm_host_running_module(const wasm_host_t *h, size_t *size)
{
    *size = h->wasm_size;
    return h->wasm;
}

bool wasm_host_brain_on_probation(const wasm_host_t *h)
{
    return h->prev_held;
}

int wasm_host_check_module(const uint8_t *wasm, size_t size, uint64_t abi, char *why, size_t why_size)
{
    wasm_host_t *t = calloc(1, sizeof(*t));
    if (t == NULL) {
        snprintf(why, why_size, "no memory to check the module");
        return -1;
    }
    int rc = -1;
    t->env = m3_NewEnvironment();
    t->runtime = t->env != NULL ? m3_NewRuntime(t->env, 16 * 1024, t) : NULL;
    IM3Module module = NULL;
    M3Result r = t->runtime == NULL ? m3Err_mallocFailed : m3_ParseModule(t->env, &module, wasm, (uint32_t)size);
    if (r != m3Err_none) {
        snprintf(why, why_size, "it does not parse under wasm3 %s: %s", M3_VERSION, r);
        goto out;
    }
    r = m3_LoadModule(t->runtime, module);
    if (r != m3Err_none) {
        m3_FreeModule(module);
        snprintf(why, why_size, "it does not load under wasm3 %s: %s", M3_VERSION, r);
        goto out;
    }
    /* Linked to a host that is never called: only abi_version() runs, and it calls no import. */
    r = wasm_host_link_imports(t, module);
    if (r != m3Err_none) {
        snprintf(why, why_size, "its import %s does not link: %s", t->link_error_name ? t->link_error_name : "?", r);
        goto out;
    }
    r = m3_CompileModule(module);
    if (r != m3Err_none) {
        snprintf(why, why_size, "it does not compile under wasm3 %s: %s", M3_VERSION, r);
        goto out;
    }
    if (find_exports(t) != m3Err_none || t->fn.snapshot_write == NULL || t->fn.snapshot_take == NULL ||
        t->fn.snapshot_read == NULL) {
        snprintf(why, why_size, "it lacks an export the host calls (the core's exports, snapshot_write/take/read)");
        goto out;
    }
    if (!call(t, t->fn.abi_version)) {
        snprintf(why, why_size, "abi_version() trapped: %s", t->trap);
        goto out;
    }
    int32_t v = result_i32(t->fn.abi_version);
    if ((uint64_t)(int64_t)v != abi || v < KUBELET_ABI_VERSION_MIN || v > KUBELET_ABI_VERSION_MAX) {
        snprintf(why, why_size, "its abi_version() is %" PRId32 " (the commit says %" PRIu64 ", this host runs %d..%d)", v,
                 abi, KUBELET_ABI_VERSION_MIN, KUBELET_ABI_VERSION_MAX);
        goto out;
    }
    rc = 0;
out:
    free_runtime(t);
    free(t);
    return rc;
}

int64_t wasm_host_stat(wasm_host_t *h, int32_t id)
{
    if (h->runtime == NULL || h->fn.stat == NULL || !call(h, h->fn.stat, id)) {
        return -1;
    }
    return result_i64(h->fn.stat);
}

uint32_t wasm_host_generation(const wasm_host_t *h)
{
    return h->gen;
}

void wasm_host_metrics(const wasm_host_t *h, wasm_host_metrics_t *out)
{
    *out = h->metrics;
}

void wasm_host_destroy(wasm_host_t *h)
{
    if (h != NULL) {
        free_runtime(h);
        drop_pending(h);
        free(h->pending);
        free(h->resume);
        free(h->swap_wasm);
        free(h->prev_snapshot);
        if (h->prev_owned != h->wasm_owned) {
            free(h->prev_owned);
        }
        free(h->wasm_owned);
        free(h);
    }
}
