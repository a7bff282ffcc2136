/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * The board's network: W5500 Ethernet on SPI2 (the Waveshare ESP32-S3-ETH pins) as the primary link
 * and Wi-Fi station as the fallback, both on DHCP, with failover both ways at run time.
 *
 * Both interfaces run at once when both are configured (Wi-Fi is a hot standby, so failover costs no
 * association time). The active link is Ethernet while it has carrier and an address, else Wi-Fi
 * while it is associated with an address, else none. Ethernet's netif has a higher route priority
 * than the station's, so lwIP's default route follows the same rule.
 *
 * Whenever the active link, its address, the access point (BSSID) or the signal (RSSI, in steps of at
 * least BOARD_NET_RSSI_STEP dBm, polled every 10 s) changes, the change callback runs (in the event
 * loop task): `moved` is true when connections bound to the old link must be dropped.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "esp_err.h"

#ifdef __cplusplus
extern "C" {
#endif

/** RSSI changes smaller than this are not reported. */
#define BOARD_NET_RSSI_STEP 3

/** Link kinds: the ABI's LINK_* values. */
typedef enum {
    BOARD_NET_DOWN = 0,
    BOARD_NET_ETHERNET = 1,
    BOARD_NET_WIFI = 2,
} board_net_kind_t;

/** The active link. */
typedef struct {
    board_net_kind_t kind;
    /** IPv4 address as a big-endian value (192.168.0.111 is 0xC0A8006F); 0 when down. */
    uint32_t ipv4;
    /** BSSID in the low 48 bits, first octet most significant; 0 for Ethernet. */
    uint64_t bssid;
    /** dBm; 0 for Ethernet. */
    int32_t rssi;
} board_net_link_t;

/** Settings. Strings are copied. */
typedef struct {
    /** Bring up the W5500 (false: Wi-Fi only). */
    bool ethernet;
    int spi_mosi;
    int spi_miso;
    int spi_sclk;
    int spi_cs;
    int eth_int;
    int eth_rst;
    int spi_clock_mhz;
    /** Station credentials; an empty or NULL SSID leaves Wi-Fi off. */
    const char *wifi_ssid;
    const char *wifi_psk;
    /** Called on every reported change (from the default event loop task). */
    void (*on_change)(void *ctx, bool moved);
    void *ctx;
} board_net_config_t;

/**
 * Starts Ethernet and/or Wi-Fi. Needs esp_netif_init() and the default event loop. A W5500 that does
 * not answer is logged and skipped (Wi-Fi carries on alone).
 *
 * @return ESP_OK, or ESP_ERR_INVALID_STATE when neither interface could be started.
 */
esp_err_t board_net_start(const board_net_config_t *config);

/** The active link now. Safe from any task. */
void board_net_get(board_net_link_t *out);

#ifdef __cplusplus
}
#endif
