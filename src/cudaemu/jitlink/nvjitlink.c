/* nvjitlink.c — Lepton's libnvJitLink.so.13 for cudaemu: the nvJitLink API (nvJitLink.h, CUDA 13)
 * linking PTX, and fatbins holding PTX, into one PTX module (ptx_join.c, the code behind cuLink*).
 * The "linked cubin" is that PTX text, which cudaemu (and a real driver) loads with cuModuleLoadData.
 * LTO-IR (and fatbins holding only LTO-IR), under -lto, is lowered to PTX at nvJitLinkComplete by
 * the CUDA toolkit's own nvJitLink (lto.c) and joined with the PTX inputs. Cubins and host objects
 * are refused (the CPU driver runs PTX only). Needs no CUDA context. */
#define NVJITLINK_NO_INLINE
#include <nvJitLink.h>

#include "fatbin.h"
#include "lto.h"
#include "ptx_join.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define API __attribute__((visibility("default")))

/* The plain names the header defines as inline wrappers; the real library exports them too. */
API nvJitLinkResult nvJitLinkCreate(nvJitLinkHandle *handle, uint32_t numOptions, const char **options);
API nvJitLinkResult nvJitLinkDestroy(nvJitLinkHandle *handle);
API nvJitLinkResult nvJitLinkAddData(nvJitLinkHandle handle, nvJitLinkInputType inputType, const void *data,
                                     size_t size, const char *name);
API nvJitLinkResult nvJitLinkAddFile(nvJitLinkHandle handle, nvJitLinkInputType inputType,
                                     const char *fileName);
API nvJitLinkResult nvJitLinkComplete(nvJitLinkHandle handle);
API nvJitLinkResult nvJitLinkGetLinkedCubinSize(nvJitLinkHandle handle, size_t *size);
API nvJitLinkResult nvJitLinkGetLinkedCubin(nvJitLinkHandle handle, void *cubin);
API nvJitLinkResult nvJitLinkGetLinkedPtxSize(nvJitLinkHandle handle, size_t *size);
API nvJitLinkResult nvJitLinkGetLinkedPtx(nvJitLinkHandle handle, char *ptx);
API nvJitLinkResult nvJitLinkGetErrorLogSize(nvJitLinkHandle handle, size_t *size);
API nvJitLinkResult nvJitLinkGetErrorLog(nvJitLinkHandle handle, char *log);
API nvJitLinkResult nvJitLinkGetInfoLogSize(nvJitLinkHandle handle, size_t *size);
API nvJitLinkResult nvJitLinkGetInfoLog(nvJitLinkHandle handle, char *log);

typedef struct text_log {
    char *buf;
    size_t len, cap;
} text_log;

struct nvJitLink {
    ptx_join join;
    char *image; /* the joined PTX once nvJitLinkComplete succeeded */
    size_t imagelen;
    int arch;                      /* -arch=sm_NN / compute_NN */
    int verbose, timing, lto, ptx; /* -verbose, -time, -lto, -ptx given */
    text_log err, info;
    /* LTO-IR inputs, lowered to PTX by the toolkit's nvJitLink at nvJitLinkComplete, under the
     * options given here that shape the code it makes (-arch, -O, -ftz, ...) plus -lto -ptx */
    lto_input *ltoin;
    int nlto, caplto;
    int lto_lowered; /* the PTX of LTO-IR inputs is in join */
    char **lto_opts; /* owned copies */
    uint32_t nlto_opts;
};

/* ---- live handles: a handle never created (or destroyed) is answered, not dereferenced ---- */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct nvJitLink **g_live;
static size_t g_nlive, g_caplive;

static int live_add(struct nvJitLink *h) {
    pthread_mutex_lock(&g_lock);
    int ok = 1;
    if (g_nlive == g_caplive) {
        size_t nc = g_caplive ? g_caplive * 2 : 16;
        struct nvJitLink **n = realloc(g_live, nc * sizeof *n);
        if (n) {
            g_live = n;
            g_caplive = nc;
        } else {
            ok = 0;
        }
    }
    if (ok) g_live[g_nlive++] = h;
    pthread_mutex_unlock(&g_lock);
    return ok;
}

/* Returns whether h is live; with remove, also forgets it. */
static int live_check(const struct nvJitLink *h, int remove) {
    pthread_mutex_lock(&g_lock);
    int found = 0;
    for (size_t i = 0; i < g_nlive; i++) {
        if (g_live[i] != h) continue;
        found = 1;
        if (remove) g_live[i] = g_live[--g_nlive];
        break;
    }
    pthread_mutex_unlock(&g_lock);
    return found;
}

/* ---- logs ---- */
static void log_append(text_log *l, const char *line) {
    size_t ln = strlen(line);
    if (l->len + ln + 2 > l->cap) {
        size_t nc = l->cap ? l->cap : 256;
        while (nc < l->len + ln + 2)
            nc *= 2;
        char *nb = realloc(l->buf, nc);
        if (!nb) return; /* the log is best effort; the call's status still says what happened */
        l->buf = nb;
        l->cap = nc;
    }
    memcpy(l->buf + l->len, line, ln);
    l->len += ln;
    l->buf[l->len++] = '\n';
    l->buf[l->len] = 0;
}

static void info(struct nvJitLink *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void info(struct nvJitLink *h, const char *fmt, ...) {
    char line[1400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    log_append(&h->info, line);
}

/* Records a refusal in the handle's error log (one line, as the real library does) and, with
 * CUDAEMU_LOG set, prints it as "cudaemu: <entry point>: <why>". Returns r. */
static nvJitLinkResult fail(struct nvJitLink *h, nvJitLinkResult r, const char *entry, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static nvJitLinkResult fail(struct nvJitLink *h, nvJitLinkResult r, const char *entry, const char *fmt, ...) {
    char msg[1400], line[1450];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const char *env = getenv("CUDAEMU_LOG");
    if (env && *env && *env != '0') fprintf(stderr, "cudaemu: %s: %s\n", entry, msg);
    if (h) {
        snprintf(line, sizeof line, "ERROR: %s", msg);
        log_append(&h->err, line);
    }
    return r;
}

/* ---- options ---- */
static int opt_is(const char *o, const char *name, const char **value) {
    size_t n = strlen(name);
    if (strncmp(o, name, n) != 0) return 0;
    if (o[n] == 0) {
        *value = NULL;
        return 1;
    }
    if (o[n] == '=') {
        *value = o + n + 1;
        return 1;
    }
    return 0;
}

/* Parses "sm_NN[a|f]" / "compute_NN[a|f]"; returns NN (virtual: *virt = 1) or 0. */
static int parse_arch(const char *v, int *virt) {
    const char *p;
    if (strncmp(v, "sm_", 3) == 0) {
        p = v + 3;
        *virt = 0;
    } else if (strncmp(v, "compute_", 8) == 0) {
        p = v + 8;
        *virt = 1;
    } else {
        return 0;
    }
    char *end;
    long n = strtol(p, &end, 10);
    if (end == p || n < 10 || n > 999 || (*end && strcmp(end, "a") != 0 && strcmp(end, "f") != 0)) return 0;
    return (int)n;
}

/* Flags and valued options (the value is not interpreted here: they tune code generation). Those
 * marked 1 shape the PTX the toolkit's nvJitLink makes from LTO-IR and are handed on to it. */
static const struct {
    const char *name;
    int valued, to_lto;
} k_opts[] = {
    {"-lto", 0, 0},
    {"-g", 0, 1},
    {"-lineinfo", 0, 1},
    {"-optimize-unused-variables", 0, 1},
    {"-no-cache", 0, 0},
    {"-maxrregcount", 1, 0},
    {"-ftz", 1, 1},
    {"-prec-div", 1, 1},
    {"-prec-sqrt", 1, 1},
    {"-fma", 1, 1},
    {"-kernels-used", 1, 1},
    {"-variables-used", 1, 1},
    {"-Xptxas", 1, 0},
    {"-Xnvvm", 1, 1},
    {"-split-compile", 1, 0},
    {"-split-compile-extended", 1, 0},
    {"-jump-table-density", 1, 1},
};

/* Keeps a copy of option o for the LTO-IR link. 0, or -1 when out of memory. */
static int lto_opt_add(struct nvJitLink *h, const char *o) {
    char **n = realloc(h->lto_opts, (h->nlto_opts + 1) * sizeof *n);
    if (!n) return -1;
    h->lto_opts = n;
    if (!(n[h->nlto_opts] = strdup(o))) return -1;
    h->nlto_opts++;
    return 0;
}

static nvJitLinkResult parse_options(struct nvJitLink *h, uint32_t n, const char *const *opts) {
    int have_arch = 0, virt = 0, ptx = 0;
    /* the LTO-IR link: -lto -ptx first, then -arch and the code-shaping options in the caller's order */
    if (lto_opt_add(h, "-lto") != 0 || lto_opt_add(h, "-ptx") != 0)
        return fail(h, NVJITLINK_ERROR_INTERNAL, "nvJitLinkCreate", "out of host memory");
    for (uint32_t i = 0; i < n; i++) {
        const char *o = opts[i], *v = NULL;
        if (!o) return fail(h, NVJITLINK_ERROR_NULL_INPUT, "nvJitLinkCreate", "option %u is NULL", i);
        int known = 0;
        if (opt_is(o, "-arch", &v)) {
            if (!v || !(h->arch = parse_arch(v, &virt)))
                return fail(h, NVJITLINK_ERROR_UNRECOGNIZED_OPTION, "nvJitLinkCreate",
                            "missing option value (%s): give -arch=sm_NN (cudaemu's device is sm_%d)", o,
                            FATBIN_DEVICE_SM);
            have_arch = 1;
            if (lto_opt_add(h, o) != 0)
                return fail(h, NVJITLINK_ERROR_INTERNAL, "nvJitLinkCreate", "out of host memory");
            continue;
        }
        if (o[0] == '-' && o[1] == 'O' && o[2] && !o[3]) {
            if (o[2] != '0' && o[2] != '3')
                return fail(h, NVJITLINK_ERROR_UNRECOGNIZED_OPTION, "nvJitLinkCreate",
                            "unsupported value of -O: %s. Only 0 and 3 are supported.", o + 2);
            if (lto_opt_add(h, o) != 0)
                return fail(h, NVJITLINK_ERROR_INTERNAL, "nvJitLinkCreate", "out of host memory");
            continue;
        }
        if (opt_is(o, "-time", &v)) {
            h->timing = 1;
            continue;
        }
        if (opt_is(o, "-verbose", &v)) {
            h->verbose = 1;
            continue;
        }
        if (opt_is(o, "-ptx", &v)) {
            ptx = h->ptx = 1;
            continue;
        }
        size_t k = 0;
        for (; !known && k < sizeof k_opts / sizeof *k_opts; k++)
            known = opt_is(o, k_opts[k].name, &v) && (k_opts[k].valued ? v != NULL : v == NULL);
        if (!known)
            return fail(h, NVJITLINK_ERROR_UNRECOGNIZED_OPTION, "nvJitLinkCreate", "unrecognized option: %s",
                        o);
        if (strcmp(o, "-lto") == 0) h->lto = 1;
        if (k_opts[k - 1].to_lto && lto_opt_add(h, o) != 0)
            return fail(h, NVJITLINK_ERROR_INTERNAL, "nvJitLinkCreate", "out of host memory");
    }
    if (!have_arch)
        return fail(h, NVJITLINK_ERROR_MISSING_ARCH, "nvJitLinkCreate",
                    "option -arch=sm_NN is required (cudaemu's device is sm_%d)", FATBIN_DEVICE_SM);
    if (virt && !ptx)
        return fail(h, NVJITLINK_ERROR_INCOMPATIBLE_OPTIONS, "nvJitLinkCreate", "virtual arch requires -ptx");
    return NVJITLINK_SUCCESS;
}

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void lto_inputs_free(struct nvJitLink *h) {
    for (int i = 0; i < h->nlto; i++) {
        free(h->ltoin[i].data);
        free(h->ltoin[i].name);
    }
    free(h->ltoin);
    h->ltoin = NULL;
    h->nlto = h->caplto = 0;
}

/* ---- the API ---- */
API nvJitLinkResult __nvJitLinkCreate_13_0(nvJitLinkHandle *handle, uint32_t numOptions,
                                           const char *const *options) {
    if (!handle || !options)
        return fail(NULL, NVJITLINK_ERROR_NULL_INPUT, "nvJitLinkCreate", "NULL argument");
    struct nvJitLink *h = calloc(1, sizeof *h);
    if (!h || !live_add(h)) {
        free(h);
        return fail(NULL, NVJITLINK_ERROR_INTERNAL, "nvJitLinkCreate", "out of host memory");
    }
    /* Like the real library, a handle is returned even when an option is refused, so that the
     * error log can be read; the caller destroys it. */
    *handle = h;
    return parse_options(h, numOptions, options);
}

API nvJitLinkResult __nvJitLinkDestroy_13_0(nvJitLinkHandle *handle) {
    if (!handle || !*handle) return NVJITLINK_ERROR_NULL_INPUT;
    struct nvJitLink *h = *handle;
    if (!live_check(h, 1))
        return fail(NULL, NVJITLINK_ERROR_INVALID_INPUT, "nvJitLinkDestroy", "not a live nvJitLink handle");
    ptx_join_release(&h->join);
    lto_inputs_free(h);
    for (uint32_t i = 0; i < h->nlto_opts; i++)
        free(h->lto_opts[i]);
    free(h->lto_opts);
    free(h->image);
    free(h->err.buf);
    free(h->info.buf);
    free(h);
    *handle = NULL;
    return NVJITLINK_SUCCESS;
}

#define CHECK_HANDLE(h, entry)                                                                               \
    do {                                                                                                     \
        if (!(h)) return NVJITLINK_ERROR_NULL_INPUT;                                                         \
        if (!live_check((h), 0))                                                                             \
            return fail(NULL, NVJITLINK_ERROR_INVALID_INPUT, entry, "not a live nvJitLink handle");          \
    } while (0)

static const char *type_name(nvJitLinkInputType t) {
    switch (t) {
    case NVJITLINK_INPUT_CUBIN:
        return "NVJITLINK_INPUT_CUBIN";
    case NVJITLINK_INPUT_PTX:
        return "NVJITLINK_INPUT_PTX";
    case NVJITLINK_INPUT_LTOIR:
        return "NVJITLINK_INPUT_LTOIR";
    case NVJITLINK_INPUT_FATBIN:
        return "NVJITLINK_INPUT_FATBIN";
    case NVJITLINK_INPUT_OBJECT:
        return "NVJITLINK_INPUT_OBJECT";
    case NVJITLINK_INPUT_LIBRARY:
        return "NVJITLINK_INPUT_LIBRARY";
    case NVJITLINK_INPUT_INDEX:
        return "NVJITLINK_INPUT_INDEX";
    default:
        return "NVJITLINK_INPUT_NONE";
    }
}

static uint32_t rd32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* What the bytes are, from their magic numbers; NVJITLINK_INPUT_NONE when nothing matches. */
static nvJitLinkInputType detect(const void *data, size_t size) {
    const unsigned char *p = data;
    if (size >= 4 && rd32(p) == 0x7F4E43EDu) return NVJITLINK_INPUT_LTOIR; /* NVVM LTO-IR */
    if (size >= 4 && (rd32(p) == 0xDEC04342u || rd32(p) == 0x0B17C0DEu))
        return NVJITLINK_INPUT_LTOIR; /* LLVM bitcode */
    if (size >= 4 && (rd32(p) == FATBIN_MAGIC || rd32(p) == FATBIN_WRAPPER_MAGIC))
        return NVJITLINK_INPUT_FATBIN;
    if (size >= 20 && memcmp(p, "\177ELF", 4) == 0)
        return (p[18] | p[19] << 8) == 190 ? NVJITLINK_INPUT_CUBIN : NVJITLINK_INPUT_OBJECT; /* EM_CUDA */
    if (size >= 8 && memcmp(p, "!<arch>\n", 8) == 0) return NVJITLINK_INPUT_LIBRARY;
    /* PTX: text whose directives include .version */
    size_t n = size < 65536 ? size : 65536, i = 0;
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
        i++;
    if (i < n && (p[i] == '/' || p[i] == '.')) {
        size_t tl = strnlen((const char *)p, n);
        for (size_t k = 0; k + 8 <= tl; k++)
            if (memcmp(p + k, ".version", 8) == 0) return NVJITLINK_INPUT_PTX;
    }
    return NVJITLINK_INPUT_NONE;
}

static const char k_ptx_only[] =
    "cudaemu's nvJitLink (Lepton) links PTX and LTO-IR only, because the CPU driver runs PTX: "
    "compile device code to PTX (nvcc -ptx -rdc=true, NVRTC, numba-cuda: @cuda.jit), to LTO-IR (nvcc -dlto, "
    "NVRTC -dlto) or to a fatbin holding PTX (nvcc -fatbin -gencode arch=compute_NN,code=compute_NN)";

/* Keeps a copy of an LTO-IR input (type LTOIR, or a fatbin holding LTO-IR) for nvJitLinkComplete,
 * once it is sure that the toolkit's nvJitLink is there to lower it. */
static nvJitLinkResult lto_keep(struct nvJitLink *h, nvJitLinkInputType type, const void *data, size_t size,
                                const char *nm) {
    if (!h->lto)
        return fail(h, NVJITLINK_ERROR_LTO_NOT_ENABLED, "nvJitLinkAddData",
                    "input '%s': LTO-IR input cannot be used without LTO enabled (-lto)", nm);
    char why[1000];
    if (lto_load(why, sizeof why) != 0)
        return fail(h, NVJITLINK_ERROR_UNRECOGNIZED_INPUT, "nvJitLinkAddData", "input '%s' is LTO-IR: %s", nm,
                    why);
    if (h->nlto == h->caplto) {
        int nc = h->caplto ? h->caplto * 2 : 4;
        lto_input *n = realloc(h->ltoin, (size_t)nc * sizeof *n);
        if (!n) return fail(h, NVJITLINK_ERROR_INTERNAL, "nvJitLinkAddData", "out of host memory");
        h->ltoin = n;
        h->caplto = nc;
    }
    lto_input in = {type, malloc(size ? size : 1), size, strdup(nm)};
    if (!in.data || !in.name) {
        free(in.data);
        free(in.name);
        return fail(h, NVJITLINK_ERROR_INTERNAL, "nvJitLinkAddData", "out of host memory");
    }
    memcpy(in.data, data, size);
    h->ltoin[h->nlto++] = in;
    return NVJITLINK_SUCCESS;
}

API nvJitLinkResult __nvJitLinkAddData_13_0(nvJitLinkHandle handle, nvJitLinkInputType inputType,
                                            const void *data, size_t size, const char *name) {
    CHECK_HANDLE(handle, "nvJitLinkAddData");
    struct nvJitLink *h = handle;
    const char *nm = name ? name : "(unnamed)";
    if (!data) return fail(h, NVJITLINK_ERROR_NULL_INPUT, "nvJitLinkAddData", "input '%s': data is NULL", nm);
    if (h->image)
        return fail(h, NVJITLINK_ERROR_INTERNAL, "nvJitLinkAddData",
                    "input '%s' added after nvJitLinkComplete", nm);
    nvJitLinkInputType kind = detect(data, size);
    if (inputType == NVJITLINK_INPUT_ANY) {
        if (kind == NVJITLINK_INPUT_NONE)
            return fail(h, NVJITLINK_ERROR_UNRECOGNIZED_INPUT, "nvJitLinkAddData",
                        "unrecognized input type: %s", nm);
    } else if (inputType < NVJITLINK_INPUT_CUBIN || inputType > NVJITLINK_INPUT_INDEX) {
        return fail(h, NVJITLINK_ERROR_INCORRECT_INPUT_TYPE, "nvJitLinkAddData",
                    "unsupported input type %d: %s", (int)inputType, nm);
    } else if (inputType != NVJITLINK_INPUT_INDEX && kind != inputType) {
        return fail(h, NVJITLINK_ERROR_INCORRECT_INPUT_TYPE, "nvJitLinkAddData",
                    "bad input: '%s' does not match type %s", nm, type_name(inputType));
    } else {
        kind = inputType;
    }
    if (kind == NVJITLINK_INPUT_PTX) {
        if (ptx_join_add(&h->join, data, strnlen(data, size), name) != 0)
            return fail(h, NVJITLINK_ERROR_INTERNAL, "nvJitLinkAddData", "out of host memory");
    } else if (kind == NVJITLINK_INPUT_FATBIN) {
        char why[1024];
        CUresult r = ptx_join_add_image(&h->join, data, size, name, why, sizeof why);
        const void *fb;
        size_t fbsize;
        if (r == CUDA_ERROR_NO_BINARY_FOR_GPU && (fbsize = lto_fatbin_ltoir(data, size, &fb)) != 0) {
            nvJitLinkResult lr = lto_keep(h, NVJITLINK_INPUT_FATBIN, fb, fbsize, nm);
            if (lr != NVJITLINK_SUCCESS) return lr;
        } else if (r == CUDA_ERROR_NO_BINARY_FOR_GPU)
            return fail(h, NVJITLINK_ERROR_UNRECOGNIZED_INPUT, "nvJitLinkAddData", "fatbin '%s': %s; %s", nm,
                        why, k_ptx_only);
        else if (r != CUDA_SUCCESS)
            return fail(
                h, r == CUDA_ERROR_OUT_OF_MEMORY ? NVJITLINK_ERROR_INTERNAL : NVJITLINK_ERROR_INVALID_INPUT,
                "nvJitLinkAddData", "fatbin '%s': %s", nm, why);
    } else if (kind == NVJITLINK_INPUT_LTOIR) {
        nvJitLinkResult lr = lto_keep(h, NVJITLINK_INPUT_LTOIR, data, size, nm);
        if (lr != NVJITLINK_SUCCESS) return lr;
    } else {
        const char *what = kind == NVJITLINK_INPUT_CUBIN     ? "a cubin (SASS machine code)"
                           : kind == NVJITLINK_INPUT_OBJECT  ? "a host object"
                           : kind == NVJITLINK_INPUT_LIBRARY ? "a host library"
                                                             : "an index file";
        return fail(h, NVJITLINK_ERROR_UNRECOGNIZED_INPUT, "nvJitLinkAddData", "input '%s' is %s; %s", nm,
                    what, k_ptx_only);
    }
    if (h->verbose) info(h, "cudaemu: added %s '%s'", type_name(kind), nm);
    return NVJITLINK_SUCCESS;
}

API nvJitLinkResult __nvJitLinkAddFile_13_0(nvJitLinkHandle handle, nvJitLinkInputType inputType,
                                            const char *fileName) {
    CHECK_HANDLE(handle, "nvJitLinkAddFile");
    struct nvJitLink *h = handle;
    if (!fileName) return fail(h, NVJITLINK_ERROR_NULL_INPUT, "nvJitLinkAddFile", "file name is NULL");
    FILE *f = fopen(fileName, "rb");
    if (!f) return fail(h, NVJITLINK_ERROR_INVALID_INPUT, "nvJitLinkAddFile", "no such file: %s", fileName);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 65536 + 1 > cap) {
            size_t nc = cap ? cap * 2 : 131072;
            char *nb = realloc(buf, nc);
            if (!nb) {
                free(buf);
                fclose(f);
                return fail(h, NVJITLINK_ERROR_INTERNAL, "nvJitLinkAddFile", "out of host memory reading %s",
                            fileName);
            }
            buf = nb;
            cap = nc;
        }
        size_t got = fread(buf + len, 1, 65536, f);
        len += got;
        if (got < 65536) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return fail(h, NVJITLINK_ERROR_INVALID_INPUT, "nvJitLinkAddFile", "cannot read %s", fileName);
    }
    buf[len] = 0;
    nvJitLinkResult r = __nvJitLinkAddData_13_0(h, inputType, buf, len, fileName);
    free(buf);
    return r;
}

/* Appends each line of a log of the toolkit's nvJitLink to ours. */
static void log_lines(text_log *l, const char *text) {
    char line[1400];
    for (const char *p = text; p && *p;) {
        size_t n = strcspn(p, "\n");
        if (n) {
            snprintf(line, sizeof line, "%.*s", (int)(n < sizeof line - 1 ? n : sizeof line - 1), p);
            log_append(l, line);
        }
        p += n + (p[n] != 0);
    }
}

/* Lowers the LTO-IR inputs to one PTX input of the join (the LTO-IR of all of them optimised
 * together, as the toolkit's nvJitLink makes it with -lto -ptx); they are then let go. */
static nvJitLinkResult lto_lower(struct nvJitLink *h) {
    char *ptx, *elog, *ilog;
    size_t len;
    double t0 = now_ms();
    nvJitLinkResult r = lto_to_ptx((const char *const *)h->lto_opts, h->nlto_opts, h->ltoin, h->nlto, &ptx,
                                   &len, &elog, &ilog);
    if (r != NVJITLINK_SUCCESS) {
        log_lines(&h->err, elog);
        log_lines(&h->info, ilog);
        free(elog);
        free(ilog);
        return fail(
            h, r, "nvJitLinkComplete",
            "the CUDA toolkit's nvJitLink could not lower the %d LTO-IR input(s) to PTX (nvJitLinkResult %d; "
            "its log is above)",
            h->nlto, (int)r);
    }
    if (h->verbose) log_lines(&h->info, ilog);
    free(elog);
    free(ilog);
    if (h->verbose)
        info(h, "cudaemu: lowered %d LTO-IR input(s) to %zu bytes of PTX with the CUDA toolkit's nvJitLink",
             h->nlto, len);
    if (h->ptx && h->join.ninputs == 0) {
        /* -ptx with LTO-IR inputs only: the toolkit's PTX as it made it (what its -ptx gives; calls
         * to functions defined elsewhere stay .extern, for a later link) */
        h->image = ptx;
        h->imagelen = len + 1;
    } else {
        char name[64];
        snprintf(name, sizeof name, "PTX of %d LTO-IR input(s)", h->nlto);
        int rc = ptx_join_add(&h->join, ptx, len, name);
        free(ptx);
        if (rc != 0) return fail(h, NVJITLINK_ERROR_INTERNAL, "nvJitLinkComplete", "out of host memory");
    }
    if (h->timing) info(h, "cudaemu: LTO-IR to PTX time %.3f ms", now_ms() - t0);
    lto_inputs_free(h);
    h->lto_lowered = 1;
    return NVJITLINK_SUCCESS;
}

API nvJitLinkResult __nvJitLinkComplete_13_0(nvJitLinkHandle handle) {
    CHECK_HANDLE(handle, "nvJitLinkComplete");
    struct nvJitLink *h = handle;
    if (h->image) return NVJITLINK_SUCCESS;
    double t0 = now_ms();
    if (h->nlto) {
        nvJitLinkResult lr = lto_lower(h);
        if (lr != NVJITLINK_SUCCESS || h->image) return lr;
    }
    if (h->join.ninputs == 0)
        return fail(h, NVJITLINK_ERROR_INVALID_INPUT, "nvJitLinkComplete", "nothing was added to link");
    if (h->join.sm > h->arch)
        return fail(h, NVJITLINK_ERROR_ARCH_MISMATCH, "nvJitLinkComplete",
                    "PTX input targets sm_%d, newer than -arch=sm_%d; link with -arch=sm_%d or higher",
                    h->join.sm, h->arch, h->join.sm);
    char msg[1100];
    CUresult r = ptx_join_finish(&h->join, &h->image, &h->imagelen, msg, sizeof msg, NULL);
    if (r != CUDA_SUCCESS)
        return fail(
            h, r == CUDA_ERROR_OUT_OF_MEMORY ? NVJITLINK_ERROR_INTERNAL : NVJITLINK_ERROR_PTX_COMPILE,
            "nvJitLinkComplete", "%s%s", msg,
            h->lto_lowered && r == CUDA_ERROR_INVALID_PTX
                ? " (if it is defined in an LTO-IR input: link-time optimisation keeps only what the LTO-IR "
                  "inputs' kernels use, so a function there that only PTX inputs call is removed; list it in "
                  "@llvm.used or compile that code to PTX as well)"
                : "");
    if (h->verbose) info(h, "%s", msg);
    if (h->timing) info(h, "cudaemu: link time %.3f ms", now_ms() - t0);
    return NVJITLINK_SUCCESS;
}

/* The cubin and the PTX are the same text: the joined PTX module. */
static nvJitLinkResult image_size(nvJitLinkHandle handle, size_t *size, const char *entry) {
    CHECK_HANDLE(handle, entry);
    if (!size) return NVJITLINK_ERROR_NULL_INPUT;
    if (!handle->image) return fail(handle, NVJITLINK_ERROR_INTERNAL, entry, "call nvJitLinkComplete first");
    *size = handle->imagelen;
    return NVJITLINK_SUCCESS;
}

static nvJitLinkResult image_copy(nvJitLinkHandle handle, void *out, const char *entry) {
    CHECK_HANDLE(handle, entry);
    if (!out) return NVJITLINK_ERROR_NULL_INPUT;
    if (!handle->image) return fail(handle, NVJITLINK_ERROR_INTERNAL, entry, "call nvJitLinkComplete first");
    memcpy(out, handle->image, handle->imagelen);
    return NVJITLINK_SUCCESS;
}

API nvJitLinkResult __nvJitLinkGetLinkedCubinSize_13_0(nvJitLinkHandle handle, size_t *size) {
    return image_size(handle, size, "nvJitLinkGetLinkedCubinSize");
}

API nvJitLinkResult __nvJitLinkGetLinkedCubin_13_0(nvJitLinkHandle handle, void *cubin) {
    return image_copy(handle, cubin, "nvJitLinkGetLinkedCubin");
}

API nvJitLinkResult __nvJitLinkGetLinkedPtxSize_13_0(nvJitLinkHandle handle, size_t *size) {
    return image_size(handle, size, "nvJitLinkGetLinkedPtxSize");
}

API nvJitLinkResult __nvJitLinkGetLinkedPtx_13_0(nvJitLinkHandle handle, char *ptx) {
    return image_copy(handle, ptx, "nvJitLinkGetLinkedPtx");
}

/* Sizes count the terminating NUL; an empty log has size 0, as in the real library. */
static nvJitLinkResult log_size(nvJitLinkHandle handle, size_t *size, int which, const char *entry) {
    CHECK_HANDLE(handle, entry);
    if (!size) return NVJITLINK_ERROR_NULL_INPUT;
    const text_log *l = which ? &handle->info : &handle->err;
    *size = l->len ? l->len + 1 : 0;
    return NVJITLINK_SUCCESS;
}

static nvJitLinkResult log_copy(nvJitLinkHandle handle, char *out, int which, const char *entry) {
    CHECK_HANDLE(handle, entry);
    if (!out) return NVJITLINK_ERROR_NULL_INPUT;
    const text_log *l = which ? &handle->info : &handle->err;
    if (l->len) memcpy(out, l->buf, l->len + 1);
    return NVJITLINK_SUCCESS;
}

API nvJitLinkResult __nvJitLinkGetErrorLogSize_13_0(nvJitLinkHandle handle, size_t *size) {
    return log_size(handle, size, 0, "nvJitLinkGetErrorLogSize");
}

API nvJitLinkResult __nvJitLinkGetErrorLog_13_0(nvJitLinkHandle handle, char *log) {
    return log_copy(handle, log, 0, "nvJitLinkGetErrorLog");
}

API nvJitLinkResult __nvJitLinkGetInfoLogSize_13_0(nvJitLinkHandle handle, size_t *size) {
    return log_size(handle, size, 1, "nvJitLinkGetInfoLogSize");
}

API nvJitLinkResult __nvJitLinkGetInfoLog_13_0(nvJitLinkHandle handle, char *log) {
    return log_copy(handle, log, 1, "nvJitLinkGetInfoLog");
}

API nvJitLinkResult nvJitLinkVersion(unsigned int *major, unsigned int *minor) {
    if (!major || !minor) return NVJITLINK_ERROR_NULL_INPUT;
    *major = 13;
    *minor = 0;
    return NVJITLINK_SUCCESS;
}

/* The toolkit's library exports one undocumented hook: given a key it hands out a private entry
 * point, NULL for keys it does not know. There is no private interface here: NULL for every key. */
API void *__nvJitLinkAPI(int key);
API void *__nvJitLinkAPI(int key) {
    (void)key;
    return NULL;
}

/* ---- the plain names ---- */
API nvJitLinkResult nvJitLinkCreate(nvJitLinkHandle *handle, uint32_t numOptions, const char **options) {
    return __nvJitLinkCreate_13_0(handle, numOptions, options);
}

API nvJitLinkResult nvJitLinkDestroy(nvJitLinkHandle *handle) { return __nvJitLinkDestroy_13_0(handle); }

API nvJitLinkResult nvJitLinkAddData(nvJitLinkHandle handle, nvJitLinkInputType inputType, const void *data,
                                     size_t size, const char *name) {
    return __nvJitLinkAddData_13_0(handle, inputType, data, size, name);
}

API nvJitLinkResult nvJitLinkAddFile(nvJitLinkHandle handle, nvJitLinkInputType inputType,
                                     const char *fileName) {
    return __nvJitLinkAddFile_13_0(handle, inputType, fileName);
}

API nvJitLinkResult nvJitLinkComplete(nvJitLinkHandle handle) { return __nvJitLinkComplete_13_0(handle); }

API nvJitLinkResult nvJitLinkGetLinkedCubinSize(nvJitLinkHandle handle, size_t *size) {
    return __nvJitLinkGetLinkedCubinSize_13_0(handle, size);
}

API nvJitLinkResult nvJitLinkGetLinkedCubin(nvJitLinkHandle handle, void *cubin) {
    return __nvJitLinkGetLinkedCubin_13_0(handle, cubin);
}

API nvJitLinkResult nvJitLinkGetLinkedPtxSize(nvJitLinkHandle handle, size_t *size) {
    return __nvJitLinkGetLinkedPtxSize_13_0(handle, size);
}

API nvJitLinkResult nvJitLinkGetLinkedPtx(nvJitLinkHandle handle, char *ptx) {
    return __nvJitLinkGetLinkedPtx_13_0(handle, ptx);
}

API nvJitLinkResult nvJitLinkGetErrorLogSize(nvJitLinkHandle handle, size_t *size) {
    return __nvJitLinkGetErrorLogSize_13_0(handle, size);
}

API nvJitLinkResult nvJitLinkGetErrorLog(nvJitLinkHandle handle, char *log) {
    return __nvJitLinkGetErrorLog_13_0(handle, log);
}

API nvJitLinkResult nvJitLinkGetInfoLogSize(nvJitLinkHandle handle, size_t *size) {
    return __nvJitLinkGetInfoLogSize_13_0(handle, size);
}

API nvJitLinkResult nvJitLinkGetInfoLog(nvJitLinkHandle handle, char *log) {
    return __nvJitLinkGetInfoLog_13_0(handle, log);
}
