/* http_head.h — the check of every request head, made on the bytes as received before the server
 * splits them: a malformed request line or header line, an over-long URI or head, an unknown HTTP
 * version, a Content-Length that is not a number, a malformed or absurd first chunk size are found
 * here, so that the server answers them with the protocol's JSON error body. Pure: no I/O, no
 * allocation. */
#ifndef LEPTON_COMMON_HTTP_HEAD_H
#define LEPTON_COMMON_HTTP_HEAD_H

#include <stddef.h>

/* Bytes of a request line at most (RFC 9112 asks a server to take at least 8000): longer → 414. */
#define LP_HTTP_REQLINE_MAX 8192u
/* A Content-Length or chunk size over this is refused (413) at once: no route takes so much in one
 * request, and waiting for the bytes of an absurd chunk would hold the connection until the stall
 * time. */
#define LP_HTTP_BODY_LIMIT (1ull << 40)

/* Header lines of a head at most (more → 431): each takes an entry in the server's request besides
 * its bytes. */
#define LP_HTTP_HEADERS_MAX 100

enum { LP_HEAD_BAD = -1, LP_HEAD_MORE = 0, LP_HEAD_OK = 1 };

typedef struct lp_http_head_verdict {
    int status;       /* LP_HEAD_BAD: the HTTP status to answer (400, 413, 414, 431, 505) */
    const char *code; /* its wire code (wire.h) */
    const char *hint; /* may be NULL */
    char message[256];
    size_t head_len; /* LP_HEAD_OK: bytes of the head, its blank line included */
    /* LP_HEAD_OK: the body is chunked, the client does not wait for "100 Continue", and the first
     * chunk size has not come whole yet (a server may wait a moment for it before going on) */
    int chunk_pending;
} lp_http_head_verdict;

/* Checks the first n bytes of a request head as received (buf need not be NUL-terminated). head_max:
 * the most bytes a head may take (larger → 431). eof: the client has sent all it will send.
 * Returns LP_HEAD_OK when a complete, well-formed head is in (bytes after it are looked at only for
 * a first chunk size), LP_HEAD_BAD with v filled when the bytes so far already cannot be a valid
 * request, else LP_HEAD_MORE. */
int lp_http_head_check(const char *buf, size_t n, size_t head_max, int eof, lp_http_head_verdict *v);

#endif
