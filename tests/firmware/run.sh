#!/usr/bin/env bash
# Configure, build and unit-test the firmware's portable C on this machine (no ESP-IDF), three times:
#
#   default   64-bit, -Wall -Wextra -Werror                       (build/firmware-host)
#   sanitize  the same under AddressSanitizer + UBSan, no recovery (build/firmware-host-asan)
#   m32       32-bit (-m32), as the ESP32-S3's 32-bit long and pointers; without mbedTLS, which Debian
#             has for amd64 only (net_tls, the kubeconfig reader and the brain checks are left out of this pass)
#                                                                 (build/firmware-host-m32)
#
#   tests/firmware/run.sh                        # all three passes, then one summary line
#   PASSES="default" tests/firmware/run.sh       # a subset
#   BUILD_DIR=/tmp/x tests/firmware/run.sh       # build directories /tmp/x, /tmp/x-asan, /tmp/x-m32
#
# Needs the Debian packages cmake, ninja-build, gcc, libmbedtls-dev, libsodium-dev; the m32 pass also gcc-multilib,
# which this script installs with apt-get when it is missing and it runs as root.
# With WASM3_SOURCE_DIR set (a wasm3 checkout), the wasm host, picokubelet-linux and their tests are
# built too (firmware/README.md "Linux host port").
# The last line has ctest's summary form ("N% tests passed, F tests failed out of T") for all passes
# together, which scripts/test.sh reads; the exit status is non-zero when any pass failed.
set -uo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
base="${BUILD_DIR:-$root/build/firmware-host}"
passes="${PASSES:-default sanitize m32}"

for tool in cmake ninja cc; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "tests/firmware: '$tool' is missing (Debian: apt-get install cmake ninja-build gcc libmbedtls-dev libsodium-dev)" >&2
        exit 1
    fi
done
if [ ! -f /usr/include/mbedtls/ssl.h ] && [ -z "${MBEDTLS_INCLUDE_DIR:-}" ]; then
    echo "tests/firmware: mbedTLS headers are missing (Debian: apt-get install libmbedtls-dev)" >&2
    exit 1
fi
if [ ! -f /usr/include/sodium.h ] && [ -z "${SODIUM_INCLUDE_DIR:-}" ]; then
    echo "tests/firmware: libsodium headers are missing (Debian: apt-get install libsodium-dev)" >&2
    exit 1
fi

# Can cc build and link a 32-bit program?
can_m32() {
    local probe
    probe="$(mktemp -d)"
    printf 'int main(void) { return sizeof(long) == 4 ? 0 : 1; }\n' >"$probe/p.c"
    cc -m32 "$probe/p.c" -o "$probe/p" >/dev/null 2>&1 && "$probe/p"
    local rc=$?
    rm -rf "$probe"
    return $rc
}

total=0
failed=0
status=0
# run_pass <name> <build dir> <cmake args...>
run_pass() {
    local name="$1" dir="$2"
    shift 2
    echo "=== tests/firmware: pass '$name' ($dir)"
    local args=(-S "$root" -B "$dir" -G Ninja "$@")
    if [ -n "${WASM3_SOURCE_DIR:-}" ]; then
        args+=("-DWASM3_SOURCE_DIR=$WASM3_SOURCE_DIR")
    fi
    if ! cmake "${args[@]}" || ! cmake --build "$dir"; then
        echo "=== tests/firmware: pass '$name' did not build" >&2
        total=$((total + 1)); failed=$((failed + 1)); status=1
        return
    fi
    local log
    log="$(mktemp)"
    ctest --test-dir "$dir" --output-on-failure 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    local line
    line="$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)"
    rm -f "$log"
    if [[ $line =~ ([0-9]+)\ tests?\ failed\ out\ of\ ([0-9]+) ]]; then
        failed=$((failed + BASH_REMATCH[1])); total=$((total + BASH_REMATCH[2]))
    else
        total=$((total + 1)); failed=$((failed + 1))
    fi
    [ "$rc" -eq 0 ] || status=1
}

for pass in $passes; do
    case "$pass" in
    default)
        run_pass default "$base" ;;
    sanitize)
        # The wasm host's tests time calls against a budget; the sanitizers make wasm3 slower, not wrong.
        ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" UBSAN_OPTIONS="print_stacktrace=1" \
            run_pass sanitize "$base-asan" -DPICOKUBELET_SANITIZE=ON ;;
    m32)
        if ! can_m32 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            echo "=== tests/firmware: installing gcc-multilib for the 32-bit pass"
            DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gcc-multilib >/dev/null ||
                { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gcc-multilib >/dev/null; }
        fi
        if can_m32; then
            run_pass m32 "$base-m32" -DCMAKE_C_FLAGS=-m32 -DPICOKUBELET_WITH_MBEDTLS=OFF
        else
            echo "=== tests/firmware: cannot build 32-bit programs (Debian: apt-get install gcc-multilib)" >&2
            total=$((total + 1)); failed=$((failed + 1)); status=1
        fi ;;
    *)
        echo "tests/firmware: unknown pass '$pass' (valid: default sanitize m32)" >&2
        exit 2 ;;
    esac
done

passed=$((total - failed))
echo "=== tests/firmware: all passes ($passes)"
echo "$(( total > 0 ? passed * 100 / total : 0 ))% tests passed, $failed tests failed out of $total"
exit $status
