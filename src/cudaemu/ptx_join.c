/* ptx_join.c — joins PTX inputs into one PTX module (one .version/.target header, each input's
 * body after it), so `.extern .func` declarations of -rdc=true code resolve against the
 * definitions of the other inputs. Used by cuLink* (link.c) and by the nvJitLink look-alike. */
#include "ptx_join.h"

#include "fatbin.h"
#include "ptx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int append(ptx_join *j, const char *p, size_t n) {
    if (j->len + n + 1 > j->cap) {
        size_t nc = j->cap ? j->cap : 4096;
        while (nc < j->len + n + 1)
            nc *= 2;
        char *nb = realloc(j->body, nc);
        if (!nb) return -1;
        j->body = nb;
        j->cap = nc;
    }
    memcpy(j->body + j->len, p, n);
    j->len += n;
    j->body[j->len] = 0;
    return 0;
}

static int starts(const char *p, const char *end, const char *word) {
    size_t n = strlen(word);
    return (size_t)(end - p) > n && memcmp(p, word, n) == 0 && (p[n] == ' ' || p[n] == '\t');
}

int ptx_join_add(ptx_join *j, const char *text, size_t len, const char *name) {
    char note[300];
    snprintf(note, sizeof note - 1, "\n// ---- cudaemu link input %d: %s", j->ninputs + 1,
             name ? name : "(unnamed)");
    for (char *c = note + 1; *c; c++)
        if ((unsigned char)*c < 0x20) *c = '?'; /* the name stays inside its comment line */
    strcat(note, "\n");
    if (append(j, note, strlen(note)) != 0) return -1;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl + 1 : end, *q = p;
        while (q < le && (*q == ' ' || *q == '\t'))
            q++;
        int header = 0;
        if (starts(q, le, ".version")) {
            int maj = 0, mn = 0;
            if (sscanf(q + 8, "%d.%d", &maj, &mn) >= 1 &&
                (maj > j->vmaj || (maj == j->vmaj && mn > j->vmin))) {
                j->vmaj = maj;
                j->vmin = mn;
            }
            header = 1;
        } else if (starts(q, le, ".target")) {
            const char *sm = q + 7;
            while (sm < le && (*sm == ' ' || *sm == '\t'))
                sm++;
            int n = 0;
            if (le - sm > 3 && memcmp(sm, "sm_", 3) == 0) n = atoi(sm + 3);
            if (n > j->sm || !j->target[0]) {
                if (n > j->sm) j->sm = n;
                size_t tl = (size_t)(le - q);
                if (tl >= sizeof j->target) tl = sizeof j->target - 1;
                memcpy(j->target, q, tl);
                j->target[tl] = 0;
                char *cr = strpbrk(j->target, "\r\n");
                if (cr) *cr = 0;
            }
            header = 1;
        } else if (starts(q, le, ".address_size")) {
            header = 1;
        }
        if ((header && append(j, "// ", 3) != 0) || append(j, p, (size_t)(le - p)) != 0) return -1;
        p = le;
    }
    if (append(j, "\n", 1) != 0) return -1;
    j->ninputs++;
    return 0;
}

CUresult ptx_join_add_image(ptx_join *j, const void *image, size_t size, const char *name, char *log,
                            size_t logsz) {
    image_ptx ip;
    CUresult r = image_ptx_get(image, size, &ip, log, logsz);
    if (r != CUDA_SUCCESS) return r;
    int rc = ptx_join_add(j, ip.text, ip.len, name);
    image_ptx_release(&ip);
    if (rc != 0) {
        snprintf(log, logsz, "out of host memory");
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    return CUDA_SUCCESS;
}

static int placeholder_var(void *ud, ptx_var *v) {
    (void)ud;
    v->addr = 0;
    return 0;
}

CUresult ptx_join_finish(const ptx_join *j, char **out, size_t *outlen, char *msg, size_t msgsz,
                         ptx_module **parsed) {
    if (parsed) *parsed = NULL;
    if (j->ninputs == 0) {
        snprintf(msg, msgsz, "nothing was added to link");
        return CUDA_ERROR_INVALID_VALUE;
    }
    char head[400];
    int hl = snprintf(head, sizeof head,
                      "// cudaemu JIT link of %d input(s)\n.version %d.%d\n%s\n.address_size 64\n",
                      j->ninputs, j->vmaj, j->vmin, j->target[0] ? j->target : ".target sm_90");
    size_t n = (size_t)hl + j->len;
    char *img = malloc(n + 1);
    if (!img) {
        snprintf(msg, msgsz, "out of host memory");
        return CUDA_ERROR_OUT_OF_MEMORY;
    }
    memcpy(img, head, (size_t)hl);
    if (j->len) memcpy(img + hl, j->body, j->len);
    img[n] = 0;
    char log[1024];
    ptx_module *pm = NULL;
    if (ptx_load(img, n, placeholder_var, NULL, log, sizeof log, &pm) != 0) {
        ptx_free(pm);
        free(img);
        snprintf(msg, msgsz, "%s", log);
        return CUDA_ERROR_INVALID_PTX;
    }
    int nent = 0;
    for (int i = 0; i < pm->nfuncs; i++)
        nent += pm->funcs[i].is_entry != 0;
    snprintf(msg, msgsz,
             "cudaemu: linked %d input(s) into one PTX %d.%d module: %d kernel(s), %d function(s)",
             j->ninputs, j->vmaj, j->vmin, nent, pm->nfuncs);
    if (parsed)
        *parsed = pm;
    else
        ptx_free(pm);
    *out = img;
    *outlen = n + 1;
    return CUDA_SUCCESS;
}

void ptx_join_release(ptx_join *j) {
    free(j->body);
    memset(j, 0, sizeof *j);
}
