/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * The host's crypto for the core (assembly/ABI.md "Host calls"): two key slots (KUBELET_KEY_SLOT_CLIENT,
 * KUBELET_KEY_SLOT_SERVING), each with an ECDSA P-256 key and the certificate chain installed for it.
 *
 *   OP_KEY_GENERATE  a fresh key for the slot (mbedTLS, ctr_drbg seeded from the platform entropy: the
 *                    hardware RNG on the board), *pending*: the installed key and certificate stay in use
 *                    and are what OP_CERT_INFO reports until a certificate for the new key is installed
 *   OP_CSR_CREATE    a PEM PKCS #10 request for the pending key (else the installed one) from the spec
 *                    lines CN=, O=, DNS=, IP=
 *   OP_CERT_INSTALL  a PEM chain whose leaf must carry the pending (else the installed) public key: the
 *                    pair becomes the slot's, is stored (cred_store.h) and handed to the TLS side
 *                    (on_identity); result notBefore=/notAfter= lines
 *   OP_CERT_INFO     the same lines for the certificate the slot holds, or "no certificate"
 *
 * The private key never leaves the host: it goes only to the store (a 0600 file, NVS) and, as PEM in
 * memory, to the TLS side of this same device; it is never logged, and every copy is wiped after use.
 * A pending key lives in RAM only: after a restart the slot holds its last installed key and certificate
 * again, so a node that reboots in the middle of a rotation keeps a working identity (its CSR for the
 * lost key can no longer be installed, and the core makes a new one).
 *
 * Operations run one at a time on a worker task of their own (ECDSA on the board takes long enough to
 * matter to lease renewals) and finish with PK_EV_HOST_RESULT in the wasm task's queue.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "cred_store.h"
#include "pk_evq.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct host_crypto host_crypto_t;

/** Host calls queued or running at once; more are refused with -KUBELET_ERR_HOST_BUSY. */
#define HOST_CRYPTO_MAX_PENDING 8
/** Largest spec or certificate chain accepted (bytes). */
#define HOST_CRYPTO_MAX_INPUT (16 * 1024)

/**
 * A slot's certificate chain and key are to be used from now on (installed, or found in the store at
 * start). Called on the worker task (or in host_crypto_start); both strings are only valid during the
 * call: copy them (net_tls_set_identity does).
 */
typedef void (*host_crypto_identity_fn)(void *ctx, int32_t slot, const char *chain_pem, const char *key_pem);

typedef struct {
    /** Where results go (the wasm task's queue). */
    pk_evq_t *queue;
    /** Where keys and certificates persist; NULL: in RAM only (lost at exit). */
    cred_store_t *store;
    host_crypto_identity_fn on_identity;
    void *ctx;
    /** Worker task stack (bytes) and priority on FreeRTOS. */
    uint32_t task_stack_bytes;
    int task_priority;
} host_crypto_config_t;

/**
 * Seeds the DRBG, loads both slots from the store (handing a valid stored pair to on_identity) and
 * starts the worker. NULL with the reason in `err` on failure.
 */
host_crypto_t *host_crypto_start(const host_crypto_config_t *config, char *err, size_t err_size);

/**
 * Starts crypto op `op` (KUBELET_OP_KEY_GENERATE .. KUBELET_OP_CERT_INFO) for generation `gen` as request
 * `req` with `arg` (the slot) and `data` (copied). Returns 0 when a PK_EV_HOST_RESULT (conn = req, arg =
 * status, data = result lines or the reason in words) will follow, or -KUBELET_ERR_UNSUPPORTED (another
 * op), -KUBELET_ERR_HOST_CALL_INVALID (no such slot, input too large), -KUBELET_ERR_HOST_BUSY.
 */
int32_t host_crypto_call(host_crypto_t *hc, uint32_t gen, int32_t req, int32_t op, int32_t arg, const uint8_t *data,
                         size_t len);

/** True for the ops host_crypto_call serves. */
int host_crypto_serves(int32_t op);

#ifdef __cplusplus
}
#endif
