/* worker_state.c — what a lease worker holds for its GPU: the CUDA context binding, device buffers
 * (with a journal of allocations so that a replacement worker can answer 410 buffer_lost for the
 * ones that died with its predecessor), module images (saved in the lease's directory so that a
 * replacement reloads them on first use), pinned staging buffers and the last finished job seq. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "ptx_text.h"
#include "sha256.h"
#include "worker.h"

#define STAGING_SIZE (4u << 20)
#define SEQ_RECORD 42 /* "%020llu %020llu\n": two counters of at most 20 digits each */

static _Thread_local lp_cu_ctx tl_bound;

int wk_bind(lp_worker *w) {
    if (tl_bound == w->ctx) return 0;
    if (w->cu.cuCtxSetCurrent(w->ctx) != LP_CUDA_SUCCESS) return -1;
    tl_bound = w->ctx;
    return 0;
}

/* ---- journal ---- */
/* Appends "a ID SIZE" (allocated) or "f ID" (freed). */
static void journal(lp_worker *w, char op, uint64_t id, uint64_t size) {
    if (w->journal_fd < 0) return;
    char line[96];
    int n = op == 'a' ? snprintf(line, sizeof line, "a %" PRIu64 " %" PRIu64 "\n", id, size)
                      : snprintf(line, sizeof line, "f %" PRIu64 "\n", id);
    if (n > 0 && write(w->journal_fd, line, (size_t)n) != n)
        lp_log(LP_LOG_WARN, "lease %s gpu %s: cannot write the buffer journal: %s", w->lease, w->uuid,
               strerror(errno));
}

static long lost_find(const lp_worker *w, uint64_t id) {
    for (size_t i = 0; i < w->nlost; i++)
        if (w->lost[i] == id) return (long)i;
    return -1;
}

static int lost_has(const lp_worker *w, uint64_t id) { return lost_find(w, id) >= 0; }

static void lost_remove(lp_worker *w, size_t i) {
    w->nlost--;
    w->lost[i] = w->lost[w->nlost];
    w->lost_why[i] = w->lost_why[w->nlost];
}

/* The journal: "a ID SIZE" (allocated), "f ID" (freed), "x NAME" (a worker was poisoned by the
 * CUDA error NAME: the buffers live then die with it), "g" (a worker started: the buffers lost
 * before it keep the reason they have). */
static int read_journal(lp_worker *w, const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return errno == ENOENT ? 0 : -1;
    char line[128];
    size_t cap = 0, cap_why = 0;
    uint64_t maxid = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == 'g' || line[0] == 'x') {
            int why = -1; /* "g": not known */
            if (line[0] == 'x' && line[1] == ' ') {
                line[strcspn(line, "\n")] = 0;
                why = 0;
                while (why < w->nreasons && strcmp(w->lost_reasons[why], line + 2))
                    why++;
                if (why == w->nreasons &&
                    w->nreasons < (int)(sizeof w->lost_reasons / sizeof w->lost_reasons[0]))
                    snprintf(w->lost_reasons[w->nreasons++], sizeof w->lost_reasons[0], "%.63s", line + 2);
                why = why < w->nreasons ? why + 1 : -1;
            }
            for (size_t i = 0; i < w->nlost; i++)
                if (!w->lost_why[i]) w->lost_why[i] = (signed char)why;
            continue;
        }
        char op;
        uint64_t id = 0, size = 0;
        if (sscanf(line, "%c %" SCNu64 " %" SCNu64, &op, &id, &size) < 2 || id == 0) continue;
        if (id > maxid) maxid = id;
        if (op == 'a' && !lost_has(w, id)) {
            uint64_t *nl = lp_grow(w->lost, &cap, w->nlost + 1, sizeof *w->lost, 16);
            if (nl) w->lost = nl;
            signed char *nw =
                nl ? lp_grow(w->lost_why, &cap_why, w->nlost + 1, sizeof *w->lost_why, 16) : NULL;
            if (nw) w->lost_why = nw;
            if (!nw) {
                fclose(f);
                return -1;
            }
            w->lost_why[w->nlost] = 0;
            w->lost[w->nlost++] = id;
        } else if (op == 'f') {
            long i = lost_find(w, id);
            if (i >= 0) lost_remove(w, (size_t)i);
        }
    }
    fclose(f);
    w->next_buffer_id = maxid + 1;
    for (size_t i = 0; i < w->nlost; i++) /* a crash (no "x" line): the reason is not known */
        if (!w->lost_why[i]) w->lost_why[i] = -1;
    return 0;
}

void wk_lost_text(lp_worker *w, uint64_t id, char *out, size_t n) {
    pthread_mutex_lock(&w->mu);
    long i = lost_find(w, id);
    int why = i >= 0 ? w->lost_why[i] : -1;
    if (why > 0)
        snprintf(out, n, "buffer %" PRIu64 " was lost when the worker restarted after %s", id,
                 w->lost_reasons[why - 1]);
    else
        snprintf(out, n, "buffer %" PRIu64 " was lost when this GPU's worker was replaced after a failure",
                 id);
    pthread_mutex_unlock(&w->mu);
}

void wk_poison(lp_worker *w, const char *why) {
    pthread_mutex_lock(&w->job_mu);
    if (!w->poisoned) {
        snprintf(w->poison, sizeof w->poison, "%s", why); /* before the flag: readers read it unlocked */
        __atomic_store_n(&w->poisoned, 1, __ATOMIC_RELEASE);
        lp_log(LP_LOG_ERROR, "lease %s gpu %s: CUDA context lost (%s); the worker exits to be replaced",
               w->lease, w->uuid, why);
        /* Jobs accepted but not run are answered 503 worker_restarting: the replacement takes
         * their seqs (a job running now sets seq_done, and seq_recv with it, when it ends). */
        w->q0.seq_recv = w->q0.seq_done;
        wk_seq_save(w);
        /* the error's name, for the replacement's buffer_lost messages */
        char name[64];
        size_t nl = strspn(why, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789");
        snprintf(name, sizeof name, "%.*s", (int)(nl && nl < sizeof name ? nl : 0), why);
        if (w->journal_fd >= 0) {
            char line[80];
            int len = snprintf(line, sizeof line, "x %s\n",
                               nl > 5 && nl < sizeof name ? name : "a sticky CUDA error");
            if (len > 0 && write(w->journal_fd, line, (size_t)len) != len)
                lp_log(LP_LOG_WARN, "lease %s gpu %s: cannot write the buffer journal: %s", w->lease, w->uuid,
                       strerror(errno));
        }
    }
    pthread_mutex_unlock(&w->job_mu);
    wk_jobs_wake(w);
}

/* Maps the seq record so that saving it (twice per job) costs no system call: stores into a shared
 * file mapping reach the page cache at once, so a replacement worker's read() sees them even when
 * this process is killed. A file shorter than the record (new) gets a valid record first. When
 * the file cannot be mapped, wk_seq_save falls back to pwrite. */
static void map_seq(lp_worker *w, ssize_t have) {
    if (have < SEQ_RECORD && ftruncate(w->seq_fd, SEQ_RECORD) != 0) return;
    void *m = mmap(NULL, SEQ_RECORD, PROT_READ | PROT_WRITE, MAP_SHARED, w->seq_fd, 0);
    if (m == MAP_FAILED) {
        lp_log(LP_LOG_WARN, "lease %s gpu %s: cannot map the job seq record (%s); writing it with pwrite",
               w->lease, w->uuid, strerror(errno));
        return;
    }
    w->seq_map = m;
    if (have < SEQ_RECORD) wk_seq_save(w);
}

int wk_state_open(lp_worker *w, char *err, size_t err_size) {
    char path[700];
    w->journal_fd = w->seq_fd = -1;
    w->seq_map = NULL;
    w->next_buffer_id = 1;
    w->q0.w = w;
    w->q0.next_seq = 1;
    if (mkdir(w->state_dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, err_size, "cannot create the state directory %s: %s", w->state_dir, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof path, "%s/modules", w->state_dir);
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        snprintf(err, err_size, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof path, "%s/%s.buffers", w->state_dir, w->uuid);
    if (read_journal(w, path) != 0) {
        snprintf(err, err_size, "cannot read the buffer journal %s: %s", path, strerror(errno));
        return -1;
    }
    w->journal_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (w->journal_fd < 0) {
        snprintf(err, err_size, "cannot open the buffer journal %s: %s", path, strerror(errno));
        return -1;
    }
    /* the buffers lost so far keep their reason: a later "x" line is this worker's */
    if (w->nlost && write(w->journal_fd, "g\n", 2) != 2)
        lp_log(LP_LOG_WARN, "lease %s gpu %s: cannot write the buffer journal: %s", w->lease, w->uuid,
               strerror(errno));
    snprintf(path, sizeof path, "%s/%s.seq", w->state_dir, w->uuid);
    w->seq_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (w->seq_fd < 0) {
        snprintf(err, err_size, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    char buf[64] = "";
    ssize_t n = pread(w->seq_fd, buf, sizeof buf - 1, 0);
    if (n > 0) {
        buf[n] = 0;
        unsigned long long done = 0, recv = 0;
        if (sscanf(buf, "%llu %llu", &done, &recv) < 1) done = recv = 0;
        if (recv < done) recv = done;
        w->q0.seq_done = w->q0.seq_recv = recv;
        w->q0.next_seq = recv + 1;
        if (recv > done) {
            w->q0.lost_lo = done + 1;
            w->q0.lost_hi = recv;
        }
    }
    /* a seq record is written as soon as a worker starts: one here means a predecessor */
    w->replacement = n > 0 || w->nlost;
    map_seq(w, n);
    if (w->nlost || w->q0.next_seq > 1)
        lp_log(LP_LOG_INFO,
               "lease %s gpu %s: replacing an earlier worker: %zu buffers lost, jobs %" PRIu64 "..%" PRIu64
               " lost, next job seq %" PRIu64,
               w->lease, w->uuid, w->nlost, w->q0.lost_lo, w->q0.lost_hi, w->q0.next_seq);
    return 0;
}

/* v as 20 decimal digits with leading zeros ("%020" PRIu64, which this replaces on the job path:
 * it runs twice per job). */
static void put_u64_20(char *p, uint64_t v) {
    for (int i = 19; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

void wk_seq_save(lp_worker *w) {
    if (w->seq_fd < 0) return;
    char buf[SEQ_RECORD];
    put_u64_20(buf, w->q0.seq_done);
    buf[20] = ' ';
    put_u64_20(buf + 21, w->q0.seq_recv);
    buf[41] = '\n';
    int n = SEQ_RECORD;
    if (w->seq_map) {
        memcpy(w->seq_map, buf, SEQ_RECORD);
        return;
    }
    if (pwrite(w->seq_fd, buf, (size_t)n, 0) != n)
        lp_log(LP_LOG_WARN, "lease %s gpu %s: cannot record job seqs: %s", w->lease, w->uuid,
               strerror(errno));
}

/* ---- buffers ---- */
int wk_buffer_get(lp_worker *w, uint64_t id, wk_buffer **out) {
    *out = NULL;
    pthread_mutex_lock(&w->mu);
    for (wk_buffer *b = w->buffers; b; b = b->next)
        if (b->id == id && b->live) {
            b->refs++;
            *out = b;
            pthread_mutex_unlock(&w->mu);
            return 0;
        }
    int st = lost_has(w, id) ? 410 : 404;
    pthread_mutex_unlock(&w->mu);
    return st;
}

static void buffer_release(lp_worker *w, wk_buffer *b) {
    if (b->module) { /* borrowed: the memory is the module's */
        wk_module_put(w, b->module);
        free(b->global);
    } else if (!wk_is_poisoned(w) && wk_bind(w) == 0) {
        w->cu.cuMemFree(b->ptr);
    }
    free(b);
}

void wk_buffer_put(lp_worker *w, wk_buffer *b) {
    if (!b) return;
    pthread_mutex_lock(&w->mu);
    int last = --b->refs == 0;
    pthread_mutex_unlock(&w->mu);
    if (last) buffer_release(w, b);
}

int wk_buffer_alloc(lp_worker *w, uint64_t size, uint64_t *id, lp_cu_dptr *address, lp_cu_result *cr) {
    *cr = LP_CUDA_SUCCESS;
    wk_buffer *b = calloc(1, sizeof *b);
    if (!b) return 507;
    if (wk_bind(w) != 0) {
        free(b);
        *cr = LP_CUDA_ERROR_NOT_INITIALIZED;
        return 500;
    }
    lp_cu_result r = w->cu.cuMemAlloc(&b->ptr, (size_t)size);
    if (r != LP_CUDA_SUCCESS) {
        free(b);
        *cr = r;
        return r == LP_CUDA_ERROR_OUT_OF_MEMORY ? 507 : 500;
    }
    b->size = size;
    b->refs = 1;
    b->live = 1;
    pthread_mutex_lock(&w->mu);
    b->id = w->next_buffer_id++;
    b->next = w->buffers;
    w->buffers = b;
    journal(w, 'a', b->id, size);
    *address = b->ptr;
    pthread_mutex_unlock(&w->mu);
    *id = b->id;
    return 0;
}

int wk_buffer_free(lp_worker *w, uint64_t id) {
    pthread_mutex_lock(&w->mu);
    for (wk_buffer **pp = &w->buffers; *pp; pp = &(*pp)->next) {
        wk_buffer *b = *pp;
        if (b->id != id || !b->live) continue;
        *pp = b->next;
        b->live = 0;
        journal(w, 'f', id, 0);
        int last = --b->refs == 0;
        pthread_mutex_unlock(&w->mu);
        if (last) buffer_release(w, b);
        return 0;
    }
    long li = lost_find(w, id);
    if (li >= 0) {
        lost_remove(w, (size_t)li);
        journal(w, 'f', id, 0);
        pthread_mutex_unlock(&w->mu);
        return 0;
    }
    pthread_mutex_unlock(&w->mu);
    return 404;
}

/* A live borrowed buffer of m's global `name`, with a reference for the caller. Under mu. */
static wk_buffer *global_find_locked(lp_worker *w, const wk_module *m, const char *name) {
    for (wk_buffer *b = w->buffers; b; b = b->next)
        if (b->live && b->module == m && !strcmp(b->global, name)) {
            b->refs++;
            return b;
        }
    return NULL;
}

int wk_buffer_global(lp_worker *w, wk_module *m, const char *name, wk_buffer **out, lp_cu_result *cr) {
    *cr = LP_CUDA_SUCCESS;
    pthread_mutex_lock(&w->mu);
    *out = global_find_locked(w, m, name);
    pthread_mutex_unlock(&w->mu);
    if (*out) return 0;
    if (!w->cu.cuModuleGetGlobal) {
        *cr = LP_CUDA_ERROR_NOT_FOUND;
        return 500;
    }
    if (wk_bind(w) != 0) {
        *cr = LP_CUDA_ERROR_NOT_INITIALIZED;
        return 500;
    }
    lp_cu_dptr ptr = 0;
    size_t size = 0;
    lp_cu_result r = w->cu.cuModuleGetGlobal(&ptr, &size, m->mod, name);
    if (r == LP_CUDA_ERROR_NOT_FOUND || r == LP_CUDA_ERROR_INVALID_VALUE) return 404;
    if (r != LP_CUDA_SUCCESS) {
        *cr = r;
        return 500;
    }
    wk_buffer *b = calloc(1, sizeof *b);
    if (!b || !(b->global = strdup(name))) {
        free(b);
        return 500;
    }
    b->ptr = ptr;
    b->size = size;
    b->refs = 2; /* the table's and the caller's */
    b->live = 1;
    b->module = m;
    pthread_mutex_lock(&w->mod_mu);
    m->refs++; /* the variable's memory lives as long as the buffer */
    pthread_mutex_unlock(&w->mod_mu);
    pthread_mutex_lock(&w->mu);
    wk_buffer *same = global_find_locked(w, m, name); /* another request made it meanwhile */
    if (!same) {
        /* journaled like an allocation: a replacement worker answers 410 for its id and never
         * hands the id out again */
        b->id = w->next_buffer_id++;
        b->next = w->buffers;
        w->buffers = b;
        journal(w, 'a', b->id, size);
    }
    pthread_mutex_unlock(&w->mu);
    if (same) {
        b->refs = 1;
        wk_buffer_put(w, b);
        b = same;
    }
    *out = b;
    return 0;
}

/* Unloading module m drops the table's entries of its globals (requests holding one finish with
 * it: the module stays loaded until the last reference). */
static void drop_globals(lp_worker *w, const wk_module *m) {
    for (;;) {
        wk_buffer *gone = NULL;
        pthread_mutex_lock(&w->mu);
        for (wk_buffer **pp = &w->buffers; *pp; pp = &(*pp)->next)
            if ((*pp)->live && (*pp)->module == m) {
                gone = *pp;
                *pp = gone->next;
                gone->live = 0;
                journal(w, 'f', gone->id, 0);
                break;
            }
        pthread_mutex_unlock(&w->mu);
        if (!gone) return;
        wk_buffer_put(w, gone);
    }
}

void *wk_staging_take(lp_worker *w, size_t *size, lp_cu_result *cr) {
    void *p = NULL;
    pthread_mutex_lock(&w->mu);
    if (w->nstaging > 0) p = w->staging[--w->nstaging];
    pthread_mutex_unlock(&w->mu);
    *size = STAGING_SIZE;
    *cr = LP_CUDA_SUCCESS;
    if (p) return p;
    *cr = wk_bind(w) == 0 ? w->cu.cuMemHostAlloc(&p, STAGING_SIZE, 0) : LP_CUDA_ERROR_NOT_INITIALIZED;
    return *cr == LP_CUDA_SUCCESS ? p : NULL;
}

void wk_staging_give(lp_worker *w, void *p) {
    if (!p) return;
    pthread_mutex_lock(&w->mu);
    if (w->nstaging < (int)(sizeof w->staging / sizeof w->staging[0])) {
        w->staging[w->nstaging++] = p;
        p = NULL;
    }
    pthread_mutex_unlock(&w->mu);
    if (p && wk_bind(w) == 0) w->cu.cuMemFreeHost(p);
}

/* ---- modules ---- */
static void func_free(wk_func *f) {
    free(f->name);
    free(f->offset);
    free(f->size);
    free(f);
}

static void module_release(lp_worker *w, wk_module *m) {
    if (!wk_is_poisoned(w) && wk_bind(w) == 0) {
        w->cu.cuCtxSynchronize(); /* no launch of it may still be queued */
        w->cu.cuModuleUnload(m->mod);
    }
    while (m->funcs) {
        wk_func *f = m->funcs;
        m->funcs = f->next;
        func_free(f);
    }
    free(m->fidx);
    free(m->holders);
    free(m->info);
    free(m);
}

void wk_module_put(lp_worker *w, wk_module *m) {
    if (!m) return;
    pthread_mutex_lock(&w->mod_mu);
    int last = --m->refs == 0;
    pthread_mutex_unlock(&w->mod_mu);
    if (last) module_release(w, m);
}

/* Kernel parameter layout from the driver; nparams = -1 when it cannot say. */
static wk_func *func_new(lp_worker *w, lp_cu_function f, const char *name) {
    wk_func *fn = calloc(1, sizeof *fn);
    if (!fn || !(fn->name = strdup(name))) {
        free(fn);
        return NULL;
    }
    fn->f = f;
    fn->nparams = -1;
    if (!w->cu.cuFuncGetParamInfo) return fn;
    size_t cap_off = 0, cap_size = 0;
    for (int i = 0; i < WK_MAX_ARGS; i++) {
        size_t off = 0, sz = 0;
        if (w->cu.cuFuncGetParamInfo(f, (size_t)i, &off, &sz) != LP_CUDA_SUCCESS) break;
        size_t *no = lp_grow(fn->offset, &cap_off, (size_t)i + 1, sizeof *fn->offset, 8);
        if (no) fn->offset = no;
        size_t *ns = lp_grow(fn->size, &cap_size, (size_t)i + 1, sizeof *fn->size, 8);
        if (ns) fn->size = ns;
        if (!no || !ns) {
            func_free(fn);
            return NULL;
        }
        fn->offset[i] = off;
        fn->size[i] = sz;
        fn->nparams = i + 1;
    }
    if (fn->nparams < 0) fn->nparams = 0;
    return fn;
}

static void add_name(const char *name, size_t len, void *user) {
    if (len < 1024) json_array_append_new(user, json_stringn(name, len));
}

/* Kernel names from PTX text (ptx_text.h); an empty list when there are none or memory ran out. */
static json_t *ptx_entries(const char *s, size_t n) {
    json_t *names = json_array();
    if (names && lp_ptx_entries(s, n, add_name, names) < 0) json_array_clear(names);
    return names;
}

static json_t *function_names(lp_worker *w, wk_module *m, const char *image, size_t size) {
    unsigned count = 0;
    if (w->cu.cuModuleGetFunctionCount && w->cu.cuModuleEnumerateFunctions && w->cu.cuFuncGetName &&
        w->cu.cuModuleGetFunctionCount(&count, m->mod) == LP_CUDA_SUCCESS && count > 0 && count < 100000) {
        lp_cu_function *fs = calloc(count, sizeof *fs);
        if (fs && w->cu.cuModuleEnumerateFunctions(fs, count, m->mod) == LP_CUDA_SUCCESS) {
            json_t *names = json_array();
            for (unsigned i = 0; i < count; i++) {
                const char *nm = NULL;
                if (w->cu.cuFuncGetName(&nm, fs[i]) == LP_CUDA_SUCCESS && nm)
                    json_array_append_new(names, json_string(nm));
            }
            free(fs);
            return names;
        }
        free(fs);
    }
    return ptx_entries(image, size);
}

/* The kernel's attributes by CUfunction_attribute number (null where the driver refuses one), up
 * to the last one it answers. */
static json_t *func_attributes(lp_worker *w, const wk_func *f) {
    json_t *a = json_array();
    size_t known = 0;
    for (int i = 0; w->cu.cuFuncGetAttribute && i < LP_CU_FUNC_ATTRIBUTE_LIMIT; i++) {
        int v = 0;
        if (w->cu.cuFuncGetAttribute(&v, i, f->f) == LP_CUDA_SUCCESS) {
            json_array_append_new(a, json_integer(v));
            known = (size_t)i + 1;
        } else {
            json_array_append_new(a, json_null());
        }
    }
    while (json_array_size(a) > known)
        json_array_remove(a, json_array_size(a) - 1);
    return a;
}

static json_t *func_json(lp_worker *w, const wk_func *f) {
    json_t *params = json_array();
    for (int i = 0; i < f->nparams; i++)
        json_array_append_new(params, json_pack("{s:I, s:I}", "offset", (json_int_t)f->offset[i], "size",
                                                (json_int_t)f->size[i]));
    json_t *o =
        json_pack("{s:s, s:o, s:o}", "name", f->name, "params", params, "attributes", func_attributes(w, f));
    if (f->nparams < 0) json_object_set_new(o, "params", json_null());
    return o;
}

static size_t func_slot(const char *name, size_t cap) {
    uint64_t h = 1469598103934665603ull;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 1099511628211ull;
    return (size_t)h & (cap - 1);
}

/* Adds f to the name index (grown to keep it at most half full); -1 when out of memory. */
static int func_index(wk_module *m, wk_func *f) {
    if ((m->nfuncs + 1) * 2 > m->fcap) {
        size_t cap = m->fcap ? m->fcap * 2 : 64;
        wk_func **n = calloc(cap, sizeof *n);
        if (!n) return -1;
        for (size_t i = 0; i < m->fcap; i++) {
            if (!m->fidx[i]) continue;
            size_t s = func_slot(m->fidx[i]->name, cap);
            while (n[s])
                s = (s + 1) & (cap - 1);
            n[s] = m->fidx[i];
        }
        free(m->fidx);
        m->fidx = n;
        m->fcap = cap;
    }
    size_t s = func_slot(f->name, m->fcap);
    while (m->fidx[s])
        s = (s + 1) & (m->fcap - 1);
    m->fidx[s] = f;
    m->nfuncs++;
    return 0;
}

static const wk_func *func_lookup(lp_worker *w, wk_module *m, const char *name, char *msg, size_t msg_size) {
    if (m->fcap)
        for (size_t s = func_slot(name, m->fcap); m->fidx[s]; s = (s + 1) & (m->fcap - 1))
            if (!strcmp(m->fidx[s]->name, name)) return m->fidx[s];
    lp_cu_function cf = NULL;
    if (wk_bind(w) != 0 || w->cu.cuModuleGetFunction(&cf, m->mod, name) != LP_CUDA_SUCCESS || !cf) {
        snprintf(msg, msg_size, "module %.16s… has no kernel named '%.128s'", m->sha, name);
        return NULL;
    }
    wk_func *f = func_new(w, cf, name);
    if (!f || func_index(m, f) != 0) {
        if (f) func_free(f);
        snprintf(msg, msg_size, "out of memory");
        return NULL;
    }
    f->next = m->funcs;
    m->funcs = f;
    return f;
}

const wk_func *wk_module_func(lp_worker *w, wk_module *m, const char *name, char *msg, size_t msg_size) {
    pthread_mutex_lock(&w->mod_mu);
    const wk_func *f = func_lookup(w, m, name, msg, msg_size);
    pthread_mutex_unlock(&w->mod_mu);
    return f;
}

static wk_module *find_locked(lp_worker *w, const char *sha) {
    for (wk_module *m = w->modules; m; m = m->next)
        if (!strcmp(m->sha, sha)) return m;
    return NULL;
}

static void save_image(lp_worker *w, const char *sha, const char *image, size_t size) {
    char path[700], tmp[720];
    snprintf(path, sizeof path, "%s/modules/%s.img", w->state_dir, sha);
    if (access(path, F_OK) == 0) return;
    snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int ok = fd >= 0;
    for (size_t off = 0; ok && off < size;) {
        ssize_t n = write(fd, image + off, size - off);
        if (n <= 0)
            ok = 0;
        else
            off += (size_t)n;
    }
    if (fd >= 0 && close(fd) != 0) ok = 0;
    if (ok && rename(tmp, path) == 0) return;
    unlink(tmp);
    lp_log(LP_LOG_WARN,
           "lease %s gpu %s: cannot save module %s in %s: a replacement worker will need it uploaded again",
           w->lease, w->uuid, sha, path);
}

/* Loads under mod_mu. image must be followed by a NUL byte (PTX is text). */
static int load_locked(lp_worker *w, const char *sha, const char *image, size_t size, wk_module **out,
                       char *msg, size_t msg_size) {
    if (wk_bind(w) != 0) {
        snprintf(msg, msg_size, "the CUDA context cannot be made current");
        return 500;
    }
    static const size_t LOG = 16384;
    char *elog = calloc(1, LOG), *ilog = calloc(1, LOG);
    if (!elog || !ilog) {
        free(elog);
        free(ilog);
        snprintf(msg, msg_size, "out of memory");
        return 507;
    }
    int opts[4] = {LP_CU_JIT_ERROR_LOG_BUFFER, LP_CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES,
                   LP_CU_JIT_INFO_LOG_BUFFER, LP_CU_JIT_INFO_LOG_BUFFER_SIZE_BYTES};
    void *vals[4] = {elog, (void *)(uintptr_t)(LOG - 1), ilog, (void *)(uintptr_t)(LOG - 1)};
    lp_cu_module mod = NULL;
    lp_cu_result r = w->cu.cuModuleLoadDataEx(&mod, image, 4, opts, vals);
    free(ilog);
    if (r != LP_CUDA_SUCCESS) {
        char nb[64];
        elog[LOG - 1] = 0;
        size_t n = strlen(elog);
        while (n && (elog[n - 1] == '\n' || elog[n - 1] == ' '))
            elog[--n] = 0;
        snprintf(msg, msg_size, "%s%s%s", lp_cuda_error_name(&w->cu, r, nb, sizeof nb), *elog ? ": " : "",
                 elog);
        free(elog);
        if (lp_cuda_error_is_sticky(r)) wk_poison(w, msg);
        return r == LP_CUDA_ERROR_OUT_OF_MEMORY ? 507 : 400;
    }
    free(elog);
    wk_module *m = calloc(1, sizeof *m);
    if (!m) {
        w->cu.cuModuleUnload(mod);
        snprintf(msg, msg_size, "out of memory");
        return 507;
    }
    snprintf(m->sha, sizeof m->sha, "%s", sha);
    m->mod = mod;
    m->refs = 2; /* the table's and the caller's */
    json_t *names = function_names(w, m, image, size), *fns = json_array();
    size_t i;
    json_t *nm;
    json_array_foreach(names, i, nm) {
        char fm[256];
        const wk_func *f = func_lookup(w, m, json_string_value(nm), fm, sizeof fm);
        if (f) json_array_append_new(fns, func_json(w, f));
    }
    json_decref(names);
    size_t nfns = json_array_size(fns);
    json_t *info = json_pack("{s:s, s:o}", "module", sha, "functions", fns);
    /* the answer as text, once: request threads copy it (a shared JSON tree's reference count is
     * not safe to touch from several threads at once) */
    m->info = info ? json_dumps(info, JSON_COMPACT) : NULL;
    m->info_len = m->info ? strlen(m->info) : 0;
    json_decref(info);
    m->next = w->modules;
    w->modules = m;
    save_image(w, sha, image, size);
    lp_log(LP_LOG_INFO, "lease %s gpu %s: module %s loaded (%zu bytes, %zu kernels)", w->lease, w->uuid, sha,
           size, nfns);
    *out = m;
    return 0;
}

int wk_module_load(lp_worker *w, const char *sha, const char *image, size_t size, wk_module **out, char *msg,
                   size_t msg_size) {
    *out = NULL;
    pthread_mutex_lock(&w->mod_mu);
    wk_module *m = find_locked(w, sha);
    int st = 0;
    if (m) {
        m->refs++;
        *out = m;
    } else {
        st = load_locked(w, sha, image, size, out, msg, msg_size);
    }
    pthread_mutex_unlock(&w->mod_mu);
    return st;
}

int wk_module_get(lp_worker *w, const char *sha, wk_module **out, char *msg, size_t msg_size) {
    *out = NULL;
    pthread_mutex_lock(&w->mod_mu);
    wk_module *m = find_locked(w, sha);
    if (m) {
        m->refs++;
        *out = m;
        pthread_mutex_unlock(&w->mod_mu);
        return 0;
    }
    /* saved by this lease (by a predecessor, or by the worker of another of its GPUs)? */
    char path[700];
    snprintf(path, sizeof path, "%s/modules/%s.img", w->state_dir, sha);
    int st = 404;
    FILE *f = fopen(path, "rb");
    snprintf(msg, msg_size, "module %s is not loaded on this GPU; upload it with PUT /v1/modules/%s", sha,
             sha);
    if (f) {
        struct stat sb;
        char *img = NULL;
        if (fstat(fileno(f), &sb) == 0 && sb.st_size > 0 && (uint64_t)sb.st_size <= WK_MODULE_MAX &&
            (img = malloc((size_t)sb.st_size + 1)) &&
            fread(img, 1, (size_t)sb.st_size, f) == (size_t)sb.st_size) {
            img[sb.st_size] = 0;
            char hex[65];
            lp_sha256_hex(img, (size_t)sb.st_size, hex);
            if (!strcmp(hex, sha)) st = load_locked(w, sha, img, (size_t)sb.st_size, out, msg, msg_size);
        }
        free(img);
        fclose(f);
    }
    pthread_mutex_unlock(&w->mod_mu);
    return st;
}

int wk_module_hold(lp_worker *w, wk_module *m, uint64_t session) {
    int rc = 0;
    pthread_mutex_lock(&w->mod_mu);
    size_t i = 0;
    while (i < m->nholders && m->holders[i] != session)
        i++;
    if (i == m->nholders) {
        uint64_t *h = lp_grow(m->holders, &m->capholders, m->nholders + 1, sizeof *m->holders, 4);
        if (h) {
            m->holders = h;
            m->holders[m->nholders++] = session;
        } else {
            rc = -1;
        }
    }
    pthread_mutex_unlock(&w->mod_mu);
    return rc;
}

void wk_module_release(lp_worker *w, const char *sha, uint64_t session) {
    pthread_mutex_lock(&w->mod_mu);
    int others = 0;
    for (wk_module *m = w->modules; m; m = m->next)
        if (!strcmp(m->sha, sha)) {
            for (size_t i = 0; i < m->nholders; i++)
                if (m->holders[i] == session) { /* listed once (wk_module_hold) */
                    m->holders[i] = m->holders[--m->nholders];
                    break;
                }
            others = m->nholders > 0;
            break;
        }
    pthread_mutex_unlock(&w->mod_mu);
    if (others) {
        lp_log(LP_LOG_DEBUG, "lease %s gpu %s: module %s stays: another session holds it", w->lease, w->uuid,
               sha);
        return;
    }
    wk_module_unload(w, sha);
}

void wk_module_unload(lp_worker *w, const char *sha) {
    pthread_mutex_lock(&w->mod_mu);
    wk_module *m = NULL;
    for (wk_module **pp = &w->modules; *pp; pp = &(*pp)->next)
        if (!strcmp((*pp)->sha, sha)) {
            m = *pp;
            *pp = m->next;
            break;
        }
    char path[700];
    snprintf(path, sizeof path, "%s/modules/%s.img", w->state_dir, sha);
    unlink(path);
    pthread_mutex_unlock(&w->mod_mu);
    if (m) {
        lp_log(LP_LOG_INFO, "lease %s gpu %s: module %s unloaded", w->lease, w->uuid, sha);
        drop_globals(w, m);
        wk_module_put(w, m);
    }
}

void wk_state_close(lp_worker *w) {
    while (w->modules) {
        wk_module *m = w->modules;
        w->modules = m->next;
        wk_module_put(w, m);
    }
    while (w->buffers) {
        wk_buffer *b = w->buffers;
        w->buffers = b->next;
        b->live = 0;
        wk_buffer_put(w, b);
    }
    for (int i = 0; i < w->nstaging; i++)
        if (!wk_is_poisoned(w) && wk_bind(w) == 0) w->cu.cuMemFreeHost(w->staging[i]);
    w->nstaging = 0;
    free(w->lost);
    w->lost = NULL;
    free(w->lost_why);
    w->lost_why = NULL;
    if (w->journal_fd >= 0) close(w->journal_fd);
    if (w->seq_map) munmap(w->seq_map, SEQ_RECORD);
    w->seq_map = NULL;
    if (w->seq_fd >= 0) close(w->seq_fd);
    w->journal_fd = w->seq_fd = -1;
}
