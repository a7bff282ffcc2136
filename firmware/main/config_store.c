/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * config_store.h. Kconfig strings cannot hold newlines, so PEM values written there with "\n" escapes
 * are unescaped here; values from NVS are taken as they are.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esp_log.h"
#include "nvs.h"
#include "sdkconfig.h"

#include "config_store.h"

static const char *TAG = "config";

/* Sets `key` from a Kconfig string, turning the two characters "\n" into newlines. */
static void set_kconfig(kubelet_config_t *c, const char *key, const char *value)
{
    size_t n = strlen(value);
    char *copy = malloc(n + 1);
    if (copy == NULL) {
        return;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (value[i] == '\\' && value[i + 1] == 'n') {
            copy[o++] = '\n';
            i++;
        } else {
            copy[o++] = value[i];
        }
    }
    copy[o] = '\0';
    kubelet_config_set(c, key, copy);
    free(copy);
}

esp_err_t config_store_load(kubelet_config_t *c)
{
    kubelet_config_init(c);
    set_kconfig(c, "node_name", CONFIG_PICOKUBELET_NODE_NAME);
    set_kconfig(c, "api_host", CONFIG_PICOKUBELET_API_HOST);
    kubelet_config_set_port(c, CONFIG_PICOKUBELET_API_PORT);
    set_kconfig(c, "server_name", CONFIG_PICOKUBELET_SERVER_NAME);
    set_kconfig(c, "token", CONFIG_PICOKUBELET_TOKEN);
    set_kconfig(c, "bootstrap_token", CONFIG_PICOKUBELET_BOOTSTRAP_TOKEN);
    set_kconfig(c, "ca_pem", CONFIG_PICOKUBELET_CA_PEM);
    set_kconfig(c, "client_ca", CONFIG_PICOKUBELET_CLIENT_CA);
    set_kconfig(c, "client_cert", CONFIG_PICOKUBELET_CLIENT_CERT);
    set_kconfig(c, "client_key", CONFIG_PICOKUBELET_CLIENT_KEY);
    set_kconfig(c, "wifi_ssid", CONFIG_PICOKUBELET_WIFI_SSID);
    set_kconfig(c, "wifi_psk", CONFIG_PICOKUBELET_WIFI_PSK);
    set_kconfig(c, "log_level", CONFIG_PICOKUBELET_LOG_LEVEL);

    nvs_handle_t h;
    esp_err_t err = nvs_open(KUBELET_CONFIG_NVS_NAMESPACE, NVS_READONLY, &h);
    if (err == ESP_ERR_NVS_NOT_FOUND) {
        ESP_LOGI(TAG, "no NVS namespace \"%s\": using the build-time configuration", KUBELET_CONFIG_NVS_NAMESPACE);
        return ESP_OK;
    }
    if (err != ESP_OK) {
        ESP_LOGE(TAG, "opening NVS namespace \"%s\": %s", KUBELET_CONFIG_NVS_NAMESPACE, esp_err_to_name(err));
        return err;
    }
    char from_nvs[192] = "";
    for (size_t i = 0; i < kubelet_config_key_count; i++) {
        const char *key = kubelet_config_keys[i].key;
        bool found = false;
        if (kubelet_config_keys[i].type == KUBELET_CONFIG_U16) {
            uint16_t v = 0;
            err = nvs_get_u16(h, key, &v);
            if (err == ESP_OK) {
                if (v == 0) {
                    ESP_LOGW(TAG, "NVS %s = 0 is not a port; ignored", key);
                } else {
                    kubelet_config_set_port(c, v);
                    found = true;
                }
            }
        } else {
            size_t len = 0;
            err = nvs_get_str(h, key, NULL, &len);
            if (err == ESP_OK) {
                char *v = malloc(len);
                if (v != NULL && nvs_get_str(h, key, v, &len) == ESP_OK) {
                    found = kubelet_config_set(c, key, v) == KUBELET_CONFIG_OK;
                }
                free(v);
            }
        }
        if (err != ESP_OK && err != ESP_ERR_NVS_NOT_FOUND) {
            ESP_LOGW(TAG, "NVS %s: %s", key, esp_err_to_name(err));
        }
        if (found) {
            size_t used = strlen(from_nvs);
            snprintf(from_nvs + used, sizeof(from_nvs) - used, "%s%s", used ? " " : "", key);
        }
    }
    nvs_close(h);
    ESP_LOGI(TAG, "from NVS: %s", from_nvs[0] ? from_nvs : "(nothing)");
    return ESP_OK;
}
