/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * led_pattern.h: every pattern's colours and timings (docs/behaviour.md#led, firmware/README.md "LED legend"),
 * the brightness cap, the breathe curve, the Activity overlay and the self-test.
 */
#include "check.h"
#include "kubelet_abi.h"
#include "led_pattern.h"

static int same(led_rgb_t c, int r, int g, int b)
{
    return c.r == r && c.g == g && c.b == b;
}

static void test_numbers_match_the_abi(void)
{
    CHECK_EQ_INT(LED_PATTERN_OFF, KUBELET_LED_OFF);
    CHECK_EQ_INT(LED_PATTERN_SELF_TEST, KUBELET_LED_SELF_TEST);
    CHECK_EQ_INT(LED_PATTERN_BOOTING, KUBELET_LED_BOOTING);
    CHECK_EQ_INT(LED_PATTERN_CONNECTING, KUBELET_LED_CONNECTING);
    CHECK_EQ_INT(LED_PATTERN_HEALTHY, KUBELET_LED_HEALTHY);
    CHECK_EQ_INT(LED_PATTERN_ACTIVITY, KUBELET_LED_ACTIVITY);
    CHECK_EQ_INT(LED_PATTERN_WARNING, KUBELET_LED_WARNING);
    CHECK_EQ_INT(LED_PATTERN_DISCONNECTED, KUBELET_LED_DISCONNECTED);
    CHECK_EQ_INT(LED_PATTERN_PANIC, KUBELET_LED_PANIC);
    CHECK_EQ_STR(led_pattern_name(LED_PATTERN_HEALTHY), "healthy");
    CHECK_EQ_STR(led_pattern_name(99), "unknown");
}

static void test_cap_is_never_exceeded(void)
{
    for (int p = 0; p < LED_PATTERN_COUNT; p++) {
        for (uint32_t t = 0; t < 7000; t += 7) {
            led_rgb_t c = led_pattern_render(p, t);
            CHECK(c.r <= LED_CAP && c.g <= LED_CAP && c.b <= LED_CAP);
        }
    }
    CHECK_EQ_INT(LED_CAP, 38);
}

static void test_self_test_sequence(void)
{
    CHECK(same(led_pattern_render(LED_PATTERN_SELF_TEST, 0), 38, 0, 0));
    CHECK(same(led_pattern_render(LED_PATTERN_SELF_TEST, 199), 38, 0, 0));
    CHECK(same(led_pattern_render(LED_PATTERN_SELF_TEST, 200), 0, 38, 0));
    CHECK(same(led_pattern_render(LED_PATTERN_SELF_TEST, 400), 0, 0, 38));
    CHECK(same(led_pattern_render(LED_PATTERN_SELF_TEST, 600), 0, 0, 0));
    CHECK(same(led_pattern_render(LED_PATTERN_SELF_TEST, 800), 0, 0, 0));
    CHECK_EQ_INT(LED_SELF_TEST_MS, 800);
}

static void test_solid_patterns(void)
{
    CHECK(same(led_pattern_render(LED_PATTERN_OFF, 123), 0, 0, 0));
    CHECK(same(led_pattern_render(LED_PATTERN_BOOTING, 0), 38, 38, 38));
    CHECK(same(led_pattern_render(LED_PATTERN_BOOTING, 99999), 38, 38, 38));
    CHECK(same(led_pattern_render(LED_PATTERN_ACTIVITY, 0), 38, 38, 0));
    CHECK(same(led_pattern_render(-1, 0), 0, 0, 0));
    CHECK(same(led_pattern_render(LED_PATTERN_COUNT, 0), 0, 0, 0));
}

static void test_breathe_curve(void)
{
    CHECK_EQ_INT(led_breathe_level(0, 3000), 0);
    CHECK_EQ_INT(led_breathe_level(1500, 3000), 255);
    CHECK_EQ_INT(led_breathe_level(3000, 3000), 0);
    CHECK_EQ_INT(led_breathe_level(750, 3000), 126); /* triangle 127 of 255, smoothstep(~0.5) ~ 0.5 */
    CHECK_EQ_INT(led_breathe_level(333, 667), 254);  /* 510 * 333 / 667 = 254 (host-sim: floor(333 / 333.5 * 255)) */
    /* rises monotonically over the first half, falls over the second, symmetric */
    for (uint32_t t = 1; t <= 1500; t++) {
        CHECK(led_breathe_level(t, 3000) >= led_breathe_level(t - 1, 3000));
    }
    for (uint32_t t = 1501; t < 3000; t++) {
        CHECK(led_breathe_level(t, 3000) <= led_breathe_level(t - 1, 3000));
    }
    CHECK_EQ_INT(led_breathe_level(0, 1), 0);
}

static void test_healthy_green_breathe(void)
{
    /* green between 5 % and 25 % of the cap: 1 and 9 of 255, period 3000 ms */
    CHECK(same(led_pattern_render(LED_PATTERN_HEALTHY, 0), 0, 1, 0));
    CHECK(same(led_pattern_render(LED_PATTERN_HEALTHY, 1500), 0, 9, 0));
    CHECK(same(led_pattern_render(LED_PATTERN_HEALTHY, 3000), 0, 1, 0));
    CHECK(same(led_pattern_render(LED_PATTERN_HEALTHY, 4500), 0, 9, 0));
    int lo = 255, hi = 0;
    for (uint32_t t = 0; t < 3000; t++) {
        led_rgb_t c = led_pattern_render(LED_PATTERN_HEALTHY, t);
        CHECK(c.r == 0 && c.b == 0);
        lo = c.g < lo ? c.g : lo;
        hi = c.g > hi ? c.g : hi;
    }
    CHECK_EQ_INT(lo, 1);
    CHECK_EQ_INT(hi, 9);
}

static void test_connecting_blue_breathe(void)
{
    CHECK_EQ_INT(LED_CONNECTING_PERIOD_MS, 667);
    CHECK(same(led_pattern_render(LED_PATTERN_CONNECTING, 0), 0, 0, 1));
    CHECK(same(led_pattern_render(LED_PATTERN_CONNECTING, 333), 0, 0, 9));
    CHECK(same(led_pattern_render(LED_PATTERN_CONNECTING, 334), 0, 0, 9));
    CHECK(same(led_pattern_render(LED_PATTERN_CONNECTING, 667), 0, 0, 1));
    CHECK(same(led_pattern_render(LED_PATTERN_CONNECTING, 667 + 333), 0, 0, 9));
}

static void test_warning_disconnected_panic(void)
{
    /* the same looks as host-sim/src/led/render.ts */
    /* Warning: amber (38,14,0), 1 s on / 1 s off */
    CHECK(same(led_pattern_render(LED_PATTERN_WARNING, 0), 38, 14, 0));
    CHECK(same(led_pattern_render(LED_PATTERN_WARNING, 999), 38, 14, 0));
    CHECK(same(led_pattern_render(LED_PATTERN_WARNING, 1000), 0, 0, 0));
    CHECK(same(led_pattern_render(LED_PATTERN_WARNING, 1999), 0, 0, 0));
    CHECK(same(led_pattern_render(LED_PATTERN_WARNING, 2000), 38, 14, 0));
    /* Disconnected: red double blink, 150 on, 150 off, 150 on, dark to 1500 ms */
    CHECK(same(led_pattern_render(LED_PATTERN_DISCONNECTED, 0), 38, 0, 0));
    CHECK(same(led_pattern_render(LED_PATTERN_DISCONNECTED, 149), 38, 0, 0));
    CHECK(same(led_pattern_render(LED_PATTERN_DISCONNECTED, 150), 0, 0, 0));
    CHECK(same(led_pattern_render(LED_PATTERN_DISCONNECTED, 300), 38, 0, 0));
    CHECK(same(led_pattern_render(LED_PATTERN_DISCONNECTED, 449), 38, 0, 0));
    CHECK(same(led_pattern_render(LED_PATTERN_DISCONNECTED, 450), 0, 0, 0));
    CHECK(same(led_pattern_render(LED_PATTERN_DISCONNECTED, 1499), 0, 0, 0));
    CHECK(same(led_pattern_render(LED_PATTERN_DISCONNECTED, 1500), 38, 0, 0));
    /* Panic: red 5 Hz, 100 ms on / 100 ms off */
    CHECK(same(led_pattern_render(LED_PATTERN_PANIC, 0), 38, 0, 0));
    CHECK(same(led_pattern_render(LED_PATTERN_PANIC, 100), 0, 0, 0));
    CHECK(same(led_pattern_render(LED_PATTERN_PANIC, 200), 38, 0, 0));
}

static void test_state_boot_self_test_then_booting(void)
{
    led_state_t s;
    led_state_init(&s, 1000);
    CHECK(same(led_state_frame(&s, 1000), 38, 0, 0));
    CHECK(same(led_state_frame(&s, 1200), 0, 38, 0));
    CHECK(same(led_state_frame(&s, 1400), 0, 0, 38));
    CHECK(same(led_state_frame(&s, 1600), 0, 0, 0));
    CHECK(same(led_state_frame(&s, 1800), 38, 38, 38));
}

static void test_state_pattern_latched_during_self_test(void)
{
    led_state_t s;
    led_state_init(&s, 0);
    CHECK(led_state_set(&s, LED_PATTERN_CONNECTING, 10));
    CHECK(same(led_state_frame(&s, 100), 38, 0, 0)); /* self-test still running */
    led_rgb_t c = led_state_frame(&s, 900);
    CHECK(c.r == 0 && c.g == 0 && c.b >= 1 && c.b <= 9);
}

static void test_state_activity_overlay(void)
{
    led_state_t s;
    led_state_init(&s, 0);
    led_state_set(&s, LED_PATTERN_HEALTHY, 1000);
    CHECK(same(led_state_frame(&s, 1000), 0, 1, 0));
    CHECK(led_state_set(&s, LED_PATTERN_ACTIVITY, 2000));
    CHECK_EQ_INT(s.steady, LED_PATTERN_HEALTHY);
    CHECK(same(led_state_frame(&s, 2000), 38, 38, 0));
    CHECK(same(led_state_frame(&s, 2099), 38, 38, 0));
    /* after 100 ms the steady breathe resumes in its own phase (1100 ms into the period) */
    CHECK(same(led_state_frame(&s, 2100), led_pattern_render(LED_PATTERN_HEALTHY, 1100).r,
               led_pattern_render(LED_PATTERN_HEALTHY, 1100).g, led_pattern_render(LED_PATTERN_HEALTHY, 1100).b));
}

static void test_state_same_pattern_keeps_phase(void)
{
    led_state_t s;
    led_state_init(&s, 0);
    led_state_set(&s, LED_PATTERN_HEALTHY, 1000);
    led_state_set(&s, LED_PATTERN_HEALTHY, 2500);
    CHECK_EQ_INT(s.steady_since, 1000);
    led_state_set(&s, LED_PATTERN_WARNING, 3000);
    CHECK_EQ_INT(s.steady_since, 3000);
    CHECK(!led_state_set(&s, 42, 4000));
    CHECK_EQ_INT(s.steady, LED_PATTERN_WARNING);
}

static void test_state_self_test_rerun(void)
{
    led_state_t s;
    led_state_init(&s, 0);
    led_state_set(&s, LED_PATTERN_HEALTHY, 1000);
    led_state_set(&s, LED_PATTERN_SELF_TEST, 5000);
    CHECK(same(led_state_frame(&s, 5000), 38, 0, 0));
    CHECK(same(led_state_frame(&s, 5800), 38, 38, 38)); /* back to Booting */
}

int main(void)
{
    RUN(test_numbers_match_the_abi);
    RUN(test_cap_is_never_exceeded);
    RUN(test_self_test_sequence);
    RUN(test_solid_patterns);
    RUN(test_breathe_curve);
    RUN(test_healthy_green_breathe);
    RUN(test_connecting_blue_breathe);
    RUN(test_warning_disconnected_panic);
    RUN(test_state_boot_self_test_then_booting);
    RUN(test_state_pattern_latched_during_self_test);
    RUN(test_state_activity_overlay);
    RUN(test_state_same_pattern_keeps_phase);
    RUN(test_state_self_test_rerun);
    return check_summary("led_pattern");
}
