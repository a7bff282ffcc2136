/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * The node's configuration on the host side, and the configuration document the core reads
 * (assembly/ABI.md "Configuration document").
 *
 * Values arrive in layers: Kconfig defaults, then NVS namespace "kubelet" on the device (or flags and
 * environment in the Linux host port), each layer setting values by the same key names, so one image
 * can be flashed to many boards and told apart by NVS alone. The key names are the NVS keys; the
 * host-sim CLI writes the provisioning CSV with exactly these names.
 *
 * Strings are heap copies owned by the struct. An empty value clears a key, so an NVS entry with an
 * empty string can switch off a Kconfig default (for example a token, when the board uses a client
 * certificate instead).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** NVS namespace holding the keys below. */
#define KUBELET_CONFIG_NVS_NAMESPACE "kubelet"

/** Default API server port (the core's default too). */
#define KUBELET_CONFIG_DEFAULT_PORT 6443

/** How a key is stored in NVS. */
typedef enum {
    KUBELET_CONFIG_STR = 0,
    KUBELET_CONFIG_U16 = 1,
} kubelet_config_type_t;

/** One configuration key. */
typedef struct {
    const char *key;
    kubelet_config_type_t type;
    /** Kept out of logs (tokens, keys, passphrases). */
    bool secret;
} kubelet_config_key_t;

/** Every key, in NVS/CSV order. */
extern const kubelet_config_key_t kubelet_config_keys[];
/** Number of entries in kubelet_config_keys. */
extern const size_t kubelet_config_key_count;

/** The host's view of the configuration. NULL strings are unset. */
typedef struct {
    char *node_name;
    char *api_host;
    uint16_t api_port;
    char *server_name;
    char *token;
    /**
     * A bootstrap token `<id>.<secret>` for TLS bootstrap (assembly/ABI.md "The client certificate"): the
     * core has the host make a key and asks the cluster for a system:node:<name> certificate with it.
     * Excludes `token` and a configured client certificate.
     */
    char *bootstrap_token;
    /** Cluster CA bundle, PEM. */
    char *ca_pem;
    /** CA bundle (PEM) client certificates on the kubelet port are verified against; NULL: ca_pem. */
    char *client_ca;
    /** Client certificate and key, PEM; both or neither. */
    char *client_cert;
    char *client_key;
    char *wifi_ssid;
    char *wifi_psk;
    /** Host-described extras for the document (not NVS keys): base MAC "aa:bb:cc:dd:ee:ff", nodeInfo. */
    char *mac;
    char *os_image;
    char *kernel_version;
    /** "error", "warn", "info" or "debug"; NULL: the core's default. */
    char *log_level;
    /** Host-described: the kubelet port the host can serve (0: none), as the document's kubeletPort. */
    uint16_t kubelet_port;
} kubelet_config_t;

/** Result of kubelet_config_set and kubelet_config_to_json. */
typedef enum {
    KUBELET_CONFIG_OK = 0,
    /** No such key. */
    KUBELET_CONFIG_ERR_KEY = -1,
    /** The value is not valid for the key (a port outside 1..65535, invalid UTF-8). */
    KUBELET_CONFIG_ERR_VALUE = -2,
    /** Out of memory, or the output buffer is too small. */
    KUBELET_CONFIG_ERR_SPACE = -3,
} kubelet_config_err_t;

/** Empty configuration with the default port. */
void kubelet_config_init(kubelet_config_t *c);

/** Frees every string and re-initialises. */
void kubelet_config_free(kubelet_config_t *c);

/**
 * Sets `key` (an NVS key name from kubelet_config_keys, or one of the extras "mac", "os_image",
 * "kernel_version", "log_level") from text. An empty value clears the key. "api_port" takes a decimal
 * number in 1..65535.
 */
kubelet_config_err_t kubelet_config_set(kubelet_config_t *c, const char *key, const char *value);

/** Sets the port (0 restores the default). */
void kubelet_config_set_port(kubelet_config_t *c, uint16_t port);

/**
 * Checks what the host itself needs before starting the core: a node name, an API host, a CA, a
 * complete client certificate pair if any half is given, and a bootstrap token of the form
 * `[a-z0-9]{6}.[a-z0-9]{16}` that is the only credential configured (a bearer token or a client
 * certificate would be used instead of the certificate it asks for). Writes one message per problem
 * (separated by "; ") into `msg` and returns the number of problems. A configuration without any
 * credentials is allowed (a client certificate may be stored from an earlier bootstrap; else the API
 * server will refuse it, and the core will say so): kubelet_config_has_credentials tells.
 */
int kubelet_config_check(const kubelet_config_t *c, char *msg, size_t msg_size);

/** True when `token` has the form of a bootstrap token, `[a-z0-9]{6}.[a-z0-9]{16}`. */
bool kubelet_config_is_bootstrap_token(const char *token);

/**
 * What the node will authenticate with, in words for a log line: "client certificate", "bearer token",
 * "bootstrap token (TLS bootstrap)", or NULL when the configuration holds no credentials.
 */
const char *kubelet_config_credentials(const kubelet_config_t *c);

/**
 * Writes the core's configuration document (UTF-8 JSON, no NUL counted in `*out_len`) into `out`.
 * Only keys with values are written; secrets are included (the document goes only to the core).
 * Returns KUBELET_CONFIG_ERR_VALUE when a string is not valid UTF-8 (`*bad_key` names it, if given) and
 * KUBELET_CONFIG_ERR_SPACE when `out_size` is too small.
 */
kubelet_config_err_t kubelet_config_to_json(const kubelet_config_t *c, char *out, size_t out_size, size_t *out_len,
                                            const char **bad_key);

/**
 * Writes `in[0..in_len)` as the body of a JSON string (no quotes) into `out`: `"` and `\` escaped,
 * control characters as \n, \t... or \u00XX, valid UTF-8 passed through. Returns the number of bytes
 * written, or -1 when the input is not valid UTF-8 (overlong forms, surrogates and code points above
 * U+10FFFF are invalid) or `out_size` is too small. Writes a NUL after the output when there is room.
 */
long kubelet_json_escape(const char *in, size_t in_len, char *out, size_t out_size);

#ifdef __cplusplus
}
#endif
