/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * kubelet_config.h: key table, layered setting, host-side checks and the JSON document for the core.
 * No JSON library: the document is flat (strings and one integer), so a careful escaper is all it takes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kubelet_config.h"

const kubelet_config_key_t kubelet_config_keys[] = {
    {"node_name", KUBELET_CONFIG_STR, false},
    {"api_host", KUBELET_CONFIG_STR, false},
    {"api_port", KUBELET_CONFIG_U16, false},
    {"server_name", KUBELET_CONFIG_STR, false},
    {"token", KUBELET_CONFIG_STR, true},
    {"bootstrap_token", KUBELET_CONFIG_STR, true},
    {"ca_pem", KUBELET_CONFIG_STR, false},
    {"client_ca", KUBELET_CONFIG_STR, false},
    {"client_cert", KUBELET_CONFIG_STR, false},
    {"client_key", KUBELET_CONFIG_STR, true},
    {"wifi_ssid", KUBELET_CONFIG_STR, false},
    {"wifi_psk", KUBELET_CONFIG_STR, true},
};
const size_t kubelet_config_key_count = sizeof(kubelet_config_keys) / sizeof(kubelet_config_keys[0]);

/* Output buffer with a sticky overflow flag. */
typedef struct {
    char *buf;
    size_t size;
    size_t len;
    bool overflow;
    bool bad_utf8;
} json_out_t;

static char **field_for(kubelet_config_t *c, const char *key)
{
    static const struct {
        const char *key;
        size_t offset;
    } fields[] = {
        {"node_name", offsetof(kubelet_config_t, node_name)},
        {"api_host", offsetof(kubelet_config_t, api_host)},
        {"server_name", offsetof(kubelet_config_t, server_name)},
        {"token", offsetof(kubelet_config_t, token)},
        {"bootstrap_token", offsetof(kubelet_config_t, bootstrap_token)},
        {"ca_pem", offsetof(kubelet_config_t, ca_pem)},
        {"client_ca", offsetof(kubelet_config_t, client_ca)},
        {"client_cert", offsetof(kubelet_config_t, client_cert)},
        {"client_key", offsetof(kubelet_config_t, client_key)},
        {"wifi_ssid", offsetof(kubelet_config_t, wifi_ssid)},
        {"wifi_psk", offsetof(kubelet_config_t, wifi_psk)},
        {"mac", offsetof(kubelet_config_t, mac)},
        {"os_image", offsetof(kubelet_config_t, os_image)},
        {"kernel_version", offsetof(kubelet_config_t, kernel_version)},
        {"log_level", offsetof(kubelet_config_t, log_level)},
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (strcmp(fields[i].key, key) == 0) {
            return (char **)((char *)c + fields[i].offset);
        }
    }
    return NULL;
}

void kubelet_config_init(kubelet_config_t *c)
{
    memset(c, 0, sizeof(*c));
    c->api_port = KUBELET_CONFIG_DEFAULT_PORT;
}

void kubelet_config_free(kubelet_config_t *c)
{
    char **strings[] = {&c->node_name, &c->api_host,   &c->server_name,    &c->token,     &c->bootstrap_token,
                        &c->ca_pem,    &c->client_ca,  &c->client_cert,    &c->client_key, &c->wifi_ssid,
                        &c->wifi_psk,  &c->mac,        &c->os_image,       &c->kernel_version, &c->log_level};
    for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++) {
        free(*strings[i]);
    }
    kubelet_config_init(c);
}

void kubelet_config_set_port(kubelet_config_t *c, uint16_t port)
{
    c->api_port = port ? port : KUBELET_CONFIG_DEFAULT_PORT;
}

kubelet_config_err_t kubelet_config_set(kubelet_config_t *c, const char *key, const char *value)
{
    if (key == NULL || value == NULL) {
        return KUBELET_CONFIG_ERR_VALUE;
    }
    if (strcmp(key, "api_port") == 0) {
        if (value[0] == '\0') {
            kubelet_config_set_port(c, 0);
            return KUBELET_CONFIG_OK;
        }
        unsigned long port = 0;
        for (const char *p = value; *p; p++) {
            if (*p < '0' || *p > '9' || port > 65535) {
                return KUBELET_CONFIG_ERR_VALUE;
            }
            port = port * 10 + (unsigned long)(*p - '0');
        }
        if (port < 1 || port > 65535) {
            return KUBELET_CONFIG_ERR_VALUE;
        }
        c->api_port = (uint16_t)port;
        return KUBELET_CONFIG_OK;
    }
    char **field = field_for(c, key);
    if (field == NULL) {
        return KUBELET_CONFIG_ERR_KEY;
    }
    char *copy = NULL;
    if (value[0] != '\0') {
        copy = strdup(value);
        if (copy == NULL) {
            return KUBELET_CONFIG_ERR_SPACE;
        }
    }
    free(*field);
    *field = copy;
    return KUBELET_CONFIG_OK;
}

static void add_problem(char *msg, size_t msg_size, int *count, const char *text)
{
    if (msg != NULL && msg_size > 0) {
        size_t used = strlen(msg);
        snprintf(msg + used, msg_size - used, "%s%s", *count > 0 ? "; " : "", text);
    }
    (*count)++;
}

int kubelet_config_check(const kubelet_config_t *c, char *msg, size_t msg_size)
{
    int count = 0;
    if (msg != NULL && msg_size > 0) {
        msg[0] = '\0';
    }
    if (c->node_name == NULL) {
        add_problem(msg, msg_size, &count, "node_name is not set");
    }
    if (c->api_host == NULL) {
        add_problem(msg, msg_size, &count, "api_host is not set");
    }
    if (c->ca_pem == NULL) {
        add_problem(msg, msg_size, &count, "ca_pem (the cluster CA) is not set; the server could not be verified");
    }
    if ((c->client_cert == NULL) != (c->client_key == NULL)) {
        add_problem(msg, msg_size, &count, "client_cert and client_key must be given together");
    }
    if (c->bootstrap_token != NULL) {
        if (!kubelet_config_is_bootstrap_token(c->bootstrap_token)) {
            add_problem(msg, msg_size, &count,
                        "bootstrap_token is not a bootstrap token (<id>.<secret>, [a-z0-9]{6}.[a-z0-9]{16})");
        }
        /* The core refuses both tokens together; a client certificate would be presented instead of the
         * bootstrap token's identity while the CSR is made. Say which to clear rather than guess. */
        if (c->token != NULL) {
            add_problem(msg, msg_size, &count,
                        "token and bootstrap_token exclude each other (a bootstrap token only gets the node its "
                        "client certificate): clear one");
        }
        if (c->client_cert != NULL || c->client_key != NULL) {
            add_problem(msg, msg_size, &count,
                        "client_cert/client_key and bootstrap_token exclude each other: clear the certificate to "
                        "bootstrap, or the bootstrap token to use it");
        }
    }
    return count;
}

bool kubelet_config_is_bootstrap_token(const char *token)
{
    if (token == NULL || strlen(token) != 23 || token[6] != '.') {
        return false;
    }
    for (size_t i = 0; i < 23; i++) {
        char ch = token[i];
        if (i != 6 && !((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))) {
            return false;
        }
    }
    return true;
}

const char *kubelet_config_credentials(const kubelet_config_t *c)
{
    if (c->client_cert != NULL) {
        return "client certificate";
    }
    if (c->token != NULL) {
        return "bearer token";
    }
    if (c->bootstrap_token != NULL) {
        return "bootstrap token (TLS bootstrap)";
    }
    return NULL;
}

static void out_raw(json_out_t *o, const char *s, size_t n)
{
    if (o->overflow || o->len + n >= o->size) {
        o->overflow = true;
        return;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

/* Length of the valid UTF-8 sequence starting at s (at most n bytes available), or 0 if invalid. */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
    unsigned char b = s[0];
    if (b < 0x80) {
        return 1;
    }
    size_t len;
    uint32_t cp;
    uint32_t min;
    if ((b & 0xE0) == 0xC0) {
        len = 2;
        cp = b & 0x1F;
        min = 0x80;
    } else if ((b & 0xF0) == 0xE0) {
        len = 3;
        cp = b & 0x0F;
        min = 0x800;
    } else if ((b & 0xF8) == 0xF0) {
        len = 4;
        cp = b & 0x07;
        min = 0x10000;
    } else {
        return 0;
    }
    if (len > n) {
        return 0;
    }
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    return len;
}

static void out_escaped(json_out_t *o, const char *in, size_t in_len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)in;
    size_t i = 0;
    while (i < in_len) {
        unsigned char b = s[i];
        const char *esc = NULL;
        switch (b) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '\b':
            esc = "\\b";
            break;
        case '\f':
            esc = "\\f";
            break;
        case '\n':
            esc = "\\n";
            break;
        case '\r':
            esc = "\\r";
            break;
        case '\t':
            esc = "\\t";
            break;
        default:
            break;
        }
        if (esc != NULL) {
            out_raw(o, esc, 2);
            i++;
        } else if (b < 0x20) {
            char u[6] = {'\\', 'u', '0', '0', hex[b >> 4], hex[b & 0xF]};
            out_raw(o, u, sizeof(u));
            i++;
        } else {
            size_t n = utf8_sequence(s + i, in_len - i);
            if (n == 0) {
                o->bad_utf8 = true;
                return;
            }
            out_raw(o, in + i, n);
            i += n;
        }
    }
}

long kubelet_json_escape(const char *in, size_t in_len, char *out, size_t out_size)
{
    json_out_t o = {.buf = out, .size = out_size};
    if (out_size > 0) {
        out[0] = '\0';
    } else {
        o.overflow = true;
    }
    out_escaped(&o, in, in_len);
    if (o.overflow || o.bad_utf8) {
        return -1;
    }
    return (long)o.len;
}

static void member_string(json_out_t *o, const char *name, const char *value, const char **bad_key)
{
    if (value == NULL) {
        return;
    }
    out_raw(o, o->len > 1 ? ",\"" : "\"", o->len > 1 ? 2 : 1);
    out_raw(o, name, strlen(name));
    out_raw(o, "\":\"", 3);
    bool was_bad = o->bad_utf8;
    out_escaped(o, value, strlen(value));
    if (o->bad_utf8 && !was_bad && bad_key != NULL) {
        *bad_key = name;
    }
    out_raw(o, "\"", 1);
}

kubelet_config_err_t kubelet_config_to_json(const kubelet_config_t *c, char *out, size_t out_size, size_t *out_len,
                                            const char **bad_key)
{
    json_out_t o = {.buf = out, .size = out_size};
    if (bad_key != NULL) {
        *bad_key = NULL;
    }
    if (out_size == 0) {
        return KUBELET_CONFIG_ERR_SPACE;
    }
    out[0] = '\0';
    out_raw(&o, "{", 1);
    member_string(&o, "nodeName", c->node_name, bad_key);
    member_string(&o, "apiHost", c->api_host, bad_key);
    char port[24];
    int n = snprintf(port, sizeof(port), "%s\"apiPort\":%u", o.len > 1 ? "," : "", (unsigned)c->api_port);
    out_raw(&o, port, (size_t)n);
    member_string(&o, "serverName", c->server_name, bad_key);
    member_string(&o, "token", c->token, bad_key);
    member_string(&o, "bootstrapToken", c->bootstrap_token, bad_key);
    member_string(&o, "mac", c->mac, bad_key);
    member_string(&o, "osImage", c->os_image, bad_key);
    member_string(&o, "kernelVersion", c->kernel_version, bad_key);
    member_string(&o, "logLevel", c->log_level, bad_key);
    if (c->kubelet_port > 0) {
        n = snprintf(port, sizeof(port), ",\"kubeletPort\":%u", (unsigned)c->kubelet_port);
        out_raw(&o, port, (size_t)n);
    }
    out_raw(&o, "}", 1);
    if (o.bad_utf8) {
        return KUBELET_CONFIG_ERR_VALUE;
    }
    if (o.overflow) {
        return KUBELET_CONFIG_ERR_SPACE;
    }
    if (out_len != NULL) {
        *out_len = o.len;
    }
    return KUBELET_CONFIG_OK;
}
