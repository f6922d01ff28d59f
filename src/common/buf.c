/* buf.c — the growable byte buffer of buf.h. */
#include "buf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int lp_buf_reserve(lp_buf *b, size_t n, size_t max) {
    if (n > max || b->len > max - n) return LP_BUF_FULL;
    size_t need = b->len + n + 1;
    if (need <= b->cap) return LP_BUF_OK;
    size_t cap = b->cap ? b->cap : 512;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *q = realloc(b->p, cap);
    if (!q) return LP_BUF_NOMEM;
    b->p = q;
    b->cap = cap;
    return LP_BUF_OK;
}

void *lp_grow(void *v, size_t *cap, size_t need, size_t elem, size_t first) {
    if (need <= *cap) return v;
    size_t nc = *cap ? *cap : (first ? first : 1);
    while (nc < need)
        nc = nc > SIZE_MAX / 2 ? need : nc * 2;
    if (elem && nc > SIZE_MAX / elem) return NULL;
    size_t bytes = nc * elem;
    void *q = realloc(v, bytes ? bytes : 1);
    if (!q) return NULL;
    *cap = nc;
    return q;
}

int lp_buf_append(lp_buf *b, const void *p, size_t n, size_t max) {
    int rc = lp_buf_reserve(b, n, max);
    if (rc) return rc;
    if (n) memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = '\0';
    return LP_BUF_OK;
}

void lp_buf_reset(lp_buf *b) {
    b->len = 0;
    if (b->p) b->p[0] = '\0';
}

void lp_buf_trim(lp_buf *b, size_t keep) {
    if (b->cap > keep)
        lp_buf_free(b);
    else
        lp_buf_reset(b);
}

void lp_buf_free(lp_buf *b) {
    if (!b) return;
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

char *lp_buf_take(lp_buf *b, size_t *len) {
    char *p = b->len ? b->p : NULL;
    if (len) *len = b->len;
    if (!p) free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

const char *lp_buf_strerror(int rc) {
    return rc == LP_BUF_FULL ? "the body exceeds its cap" : rc == LP_BUF_NOMEM ? "out of memory" : "no error";
}
