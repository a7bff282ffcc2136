/*
 * SPDX-License-Identifier: Apache-2.0
 *
 * The release core (build/picokubelet.wasm, argv[1]) compiles whole under the firmware's wasm3 build
 * (the same defines as the device: d_m3MaxFunctionStackHeight and the rest), with every import linked by
 * its ABI signature, and reports the ABI version this host runs. A core that outgrew the interpreter's
 * limits fails here instead of on the first boot of a board ("compiling function overran its stack
 * height limit" happened once the GC visitor grew with the pods' classes).
 */
#include <stdio.h>
#include <stdlib.h>

#include "wasm3.h"

#include "check.h"
#include "kubelet_abi.h"
#include "pk_m3_limits.h"

static m3ApiRawFunction(stub)
{
    m3ApiSuccess();
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s picokubelet.wasm\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (f == NULL) {
        fprintf(stderr, "cannot open %s (build the core first: npm run build)\n", argv[1]);
        return 2;
    }
    static uint8_t wasm[1 << 20];
    size_t size = fread(wasm, 1, sizeof(wasm), f);
    fclose(f);
    IM3Environment env = m3_NewEnvironment();
    IM3Runtime rt = m3_NewRuntime(env, 32 * 1024, NULL);
    IM3Module mod = NULL;
    M3Result r = m3_ParseModule(env, &mod, wasm, (uint32_t)size);
    CHECK(r == m3Err_none);
    if (r == m3Err_none) {
        r = m3_LoadModule(rt, mod);
        CHECK(r == m3Err_none);
    }
    static const struct {
        const char *module, *name, *sig;
    } imports[] = {
        {KUBELET_ABI_IMPORT_MODULE, "connect", KUBELET_SIG_CONNECT}, {KUBELET_ABI_IMPORT_MODULE, "send", KUBELET_SIG_SEND},
        {KUBELET_ABI_IMPORT_MODULE, "close", KUBELET_SIG_CLOSE},     {KUBELET_ABI_IMPORT_MODULE, "led", KUBELET_SIG_LED},
        {KUBELET_ABI_IMPORT_MODULE, "log", KUBELET_SIG_LOG},         {KUBELET_ABI_IMPORT_MODULE, "host_call", KUBELET_SIG_HOST_CALL},
        {"env", "abort", KUBELET_SIG_ABORT},
    };
    for (size_t i = 0; r == m3Err_none && i < sizeof(imports) / sizeof(imports[0]); i++) {
        M3Result l = m3_LinkRawFunction(mod, imports[i].module, imports[i].name, imports[i].sig, stub);
        if (l != m3Err_none) {
            fprintf(stderr, "linking %s.%s %s: %s\n", imports[i].module, imports[i].name, imports[i].sig, l);
        }
        CHECK(l == m3Err_none);
    }
    if (r == m3Err_none) {
        r = m3_CompileModule(mod);
        if (r != m3Err_none) {
            fprintf(stderr, "the core does not compile under this wasm3 build (stack height limit %u slots): %s\n",
                    (unsigned)pk_m3_max_function_stack_height(), r);
        }
        CHECK(r == m3Err_none);
    }
    IM3Function version = NULL;
    if (r == m3Err_none && m3_FindFunction(&version, rt, "abi_version") == m3Err_none && m3_CallV(version) == m3Err_none) {
        int32_t v = 0;
        m3_GetResultsV(version, &v);
        CHECK(v >= KUBELET_ABI_VERSION_MIN && v <= KUBELET_ABI_VERSION_MAX);
    } else {
        CHECK(!"abi_version() could not be called");
    }
    m3_FreeRuntime(rt);
    m3_FreeEnvironment(env);
    return check_summary("core_compile");
}
