/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * The C mirror of the core's ABI, version 2 (assembly/ABI.md). Every number here appears in that
 * document; tests/firmware/test_abi_mirror.c reads ABI.md and fails when they drift apart.
 */
#pragma once

#ifdef __cplusplus
extern "C" {
#endif

/** The ABI version this mirror describes, and the range of versions this host runs (ABI.md "Versions"). */
#define KUBELET_ABI_VERSION 2
#define KUBELET_ABI_VERSION_MIN 2
#define KUBELET_ABI_VERSION_MAX 2

/** The import module name of every host function except env.abort. */
#define KUBELET_ABI_IMPORT_MODULE "picokubelet"

/** Size of io_buffer() in version 2. */
#define KUBELET_ABI_IO_BUFFER_SIZE 4096
/** Largest configuration document config_write accepts. */
#define KUBELET_ABI_CONFIG_MAX_BYTES (16 * 1024)
/** Largest snapshot snapshot_write accepts. */
#define KUBELET_SNAPSHOT_MAX_BYTES (16 * 1024)

/** Connection ids: the core's own are 1..CONN_CORE_MAX, accepted ones (host-chosen) CONN_ACCEPTED_MIN.. */
#define KUBELET_CONN_CORE_MAX 1073741823
#define KUBELET_CONN_ACCEPTED_MIN 1073741824

/** connect profiles. */
#define KUBELET_PROFILE_CLUSTER 0
#define KUBELET_PROFILE_PUBLIC 1

/** host_call operations and key slots. */
#define KUBELET_OP_LISTEN 1
#define KUBELET_OP_KEY_GENERATE 2
#define KUBELET_OP_CSR_CREATE 3
#define KUBELET_OP_CERT_INSTALL 4
#define KUBELET_OP_CERT_INFO 5
/* Brain swaps (docs/brain.md): answered by brain_host.c when the host has a brain slot; without one
 * -ERR_UNSUPPORTED, and brain pods wait with BrainSwapUnsupported. */
#define KUBELET_OP_BRAIN_WRITE 6
#define KUBELET_OP_BRAIN_COMMIT 7
#define KUBELET_OP_BRAIN_STATUS 8
#define KUBELET_KEY_SLOT_CLIENT 0
#define KUBELET_KEY_SLOT_SERVING 1

/** on_link kinds. */
#define KUBELET_LINK_DOWN 0
#define KUBELET_LINK_ETHERNET 1
#define KUBELET_LINK_WIFI 2

/** on_closed reasons. */
#define KUBELET_CLOSE_EOF 0
#define KUBELET_CLOSE_CONNECT_FAILED 1
#define KUBELET_CLOSE_TLS_FAILED 2
#define KUBELET_CLOSE_IO_ERROR 3
#define KUBELET_CLOSE_LINK_DOWN 4

/** LED patterns (led import); also led_pattern_t in led_pattern.h. */
#define KUBELET_LED_OFF 0
#define KUBELET_LED_SELF_TEST 1
#define KUBELET_LED_BOOTING 2
#define KUBELET_LED_CONNECTING 3
#define KUBELET_LED_HEALTHY 4
#define KUBELET_LED_ACTIVITY 5
#define KUBELET_LED_WARNING 6
#define KUBELET_LED_DISCONNECTED 7
#define KUBELET_LED_PANIC 8

/** log levels. */
#define KUBELET_LOG_ERROR 0
#define KUBELET_LOG_WARN 1
#define KUBELET_LOG_INFO 2
#define KUBELET_LOG_DEBUG 3

/** shutdown modes. */
#define KUBELET_SHUTDOWN_STOP 0
#define KUBELET_SHUTDOWN_CLEANUP 1

/** stat ids. */
#define KUBELET_STAT_PHASE 0
#define KUBELET_STAT_LED 1
#define KUBELET_STAT_RENEWALS 2
#define KUBELET_STAT_RENEW_FAILURES 3
#define KUBELET_STAT_STATUS_PUSHES 4
#define KUBELET_STAT_REQUESTS 5
#define KUBELET_STAT_CONNECTS 6
#define KUBELET_STAT_WALL_MS 7
#define KUBELET_STAT_LAST_HTTP_STATUS 8
#define KUBELET_STAT_CONSECUTIVE_FAILURES 9
#define KUBELET_STAT_MEMORY_PRESSURE 10
#define KUBELET_STAT_REGISTRATIONS 11
#define KUBELET_STAT_LAST_ERROR 12
#define KUBELET_STAT_RECONNECTS 13
#define KUBELET_STAT_MEMORY_BYTES 14
#define KUBELET_STAT_ACCEPTED 15
#define KUBELET_STAT_SERVER_REQUESTS 16
#define KUBELET_STAT_SERVER_REFUSED 17
#define KUBELET_STAT_HOST_CALLS 18
#define KUBELET_STAT_LISTEN_PORT 19
#define KUBELET_STAT_RESUMED 20
#define KUBELET_STAT_SENDS_DEFERRED 21

/** Phases (stat KUBELET_STAT_PHASE). */
#define KUBELET_PHASE_CONFIGURING 0
#define KUBELET_PHASE_ANCHORING 1
#define KUBELET_PHASE_REGISTERING 2
#define KUBELET_PHASE_LEASING 3
#define KUBELET_PHASE_RUNNING 4
#define KUBELET_PHASE_STOPPING 5
#define KUBELET_PHASE_STOPPED 6
#define KUBELET_PHASE_FAILED 7
#define KUBELET_PHASE_HANDED_OFF 8
#define KUBELET_PHASE_BOOTSTRAPPING 9

/** Error codes (config_write, start, stat KUBELET_STAT_LAST_ERROR). */
#define KUBELET_OK 0
#define KUBELET_ERR_CONFIG_TOO_LARGE 1
#define KUBELET_ERR_CONFIG_INVALID 2
#define KUBELET_ERR_ALREADY_STARTED 3
#define KUBELET_ERR_SNAPSHOT_TOO_LARGE 4
#define KUBELET_ERR_SNAPSHOT_INVALID 5
#define KUBELET_ERR_NOT_RUNNING 6
#define KUBELET_ERR_HTTP_MALFORMED 10
#define KUBELET_ERR_HTTP_HEAD_TOO_LARGE 11
#define KUBELET_ERR_HTTP_STATUS 12
#define KUBELET_ERR_JSON 13
#define KUBELET_ERR_BODY_TOO_LARGE 14
#define KUBELET_ERR_AUTH 15
#define KUBELET_ERR_TIMEOUT 20
#define KUBELET_ERR_CLOSED 21
#define KUBELET_ERR_CONNECT 22
#define KUBELET_ERR_LINK_DOWN 23
#define KUBELET_ERR_UNSUPPORTED 30
#define KUBELET_ERR_HOST_CALL_INVALID 31
#define KUBELET_ERR_HOST_CALL_FAILED 32
#define KUBELET_ERR_HOST_BUSY 33

/*
 * Import signatures as wasm3 signature strings, one per import (ABI.md "Imports"). The wasm host
 * links exactly these; tests/wasm3/kubelet_abi.py links the same names and signatures.
 */
#define KUBELET_SIG_CONNECT "v(iiiiiii)"
#define KUBELET_SIG_SEND "i(iii)"
#define KUBELET_SIG_HOST_CALL "i(iiiii)"
#define KUBELET_SIG_CLOSE "v(i)"
#define KUBELET_SIG_LED "v(i)"
#define KUBELET_SIG_LOG "v(iii)"
#define KUBELET_SIG_ABORT "v(iiii)"

#ifdef __cplusplus
}
#endif
