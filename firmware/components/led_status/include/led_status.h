/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * The status LED as a service: one owner task renders led_pattern.h frames; everyone else asks for a
 * pattern with led_status_set(), which never blocks (a mailbox the LED task reads every frame). On the
 * device the owner drives the WS2812 through RMT (led_status_esp.c); in the Linux host port it writes
 * a log line whenever the steady pattern changes and counts Activity blips (led_status_log.c).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "led_pattern.h"

#ifdef __cplusplus
extern "C" {
#endif

/** LED task settings. */
typedef struct {
    /** Data GPIO of the WS2812 (21 on the Waveshare ESP32-S3-ETH); ignored by the log backend. */
    int gpio;
    /** LED task priority (FreeRTOS); ignored by the log backend. */
    int task_priority;
} led_status_config_t;

/** Starts the LED owner: the self-test runs at once, then Booting until a pattern is set. */
bool led_status_start(const led_status_config_t *config);

/** Requests a pattern (led_pattern_t value). Safe from any task; never blocks. */
void led_status_set(int pattern);

/** The steady pattern last requested (for logs and tests). */
int led_status_get(void);

/** Activity blips requested so far. */
uint32_t led_status_activity_count(void);

#ifdef __cplusplus
}
#endif
