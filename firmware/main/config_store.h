/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * The board's configuration: Kconfig defaults, then every key present in NVS namespace "kubelet"
 * (kubelet_config.h lists the keys). One image, many boards: flash the same app and a per-board NVS
 * partition (firmware/README.md "Provisioning").
 */
#pragma once

#include "esp_err.h"
#include "kubelet_config.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Fills `c` from Kconfig, then overrides with NVS. Logs which keys NVS supplied (never their values).
 *
 * @return ESP_OK (also when the namespace does not exist), or the NVS error that stopped the read.
 */
esp_err_t config_store_load(kubelet_config_t *c);

#ifdef __cplusplus
}
#endif
