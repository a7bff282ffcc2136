#!/usr/bin/env bash
# The firmware against the real ESP-IDF: configure the ESP-IDF project (firmware/) for the ESP32-S3 and
# build it with the flags ESP-IDF generates (-Wall -Wextra -Werror, extra warnings not fatal; mbedTLS 3.6; the real
# sdkconfig.h from sdkconfig.defaults and Kconfig.projbuild), link it, and check what only that build
# can show. Needs an exported ESP-IDF v5.5 (`. $IDF_PATH/export.sh`: idf.py and the Xtensa toolchain on
# PATH), git (wasm3) and the ESP Component Registry (led_strip) or a warm component cache. Not part of
# `npm test`: CI machines have no ESP-IDF.
#
#   tests/firmware/idf_check.sh                  # build directory /tmp/picokubelet-idf-check
#   IDF_CHECK_DIR=/tmp/x tests/firmware/idf_check.sh
#
# Checks:
#   1. idf.py at the repository root is refused with a pointer to firmware/ (the root's build/ is npm's).
#   2. `idf.py set-target esp32s3` and `idf.py build` succeed although the root's build/ holds npm output
#      and is no CMake build directory; the image links (every ESP-IDF symbol we use exists).
#   3. The core is embedded as _binary_picokubelet_wasm_start/_end, also when PICOKUBELET_WASM names a
#      file called something else (a second, reconfigured build).
#   4. Nothing of wasm3 is placed in IRAM (firmware/components/wasm3/CMakeLists.txt).
#   5. `idf.py fullclean` leaves the root's build/ (the core) alone.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dir="${IDF_CHECK_DIR:-/tmp/picokubelet-idf-check}"
fail() { echo "idf_check: FAILED: $*" >&2; exit 1; }

[ -n "${IDF_PATH:-}" ] || fail "IDF_PATH is not set: export ESP-IDF first (. \$IDF_PATH/export.sh)"
command -v idf.py >/dev/null || fail "idf.py is not on PATH: run . \$IDF_PATH/export.sh"
command -v xtensa-esp32s3-elf-nm >/dev/null || fail "the Xtensa toolchain is not on PATH (install.sh esp32s3, export.sh)"
core="$root/build/picokubelet.wasm"
[ -f "$core" ] || fail "$core is missing: run npm run build (or npx asc assembly/kubelet.ts --target release)"

echo "== 1. idf.py at the repository root is refused"
out="$(cd "$root" && idf.py -B "$dir-root" reconfigure 2>&1)" && fail "idf.py accepted the repository root"
grep -q "cd firmware" <<<"$out" || fail "the refusal does not point to firmware/: $out"
rm -rf "$dir-root"

echo "== 2. set-target and build in firmware/ (root build/ present: $(ls "$root/build" | wc -l) entries)"
rm -rf "$dir"
idf.py -C "$root/firmware" -B "$dir" set-target esp32s3
idf.py -C "$root/firmware" -B "$dir" build
elf="$dir/picokubelet.elf"
[ -f "$elf" ] || fail "no $elf"

echo "== 3. the embedded core's symbols"
syms() { xtensa-esp32s3-elf-nm "$1" | grep -c ' _binary_picokubelet_wasm_\(start\|end\)$' || true; }
[ "$(syms "$elf")" = 2 ] || fail "$elf lacks _binary_picokubelet_wasm_start/_end"
other="$dir-core/core.wasm"
mkdir -p "$dir-core" && cp "$core" "$other"
idf.py -C "$root/firmware" -B "$dir" -DPICOKUBELET_WASM="$other" build
[ "$(syms "$elf")" = 2 ] || fail "with PICOKUBELET_WASM=$other the symbols are missing"
cmp -s "$other" "$dir/esp-idf/main/picokubelet.wasm" || fail "the embedded copy is not $other"
idf.py -C "$root/firmware" -B "$dir" -DPICOKUBELET_WASM="$core" reconfigure >/dev/null

echo "== 4. no wasm3 code in IRAM"
map="$dir/picokubelet.map"
if awk '/^ *\.iram0\.text/,/^ *\.dram0/' "$map" | grep -q 'libwasm3\.a'; then
    fail "wasm3 objects in .iram0.text (see $map)"
fi

echo "== 5. fullclean leaves the root's build/ alone"
idf.py -C "$root/firmware" -B "$dir" fullclean
[ -f "$core" ] || fail "fullclean deleted $core"

echo "idf_check: all checks passed (ESP-IDF $(cd "$IDF_PATH" && git describe --tags 2>/dev/null || echo '?'))"
