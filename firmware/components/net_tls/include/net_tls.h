/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * The network task: serves the core's TLS connections so that neither the wasm task nor the LED task
 * ever blocks on the network. The wasm task hands it commands (connect, send, close) that return at
 * once; the task runs every socket non-blocking under one select() loop, does the TLS handshakes with
 * mbedTLS (server certificate verified against the cluster CA for the requested server name, optional
 * client certificate) and posts PK_EV_CONNECTED / PK_EV_DATA / PK_EV_CLOSED into the wasm task's queue.
 *
 * Portable: POSIX sockets and select() exist on lwIP (ESP-IDF) and Linux alike, and the same mbedTLS
 * code runs on ESP-IDF's mbedTLS 3.6 and Debian's 2.28, so the code path the device runs is the one the
 * Linux host port exercises against the real API server. (esp-tls wraps the same mbedTLS but connects
 * blocking, one connection per call; we need several connections multiplexed in one task.)
 *
 * Connections are identified by (generation, id): the generation of the wasm runtime that opened them,
 * so a rebuilt runtime never receives events of its predecessor's connections.
 *
 * Flow control (ABI.md "Flow control"): each connection may hold NET_TLS_SEND_BUDGET bytes taken but not
 * yet written. net_tls_send takes what fits and returns the count; when it took fewer than offered, a
 * PK_EV_WRITABLE follows once the connection's waiting bytes fell to half the budget. Nothing is ever
 * closed for being offered too much.
 *
 * The kubelet port: net_tls_listen starts an mbedTLS server on a port with the configured serving
 * certificate; accepted connections get ids from KUBELET_CONN_ACCEPTED_MIN up and arrive as
 * PK_EV_ACCEPTED; from then on they are connections like the others. A client certificate is optional:
 * one that verifies against the client CA (client_ca_pem, default the cluster CA) gives the identity
 * lines, a client without one is accepted without an identity, and one whose certificate does not verify
 * is refused during the handshake (no event at all).
 *
 * Identities: net_tls_set_identity replaces the certificate and key a side presents (the client slot for
 * the core's PROFILE_CLUSTER connections, the serving slot for the listener) for connections made from
 * then on; open connections keep theirs until they close.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pk_evq.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct net_tls net_tls_t;

/** Settings. PEM strings are copied during net_tls_start. */
typedef struct {
    /** Cluster CA bundle (PEM); required: every server certificate is verified against it. */
    const char *ca_pem;
    /** CA bundle (PEM) client certificates on the kubelet port must verify against (NULL: ca_pem). */
    const char *client_ca_pem;
    /** CAs (PEM) PROFILE_PUBLIC connections verify against, without a client certificate. The Linux port:
     * --registry-ca, else the system bundle; the board: NVS registry_ca. */
    const char *public_ca_pem;
    /** Without public_ca_pem: PROFILE_PUBLIC connections verify against ESP-IDF's certificate bundle (the
     * board; CONFIG_MBEDTLS_CERTIFICATE_BUNDLE). Neither: they fail with CLOSE_TLS_FAILED. */
    bool public_ca_bundle;
    /** Client certificate and key (PEM), both or neither. */
    const char *client_cert_pem;
    const char *client_key_pem;
    /** The wasm task's queue. */
    pk_evq_t *queue;
    /** TCP connect plus TLS handshake must finish within this (0: 10 s). */
    uint32_t connect_timeout_ms;
    /** Connections open at once (0: 4); further connects fail with CLOSE_CONNECT_FAILED. */
    uint32_t max_connections;
    /** Serving certificate and key (PEM) for the kubelet port, both or neither (neither: no listening). */
    const char *serving_cert_pem;
    const char *serving_key_pem;
    /** Address the listener binds (NULL: 0.0.0.0). */
    const char *listen_address;
    /** Task stack (bytes) and priority on FreeRTOS. */
    uint32_t task_stack_bytes;
    int task_priority;
} net_tls_config_t;

/**
 * Parses the certificates, seeds the DRBG and starts the task. On failure returns NULL and writes the
 * reason into `err`.
 */
net_tls_t *net_tls_start(const net_tls_config_t *config, char *err, size_t err_size);

/**
 * Opens connection (gen, conn) to host:port, verifying the certificate for `server_name`. Returns 0 when
 * the attempt is under way (the outcome is an event), or KUBELET_CLOSE_CONNECT_FAILED when it could not
 * even be queued: no event follows then, and the caller (the wasm task, which reads the event queue and
 * so cannot wait for room in it) reports the close itself.
 */
int32_t net_tls_connect(net_tls_t *n, uint32_t gen, int32_t conn, const char *host, uint16_t port,
                        const char *server_name);

/** net_tls_connect with a profile: KUBELET_PROFILE_CLUSTER, or KUBELET_PROFILE_PUBLIC (the public CAs). */
int32_t net_tls_connect_profile(net_tls_t *n, uint32_t gen, int32_t conn, const char *host, uint16_t port,
                                const char *server_name, int32_t profile);

/** Bytes one connection may hold taken but not yet written. */
#define NET_TLS_SEND_BUDGET (64 * 1024)
/** Accepted connections open at once; more are closed as they arrive. */
#define NET_TLS_MAX_ACCEPTED 4

/**
 * Takes a copy of as many of `data` as (gen, conn)'s budget allows and returns how many; -1 for an
 * unknown or closed connection. Fewer than `len`: PK_EV_WRITABLE follows when there is room again.
 */
int32_t net_tls_send(net_tls_t *n, uint32_t gen, int32_t conn, const uint8_t *data, size_t len);

/**
 * OP_LISTEN for generation `gen` as request `req`: listen on `port`. The outcome arrives as
 * PK_EV_HOST_RESULT (conn = req, arg = 0 or KUBELET_ERR_HOST_CALL_FAILED with the reason in data). A port
 * already listened on succeeds again (for the newer generation). Returns 0, or a negative KUBELET_ERR_*
 * when it could not even be queued.
 */
int32_t net_tls_listen(net_tls_t *n, uint32_t gen, int32_t req, uint16_t port);

/**
 * From now on, connections of slot `slot`'s side (KUBELET_KEY_SLOT_CLIENT: the core's own connections;
 * KUBELET_KEY_SLOT_SERVING: the kubelet port, which can then listen) present `cert_pem` (a PEM chain, leaf
 * first) with `key_pem`. Both are copied (the key copy is wiped once parsed). Applied by the network task
 * in order with the other commands, so a connect issued after this call uses the new identity. Returns 0,
 * -KUBELET_ERR_HOST_CALL_INVALID for a bad slot, -KUBELET_ERR_HOST_CALL_FAILED when out of memory. A pair
 * that does not parse is logged and leaves the old identity in use.
 */
int32_t net_tls_set_identity(net_tls_t *n, int32_t slot, const char *cert_pem, const char *key_pem);

/** Closes (gen, conn) without an event. */
void net_tls_close(net_tls_t *n, uint32_t gen, int32_t conn);

/** Closes every connection of generation `gen` or older, without events. */
void net_tls_close_all(net_tls_t *n, uint32_t gen);

/** Closes every connection, posting PK_EV_CLOSED with `reason` for each (for a link that went away). */
void net_tls_drop_all(net_tls_t *n, int32_t reason);

/** Connections currently open or opening. */
uint32_t net_tls_open_count(net_tls_t *n);

#ifndef ESP_PLATFORM
/** Tests only (POSIX): while held, the resolver thread does not start the next name lookup. */
void net_tls_test_hold_resolver(bool hold);
/** Tests only (POSIX): while held, `n`'s network task waits at the top of its next turn (after running the
 * commands queued so far, before select()); net_tls_test_parked says it is waiting there. */
void net_tls_test_hold(net_tls_t *n, bool hold);
bool net_tls_test_parked(net_tls_t *n);
/** Tests only: the socket of (gen, conn), or -1; only while the task is parked. */
int net_tls_test_socket(net_tls_t *n, uint32_t gen, int32_t conn);
/** Tests only: the listening socket, or -1; only while the task is parked. */
int net_tls_test_listen_socket(net_tls_t *n);
/** Tests only: connections whose socket was in a turn's select() result although they were created after
 * it (a reused socket number): the guard kept them from acting on that readiness. */
uint32_t net_tls_test_stale_readiness(net_tls_t *n);
#endif

#ifdef __cplusplus
}
#endif
