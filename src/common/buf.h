/* buf.h — the one growable byte buffer of Lepton (like curl's dynbuf, libgit2's git_str): append,
 * reserve, reset, free, always NUL-terminated, never past a cap the caller names; and every such
 * cap, once, with its reason. */
#ifndef LEPTON_COMMON_BUF_H
#define LEPTON_COMMON_BUF_H

#include <stddef.h>

/* ---- caps: how large a body may grow before it is refused as malformed ---- */

/* liblepton: a broker answer (the largest is a page of leases or offers, well under 1 MiB). */
#define LP_CAP_CLIENT_ANSWER (8u << 20)
/* liblepton: a lease worker's JSON answer or job result record (module info lists every kernel). */
#define LP_CAP_DP_JSON (8u << 20)
/* leptond: a broker answer (the node's heartbeat answer lists every lease of the node). */
#define LP_CAP_AGENT_ANSWER (16u << 20)
/* the CLI: a broker answer (usage and node lists of a whole account; kept generous). */
#define LP_CAP_CLI_ANSWER (64u << 20)
/* the CLI: a file it reads whole (a module, a buffer's contents): as large as memory allows. */
#define LP_CAP_FILE ((size_t)-1 / 2)
/* A pooled connection's body buffer above this is freed after use: one big answer must not pin
 * memory for the life of a client. */
#define LP_BUF_KEEP (64u << 10)

/* A growable buffer. Zero-initialised (LP_BUF_INIT) it is empty and owns nothing; p is NULL until
 * the first append, then NUL-terminated (the NUL is not counted in len). */
typedef struct lp_buf {
    char *p;
    size_t len, cap;
} lp_buf;
#define LP_BUF_INIT                                                                                          \
    { NULL, 0, 0 }

/* Results of lp_buf_append and lp_buf_reserve. */
#define LP_BUF_OK 0
#define LP_BUF_FULL (-1)  /* the content would exceed the cap: nothing was added */
#define LP_BUF_NOMEM (-2) /* out of memory: nothing was added */

/* Makes room for n more bytes (and the NUL) without exceeding max bytes of content. */
int lp_buf_reserve(lp_buf *b, size_t n, size_t max);
/* Appends n bytes of p; LP_BUF_OK, LP_BUF_FULL past max bytes, or LP_BUF_NOMEM. */
int lp_buf_append(lp_buf *b, const void *p, size_t n, size_t max);
/* Empties the buffer, keeping its memory for reuse. */
void lp_buf_reset(lp_buf *b);
/* Empties it and frees its memory when it holds more than keep bytes (LP_BUF_KEEP). */
void lp_buf_trim(lp_buf *b, size_t keep);
/* Frees the memory; the buffer is empty (LP_BUF_INIT) again. NULL-safe. */
void lp_buf_free(lp_buf *b);
/* The content, which the caller now owns (free()); NULL when empty. The buffer is emptied. */
char *lp_buf_take(lp_buf *b, size_t *len);
/* "the body exceeds the cap" / "out of memory" for a result of lp_buf_append. */
const char *lp_buf_strerror(int rc);

/* ---- growable arrays ---- */

/* Makes the array v of *cap elements of elem bytes hold at least need elements: returns the array
 * (moved, with *cap raised: doubled from first, at least need) or v itself when it is large enough,
 * or NULL when out of memory or the size would overflow (v and *cap untouched, still valid). The
 * one growth rule for Lepton's arrays of structs (bytes: lp_buf). Use:
 *     T *nv = lp_grow(a->v, &a->cap, a->n + 1, sizeof *a->v, 16); if (!nv) fail; a->v = nv; */
void *lp_grow(void *v, size_t *cap, size_t need, size_t elem, size_t first);

#endif
