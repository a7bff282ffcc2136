#!/usr/bin/env bash
# Our ESP-IDF C sources against a real ESP-IDF v5.5 checkout, without the Xtensa toolchain or idf.py: the
# check for machines where tests/firmware/idf_check.sh cannot run. It
#   1. generates the project's real sdkconfig.h with ESP-IDF's own Kconfig tooling (kconfgen from the PyPI
#      package esp-idf-kconfig, pinned below, in a venv) from every ESP-IDF component's Kconfig, our
#      firmware/main/Kconfig.projbuild and the repository's sdkconfig.defaults, target esp32s3 -- the same
#      inputs tools/cmake/kconfig.cmake hands kconfgen;
#   2. compiles every C file our ESP-IDF components build (the SRCS of their ESP_PLATFORM branches; wasm3's own
#      sources excepted: third-party code the component builds with -w) against ESP-IDF's real headers
#      (FreeRTOS with its Xtensa port, esp32s3 soc/hal/rom, lwIP and mbedTLS from the submodules, newlib's
#      libc headers the Xtensa toolchain also uses) with the flags tools/cmake/build.cmake and ESP-IDF's
#      CMakeLists.txt give every component, using host gcc -m32 (32-bit int, long and pointers, as on Xtensa);
#   3. fails on any diagnostic at all (stricter than ESP-IDF, which lets -Wextra warnings through).
# What it cannot prove (idf_check.sh does): that the image links, that our REQUIRES lists are complete (one
# include path, the union of what our components require, serves every file), and the Xtensa compiler's own
# diagnostics.
#
# Prepare once (network): an ESP-IDF v5.5.x checkout with the two submodules we compile against,
#   git clone -b v5.5.5 https://github.com/espressif/esp-idf && cd esp-idf &&
#   git submodule update --init components/lwip/lwip components/mbedtls/mbedtls
# newlib's headers (Debian/Ubuntu: apt-get install libnewlib-dev; else NEWLIB_INCLUDE=<dir with newlib.h>),
# python3 with venv, and gcc with -m32 support (Debian: gcc-multilib). Then
#   IDF_PATH=/path/to/esp-idf WASM3_SOURCE_DIR=/path/to/wasm3 tests/firmware/idf_host_check.sh
# Work directory: IDF_HOST_CHECK_DIR (default /tmp/picokubelet-idf-host-check; the kconfgen venv is kept there).
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dir="${IDF_HOST_CHECK_DIR:-/tmp/picokubelet-idf-host-check}"
# The esp-idf-kconfig line ESP-IDF v5.5 installs (its constraints file pins 2.x; 3.x belongs to v6).
kconfig_pkg="esp-idf-kconfig==2.5.4"
fail() { echo "idf_host_check: FAILED: $*"; exit 1; }

[ -n "${IDF_PATH:-}" ] || fail "IDF_PATH is not set (an ESP-IDF v5.5.x checkout)"
idf="$(cd "$IDF_PATH" && pwd)" || fail "IDF_PATH=$IDF_PATH is no directory"
c="$idf/components"
[ -f "$c/freertos/CMakeLists.txt" ] || fail "$idf is no ESP-IDF checkout (no components/freertos)"
idf_ver="$(sed -n 's/^#define ESP_IDF_VERSION_\(MAJOR\|MINOR\|PATCH\) *\([0-9]*\).*/\2/p' \
    "$c/esp_common/include/esp_idf_version.h" | paste -sd.)"
case "$idf_ver" in 5.5.*) ;; *) fail "ESP-IDF $idf_ver at $idf: this check is written for v5.5.x" ;; esac
for sub in lwip/lwip:src/include mbedtls/mbedtls:include; do
    [ -d "$c/${sub%%:*}/${sub#*:}" ] ||
        fail "$c/${sub%%:*}/${sub#*:} is missing: git -C $idf submodule update --init components/${sub%%:*}"
done
newlib="${NEWLIB_INCLUDE:-/usr/include/newlib}"
[ -f "$newlib/newlib.h" ] || fail "no newlib headers at $newlib (apt-get install libnewlib-dev, or NEWLIB_INCLUDE=...)"
cc="${CC:-gcc}"
echo 'int x;' | "$cc" -m32 -x c -fsyntax-only - 2>/dev/null || fail "$cc cannot compile with -m32"
mkdir -p "$dir" || fail "cannot create $dir"

echo "== 1. sdkconfig.h from ESP-IDF $idf_ver's Kconfig (kconfgen: $kconfig_pkg), target esp32s3"
venv="$dir/venv"
if ! "$venv/bin/python" -c 'import kconfgen' 2>/dev/null ||
   [ "$("$venv/bin/pip" show esp-idf-kconfig 2>/dev/null | sed -n 's/^Version: //p')" != "${kconfig_pkg#*==}" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv" || fail "python3 -m venv"
    "$venv/bin/pip" install -q "$kconfig_pkg" || fail "pip install $kconfig_pkg"
fi
cfg="$dir/config"
rm -rf "$cfg" && mkdir -p "$cfg"
# What kconfig.cmake collects: every component's Kconfig / Kconfig.projbuild / sdkconfig.rename(.target) in the
# build. A default (not minimal) build has all of ESP-IDF's components, plus ours (only main has a Kconfig file).
join() { paste -sd';'; }
kconfigs="$(ls "$c"/*/Kconfig | join)"
projbuilds="$( (ls "$c"/*/Kconfig.projbuild; echo "$root/firmware/main/Kconfig.projbuild") | join)"
renames="$(ls "$c"/*/sdkconfig.rename "$c"/*/sdkconfig.rename.esp32s3 2>/dev/null | join)"
cat >"$cfg/config.env" <<EOF
{"COMPONENT_KCONFIGS": "$kconfigs", "COMPONENT_KCONFIGS_PROJBUILD": "$projbuilds",
 "COMPONENT_SDKCONFIG_RENAMES": "$renames", "IDF_TARGET": "esp32s3", "IDF_TOOLCHAIN": "gcc",
 "IDF_VERSION": "$idf_ver", "IDF_ENV_FPGA": "", "IDF_PATH": "$idf",
 "COMPONENT_KCONFIGS_SOURCE_FILE": "$cfg/kconfigs.in", "COMPONENT_KCONFIGS_PROJBUILD_SOURCE_FILE": "$cfg/kconfigs_projbuild.in"}
EOF
"$venv/bin/python" "$idf/tools/kconfig_new/prepare_kconfig_files.py" --list-separator=semicolon \
    --env-file "$cfg/config.env" || fail "prepare_kconfig_files.py"
IDF_INIT_VERSION="$idf_ver" "$venv/bin/python" -m kconfgen --list-separator=semicolon --kconfig "$idf/Kconfig" \
    --sdkconfig-rename "$idf/sdkconfig.rename" --config "$cfg/sdkconfig" --defaults "$root/sdkconfig.defaults" \
    --env IDF_MINIMAL_BUILD=n --env-file "$cfg/config.env" \
    --output header "$cfg/sdkconfig.h" --output config "$cfg/sdkconfig" >"$cfg/kconfgen.log" 2>&1 ||
    { cat "$cfg/kconfgen.log"; fail "kconfgen"; }
# kconfgen warns about defaults this ESP-IDF does not know; sdkconfig.defaults documents the two it expects
# (newer releases' MBEDTLS_X509_CREATE_C / MBEDTLS_X509_CSR_WRITE_C). Any other warning is a stale default.
unexpected="$(grep -i warning "$cfg/kconfgen.log" | grep -v "'MBEDTLS_X509_CREATE_C'\|'MBEDTLS_X509_CSR_WRITE_C'" || true)"
[ -z "$unexpected" ] || { echo "$unexpected"; fail "kconfgen warned about sdkconfig.defaults"; }
# The values our sources branch on must be the board's, or the compile below checks another configuration.
for want in CONFIG_IDF_TARGET_ESP32S3 CONFIG_SPIRAM CONFIG_PICOKUBELET_WASM3_IN_PSRAM CONFIG_ETH_SPI_ETHERNET_W5500 \
            CONFIG_MBEDTLS_TLS_SERVER_AND_CLIENT CONFIG_VFS_SUPPORT_SELECT CONFIG_ESP_TASK_WDT_EN; do
    grep -q "^#define $want 1$" "$cfg/sdkconfig.h" || fail "$cfg/sdkconfig.h lacks $want"
done
echo "   $cfg/sdkconfig.h: $(grep -c '^#define CONFIG_' "$cfg/sdkconfig.h") options"
# The options ESP-IDF's CMakeLists.txt adds for configuration choices (none of the warning ones is set by
# our defaults; they are here so a changed sdkconfig.defaults changes this check as it changes the build).
has() { grep -q "^#define $1 1$" "$cfg/sdkconfig.h"; }
opt_flags=()
has CONFIG_COMPILER_OPTIMIZATION_PERF && opt_flags+=(-O2)
has CONFIG_COMPILER_OPTIMIZATION_SIZE && opt_flags+=(-Os -freorder-blocks)
has CONFIG_COMPILER_OPTIMIZATION_DEBUG && opt_flags+=(-Og)
has CONFIG_COMPILER_OPTIMIZATION_NONE && opt_flags+=(-O0)
has CONFIG_COMPILER_OPTIMIZATION_ASSERTIONS_DISABLE && opt_flags+=(-DNDEBUG)
has CONFIG_COMPILER_WARN_WRITE_STRINGS && opt_flags+=(-Wwrite-strings)
has CONFIG_COMPILER_DISABLE_GCC12_WARNINGS && opt_flags+=(-Wno-address -Wno-use-after-free)
has CONFIG_COMPILER_DISABLE_GCC13_WARNINGS && opt_flags+=(-Wno-xor-used-as-pow -Wno-enum-int-mismatch)
has CONFIG_COMPILER_DISABLE_GCC14_WARNINGS && opt_flags+=(-Wno-calloc-transposed-args)

echo "== 2. our ESP-IDF sources against ESP-IDF's headers (host $cc -m32)"
# The public include directories (as each component's CMakeLists.txt lists them for esp32s3/xtensa) of the
# components ours REQUIRE/PRIV_REQUIRE, of ESP-IDF's common requirements (build.cmake: cxx newlib freertos
# esp_hw_support heap log soc hal esp_rom esp_common esp_system, plus the arch, xtensa) and of the public
# REQUIRES those pull in (esp_pm, esp_phy, spi_flash, esp_partition ...).
kern="freertos/FreeRTOS-Kernel"
grep -q '^#define CONFIG_FREERTOS_SMP 1$' "$cfg/sdkconfig.h" && kern="freertos/FreeRTOS-Kernel-SMP"
idf_dirs=(
    newlib/platform_include
    freertos/config/include freertos/config/include/freertos freertos/config/xtensa/include
    "$kern/include" "$kern/portable/xtensa/include" "$kern/portable/xtensa/include/freertos"
    freertos/esp_additions/include
    esp_hw_support/include esp_hw_support/include/soc esp_hw_support/include/soc/esp32s3
    esp_hw_support/dma/include esp_hw_support/ldo/include esp_hw_support/debug_probe/include
    esp_hw_support/mspi_timing_tuning/include esp_hw_support/mspi_timing_tuning/tuning_scheme_impl/include
    esp_hw_support/power_supply/include
    heap/include heap/tlsf log/include
    soc/include soc/esp32s3 soc/esp32s3/include soc/esp32s3/register
    hal/platform_port/include hal/esp32s3/include hal/include
    esp_rom/include esp_rom/esp32s3/include esp_rom/esp32s3/include/esp32s3 esp_rom/esp32s3
    esp_common/include esp_system/include
    xtensa/esp32s3/include xtensa/include xtensa/deprecated_include
    esp_timer/include esp_pm/include esp_event/include esp_netif/include
    esp_eth/include esp_wifi/include esp_wifi/include/local esp_wifi/wifi_apps/include
    esp_wifi/wifi_apps/nan_app/include esp_phy/include esp_phy/esp32s3/include
    esp_driver_gpio/include esp_driver_spi/include esp_driver_rmt/include
    nvs_flash/include esp_partition/include spi_flash/include vfs/include
    lwip/include lwip/include/apps lwip/include/apps/sntp lwip/lwip/src/include lwip/port/include
    lwip/port/freertos/include lwip/port/esp32xx/include lwip/port/esp32xx/include/arch
    lwip/port/esp32xx/include/sys
    mbedtls/port/include mbedtls/mbedtls/include mbedtls/mbedtls/library
)
inc=(-I"$cfg")
for d in "${idf_dirs[@]}"; do
    # A listed directory that does not exist means this ESP-IDF's layout moved: say so instead of guessing.
    [ -d "$c/$d" ] || fail "$c/$d does not exist (ESP-IDF layout changed? update idf_dirs)"
    inc+=(-I"$c/$d")
done

# wasm3's headers (wasm_host, host_crypto, net_tls, main and pk_m3_limits include them): a wasm3 checkout at the
# commit firmware/cmake/wasm3_source.cmake pins, as for tests/firmware/run.sh.
wasm3_src="${WASM3_SOURCE_DIR:-}"
[ -n "$wasm3_src" ] && [ -f "$wasm3_src/source/wasm3.h" ] ||
    fail "set WASM3_SOURCE_DIR to a wasm3 checkout (the directory holding source/wasm3.h; commit: firmware/cmake/wasm3_source.cmake)"

# led_strip is a managed component (ESP Component Registry, idf_component.yml); without the registry its
# header is absent, and led_status_esp.c is then compiled against a minimal stand-in declaring the calls we use.
stub="$dir/led_strip_stub"
led_strip_inc=""
for cand in "${LED_STRIP_INCLUDE:-}" "$root/firmware/managed_components/espressif__led_strip/include"; do
    [ -n "$cand" ] && [ -f "$cand/led_strip.h" ] && { led_strip_inc="$cand"; break; }
done
if [ -z "$led_strip_inc" ]; then
    mkdir -p "$stub"
    cat >"$stub/led_strip.h" <<'EOF'
/* STAND-IN written by tests/firmware/idf_host_check.sh, NOT espressif/led_strip: the managed component is
 * not available here. Declares only what led_status_esp.c uses, in the shapes of led_strip 3.0.3 (idf_component.yml)
 * except the colour format, an enum here (a struct in 3.x): the stand-in proves our code against ESP-IDF, not
 * against led_strip. */
#pragma once
#include <stdint.h>
#include "esp_err.h"
#include "driver/gpio.h"
#include "driver/rmt_types.h" /* as led_strip_rmt.h: rmt_clock_source_t, RMT_CLK_SRC_DEFAULT */
typedef struct led_strip_t *led_strip_handle_t;
typedef enum { LED_MODEL_WS2812, LED_MODEL_SK6812, LED_MODEL_INVALID } led_model_t;
typedef enum { LED_STRIP_COLOR_COMPONENT_FMT_GRB } led_color_component_format_t;
typedef struct {
    int strip_gpio_num;
    uint32_t max_leds;
    led_model_t led_model;
    led_color_component_format_t color_component_format;
    struct { uint32_t invert_out: 1; } flags;
} led_strip_config_t;
typedef struct {
    rmt_clock_source_t clk_src;
    uint32_t resolution_hz;
    size_t mem_block_symbols;
    struct { uint32_t with_dma: 1; } flags;
} led_strip_rmt_config_t;
esp_err_t led_strip_new_rmt_device(const led_strip_config_t *led_config, const led_strip_rmt_config_t *rmt_config,
                                   led_strip_handle_t *ret_strip);
esp_err_t led_strip_set_pixel(led_strip_handle_t strip, uint32_t index, uint32_t red, uint32_t green, uint32_t blue);
esp_err_t led_strip_refresh(led_strip_handle_t strip);
esp_err_t led_strip_clear(led_strip_handle_t strip);
EOF
    led_strip_inc="$stub"
fi

# newlib: the Xtensa toolchain's libc is newlib 4.x (Espressif's fork), Debian's libnewlib-dev is 3.3. The one
# difference ESP-IDF's headers trip over: 3.3 declares _global_impure_ptr const, which newlib/platform_include/
# sys/reent.h redeclares without. A copy of the installed reent.h without that const, in our work directory
# ahead of $newlib, bridges it; with newlib >= 4 headers (NEWLIB_INCLUDE) the copies equal the originals.
overlay="$dir/newlib_overlay"
rm -rf "$overlay" && mkdir -p "$overlay/sys"
sed 's/struct _reent \*const _global_impure_ptr/struct _reent *_global_impure_ptr/' "$newlib/sys/reent.h" \
    >"$overlay/sys/reent.h"
# The second: newlib 4 names fd_set's member __fds_bits (platform_include/sys/select.h's FD_SET uses that
# name), 3.3 names it fds_bits.
sed 's/^\(\s*fd_mask\s\s*\)fds_bits\[/\1__fds_bits[/' "$newlib/sys/select.h" >"$overlay/sys/select.h"

# build.cmake (__build_set_default_build_specifications, __build_init: IDF_VER, ESP_PLATFORM), ESP-IDF's
# CMakeLists.txt (opt_flags above; for GCC: -Wno-old-style-declaration), the interface
# definitions of soc, pthread, freertos and mbedtls.
flags=(-m32 -std=gnu17 -ffunction-sections -fdata-sections
       -Wall -Werror -Wno-error=unused-function -Wno-error=unused-variable -Wno-error=unused-but-set-variable
       -Wno-error=deprecated-declarations -Wextra -Wno-error=extra -Wno-unused-parameter -Wno-sign-compare
       -Wno-enum-conversion -Wno-old-style-declaration "${opt_flags[@]}"
       -D_GLIBCXX_USE_POSIX_SEMAPHORE -D_GLIBCXX_HAVE_POSIX_SEMAPHORE -D_GNU_SOURCE
       -DIDF_VER="\"v$idf_ver\"" -DESP_PLATFORM -D_POSIX_READER_WRITER_LOCKS -DprojCOVERAGE_TEST=0
       -DSOC_MMU_PAGE_SIZE=CONFIG_MMU_PAGE_SIZE -DSOC_XTAL_FREQ_MHZ=CONFIG_XTAL_FREQ
       -DMBEDTLS_CONFIG_FILE='"mbedtls/esp_config.h"'
       # What xtensa-esp32s3-elf-gcc predefines and ESP-IDF's headers select on (xtensa/config/core.h, the
       # FreeRTOS port): the Xtensa paths of the headers, not host ones. -fsyntax-only never assembles their asm.
       -D__XTENSA__=1 -D__xtensa__=1 -D__XTENSA_EL__=1 -D__XTENSA_WINDOWED_ABI__=1
       # Xtensa's int32_t/uint32_t are long/unsigned long (ESP-IDF 5.0's migration guide), i386's int/unsigned:
       # without this, printf("%u", a_uint32) would pass here and fail -Wformat (an error) in the real build.
       -U__INT32_TYPE__ "-D__INT32_TYPE__=long int" -U__UINT32_TYPE__ "-D__UINT32_TYPE__=long unsigned int"
       -U__INT_LEAST32_TYPE__ "-D__INT_LEAST32_TYPE__=long int"
       -U__UINT_LEAST32_TYPE__ "-D__UINT_LEAST32_TYPE__=long unsigned int"
       # newlib instead of the host's glibc: what the Xtensa toolchain's libc headers are.
       -nostdinc -isystem "$("$cc" -m32 -print-file-name=include)" -isystem "$overlay" -isystem "$newlib")

fw="$root/firmware"
# file : our include directories (its component's, and those of our components it REQUIRES)
units=(
    "main/kubelet_main.c:main components/board_net/include components/host_crypto/include
        components/kubelet_common/include components/kubelet_config/include components/led_status/include
        components/net_tls/include components/wasm_host/include components/wasm3/include"
    "main/config_store.c:main components/board_net/include components/host_crypto/include
        components/kubelet_common/include components/kubelet_config/include components/led_status/include
        components/net_tls/include components/wasm_host/include components/wasm3/include"
    "components/board_net/board_net.c:components/board_net/include"
    "components/host_crypto/host_crypto.c:components/host_crypto/include components/kubelet_common/include components/wasm_host/include components/wasm3/include"
    "components/host_crypto/csr.c:components/host_crypto/include components/kubelet_common/include components/wasm_host/include components/wasm3/include"
    "components/host_crypto/cred_store_nvs.c:components/host_crypto/include components/kubelet_common/include components/wasm_host/include components/wasm3/include"
    "components/kubelet_common/pk_evq.c:components/kubelet_common/include"
    "components/kubelet_common/pk_os_freertos.c:components/kubelet_common/include"
    "components/kubelet_config/kubelet_config.c:components/kubelet_config/include"
    "components/led_status/led_pattern.c:components/led_status/include components/kubelet_common/include"
    "components/led_status/led_status_esp.c:components/led_status/include components/kubelet_common/include"
    "components/net_tls/net_tls.c:components/net_tls/include components/kubelet_common/include components/wasm_host/include components/wasm3/include"
    "components/wasm_host/wasm_host.c:components/wasm_host/include components/kubelet_common/include components/wasm3/include"
    "components/wasm_host/wasm_imports.c:components/wasm_host/include components/kubelet_common/include components/wasm3/include"
    "components/wasm3/pk_m3_limits.c:components/wasm3/include"
)
# Every SRCS entry of our ESP_PLATFORM idf_component_register calls must be in units (a new file is checked too).
listed="$(for u in "${units[@]}"; do echo "${u%%:*}"; done | sort)"
registered="$(cd "$fw" && for f in main/CMakeLists.txt components/*/CMakeLists.txt; do
    d="$(dirname "$f")"
    tr '\n' ' ' <"$f" | grep -o 'idf_component_register(SRCS [^)]*' | grep -o '"[^"$]*\.c"' | tr -d '"' |
        sed "s|^|$d/|"
done | sort -u)"
[ "$listed" = "$registered" ] || fail "the sources our CMakeLists register differ from the list here:
$(diff <(echo "$registered") <(echo "$listed"))"

failed=0
rm -rf "$dir/cmd" && mkdir -p "$dir/cmd"
for u in "${units[@]}"; do
    src="${u%%:*}"
    own=()
    for d in ${u#*:}; do own+=(-I"$fw/$d"); done
    case "$src" in
        */wasm_host/*|*/wasm3/*|*/host_crypto/*|*/net_tls/*|main/*) own+=(-I"$wasm3_src/source") ;;
    esac
    extra=()
    case "$src" in
        */wasm3/*) extra=(-DESP32 -DM3_IN_IRAM -Dd_m3MaxFunctionStackHeight=1024) ;;
        */led_status_esp.c) own+=(-I"$led_strip_inc") ;;
    esac
    # The exact command, to rerun one file by hand (add -E -dD to see which header defined what).
    printf '%q ' "$cc" "${flags[@]}" "${extra[@]}" "${own[@]}" "${inc[@]}" -fsyntax-only "$fw/$src" \
        >"$dir/cmd/$(basename "$src" .c).sh"
    out="$("$cc" "${flags[@]}" "${extra[@]}" "${own[@]}" "${inc[@]}" -fsyntax-only "$fw/$src" 2>&1)"
    rc=$?
    note=""
    [[ "$src" == */led_status_esp.c && "$led_strip_inc" == "$stub" ]] && note=" (led_strip.h: the stand-in in $stub)"
    if [ $rc -ne 0 ] || [ -n "$out" ]; then
        echo "   FAIL firmware/$src$note"
        echo "$out" | sed 's/^/      /'
        failed=$((failed + 1))
    else
        echo "   ok   firmware/$src$note"
    fi
done
[ $failed -eq 0 ] || fail "$failed of ${#units[@]} files have diagnostics (ESP-IDF $idf_ver, esp32s3 sdkconfig)"
echo "idf_host_check: OK: ${#units[@]} files compiled without a diagnostic against ESP-IDF $idf_ver (esp32s3, $cfg/sdkconfig.h)"
