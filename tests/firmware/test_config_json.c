/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * kubelet_config.h: layered keys, host-side checks, JSON escaping and the core's configuration
 * document (assembly/ABI.md "Configuration document").
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kubelet_config.h"

static char s_out[8192];

static const char *doc(const kubelet_config_t *c)
{
    size_t len = 0;
    kubelet_config_err_t rc = kubelet_config_to_json(c, s_out, sizeof(s_out), &len, NULL);
    CHECK_EQ_INT(rc, KUBELET_CONFIG_OK);
    CHECK_EQ_INT(len, strlen(s_out));
    return s_out;
}

static const char *esc(const char *in)
{
    long n = kubelet_json_escape(in, strlen(in), s_out, sizeof(s_out));
    return n < 0 ? NULL : s_out;
}

static void test_minimal_document(void)
{
    kubelet_config_t c;
    kubelet_config_init(&c);
    CHECK_EQ_INT(kubelet_config_set(&c, "node_name", "esp-01"), KUBELET_CONFIG_OK);
    CHECK_EQ_INT(kubelet_config_set(&c, "api_host", "192.168.0.103"), KUBELET_CONFIG_OK);
    CHECK_EQ_STR(doc(&c), "{\"nodeName\":\"esp-01\",\"apiHost\":\"192.168.0.103\",\"apiPort\":6443}");
    kubelet_config_free(&c);
}

static void test_full_document_order_and_secrets(void)
{
    kubelet_config_t c;
    kubelet_config_init(&c);
    kubelet_config_set(&c, "node_name", "rack-7");
    kubelet_config_set(&c, "api_host", "k8s.example");
    kubelet_config_set(&c, "api_port", "16443");
    kubelet_config_set(&c, "server_name", "kubernetes");
    kubelet_config_set(&c, "token", "abc.def");
    kubelet_config_set(&c, "mac", "aa:bb:cc:dd:ee:ff");
    kubelet_config_set(&c, "os_image", "picokubelet on ESP32-S3");
    kubelet_config_set(&c, "kernel_version", "wasm3 0.9.0");
    kubelet_config_set(&c, "log_level", "debug");
    kubelet_config_set(&c, "wifi_psk", "never in the document");
    kubelet_config_set(&c, "ca_pem", "-----BEGIN CERTIFICATE-----\n...");
    CHECK_EQ_STR(doc(&c), "{\"nodeName\":\"rack-7\",\"apiHost\":\"k8s.example\",\"apiPort\":16443,"
                          "\"serverName\":\"kubernetes\",\"token\":\"abc.def\",\"mac\":\"aa:bb:cc:dd:ee:ff\","
                          "\"osImage\":\"picokubelet on ESP32-S3\",\"kernelVersion\":\"wasm3 0.9.0\","
                          "\"logLevel\":\"debug\"}");
    kubelet_config_free(&c);
}

static void test_layers_override_and_clear(void)
{
    kubelet_config_t c;
    kubelet_config_init(&c);
    /* Kconfig layer */
    kubelet_config_set(&c, "node_name", "default-node");
    kubelet_config_set(&c, "token", "kconfig-token");
    kubelet_config_set(&c, "api_host", "10.0.0.1");
    /* NVS layer: a new name, and an empty token switches the Kconfig token off */
    kubelet_config_set(&c, "node_name", "board-3");
    kubelet_config_set(&c, "token", "");
    CHECK_EQ_STR(c.node_name, "board-3");
    CHECK(c.token == NULL);
    CHECK(strstr(doc(&c), "token") == NULL);
    kubelet_config_free(&c);
    CHECK(c.node_name == NULL);
    CHECK_EQ_INT(c.api_port, KUBELET_CONFIG_DEFAULT_PORT);
}

static void test_port_parsing(void)
{
    kubelet_config_t c;
    kubelet_config_init(&c);
    CHECK_EQ_INT(kubelet_config_set(&c, "api_port", "1"), KUBELET_CONFIG_OK);
    CHECK_EQ_INT(c.api_port, 1);
    CHECK_EQ_INT(kubelet_config_set(&c, "api_port", "65535"), KUBELET_CONFIG_OK);
    CHECK_EQ_INT(c.api_port, 65535);
    CHECK_EQ_INT(kubelet_config_set(&c, "api_port", "65536"), KUBELET_CONFIG_ERR_VALUE);
    CHECK_EQ_INT(kubelet_config_set(&c, "api_port", "0"), KUBELET_CONFIG_ERR_VALUE);
    CHECK_EQ_INT(kubelet_config_set(&c, "api_port", "64x"), KUBELET_CONFIG_ERR_VALUE);
    CHECK_EQ_INT(kubelet_config_set(&c, "api_port", "-1"), KUBELET_CONFIG_ERR_VALUE);
    CHECK_EQ_INT(kubelet_config_set(&c, "api_port", "99999999999999999999"), KUBELET_CONFIG_ERR_VALUE);
    CHECK_EQ_INT(c.api_port, 65535);
    CHECK_EQ_INT(kubelet_config_set(&c, "api_port", ""), KUBELET_CONFIG_OK);
    CHECK_EQ_INT(c.api_port, 6443);
    kubelet_config_set_port(&c, 8443);
    CHECK_EQ_INT(c.api_port, 8443);
    kubelet_config_free(&c);
}

static void test_unknown_key(void)
{
    kubelet_config_t c;
    kubelet_config_init(&c);
    CHECK_EQ_INT(kubelet_config_set(&c, "nodename", "x"), KUBELET_CONFIG_ERR_KEY);
    CHECK_EQ_INT(kubelet_config_set(&c, "node_name", NULL), KUBELET_CONFIG_ERR_VALUE);
    kubelet_config_free(&c);
}

static void test_key_table_matches_nvs_contract(void)
{
    /* The NVS keys, in order (the host-sim CLI writes those a node needs into the provisioning CSV). */
    static const char *expected[] = {"node_name",  "api_host",  "api_port",    "server_name", "token",
                                     "bootstrap_token", "ca_pem", "client_ca", "client_cert", "client_key",
                                     "wifi_ssid",  "wifi_psk"};
    CHECK_EQ_INT(kubelet_config_key_count, sizeof(expected) / sizeof(expected[0]));
    for (size_t i = 0; i < kubelet_config_key_count && i < sizeof(expected) / sizeof(expected[0]); i++) {
        CHECK_EQ_STR(kubelet_config_keys[i].key, expected[i]);
        CHECK(strlen(kubelet_config_keys[i].key) <= 15); /* NVS key names hold at most 15 characters */
        CHECK_EQ_INT(kubelet_config_keys[i].type,
                     strcmp(expected[i], "api_port") == 0 ? KUBELET_CONFIG_U16 : KUBELET_CONFIG_STR);
        bool secret = strcmp(expected[i], "token") == 0 || strcmp(expected[i], "bootstrap_token") == 0 ||
                      strcmp(expected[i], "client_key") == 0 || strcmp(expected[i], "wifi_psk") == 0;
        CHECK(kubelet_config_keys[i].secret == secret);
    }
    kubelet_config_t c;
    kubelet_config_init(&c);
    for (size_t i = 0; i < kubelet_config_key_count; i++) {
        if (kubelet_config_keys[i].type == KUBELET_CONFIG_STR) {
            CHECK_EQ_INT(kubelet_config_set(&c, kubelet_config_keys[i].key, "v"), KUBELET_CONFIG_OK);
        }
    }
    kubelet_config_free(&c);
}

static void test_escaping(void)
{
    CHECK_EQ_STR(esc("plain"), "plain");
    CHECK_EQ_STR(esc("a\"b\\c"), "a\\\"b\\\\c");
    CHECK_EQ_STR(esc("line1\nline2\r\t\b\f"), "line1\\nline2\\r\\t\\b\\f");
    CHECK_EQ_STR(esc("\x01\x1f"), "\\u0001\\u001f");
    CHECK_EQ_STR(esc("/ and \x7f stay"), "/ and \x7f stay");
    /* valid UTF-8 passes through: 2-, 3- and 4-byte forms */
    CHECK_EQ_STR(esc("G\xc3\xbcnther \xe2\x82\xac \xf0\x9f\x98\x80"), "G\xc3\xbcnther \xe2\x82\xac \xf0\x9f\x98\x80");
    /* invalid UTF-8 is refused */
    CHECK(esc("\xc3") == NULL);             /* truncated */
    CHECK(esc("\xc0\xaf") == NULL);         /* overlong '/' */
    CHECK(esc("\xe0\x80\xaf") == NULL);     /* overlong, 3 bytes */
    CHECK(esc("\xed\xa0\x80") == NULL);     /* UTF-16 surrogate */
    CHECK(esc("\xf4\x90\x80\x80") == NULL); /* above U+10FFFF */
    CHECK(esc("\xff") == NULL);
    CHECK(esc("\x80") == NULL); /* lone continuation byte */
    /* an embedded NUL (explicit length) becomes \u0000 */
    long n = kubelet_json_escape("a\0b", 3, s_out, sizeof(s_out));
    CHECK_EQ_INT(n, 8);
    CHECK_EQ_STR(s_out, "a\\u0000b");
}

static void test_escaping_bounds(void)
{
    char small[6];
    CHECK_EQ_INT(kubelet_json_escape("abcde", 5, small, sizeof(small)), 5);
    CHECK_EQ_INT(kubelet_json_escape("abcdef", 6, small, sizeof(small)), -1);
    CHECK_EQ_INT(kubelet_json_escape("ab\"d", 4, small, sizeof(small)), 5);
    CHECK_EQ_INT(kubelet_json_escape("abc\"d", 5, small, sizeof(small)), -1);
    CHECK_EQ_INT(kubelet_json_escape("", 0, small, 0), -1);
}

static void test_document_escapes_every_value(void)
{
    kubelet_config_t c;
    kubelet_config_init(&c);
    kubelet_config_set(&c, "node_name", "n");
    kubelet_config_set(&c, "api_host", "h");
    kubelet_config_set(&c, "token", "to\"k\\en\n");
    CHECK_EQ_STR(doc(&c), "{\"nodeName\":\"n\",\"apiHost\":\"h\",\"apiPort\":6443,\"token\":\"to\\\"k\\\\en\\n\"}");
    kubelet_config_set(&c, "server_name", "bad\xff");
    const char *bad = NULL;
    size_t len = 0;
    CHECK_EQ_INT(kubelet_config_to_json(&c, s_out, sizeof(s_out), &len, &bad), KUBELET_CONFIG_ERR_VALUE);
    CHECK_EQ_STR(bad, "serverName");
    kubelet_config_free(&c);
}

static void test_document_too_small(void)
{
    kubelet_config_t c;
    kubelet_config_init(&c);
    kubelet_config_set(&c, "node_name", "node");
    kubelet_config_set(&c, "api_host", "host");
    char buf[64];
    size_t len = 0;
    CHECK_EQ_INT(kubelet_config_to_json(&c, buf, sizeof(buf), &len, NULL), KUBELET_CONFIG_OK);
    size_t need = len + 1;
    CHECK_EQ_INT(kubelet_config_to_json(&c, buf, need, &len, NULL), KUBELET_CONFIG_OK);
    CHECK_EQ_INT(kubelet_config_to_json(&c, buf, need - 1, &len, NULL), KUBELET_CONFIG_ERR_SPACE);
    CHECK_EQ_INT(kubelet_config_to_json(&c, buf, 0, &len, NULL), KUBELET_CONFIG_ERR_SPACE);
    kubelet_config_free(&c);
}

static void test_check(void)
{
    kubelet_config_t c;
    kubelet_config_init(&c);
    char msg[512];
    CHECK_EQ_INT(kubelet_config_check(&c, msg, sizeof(msg)), 3);
    CHECK(strstr(msg, "node_name") != NULL);
    CHECK(strstr(msg, "api_host") != NULL);
    CHECK(strstr(msg, "ca_pem") != NULL);
    kubelet_config_set(&c, "node_name", "n");
    kubelet_config_set(&c, "api_host", "h");
    kubelet_config_set(&c, "ca_pem", "pem");
    CHECK_EQ_INT(kubelet_config_check(&c, msg, sizeof(msg)), 0);
    CHECK_EQ_STR(msg, "");
    kubelet_config_set(&c, "client_cert", "cert");
    CHECK_EQ_INT(kubelet_config_check(&c, msg, sizeof(msg)), 1);
    CHECK(strstr(msg, "together") != NULL);
    kubelet_config_set(&c, "client_key", "key");
    CHECK_EQ_INT(kubelet_config_check(&c, NULL, 0), 0);
    kubelet_config_free(&c);
}

static void test_bootstrap_token_document(void)
{
    kubelet_config_t c;
    kubelet_config_init(&c);
    kubelet_config_set(&c, "node_name", "esp-03");
    kubelet_config_set(&c, "api_host", "192.168.1.20");
    kubelet_config_set(&c, "ca_pem", "pem");
    CHECK(kubelet_config_credentials(&c) == NULL);
    CHECK_EQ_INT(kubelet_config_set(&c, "bootstrap_token", "abcdef.0123456789abcdef"), KUBELET_CONFIG_OK);
    /* the core's key; the secret goes only into the document */
    CHECK_EQ_STR(doc(&c), "{\"nodeName\":\"esp-03\",\"apiHost\":\"192.168.1.20\",\"apiPort\":6443,"
                          "\"bootstrapToken\":\"abcdef.0123456789abcdef\"}");
    CHECK_EQ_STR(kubelet_config_credentials(&c), "bootstrap token (TLS bootstrap)");
    char msg[512];
    CHECK_EQ_INT(kubelet_config_check(&c, msg, sizeof(msg)), 0);
    /* an NVS entry with an empty value switches a Kconfig bootstrap token off */
    kubelet_config_set(&c, "bootstrap_token", "");
    CHECK(c.bootstrap_token == NULL);
    CHECK(strstr(doc(&c), "bootstrapToken") == NULL);
    kubelet_config_free(&c);
    CHECK(c.bootstrap_token == NULL);
}

static void test_bootstrap_token_form(void)
{
    CHECK(kubelet_config_is_bootstrap_token("abcdef.0123456789abcdef"));
    CHECK(kubelet_config_is_bootstrap_token("000000.zzzzzzzzzzzzzzzz"));
    CHECK(!kubelet_config_is_bootstrap_token(NULL));
    CHECK(!kubelet_config_is_bootstrap_token(""));
    CHECK(!kubelet_config_is_bootstrap_token("Abcdef.0123456789abcdef"));  /* upper case */
    CHECK(!kubelet_config_is_bootstrap_token("abcdef-0123456789abcdef"));  /* separator */
    CHECK(!kubelet_config_is_bootstrap_token("abcde.0123456789abcdefg"));  /* 5 + 17 */
    CHECK(!kubelet_config_is_bootstrap_token("abcdef.0123456789abcde"));   /* short secret */
    CHECK(!kubelet_config_is_bootstrap_token("abcdef.0123456789abcdef0")); /* long secret */
    CHECK(!kubelet_config_is_bootstrap_token("abcdef.01234567.9abcdef"));  /* a second dot */
    CHECK(!kubelet_config_is_bootstrap_token("eyJhbGciOiJSUzI1NiIsImtpZCI6"));

    kubelet_config_t c;
    kubelet_config_init(&c);
    kubelet_config_set(&c, "node_name", "n");
    kubelet_config_set(&c, "api_host", "h");
    kubelet_config_set(&c, "ca_pem", "pem");
    kubelet_config_set(&c, "bootstrap_token", "not-a-bootstrap-token");
    char msg[512];
    CHECK_EQ_INT(kubelet_config_check(&c, msg, sizeof(msg)), 1);
    CHECK(strstr(msg, "bootstrap_token is not a bootstrap token") != NULL);
    /* the value itself is a secret: never in the message */
    CHECK(strstr(msg, "not-a-bootstrap-token") == NULL);
    kubelet_config_free(&c);
}

static void test_bootstrap_token_excludes_other_credentials(void)
{
    kubelet_config_t c;
    kubelet_config_init(&c);
    kubelet_config_set(&c, "node_name", "n");
    kubelet_config_set(&c, "api_host", "h");
    kubelet_config_set(&c, "ca_pem", "pem");
    kubelet_config_set(&c, "bootstrap_token", "abcdef.0123456789abcdef");
    kubelet_config_set(&c, "token", "a-bearer-token");
    char msg[512];
    CHECK_EQ_INT(kubelet_config_check(&c, msg, sizeof(msg)), 1);
    CHECK(strstr(msg, "token and bootstrap_token exclude each other") != NULL);
    kubelet_config_set(&c, "token", "");
    kubelet_config_set(&c, "client_cert", "cert");
    kubelet_config_set(&c, "client_key", "key");
    CHECK_EQ_INT(kubelet_config_check(&c, msg, sizeof(msg)), 1);
    CHECK(strstr(msg, "client_cert/client_key and bootstrap_token exclude each other") != NULL);
    CHECK_EQ_STR(kubelet_config_credentials(&c), "client certificate");
    kubelet_config_set(&c, "bootstrap_token", "");
    CHECK_EQ_INT(kubelet_config_check(&c, msg, sizeof(msg)), 0);
    kubelet_config_set(&c, "client_cert", "");
    kubelet_config_set(&c, "client_key", "");
    kubelet_config_set(&c, "token", "t");
    CHECK_EQ_STR(kubelet_config_credentials(&c), "bearer token");
    kubelet_config_free(&c);
}

int main(void)
{
    RUN(test_minimal_document);
    RUN(test_full_document_order_and_secrets);
    RUN(test_layers_override_and_clear);
    RUN(test_port_parsing);
    RUN(test_unknown_key);
    RUN(test_key_table_matches_nvs_contract);
    RUN(test_escaping);
    RUN(test_escaping_bounds);
    RUN(test_document_escapes_every_value);
    RUN(test_document_too_small);
    RUN(test_check);
    RUN(test_bootstrap_token_document);
    RUN(test_bootstrap_token_form);
    RUN(test_bootstrap_token_excludes_other_credentials);
    return check_summary("config");
}
