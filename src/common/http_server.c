/* http_server.c — libmicrohttpd behind http_server.h: routing, body limits, request checks (NULs,
 * framing), replies, TCP tuning, HTTPS from PEM files, the gate (the server's own accept loop: a
 * connection's first request head is checked on its raw bytes, answered with the JSON error body
 * when malformed, else the socket goes to libmicrohttpd), the connection guard (head deadline,
 * per-address and total limits, eviction of idle sockets, stalled chunked bodies) and upgraded
 * connections (101: a thread each, owned by the server). */
#include "http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "clock.h"
#include "http_head.h"
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
/* How long the gate waits for the first chunk size of a chunked body sent apart from its head. */
#define LP_HTTP_CHUNK_WAIT_NS (100 * 1000000ll)
/* Bytes of a certificate chain or key file: far more than any real one. */
#define PEM_MAX (1u << 20)

/* One open connection as the guard sees it, from accept to close (libmicrohttpd's socket context
 * once it has the socket). */
enum { CT_HEAD, CT_BUSY, CT_IDLE, CT_DROPPED, CT_UPGRADED };
/* Who owns the socket: the gate (it closes it), libmicrohttpd, or neither yet (handed over, not yet
 * seen by libmicrohttpd: never shut, the number may already be closed). */
enum { W_GATE, W_HANDING, W_MHD };
typedef struct conn_track {
    int fd;
    int state;                    /* CT_*, under the server's cmu */
    int where;                    /* W_*, under cmu */
    int in_body;                  /* a chunked body is being received (under cmu) */
    int64_t since_ns;             /* when the state began */
    int64_t last_data_ns;         /* atomic: last body bytes of a chunked request */
    struct sockaddr_storage addr; /* the client's (per-address limit) */
    socklen_t addr_len;
    /* the gate's own (its thread only) */
    int64_t next_peek_ns;
    unsigned backoff_ms;
    int lowat;          /* SO_RCVLOWAT set above 1 (reset before the hand-over) */
    int answered;       /* the gate answered an error: reading and dropping until the client closes */
    int64_t hand_by_ns; /* a good head waits for its first chunk size until then (0: not waiting) */
    size_t drained;
    struct conn_track *prev, *next;
} conn_track;

struct lp_http_server {
    struct MHD_Daemon *d;
    /* the gate: listening socket, accept loop, first heads (its thread owns pend) */
    int lfd;
    int wake[2];
    pthread_t gate;
    int gate_started, gate_stop; /* gate_stop: atomic */
    conn_track **pend;
    size_t npend, pend_cap;
    size_t head_max;
    /* connection guard */
    unsigned head_s, per_ip;
    pthread_mutex_t cmu;
    pthread_cond_t ccv;
    pthread_t wd;
    int wd_started, wd_stop;
    conn_track *conns;
    unsigned nconn, ndropped;
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
    /* upgraded connections (under cmu): each has a thread that unlists it when it is done */
    struct upgraded *ups;
    unsigned nups;
    int ups_stop;
    pthread_cond_t ucv; /* signalled when an upgraded connection's thread is done */
};

/* An upgraded connection: its socket and the thread serving it (detached; the server waits for it
 * through nups). */
typedef struct upgraded {
    lp_http_server *s;
    struct MHD_UpgradeResponseHandle *urh;
    int fd;
    int tcp_fd; /* TLS: the client's TCP socket (libmicrohttpd relays it to fd), else -1 */
    int gone;   /* the client has closed: fd has been shut (under cmu) */
    char *extra;
    size_t extra_len;
    lp_http_upgrade_fn fn;
    void *user;
    struct upgraded *prev, *next;
} upgraded;

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
    uint64_t drained; /* body bytes dropped after a streaming route refused it */
    int64_t start_ns;
    conn_track *ct;
    int begun;          /* the head has been seen by on_access */
    size_t raw_uri_len; /* strlen of the URI as libmicrohttpd logged it (stops at a NUL) */
    int uri_logged;
    json_t *json; /* the body parsed before a non-streaming handler ran */
    /* reply */
    int replied;
    int queued; /* the reply has gone to libmicrohttpd */
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
    /* upgrade (lp_http_reply_upgrade) */
    lp_http_upgrade_fn up_fn;
    void *up_user;
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
    s->lfd = -1;
    s->wake[0] = s->wake[1] = -1;
    pthread_mutex_init(&s->cmu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->ccv, &ca);
    pthread_cond_init(&s->ucv, &ca);
    pthread_condattr_destroy(&ca);
    if (load_tls(s, cfg, err, err_size) != 0) {
        lp_http_server_free(s);
        return LP_HTTP_ETLS;
    }
    s->max_body = cfg->max_body ? cfg->max_body : 65536;
    s->max_conn = cfg->max_connections ? cfg->max_connections : 1024;
    s->idle_s = cfg->idle_timeout_s ? cfg->idle_timeout_s : 120;
    s->head_s = cfg->head_timeout_s ? cfg->head_timeout_s : 5;
    s->per_ip = cfg->max_per_ip ? cfg->max_per_ip : 128;
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

void lp_http_reply_upgrade(lp_http_req *r, const char *protocol, lp_http_upgrade_fn fn, void *user) {
    if (r->replied) return;
    if (!fn || !protocol || !*protocol) {
        lp_http_reply_error(r, WIRE_INTERNAL, NULL, "no protocol to upgrade to");
        return;
    }
    set_reply(r, 101, "", NULL, 0);
    r->up_fn = fn;
    r->up_user = user;
    lp_http_add_header(r, MHD_HTTP_HEADER_UPGRADE, protocol);
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
    if (r->json) { /* parsed before the handler ran: hand it over */
        json_t *j = r->json;
        r->json = NULL;
        return j;
    }
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
    /* (not strchr: it would take a NUL byte for whitespace) */
    while (i < r->body_len &&
           (r->body[i] == ' ' || r->body[i] == '\t' || r->body[i] == '\r' || r->body[i] == '\n'))
        i++;
    if (i == r->body_len) return json_object();
    json_error_t je;
    if (memchr(r->body, 0, r->body_len)) {
        lp_http_reply_error(r, WIRE_INVALID, "send a JSON object (UTF-8 text without NUL bytes)",
                            "request body holds a NUL byte at offset %zu; it is not JSON",
                            (size_t)((const char *)memchr(r->body, 0, r->body_len) - r->body));
        return NULL;
    }
    json_t *j = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        lp_http_reply_error(r, WIRE_INVALID, NULL, "request body is not valid JSON: %s (line %d, column %d)",
                            je.text, je.line, je.column);
        return NULL;
    }
    if (!json_is_object(j)) {
        const char *what = json_is_array(j)    ? "an array"
                           : json_is_string(j) ? "a string"
                           : json_is_null(j)   ? "null"
                                               : "a number or boolean";
        json_decref(j);
        lp_http_reply_error(r, WIRE_INVALID, "send a JSON object, e.g. {}",
                            "request body must be a JSON object, not %s", what);
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

static void on_upgrade(void *cls, struct MHD_Connection *c, void *con_cls, const char *extra_in,
                       size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh);

static struct MHD_Response *make_response(lp_http_req *q) {
    if (q->up_fn) return MHD_create_response_for_upgrade(on_upgrade, q->s);
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
    if (!q->up_fn)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, q->ctype); /* 101: MHD adds Connection */
    for (int i = 0; i < q->nhdr; i++)
        MHD_add_response_header(resp, q->hdr_name[i], q->hdr_val[i]);
    enum MHD_Result ok = MHD_queue_response(q->c, (unsigned)q->status, resp);
    q->queued = 1;
    MHD_destroy_response(resp);
    int64_t dur = lp_mono_ns() - q->start_ns;
    lp_log(LP_LOG_DEBUG, "%s %s %s -> %d (%.3f ms)", q->s->log_name, q->method, q->path, q->status,
           (double)dur / 1e6);
    if (q->s->obs) q->s->obs(q->rt ? q->rt->pattern : "-", q->method, q->status, dur, q->s->obs_user);
    return ok;
}

/* ---- request checks ---- */
typedef struct hdr_scan {
    const char *prev_end; /* where the previous header's value ended */
    int bad;
    const char *bad_name;
} hdr_scan;

/* libmicrohttpd (0.9.x) splits the head in place and hands out C strings, so a NUL byte inside a
 * header value silently cuts it. The values lie in the order received, each followed by its line
 * end (CR LF or LF turned into NULs) and then the next header's name: anything else between one
 * value's end and the next name (ignoring trailing blanks) means the value held a NUL byte (or was
 * folded over lines, which RFC 9112 lets a server refuse with 400 too). */
static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind, const char *key, size_t ks,
                                   const char *val, size_t vs) {
    (void)kind;
    (void)ks;
    hdr_scan *h = cls;
    if (h->prev_end) {
        const char *p = h->prev_end;
        while (p < key && (*p == ' ' || *p == '\t'))
            p++;
        size_t gap = key > p ? (size_t)(key - p) : 0;
        if (key <= p || gap > 2 || p[0] != 0 || (gap == 2 && p[1] != 0)) {
            h->bad = 1;
            return MHD_NO;
        }
    }
    h->bad_name = key;
    h->prev_end = val ? val + vs : key + ks;
    return MHD_YES;
}

static int header_has_nul(struct MHD_Connection *c, const char **name) {
    hdr_scan h = {0};
    MHD_get_connection_values_n(c, MHD_HEADER_KIND, scan_header, &h);
    if (!h.bad && h.prev_end) {
        /* the last value: its line end, then the empty line's, all NULs */
        const char *p = h.prev_end;
        while (*p == ' ' || *p == '\t')
            p++;
        if (p[0] != 0 || p[1] != 0) h.bad = 1;
    }
    *name = h.bad_name ? h.bad_name : "?";
    return h.bad;
}

/* Refuses, before routing, a request whose path or header values hold a NUL byte or whose framing is
 * ambiguous (request smuggling behind a proxy). Returns 0, or -1 after replying. */
static int check_request(lp_http_req *q, const char *url, const char *version) {
    struct MHD_Connection *c = q->c;
    /* The URI as received spans url .. the space before the version; the URI logger saw its length
     * up to the first NUL. */
    if (q->uri_logged && version && *version && version > url && (size_t)(version - url) < (1u << 20) &&
        q->raw_uri_len != (size_t)(version - url - 1)) {
        lp_http_add_header(q, MHD_HTTP_HEADER_CONNECTION, "close");
        lp_http_reply_error(q, WIRE_INVALID, "percent-encode the byte as %00 if it is meant",
                            "the request path holds a NUL byte (after \"%.64s\")", url);
        return -1;
    }
    const char *name;
    if (header_has_nul(c, &name)) {
        lp_http_add_header(q, MHD_HTTP_HEADER_CONNECTION, "close");
        lp_http_reply_error(q, WIRE_INVALID, "header values are text without NUL bytes or line folding",
                            "a request header holds a NUL byte or is folded over lines (at or after %.64s)",
                            name);
        return -1;
    }
    const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (te && cl) {
        lp_http_add_header(q, MHD_HTTP_HEADER_CONNECTION, "close");
        lp_http_reply_error(q, WIRE_INVALID, "send either Content-Length or Transfer-Encoding: chunked",
                            "the request has both Content-Length (%.32s) and Transfer-Encoding (%.32s); "
                            "its length is ambiguous",
                            cl, te);
        return -1;
    }
    if (te && strcasecmp(te, "chunked") != 0) {
        lp_http_add_header(q, MHD_HTTP_HEADER_CONNECTION, "close");
        lp_http_reply_error(q, WIRE_INVALID, "send Transfer-Encoding: chunked or a Content-Length",
                            "Transfer-Encoding %.64s is not supported (only chunked)", te);
        return -1;
    }
    return 0;
}

/* libmicrohttpd's URI logger runs once the request line is in, before the URI is split and decoded
 * in place: the request context starts here, with the URI's length up to any NUL. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c) {
    (void)cls;
    (void)c;
    lp_http_req *q = calloc(1, sizeof *q);
    if (!q) return NULL;
    q->start_ns = lp_mono_ns();
    q->raw_uri_len = strlen(uri);
    q->uri_logged = 1;
    return q;
}

/* ---- connection guard ---- */
static void conn_unlist(lp_http_server *s, conn_track *t);

static conn_track *conn_of(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* Drops a connection: its thread sees the socket end and closes it. Under cmu, on a listed one. */
static void guard_drop(lp_http_server *s, conn_track *t) {
    (void)shutdown(t->fd, SHUT_RDWR);
    t->state = CT_DROPPED;
    s->ndropped++;
}

/* The head is in: the connection is busy until its answer is done. Returns -1 when it was dropped. */
static int guard_head_done(lp_http_server *s, lp_http_req *q, struct MHD_Connection *c) {
    conn_track *t = conn_of(c);
    if (!t) return 0;
    const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    int rc = 0;
    pthread_mutex_lock(&s->cmu);
    if (t->state == CT_DROPPED) {
        rc = -1;
    } else {
        t->state = CT_BUSY;
        t->since_ns = lp_mono_ns();
        t->in_body = te != NULL;
        __atomic_store_n(&t->last_data_ns, t->since_ns, __ATOMIC_RELAXED);
        q->ct = t;
    }
    pthread_mutex_unlock(&s->cmu);
    return rc;
}

/* The body is in. Returns -1 when the guard has already answered (a stalled body). */
static int guard_body_done(lp_http_server *s, lp_http_req *q) {
    if (!q->ct) return 0;
    pthread_mutex_lock(&s->cmu);
    int rc = q->ct->state == CT_DROPPED ? -1 : 0;
    q->ct->in_body = 0;
    pthread_mutex_unlock(&s->cmu);
    return rc;
}

/* The request is over: the connection now waits for the next head (keep-alive). */
static void guard_request_done(lp_http_server *s, lp_http_req *q) {
    if (!q->ct) return;
    pthread_mutex_lock(&s->cmu);
    if (q->ct->state != CT_DROPPED && q->ct->state != CT_UPGRADED) {
        q->ct->state = CT_IDLE;
        q->ct->in_body = 0;
        q->ct->since_ns = lp_mono_ns();
    }
    pthread_mutex_unlock(&s->cmu);
    q->ct = NULL;
}

/* Writes a whole JSON error answer (lp_http_error_body) on a socket that no libmicrohttpd thread is
 * writing to: the gate's own before the hand-over, or one whose thread is blocked reading. Small
 * enough for the socket's buffer: never blocks. */
static void answer_raw(int fd, int status, const char *code, const char *msg, const char *hint) {
    json_t *b = lp_http_error_body(code, msg, hint);
    char *text = b ? json_dumps(b, JSON_COMPACT) : NULL;
    json_decref(b);
    if (!text) return;
    const char *reason = MHD_get_reason_phrase_for((unsigned)status);
    char head[256];
    int hn = snprintf(head, sizeof head,
                      "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nConnection: close\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      status, reason && *reason ? reason : "Error", strlen(text));
    (void)send(fd, head, (size_t)hn, MSG_NOSIGNAL | MSG_DONTWAIT | MSG_MORE);
    (void)send(fd, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT);
    free(text);
}

/* Answers a stalled chunked body itself (libmicrohttpd would wait for the rest until its idle
 * timeout and then close without a word): the connection's thread is blocked reading, so the answer
 * can be written on the socket directly, before the socket is shut. Plain HTTP only. */
static void guard_answer_stall(lp_http_server *s, conn_track *t, int64_t stalled_ns) {
    if (s->tls_cert) return;
    char msg[256];
    snprintf(msg, sizeof msg,
             "the chunked request body stalled: no byte for %lld s while more was announced (a chunk "
             "size larger than the data sent?)",
             (long long)(stalled_ns / 1000000000));
    answer_raw(t->fd, 400, WIRE_INVALID, msg, "send chunk sizes that match the data, or a Content-Length");
}

static void *guard_main(void *arg) {
    lp_http_server *s = arg;
    int64_t head_ns = (int64_t)s->head_s * 1000000000, idle_ns = (int64_t)s->idle_s * 1000000000;
    int64_t stall_ns = 2 * head_ns;
    pthread_mutex_lock(&s->cmu);
    while (!s->wd_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 200 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&s->ccv, &s->cmu, &ts);
        int64_t now = lp_mono_ns();
        for (conn_track *t = s->conns, *next; t; t = next) {
            next = t->next;
            if (t->where == W_HANDING) {
                /* libmicrohttpd closes a socket it cannot take without telling: forget it (never
                 * shut: its number may be another connection's by now) */
                if (now - t->since_ns > head_ns + 5000000000ll) {
                    lp_log(LP_LOG_WARN,
                           "%s: libmicrohttpd did not take a connection handed to it; forgetting it",
                           s->log_name);
                    conn_unlist(s, t);
                    free(t);
                }
                continue;
            }
            if (t->state == CT_HEAD && now - t->since_ns > head_ns) {
                lp_log(LP_LOG_DEBUG, "%s: dropping a connection that sent no complete request head in %u s",
                       s->log_name, s->head_s);
                guard_drop(s, t);
            } else if (t->state == CT_IDLE && now - t->since_ns > idle_ns) {
                guard_drop(s, t);
            } else if (t->state == CT_BUSY && t->in_body &&
                       now - __atomic_load_n(&t->last_data_ns, __ATOMIC_RELAXED) > stall_ns) {
                lp_log(LP_LOG_INFO, "%s: a chunked request body stalled; answering 400 and closing",
                       s->log_name);
                guard_answer_stall(s, t, now - __atomic_load_n(&t->last_data_ns, __ATOMIC_RELAXED));
                guard_drop(s, t);
            }
        }
        /* libmicrohttpd (0.9.75) does not pass a TLS client's close on to the upgraded socket:
         * shut it, so that the upgrade function sees the end (plain sockets see it themselves) */
        for (upgraded *u = s->ups; u; u = u->next) {
            struct pollfd p = {u->tcp_fd, POLLRDHUP, 0};
            if (u->tcp_fd >= 0 && !u->gone && poll(&p, 1, 0) > 0 &&
                (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
                u->gone = 1;
                (void)shutdown(u->fd, SHUT_RDWR);
            }
        }
    }
    pthread_mutex_unlock(&s->cmu);
    return NULL;
}

/* Lists a new connection (under cmu). Returns 0, or -1 when its address already holds max_per_ip
 * connections. When the server is full, the oldest connection that has sent no head yet (else the
 * oldest idle keep-alive one) makes room. */
static int conn_admit(lp_http_server *s, conn_track *t) {
    unsigned same = 0;
    for (conn_track *x = s->conns; x; x = x->next)
        if (x->state != CT_DROPPED && x->addr_len == t->addr_len && x->addr.ss_family == t->addr.ss_family &&
            (t->addr.ss_family == AF_INET6
                 ? !memcmp(&((struct sockaddr_in6 *)&x->addr)->sin6_addr,
                           &((struct sockaddr_in6 *)&t->addr)->sin6_addr, sizeof(struct in6_addr))
                 : !memcmp(&((struct sockaddr_in *)&x->addr)->sin_addr,
                           &((struct sockaddr_in *)&t->addr)->sin_addr, sizeof(struct in_addr))))
            same++;
    if (same >= s->per_ip) return -1;
    t->next = s->conns;
    if (s->conns) s->conns->prev = t;
    s->conns = t;
    s->nconn++;
    if (s->nconn - s->ndropped > s->max_conn) {
        conn_track *victim = NULL;
        for (int want = CT_HEAD; !victim && want <= CT_IDLE; want += CT_IDLE - CT_HEAD)
            for (conn_track *x = t->next; x; x = x->next)
                if (x->state == want && x->where != W_HANDING && (!victim || x->since_ns < victim->since_ns))
                    victim = x;
        if (!victim) victim = t; /* every other one is busy: refuse the newcomer */
        lp_log(LP_LOG_DEBUG, "%s: %u connections open; dropping the oldest %s", s->log_name,
               s->nconn - s->ndropped,
               victim == t                ? "(the new one: all others are busy)"
               : victim->state == CT_HEAD ? "one without a request head"
                                          : "idle one");
        guard_drop(s, victim);
    }
    return 0;
}

/* Unlists a connection (under cmu); the caller frees it. */
static void conn_unlist(lp_http_server *s, conn_track *t) {
    if (t->prev)
        t->prev->next = t->next;
    else
        s->conns = t->next;
    if (t->next) t->next->prev = t->prev;
    t->prev = t->next = NULL;
    s->nconn--;
    if (t->state == CT_DROPPED) s->ndropped--;
}

/* libmicrohttpd has taken a socket the gate handed over: its track becomes the socket context. */
static void guard_connect(lp_http_server *s, struct MHD_Connection *c, void **socket_context) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    conn_track *t = NULL;
    pthread_mutex_lock(&s->cmu);
    /* newest first: a number reused after a lost hand-over matches its newest connection */
    for (conn_track *x = s->conns; ci && x && !t; x = x->next)
        if (x->where == W_HANDING && x->fd == ci->connect_fd) t = x;
    if (t) t->where = W_MHD;
    pthread_mutex_unlock(&s->cmu);
    *socket_context = t;
}

static void guard_disconnect(lp_http_server *s, void **socket_context) {
    conn_track *t = *socket_context;
    if (!t) return;
    *socket_context = NULL;
    pthread_mutex_lock(&s->cmu);
    conn_unlist(s, t);
    pthread_mutex_unlock(&s->cmu);
    free(t);
}

/* ---- the gate: the accept loop and the first request head of each connection ---- */

/* Unlists and closes a connection the gate owns (unlisted first: the guard never shuts a number
 * that close() has freed). */
static void gate_close(lp_http_server *s, conn_track *t) {
    pthread_mutex_lock(&s->cmu);
    conn_unlist(s, t);
    pthread_mutex_unlock(&s->cmu);
    close(t->fd);
    free(t);
}

/* A good first head: the socket goes to libmicrohttpd, which reads the head again. */
static void gate_hand_over(lp_http_server *s, conn_track *t) {
    if (t->lowat) {
        int one = 1;
        (void)setsockopt(t->fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
        t->lowat = 0;
    }
    pthread_mutex_lock(&s->cmu);
    int dropped = t->state == CT_DROPPED;
    if (!dropped) {
        t->where = W_HANDING;
        t->since_ns = lp_mono_ns();
    }
    pthread_mutex_unlock(&s->cmu);
    if (dropped) { /* evicted meanwhile */
        gate_close(s, t);
        return;
    }
    if (MHD_add_connection(s->d, t->fd, (struct sockaddr *)&t->addr, t->addr_len) == MHD_YES) return;
    /* libmicrohttpd closed the socket; its track is gone too if it saw the connection at all */
    lp_log(LP_LOG_WARN, "%s: libmicrohttpd refused a connection: %s", s->log_name, strerror(errno));
    pthread_mutex_lock(&s->cmu);
    conn_track *x = s->conns;
    while (x && x != t)
        x = x->next;
    if (x && x->where == W_HANDING)
        conn_unlist(s, x);
    else
        x = NULL;
    pthread_mutex_unlock(&s->cmu);
    free(x);
}

/* Accepts what is waiting. Returns 0, or -1 when out of descriptors or memory (pause accepting). */
static int gate_accept(lp_http_server *s) {
    for (int k = 0; k < 64; k++) {
        conn_track *t = calloc(1, sizeof *t);
        if (!t) return -1;
        t->addr_len = sizeof t->addr;
        int fd = accept4(s->lfd, (struct sockaddr *)&t->addr, &t->addr_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            free(t);
            if (e == EINTR || e == ECONNABORTED) continue;
            if (e == EAGAIN || e == EWOULDBLOCK) return 0;
            lp_log(LP_LOG_WARN, "%s: cannot accept a connection: %s", s->log_name, strerror(e));
            return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM ? -1 : 0;
        }
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        t->fd = fd;
        t->state = CT_HEAD;
        t->where = W_GATE;
        t->since_ns = lp_mono_ns();
        pthread_mutex_lock(&s->cmu);
        int refused = conn_admit(s, t);
        pthread_mutex_unlock(&s->cmu);
        if (refused) {
            lp_log(LP_LOG_DEBUG, "%s: refusing a connection: its address holds %u already", s->log_name,
                   s->per_ip);
            close(fd);
            free(t);
            continue;
        }
        if (s->tls_cert) { /* encrypted: libmicrohttpd reads and checks it */
            gate_hand_over(s, t);
            continue;
        }
        if (s->npend == s->pend_cap) {
            size_t cap = s->pend_cap ? 2 * s->pend_cap : 64;
            conn_track **np = realloc(s->pend, cap * sizeof *np);
            if (!np) {
                gate_close(s, t);
                return -1;
            }
            s->pend = np;
            s->pend_cap = cap;
        }
        t->next_peek_ns = t->since_ns;
        s->pend[s->npend++] = t;
    }
    return 0;
}

/* Looks at what a pending connection has sent. Returns 1 while the gate keeps it, 0 when it is gone
 * (closed, or handed over). */
static int gate_serve(lp_http_server *s, conn_track *t, short revents, char *buf, size_t cap) {
    if (t->answered) { /* read and drop what the client still sends, so that it sees the answer */
        for (;;) {
            ssize_t k = recv(t->fd, buf, cap, 0);
            if (k > 0 && (t->drained += (size_t)k) < (1u << 20)) continue;
            if (k < 0 && (errno == EAGAIN || errno == EINTR)) return 1;
            gate_close(s, t);
            return 0;
        }
    }
    ssize_t k = recv(t->fd, buf, cap, MSG_PEEK);
    if (k < 0 && (errno == EAGAIN || errno == EINTR)) return 1;
    if (k <= 0) { /* the client left, or the guard dropped the connection */
        gate_close(s, t);
        return 0;
    }
    lp_http_head_verdict v;
    int rc = lp_http_head_check(buf, (size_t)k, s->head_max, (revents & (POLLRDHUP | POLLHUP)) != 0, &v);
    int64_t now = lp_mono_ns();
    /* A chunked body's first chunk size is looked at too (an absurd one is refused at once): a
     * client that sent the head alone gets a moment to send it. Our own clients never send chunked
     * bodies; one that waits for "100 Continue" is not kept waiting. */
    if (rc == LP_HEAD_OK && v.chunk_pending && !t->hand_by_ns) t->hand_by_ns = now + LP_HTTP_CHUNK_WAIT_NS;
    if (rc == LP_HEAD_OK && (!v.chunk_pending || now >= t->hand_by_ns)) {
        gate_hand_over(s, t);
        return 0;
    }
    if (rc == LP_HEAD_BAD) {
        lp_log(LP_LOG_INFO, "%s: refusing a request head (%d %s): %s", s->log_name, v.status, v.code,
               v.message);
        answer_raw(t->fd, v.status, v.code, v.message, v.hint);
        (void)shutdown(t->fd, SHUT_WR);
        t->answered = 1;
        t->next_peek_ns = now;
        if (t->lowat) {
            int one = 1;
            (void)setsockopt(t->fd, SOL_SOCKET, SO_RCVLOWAT, &one, sizeof one);
            t->lowat = 0;
        }
        if (s->obs) s->obs("-", "-", v.status, now - t->since_ns, s->obs_user);
        return 1;
    }
    /* Incomplete: look again once more bytes are in (SO_RCVLOWAT), and not at once (a head sent a
     * byte at a time is not copied again per byte). The head deadline ends it (or hand_by_ns). */
    t->backoff_ms = t->backoff_ms ? (t->backoff_ms * 2 > 50 ? 50 : t->backoff_ms * 2) : 1;
    t->next_peek_ns = now + (int64_t)t->backoff_ms * 1000000;
    int lowat = (int)k + 1;
    if (setsockopt(t->fd, SOL_SOCKET, SO_RCVLOWAT, &lowat, sizeof lowat) == 0) t->lowat = 1;
    return 1;
}

static void *gate_main(void *arg) {
    lp_http_server *s = arg;
    size_t cap = s->head_max + 64; /* the head, and the first chunk size after it */
    char *buf = malloc(cap);
    struct pollfd *pfd = NULL;
    size_t pfd_cap = 0;
    int64_t accept_again_ns = 0;
    while (buf && !__atomic_load_n(&s->gate_stop, __ATOMIC_ACQUIRE)) {
        if (pfd_cap < s->npend + 2) {
            size_t c = (s->npend + 2) * 2;
            struct pollfd *np = realloc(pfd, c * sizeof *np);
            if (!np) {
                usleep(10000);
                continue;
            }
            pfd = np;
            pfd_cap = c;
        }
        int64_t now = lp_mono_ns();
        int64_t wait_ns = 1000000000;
        pfd[0] = (struct pollfd){s->wake[0], POLLIN, 0};
        pfd[1] = (struct pollfd){now >= accept_again_ns ? s->lfd : -1, POLLIN, 0};
        if (now < accept_again_ns && accept_again_ns - now < wait_ns) wait_ns = accept_again_ns - now;
        size_t n = s->npend;
        for (size_t i = 0; i < n; i++) {
            conn_track *t = s->pend[i];
            int ready = t->next_peek_ns <= now;
            pfd[2 + i] = (struct pollfd){ready ? t->fd : -1, POLLIN | POLLRDHUP, 0};
            if (!ready && t->next_peek_ns - now < wait_ns) wait_ns = t->next_peek_ns - now;
            if (t->hand_by_ns && t->hand_by_ns - now < wait_ns)
                wait_ns = t->hand_by_ns > now ? t->hand_by_ns - now : 0;
        }
        int rc = poll(pfd, 2 + n, (int)(wait_ns / 1000000) + 1);
        if (rc < 0 && errno != EINTR) {
            lp_log(LP_LOG_ERROR, "%s: the accept loop cannot poll: %s", s->log_name, strerror(errno));
            usleep(10000);
            continue;
        }
        if (rc < 0) continue;
        if (pfd[0].revents) {
            char b[64];
            while (read(s->wake[0], b, sizeof b) > 0) {
            }
        }
        now = lp_mono_ns();
        for (size_t i = 0; i < n; i++) {
            conn_track *t = s->pend[i];
            if (pfd[2 + i].revents) {
                if (!gate_serve(s, t, pfd[2 + i].revents, buf, cap)) s->pend[i] = NULL;
            } else if (t->hand_by_ns && now >= t->hand_by_ns && !t->answered) {
                gate_hand_over(s, t); /* no chunk size came in time: libmicrohttpd reads on */
                s->pend[i] = NULL;
            }
        }
        size_t kept = 0; /* the served ones that are gone leave the list; new ones come after */
        for (size_t i = 0; i < s->npend; i++)
            if (s->pend[i]) s->pend[kept++] = s->pend[i];
        s->npend = kept;
        if ((pfd[1].revents & POLLIN) && gate_accept(s) != 0) accept_again_ns = lp_mono_ns() + 100000000;
    }
    for (size_t i = 0; i < s->npend; i++)
        gate_close(s, s->pend[i]);
    s->npend = 0;
    free(pfd);
    free(buf);
    return NULL;
}

/* ---- upgraded connections ---- */
static void *upgraded_main(void *arg) {
    upgraded *u = arg;
    lp_http_server *s = u->s;
    u->fn(u->fd, u->extra, u->extra_len, u->user);
    /* unlisted before its sockets close, so that nobody shuts a socket number reused meanwhile */
    pthread_mutex_lock(&s->cmu);
    if (u->prev)
        u->prev->next = u->next;
    else
        s->ups = u->next;
    if (u->next) u->next->prev = u->prev;
    pthread_mutex_unlock(&s->cmu);
    /* closes the socket (libmicrohttpd's own: never close() it here) before the server may stop */
    MHD_upgrade_action(u->urh, MHD_UPGRADE_ACTION_CLOSE);
    pthread_mutex_lock(&s->cmu);
    s->nups--;
    pthread_cond_broadcast(&s->ucv);
    pthread_mutex_unlock(&s->cmu);
    free(u->extra);
    free(u);
    return NULL;
}

/* libmicrohttpd has sent the 101: the connection goes to the route's upgrade function on a thread
 * of its own (with TLS this thread then relays between the TLS socket and fd, so it must return). */
static void on_upgrade(void *cls, struct MHD_Connection *c, void *con_cls, const char *extra_in,
                       size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh) {
    lp_http_server *s = cls;
    lp_http_req *q = con_cls;
    upgraded *u = q && q->up_fn ? calloc(1, sizeof *u) : NULL;
    if (u && extra_in_size && !(u->extra = malloc(extra_in_size))) {
        free(u);
        u = NULL;
    }
    if (!u) {
        lp_log(LP_LOG_WARN, "%s: cannot serve an upgraded connection (out of memory); closing it",
               s->log_name);
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        return;
    }
    u->s = s;
    u->urh = urh;
    u->fd = sock;
    u->tcp_fd = -1;
    u->fn = q->up_fn;
    u->user = q->up_user;
    if (extra_in_size) memcpy(u->extra, extra_in, extra_in_size);
    u->extra_len = extra_in_size;
    /* libmicrohttpd's sockets are non-blocking; the upgrade function's thread blocks on its own */
    int fl = fcntl(sock, F_GETFL);
    if (fl != -1 && (fl & O_NONBLOCK)) (void)fcntl(sock, F_SETFL, fl & ~O_NONBLOCK);
    int one = 1;
    /* the client's TCP socket (with TLS, sock is a socketpair's end): no delayed small writes */
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci) (void)setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CORK_OFF);
    pthread_mutex_lock(&s->cmu);
    conn_track *t = conn_of(c);
    if (t && t->state != CT_DROPPED) t->state = CT_UPGRADED; /* busy for its whole life */
    if (t && s->tls_cert) u->tcp_fd = t->fd;
    int stopping = s->ups_stop;
    pthread_attr_t at;
    pthread_t th;
    int ok = !stopping && pthread_attr_init(&at) == 0;
    if (ok) {
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&at, (size_t)(512 * 1024));
        ok = pthread_create(&th, &at, upgraded_main, u) == 0;
        pthread_attr_destroy(&at);
    }
    if (ok) {
        u->next = s->ups;
        if (s->ups) s->ups->prev = u;
        s->ups = u;
        s->nups++;
    }
    pthread_mutex_unlock(&s->cmu);
    if (!ok) {
        if (!stopping)
            lp_log(LP_LOG_WARN, "%s: cannot start a thread for an upgraded connection; closing it",
                   s->log_name);
        MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
        free(u->extra);
        free(u);
    }
}

/* Ends every upgraded connection: their sockets are shut (reads and writes fail at once) and their
 * threads return. libmicrohttpd must not stop before: it refuses to with upgraded connections open. */
static void upgraded_stop_all(lp_http_server *s) {
    pthread_mutex_lock(&s->cmu);
    s->ups_stop = 1;
    for (int64_t t0 = lp_mono_ns(), warned = 0; s->nups;) {
        for (upgraded *u = s->ups; u; u = u->next)
            (void)shutdown(u->fd, SHUT_RDWR);
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&s->ucv, &s->cmu, &ts);
        if (s->nups && !warned && lp_mono_ns() - t0 > 5000000000ll) {
            warned = 1;
            lp_log(LP_LOG_WARN, "%s: waiting for %u upgraded connection(s) to end", s->log_name, s->nups);
        }
    }
    pthread_mutex_unlock(&s->cmu);
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
        q->start_ns = lp_mono_ns();
    }
    if (!q->begun) {
        q->begun = 1;
        q->s = s;
        q->c = c;
        q->method = method;
        q->path = url;
        if (guard_head_done(s, q, c) != 0) return MHD_NO; /* dropped by the guard meanwhile */
        if (check_request(q, url, version) != 0) return send_reply(q);
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
    if (q->queued) { /* answered early (404, 405, 413): discard whatever body arrives */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (q->ct) __atomic_store_n(&q->ct->last_data_ns, lp_mono_ns(), __ATOMIC_RELAXED);
        if (q->rt->body_fn && !q->stream_failed && q->rt->body_fn(q, upload_data, n, q->rt->user) != 0)
            q->stream_failed = 1;
        if ((q->rt->body_fn && q->stream_failed) || q->too_large) {
            /* Refused: the answer waits for the end of the body (read and dropped), so that a client
             * still sending sees it rather than a reset connection; past LP_HTTP_DRAIN_MAX dropped
             * bytes (an endless chunked body), answer now and close. */
            q->drained += n;
            if (q->drained > LP_HTTP_DRAIN_MAX) {
                if (q->too_large)
                    lp_http_reply_error(q, WIRE_TOO_LARGE, NULL,
                                        "request body exceeds the limit of %zu bytes", s->max_body);
                lp_http_add_header(q, MHD_HTTP_HEADER_CONNECTION, "close");
                return send_reply(q);
            }
            return MHD_YES;
        }
        if (q->rt->body_fn) return MHD_YES;
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
    if (guard_body_done(s, q) != 0) return MHD_NO; /* the guard answered a stalled body meanwhile */
    if (!q->too_large && !q->rt->body_fn && q->body_len > 0 && !(q->json = lp_http_json_body(q)))
        return send_reply(q); /* not a JSON object: 400/415 before the handler runs */
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
    guard_request_done(cls, q);
    if (q->ctx_free) q->ctx_free(q->ctx);
    if (q->sfree) q->sfree(q->scls);
    json_decref(q->json);
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
    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        guard_connect(cls, c, socket_context);
    else if (toe == MHD_CONNECTION_NOTIFY_CLOSED)
        guard_disconnect(cls, socket_context);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
    lp_http_server *s = cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = 0;
    lp_log(LP_LOG_DEBUG, "%s: libmicrohttpd: %s", s->log_name, msg);
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

/* The gate's listening socket, as libmicrohttpd would make it (SO_REUSEADDR, IPv6 only on a v6
 * address). Returns 0, or -1 with a message. */
static int open_listener(lp_http_server *s, const struct sockaddr_storage *ss, socklen_t sl, char *err,
                         size_t en) {
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) {
        (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (ss->ss_family == AF_INET6) (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    }
    struct sockaddr_storage bound;
    socklen_t bl = sizeof bound;
    if (fd < 0 || bind(fd, (const struct sockaddr *)ss, sl) != 0 || listen(fd, SOMAXCONN) != 0 ||
        getsockname(fd, (struct sockaddr *)&bound, &bl) != 0) {
        lp_set_err(err, en, "cannot listen on %s: %s", s->listen, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);
    s->lfd = fd;
    return 0;
}

/* Stops accepting and closes the connections that have not reached libmicrohttpd. */
static void gate_stop(lp_http_server *s) {
    if (s->gate_started) {
        __atomic_store_n(&s->gate_stop, 1, __ATOMIC_RELEASE);
        (void)!write(s->wake[1], "x", 1);
        pthread_join(s->gate, NULL);
        s->gate_started = 0;
    }
    free(s->pend);
    s->pend = NULL;
    for (int i = 0; i < 2; i++)
        if (s->wake[i] >= 0) close(s->wake[i]);
    s->wake[0] = s->wake[1] = -1;
    if (s->lfd >= 0) close(s->lfd);
    s->lfd = -1;
}

int lp_http_server_start(lp_http_server *s, char *err, size_t err_size) {
    struct sockaddr_storage ss;
    socklen_t sl;
    if (parse_listen(s->listen, &ss, &sl, err, err_size) != 0) return -1;
    /* The server accepts itself (the gate) and hands sockets over: libmicrohttpd listens on nothing */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG | MHD_ALLOW_UPGRADE | MHD_USE_NO_LISTEN_SOCKET;
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    if (s->tls_cert) flags |= MHD_USE_TLS;
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key},
        {MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert},
        {MHD_OPTION_END, 0, NULL},
    };
    /* the longest head the gate passes: what fits in a connection's memory beside the header
     * entries libmicrohttpd keeps for it (LP_HTTP_HEADERS_MAX of them) */
    s->head_max = s->conn_mem >= 49152 ? s->conn_mem / 2 - 8192 : s->conn_mem / 4;
    if (s->head_max > 32768) s->head_max = 32768;
    s->start_log[0] = 0;
    __atomic_store_n(&s->starting, 1, __ATOMIC_RELEASE);
    /* the logger first, so that libmicrohttpd's messages about the options reach it too */
    s->d = MHD_start_daemon(flags, 0, NULL, NULL, on_access, s, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
                            MHD_OPTION_CONNECTION_LIMIT, s->max_conn + s->max_conn / 4 + 16,
                            MHD_OPTION_URI_LOG_CALLBACK, on_uri, s, MHD_OPTION_CONNECTION_TIMEOUT, s->idle_s,
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
        lp_set_err(err, err_size, "cannot start serving %s: libmicrohttpd: %s", s->listen,
                   s->start_log[0] ? s->start_log : "no reason given");
        return -1;
    }
    if (open_listener(s, &ss, sl, err, err_size) != 0) goto fail;
    if (pipe2(s->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        lp_set_err(err, err_size, "cannot start serving %s: pipe: %s", s->listen, strerror(errno));
        goto fail;
    }
    if (pthread_create(&s->gate, NULL, gate_main, s) != 0) {
        lp_set_err(err, err_size, "cannot start the accept thread");
        goto fail;
    }
    s->gate_started = 1;
    if (pthread_create(&s->wd, NULL, guard_main, s) != 0) {
        lp_set_err(err, err_size, "cannot start the connection guard thread");
        goto fail;
    }
    s->wd_started = 1;
    return 0;
fail:
    gate_stop(s);
    MHD_stop_daemon(s->d);
    s->d = NULL;
    s->port = 0;
    return -1;
}

int lp_http_server_port(const lp_http_server *s) { return s && s->d ? s->port : 0; }

int lp_http_server_is_tls(const lp_http_server *s) { return s && s->tls_cert ? 1 : 0; }

void lp_http_server_free(lp_http_server *s) {
    if (!s) return;
    gate_stop(s); /* no new connection reaches libmicrohttpd from here on */
    if (s->d) upgraded_stop_all(s);
    if (s->d) MHD_stop_daemon(s->d);
    if (s->wd_started) {
        pthread_mutex_lock(&s->cmu);
        s->wd_stop = 1;
        pthread_cond_signal(&s->ccv);
        pthread_mutex_unlock(&s->cmu);
        pthread_join(s->wd, NULL);
    }
    while (s->conns) { /* none should be left: the daemon reports every connection closed */
        conn_track *t = s->conns;
        s->conns = t->next;
        free(t);
    }
    pthread_mutex_destroy(&s->cmu);
    pthread_cond_destroy(&s->ccv);
    pthread_cond_destroy(&s->ucv);
    if (s->tls_key) explicit_bzero(s->tls_key, s->tls_key_size);
    free(s->tls_key);
    free(s->tls_cert);
    free(s);
}
