/* lto.c — lowers LTO-IR to PTX for Lepton's nvJitLink look-alike with the CUDA toolkit's own
 * libnvJitLink.so.13 (`-lto -ptx -arch=sm_NN`), found by absolute path under $CUDA_HOME, $CUDA_PATH
 * or, when neither is set, /usr/local/cuda. Both libraries export the same versioned names, so the
 * toolkit's is opened RTLD_LOCAL | RTLD_DEEPBIND (its own calls stay inside it) and called only
 * through dlsym'd pointers.
 * It is loaded once per process and closed when this library is unloaded. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "lto.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef nvJitLinkResult (*create_fn)(nvJitLinkHandle *, uint32_t, const char *const *);
typedef nvJitLinkResult (*destroy_fn)(nvJitLinkHandle *);
typedef nvJitLinkResult (*add_fn)(nvJitLinkHandle, nvJitLinkInputType, const void *, size_t, const char *);
typedef nvJitLinkResult (*complete_fn)(nvJitLinkHandle);
typedef nvJitLinkResult (*size_fn)(nvJitLinkHandle, size_t *);
typedef nvJitLinkResult (*text_fn)(nvJitLinkHandle, char *);

static struct {
    void *lib;
    create_fn create;
    destroy_fn destroy;
    add_fn add;
    complete_fn complete;
    size_fn ptx_size, err_size, info_size;
    text_fn ptx, err, info;
    int tried;
    char why[900]; /* why loading failed, kept for every later caller */
} g_real;
static pthread_mutex_t g_real_lock = PTHREAD_MUTEX_INITIALIZER;

static const char k_soname[] = "libnvJitLink.so.13";

/* The sanitizers' runtimes refuse RTLD_DEEPBIND (they abort the process). Without it the toolkit's
 * library still binds its own names to itself, being linked -Bsymbolic (DT_SYMBOLIC, CUDA 13.0);
 * what DEEPBIND adds is its other references (libc) skipping this process's interposers. */
static int dlopen_flags(void) {
    static const char *const k_san[] = {"__asan_init", "__tsan_init", "__msan_init", "__hwasan_init"};
    for (size_t i = 0; i < sizeof k_san / sizeof *k_san; i++)
        if (dlsym(RTLD_DEFAULT, k_san[i])) return RTLD_NOW | RTLD_LOCAL;
    return RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND;
}

/* Opens path unless it is this library itself (the toolkit directory may be the one we were
 * installed into, or a link to us); fills the entry points. 0 on success. */
static int try_open(const char *path, const struct stat *self, char *why, size_t whysz) {
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    if (self && st.st_dev == self->st_dev && st.st_ino == self->st_ino) return -1;
    void *lib = dlopen(path, dlopen_flags());
    if (!lib) {
        const char *e = dlerror();
        snprintf(why, whysz, "%.300s: %.300s", path, e ? e : "dlopen failed");
        return -1;
    }
#define SYM(field, type, name)                                                                               \
    do {                                                                                                     \
        g_real.field = (type)dlsym(lib, name);                                                               \
        if (!g_real.field) {                                                                                 \
            snprintf(why, whysz, "%.300s lacks %s (not a CUDA 13 nvJitLink)", path, name);                   \
            dlclose(lib);                                                                                    \
            return -1;                                                                                       \
        }                                                                                                    \
    } while (0)
    SYM(create, create_fn, "__nvJitLinkCreate_13_0");
    SYM(destroy, destroy_fn, "__nvJitLinkDestroy_13_0");
    SYM(add, add_fn, "__nvJitLinkAddData_13_0");
    SYM(complete, complete_fn, "__nvJitLinkComplete_13_0");
    SYM(ptx_size, size_fn, "__nvJitLinkGetLinkedPtxSize_13_0");
    SYM(ptx, text_fn, "__nvJitLinkGetLinkedPtx_13_0");
    SYM(err_size, size_fn, "__nvJitLinkGetErrorLogSize_13_0");
    SYM(err, text_fn, "__nvJitLinkGetErrorLog_13_0");
    SYM(info_size, size_fn, "__nvJitLinkGetInfoLogSize_13_0");
    SYM(info, text_fn, "__nvJitLinkGetInfoLog_13_0");
#undef SYM
    g_real.lib = lib;
    return 0;
}

static void load_locked(void) {
    Dl_info self_info;
    struct stat self_st, *self = NULL;
    if (dladdr((void *)&lto_load, &self_info) && self_info.dli_fname &&
        stat(self_info.dli_fname, &self_st) == 0)
        self = &self_st;
    const char *home = getenv("CUDA_HOME"), *cpath = getenv("CUDA_PATH");
    int given = (home && *home) || (cpath && *cpath);
    /* a toolkit the user named is the one used: /usr/local/cuda only stands in for none */
    const char *roots[3] = {home, cpath, given ? NULL : "/usr/local/cuda"};
    const char *subdirs[2] = {"lib64", "targets/x86_64-linux/lib"};
    char looked[600] = "", err[700] = "";
    size_t ll = 0;
    for (int r = 0; r < 3; r++) {
        if (!roots[r] || !*roots[r]) continue;
        for (int s = 0; s < 2; s++) {
            char path[4096];
            int n = snprintf(path, sizeof path, "%s/%s/%s", roots[r], subdirs[s], k_soname);
            if (n <= 0 || (size_t)n >= sizeof path) continue;
            if (try_open(path, self, err, sizeof err) == 0) return;
            if (ll < sizeof looked)
                ll += (size_t)snprintf(looked + ll, sizeof looked - ll, "%s%s", ll ? ", " : "", path);
        }
    }
    snprintf(g_real.why, sizeof g_real.why,
             "LTO-IR needs the CUDA toolkit's nvJitLink to lower it to PTX; none found under CUDA_HOME=%s, "
             "CUDA_PATH=%s%s (looked for %s)%s%s; install the toolkit's nvJitLink and set CUDA_HOME, "
             "or compile device code to PTX",
             home ? home : "(unset)", cpath ? cpath : "(unset)", given ? "" : " or /usr/local/cuda",
             looked[0] ? looked : k_soname, err[0] ? "; " : "", err);
}

int lto_load(char *why, size_t whysz) {
    pthread_mutex_lock(&g_real_lock);
    if (!g_real.tried) {
        g_real.tried = 1;
        load_locked();
    }
    int ok = g_real.lib != NULL;
    if (!ok && why && whysz) snprintf(why, whysz, "%s", g_real.why);
    pthread_mutex_unlock(&g_real_lock);
    return ok ? 0 : -1;
}

__attribute__((destructor)) static void lto_unload(void) {
    pthread_mutex_lock(&g_real_lock);
    if (g_real.lib) dlclose(g_real.lib);
    memset(&g_real, 0, sizeof g_real);
    pthread_mutex_unlock(&g_real_lock);
}

static char *take_log(nvJitLinkHandle h, size_fn size, text_fn text) {
    size_t n = 0;
    if (size(h, &n) != NVJITLINK_SUCCESS || n <= 1) return NULL;
    char *buf = calloc(1, n + 1);
    if (buf && text(h, buf) != NVJITLINK_SUCCESS) {
        free(buf);
        return NULL;
    }
    return buf;
}

nvJitLinkResult lto_to_ptx(const char *const *opts, uint32_t nopts, const lto_input *in, int nin, char **ptx,
                           size_t *ptxlen, char **errlog, char **infolog) {
    *ptx = NULL;
    *ptxlen = 0;
    *errlog = *infolog = NULL;
    if (!g_real.lib) return NVJITLINK_ERROR_INTERNAL;
    nvJitLinkHandle h = NULL;
    nvJitLinkResult r = g_real.create(&h, nopts, opts);
    for (int i = 0; r == NVJITLINK_SUCCESS && i < nin; i++)
        r = g_real.add(h, in[i].type, in[i].data, in[i].size, in[i].name);
    if (r == NVJITLINK_SUCCESS) r = g_real.complete(h);
    size_t n = 0;
    if (r == NVJITLINK_SUCCESS && (r = g_real.ptx_size(h, &n)) == NVJITLINK_SUCCESS) {
        char *buf = malloc(n + 1);
        if (!buf) {
            r = NVJITLINK_ERROR_INTERNAL;
        } else if ((r = g_real.ptx(h, buf)) == NVJITLINK_SUCCESS) {
            buf[n] = 0;
            *ptx = buf;
            *ptxlen = strlen(buf);
        } else {
            free(buf);
        }
    }
    if (h) {
        *errlog = take_log(h, g_real.err_size, g_real.err);
        *infolog = take_log(h, g_real.info_size, g_real.info);
        g_real.destroy(&h);
    }
    return r;
}

static uint64_t rd(const unsigned char *p, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

size_t lto_fatbin_ltoir(const void *data, size_t size, const void **fatbin) {
    const unsigned char *fb = data;
    *fatbin = NULL;
    if (size >= 16 && rd(fb, 4) == 0x466243B1u) { /* the wrapper: {magic, version, const void *fatbin, ...} */
        const void *inner;
        memcpy(&inner, fb + 8, sizeof inner);
        if (!inner) return 0;
        fb = inner;
        size = 0;
    }
    if (rd(fb, 4) != 0xBA55ED50u) return 0;
    uint64_t hsz = rd(fb + 6, 2), total = hsz + rd(fb + 8, 8);
    if (hsz < 16 || (size && total > size)) return 0;
    for (uint64_t off = hsz; off + 16 <= total;) {
        const unsigned char *e = fb + off;
        uint64_t ehs = rd(e + 4, 4), psz = rd(e + 8, 8);
        if (rd(e, 2) == 8) { /* an LTO-IR entry (code=lto_NN) */
            *fatbin = fb;
            return (size_t)total;
        }
        if (ehs < 16 || ehs > total - off || psz > total - off - ehs) return 0;
        off += ehs + psz;
    }
    return 0;
}
