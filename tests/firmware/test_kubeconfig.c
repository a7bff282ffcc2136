/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * kubeconfig.h: the shape `node tools/cluster.mjs kubeconfig-for-node` writes (client certificate), a
 * token user, file references, and URL splitting.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kubeconfig.h"

/* "hello\n" and "key" in base64 */
static const char k_node[] =
    "apiVersion: v1\n"
    "kind: Config\n"
    "clusters:\n"
    "- name: picokubelet-testenv\n"
    "  cluster:\n"
    "    server: \"https://127.0.0.1:41717\"\n"
    "    certificate-authority-data: aGVsbG8K\n"
    "users:\n"
    "- name: \"system:node:n1\"\n"
    "  user:\n"
    "    client-certificate-data: Y2VydA==\n"
    "    client-key-data: a2V5\n"
    "- name: second\n"
    "  user:\n"
    "    token: never-used\n"
    "current-context: \"system:node:n1@picokubelet-testenv\"\n";

static void test_node_kubeconfig(void)
{
    kubeconfig_t k;
    char err[256];
    CHECK_EQ_INT(kubeconfig_parse(k_node, NULL, &k, err, sizeof(err)), 0);
    CHECK_EQ_STR(k.server, "https://127.0.0.1:41717");
    CHECK_EQ_STR(k.host, "127.0.0.1");
    CHECK_EQ_INT(k.port, 41717);
    CHECK_EQ_STR(k.ca_pem, "hello\n");
    CHECK_EQ_STR(k.client_cert_pem, "cert");
    CHECK_EQ_STR(k.client_key_pem, "key");
    CHECK_EQ_STR(k.token, "never-used");
    kubeconfig_free(&k);
    CHECK(k.server == NULL);
}

static void test_token_and_files(void)
{
    char dir[] = "/tmp/pk-kubeconfig-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof(path), "%s/ca.pem", dir);
    FILE *f = fopen(path, "w");
    fputs("CA FILE\n", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/token", dir);
    f = fopen(path, "w");
    fputs("file-token\n", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/config", dir);
    f = fopen(path, "w");
    fputs("clusters:\n- cluster:\n    certificate-authority: ca.pem\n    server: https://k8s.example\n"
          "users:\n- user:\n    tokenFile: 'token'\n", f);
    fclose(f);
    kubeconfig_t k;
    char err[256];
    CHECK_EQ_INT(kubeconfig_load(path, &k, err, sizeof(err)), 0);
    CHECK_EQ_STR(k.host, "k8s.example");
    CHECK_EQ_INT(k.port, 443);
    CHECK_EQ_STR(k.ca_pem, "CA FILE\n");
    CHECK_EQ_STR(k.token, "file-token");
    CHECK(k.client_cert_pem == NULL);
    kubeconfig_free(&k);
}

static void test_errors(void)
{
    kubeconfig_t k;
    char err[256];
    CHECK_EQ_INT(kubeconfig_parse("users:\n- user:\n    token: t\n", NULL, &k, err, sizeof(err)), -1);
    CHECK(strstr(err, "server") != NULL);
    CHECK_EQ_INT(kubeconfig_parse("clusters:\n- cluster:\n    certificate-authority: /nonexistent/ca\n"
                                  "    server: https://h:1\n", NULL, &k, err, sizeof(err)), -1);
    CHECK(strstr(err, "certificate-authority") != NULL);
    CHECK_EQ_INT(kubeconfig_load("/nonexistent/kubeconfig", &k, err, sizeof(err)), -1);
}

static void test_split_url(void)
{
    char *host = NULL;
    uint16_t port = 0;
    CHECK_EQ_INT(kubeconfig_split_url("https://[::1]:6443/", &host, &port), 0);
    CHECK_EQ_STR(host, "::1");
    CHECK_EQ_INT(port, 6443);
    free(host);
    CHECK_EQ_INT(kubeconfig_split_url("https://10.0.0.1", &host, &port), 0);
    CHECK_EQ_STR(host, "10.0.0.1");
    CHECK_EQ_INT(port, 443);
    free(host);
    CHECK_EQ_INT(kubeconfig_split_url("https://h:99999", &host, &port), -1);
    CHECK_EQ_INT(kubeconfig_split_url("https://:80", &host, &port), -1);
    CHECK_EQ_INT(kubeconfig_split_url("https://h:8x", &host, &port), -1);
}

int main(void)
{
    RUN(test_node_kubeconfig);
    RUN(test_token_and_files);
    RUN(test_errors);
    RUN(test_split_url);
    return check_summary("kubeconfig");
}
