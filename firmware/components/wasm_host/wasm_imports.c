/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * Every host function the core imports (assembly/ABI.md "Imports"), in one place, and the one link
 * function that registers them. Each guest pointer and length is checked against the current size of
 * linear memory before it is touched (m3ApiCheckMem); a failed check is a bug in the core, so it is
 * logged and raised as a trap, and wasm_host.c rebuilds the instance. Imports never call back into the
 * module (ABI.md "No re-entrancy"): outcomes are queued as events.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "wasm3.h"

#include "kubelet_abi.h"
#include "pk_os.h"
#include "wasm_host_priv.h"

static const char *TAG = "core";

/* Longest host name or server name the core may pass (RFC 1123: 253 characters). */
#define HOST_NAME_MAX_BYTES 253
/* Longest log line written as is; longer lines are cut with a marker. */
#define LOG_LINE_MAX_BYTES 2048
/* Characters of an abort message or file name we decode. */
#define ABORT_TEXT_MAX 160

/*
 * Bounds check for a guest (offset, length) pair. The length arrives as a wasm i32; a negative one is
 * refused before m3ApiCheckMem sees it (there it would wrap around and pass). Both checks trap here
 * themselves; m3ApiCheckMem stays as wasm3's own belt and braces.
 */
#define CHECK_GUEST(host, what, off, len)                                                                  \
    do {                                                                                                   \
        if ((int32_t)(len) < 0) {                                                                          \
            wasm_host_note_trap((host), "%s: negative length %" PRId32, (what), (int32_t)(len));           \
            m3ApiTrap(m3Err_trapOutOfBoundsMemoryAccess);                                                  \
        }                                                                                                  \
        if ((uint64_t)(off) + (uint64_t)(uint32_t)(len) > (uint64_t)m3_GetMemorySize(runtime)) {           \
            wasm_host_note_trap((host), "%s: [%" PRIu32 ", +%" PRId32 ") is outside linear memory (%" PRIu32 \
                                " bytes)", (what), (uint32_t)(off), (int32_t)(len), m3_GetMemorySize(runtime)); \
            m3ApiTrap(m3Err_trapOutOfBoundsMemoryAccess);                                                  \
        }                                                                                                  \
        m3ApiCheckMem(m3ApiOffsetToPtr(off), (uint32_t)(len));                                             \
    } while (0)

static wasm_host_t *host_of(IM3ImportContext ctx)
{
    return (wasm_host_t *)ctx->userdata;
}

/* Copies a checked guest string into `out` (NUL-terminated); false if too long or it holds a NUL byte. */
static bool copy_name(const uint8_t *src, int32_t len, char *out, size_t out_size)
{
    if (len <= 0 || (size_t)len >= out_size || memchr(src, 0, (size_t)len) != NULL) {
        return false;
    }
    memcpy(out, src, (size_t)len);
    out[len] = '\0';
    return true;
}

static m3ApiRawFunction(imp_connect)
{
    m3ApiGetArg(int32_t, conn);
    m3ApiGetArg(uint32_t, host_off);
    m3ApiGetArg(int32_t, host_len);
    m3ApiGetArg(int32_t, port);
    m3ApiGetArg(uint32_t, name_off);
    m3ApiGetArg(int32_t, name_len);
    m3ApiGetArg(int32_t, profile);
    wasm_host_t *h = host_of(_ctx);
    CHECK_GUEST(h, "connect(host)", host_off, host_len);
    CHECK_GUEST(h, "connect(server_name)", name_off, name_len);

    char host[HOST_NAME_MAX_BYTES + 1];
    char server_name[HOST_NAME_MAX_BYTES + 1];
    const uint8_t *host_src = m3ApiOffsetToPtr(host_off);
    const uint8_t *name_src = m3ApiOffsetToPtr(name_off);
    bool ok = copy_name(host_src, host_len, host, sizeof(host));
    if (ok && name_len == 0) {
        strcpy(server_name, host);
    } else if (ok) {
        ok = copy_name(name_src, name_len, server_name, sizeof(server_name));
    }
    if (!ok || port < 1 || port > 65535 || conn <= 0 || conn > KUBELET_CONN_CORE_MAX ||
        (profile != KUBELET_PROFILE_CLUSTER && profile != KUBELET_PROFILE_PUBLIC)) {
        pk_log(PK_LOG_ERROR, TAG,
               "connect(%" PRId32 "): refusing host/server name/port/profile (port %" PRId32 ", profile %" PRId32 ")",
               conn, port, profile);
        if (!wasm_host_queue_closed(h, conn, KUBELET_CLOSE_CONNECT_FAILED)) {
            m3ApiTrap(m3Err_mallocFailed);
        }
        m3ApiSuccess();
    }
    int32_t refused = h->cfg.ops.connect(h->cfg.ops.ctx, h->gen, conn, host, (uint16_t)port, server_name, profile);
    if (refused != 0) {
        if (!wasm_host_queue_closed(h, conn, refused)) {
            m3ApiTrap(m3Err_mallocFailed);
        }
    }
    m3ApiSuccess();
}

static m3ApiRawFunction(imp_send)
{
    m3ApiReturnType(int32_t);
    m3ApiGetArg(int32_t, conn);
    m3ApiGetArg(uint32_t, off);
    m3ApiGetArg(int32_t, len);
    wasm_host_t *h = host_of(_ctx);
    CHECK_GUEST(h, "send", off, len);
    int32_t took = 0;
    if (len > 0) {
        took = h->cfg.ops.send(h->cfg.ops.ctx, h->gen, conn, (const uint8_t *)m3ApiOffsetToPtr(off), (size_t)len);
        if (took > len) {
            took = len;
        }
    }
    m3ApiReturn(took);
}

static m3ApiRawFunction(imp_host_call)
{
    m3ApiReturnType(int32_t);
    m3ApiGetArg(int32_t, req);
    m3ApiGetArg(int32_t, op);
    m3ApiGetArg(int32_t, arg);
    m3ApiGetArg(uint32_t, off);
    m3ApiGetArg(int32_t, len);
    wasm_host_t *h = host_of(_ctx);
    CHECK_GUEST(h, "host_call", off, len);
    if (h->cfg.ops.host_call == NULL) {
        m3ApiReturn(-KUBELET_ERR_UNSUPPORTED);
    }
    int32_t rc = h->cfg.ops.host_call(h->cfg.ops.ctx, h->gen, req, op, arg, (const uint8_t *)m3ApiOffsetToPtr(off),
                                      (size_t)len);
    m3ApiReturn(rc);
}

static m3ApiRawFunction(imp_close)
{
    m3ApiGetArg(int32_t, conn);
    wasm_host_t *h = host_of(_ctx);
    h->cfg.ops.close(h->cfg.ops.ctx, h->gen, conn);
    m3ApiSuccess();
}

static m3ApiRawFunction(imp_led)
{
    m3ApiGetArg(int32_t, pattern);
    wasm_host_t *h = host_of(_ctx);
    if (pattern < KUBELET_LED_OFF || pattern > KUBELET_LED_PANIC) {
        pk_log(PK_LOG_WARN, TAG, "led(%" PRId32 "): unknown pattern, ignored", pattern);
        m3ApiSuccess();
    }
    h->cfg.ops.led(h->cfg.ops.ctx, pattern);
    m3ApiSuccess();
}

static m3ApiRawFunction(imp_log)
{
    m3ApiGetArg(int32_t, level);
    m3ApiGetArg(uint32_t, off);
    m3ApiGetArg(int32_t, len);
    wasm_host_t *h = host_of(_ctx);
    CHECK_GUEST(h, "log", off, len);
    pk_log_level_t lvl = (level >= KUBELET_LOG_ERROR && level <= KUBELET_LOG_DEBUG) ? (pk_log_level_t)level
                                                                                    : PK_LOG_INFO;
    const char *text = (const char *)m3ApiOffsetToPtr(off);
    if (len > LOG_LINE_MAX_BYTES) {
        pk_log(lvl, TAG, "%.*s... (%" PRId32 " bytes)", LOG_LINE_MAX_BYTES, text, len);
    } else {
        pk_log(lvl, TAG, "%.*s", (int)len, text);
    }
    m3ApiSuccess();
}

/*
 * Decodes an AssemblyScript string (UTF-16LE, byte length as u32 at ptr - 4) into printable UTF-8,
 * bounds-checked. Returns false if the header or the text lies outside linear memory.
 */
static bool as_string(IM3Runtime runtime, void *mem, uint32_t ptr, char *out, size_t out_size)
{
    uint32_t mem_size = m3_GetMemorySize(runtime);
    if (ptr == 0) {
        snprintf(out, out_size, "(none)");
        return true;
    }
    if (ptr < 4 || (uint64_t)ptr > mem_size) {
        return false;
    }
    const uint8_t *base = (const uint8_t *)mem;
    uint32_t bytes = (uint32_t)base[ptr - 4] | (uint32_t)base[ptr - 3] << 8 | (uint32_t)base[ptr - 2] << 16 |
                     (uint32_t)base[ptr - 1] << 24;
    if ((uint64_t)ptr + bytes > mem_size) {
        return false;
    }
    size_t o = 0;
    for (uint32_t i = 0; i + 1 < bytes && i / 2 < ABORT_TEXT_MAX; i += 2) {
        uint32_t cu = (uint32_t)base[ptr + i] | (uint32_t)base[ptr + i + 1] << 8;
        char enc[4];
        size_t n;
        if (cu < 0x80) {
            enc[0] = (cu >= 0x20 || cu == '\t') ? (char)cu : '?';
            n = 1;
        } else if (cu < 0x800) {
            enc[0] = (char)(0xC0 | (cu >> 6));
            enc[1] = (char)(0x80 | (cu & 0x3F));
            n = 2;
        } else if (cu >= 0xD800 && cu <= 0xDFFF) {
            enc[0] = '?';
            n = 1;
        } else {
            enc[0] = (char)(0xE0 | (cu >> 12));
            enc[1] = (char)(0x80 | ((cu >> 6) & 0x3F));
            enc[2] = (char)(0x80 | (cu & 0x3F));
            n = 3;
        }
        if (o + n + 1 > out_size) {
            break;
        }
        memcpy(out + o, enc, n);
        o += n;
    }
    out[o] = '\0';
    return true;
}

static m3ApiRawFunction(imp_abort)
{
    m3ApiGetArg(uint32_t, msg_ptr);
    m3ApiGetArg(uint32_t, file_ptr);
    m3ApiGetArg(int32_t, line);
    m3ApiGetArg(int32_t, column);
    wasm_host_t *h = host_of(_ctx);
    char msg[ABORT_TEXT_MAX * 3 + 1];
    char file[ABORT_TEXT_MAX * 3 + 1];
    if (!as_string(runtime, _mem, msg_ptr, msg, sizeof(msg)) || !as_string(runtime, _mem, file_ptr, file, sizeof(file))) {
        wasm_host_note_trap(h, "abort: message or file pointer outside linear memory");
        m3ApiTrap(m3Err_trapOutOfBoundsMemoryAccess);
    }
    wasm_host_note_trap(h, "abort: %s at %s:%" PRId32 ":%" PRId32, msg, file, line, column);
    m3ApiTrap(m3Err_trapAbort);
}

/* Links one import; an import the module does not declare is not an error (the core may drop one). */
static M3Result link_one(IM3Module module, const char *mod, const char *name, const char *sig, M3RawCall fn,
                         wasm_host_t *host)
{
    M3Result r = m3_LinkRawFunctionEx(module, mod, name, sig, fn, host);
    if (r == m3Err_functionLookupFailed) {
        pk_log(PK_LOG_WARN, "wasm", "the module does not import %s.%s", mod, name);
        return m3Err_none;
    }
    return r;
}

M3Result wasm_host_link_imports(wasm_host_t *host, IM3Module module)
{
    static const struct {
        const char *module;
        const char *name;
        const char *sig;
        M3RawCall fn;
    } imports[] = {
        {KUBELET_ABI_IMPORT_MODULE, "connect", KUBELET_SIG_CONNECT, imp_connect},
        {KUBELET_ABI_IMPORT_MODULE, "send", KUBELET_SIG_SEND, imp_send},
        {KUBELET_ABI_IMPORT_MODULE, "close", KUBELET_SIG_CLOSE, imp_close},
        {KUBELET_ABI_IMPORT_MODULE, "led", KUBELET_SIG_LED, imp_led},
        {KUBELET_ABI_IMPORT_MODULE, "log", KUBELET_SIG_LOG, imp_log},
        {KUBELET_ABI_IMPORT_MODULE, "host_call", KUBELET_SIG_HOST_CALL, imp_host_call},
        {"env", "abort", KUBELET_SIG_ABORT, imp_abort},
    };
    /* Every import is tried, and the first failure returned: the caller asks abi_version() before it
     * reports a failure, because a core of another ABI version fails here for that reason. */
    M3Result first = m3Err_none;
    for (size_t i = 0; i < sizeof(imports) / sizeof(imports[0]); i++) {
        M3Result r = link_one(module, imports[i].module, imports[i].name, imports[i].sig, imports[i].fn, host);
        if (r != m3Err_none && first == m3Err_none) {
            host->link_error_name = imports[i].name;
            first = r;
        }
    }
    return first;
}
