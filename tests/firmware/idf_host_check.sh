#!/usr/bin/env bash
# Our ESP-IDF C sources against a real ESP-IDF v5.5 checkout, without the Xtensa toolchain or idf.py: the
# check for machines where tests/firmware/idf_check.sh cannot run. It
#   1. generates the project's real sdkconfig.h with ESP-IDF's own Kconfig tooling (kconfgen from the PyPI
#      package esp-idf-kconfig, pinned below, in a venv) from every ESP-IDF component's Kconfig, our
#      firmware/main/Kconfig.projbuild and the repository's sdkconfig.defaults, target esp32s3 -- the same
#      inputs tools/cmake/kconfig.cmake hands kconfgen;
#   2. compiles every C file our ESP-IDF components build (the SRCS of their ESP_PLATFORM registrations, parsed
#      from our CMakeLists; wasm3's own sources excepted: third-party code the component builds with -w) against
#      ESP-IDF's real headers, each file with the include path its component's REQUIRES/PRIV_REQUIRES give it
#      (FreeRTOS with its Xtensa port, esp32s3 soc/hal/rom, lwIP and mbedTLS from the submodules, newlib as
#      libc, as the Xtensa toolchain has), with the flags tools/cmake/build.cmake and ESP-IDF's CMakeLists.txt
#      give every component, using host gcc -m32 -fsyntax-only and the Xtensa compiler's predefines;
#   3. fails on any diagnostic at all (stricter than ESP-IDF, which lets -Wextra warnings through).
# What it cannot prove (idf_check.sh does): that the image links (a REQUIRES missing only for a symbol, not a
# header, passes here), the Xtensa compiler's (GCC 14) own diagnostics and those that need the optimiser.
#
# Prepare once (network): an ESP-IDF v5.5.x checkout with the two submodules we compile against,
#   git clone -b v5.5.5 https://github.com/espressif/esp-idf && cd esp-idf &&
#   git submodule update --init components/lwip/lwip components/mbedtls/mbedtls
# Where the pinned submodule commits cannot be had (v5.5.5: espressif/esp-lwip fd432e4, lwIP 2.2.0-esp;
# espressif/mbedtls 9d669ea, Mbed TLS 3.6.6), the nearest public trees serve for a header check, with one patch:
# upstream Mbed TLS v3.6.6 lacks the fork's mbedtls_gcm_context_soft (the software GCM context, declared beside
# MBEDTLS_GCM_ALT's), which ESP-IDF's port/include/mbedtls/gcm.h uses under CONFIG_MBEDTLS_GCM_SUPPORT_NON_AES_CIPHER.
# For lwIP, esp-lwip's 2.1.3-esp (f792214, which ESP-IDF master pinned until May 2024) and upstream STABLE-2_2_0_RELEASE gave the same
# result. Step 2 prints the lwIP and Mbed TLS versions it compiled against.
# newlib's headers (Debian/Ubuntu: apt-get install libnewlib-dev; else NEWLIB_INCLUDE=<dir with newlib.h>),
# python3 with venv, and gcc with -m32 support (Debian: gcc-multilib). Then
#   IDF_PATH=/path/to/esp-idf WASM3_SOURCE_DIR=/path/to/wasm3 tests/firmware/idf_host_check.sh
# Work directory: IDF_HOST_CHECK_DIR (default /tmp/picokubelet-idf-host-check; the kconfgen venv is kept there).
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dir="${IDF_HOST_CHECK_DIR:-/tmp/picokubelet-idf-host-check}"
# ESP-IDF's requirements.core.txt names esp-idf-kconfig without a version (install.sh takes it from a constraints
# file that is not in the checkout); 2.5.4, the last 2.x release, reads v5.5.5's Kconfig tree cleanly.
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
sub_vers="lwIP $(sed -n 's/^#define LWIP_VERSION_\(MAJOR\|MINOR\|REVISION\) *\([0-9]*\).*/\2/p' \
    "$c/lwip/lwip/src/include/lwip/init.h" | paste -sd.), Mbed TLS $(sed -n \
    's/^#define MBEDTLS_VERSION_STRING *"\(.*\)".*/\1/p' "$c/mbedtls/mbedtls/include/mbedtls/build_info.h")"
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

echo "== 2. our ESP-IDF sources against ESP-IDF's headers ($sub_vers; host $cc -m32)"
# ESP-IDF's components as the esp32s3 app build sees them: each one's public include directories (INCLUDE_DIRS
# in its CMakeLists.txt for esp32s3/xtensa) and its public REQUIRES (those propagate to whoever requires it;
# PRIV_REQUIRES do not). Read from v5.5.5's CMakeLists; every directory must exist, so a moved layout fails
# loudly here instead of silently compiling against less.
kern="freertos/FreeRTOS-Kernel"
grep -q '^#define CONFIG_FREERTOS_SMP 1$' "$cfg/sdkconfig.h" && kern="freertos/FreeRTOS-Kernel-SMP"
for opt in CONFIG_FREERTOS_RUN_TIME_STATS_USING_ESP_TIMER CONFIG_APPTRACE_SV_ENABLE; do
    # Each would make freertos require esp_timer / app_trace publicly: not modelled below.
    grep -q "^#define $opt 1$" "$cfg/sdkconfig.h" && fail "$opt is set: extend the component table for it"
done
# components/mbedtls/CMakeLists.txt adds two include directories by option (the certificate bundle's header
# is what net_tls.c includes when CONFIG_MBEDTLS_CERTIFICATE_BUNDLE is set).
mbedtls_dirs="mbedtls/port/include mbedtls/mbedtls/include mbedtls/mbedtls/library"
has CONFIG_MBEDTLS_USE_CRYPTO_ROM_IMPL && mbedtls_dirs+=" mbedtls/port/mbedtls_rom"
has CONFIG_MBEDTLS_CERTIFICATE_BUNDLE && mbedtls_dirs+=" mbedtls/esp_crt_bundle/include"
# component|public include dirs (relative to components/)|public REQUIRES. The order of the rows is the
# order of the -I options.
idf_table="
newlib|newlib/platform_include|lwip
freertos|freertos/config/include freertos/config/include/freertos freertos/config/xtensa/include $kern/include $kern/portable/xtensa/include $kern/portable/xtensa/include/freertos freertos/esp_additions/include|
esp_hw_support|esp_hw_support/include esp_hw_support/include/soc esp_hw_support/include/soc/esp32s3 esp_hw_support/dma/include esp_hw_support/ldo/include esp_hw_support/debug_probe/include esp_hw_support/mspi_timing_tuning/include esp_hw_support/mspi_timing_tuning/tuning_scheme_impl/include esp_hw_support/power_supply/include|soc
heap|heap/include heap/tlsf|
log|log/include|
soc|soc/include soc/esp32s3 soc/esp32s3/include soc/esp32s3/register|
hal|hal/platform_port/include hal/esp32s3/include hal/include|soc esp_rom
esp_rom|esp_rom/include esp_rom/esp32s3/include esp_rom/esp32s3/include/esp32s3 esp_rom/esp32s3|
esp_common|esp_common/include|
esp_system|esp_system/include|
xtensa|xtensa/esp32s3/include xtensa/include xtensa/deprecated_include|
cxx||
esp_timer|esp_timer/include|
esp_pm|esp_pm/include|
esp_event|esp_event/include|log esp_common freertos
esp_netif|esp_netif/include|esp_event
esp_eth|esp_eth/include|esp_event
esp_wifi|esp_wifi/include esp_wifi/include/local esp_wifi/wifi_apps/include esp_wifi/wifi_apps/nan_app/include|esp_event esp_phy esp_netif
esp_phy|esp_phy/include esp_phy/esp32s3/include|
esp_driver_gpio|esp_driver_gpio/include|
esp_driver_spi|esp_driver_spi/include|esp_pm
esp_driver_rmt|esp_driver_rmt/include|
nvs_flash|nvs_flash/include|esp_partition
esp_partition|esp_partition/include|
spi_flash|spi_flash/include|hal
vfs|vfs/include|
lwip|lwip/include lwip/include/apps lwip/include/apps/sntp lwip/lwip/src/include lwip/port/include lwip/port/freertos/include lwip/port/esp32xx/include lwip/port/esp32xx/include/arch lwip/port/esp32xx/include/sys|
mbedtls|$mbedtls_dirs|
"
while IFS='|' read -r comp dirs _; do
    [ -n "$comp" ] || continue
    for d in $dirs; do
        [ -d "$c/$d" ] || fail "$c/$d ($comp) does not exist (ESP-IDF layout changed? update idf_table)"
    done
done <<<"$idf_table"

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
# libsodium likewise (brain_slot's idf_component.yml: espressif/libsodium; ESP-IDF dropped its own in v5.0):
# the managed component's headers when fetched, else a stand-in declaring the two calls brain_verify.c makes.
sodium_stub="$dir/libsodium_stub"
libsodium_inc=""
for cand in "${LIBSODIUM_INCLUDE:-}" "$root/firmware/managed_components/espressif__libsodium/libsodium/src/libsodium/include"; do
    [ -n "$cand" ] && [ -f "$cand/sodium.h" ] && { libsodium_inc="$cand"; break; }
done
if [ -z "$libsodium_inc" ]; then
    mkdir -p "$sodium_stub"
    cat >"$sodium_stub/sodium.h" <<'EOF'
/* STAND-IN written by tests/firmware/idf_host_check.sh, NOT libsodium: the managed component espressif/libsodium
 * is not available here. Declares only what brain_verify.c uses, in libsodium 1.0.20's shapes. */
#pragma once
#include <stddef.h>
int sodium_init(void);
int crypto_sign_verify_detached(const unsigned char *sig, const unsigned char *m, unsigned long long mlen,
                                const unsigned char *pk);
EOF
    libsodium_inc="$sodium_stub"
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
# Our components as their ESP_PLATFORM idf_component_register calls declare them (parsed, so a new file or
# requirement is checked as written), and for each C file the include path ESP-IDF would give it: its
# component's INCLUDE_DIRS, then those of everything it REQUIREs or PRIV_REQUIREs plus ESP-IDF's common
# requirements (build.cmake: cxx newlib freertos esp_hw_support heap log soc hal esp_rom esp_common
# esp_system, and the arch, xtensa), closed over public REQUIRES. led_status also gets led_strip, the
# dependency its idf_component.yml declares (led_strip 3.x publicly requires esp_driver_rmt and esp_driver_spi);
# libsodium, which brain_slot requires by name, is its managed component's headers (or the stand-in above).
plan="$(python3 - "$fw" "$c" "$wasm3_src" "$led_strip_inc" "$idf_table" "$libsodium_inc" <<'PY'
import os, re, sys
fw, idf_c, wasm3, led_strip_inc, table, libsodium_inc = sys.argv[1:7]
idf = {}
order = []
for row in table.strip().splitlines():
    comp, dirs, pub = row.split("|")
    idf[comp] = ([os.path.join(idf_c, d) for d in dirs.split()], pub.split())
    order.append(comp)
idf["led_strip"] = ([led_strip_inc], ["esp_driver_rmt", "esp_driver_spi"])
order.insert(0, "led_strip")
idf["libsodium"] = ([libsodium_inc], [])
order.insert(0, "libsodium")
common = ["cxx", "newlib", "freertos", "esp_hw_support", "heap", "log", "soc", "hal", "esp_rom", "esp_common",
          "esp_system", "xtensa"]
keys = {"SRCS", "INCLUDE_DIRS", "PRIV_INCLUDE_DIRS", "REQUIRES", "PRIV_REQUIRES", "EMBED_FILES", "EMBED_TXTFILES",
        "LDFRAGMENTS", "KCONFIG", "KCONFIG_PROJBUILD", "WHOLE_ARCHIVE"}
ours = {}
for name in ["main"] + sorted(os.listdir(os.path.join(fw, "components"))):
    cdir = os.path.join(fw, name) if name == "main" else os.path.join(fw, "components", name)
    text = re.sub(r"#[^\n]*", "", open(os.path.join(cdir, "CMakeLists.txt")).read())
    for call in re.findall(r"idf_component_register\(([^()]*)\)", text):
        words = [w.strip('"') for w in call.split()]
        if "SRCS" not in words:
            continue
        args, key = {}, None
        for w in words:
            if w in keys:
                key = w
                args.setdefault(key, [])
            elif key:
                args[key].append(w)
        incs = []
        for d in args.get("INCLUDE_DIRS", []):
            incs.append(os.path.join(wasm3, d[len("${wasm3_dir}/"):]) if d.startswith("${wasm3_dir}/")
                        else os.path.normpath(os.path.join(cdir, d)))
        if any("$" in d and not d.startswith("${wasm3_dir}/") for d in args.get("INCLUDE_DIRS", [])):
            sys.exit("unhandled variable in INCLUDE_DIRS of " + name)
        srcs = [os.path.relpath(os.path.join(cdir, f), fw) for f in args.get("SRCS", []) if "$" not in f]
        priv = args.get("PRIV_REQUIRES", []) + (["led_strip"] if name == "led_status" else [])
        ours[name] = (srcs, incs, args.get("REQUIRES", []), priv)
def pub(r):
    if r in ours:
        return ours[r][2]
    if r in idf:
        return idf[r][1]
    sys.exit("component %s is required but not in idf_table (tests/firmware/idf_host_check.sh)" % r)
for name, (srcs, incs, req, priv) in sorted(ours.items()):
    seen, todo = [], list(req) + list(priv) + common
    while todo:
        r = todo.pop(0)
        if r not in seen:
            seen.append(r)
            todo.extend(pub(r))
    path = list(incs)
    for r in seen:  # our components first, in the order required
        if r in ours:
            path += [d for d in ours[r][1] if d not in path]
    for r in order:
        if r in seen:
            path += [d for d in idf[r][0] if d not in path]
    deps = " ".join(sorted(r for r in seen if r not in common))
    for f in srcs:
        print("\t".join([f, name, deps] + path))
PY
)" || fail "cannot derive the include paths from our CMakeLists: $plan"
units=()
while IFS= read -r line; do units+=("$line"); done <<<"$plan"
# The ESP-only files must be among them: a parse that lost a registration would otherwise pass quietly.
for must in main/kubelet_main.c main/config_store.c components/board_net/board_net.c \
            components/led_status/led_status_esp.c components/kubelet_common/pk_os_freertos.c \
            components/host_crypto/cred_store_nvs.c components/brain_slot/brain_slot_partition.c \
            components/brain_slot/brain_host.c main/brain_board.c; do
    grep -q "^$must"$'\t' <<<"$plan" || fail "$must is not among the sources parsed from our CMakeLists"
done

failed=0
rm -rf "$dir/cmd" && mkdir -p "$dir/cmd"
for u in "${units[@]}"; do
    IFS=$'\t' read -r -a parts <<<"$u"
    src="${parts[0]}" comp="${parts[1]}" deps="${parts[2]}"
    own=()
    for d in "${parts[@]:3}"; do own+=(-I"$d"); done
    extra=()
    # wasm3's component compiles with these definitions (firmware/components/wasm3/CMakeLists.txt), PRIVATE.
    [ "$comp" = wasm3 ] && extra=(-DESP32 -DM3_IN_IRAM -Dd_m3MaxFunctionStackHeight=1024)
    # The exact command, to rerun one file by hand (add -E -dD to see which header defined what).
    printf '%q ' "$cc" "${flags[@]}" "${extra[@]}" -I"$cfg" "${own[@]}" -fsyntax-only "$fw/$src" \
        >"$dir/cmd/$(basename "$src" .c).sh"
    out="$("$cc" "${flags[@]}" "${extra[@]}" -I"$cfg" "${own[@]}" -fsyntax-only "$fw/$src" 2>&1)"
    rc=$?
    note=""
    [[ "$src" == */led_status_esp.c && "$led_strip_inc" == "$stub" ]] && note=" (led_strip.h: the stand-in in $stub)"
    if [ $rc -ne 0 ] || [ -n "$out" ]; then
        echo "   FAIL firmware/$src$note"
        echo "$out" | sed 's/^/      /'
        failed=$((failed + 1))
    else
        echo "   ok   firmware/$src$note"
        [ -n "${IDF_HOST_CHECK_VERBOSE:-}" ] && echo "        $comp requires (closure, beyond the common ones): $deps"
    fi
done
[ $failed -eq 0 ] || fail "$failed of ${#units[@]} files have diagnostics (ESP-IDF $idf_ver, esp32s3 sdkconfig)"

# The partition table through ESP-IDF's own generator, as the build would run it (16 MB flash), and the
# partitions the firmware opens by name: brain_pair needs both brain slots (firmware/main/brain_board.h).
echo "== 3. partitions.csv through ESP-IDF's gen_esp32part.py (16MB)"
"$venv/bin/python" "$c/partition_table/gen_esp32part.py" --quiet --flash-size 16MB "$root/partitions.csv" \
    "$dir/partitions.bin" || fail "gen_esp32part.py refuses partitions.csv"
table="$("$venv/bin/python" "$c/partition_table/gen_esp32part.py" --quiet "$dir/partitions.bin")" ||
    fail "gen_esp32part.py cannot read back its own table"
for label in $(sed -n 's/^#define BRAIN_BOARD_PARTITION_[0-9] "\(.*\)"/\1/p' "$fw/main/brain_board.h"); do
    echo "$table" | grep -q "^$label,data," || fail "partitions.csv has no data partition $label (brain_board.h)"
    echo "   ok   $label: $(echo "$table" | grep "^$label,")"
done

echo "idf_host_check: OK: ${#units[@]} files compiled without a diagnostic against ESP-IDF $idf_ver (esp32s3, $cfg/sdkconfig.h); partitions.csv accepted"
