/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * The wasm host: runs the kubelet core (one .wasm) under wasm3 in the calling task, feeds it events
 * from a pk_evq, performs its actions through a table of host operations, and keeps it alive.
 *
 * Theory of operation.
 *  - Boot (ABI.md "Start-up sequence"): parse, load, link every import, compile the whole module (an
 *    unlinked import or an unsupported opcode fails here, not hours later), check abi_version(), write
 *    the configuration document through io_buffer/config_write, on_heap, start(now, seed), on_link.
 *  - Loop: sleep on the queue until the next event or the core's next_deadline(); deliver the event;
 *    report link changes and heap readings; call on_timer when the deadline has passed; __collect()
 *    before sleeping (ABI.md "Garbage collection policy"); ask next_deadline() again.
 *  - Traps: any trap (a failed bounds check in an import, env.abort, an interpreter trap, a call over its
 *    time budget) is logged with its cause, the LED shows Panic, connections of the old instance are
 *    dropped, and the runtime is rebuilt from the same bytes and the same configuration document after a
 *    back-off. The node keeps its identity: same name, same MAC; the core adopts its existing Node.
 *  - Generations: every runtime instance has a generation number; network events carry the generation
 *    their connection was opened in, and events of an older generation are dropped.
 *  - Brain swaps (docs/brain.md): after the result of a commit armed with wasm_host_swap_after, the running
 *    instance hands its snapshot over and a new runtime boots the new module from it (a new generation);
 *    the previous module and snapshot are kept until wasm_host_keep_brain, and a trap or a refused start
 *    of the new one meanwhile (or wasm_host_roll_back) boots them again at once, without a back-off.
 *
 * Threading: wasm_host_run() and every callback in wasm_host_ops_t run in the calling (wasm) task.
 * Other tasks talk to it only through the queue.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pk_evq.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct wasm_host wasm_host_t;

/** What a brain swap did (docs/brain.md "Swap", "Roll back"), for wasm_host_ops_t.brain. */
typedef enum {
    /** The running instance did not hand over its state (detail: why); it keeps running, no swap. */
    WASM_HOST_BRAIN_NOT_SWAPPED = 1,
    /** The new module runs, resumed from the snapshot; the previous one is kept until wasm_host_keep_brain. */
    WASM_HOST_BRAIN_STARTED = 2,
    /** The new module failed (reason: BrainCrashed, BrainRefusedSnapshot, BrainNotRenewing; detail: why);
     * the previous module is booted again from the snapshot it handed over. */
    WASM_HOST_BRAIN_ROLLED_BACK = 3,
} wasm_host_brain_event_t;

/** The host's network link, as on_link reports it. */
typedef struct {
    /** KUBELET_LINK_* */
    int32_t kind;
    /** IPv4 address, big-endian value (192.168.0.111 is 0xC0A8006F); 0 while unknown. */
    uint32_t ipv4;
    /** Access point BSSID in the low 48 bits, first octet most significant; 0 for Ethernet. */
    uint64_t bssid;
    /** dBm; 0 for Ethernet. */
    int32_t rssi;
} wasm_host_link_t;

/** What the host does for the core. Every action returns at once; outcomes come back as events. */
typedef struct {
    /**
     * Open TLS connection `conn` of generation `gen` to host:port, verifying for `server_name`. Returns 0
     * when the attempt is under way (its outcome comes back as an event), or the KUBELET_CLOSE_* reason
     * when it failed at once: the host then delivers that close itself. The wasm task must not post such
     * a close to its own queue: it is the queue's only reader, so it cannot wait for room, and a close
     * dropped on a full queue would leave the core waiting for a connection that does not exist.
     */
    int32_t (*connect)(void *ctx, uint32_t gen, int32_t conn, const char *host, uint16_t port,
                       const char *server_name, int32_t profile);
    /**
     * Take as many of the bytes for `conn` as its budget allows (copied before returning) and return how
     * many (-1 for an unknown connection). When fewer than offered, post PK_EV_WRITABLE once it can take
     * more (ABI.md "Flow control").
     */
    int32_t (*send)(void *ctx, uint32_t gen, int32_t conn, const uint8_t *data, size_t len);
    /**
     * Optional: start host operation `op` (KUBELET_OP_*) as request `req` of generation `gen`. Returns 0
     * when a PK_EV_HOST_RESULT will follow, or a negative KUBELET_ERR_* when refused at once. NULL: every
     * op is refused with -KUBELET_ERR_UNSUPPORTED.
     */
    int32_t (*host_call)(void *ctx, uint32_t gen, int32_t req, int32_t op, int32_t arg, const uint8_t *data,
                         size_t len);
    /** Close `conn` without an event. */
    void (*close)(void *ctx, uint32_t gen, int32_t conn);
    /** Drop every connection of generation `gen` without events (the instance is going away). */
    void (*close_all)(void *ctx, uint32_t gen);
    /** Show an LED pattern (KUBELET_LED_*). */
    void (*led)(void *ctx, int pattern);
    /** The current link. */
    void (*link)(void *ctx, wasm_host_link_t *out);
    /** Free and total heap in bytes. */
    void (*heap)(void *ctx, uint32_t *free_bytes, uint32_t *total_bytes);
    /** Feed the watchdog (optional): called at least every max_wait_ms and during long wasm calls. */
    void (*watchdog)(void *ctx);
    /**
     * Optional: what a brain swap did (see wasm_host_swap_after). `reason` is NULL except for
     * WASM_HOST_BRAIN_ROLLED_BACK; `detail` is "" when there is nothing to say. wasm_host_stat works here.
     */
    void (*brain)(void *ctx, wasm_host_t *host, wasm_host_brain_event_t event, const char *reason, const char *detail);
    /** Observer (optional), called once per loop turn after the events of that turn were delivered. */
    void (*after_turn)(void *ctx, wasm_host_t *host);
    void *ctx;
} wasm_host_ops_t;

/** Settings. The wasm bytes and the configuration document must outlive the host. */
typedef struct {
    const uint8_t *wasm;
    size_t wasm_size;
    const char *config_json;
    size_t config_len;
    /** wasm3 value stack in bytes (m3_NewRuntime). */
    uint32_t stack_bytes;
    /** Cap on linear memory in bytes (0: none). */
    uint32_t memory_limit;
    /** Longest one export call may run before it is aborted as a trap (0: no limit). */
    uint32_t call_budget_ms;
    /** First back-off after a trap; doubles per consecutive trap up to 60 s. */
    uint32_t restart_delay_ms;
    /** Longest single sleep, so the watchdog is fed while idle. */
    uint32_t max_wait_ms;
    /** Longest a shutdown may take before wasm_host_run gives up waiting for PHASE_STOPPED. */
    uint32_t shutdown_timeout_ms;
    pk_evq_t *queue;
    wasm_host_ops_t ops;
} wasm_host_config_t;

/** Start-up and running figures (for logs and firmware/README.md). */
typedef struct {
    /** m3_ParseModule + m3_LoadModule + linking, microseconds (last boot). */
    int64_t load_us;
    /** m3_CompileModule, microseconds (last boot). */
    int64_t compile_us;
    /** From runtime creation to start() returning, microseconds (last boot). */
    int64_t boot_us;
    /** Bytes wasm3 held on the heap once the module was compiled (last boot): structures, code pages,
     * value stack and the initial linear memory. */
    uint32_t runtime_heap_bytes;
    /** Bytes wasm3 holds now and held at most (all boots). */
    uint32_t wasm3_heap_bytes;
    uint32_t wasm3_heap_peak_bytes;
    /** Linear memory now and at most, bytes. */
    uint32_t memory_bytes;
    uint32_t memory_peak_bytes;
    /** Export calls made and the longest one, microseconds. */
    uint64_t calls;
    int64_t longest_call_us;
    /** Events delivered; traps seen; runtimes rebuilt. */
    uint64_t events;
    uint32_t traps;
    uint32_t restarts;
} wasm_host_metrics_t;

/** Validates the settings and allocates the host; NULL on a bad setting or no memory. */
wasm_host_t *wasm_host_create(const wasm_host_config_t *config);

/**
 * Boots the core and runs the loop in the calling task. Returns 0 after a requested shutdown reached
 * PHASE_STOPPED, or a negative value when the core cannot run at all (module refused, wrong ABI version,
 * configuration refused: the reason is logged). Traps do not return; they restart the instance.
 */
int wasm_host_run(wasm_host_t *host);

/** stat(id) of the running instance, or -1 without one. Only from the wasm task (after_turn). */
int64_t wasm_host_stat(wasm_host_t *host, int32_t id);

/** The current generation (starts at 1, +1 per rebuilt runtime). */
uint32_t wasm_host_generation(const wasm_host_t *host);

/** A copy of the figures so far. */
void wasm_host_metrics(const wasm_host_t *host, wasm_host_metrics_t *out);

/*
 * Brain swaps (docs/brain.md "Swap"). Every function here is for the wasm task only: from inside host_call
 * or from after_turn.
 */

/**
 * Records the result of host call `req` for the running instance, delivered (on_host_result) before the next
 * event from the queue: for a call answered inside host_call, where the wasm task cannot post to its own
 * queue. The bytes are copied (at most one io_buffer's worth is delivered). False when out of memory.
 */
bool wasm_host_queue_result(wasm_host_t *host, int32_t req, int32_t status, const uint8_t *data, size_t len);

/**
 * Right after on_host_result for request `req` returns (the commit's), swap to `wasm` (a malloc'd block the
 * host now owns and frees): snapshot_take and snapshot_read on the running instance, its connections closed,
 * a new wasm3 runtime for `wasm`, the same configuration, snapshot_write, start. The previous module and its
 * snapshot are kept (unless a swap is already on probation: an unproven module is never the fallback) until
 * wasm_host_keep_brain; a trap or a refused start of the new one before that rolls back to them.
 */
void wasm_host_swap_after(wasm_host_t *host, int32_t req, uint8_t *wasm, size_t size);

/** The swapped-in module proved itself: the previous module and snapshot are dropped. */
void wasm_host_keep_brain(wasm_host_t *host);

/** Rolls back to the previous module at the end of this turn (no-op without one). */
void wasm_host_roll_back(wasm_host_t *host, const char *reason, const char *detail);

/** The module running now (the one the host was given, or a swapped-in one) and its size. */
const uint8_t *wasm_host_running_module(const wasm_host_t *host, size_t *size);

/** True while a swapped-in module is on probation (a previous one is kept). */
bool wasm_host_brain_on_probation(const wasm_host_t *host);

/**
 * The module check of a brain (BrainInvalidModule): parses, loads, links and compiles `wasm` under wasm3 in a
 * throwaway runtime, looks for every export the host calls and asks abi_version(), which must be `abi` and
 * within KUBELET_ABI_VERSION_MIN..MAX. 0, or -1 with why in words.
 */
int wasm_host_check_module(const uint8_t *wasm, size_t size, uint64_t abi, char *why, size_t why_size);

/** Frees the host (after wasm_host_run returned). */
void wasm_host_destroy(wasm_host_t *host);

#ifdef __cplusplus
}
#endif
