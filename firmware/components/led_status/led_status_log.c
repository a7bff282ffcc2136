/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * led_status.h for the Linux host port: there is no LED, so the steady pattern is logged when it
 * changes and Activity blips are counted (the count goes into the periodic summary line).
 */
#include <stdatomic.h>

#include "led_status.h"
#include "pk_os.h"

static const char *TAG = "led";
static atomic_int s_steady = LED_PATTERN_BOOTING;
static atomic_uint s_activity;

bool led_status_start(const led_status_config_t *config)
{
    (void)config;
    PK_LOGI(TAG, "self-test (no LED on this host), then %s", led_pattern_name(LED_PATTERN_BOOTING));
    return true;
}

void led_status_set(int pattern)
{
    if (pattern == LED_PATTERN_ACTIVITY) {
        atomic_fetch_add(&s_activity, 1);
        return;
    }
    if (pattern < 0 || pattern >= LED_PATTERN_COUNT) {
        PK_LOGW(TAG, "ignoring unknown LED pattern %d", pattern);
        return;
    }
    if (pattern == LED_PATTERN_SELF_TEST) {
        pattern = LED_PATTERN_BOOTING;
    }
    int old = atomic_exchange(&s_steady, pattern);
    if (old != pattern) {
        PK_LOGI(TAG, "LED %s -> %s", led_pattern_name(old), led_pattern_name(pattern));
    }
}

int led_status_get(void)
{
    return atomic_load(&s_steady);
}

uint32_t led_status_activity_count(void)
{
    return atomic_load(&s_activity);
}
