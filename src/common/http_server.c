/* http_server.c — libmicrohttpd behind http_server.h: routing, body limits, replies, TCP tuning,
 * HTTPS from PEM files. */
#include "http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "clock.h"
#include "log.h"
#include "strutil.h"
#include "wire.h"

#define MAX_ROUTES 64
#define MAX_PARAMS 8
#define MAX_SEGS 16
#define MAX_EXTRA_HEADERS 8
#define SEG_MAX 264 /* bytes of one path segment, NUL included */

typedef struct route {
    const char *method;
    const char *pattern;
    char segs[MAX_SEGS][SEG_MAX];
    int nseg;
    lp_http_handler fn;
    lp_http_body_fn body_fn;
    void *user;
} route;

/* Bodies over the route's limit up to this size are drained before the 413 (see above). */
#define LP_HTTP_DRAIN_MAX (64u << 20)
/* Bytes of a certificate chain or key file: far more than any real one. */
#define PEM_MAX (1u << 20)

struct lp_http_server {
    struct MHD_Daemon *d;
    route routes[MAX_ROUTES];
    int nroutes;
    size_t max_body;
    unsigned max_conn, idle_s;
    size_t conn_mem;
    char listen[300];
    char log_name[32];
    int port;
    lp_http_observer obs;
    void *obs_user;
    /* HTTPS: the PEM texts (NUL-terminated), kept for the daemon's life; NULL for plain HTTP */
    char *tls_cert, *tls_key;
    size_t tls_key_size;
    char tls_cert_path[512], tls_key_path[512];
    int starting; /* atomic: libmicrohttpd's log lines go to start_log (why a start failed) */
    char start_log[512];
};

struct lp_http_req {
    lp_http_server *s;
    struct MHD_Connection *c;
    const char *method, *path;
    const route *rt;
    int nparam;
    const char *pname[MAX_PARAMS];
    char pval[MAX_PARAMS][SEG_MAX];
    char *body;
    size_t body_len, body_cap;
    int too_large;
    int stream_failed;
    int64_t start_ns;
    /* reply */
    int replied;
    int status;
    char *resp;
    size_t resp_len;
    const char *ctype;
    char ctype_buf[96];
    int nhdr;
    char *hdr_name[MAX_EXTRA_HEADERS], *hdr_val[MAX_EXTRA_HEADERS];
    void *ctx;
    void (*ctx_free)(void *);
    /* streamed reply (lp_http_reply_stream) */
    lp_http_reader_fn sfn;
    void *scls;
    void (*sfree)(void *);
    uint64_t ssize;
    size_t sblock;
};


static int split_path(const char *path, char segs[][SEG_MAX], int max, int *n) {
    int k = 0;
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p) break;
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (k >= max || len >= SEG_MAX) return -1;
        memcpy(segs[k], p, len);
        segs[k][len] = 0;
        k++;
        p += len;
    }
    *n = k;
    return 0;
}

/* Reads a whole PEM file into a new NUL-terminated buffer. Returns 0, or -1 with a message. */
static int read_pem(const char *path, const char *what, char **out, size_t *size, char *err, size_t en) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0) {
        lp_set_err(err, en, "cannot read the TLS %s file %s: %s", what, path, strerror(errno));
        if (f) fclose(f);
        return -1;
    }
    if (!S_ISREG(st.st_mode) || st.st_size <= 0 || (uint64_t)st.st_size > PEM_MAX) {
        lp_set_err(err, en, "the TLS %s file %s is %s", what, path,
                   !S_ISREG(st.st_mode) ? "not a regular file"
                   : st.st_size <= 0    ? "empty"
                                        : "too large for a PEM file (over 1 MiB)");
        fclose(f);
        return -1;
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    size_t got = buf ? fread(buf, 1, n, f) : 0;
    int failed = ferror(f) ? errno : 0;
    fclose(f);
    if (!buf || got != n || failed) {
        lp_set_err(err, en, "cannot read the TLS %s file %s: %s", what, path,
                   !buf     ? "out of memory"
                   : failed ? strerror(failed)
                            : "it changed while being read");
        if (buf) explicit_bzero(buf, n);
        free(buf);
        return -1;
    }
    buf[n] = 0;
    *out = buf;
    *size = n + 1;
    return 0;
}

/* Reads the certificate and key named by cfg, if any, into s. Returns 0, or -1 with a message. */
static int load_tls(lp_http_server *s, const lp_http_config *cfg, char *err, size_t en) {
    const char *cert = cfg->tls_cert_file && *cfg->tls_cert_file ? cfg->tls_cert_file : NULL;
    const char *key = cfg->tls_key_file && *cfg->tls_key_file ? cfg->tls_key_file : NULL;
    if (!cert && !key) return 0;
    if (!cert || !key) {
        lp_set_err(err, en,
                   "HTTPS needs both a certificate and a key: the %s file %s was given without a %s file",
                   cert ? "certificate" : "key", cert ? cert : key, cert ? "key" : "certificate");
        return -1;
    }
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        lp_set_err(err, en, "cannot serve HTTPS: this libmicrohttpd (%s) was built without TLS support",
                   MHD_get_version());
        return -1;
    }
    if (strlen(cert) >= sizeof s->tls_cert_path || strlen(key) >= sizeof s->tls_key_path) {
        lp_set_err(err, en, "the TLS certificate or key path is too long (at most %zu bytes)",
                   sizeof s->tls_cert_path - 1);
        return -1;
    }
    snprintf(s->tls_cert_path, sizeof s->tls_cert_path, "%s", cert);
    snprintf(s->tls_key_path, sizeof s->tls_key_path, "%s", key);
    size_t cert_size;
    if (read_pem(cert, "certificate", &s->tls_cert, &cert_size, err, en) != 0 ||
        read_pem(key, "key", &s->tls_key, &s->tls_key_size, err, en) != 0)
        return -1;
    if (strstr(s->tls_key, "ENCRYPTED")) {
        lp_set_err(err, en,
                   "the TLS key file %s holds an encrypted (password-protected) key; give an "
                   "unencrypted one (e.g. openssl pkey -in KEY -out PLAIN_KEY)",
                   key);
        return -1;
    }
    return 0;
}

int lp_http_server_new(const lp_http_config *cfg, lp_http_server **out, char *err, size_t err_size) {
    *out = NULL;
    if (!cfg || !cfg->listen) {
        lp_set_err(err, err_size, "no listen address");
        return -1;
    }
    lp_http_server *s = calloc(1, sizeof *s);
    if (!s) {
        lp_set_err(err, err_size, "out of memory");
        return -1;
    }
    if (load_tls(s, cfg, err, err_size) != 0) {
        lp_http_server_free(s);
        return LP_HTTP_ETLS;
    }
    s->max_body = cfg->max_body ? cfg->max_body : 65536;
    s->max_conn = cfg->max_connections ? cfg->max_connections : 1024;
    s->idle_s = cfg->idle_timeout_s ? cfg->idle_timeout_s : 120;
    s->conn_mem = 64 * 1024;
    snprintf(s->listen, sizeof s->listen, "%s", cfg->listen);
    snprintf(s->log_name, sizeof s->log_name, "%s", cfg->log_name ? cfg->log_name : "http");
    *out = s;
    return 0;
}

static int add_route(lp_http_server *s, const char *method, const char *pattern, lp_http_body_fn bf,
                     lp_http_handler fn, void *user) {
    if (!s || s->d || s->nroutes >= MAX_ROUTES || !method || !pattern || !fn) return -1;
    route *r = &s->routes[s->nroutes];
    memset(r, 0, sizeof *r);
    if (split_path(pattern, r->segs, MAX_SEGS, &r->nseg) != 0) return -1;
    int np = 0;
    for (int i = 0; i < r->nseg; i++)
        if (r->segs[i][0] == '{') np++;
    if (np > MAX_PARAMS) return -1;
    r->method = method;
    r->pattern = pattern;
    r->fn = fn;
    r->body_fn = bf;
    r->user = user;
    s->nroutes++;
    return 0;
}

int lp_http_server_route(lp_http_server *s, const char *method, const char *pattern, lp_http_handler fn,
                         void *user) {
    return add_route(s, method, pattern, NULL, fn, user);
}

int lp_http_server_route_stream(lp_http_server *s, const char *method, const char *pattern,
                                lp_http_body_fn body_fn, lp_http_handler fn, void *user) {
    if (!body_fn) return -1;
    return add_route(s, method, pattern, body_fn, fn, user);
}

void lp_http_server_set_conn_memory(lp_http_server *s, size_t bytes) {
    if (!s->d && bytes >= 4096) s->conn_mem = bytes;
}

void lp_http_server_set_observer(lp_http_server *s, lp_http_observer fn, void *user) {
    s->obs = fn;
    s->obs_user = user;
}

/* Matches path against every route. Returns the route, or NULL with *path_known set when some
 * route has the path but not the method (→ 405). Fills the request's path parameters. */
static const route *match(lp_http_server *s, lp_http_req *q, const char *method, const char *path,
                          int *path_known) {
    char segs[MAX_SEGS][SEG_MAX];
    int n;
    *path_known = 0;
    if (split_path(path, segs, MAX_SEGS, &n) != 0) return NULL;
    for (int i = 0; i < s->nroutes; i++) {
        const route *r = &s->routes[i];
        if (r->nseg != n) continue;
        int ok = 1;
        for (int k = 0; k < n && ok; k++)
            if (r->segs[k][0] != '{' && strcmp(r->segs[k], segs[k]) != 0) ok = 0;
        if (!ok) continue;
        if (strcmp(r->method, method) != 0) {
            *path_known = 1;
            continue;
        }
        q->nparam = 0;
        for (int k = 0; k < n; k++) {
            if (r->segs[k][0] != '{') continue;
            /* the name is the segment without braces; point into the route's storage */
            q->pname[q->nparam] = r->segs[k] + 1;
            memcpy(q->pval[q->nparam], segs[k], strlen(segs[k]) + 1);
            q->nparam++;
        }
        return r;
    }
    return NULL;
}

/* ---- accessors ---- */
const char *lp_http_method(const lp_http_req *r) { return r->method; }
const char *lp_http_path(const lp_http_req *r) { return r->path; }

const char *lp_http_param(const lp_http_req *r, const char *name) {
    size_t nl = strlen(name);
    for (int i = 0; i < r->nparam; i++)
        if (!strncmp(r->pname[i], name, nl) && r->pname[i][nl] == '}') return r->pval[i];
    return NULL;
}

const char *lp_http_header(const lp_http_req *r, const char *name) {
    return MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, name);
}

const char *lp_http_query(const lp_http_req *r, const char *name) {
    return MHD_lookup_connection_value(r->c, MHD_GET_ARGUMENT_KIND, name);
}

const char *lp_http_body(const lp_http_req *r, size_t *size) {
    if (size) *size = r->body_len;
    return r->body ? r->body : "";
}

void lp_http_set_ctx(lp_http_req *r, void *ctx, void (*free_fn)(void *)) {
    r->ctx = ctx;
    r->ctx_free = free_fn;
}
void *lp_http_ctx(const lp_http_req *r) { return r->ctx; }
int lp_http_replied(const lp_http_req *r) { return r->replied; }

int lp_http_client_gone(const lp_http_req *r) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return 0;
    struct pollfd p = {ci->connect_fd, POLLRDHUP, 0};
    if (poll(&p, 1, 0) <= 0) return 0;
    return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0;
}

/* ---- replies ---- */
static void set_reply(lp_http_req *r, int status, const char *ctype, char *body_take, size_t len) {
    if (r->replied) {
        free(body_take);
        return;
    }
    r->replied = 1;
    r->status = status;
    r->resp = body_take;
    r->resp_len = len;
    snprintf(r->ctype_buf, sizeof r->ctype_buf, "%s", ctype);
    r->ctype = r->ctype_buf;
}

void lp_http_reply_json_take(lp_http_req *r, int status, json_t *body) {
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(body);
    if (!text) {
        static const char oom[] =
            "{\"error\":{\"code\":\"internal\",\"message\":\"cannot encode the response\"}}";
        text = strdup(oom);
        status = 500;
    }
    set_reply(r, status, "application/json", text, text ? strlen(text) : 0);
}

void lp_http_reply_bytes(lp_http_req *r, int status, const char *content_type, const void *data,
                         size_t size) {
    char *copy = malloc(size ? size : 1);
    if (!copy) {
        lp_http_reply_error(r, WIRE_INTERNAL, NULL, "out of memory");
        return;
    }
    if (size) memcpy(copy, data, size);
    set_reply(r, status, content_type ? content_type : "application/octet-stream", copy, size);
}

void lp_http_reply_stream(lp_http_req *r, int status, const char *content_type, uint64_t size, size_t block,
                          lp_http_reader_fn fn, void *cls, void (*free_fn)(void *)) {
    if (r->replied || !fn) {
        if (free_fn) free_fn(cls);
        if (!fn) lp_http_reply_error(r, WIRE_INTERNAL, NULL, "no body producer");
        return;
    }
    set_reply(r, status, content_type ? content_type : "application/octet-stream", NULL, 0);
    r->sfn = fn;
    r->scls = cls;
    r->sfree = free_fn;
    r->ssize = size;
    r->sblock = block ? block : 256 * 1024;
}

json_t *lp_http_error_body(const char *code, const char *message, const char *hint) {
    json_t *e =
        json_pack("{s:s, s:s}", "code", code ? code : WIRE_INTERNAL, "message", message ? message : "");
    if (e && hint && *hint) json_object_set_new(e, "hint", json_string(hint));
    return json_pack("{s:o}", "error", e);
}

void lp_http_reply_error(lp_http_req *r, const char *code, const char *hint, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    lp_http_reply_json_take(r, wire_http_status(code), lp_http_error_body(code, msg, hint));
}

void lp_http_add_header(lp_http_req *r, const char *name, const char *value) {
    if (r->nhdr >= MAX_EXTRA_HEADERS) return;
    r->hdr_name[r->nhdr] = strdup(name);
    r->hdr_val[r->nhdr] = strdup(value);
    if (!r->hdr_name[r->nhdr] || !r->hdr_val[r->nhdr]) {
        free(r->hdr_name[r->nhdr]);
        free(r->hdr_val[r->nhdr]);
        return;
    }
    r->nhdr++;
}

json_t *lp_http_json_body(lp_http_req *r) {
    const char *ct = lp_http_header(r, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (r->body_len > 0 && ct && *ct) {
        size_t n = strcspn(ct, ";");
        while (n > 0 && ct[n - 1] == ' ')
            n--;
        int json = (n == 16 && !strncasecmp(ct, "application/json", 16)) ||
                   (n >= 5 && !strncasecmp(ct + n - 5, "+json", 5));
        if (!json) {
            lp_http_reply_error(r, WIRE_UNSUPPORTED, "send Content-Type: application/json",
                                "request body has Content-Type %.*s; this endpoint takes JSON", (int)n, ct);
            return NULL;
        }
    }
    size_t i = 0;
    while (i < r->body_len && strchr(" \t\r\n", r->body[i]))
        i++;
    if (i == r->body_len) return json_object();
    json_error_t je;
    json_t *j = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        lp_http_reply_error(r, WIRE_INVALID, NULL, "request body is not valid JSON: %s (line %d, column %d)",
                            je.text, je.line, je.column);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        lp_http_reply_error(r, WIRE_INVALID, NULL, "request body must be a JSON object");
        return NULL;
    }
    return j;
}

/* ---- libmicrohttpd glue ---- */
typedef struct stream_src {
    lp_http_reader_fn fn;
    void *cls;
    void (*free_fn)(void *);
} stream_src;

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    stream_src *src = cls;
    long n = src->fn(src->cls, pos, buf, max);
    return n > 0 ? (ssize_t)n : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void stream_free(void *cls) {
    stream_src *src = cls;
    if (src->free_fn) src->free_fn(src->cls);
    free(src);
}

static struct MHD_Response *make_response(lp_http_req *q) {
    if (!q->sfn) {
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(q->resp_len, q->resp, MHD_RESPMEM_MUST_FREE);
        if (resp) q->resp = NULL; /* owned by the response now */
        return resp;
    }
    stream_src *src = malloc(sizeof *src);
    if (!src) return NULL; /* on_completed frees the producer */
    src->fn = q->sfn;
    src->cls = q->scls;
    src->free_fn = q->sfree;
    struct MHD_Response *resp =
        MHD_create_response_from_callback(q->ssize, q->sblock, stream_read, src, stream_free);
    if (!resp) {
        free(src);
        return NULL;
    }
    q->sfn = NULL; /* owned by the response now */
    q->sfree = NULL;
    return resp;
}

static enum MHD_Result send_reply(lp_http_req *q) {
    if (!q->replied) lp_http_reply_error(q, WIRE_INTERNAL, NULL, "the handler gave no answer");
    struct MHD_Response *resp = make_response(q);
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, q->ctype);
    for (int i = 0; i < q->nhdr; i++)
        MHD_add_response_header(resp, q->hdr_name[i], q->hdr_val[i]);
    enum MHD_Result ok = MHD_queue_response(q->c, (unsigned)q->status, resp);
    MHD_destroy_response(resp);
    int64_t dur = lp_mono_ns() - q->start_ns;
    lp_log(LOG_DEBUG, "%s %s %s -> %d (%.3f ms)", q->s->log_name, q->method, q->path, q->status,
           (double)dur / 1e6);
    if (q->s->obs) q->s->obs(q->rt ? q->rt->pattern : "-", q->method, q->status, dur, q->s->obs_user);
    return ok;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size,
                                 void **con_cls) {
    lp_http_server *s = cls;
    lp_http_req *q = *con_cls;
    if (!q) {
        q = calloc(1, sizeof *q);
        if (!q) return MHD_NO;
        *con_cls = q;
        q->s = s;
        q->c = c;
        q->method = method;
        q->path = url;
        q->start_ns = lp_mono_ns();
        int path_known = 0;
        q->rt = match(s, q, method, url, &path_known);
        if (!q->rt) {
            if (path_known) {
                char allow[128] = "";
                for (int i = 0; i < s->nroutes; i++) {
                    /* list the methods of routes with the same shape */
                    int dummy;
                    lp_http_req probe = {0};
                    if (match(s, &probe, s->routes[i].method, url, &dummy) == &s->routes[i] &&
                        !strstr(allow, s->routes[i].method)) {
                        if (*allow) strncat(allow, ", ", sizeof allow - strlen(allow) - 1);
                        strncat(allow, s->routes[i].method, sizeof allow - strlen(allow) - 1);
                    }
                }
                lp_http_add_header(q, MHD_HTTP_HEADER_ALLOW, allow);
                lp_http_reply_error(q, WIRE_METHOD, NULL, "%s is not allowed on %s (allowed: %s)", method,
                                    url, allow);
            } else {
                lp_http_reply_error(q, WIRE_NOT_FOUND, "every path starts with /v1/; see docs/protocol.md",
                                    "no such endpoint: %s %s", method, url);
            }
            return send_reply(q);
        }
        if (q->rt->body_fn) {
            /* let a streaming route look at the headers before any body arrives */
            if (q->rt->body_fn(q, NULL, 0, q->rt->user) != 0) {
                q->stream_failed = 1;
                if (q->replied) return send_reply(q);
            }
        } else {
            const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
            if (cl) {
                char *end;
                unsigned long long v = strtoull(cl, &end, 10);
                const char *expect = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
                int waits_for_continue = expect && !strcasecmp(expect, "100-continue");
                if (v > s->max_body && (v > LP_HTTP_DRAIN_MAX || waits_for_continue)) {
                    lp_http_reply_error(q, WIRE_TOO_LARGE, NULL,
                                        "request body of %llu bytes exceeds the limit of %zu bytes", v,
                                        s->max_body);
                    return send_reply(q);
                }
                /* Over the limit but not absurd, and the client is sending the body without waiting
                 * for "100 Continue": read and drop it, then answer 413. Answering at once and
                 * closing with unread bytes in the socket makes the kernel reset the connection, and
                 * a client still sending may never see the 413. (A client that sent "Expect:
                 * 100-continue" gets the 413 at once, before it sends the body.) */
                if (v > s->max_body) q->too_large = 1;
            }
        }
        return MHD_YES;
    }
    if (q->replied) { /* answered early (404, 405, 413): discard whatever body arrives */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (q->rt->body_fn) {
            if (!q->stream_failed && q->rt->body_fn(q, upload_data, n, q->rt->user) != 0) {
                q->stream_failed = 1;
                if (q->replied) return send_reply(q); /* answer now; the rest of the body is discarded */
            }
            return MHD_YES;
        }
        if (q->too_large) return MHD_YES;
        if (q->body_len + n > s->max_body) {
            q->too_large = 1; /* chunked body without Content-Length: discard the rest */
            return MHD_YES;
        }
        if (q->body_len + n + 1 > q->body_cap) {
            size_t cap = q->body_cap ? q->body_cap : 1024;
            while (cap < q->body_len + n + 1)
                cap *= 2;
            char *nb = realloc(q->body, cap);
            if (!nb) {
                q->too_large = 1;
                return MHD_YES;
            }
            q->body = nb;
            q->body_cap = cap;
        }
        memcpy(q->body + q->body_len, upload_data, n);
        q->body_len += n;
        q->body[q->body_len] = 0;
        return MHD_YES;
    }
    /* end of the request */
    if (q->too_large)
        lp_http_reply_error(q, WIRE_TOO_LARGE, NULL, "request body exceeds the limit of %zu bytes",
                            s->max_body);
    else if (!(q->rt->body_fn && q->stream_failed))
        q->rt->fn(q, q->rt->user);
    return send_reply(q);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
    lp_http_req *q = *con_cls;
    if (!q) return;
    *con_cls = NULL;
    if (q->ctx_free) q->ctx_free(q->ctx);
    if (q->sfree) q->sfree(q->scls);
    free(q->body);
    free(q->resp);
    for (int i = 0; i < q->nhdr; i++) {
        free(q->hdr_name[i]);
        free(q->hdr_val[i]);
    }
    free(q);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
    if (toe != MHD_CONNECTION_NOTIFY_STARTED) return;
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return;
    int one = 1;
    (void)setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
    lp_http_server *s = cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = 0;
    lp_log(LOG_DEBUG, "%s: libmicrohttpd: %s", s->log_name, msg);
    /* only the starting thread logs while starting is set (the daemon's threads come later) */
    if (__atomic_load_n(&s->starting, __ATOMIC_ACQUIRE) && n) {
        size_t used = strlen(s->start_log);
        snprintf(s->start_log + used, sizeof s->start_log - used, "%s%s", used ? "; " : "", msg);
    }
}

/* 1 when libmicrohttpd's log of a failed start is about TLS rather than the socket. */
static int start_failed_on_tls(const char *log) {
    static const char *words[] = {"TLS", "tls", "certificate", "x509", "X.509", "key", "PEM", "GnuTLS"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strstr(log, words[i])) return 1;
    return 0;
}

/* Parses "host:port", "[v6]:port" or ":port" into a socket address. */
static int parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *len, char *err, size_t en) {
    char host[256];
    const char *colon;
    if (spec[0] == '[') {
        const char *rb = strchr(spec, ']');
        if (!rb || rb[1] != ':') {
            lp_set_err(err, en, "bad listen address '%s' (expected [ADDR]:PORT)", spec);
            return -1;
        }
        snprintf(host, sizeof host, "%.*s", (int)(rb - spec - 1), spec + 1);
        colon = rb + 1;
    } else {
        colon = strrchr(spec, ':');
        if (!colon) {
            lp_set_err(err, en, "bad listen address '%s' (expected ADDR:PORT, e.g. 127.0.0.1:7700)", spec);
            return -1;
        }
        snprintf(host, sizeof host, "%.*s", (int)(colon - spec), spec);
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || port < 0 || port > 65535) {
        lp_set_err(err, en, "bad port in listen address '%s' (0..65535)", spec);
        return -1;
    }
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char portstr[16];
    snprintf(portstr, sizeof portstr, "%ld", port);
    int rc = getaddrinfo(*host ? host : NULL, portstr, &hints, &ai);
    if (rc != 0 || !ai) {
        lp_set_err(err, en, "cannot resolve listen address '%s': %s", spec, gai_strerror(rc));
        return -1;
    }
    /* prefer IPv4 for a wildcard so that 127.0.0.1 clients reach it */
    struct addrinfo *pick = ai;
    if (!*host)
        for (struct addrinfo *p = ai; p; p = p->ai_next)
            if (p->ai_family == AF_INET) {
                pick = p;
                break;
            }
    memcpy(ss, pick->ai_addr, pick->ai_addrlen);
    *len = pick->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

int lp_http_server_start(lp_http_server *s, char *err, size_t err_size) {
    struct sockaddr_storage ss;
    socklen_t sl;
    if (parse_listen(s->listen, &ss, &sl, err, err_size) != 0) return -1;
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    if (s->tls_cert) flags |= MHD_USE_TLS;
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key},
        {MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert},
        {MHD_OPTION_END, 0, NULL},
    };
    s->start_log[0] = 0;
    __atomic_store_n(&s->starting, 1, __ATOMIC_RELEASE);
    uint16_t port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                             : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    /* the logger first, so that libmicrohttpd's messages about the options reach it too */
    s->d = MHD_start_daemon(flags, port, NULL, NULL, on_access, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
                            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
                            s->max_conn, MHD_OPTION_CONNECTION_TIMEOUT, s->idle_s,
                            MHD_OPTION_THREAD_STACK_SIZE, (size_t)(512 * 1024),
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, s->conn_mem, MHD_OPTION_NOTIFY_COMPLETED,
                            on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_ARRAY,
                            s->tls_cert ? tls_opts : tls_opts + 2, MHD_OPTION_END);
    __atomic_store_n(&s->starting, 0, __ATOMIC_RELEASE);
    if (!s->d && s->tls_cert && start_failed_on_tls(s->start_log)) {
        lp_set_err(err, err_size,
                   "cannot serve HTTPS on %s: the certificate or key is not valid PEM, or they do not match "
                   "(certificate %s, key %s; libmicrohttpd: %s)",
                   s->listen, s->tls_cert_path, s->tls_key_path, s->start_log);
        return LP_HTTP_ETLS;
    }
    if (!s->d) {
        lp_set_err(err, err_size, "cannot listen on %s (address in use or not available?)", s->listen);
        return -1;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : port;
    return 0;
}

int lp_http_server_port(const lp_http_server *s) { return s && s->d ? s->port : 0; }

int lp_http_server_is_tls(const lp_http_server *s) { return s && s->tls_cert ? 1 : 0; }

void lp_http_server_free(lp_http_server *s) {
    if (!s) return;
    if (s->d) MHD_stop_daemon(s->d);
    if (s->tls_key) explicit_bzero(s->tls_key, s->tls_key_size);
    free(s->tls_key);
    free(s->tls_cert);
    free(s);
}
