/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * board_net.h. One handler per event base (ETH_EVENT, WIFI_EVENT, IP_EVENT) updates the state of
 * each interface under a spinlock; recompute() derives the active link and reports changes.
 */
#include <inttypes.h>
#include <string.h>

#include "freertos/FreeRTOS.h"
#include "esp_check.h"
#include "esp_eth.h"
#include "esp_event.h"
#include "esp_log.h"
#include "esp_mac.h"
#include "esp_netif.h"
#include "esp_timer.h"
#include "esp_wifi.h"
#include "driver/gpio.h"
#include "driver/spi_master.h"

#include "board_net.h"

static const char *TAG = "board_net";

/* Ethernet is preferred: its default route must outrank the station's (ESP-IDF default 100). */
#define ETH_ROUTE_PRIO 200
#define RSSI_POLL_US (10 * 1000 * 1000)
#define WIFI_RETRY_MIN_MS 1000
#define WIFI_RETRY_MAX_MS 30000
#define W5500_SPI_QUEUE 20

typedef struct {
    bool eth_carrier;
    uint32_t eth_ip;
    bool wifi_associated;
    uint32_t wifi_ip;
    uint64_t bssid;
    int32_t rssi;
} net_state_t;

static board_net_config_t s_cfg;
static portMUX_TYPE s_lock = portMUX_INITIALIZER_UNLOCKED;
static net_state_t s_state;
static board_net_link_t s_reported;
static esp_eth_handle_t s_eth;
static esp_netif_t *s_eth_netif;
static esp_netif_t *s_sta_netif;
static esp_timer_handle_t s_rssi_timer;
static esp_timer_handle_t s_retry_timer;
static uint32_t s_retry_ms = WIFI_RETRY_MIN_MS;

static uint32_t ip_value(const esp_ip4_addr_t *ip)
{
    return (uint32_t)esp_ip4_addr1(ip) << 24 | (uint32_t)esp_ip4_addr2(ip) << 16 | (uint32_t)esp_ip4_addr3(ip) << 8 |
           (uint32_t)esp_ip4_addr4(ip);
}

static uint64_t bssid_value(const uint8_t b[6])
{
    uint64_t v = 0;
    for (int i = 0; i < 6; i++) {
        v = v << 8 | b[i];
    }
    return v;
}

static board_net_link_t active_of(const net_state_t *st)
{
    board_net_link_t l = {.kind = BOARD_NET_DOWN};
    if (st->eth_carrier && st->eth_ip != 0) {
        l.kind = BOARD_NET_ETHERNET;
        l.ipv4 = st->eth_ip;
    } else if (st->wifi_associated && st->wifi_ip != 0) {
        l.kind = BOARD_NET_WIFI;
        l.ipv4 = st->wifi_ip;
        l.bssid = st->bssid;
        l.rssi = st->rssi;
    }
    return l;
}

void board_net_get(board_net_link_t *out)
{
    taskENTER_CRITICAL(&s_lock);
    *out = active_of(&s_state);
    taskEXIT_CRITICAL(&s_lock);
}

/* Reports the active link if it changed; `moved` when the interface or address changed. */
static void recompute(void)
{
    taskENTER_CRITICAL(&s_lock);
    board_net_link_t now = active_of(&s_state);
    board_net_link_t before = s_reported;
    bool moved = now.kind != before.kind || now.ipv4 != before.ipv4;
    int32_t drssi = now.rssi - before.rssi;
    bool changed = moved || now.bssid != before.bssid || drssi >= BOARD_NET_RSSI_STEP || drssi <= -BOARD_NET_RSSI_STEP;
    if (changed) {
        s_reported = now;
    }
    taskEXIT_CRITICAL(&s_lock);
    if (!changed) {
        return;
    }
    static const char *const kinds[] = {"down", "Ethernet", "Wi-Fi"};
    if (moved) {
        ESP_LOGI(TAG, "active link: %s " IPSTR " (was %s)", kinds[now.kind], (int)(now.ipv4 >> 24) & 0xFF,
                 (int)(now.ipv4 >> 16) & 0xFF, (int)(now.ipv4 >> 8) & 0xFF, (int)now.ipv4 & 0xFF, kinds[before.kind]);
    }
    if (s_cfg.on_change != NULL) {
        s_cfg.on_change(s_cfg.ctx, moved);
    }
}

static void eth_event_handler(void *arg, esp_event_base_t base, int32_t id, void *data)
{
    switch (id) {
    case ETHERNET_EVENT_CONNECTED:
        ESP_LOGI(TAG, "Ethernet carrier up");
        taskENTER_CRITICAL(&s_lock);
        s_state.eth_carrier = true;
        taskEXIT_CRITICAL(&s_lock);
        break;
    case ETHERNET_EVENT_DISCONNECTED:
        ESP_LOGW(TAG, "Ethernet carrier lost");
        taskENTER_CRITICAL(&s_lock);
        s_state.eth_carrier = false;
        s_state.eth_ip = 0;
        taskEXIT_CRITICAL(&s_lock);
        break;
    default:
        return;
    }
    recompute();
}

static void wifi_retry(void *arg)
{
    esp_err_t err = esp_wifi_connect();
    if (err != ESP_OK) {
        ESP_LOGW(TAG, "esp_wifi_connect: %s", esp_err_to_name(err));
    }
}

static void wifi_event_handler(void *arg, esp_event_base_t base, int32_t id, void *data)
{
    switch (id) {
    case WIFI_EVENT_STA_START:
        esp_wifi_connect();
        return;
    case WIFI_EVENT_STA_CONNECTED: {
        const wifi_event_sta_connected_t *ev = data;
        s_retry_ms = WIFI_RETRY_MIN_MS;
        wifi_ap_record_t ap;
        int32_t rssi = esp_wifi_sta_get_ap_info(&ap) == ESP_OK ? ap.rssi : 0;
        ESP_LOGI(TAG, "Wi-Fi associated with " MACSTR " (channel %u, %" PRId32 " dBm)", MAC2STR(ev->bssid),
                 (unsigned)ev->channel, rssi);
        taskENTER_CRITICAL(&s_lock);
        s_state.wifi_associated = true;
        s_state.bssid = bssid_value(ev->bssid);
        s_state.rssi = rssi;
        taskEXIT_CRITICAL(&s_lock);
        break;
    }
    case WIFI_EVENT_STA_DISCONNECTED: {
        const wifi_event_sta_disconnected_t *ev = data;
        ESP_LOGW(TAG, "Wi-Fi disconnected (reason %u); retrying in %" PRIu32 " ms", (unsigned)ev->reason, s_retry_ms);
        taskENTER_CRITICAL(&s_lock);
        s_state.wifi_associated = false;
        s_state.wifi_ip = 0;
        s_state.bssid = 0;
        s_state.rssi = 0;
        taskEXIT_CRITICAL(&s_lock);
        esp_timer_stop(s_retry_timer);
        esp_timer_start_once(s_retry_timer, (uint64_t)s_retry_ms * 1000);
        s_retry_ms = s_retry_ms * 2 > WIFI_RETRY_MAX_MS ? WIFI_RETRY_MAX_MS : s_retry_ms * 2;
        break;
    }
    default:
        return;
    }
    recompute();
}

static void ip_event_handler(void *arg, esp_event_base_t base, int32_t id, void *data)
{
    switch (id) {
    case IP_EVENT_ETH_GOT_IP: {
        const ip_event_got_ip_t *ev = data;
        ESP_LOGI(TAG, "Ethernet address " IPSTR, IP2STR(&ev->ip_info.ip));
        taskENTER_CRITICAL(&s_lock);
        s_state.eth_ip = ip_value(&ev->ip_info.ip);
        taskEXIT_CRITICAL(&s_lock);
        break;
    }
    case IP_EVENT_ETH_LOST_IP:
        taskENTER_CRITICAL(&s_lock);
        s_state.eth_ip = 0;
        taskEXIT_CRITICAL(&s_lock);
        break;
    case IP_EVENT_STA_GOT_IP: {
        const ip_event_got_ip_t *ev = data;
        ESP_LOGI(TAG, "Wi-Fi address " IPSTR, IP2STR(&ev->ip_info.ip));
        taskENTER_CRITICAL(&s_lock);
        s_state.wifi_ip = ip_value(&ev->ip_info.ip);
        taskEXIT_CRITICAL(&s_lock);
        break;
    }
    case IP_EVENT_STA_LOST_IP:
        taskENTER_CRITICAL(&s_lock);
        s_state.wifi_ip = 0;
        taskEXIT_CRITICAL(&s_lock);
        break;
    default:
        return;
    }
    recompute();
}

static void rssi_poll(void *arg)
{
    wifi_ap_record_t ap;
    if (esp_wifi_sta_get_ap_info(&ap) != ESP_OK) {
        return;
    }
    taskENTER_CRITICAL(&s_lock);
    s_state.rssi = ap.rssi;
    s_state.bssid = bssid_value(ap.bssid);
    taskEXIT_CRITICAL(&s_lock);
    recompute();
}

static esp_err_t start_ethernet(void)
{
    esp_err_t err = gpio_install_isr_service(0);
    if (err != ESP_OK && err != ESP_ERR_INVALID_STATE) {
        return err;
    }
    spi_bus_config_t bus = {
        .mosi_io_num = s_cfg.spi_mosi,
        .miso_io_num = s_cfg.spi_miso,
        .sclk_io_num = s_cfg.spi_sclk,
        .quadwp_io_num = -1,
        .quadhd_io_num = -1,
    };
    ESP_RETURN_ON_ERROR(spi_bus_initialize(SPI2_HOST, &bus, SPI_DMA_CH_AUTO), TAG, "SPI2 bus");
    spi_device_interface_config_t dev = {
        .mode = 0,
        .clock_speed_hz = s_cfg.spi_clock_mhz * 1000 * 1000,
        .queue_size = W5500_SPI_QUEUE,
        .spics_io_num = s_cfg.spi_cs,
    };
    eth_w5500_config_t w5500 = ETH_W5500_DEFAULT_CONFIG(SPI2_HOST, &dev);
    w5500.int_gpio_num = s_cfg.eth_int;
    eth_mac_config_t mac_cfg = ETH_MAC_DEFAULT_CONFIG();
    eth_phy_config_t phy_cfg = ETH_PHY_DEFAULT_CONFIG();
    phy_cfg.phy_addr = 1;
    phy_cfg.reset_gpio_num = s_cfg.eth_rst;
    esp_eth_mac_t *mac = esp_eth_mac_new_w5500(&w5500, &mac_cfg);
    esp_eth_phy_t *phy = esp_eth_phy_new_w5500(&phy_cfg);
    ESP_RETURN_ON_FALSE(mac != NULL && phy != NULL, ESP_FAIL, TAG, "W5500 MAC/PHY driver");
    esp_eth_config_t eth_cfg = ETH_DEFAULT_CONFIG(mac, phy);
    err = esp_eth_driver_install(&eth_cfg, &s_eth);
    if (err != ESP_OK) {
        mac->del(mac);
        phy->del(phy);
        ESP_LOGE(TAG, "W5500 does not answer on SPI2 (%s)", esp_err_to_name(err));
        return err;
    }
    /* The W5500 has no factory MAC of its own: use the chip's Ethernet MAC (derived from eFuse). */
    uint8_t addr[6];
    ESP_RETURN_ON_ERROR(esp_read_mac(addr, ESP_MAC_ETH), TAG, "Ethernet MAC");
    ESP_RETURN_ON_ERROR(esp_eth_ioctl(s_eth, ETH_CMD_S_MAC_ADDR, addr), TAG, "set MAC");

    esp_netif_inherent_config_t base = ESP_NETIF_INHERENT_DEFAULT_ETH();
    base.route_prio = ETH_ROUTE_PRIO;
    esp_netif_config_t netif_cfg = {.base = &base, .stack = ESP_NETIF_NETSTACK_DEFAULT_ETH};
    s_eth_netif = esp_netif_new(&netif_cfg);
    ESP_RETURN_ON_FALSE(s_eth_netif != NULL, ESP_ERR_NO_MEM, TAG, "Ethernet netif");
    ESP_RETURN_ON_ERROR(esp_netif_attach(s_eth_netif, esp_eth_new_netif_glue(s_eth)), TAG, "attach netif");
    ESP_RETURN_ON_ERROR(esp_event_handler_register(ETH_EVENT, ESP_EVENT_ANY_ID, eth_event_handler, NULL), TAG,
                        "ETH_EVENT");
    ESP_RETURN_ON_ERROR(esp_eth_start(s_eth), TAG, "start Ethernet");
    ESP_LOGI(TAG, "W5500 up on SPI2 (MOSI %d, MISO %d, SCLK %d, CS %d, INT %d, RST %d, %d MHz), MAC " MACSTR,
             s_cfg.spi_mosi, s_cfg.spi_miso, s_cfg.spi_sclk, s_cfg.spi_cs, s_cfg.eth_int, s_cfg.eth_rst,
             s_cfg.spi_clock_mhz, MAC2STR(addr));
    return ESP_OK;
}

static esp_err_t start_wifi(const char *ssid, const char *psk)
{
    s_sta_netif = esp_netif_create_default_wifi_sta();
    ESP_RETURN_ON_FALSE(s_sta_netif != NULL, ESP_ERR_NO_MEM, TAG, "station netif");
    wifi_init_config_t init = WIFI_INIT_CONFIG_DEFAULT();
    ESP_RETURN_ON_ERROR(esp_wifi_init(&init), TAG, "Wi-Fi init");
    ESP_RETURN_ON_ERROR(esp_event_handler_register(WIFI_EVENT, ESP_EVENT_ANY_ID, wifi_event_handler, NULL), TAG,
                        "WIFI_EVENT");
    wifi_config_t wc;
    memset(&wc, 0, sizeof(wc));
    strlcpy((char *)wc.sta.ssid, ssid, sizeof(wc.sta.ssid));
    if (psk != NULL) {
        strlcpy((char *)wc.sta.password, psk, sizeof(wc.sta.password));
    }
    wc.sta.threshold.authmode = (psk != NULL && psk[0] != '\0') ? WIFI_AUTH_WPA2_PSK : WIFI_AUTH_OPEN;
    ESP_RETURN_ON_ERROR(esp_wifi_set_mode(WIFI_MODE_STA), TAG, "station mode");
    ESP_RETURN_ON_ERROR(esp_wifi_set_config(WIFI_IF_STA, &wc), TAG, "station config");
    const esp_timer_create_args_t retry = {.callback = wifi_retry, .name = "wifi_retry"};
    ESP_RETURN_ON_ERROR(esp_timer_create(&retry, &s_retry_timer), TAG, "retry timer");
    const esp_timer_create_args_t poll = {.callback = rssi_poll, .name = "rssi_poll"};
    ESP_RETURN_ON_ERROR(esp_timer_create(&poll, &s_rssi_timer), TAG, "RSSI timer");
    ESP_RETURN_ON_ERROR(esp_wifi_start(), TAG, "start Wi-Fi");
    ESP_RETURN_ON_ERROR(esp_timer_start_periodic(s_rssi_timer, RSSI_POLL_US), TAG, "RSSI poll");
    ESP_LOGI(TAG, "Wi-Fi station started for \"%s\"", ssid);
    return ESP_OK;
}

esp_err_t board_net_start(const board_net_config_t *config)
{
    s_cfg = *config;
    ESP_RETURN_ON_ERROR(esp_event_handler_register(IP_EVENT, ESP_EVENT_ANY_ID, ip_event_handler, NULL), TAG,
                        "IP_EVENT");
    bool eth_ok = false;
    if (config->ethernet) {
        esp_err_t err = start_ethernet();
        eth_ok = err == ESP_OK;
        if (!eth_ok) {
            ESP_LOGW(TAG, "no Ethernet (%s); Wi-Fi only", esp_err_to_name(err));
        }
    }
    bool wifi_ok = false;
    if (config->wifi_ssid != NULL && config->wifi_ssid[0] != '\0') {
        esp_err_t err = start_wifi(config->wifi_ssid, config->wifi_psk);
        wifi_ok = err == ESP_OK;
        if (!wifi_ok) {
            ESP_LOGE(TAG, "Wi-Fi failed to start: %s", esp_err_to_name(err));
        }
    } else {
        ESP_LOGI(TAG, "no Wi-Fi SSID configured: no fallback link");
    }
    return eth_ok || wifi_ok ? ESP_OK : ESP_ERR_INVALID_STATE;
}
