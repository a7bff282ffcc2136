/**
 * Upstream behaviour and defaults as named constants, each with where it comes from.
 * Configuration (node/config.ts) may override the ones marked "configurable".
 */

/** Lease duration (the original's and the kubelet's default, 40 s). Configurable. */
export const LEASE_DURATION_SECONDS: i32 = 40;
/** Renew period (a quarter of the duration, as the kubelet renews). Configurable. */
export const RENEW_INTERVAL_MS: i64 = 10_000;
/** Width of the renewal jitter window as a fraction of the period (the kubelet lease controller uses 0.04). */
export const RENEW_JITTER_PERMILLE: i64 = 40;
/** Status push at least this often (the original's status period). Configurable. */
export const STATUS_INTERVAL_MS: i64 = 300_000;
/** Condition evaluation period (the original polled every 10 s). Configurable. */
export const EVALUATE_INTERVAL_MS: i64 = 10_000;
/** Deadline of one HTTP request; never above the renew period (so a renewal waits at most one period). */
export const REQUEST_TIMEOUT_MS: i64 = 10_000;
/** MemoryPressure threshold (the original's 20 KiB). Configurable. */
export const MEMORY_PRESSURE_BYTES: i32 = 20 * 1024;
/** Hysteresis above the threshold before MemoryPressure clears (the original had none and could flap). */
export const MEMORY_PRESSURE_HYSTERESIS_BYTES: i32 = 4096;
/** Heap size the joke conditions assume until the host reports one (the original's 100 KiB). */
export const HEAP_TOTAL_BYTES: i32 = 100 * 1024;

/** How long the other workers hold back after a 429 without Retry-After, and the most a Retry-After can ask. */
export const PUSHBACK_DEFAULT_MS: i64 = 1_000;
export const PUSHBACK_MAX_MS: i64 = 60_000;
/** Consecutive failed API requests after which the LED shows Warning. */
export const WARNING_AFTER_FAILURES: i32 = 3;

/** Window for "reconnects" in Vibes (a real rolling window; the original counted since the last push). */
export const RECONNECT_WINDOW_MS: i64 = 300_000;
/** How long an edge event (new BSSID, clock slip) stays visible in Haunted (the original showed it for about 10 s). */
export const EVENT_HOLD_MS: i64 = 300_000;
/** Clock skew that counts as a time slip (the original's 5 s). */
export const TIME_SLIP_MS: i64 = 5_000;

/** Body budget for responses whose content we read (a Node object, without managedFields). */
export const NODE_BODY_BUDGET: i32 = 32 * 1024;
/** Body budget for every other response: enough for a Status object's message in a log line. */
export const SMALL_BODY_BUDGET: i32 = 1024;

/** Kubelet version we report (nodeInfo.kubeletVersion: the original's string plus our own version). */
export const KUBELET_VERSION = "v1.36.3-picokubelet.0.1.0";
/** What follows the API server's version in kubeletVersion (our own version). */
export const KUBELET_VERSION_SUFFIX = "-picokubelet.0.1.0";
/** Namespace of node leases. */
export const LEASE_NAMESPACE = "kube-node-lease";
/** Annotation carrying free heap bytes (docs/behaviour.md, annotations). */
export const HEAP_ANNOTATION = "node.specht.dev/heap-bytes-free";
/** Pushes made because the server's Node disagrees with ours are at least this far apart. */
export const CORRECTION_SPACING_MS: i64 = 1_000;
