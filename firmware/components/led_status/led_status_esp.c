/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * led_status.h on the device: one FreeRTOS task owns the WS2812 (espressif/led_strip 3.x, RMT backend)
 * and renders a frame every LED_FRAME_MS, so animations keep running while the network task is inside a
 * TLS handshake and the wasm task is busy. Requests arrive through lock-free counters: the task never
 * misses an Activity blip even when a steady pattern is requested right after it.
 */
#include <stdatomic.h>
#include <string.h>

#include "freertos/FreeRTOS.h"
#include "freertos/task.h"
#include "esp_check.h"
#include "esp_log.h"
#include "led_strip.h"

#include "led_status.h"
#include "pk_os.h"

#define LED_TASK_STACK_BYTES 3072
/* RMT tick: 10 MHz gives 100 ns resolution, plenty for WS2812 bit timing. */
#define LED_RMT_RESOLUTION_HZ (10 * 1000 * 1000)

static const char *TAG = "led";

static led_strip_handle_t s_strip;
static atomic_int s_steady = LED_PATTERN_BOOTING;
static atomic_uint s_steady_seq;
static atomic_uint s_activity_seq;
static atomic_uint s_self_test_seq;

static void led_task(void *arg)
{
    (void)arg;
    led_state_t state;
    led_state_init(&state, pk_now_ms());
    unsigned seen_steady = 0;
    unsigned seen_activity = 0;
    unsigned seen_self_test = 0;
    led_rgb_t shown = {0, 0, 0};
    bool first = true;
    TickType_t wake = xTaskGetTickCount();
    for (;;) {
        int64_t now = pk_now_ms();
        unsigned self_test = atomic_load(&s_self_test_seq);
        if (self_test != seen_self_test) {
            seen_self_test = self_test;
            led_state_set(&state, LED_PATTERN_SELF_TEST, now);
        }
        unsigned steady_seq = atomic_load(&s_steady_seq);
        if (steady_seq != seen_steady) {
            seen_steady = steady_seq;
            led_state_set(&state, atomic_load(&s_steady), now);
        }
        unsigned activity = atomic_load(&s_activity_seq);
        if (activity != seen_activity) {
            seen_activity = activity;
            led_state_set(&state, LED_PATTERN_ACTIVITY, now);
        }
        led_rgb_t c = led_state_frame(&state, now);
        if (first || memcmp(&c, &shown, sizeof(c)) != 0) {
            esp_err_t err = led_strip_set_pixel(s_strip, 0, c.r, c.g, c.b);
            if (err == ESP_OK) {
                err = led_strip_refresh(s_strip);
            }
            if (err != ESP_OK) {
                ESP_LOGW(TAG, "LED refresh failed: %s", esp_err_to_name(err));
            }
            shown = c;
            first = false;
        }
        vTaskDelayUntil(&wake, pdMS_TO_TICKS(LED_FRAME_MS) ? pdMS_TO_TICKS(LED_FRAME_MS) : 1);
    }
}

bool led_status_start(const led_status_config_t *config)
{
    led_strip_config_t strip_config = {
        .strip_gpio_num = config->gpio,
        .max_leds = 1,
        .led_model = LED_MODEL_WS2812,
        .color_component_format = LED_STRIP_COLOR_COMPONENT_FMT_GRB,
        .flags = {.invert_out = false},
    };
    led_strip_rmt_config_t rmt_config = {
        .clk_src = RMT_CLK_SRC_DEFAULT,
        .resolution_hz = LED_RMT_RESOLUTION_HZ,
        .mem_block_symbols = 0, /* the component's default for this chip (48 symbols on the S3) */
        .flags = {.with_dma = false},
    };
    esp_err_t err = led_strip_new_rmt_device(&strip_config, &rmt_config, &s_strip);
    if (err != ESP_OK) {
        ESP_LOGE(TAG, "WS2812 on GPIO %d: %s; running without a status LED", config->gpio, esp_err_to_name(err));
        return false;
    }
    led_strip_clear(s_strip);
    if (xTaskCreatePinnedToCore(led_task, "led", LED_TASK_STACK_BYTES, NULL, config->task_priority, NULL,
                                tskNO_AFFINITY) != pdPASS) {
        ESP_LOGE(TAG, "cannot start the LED task");
        return false;
    }
    return true;
}

void led_status_set(int pattern)
{
    if (pattern == LED_PATTERN_ACTIVITY) {
        atomic_fetch_add(&s_activity_seq, 1);
    } else if (pattern == LED_PATTERN_SELF_TEST) {
        atomic_store(&s_steady, LED_PATTERN_BOOTING);
        atomic_fetch_add(&s_self_test_seq, 1);
    } else if (pattern >= 0 && pattern < LED_PATTERN_COUNT) {
        atomic_store(&s_steady, pattern);
        atomic_fetch_add(&s_steady_seq, 1);
    }
}

int led_status_get(void)
{
    return atomic_load(&s_steady);
}

uint32_t led_status_activity_count(void)
{
    return atomic_load(&s_activity_seq);
}
