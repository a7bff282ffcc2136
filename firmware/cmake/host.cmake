# The host (Linux) build of the firmware's portable components: see the root CMakeLists.txt.
#
# Always built: kubelet_common (OS seam, event queue), kubelet_config (configuration document),
# led_pattern (LED renderer), net_tls (mbedTLS client and network task, needs libmbedtls-dev), host_crypto
# (key slots, CSRs, certificates; mbedTLS), brain_slot (the brain slot and its checks; mbedTLS, libsodium) and
# their unit tests. With wasm3: the wasm host and the picokubelet-linux binary.

set(CMAKE_C_STANDARD 11)
set(CMAKE_C_STANDARD_REQUIRED ON)
set(CMAKE_C_EXTENSIONS ON)
if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
    set(CMAKE_BUILD_TYPE RelWithDebInfo CACHE STRING "Build type" FORCE)
endif()

set(PICOKUBELET_ROOT "${CMAKE_CURRENT_LIST_DIR}/../..")
get_filename_component(PICOKUBELET_ROOT "${PICOKUBELET_ROOT}" ABSOLUTE)

option(PICOKUBELET_FETCH_WASM3 "Fetch wasm3 from its git repository at the pinned commit when WASM3_SOURCE_DIR is not set" OFF)
option(PICOKUBELET_WERROR "Treat warnings in our own C as errors" ON)
option(PICOKUBELET_SANITIZE "Build everything with AddressSanitizer and UndefinedBehaviorSanitizer (tests abort on the first report)" OFF)
option(PICOKUBELET_WITH_MBEDTLS "Build the parts that need mbedTLS (net_tls, the kubeconfig reader, picokubelet-linux)" ON)

if(PICOKUBELET_SANITIZE)
    # Every target, wasm3 included: a bug in how we drive it shows up inside it. No recovery, so a report
    # fails the test instead of scrolling past.
    add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)
    add_link_options(-fsanitize=address,undefined)
endif()

# Warnings for our code only (wasm3 gets its own flags in its wrapper).
set(PICOKUBELET_WARNINGS -Wall -Wextra -Wshadow -Wstrict-prototypes -Wno-unused-parameter)
if(PICOKUBELET_WERROR)
    list(APPEND PICOKUBELET_WARNINGS -Werror)
endif()

enable_testing()

add_subdirectory("${PICOKUBELET_ROOT}/firmware/components/kubelet_common" components/kubelet_common)
add_subdirectory("${PICOKUBELET_ROOT}/firmware/components/kubelet_config" components/kubelet_config)
add_subdirectory("${PICOKUBELET_ROOT}/firmware/components/led_status" components/led_status)
foreach(t kubelet_common kubelet_config led_pattern led_status_log)
    target_compile_options(${t} PRIVATE ${PICOKUBELET_WARNINGS})
endforeach()

# mbedTLS: Debian's libmbedtls-dev (2.28) ships no CMake package, so find it by hand.
find_path(MBEDTLS_INCLUDE_DIR mbedtls/ssl.h)
find_library(MBEDTLS_LIBRARY mbedtls)
find_library(MBEDX509_LIBRARY mbedx509)
find_library(MBEDCRYPTO_LIBRARY mbedcrypto)
if(NOT PICOKUBELET_WITH_MBEDTLS)
    # The 32-bit pass (tests/firmware/run.sh): Debian has no i386 mbedTLS without a foreign architecture.
    message(STATUS "picokubelet: without mbedTLS (net_tls, kubeconfig and picokubelet-linux are not built)")
elseif(MBEDTLS_INCLUDE_DIR AND MBEDTLS_LIBRARY AND MBEDX509_LIBRARY AND MBEDCRYPTO_LIBRARY)
    add_library(picokubelet_mbedtls INTERFACE)
    target_include_directories(picokubelet_mbedtls INTERFACE "${MBEDTLS_INCLUDE_DIR}")
    target_link_libraries(picokubelet_mbedtls INTERFACE
        "${MBEDTLS_LIBRARY}" "${MBEDX509_LIBRARY}" "${MBEDCRYPTO_LIBRARY}")
    set(PICOKUBELET_HAVE_MBEDTLS ON)
    add_subdirectory("${PICOKUBELET_ROOT}/firmware/components/net_tls" components/net_tls)
    target_compile_options(net_tls PRIVATE ${PICOKUBELET_WARNINGS})
    add_subdirectory("${PICOKUBELET_ROOT}/firmware/components/host_crypto" components/host_crypto)
    target_compile_options(host_crypto PRIVATE ${PICOKUBELET_WARNINGS})
else()
    message(FATAL_ERROR "mbedTLS not found: install the Debian package libmbedtls-dev")
endif()

# The brain slot and its checks (the checks only with mbedTLS, and then also libsodium: libsodium-dev).
add_subdirectory("${PICOKUBELET_ROOT}/firmware/components/brain_slot" components/brain_slot)

# wasm3 (optional here): the wasm host and the Linux host port need it; CI has no wasm3 source.
include("${PICOKUBELET_ROOT}/firmware/cmake/wasm3_source.cmake")
picokubelet_wasm3_source(PICOKUBELET_WASM3_DIR OPTIONAL)
if(PICOKUBELET_WASM3_DIR)
    add_subdirectory("${PICOKUBELET_ROOT}/firmware/components/wasm3" components/wasm3)
    add_subdirectory("${PICOKUBELET_ROOT}/firmware/components/wasm_host" components/wasm_host)
    target_compile_options(wasm_host PRIVATE ${PICOKUBELET_WARNINGS})
else()
    message(STATUS "picokubelet: no wasm3 source (set -DWASM3_SOURCE_DIR=... or -DPICOKUBELET_FETCH_WASM3=ON); "
                   "building the components and tests that do not need it")
endif()

add_subdirectory("${PICOKUBELET_ROOT}/firmware/linux" linux)
add_subdirectory("${PICOKUBELET_ROOT}/tests/firmware" tests/firmware)
