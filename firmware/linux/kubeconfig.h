/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * Just enough kubeconfig for the Linux host port: the API server URL, the cluster CA and the user's
 * client certificate and key or bearer token, taken from the first cluster and the first user entry
 * (what `node tools/cluster.mjs kubeconfig-for-node` writes). Inline *-data fields are base64-decoded;
 * file fields (certificate-authority, client-certificate, client-key, tokenFile) are read relative to
 * the kubeconfig's directory. Not a YAML parser: one "key: value" per line, values plain or quoted.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    /** "https://host:port" as written. */
    char *server;
    /** Host and port split out of `server` (port 443 when absent). */
    char *host;
    uint16_t port;
    char *ca_pem;
    char *client_cert_pem;
    char *client_key_pem;
    char *token;
} kubeconfig_t;

/**
 * Parses kubeconfig text. `base_dir` resolves relative file references (NULL: the current directory).
 * Returns 0, or -1 with a message in `err`.
 */
int kubeconfig_parse(const char *text, const char *base_dir, kubeconfig_t *out, char *err, size_t err_size);

/** Reads and parses a kubeconfig file. */
int kubeconfig_load(const char *path, kubeconfig_t *out, char *err, size_t err_size);

/** Splits "https://host:port/..." into host and port. Returns 0 or -1. */
int kubeconfig_split_url(const char *url, char **host, uint16_t *port);

/** Reads a whole file into a NUL-terminated heap string (NULL on error, errno set). */
char *kubeconfig_read_file(const char *path, size_t *len);

void kubeconfig_free(kubeconfig_t *k);

#ifdef __cplusplus
}
#endif
