/* link.c — the JIT linker (cuLinkCreate / AddData / AddFile / Complete / Destroy): PTX inputs,
 * and the PTX of fatbin inputs, are joined into one PTX module (one .version/.target header, each
 * input's body after it), so `.extern .func` declarations of -rdc=true code resolve against the
 * definitions of the other inputs. The image cuLinkComplete returns is that PTX text. */
#include "emu.h"
#include "fatbin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#undef cuLinkCreate
#undef cuLinkAddData
#undef cuLinkAddFile
CUresult cuLinkCreate(unsigned int numOptions, CUjit_option *options, void **optionValues, CUlinkState *stateOut);
CUresult cuLinkAddData(CUlinkState state, CUjitInputType type, void *data, size_t size, const char *name,
                       unsigned int numOptions, CUjit_option *options, void **optionValues);
CUresult cuLinkAddFile(CUlinkState state, CUjitInputType type, const char *path, unsigned int numOptions,
                       CUjit_option *options, void **optionValues);

struct CUlinkState_st {
    jit_opts o;
    char *body; /* the inputs, their header directives commented out */
    size_t len, cap;
    int ninputs;
    int vmaj, vmin, sm;
    char target[128];
    char *image;
    size_t imagelen;
};

static int append(CUlinkState s, const char *p, size_t n)
{
    if (s->len + n + 1 > s->cap) {
        size_t nc = s->cap ? s->cap : 4096;
        while (nc < s->len + n + 1) nc *= 2;
        char *nb = realloc(s->body, nc);
        if (!nb) return -1;
        s->body = nb;
        s->cap = nc;
    }
    memcpy(s->body + s->len, p, n);
    s->len += n;
    s->body[s->len] = 0;
    return 0;
}

static int starts(const char *p, const char *end, const char *word)
{
    size_t n = strlen(word);
    return (size_t)(end - p) > n && memcmp(p, word, n) == 0 && (p[n] == ' ' || p[n] == '\t');
}

/* Appends one PTX input: its .version/.target/.address_size lines become comments, the highest
 * version and architecture go to the joint header. */
static CUresult add_ptx(CUlinkState s, const char *text, size_t len, const char *name)
{
    char note[300];
    snprintf(note, sizeof note - 1, "\n// ---- cudaemu link input %d: %s", s->ninputs + 1, name ? name : "(unnamed)");
    for (char *c = note + 1; *c; c++)
        if ((unsigned char)*c < 0x20) *c = '?'; /* the name stays inside its comment line */
    strcat(note, "\n");
    if (append(s, note, strlen(note)) != 0) return CUDA_ERROR_OUT_OF_MEMORY;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl + 1 : end, *q = p;
        while (q < le && (*q == ' ' || *q == '\t')) q++;
        int header = 0;
        if (starts(q, le, ".version")) {
            int maj = 0, mn = 0;
            if (sscanf(q + 8, "%d.%d", &maj, &mn) >= 1 && (maj > s->vmaj || (maj == s->vmaj && mn > s->vmin))) {
                s->vmaj = maj;
                s->vmin = mn;
            }
            header = 1;
        } else if (starts(q, le, ".target")) {
            const char *sm = q + 7;
            while (sm < le && (*sm == ' ' || *sm == '\t')) sm++;
            int n = 0;
            if (le - sm > 3 && memcmp(sm, "sm_", 3) == 0) n = atoi(sm + 3);
            if (n > s->sm || !s->target[0]) {
                if (n > s->sm) s->sm = n;
                size_t tl = (size_t)(le - q);
                if (tl >= sizeof s->target) tl = sizeof s->target - 1;
                memcpy(s->target, q, tl);
                s->target[tl] = 0;
                char *cr = strpbrk(s->target, "\r\n");
                if (cr) *cr = 0;
            }
            header = 1;
        } else if (starts(q, le, ".address_size")) {
            header = 1;
        }
        if ((header && append(s, "// ", 3) != 0) || append(s, p, (size_t)(le - p)) != 0) return CUDA_ERROR_OUT_OF_MEMORY;
        p = le;
    }
    if (append(s, "\n", 1) != 0) return CUDA_ERROR_OUT_OF_MEMORY;
    s->ninputs++;
    return CUDA_SUCCESS;
}

static CUresult link_fail(CUlinkState s, CUresult r, const char *msg)
{
    emu_set_detail("%s", msg);
    jit_opts_finish(&s->o, msg, NULL);
    return r;
}

EMU_API CUresult cuLinkCreate_v2(unsigned int numOptions, CUjit_option *options, void **optionValues, CUlinkState *stateOut)
{
    if (!stateOut) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "stateOut is NULL");
    if (numOptions && (!options || !optionValues))
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "numOptions is %u but options or optionValues is NULL", numOptions);
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

static int link_live_at(const char *entry, CUlinkState s)
{
    emu_lock();
    int ok = handle_live(H_LINK, s);
    emu_unlock();
    if (!ok) emu_refuse_at(entry, CUDA_ERROR_INVALID_HANDLE, "%p is not a live link state (cuLinkCreate)", (void *)s);
    return ok;
}
#define link_live(s) link_live_at(__func__, (s))

static const char *input_type_name(CUjitInputType t)
{
    switch (t) {
    case CU_JIT_INPUT_CUBIN: return "CU_JIT_INPUT_CUBIN (machine code)";
    case CU_JIT_INPUT_PTX: return "CU_JIT_INPUT_PTX";
    case CU_JIT_INPUT_FATBINARY: return "CU_JIT_INPUT_FATBINARY";
    case CU_JIT_INPUT_OBJECT: return "CU_JIT_INPUT_OBJECT (host object)";
    case CU_JIT_INPUT_LIBRARY: return "CU_JIT_INPUT_LIBRARY (archive)";
    default: return "an unknown CUjitInputType";
    }
}

EMU_API CUresult cuLinkAddData_v2(CUlinkState state, CUjitInputType type, void *data, size_t size, const char *name,
                                  unsigned int numOptions, CUjit_option *options, void **optionValues)
{
    (void)options;
    (void)optionValues;
    if (!link_live(state)) return CUDA_ERROR_INVALID_HANDLE;
    if (!data) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "data is NULL");
    if (numOptions && (!options || !optionValues))
        return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "numOptions is %u but options or optionValues is NULL", numOptions);
    if (state->image) return link_fail(state, CUDA_ERROR_INVALID_VALUE, "cuLinkAddData: the link was already completed");
    char log[1100];
    if (type != CU_JIT_INPUT_PTX && type != CU_JIT_INPUT_FATBINARY) {
        snprintf(log, sizeof log,
                 "cuLinkAddData: input '%s' is %s; the CPU driver links PTX and fatbins holding PTX only "
                 "(CU_JIT_INPUT_PTX, CU_JIT_INPUT_FATBINARY)",
                 name ? name : "(unnamed)", input_type_name(type));
        return link_fail(state, CUDA_ERROR_NOT_SUPPORTED, log);
    }
    CUresult r;
    if (type == CU_JIT_INPUT_PTX) {
        r = add_ptx(state, data, size ? strnlen(data, size) : strlen(data), name);
    } else {
        image_ptx ip;
        char why[1024];
        r = image_ptx_get(data, size, &ip, why, sizeof why);
        if (r != CUDA_SUCCESS) {
            snprintf(log, sizeof log, "cuLinkAddData('%s'): %s", name ? name : "(unnamed)", why);
            return link_fail(state, r, log);
        }
        r = add_ptx(state, ip.text, ip.len, name);
        image_ptx_release(&ip);
    }
    if (r != CUDA_SUCCESS) return link_fail(state, r, "cuLinkAddData: out of host memory");
    return CUDA_SUCCESS;
}

EMU_API CUresult cuLinkAddFile_v2(CUlinkState state, CUjitInputType type, const char *path, unsigned int numOptions,
                                  CUjit_option *options, void **optionValues)
{
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

static int placeholder_var(void *ud, ptx_var *v)
{
    (void)ud;
    v->addr = 0;
    return 0;
}

EMU_API CUresult cuLinkComplete(CUlinkState state, void **cubinOut, size_t *sizeOut)
{
    if (!link_live(state)) return CUDA_ERROR_INVALID_HANDLE;
    if (!cubinOut || !sizeOut) return EMU_REFUSE(CUDA_ERROR_INVALID_VALUE, "%s is NULL", !cubinOut ? "cubinOut" : "sizeOut");
    if (state->ninputs == 0) return link_fail(state, CUDA_ERROR_INVALID_VALUE, "cuLinkComplete: nothing was added to link");
    if (!state->image) {
        char head[400];
        int hl = snprintf(head, sizeof head, "// cudaemu JIT link of %d input(s)\n.version %d.%d\n%s\n.address_size 64\n",
                          state->ninputs, state->vmaj, state->vmin, state->target[0] ? state->target : ".target sm_90");
        size_t n = (size_t)hl + state->len;
        char *img = malloc(n + 1);
        if (!img) return link_fail(state, CUDA_ERROR_OUT_OF_MEMORY, "cuLinkComplete: out of host memory");
        memcpy(img, head, (size_t)hl);
        memcpy(img + hl, state->body, state->len);
        img[n] = 0;
        /* the checks a linker makes: every declared function defined once, the whole parses */
        char log[1024], msg[2048];
        ptx_module *pm = NULL;
        if (ptx_load(img, n, placeholder_var, NULL, log, sizeof log, &pm) != 0) {
            ptx_free(pm);
            free(img);
            snprintf(msg, sizeof msg, "cuLinkComplete: %s", log);
            return link_fail(state, CUDA_ERROR_INVALID_PTX, msg);
        }
        int nent = 0;
        for (int i = 0; i < pm->nfuncs; i++) nent += pm->funcs[i].is_entry != 0;
        snprintf(msg, sizeof msg, "cudaemu: linked %d input(s) into one PTX %d.%d module: %d kernel(s), %d function(s)",
                 state->ninputs, state->vmaj, state->vmin, nent, pm->nfuncs);
        if (state->o.verbose) module_describe(pm, msg, sizeof msg);
        ptx_free(pm);
        state->image = img;
        state->imagelen = n + 1;
        jit_opts_finish(&state->o, NULL, msg);
    }
    *cubinOut = state->image;
    *sizeOut = state->imagelen;
    return CUDA_SUCCESS;
}

EMU_API CUresult cuLinkDestroy(CUlinkState state)
{
    emu_lock();
    if (!handle_live(H_LINK, state)) {
        emu_unlock();
        return EMU_REFUSE(CUDA_ERROR_INVALID_HANDLE, "%p is not a live link state", (void *)state);
    }
    handle_del(H_LINK, state);
    emu_unlock();
    free(state->body);
    free(state->image);
    free(state);
    return CUDA_SUCCESS;
}

/* The CUDA 5.5 names: the same ABI. */
EMU_API CUresult cuLinkCreate(unsigned int numOptions, CUjit_option *options, void **optionValues, CUlinkState *stateOut)
{
    return cuLinkCreate_v2(numOptions, options, optionValues, stateOut);
}

EMU_API CUresult cuLinkAddData(CUlinkState state, CUjitInputType type, void *data, size_t size, const char *name,
                               unsigned int numOptions, CUjit_option *options, void **optionValues)
{
    return cuLinkAddData_v2(state, type, data, size, name, numOptions, options, optionValues);
}

EMU_API CUresult cuLinkAddFile(CUlinkState state, CUjitInputType type, const char *path, unsigned int numOptions,
                               CUjit_option *options, void **optionValues)
{
    return cuLinkAddFile_v2(state, type, path, numOptions, options, optionValues);
}
