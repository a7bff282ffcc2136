/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * The status LED's look, as pure functions of (pattern, elapsed milliseconds). Portable, so every
 * colour and timing is unit-tested on Linux; the ESP-IDF LED task (led_status_esp.c) only samples
 * led_state_frame() every frame and pushes the colour to the WS2812.
 *
 * Timings follow the original firmware: brightness capped at 38/255 (~15%), self-test
 * red → green → blue → off at 200 ms each, Booting solid white, Connecting a blue breathe of 667 ms,
 * Healthy a green breathe of 3000 ms, Activity a 100 ms yellow blip over the steady pattern. The breathe
 * is a triangle wave eased with an integer smoothstep and mapped to 5..25 % of the cap.
 * Warning, Disconnected and Panic were dark upstream; the core drives them now, so they get their own
 * looks, the same as host-sim's renderer (host-sim/src/led/render.ts; firmware/README.md "LED legend"):
 * Warning an amber (38,14,0) blink, 1 s on / 1 s off; Disconnected a red double blink (150 ms on,
 * 150 off, 150 on, dark to 1.5 s); Panic a fast red 5 Hz blink.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Brightness cap for every channel (about 15 % of 255). */
#define LED_CAP 38

/** Patterns; the numbers are the ABI's LED_* values (assembly/ABI.md "LED patterns"). */
typedef enum {
    LED_PATTERN_OFF = 0,
    LED_PATTERN_SELF_TEST = 1,
    LED_PATTERN_BOOTING = 2,
    LED_PATTERN_CONNECTING = 3,
    LED_PATTERN_HEALTHY = 4,
    LED_PATTERN_ACTIVITY = 5,
    LED_PATTERN_WARNING = 6,
    LED_PATTERN_DISCONNECTED = 7,
    LED_PATTERN_PANIC = 8,
} led_pattern_t;

/** Number of patterns (one past the last value). */
#define LED_PATTERN_COUNT 9

/** Timings, in milliseconds. */
#define LED_SELF_TEST_STEP_MS 200
#define LED_SELF_TEST_MS (4 * LED_SELF_TEST_STEP_MS)
#define LED_CONNECTING_PERIOD_MS 667
#define LED_HEALTHY_PERIOD_MS 3000
#define LED_ACTIVITY_MS 100
#define LED_WARNING_PERIOD_MS 2000
/** Green channel of Warning's amber (38, 14, 0). */
#define LED_WARNING_GREEN 14
#define LED_DISCONNECTED_PERIOD_MS 1500
#define LED_DISCONNECTED_FLASH_MS 150
#define LED_PANIC_PERIOD_MS 200
/** Frame period of the LED task (~30 frames per second). */
#define LED_FRAME_MS 33

/** One colour. */
typedef struct {
    uint8_t r;
    uint8_t g;
    uint8_t b;
} led_rgb_t;

/** A pattern's name ("healthy"), or "unknown". */
const char *led_pattern_name(int pattern);

/**
 * The colour of `pattern` after `elapsed_ms` in it. SELF_TEST is the one-shot sequence (off after it
 * ends); ACTIVITY is the yellow blip colour; unknown patterns are off.
 */
led_rgb_t led_pattern_render(int pattern, uint32_t elapsed_ms);

/** Breathe intensity in 0..255 at `elapsed_ms` into a period of `period_ms` (triangle + smoothstep). */
uint8_t led_breathe_level(uint32_t elapsed_ms, uint32_t period_ms);

/**
 * What the LED shows over time: the steady pattern, an Activity overlay, and the boot self-test.
 * Single-threaded: the LED task owns it; other tasks hand patterns to the LED task (led_status.h).
 */
typedef struct {
    /** Steady pattern shown when neither the self-test nor an Activity blip is running. */
    int steady;
    /** When the steady pattern started (its animation phase starts there). */
    int64_t steady_since;
    /** The self-test runs while now < self_test_until. */
    int64_t self_test_until;
    int64_t self_test_since;
    /** The Activity blip shows while now < activity_until. */
    int64_t activity_until;
} led_state_t;

/** Starts with the self-test at `now`, then Booting. */
void led_state_init(led_state_t *s, int64_t now);

/**
 * Applies a requested pattern. ACTIVITY starts the 100 ms blip and leaves the steady pattern alone;
 * SELF_TEST re-runs the self-test and then returns to Booting; any other known pattern becomes the
 * steady pattern (its animation restarts only if it changed). Unknown values are ignored; returns false
 * for them.
 */
bool led_state_set(led_state_t *s, int pattern, int64_t now);

/** The colour to show at `now`. */
led_rgb_t led_state_frame(const led_state_t *s, int64_t now);

#ifdef __cplusplus
}
#endif
