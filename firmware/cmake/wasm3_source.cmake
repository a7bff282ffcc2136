# Where wasm3 comes from. wasm3 is never vendored in this repository.
#
# 1. WASM3_SOURCE_DIR (CMake cache variable, or environment variable): a wasm3 checkout you provide,
#    for offline builds and for the Linux host port on machines that cannot reach GitHub.
# 2. Otherwise CMake's FetchContent clones the upstream repository at a pinned commit into the build
#    directory (ESP-IDF builds do this by default; host builds only with -DPICOKUBELET_FETCH_WASM3=ON).
#
# Why FetchContent and not the IDF component manager: a component-manager git dependency must point at
# a directory that is an ESP-IDF component, and wasm3 is a plain CMake library, so it needs a wrapper
# component anyway (firmware/components/wasm3). FetchContent's explicit-argument form works in both
# builds and needs nothing but git.
#
# The pin: wasm3 0.9.0 (HEAD c9b579d, 2026-08-22), the newest release; wasm3's own CI builds it for the
# ESP32 with ESP-IDF 5.4 and boots it in QEMU.
set(PICOKUBELET_WASM3_GIT_REPOSITORY "https://github.com/wasm3/wasm3.git"
    CACHE STRING "Git repository wasm3 is fetched from when WASM3_SOURCE_DIR is not set")
set(PICOKUBELET_WASM3_GIT_TAG "c9b579d8c048db71ce2322cf68a0d88ae81684d2"
    CACHE STRING "wasm3 commit (full hash) to fetch: 0.9.0, c9b579d")
set(WASM3_SOURCE_DIR "" CACHE PATH "A wasm3 source tree (the directory holding source/wasm3.h); empty: fetch")

# The interpreter sources the host needs (no WASI, libc or tracer bindings).
set(PICOKUBELET_WASM3_SOURCES
    m3_bind.c m3_code.c m3_compile.c m3_core.c m3_env.c m3_exec.c m3_function.c m3_info.c m3_module.c
    m3_parse.c m3_validate.c)

# picokubelet_wasm3_source(<out_var> [OPTIONAL])
# Sets <out_var> to the wasm3 source tree, fetching it if allowed. With OPTIONAL, a host build without
# a source and without PICOKUBELET_FETCH_WASM3 gets an empty <out_var> instead of an error.
function(picokubelet_wasm3_source out_var)
    cmake_parse_arguments(ARG "OPTIONAL" "" "" ${ARGN})
    set(dir "${WASM3_SOURCE_DIR}")
    if(dir STREQUAL "" AND DEFINED ENV{WASM3_SOURCE_DIR})
        set(dir "$ENV{WASM3_SOURCE_DIR}")
    endif()
    if(dir STREQUAL "")
        if(ARG_OPTIONAL AND NOT PICOKUBELET_FETCH_WASM3)
            set(${out_var} "" PARENT_SCOPE)
            return()
        endif()
        include(FetchContent)
        set(dir "${CMAKE_BINARY_DIR}/_deps/wasm3-src")
        message(STATUS "picokubelet: fetching wasm3 ${PICOKUBELET_WASM3_GIT_TAG} from ${PICOKUBELET_WASM3_GIT_REPOSITORY}")
        FetchContent_Populate(picokubelet_wasm3
            QUIET
            GIT_REPOSITORY "${PICOKUBELET_WASM3_GIT_REPOSITORY}"
            GIT_TAG "${PICOKUBELET_WASM3_GIT_TAG}"
            GIT_SUBMODULES ""
            SOURCE_DIR "${dir}"
            BINARY_DIR "${CMAKE_BINARY_DIR}/_deps/wasm3-build"
            SUBBUILD_DIR "${CMAKE_BINARY_DIR}/_deps/wasm3-subbuild")
    endif()
    get_filename_component(dir "${dir}" ABSOLUTE)
    if(NOT EXISTS "${dir}/source/wasm3.h")
        message(FATAL_ERROR "wasm3: ${dir}/source/wasm3.h not found (WASM3_SOURCE_DIR must be a wasm3 checkout)")
    endif()
    file(STRINGS "${dir}/source/wasm3.h" version_line REGEX "#define M3_VERSION +\"")
    string(REGEX REPLACE ".*\"(.*)\".*" "\\1" version "${version_line}")
    message(STATUS "picokubelet: wasm3 ${version} from ${dir}")
    if(NOT version STREQUAL "0.9.0")
        message(WARNING "wasm3 ${version}: the firmware is written and measured against 0.9.0 (${PICOKUBELET_WASM3_GIT_TAG})")
    endif()
    set(${out_var} "${dir}" PARENT_SCOPE)
endfunction()
