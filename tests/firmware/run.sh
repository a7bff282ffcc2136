#!/usr/bin/env bash
# Configure, build and unit-test the firmware's portable C on this machine (no ESP-IDF, no wasm3).
# Installs nothing: CI provides the Debian packages cmake, ninja-build, gcc and libmbedtls-dev.
#
#   tests/firmware/run.sh              # build into build/firmware-host and run ctest
#   BUILD_DIR=/tmp/x tests/firmware/run.sh
#
# With WASM3_SOURCE_DIR set (a wasm3 checkout), the wasm host, picokubelet-linux and their tests are
# built too (firmware/README.md "Linux host port").
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build="${BUILD_DIR:-$root/build/firmware-host}"

for tool in cmake ninja cc; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "tests/firmware: '$tool' is missing (Debian: apt-get install cmake ninja-build gcc libmbedtls-dev)" >&2
        exit 1
    fi
done
if [ ! -f /usr/include/mbedtls/ssl.h ] && [ -z "${MBEDTLS_INCLUDE_DIR:-}" ]; then
    echo "tests/firmware: mbedTLS headers are missing (Debian: apt-get install libmbedtls-dev)" >&2
    exit 1
fi

args=(-S "$root" -B "$build" -G Ninja)
if [ -n "${WASM3_SOURCE_DIR:-}" ]; then
    args+=("-DWASM3_SOURCE_DIR=$WASM3_SOURCE_DIR")
fi
cmake "${args[@]}"
cmake --build "$build"
ctest --test-dir "$build" --output-on-failure
