/* link.c — the JIT linker (cuLinkCreate / AddData / AddFile / Complete / Destroy): PTX inputs,
 * and the PTX of fatbin inputs, are joined into one PTX module by ptx_join.c, so `.extern .func`
 * declarations of -rdc=true code resolve against the definitions of the other inputs. The image
 * cuLinkComplete returns is that PTX text. */
#include "emu.h"
#include "ptx_join.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#undef cuLinkCreate
#undef cuLinkAddData
#undef cuLinkAddFile
CUresult cuLinkCreate(unsigned int numOptions, CUjit_option *options, void **optionValues,
                      CUlinkState *stateOut);
CUresult cuLinkAddData(CUlinkState state, CUjitInputType type, void *data, size_t size, const char *name,
                       unsigned int numOptions, CUjit_option *options, void **optionValues);
CUresult cuLinkAddFile(CUlinkState state, CUjitInputType type, const char *path, unsigned int numOptions,
                       CUjit_option *options, void **optionValues);

struct CUlinkState_st {
    jit_opts o;
    ptx_join join;
    char *image;
    size_t imagelen;
};

static CUresult link_fail(CUlinkState s, CUresult r, const char *msg) {
    emu_set_detail("%s", msg);
    jit_opts_finish(&s->o, msg, NULL);
    return r;
}

EMU_API CUresult cuLinkCreate_v2(unsigned int numOptions, CUjit_option *options, void **optionValues,
                                 CUlinkState *stateOut) {
    if (!stateOut) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "stateOut is NULL");
    if (numOptions && (!options || !optionValues))
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "numOptions is %u but options or optionValues is NULL",
                          numOptions);
    CUresult r = ctx_check(NULL);
    if (r != CUDA_SUCCESS) return r;
    CUlinkState s = calloc(1, sizeof *s);
    if (!s) return CUDA_ERROR_OUT_OF_MEMORY;
    jit_opts_parse(&s->o, numOptions, options, optionValues);
    emu_lock();
    handle_add(H_LINK, s);
    emu_unlock();
    *stateOut = s;
    return CUDA_SUCCESS;
}

static int link_live_at(const char *entry, CUlinkState s) {
    emu_lock();
    int ok = handle_live(H_LINK, s);
    emu_unlock();
    if (!ok)
        emu_refuse_at(entry, CUDA_ERROR_INVALID_HANDLE, "%p is not a live link state (cuLinkCreate)",
                      (void *)s);
    return ok;
}
#define link_live(s) link_live_at(__func__, (s))

static const char *input_type_name(CUjitInputType t) {
    switch (t) {
    case CU_JIT_INPUT_CUBIN:
        return "CU_JIT_INPUT_CUBIN (machine code)";
    case CU_JIT_INPUT_PTX:
        return "CU_JIT_INPUT_PTX";
    case CU_JIT_INPUT_FATBINARY:
        return "CU_JIT_INPUT_FATBINARY";
    case CU_JIT_INPUT_OBJECT:
        return "CU_JIT_INPUT_OBJECT (host object)";
    case CU_JIT_INPUT_LIBRARY:
        return "CU_JIT_INPUT_LIBRARY (archive)";
    default:
        return "an unknown CUjitInputType";
    }
}

EMU_API CUresult cuLinkAddData_v2(CUlinkState state, CUjitInputType type, void *data, size_t size,
                                  const char *name, unsigned int numOptions, CUjit_option *options,
                                  void **optionValues) {
    (void)options;
    (void)optionValues;
    if (!link_live(state)) return CUDA_ERROR_INVALID_HANDLE;
    if (!data) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "data is NULL");
    if (numOptions && (!options || !optionValues))
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "numOptions is %u but options or optionValues is NULL",
                          numOptions);
    if (state->image)
        return link_fail(state, CUDA_ERROR_INVALID_VALUE, "cuLinkAddData: the link was already completed");
    char log[1100];
    if (type != CU_JIT_INPUT_PTX && type != CU_JIT_INPUT_FATBINARY) {
        snprintf(log, sizeof log,
                 "cuLinkAddData: input '%s' is %s; the CPU driver links PTX and fatbins holding PTX only "
                 "(CU_JIT_INPUT_PTX, CU_JIT_INPUT_FATBINARY)",
                 name ? name : "(unnamed)", input_type_name(type));
        return link_fail(state, CUDA_ERROR_NOT_SUPPORTED, log);
    }
    if (type == CU_JIT_INPUT_PTX) {
        if (ptx_join_add(&state->join, data, size ? strnlen(data, size) : strlen(data), name) != 0)
            return link_fail(state, CUDA_ERROR_OUT_OF_MEMORY, "cuLinkAddData: out of host memory");
    } else {
        char why[1024];
        CUresult r = ptx_join_add_image(&state->join, data, size, name, why, sizeof why);
        if (r != CUDA_SUCCESS) {
            snprintf(log, sizeof log, "cuLinkAddData('%s'): %s", name ? name : "(unnamed)", why);
            return link_fail(state, r, log);
        }
    }
    return CUDA_SUCCESS;
}

EMU_API CUresult cuLinkAddFile_v2(CUlinkState state, CUjitInputType type, const char *path,
                                  unsigned int numOptions, CUjit_option *options, void **optionValues) {
    if (!link_live(state)) return CUDA_ERROR_INVALID_HANDLE;
    if (!path) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "path is NULL");
    char *buf;
    size_t n;
    CUresult r = emu_read_file(path, &buf, &n);
    if (r != CUDA_SUCCESS) {
        char log[600];
        snprintf(log, sizeof log, "cuLinkAddFile: cannot read '%s'", path);
        return link_fail(state, r, log);
    }
    r = cuLinkAddData_v2(state, type, buf, n + 1, path, numOptions, options, optionValues);
    free(buf);
    return r;
}

EMU_API CUresult cuLinkComplete(CUlinkState state, void **cubinOut, size_t *sizeOut) {
    if (!link_live(state)) return CUDA_ERROR_INVALID_HANDLE;
    if (!cubinOut || !sizeOut)
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "%s is NULL", !cubinOut ? "cubinOut" : "sizeOut");
    if (!state->image) {
        char msg[2048], log[2100];
        ptx_module *pm = NULL;
        CUresult r = ptx_join_finish(&state->join, &state->image, &state->imagelen, msg, sizeof msg,
                                     state->o.verbose ? &pm : NULL);
        if (r != CUDA_SUCCESS) {
            snprintf(log, sizeof log, "cuLinkComplete: %s", msg);
            return link_fail(state, r, log);
        }
        if (pm) module_describe(pm, msg, sizeof msg);
        ptx_free(pm);
        jit_opts_finish(&state->o, NULL, msg);
    }
    *cubinOut = state->image;
    *sizeOut = state->imagelen;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuLinkDestroy(CUlinkState state) {
    emu_lock();
    if (!handle_live(H_LINK, state)) {
        emu_unlock();
        return EMU_REFUSE(CUDA_ERROR_INVALID_HANDLE, "%p is not a live link state", (void *)state);
    }
    handle_del(H_LINK, state);
    emu_unlock();
    ptx_join_release(&state->join);
    free(state->image);
    free(state);
    return CUDA_SUCCESS;
}

/* The CUDA 5.5 names: the same ABI. */
EMU_API CUresult cuLinkCreate(unsigned int numOptions, CUjit_option *options, void **optionValues,
                              CUlinkState *stateOut) {
    return cuLinkCreate_v2(numOptions, options, optionValues, stateOut);
}

EMU_API CUresult cuLinkAddData(CUlinkState state, CUjitInputType type, void *data, size_t size,
                               const char *name, unsigned int numOptions, CUjit_option *options,
                               void **optionValues) {
    return cuLinkAddData_v2(state, type, data, size, name, numOptions, options, optionValues);
}

EMU_API CUresult cuLinkAddFile(CUlinkState state, CUjitInputType type, const char *path,
                               unsigned int numOptions, CUjit_option *options, void **optionValues) {
    return cuLinkAddFile_v2(state, type, path, numOptions, options, optionValues);
}
