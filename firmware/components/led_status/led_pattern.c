/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * led_pattern.h: integer-only rendering (no floating point in the LED task).
 */
#include "led_pattern.h"

static const led_rgb_t k_off = {0, 0, 0};

/* Breathe floor and ceiling, in percent of the cap: the original firmware's breathe. */
#define BREATHE_MIN_PCT 5
#define BREATHE_MAX_PCT 25

const char *led_pattern_name(int pattern)
{
    static const char *const names[LED_PATTERN_COUNT] = {
        "off", "self-test", "booting", "connecting", "healthy", "activity", "warning", "disconnected", "panic",
    };
    if (pattern < 0 || pattern >= LED_PATTERN_COUNT) {
        return "unknown";
    }
    return names[pattern];
}

uint8_t led_breathe_level(uint32_t elapsed_ms, uint32_t period_ms)
{
    if (period_ms < 2) {
        return 0;
    }
    /* triangle: rising while t < period/2, scaled to 0..255 (exact integer form of 255 * t / (period / 2),
     * the same numbers host-sim's renderer computes) */
    uint32_t t = elapsed_ms % period_ms;
    uint32_t rise = 2u * t < period_ms ? t : period_ms - t;
    uint32_t tri = 510u * rise / period_ms;
    if (tri > 255u) {
        tri = 255u;
    }
    /* smoothstep 3n^2 - 2n^3 on n in 0..255, rescaled back to 0..255 */
    uint32_t n = tri;
    uint32_t eased = (3u * n * n * 255u - 2u * n * n * n) / (255u * 255u);
    return (uint8_t)eased;
}

/* Colour with each channel a fraction of the cap: breathe between 5 % and 25 % of it. */
static led_rgb_t breathe(uint32_t elapsed_ms, uint32_t period_ms, bool r, bool g, bool b)
{
    uint32_t level = led_breathe_level(elapsed_ms, period_ms);
    uint32_t pct = BREATHE_MIN_PCT + level * (BREATHE_MAX_PCT - BREATHE_MIN_PCT) / 255u;
    uint8_t v = (uint8_t)(LED_CAP * pct / 100u);
    led_rgb_t c = {r ? v : 0, g ? v : 0, b ? v : 0};
    return c;
}

static led_rgb_t blink(uint32_t elapsed_ms, uint32_t period_ms, uint32_t on_ms, led_rgb_t on)
{
    return (elapsed_ms % period_ms) < on_ms ? on : k_off;
}

led_rgb_t led_pattern_render(int pattern, uint32_t elapsed_ms)
{
    switch (pattern) {
    case LED_PATTERN_SELF_TEST: {
        static const led_rgb_t steps[4] = {{LED_CAP, 0, 0}, {0, LED_CAP, 0}, {0, 0, LED_CAP}, {0, 0, 0}};
        uint32_t step = elapsed_ms / LED_SELF_TEST_STEP_MS;
        return step < 4 ? steps[step] : k_off;
    }
    case LED_PATTERN_BOOTING: {
        led_rgb_t white = {LED_CAP, LED_CAP, LED_CAP};
        return white;
    }
    case LED_PATTERN_CONNECTING:
        return breathe(elapsed_ms, LED_CONNECTING_PERIOD_MS, false, false, true);
    case LED_PATTERN_HEALTHY:
        return breathe(elapsed_ms, LED_HEALTHY_PERIOD_MS, false, true, false);
    case LED_PATTERN_ACTIVITY: {
        led_rgb_t yellow = {LED_CAP, LED_CAP, 0};
        return yellow;
    }
    case LED_PATTERN_WARNING: {
        led_rgb_t amber = {LED_CAP, LED_WARNING_GREEN, 0};
        return blink(elapsed_ms, LED_WARNING_PERIOD_MS, LED_WARNING_PERIOD_MS / 2, amber);
    }
    case LED_PATTERN_DISCONNECTED: {
        /* double blink: flash, gap, flash, then dark for the rest of the period */
        led_rgb_t red = {LED_CAP, 0, 0};
        uint32_t p = elapsed_ms % LED_DISCONNECTED_PERIOD_MS;
        uint32_t f = LED_DISCONNECTED_FLASH_MS;
        return (p < f || (p >= 2 * f && p < 3 * f)) ? red : k_off;
    }
    case LED_PATTERN_PANIC: {
        led_rgb_t red = {LED_CAP, 0, 0};
        return blink(elapsed_ms, LED_PANIC_PERIOD_MS, LED_PANIC_PERIOD_MS / 2, red);
    }
    default:
        return k_off;
    }
}

void led_state_init(led_state_t *s, int64_t now)
{
    s->steady = LED_PATTERN_BOOTING;
    s->steady_since = now;
    s->self_test_since = now;
    s->self_test_until = now + LED_SELF_TEST_MS;
    s->activity_until = now;
}

bool led_state_set(led_state_t *s, int pattern, int64_t now)
{
    switch (pattern) {
    case LED_PATTERN_ACTIVITY:
        s->activity_until = now + LED_ACTIVITY_MS;
        return true;
    case LED_PATTERN_SELF_TEST:
        s->self_test_since = now;
        s->self_test_until = now + LED_SELF_TEST_MS;
        s->steady = LED_PATTERN_BOOTING;
        s->steady_since = s->self_test_until;
        return true;
    default:
        if (pattern < 0 || pattern >= LED_PATTERN_COUNT) {
            return false;
        }
        if (pattern != s->steady) {
            s->steady = pattern;
            s->steady_since = now;
        }
        return true;
    }
}

led_rgb_t led_state_frame(const led_state_t *s, int64_t now)
{
    if (now < s->self_test_until) {
        return led_pattern_render(LED_PATTERN_SELF_TEST, (uint32_t)(now - s->self_test_since));
    }
    if (now < s->activity_until) {
        return led_pattern_render(LED_PATTERN_ACTIVITY, 0);
    }
    int64_t elapsed = now - s->steady_since;
    if (elapsed < 0) {
        elapsed = 0;
    }
    return led_pattern_render(s->steady, (uint32_t)(elapsed % 86400000));
}
