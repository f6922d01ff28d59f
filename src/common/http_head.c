/* http_head.c — a request head checked on its raw bytes (http_head.h):
 * request line, header lines (RFC 9112 syntax, no control bytes), sizes, Content-Length and the first
 * chunk size, each refusal with a message that names what is wrong. */
#include "http_head.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "strutil.h"
#include "wire.h"

__attribute__((format(printf, 4, 5))) static int bad(lp_http_head_verdict *v, int status, const char *hint,
                                                     const char *fmt, ...) {
    v->status = status;
    v->code = status == 400 || status == 505 ? WIRE_INVALID : WIRE_TOO_LARGE;
    v->hint = hint;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->message, sizeof v->message, fmt, ap);
    va_end(ap);
    return LP_HEAD_BAD;
}

static int is_tchar(unsigned char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* A byte that has no place where it was found, in words. */
static const char *byte_name(unsigned char c, char out[24]) {
    if (c == 0) return "a NUL byte";
    if (c == '\r') return "a bare CR";
    if (c == ' ') return "a blank";
    snprintf(out, 24, "the byte 0x%02x", c);
    return out;
}

static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* METHOD SP TARGET SP HTTP/D.D. A partial line (complete 0) is refused only for what cannot change. */
static int check_request_line(const unsigned char *l, size_t len, int complete, lp_http_head_verdict *v) {
    char nb[24], ex[200];
    size_t i = 0;
    while (i < len && is_tchar(l[i]))
        i++;
    if (i < len && l[i] != ' ')
        return bad(v, 400, "send METHOD /path HTTP/1.1", "the request line holds %s in its method (byte %zu)",
                   byte_name(l[i], nb), i + 1);
    if (i == 0 && i < len)
        return bad(v, 400, "send METHOD /path HTTP/1.1", "the request line starts with a blank");
    if (i == len) {
        if (!complete) return LP_HEAD_MORE;
        lp_excerpt(ex, sizeof ex, (const char *)l, len);
        return bad(v, 400, "send METHOD /path HTTP/1.1",
                   "the request line \"%s\" has no target and no HTTP version", ex);
    }
    size_t t0 = ++i;
    while (i < len && l[i] > 0x20 && l[i] != 0x7f)
        i++;
    if (i < len && l[i] != ' ')
        return bad(v, 400, "percent-encode the byte (e.g. %00) if it is meant",
                   "the request path holds %s (byte %zu of the request line)", byte_name(l[i], nb), i + 1);
    if (i == t0 && i < len)
        return bad(v, 400, "send METHOD /path HTTP/1.1",
                   "the request line has no target (two blanks after the method)");
    if (i == len) {
        if (!complete) return LP_HEAD_MORE;
        return bad(v, 400, "send METHOD /path HTTP/1.1 (HTTP/0.9 is not served)",
                   "the request line has no HTTP version");
    }
    if (!complete) return LP_HEAD_MORE;
    const unsigned char *ver = l + i + 1;
    size_t vl = len - i - 1;
    if (vl != 8 || memcmp(ver, "HTTP/", 5) != 0 || ver[5] < '0' || ver[5] > '9' || ver[6] != '.' ||
        ver[7] < '0' || ver[7] > '9') {
        lp_excerpt(ex, sizeof ex, (const char *)ver, vl);
        return bad(v, 400, "send METHOD /path HTTP/1.1",
                   "the request line ends in \"%s\", not an HTTP version like HTTP/1.1", ex);
    }
    if (ver[5] != '1')
        return bad(v, 505, "send HTTP/1.1 (or HTTP/1.0)", "HTTP/%c.%c is not supported", ver[5], ver[7]);
    return LP_HEAD_OK;
}

typedef struct head_fields {
    const unsigned char *cl, *te; /* trimmed values, or NULL */
    size_t cl_len, te_len;
    int n_te;
    int expect; /* an Expect header: the client may wait before it sends the body */
} head_fields;

/* NAME ":" VALUE, without line folding or control bytes; notes Content-Length and Transfer-Encoding. */
static int check_header_line(const unsigned char *l, size_t len, int complete, head_fields *f,
                             lp_http_head_verdict *v) {
    char nb[24], ex[200];
    if (len > 0 && (l[0] == ' ' || l[0] == '\t'))
        return bad(v, 400, "send each header on one line",
                   "a header line starts with a blank (line folding is not accepted)");
    size_t i = 0;
    while (i < len && is_tchar(l[i]))
        i++;
    if (i == len) {
        if (!complete) return LP_HEAD_MORE;
        lp_excerpt(ex, sizeof ex, (const char *)l, len);
        return bad(v, 400, "send headers as Name: value", "the header line \"%s\" has no colon", ex);
    }
    if (l[i] != ':') {
        if (l[i] == ' ' || l[i] == '\t')
            return bad(v, 400, "send headers as Name: value",
                       "the header name %.*s is followed by a blank before its colon", (int)(i < 64 ? i : 64),
                       (const char *)l);
        return bad(v, 400, "header names are tokens (letters, digits, !#$%&'*+-.^_`|~)",
                   "a header name holds %s (byte %zu of its line)", byte_name(l[i], nb), i + 1);
    }
    if (i == 0) return bad(v, 400, "send headers as Name: value", "a header line has an empty name");
    size_t name_len = i;
    for (size_t j = i + 1; j < len; j++) {
        unsigned char c = l[j];
        if (c == '\t' || c == ' ' || (c > 0x20 && c != 0x7f)) continue;
        return bad(v, 400, "header values are text without NUL bytes or control bytes",
                   "the value of header %.*s holds %s", (int)(name_len < 64 ? name_len : 64), (const char *)l,
                   byte_name(c, nb));
    }
    if (!complete) return LP_HEAD_MORE;
    const unsigned char *val = l + i + 1, *end = l + len;
    while (val < end && (*val == ' ' || *val == '\t'))
        val++;
    while (end > val && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (name_len == 14 && !strncasecmp((const char *)l, "Content-Length", 14)) {
        if (f->cl && ((size_t)(end - val) != f->cl_len || memcmp(val, f->cl, f->cl_len) != 0))
            return bad(v, 400, "send one Content-Length",
                       "the request has two different Content-Length headers");
        f->cl = val;
        f->cl_len = (size_t)(end - val);
    } else if (name_len == 17 && !strncasecmp((const char *)l, "Transfer-Encoding", 17)) {
        f->te = val;
        f->te_len = (size_t)(end - val);
        f->n_te++;
    } else if (name_len == 6 && !strncasecmp((const char *)l, "Expect", 6)) {
        f->expect = 1;
    }
    return LP_HEAD_OK;
}

/* The head is complete: its framing headers, and the first chunk size when it came with the head. */
static int check_framing(const unsigned char *b, size_t n, const head_fields *f, lp_http_head_verdict *v) {
    char ex[200];
    if (f->cl) {
        uint64_t x = 0;
        int over = 0;
        size_t i = 0;
        for (; i < f->cl_len && f->cl[i] >= '0' && f->cl[i] <= '9'; i++) {
            unsigned d = (unsigned)(f->cl[i] - '0');
            if (x > (UINT64_MAX - d) / 10)
                over = 1;
            else
                x = x * 10 + d;
        }
        if (f->cl_len == 0 || i < f->cl_len) {
            lp_excerpt(ex, sizeof ex, (const char *)f->cl, f->cl_len);
            return bad(v, 400, "send the body's size in bytes as a decimal number",
                       "Content-Length \"%s\" is not a number", ex);
        }
        if (over || x > LP_HTTP_BODY_LIMIT)
            return bad(v, 413, NULL,
                       "Content-Length %.*s is larger than any request body this server takes (1 TiB)",
                       (int)(f->cl_len < 40 ? f->cl_len : 40), (const char *)f->cl);
    }
    if (f->n_te > 1)
        return bad(v, 400, "send one Transfer-Encoding: chunked",
                   "the request has %d Transfer-Encoding headers", f->n_te);
    if (!f->te || f->te_len != 7 || strncasecmp((const char *)f->te, "chunked", 7) != 0)
        return LP_HEAD_OK; /* other encodings are refused by the server's own request check */
    v->chunk_pending = !f->expect;
    if (v->head_len >= n) return LP_HEAD_OK;
    /* chunk-size [ BWS ; ext ] CRLF: only the digits matter here, and they only grow as more come */
    size_t p = v->head_len, digits = 0, sig = 0;
    uint64_t x = 0;
    for (int h; p < n && (h = hexval(b[p])) >= 0; p++, digits++) {
        if (sig || h) sig++;
        if (sig <= 16) x = x * 16 + (uint64_t)h;
    }
    if (sig > 16 || x > LP_HTTP_BODY_LIMIT)
        return bad(
            v, 413, "send the body in chunks of sizes that match the data (or with a Content-Length)",
            "the first chunk announces 0x%.*s bytes%s: more than any request body this server takes (1 TiB)",
            (int)(digits < 24 ? digits : 24), (const char *)b + v->head_len, sig > 16 ? " (over 2^64)" : "");
    if (p == n) return LP_HEAD_OK;
    v->chunk_pending = 0;
    if (!digits || (b[p] != ';' && b[p] != ' ' && b[p] != '\t' && b[p] != '\r' && b[p] != '\n')) {
        lp_excerpt(ex, sizeof ex, (const char *)b + v->head_len, n - v->head_len < 24 ? n - v->head_len : 24);
        return bad(v, 400, "send chunk sizes as hexadecimal numbers",
                   "the first chunk size \"%s\" is not hexadecimal", ex);
    }
    return LP_HEAD_OK;
}

int lp_http_head_check(const char *buf, size_t n, size_t head_max, int eof, lp_http_head_verdict *v) {
    memset(v, 0, sizeof *v);
    const unsigned char *b = (const unsigned char *)buf;
    head_fields f = {0};
    size_t pos = 0;
    /* empty lines before the request line are ignored (RFC 9112, 2.2) */
    while (pos < n && (b[pos] == '\n' || (b[pos] == '\r' && pos + 1 < n && b[pos + 1] == '\n')))
        pos += b[pos] == '\n' ? 1 : 2;
    for (int line = 0;; line++) {
        const unsigned char *nl = memchr(b + pos, '\n', n - pos);
        size_t end = nl ? (size_t)(nl - b) : n;
        size_t len = end - pos;
        if (len && b[pos + len - 1] == '\r') len--; /* its line end (or the start of one still coming) */
        int complete = nl != NULL, rc;
        if (line == 0 && len > LP_HTTP_REQLINE_MAX)
            return bad(v, 414, "send shorter paths and queries", "the request line is longer than %u bytes",
                       LP_HTTP_REQLINE_MAX);
        if (line > 0 && complete && len == 0) {
            v->head_len = end + 1;
            if (v->head_len > head_max)
                return bad(v, 431, "send fewer or shorter headers",
                           "the request head is longer than %zu bytes", head_max);
            return check_framing(b, n, &f, v) == LP_HEAD_BAD ? LP_HEAD_BAD : LP_HEAD_OK;
        }
        if (line > LP_HTTP_HEADERS_MAX)
            return bad(v, 431, "send fewer headers", "the request head has more than %d header lines",
                       LP_HTTP_HEADERS_MAX);
        rc = line == 0 ? check_request_line(b + pos, len, complete, v)
                       : check_header_line(b + pos, len, complete, &f, v);
        if (rc == LP_HEAD_BAD) return rc;
        if (!complete || end + 1 > head_max) {
            if (n >= head_max || end + 1 > head_max)
                return line == 0 ? bad(v, 414, "send shorter paths and queries",
                                       "the request line is longer than %zu bytes", head_max)
                                 : bad(v, 431, "send fewer or shorter headers",
                                       "the request head is longer than %zu bytes", head_max);
            if (eof && n > 0)
                return bad(v, 400, "send the whole request head, ending in an empty line",
                           "the connection ended inside the request head");
            return LP_HEAD_MORE;
        }
        pos = end + 1;
    }
}
