/* http_server.c — the project's HTTP/1.1 server behind http_server.h: the accept loop, one thread
 * per connection, request heads checked by http_head.c and parsed here, Content-Length and chunked
 * bodies (accumulated or streamed), routing, request checks, replies (JSON, bytes, streamed, 101
 * upgrades), the connection guard (head and idle deadlines, per-address and total limits, eviction
 * of idle sockets, stalled bodies) and HTTPS through http_io.c (GnuTLS). Every error answer is the
 * protocol's JSON error body. */
#include "http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "http_head.h"
#include "http_io.h"
#include "log.h"
#include "strutil.h"
#include "wire.h"

#define MAX_ROUTES 64
#define MAX_PARAMS 8
#define MAX_SEGS 16
#define MAX_EXTRA_HEADERS 8
#define MAX_QUERY 32
#define MAX_HEADERS (LP_HTTP_HEADERS_MAX + 1)
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

/* Bodies refused (over the route's limit, or by a streaming route) are read and dropped up to this
 * size before the answer, so that a client still sending sees the answer rather than a reset. */
#define LP_HTTP_DRAIN_MAX (64u << 20)
/* Bytes of a certificate chain or key file: far more than any real one. */
#define PEM_MAX (1u << 20)
/* Bytes of a chunk-size line or a trailer line at most. */
#define CHUNK_LINE_MAX 4096
/* After an answer that closes the connection, what the client still sends is read and dropped for
 * this long (at most LINGER_BYTES), so that it sees the answer rather than a reset. */
#define LINGER_NS (1000 * 1000000ll)
#define LINGER_BYTES (1u << 20)
#define THREAD_STACK (512u * 1024)

/* A connection's state as the guard sees it (under the server's cmu). */
enum { CT_HEAD, CT_BUSY, CT_IDLE, CT_DROPPED, CT_UPGRADED };

/* One accepted connection, owned by its thread from accept to close; listed on the server while
 * its socket is open. */
typedef struct conn {
    struct lp_http_server *s;
    int fd;
    int up_fd;        /* TLS upgrade: the upgrade function's end of the socketpair, else -1 (cmu) */
    int state;        /* CT_*, under cmu */
    int64_t since_ns; /* when the state began (cmu) */
    struct sockaddr_storage addr;
    socklen_t addr_len;
    pthread_t th;
    lp_io io;
    /* received bytes not yet used: in[in_off, in_len) */
    char *in;
    size_t in_cap, in_off, in_len;
    char *hbuf; /* the current request head, split in place */
    struct conn *prev, *next;
} conn;

struct lp_http_server {
    int lfd;
    int wake[2];
    pthread_t acc;
    int acc_started, stop; /* stop: atomic */
    int started;
    size_t head_max;
    unsigned head_s, per_ip;
    pthread_mutex_t cmu;
    pthread_cond_t ccv; /* signalled when a connection is unlisted */
    conn *conns;
    unsigned nconn, ndropped;
    conn *dead; /* connections whose threads are done: joined and freed by the accept loop */
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
    /* HTTPS: the PEM texts (NUL-terminated); NULL for plain HTTP */
    char *tls_cert, *tls_key;
    size_t tls_key_size;
    char tls_cert_path[512], tls_key_path[512];
    lp_tls_creds *creds;
};

struct lp_http_req {
    lp_http_server *s;
    conn *c;
    const char *method, *path;
    int v11;        /* HTTP/1.1 (else 1.0) */
    int head_only;  /* a HEAD request: answers carry no body */
    int close_req;  /* the client asked to close after this request */
    int upgrade_ok; /* the Connection header names upgrade */
    int expect100;  /* the client waits for "100 Continue" before its body */
    int chunked;
    int has_cl;
    uint64_t clen;
    int nh;
    const char *hname[MAX_HEADERS], *hval[MAX_HEADERS];
    int nq;
    const char *qname[MAX_QUERY], *qval[MAX_QUERY];
    const route *rt;
    int nparam;
    const char *pname[MAX_PARAMS];
    char pval[MAX_PARAMS][SEG_MAX];
    lp_buf body; /* at most the server's max_body bytes */
    int too_large;
    int stream_failed;
    uint64_t drained; /* body bytes dropped after the request was refused */
    int64_t start_ns;
    json_t *json; /* the body parsed before a non-streaming handler ran */
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
    if (!s || s->started || s->nroutes >= MAX_ROUTES || !method || !pattern || !fn) return -1;
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
    if (!s->started && bytes >= 4096) s->conn_mem = bytes;
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
    for (int i = 0; i < r->nh; i++)
        if (!strcasecmp(r->hname[i], name)) return r->hval[i];
    return NULL;
}

const char *lp_http_query(const lp_http_req *r, const char *name) {
    for (int i = 0; i < r->nq; i++)
        if (!strcmp(r->qname[i], name)) return r->qval[i];
    return NULL;
}

const char *lp_http_body(const lp_http_req *r, size_t *size) {
    if (size) *size = r->body.len;
    return r->body.p ? r->body.p : "";
}

void lp_http_set_ctx(lp_http_req *r, void *ctx, void (*free_fn)(void *)) {
    r->ctx = ctx;
    r->ctx_free = free_fn;
}
void *lp_http_ctx(const lp_http_req *r) { return r->ctx; }
int lp_http_replied(const lp_http_req *r) { return r->replied; }

int lp_http_client_gone(const lp_http_req *r) {
    struct pollfd p = {r->c->fd, POLLRDHUP, 0};
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
    lp_http_add_header(r, "Upgrade", protocol);
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
    const char *ct = lp_http_header(r, "Content-Type");
    if (r->body.len > 0 && ct && *ct) {
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
    while (i < r->body.len &&
           (r->body.p[i] == ' ' || r->body.p[i] == '\t' || r->body.p[i] == '\r' || r->body.p[i] == '\n'))
        i++;
    if (i == r->body.len) return json_object();
    json_error_t je;
    if (memchr(r->body.p, 0, r->body.len)) {
        lp_http_reply_error(r, WIRE_INVALID, "send a JSON object (UTF-8 text without NUL bytes)",
                            "request body holds a NUL byte at offset %zu; it is not JSON",
                            (size_t)((const char *)memchr(r->body.p, 0, r->body.len) - r->body.p));
        return NULL;
    }
    json_t *j = json_loadb(r->body.p, r->body.len, JSON_REJECT_DUPLICATES, &je);
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

/* ---- the connection guard: states, limits, eviction ---- */

/* Drops a connection: its thread sees the socket end and closes it. Under cmu, on a listed one. */
static void guard_drop(lp_http_server *s, conn *c) {
    (void)shutdown(c->fd, SHUT_RDWR);
    c->state = CT_DROPPED;
    s->ndropped++;
}

/* Moves a connection to state st. Returns -1 when it has been dropped meanwhile. */
static int conn_set_state(conn *c, int st) {
    lp_http_server *s = c->s;
    pthread_mutex_lock(&s->cmu);
    int rc = c->state == CT_DROPPED ? -1 : 0;
    if (!rc && c->state != CT_UPGRADED) {
        c->state = st;
        c->since_ns = lp_mono_ns();
    }
    pthread_mutex_unlock(&s->cmu);
    return rc;
}

static int same_addr(const conn *a, const conn *b) {
    if (a->addr_len != b->addr_len || a->addr.ss_family != b->addr.ss_family) return 0;
    if (a->addr.ss_family == AF_INET6)
        return !memcmp(&((const struct sockaddr_in6 *)&a->addr)->sin6_addr,
                       &((const struct sockaddr_in6 *)&b->addr)->sin6_addr, sizeof(struct in6_addr));
    return !memcmp(&((const struct sockaddr_in *)&a->addr)->sin_addr,
                   &((const struct sockaddr_in *)&b->addr)->sin_addr, sizeof(struct in_addr));
}

/* Lists a new connection (under cmu). Returns 0, or -1 when its address already holds max_per_ip
 * connections. When the server is full, the oldest connection that has sent no head yet (else the
 * oldest idle keep-alive one) makes room. */
static int conn_admit(lp_http_server *s, conn *c) {
    unsigned same = 0;
    for (conn *x = s->conns; x; x = x->next)
        if (x->state != CT_DROPPED && same_addr(x, c)) same++;
    if (same >= s->per_ip) return -1;
    c->next = s->conns;
    if (s->conns) s->conns->prev = c;
    s->conns = c;
    s->nconn++;
    if (s->nconn - s->ndropped > s->max_conn) {
        conn *victim = NULL;
        for (int want = CT_HEAD; !victim && want <= CT_IDLE; want += CT_IDLE - CT_HEAD)
            for (conn *x = c->next; x; x = x->next)
                if (x->state == want && (!victim || x->since_ns < victim->since_ns)) victim = x;
        if (!victim) victim = c; /* every other one is busy: refuse the newcomer */
        lp_log(LP_LOG_DEBUG, "%s: %u connections open; dropping the oldest %s", s->log_name,
               s->nconn - s->ndropped,
               victim == c                ? "(the new one: all others are busy)"
               : victim->state == CT_HEAD ? "one without a request head"
                                          : "idle one");
        guard_drop(s, victim);
    }
    return 0;
}

/* Unlists a connection (under cmu). */
static void conn_unlist(lp_http_server *s, conn *c) {
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    s->nconn--;
    if (c->state == CT_DROPPED) s->ndropped--;
    pthread_cond_broadcast(&s->ccv);
}

/* ---- writing answers ---- */
static const char *reason_phrase(int status) {
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 422:
        return "Unprocessable Content";
    case 426:
        return "Upgrade Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    case 507:
        return "Insufficient Storage";
    default:
        return status < 200   ? "Informational"
               : status < 400 ? "OK"
               : status < 500 ? "Client Error"
                              : "Server Error";
    }
}

/* Half-closes after a closing answer and reads what the client still sends for a moment, so that
 * it sees the answer rather than a reset (unread bytes make the kernel reset the connection). */
static void conn_linger(conn *c) {
    if (c->io.tls) lp_io_end(&c->io);
    (void)shutdown(c->fd, SHUT_WR);
    int64_t until = lp_mono_ns() + LINGER_NS;
    size_t got = 0;
    char buf[4096];
    for (;;) {
        struct pollfd p = {c->fd, POLLIN, 0};
        int64_t left = until - lp_mono_ns();
        if (left <= 0 || got > LINGER_BYTES || poll(&p, 1, (int)(left / 1000000) + 1) <= 0) break;
        ssize_t k = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
        if (k <= 0 && !(k < 0 && (errno == EAGAIN || errno == EINTR))) break;
        if (k > 0) got += (size_t)k;
    }
}

/* Writes a whole JSON error answer that ends the connection (a request head or body the server
 * refuses before any route has a say). */
static void answer_raw(conn *c, int status, const char *code, const char *msg, const char *hint) {
    json_t *b = lp_http_error_body(code, msg, hint);
    char *text = b ? json_dumps(b, JSON_COMPACT) : NULL;
    json_decref(b);
    if (!text) return;
    char head[256];
    int hn = snprintf(head, sizeof head,
                      "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nConnection: close\r\n"
                      "Content-Length: %zu\r\n\r\n",
                      status, reason_phrase(status), strlen(text));
    (void)lp_io_write2(&c->io, head, (size_t)hn, text, strlen(text));
    free(text);
}

/* 1 when the comma-separated header value list holds token (case-insensitive). */
static int has_token(const char *list, const char *token) {
    size_t tl = strlen(token);
    for (const char *p = list; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        size_t n = strcspn(p, ",");
        size_t m = n;
        while (m > 0 && (p[m - 1] == ' ' || p[m - 1] == '\t'))
            m--;
        if (m == tl && !strncasecmp(p, token, tl)) return 1;
        p += n;
    }
    return 0;
}

/* Sends the reply of a request (not an upgrade). Returns 0 when the connection may serve another
 * request, -1 when it must close (asked for, or the write failed). */
static int send_reply(conn *c, lp_http_req *q, int must_close) {
    lp_http_server *s = c->s;
    if (!q->replied) lp_http_reply_error(q, WIRE_INTERNAL, NULL, "the handler gave no answer");
    int64_t dur = lp_mono_ns() - q->start_ns;
    lp_log(LP_LOG_DEBUG, "%s %s %s -> %d (%.3f ms)", s->log_name, q->method, q->path, q->status,
           (double)dur / 1e6);
    if (s->obs) s->obs(q->rt ? q->rt->pattern : "-", q->method, q->status, dur, s->obs_user);
    int closing = must_close || q->close_req || !q->v11;
    int has_conn_hdr = 0;
    size_t need = 256 + strlen(q->ctype);
    for (int i = 0; i < q->nhdr; i++) {
        need += strlen(q->hdr_name[i]) + strlen(q->hdr_val[i]) + 4;
        if (!strcasecmp(q->hdr_name[i], "Connection")) {
            has_conn_hdr = 1;
            if (has_token(q->hdr_val[i], "close")) closing = 1;
        }
    }
    char stackbuf[1024];
    char *head = need <= sizeof stackbuf ? stackbuf : malloc(need);
    if (!head) return -1;
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", gmtime_r(&now, &tm));
    int no_body = q->status == 204 || q->status == 304 || q->status < 200;
    uint64_t size = q->sfn ? q->ssize : q->resp_len;
    size_t hn = (size_t)snprintf(head, need, "HTTP/1.1 %d %s\r\nDate: %s\r\n", q->status,
                                 reason_phrase(q->status), date);
    if (*q->ctype) hn += (size_t)snprintf(head + hn, need - hn, "Content-Type: %s\r\n", q->ctype);
    for (int i = 0; i < q->nhdr; i++)
        hn += (size_t)snprintf(head + hn, need - hn, "%s: %s\r\n", q->hdr_name[i], q->hdr_val[i]);
    if (!no_body)
        hn += (size_t)snprintf(head + hn, need - hn, "Content-Length: %llu\r\n", (unsigned long long)size);
    if (closing && !has_conn_hdr) hn += (size_t)snprintf(head + hn, need - hn, "Connection: close\r\n");
    hn += (size_t)snprintf(head + hn, need - hn, "\r\n");
    int rc = 0;
    if (no_body || q->head_only || !size) {
        rc = lp_io_write2(&c->io, head, hn, NULL, 0);
    } else if (!q->sfn) {
        rc = lp_io_write2(&c->io, head, hn, q->resp, q->resp_len);
    } else {
        /* a streamed body: the producer fills one block at a time, each sent before the next */
        size_t block = q->sblock < size ? q->sblock : (size_t)size;
        char *buf = malloc(block);
        uint64_t pos = 0;
        int first = 1;
        if (!buf) rc = -1;
        while (!rc && pos < size) {
            size_t want = size - pos < block ? (size_t)(size - pos) : block;
            long n = q->sfn(q->scls, pos, buf, want);
            if (n <= 0 || (size_t)n > want) {
                lp_log(LP_LOG_WARN,
                       "%s %s %s: the response body's producer failed at byte %llu of %llu; closing",
                       s->log_name, q->method, q->path, (unsigned long long)pos, (unsigned long long)size);
                rc = -1;
                break;
            }
            rc = first ? lp_io_write2(&c->io, head, hn, buf, (size_t)n)
                       : lp_io_write2(&c->io, buf, (size_t)n, NULL, 0);
            first = 0;
            pos += (uint64_t)n;
        }
        if (first && !rc) rc = lp_io_write2(&c->io, head, hn, NULL, 0);
        free(buf);
    }
    if (head != stackbuf) free(head);
    return rc != 0 || closing ? -1 : 0;
}

/* ---- request heads ---- */

/* Decodes %XX escapes in place (and '+' as a blank when plus). Returns the decoded length. */
static size_t unescape(char *p, int plus) {
    char *w = p;
    for (char *r = p; *r; r++) {
        int hi, lo;
        if (*r == '%' && r[1] && r[2] &&
            (hi = (r[1] >= '0' && r[1] <= '9')               ? r[1] - '0'
                  : (r[1] | 32) >= 'a' && (r[1] | 32) <= 'f' ? (r[1] | 32) - 'a' + 10
                                                             : -1) >= 0 &&
            (lo = (r[2] >= '0' && r[2] <= '9')               ? r[2] - '0'
                  : (r[2] | 32) >= 'a' && (r[2] | 32) <= 'f' ? (r[2] | 32) - 'a' + 10
                                                             : -1) >= 0) {
            *w++ = (char)(hi * 16 + lo);
            r += 2;
        } else {
            *w++ = plus && *r == '+' ? ' ' : *r;
        }
    }
    *w = 0;
    return (size_t)(w - p);
}

/* Splits a checked head (http_head.c has found it well-formed) in place into the request. Returns
 * 0, or -1 with a refusal in *why (a percent-encoded NUL in the path). */
static int parse_head(lp_http_req *q, char *h, size_t n, const char **why) {
    char *end = h + n;
    while (h < end && (*h == '\r' || *h == '\n'))
        h++;
    char *nl = memchr(h, '\n', (size_t)(end - h));
    if (!nl) return -1;
    *nl = 0;
    if (nl > h && nl[-1] == '\r') nl[-1] = 0;
    char *sp1 = strchr(h, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (!sp2) return -1;
    *sp1 = *sp2 = 0;
    q->method = h;
    q->v11 = strcmp(sp2 + 1, "HTTP/1.0") != 0;
    char *target = sp1 + 1;
    char *qs = strchr(target, '?');
    if (qs) *qs++ = 0;
    if (unescape(target, 0) != strlen(target)) {
        *why = "the request path holds a percent-encoded NUL byte (%00)";
        return -1;
    }
    q->path = target;
    for (char *a = qs; a && *a && q->nq < MAX_QUERY;) {
        char *amp = strchr(a, '&');
        if (amp) *amp = 0;
        if (*a) {
            char *eq = strchr(a, '=');
            if (eq) *eq = 0;
            unescape(a, 1);
            if (eq) unescape(eq + 1, 1);
            q->qname[q->nq] = a;
            q->qval[q->nq] = eq ? eq + 1 : NULL;
            q->nq++;
        }
        a = amp ? amp + 1 : NULL;
    }
    for (char *l = nl + 1; l < end && q->nh < MAX_HEADERS;) {
        char *e = memchr(l, '\n', (size_t)(end - l));
        if (!e) break;
        *e = 0;
        if (e > l && e[-1] == '\r') e[-1] = 0;
        if (!*l) break; /* the empty line that ends the head */
        char *colon = strchr(l, ':');
        if (!colon) return -1;
        *colon = 0;
        char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        char *ve = v + strlen(v);
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            *--ve = 0;
        q->hname[q->nh] = l;
        q->hval[q->nh] = v;
        q->nh++;
        l = e + 1;
    }
    return 0;
}

/* Makes room at the end of the input buffer (moving what is unread to its start). */
static void in_compact(conn *c) {
    size_t avail = c->in_len - c->in_off;
    if (c->in_off == 0) return;
    if (avail) memmove(c->in, c->in + c->in_off, avail);
    c->in_off = 0;
    c->in_len = avail;
}

/* Reads more bytes into the input buffer, until deadline_ns. Returns the count or LP_IO_*. */
static long in_fill(conn *c, int64_t deadline_ns) {
    if (c->in_off == c->in_len) c->in_off = c->in_len = 0;
    if (c->in_len == c->in_cap) in_compact(c);
    if (c->in_len == c->in_cap) return LP_IO_ERR;
    long k = lp_io_read(&c->io, c->in + c->in_len, c->in_cap - c->in_len, deadline_ns);
    if (k > 0) c->in_len += (size_t)k;
    return k;
}

/* Reads until a complete head is in. Returns LP_HEAD_OK, LP_HEAD_BAD (v says why), or LP_HEAD_MORE
 * when the connection ends without one (closed, dropped, past the deadline). */
static int read_head(conn *c, int64_t deadline_ns, lp_http_head_verdict *v, int64_t *first_ns) {
    size_t scanned = 0;
    int eof = 0;
    for (;;) {
        size_t avail = c->in_len - c->in_off;
        if (avail) {
            if (!*first_ns) *first_ns = lp_mono_ns();
            /* looked at again when a line has ended (a head sent a byte at a time is not re-read per
             * byte), at the size limit, or at the end */
            if (eof || !scanned || avail >= c->s->head_max ||
                memchr(c->in + c->in_off + scanned, '\n', avail - scanned)) {
                int rc = lp_http_head_check(c->in + c->in_off, avail, c->s->head_max, eof, v);
                if (rc != LP_HEAD_MORE) return rc;
            }
            scanned = avail;
        }
        if (eof) return LP_HEAD_MORE;
        if (c->in_len == c->in_cap) in_compact(c);
        long k = in_fill(c, deadline_ns);
        if (k == LP_IO_EOF)
            eof = 1;
        else if (k < 0)
            return LP_HEAD_MORE;
    }
}

/* ---- request bodies ---- */
enum { BODY_DONE = 0, BODY_CLOSE = -1, BODY_GONE = -2 };

/* One piece of the body. Returns 0 to go on, or BODY_CLOSE when the request was refused and more
 * than LP_HTTP_DRAIN_MAX bytes have been dropped since (answer now and close). */
static int deliver(lp_http_req *q, const char *data, size_t n) {
    lp_http_server *s = q->s;
    if (q->replied || q->too_large || (q->rt && q->rt->body_fn && q->stream_failed)) {
        q->drained += n;
        if (q->drained <= LP_HTTP_DRAIN_MAX) return 0;
        if (q->too_large)
            lp_http_reply_error(q, WIRE_TOO_LARGE, NULL, "request body exceeds the limit of %zu bytes",
                                s->max_body);
        return BODY_CLOSE;
    }
    if (q->rt->body_fn) {
        if (q->rt->body_fn(q, data, n, q->rt->user) != 0) q->stream_failed = 1;
        return 0;
    }
    int rc = lp_buf_append(&q->body, data, n, s->max_body);
    if (rc == LP_BUF_FULL) {
        q->too_large = 1; /* chunked body without Content-Length: discard the rest */
        q->drained += n;
    } else if (rc != LP_BUF_OK) {
        q->too_large = 1;
    }
    return 0;
}

/* Forgets the reply set so far (a later error answer replaces it). */
static void reply_reset(lp_http_req *q) {
    q->replied = 0;
    free(q->resp);
    q->resp = NULL;
    if (q->sfree) q->sfree(q->scls);
    q->sfn = NULL;
    q->sfree = NULL;
    q->up_fn = NULL;
}

/* A body that stopped coming: answered 400 (JSON), then the connection closes. */
static int body_stalled(conn *c, lp_http_req *q, int64_t stalled_ns, uint64_t left) {
    lp_log(LP_LOG_INFO, "%s: a %s request body stalled; answering 400 and closing", c->s->log_name,
           q->chunked ? "chunked" : "Content-Length");
    reply_reset(q); /* this answer wins over an earlier refusal: the request ends here */
    if (q->chunked)
        lp_http_reply_error(
            q, WIRE_INVALID, "send chunk sizes that match the data, or a Content-Length",
            "the chunked request body stalled: no byte for %lld s while more was announced (a "
            "chunk size larger than the data sent?)",
            (long long)(stalled_ns / 1000000000));
    else
        lp_http_reply_error(
            q, WIRE_INVALID, "send as many body bytes as the Content-Length announces",
            "the request body stalled: no byte for %lld s while %llu of %llu bytes were still "
            "to come",
            (long long)(stalled_ns / 1000000000), (unsigned long long)left, (unsigned long long)q->clen);
    return BODY_CLOSE;
}

/* A chunked body the server cannot read on: answered (status, JSON), then the connection closes. */
static int body_bad(lp_http_req *q, int status, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int body_bad(lp_http_req *q, int status, const char *hint, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    reply_reset(q);
    lp_http_reply_json_take(q, status,
                            lp_http_error_body(status == 400 ? WIRE_INVALID : WIRE_TOO_LARGE, msg, hint));
    return BODY_CLOSE;
}

/* Reads the next n bytes of the body and hands them on (deliver); wait_ns: the longest time
 * without a byte before the body counts as stalled. Returns a BODY_* code. */
static int body_take(conn *c, lp_http_req *q, uint64_t n, int64_t wait_ns) {
    while (n) {
        size_t avail = c->in_len - c->in_off;
        if (!avail) {
            long k = in_fill(c, lp_mono_ns() + wait_ns);
            if (k == LP_IO_TIMEOUT) return body_stalled(c, q, wait_ns, n);
            if (k <= 0) return BODY_GONE;
            continue;
        }
        size_t take = avail < n ? avail : (size_t)n;
        const char *p = c->in + c->in_off;
        c->in_off += take;
        n -= take;
        if (deliver(q, p, take) != 0) return BODY_CLOSE;
    }
    return BODY_DONE;
}

/* Reads one line (chunk size or trailer) of at most CHUNK_LINE_MAX bytes: *line points at it in the
 * input buffer (its end not included). Returns 1, or a BODY_* code (answered when one is due). */
static int chunk_line(conn *c, lp_http_req *q, int64_t stall_ns, char **line, size_t *len) {
    for (;;) {
        size_t avail = c->in_len - c->in_off;
        char *p = c->in + c->in_off;
        char *nl = avail ? memchr(p, '\n', avail) : NULL;
        if (nl) {
            *line = p;
            *len = (size_t)(nl - p);
            if (*len && p[*len - 1] == '\r') (*len)--;
            c->in_off += (size_t)(nl - p) + 1;
            return 1;
        }
        if (avail > CHUNK_LINE_MAX)
            return body_bad(q, 400, "send chunk sizes as hexadecimal numbers",
                            "a chunk-size line of the request body is longer than %u bytes", CHUNK_LINE_MAX);
        if (c->in_len == c->in_cap) in_compact(c);
        long k = in_fill(c, lp_mono_ns() + stall_ns);
        if (k == LP_IO_TIMEOUT) return body_stalled(c, q, stall_ns, 0);
        if (k <= 0) return BODY_GONE;
    }
}

static int body_chunked(conn *c, lp_http_req *q) {
    int64_t stall_ns = 2 * (int64_t)c->s->head_s * 1000000000;
    char ex[64];
    for (;;) {
        char *l;
        size_t len;
        int rc = chunk_line(c, q, stall_ns, &l, &len);
        if (rc != 1) return rc;
        size_t i = 0, sig = 0;
        uint64_t size = 0;
        for (int h; i < len && (h = l[i] >= '0' && l[i] <= '9'                 ? l[i] - '0'
                                    : (l[i] | 32) >= 'a' && (l[i] | 32) <= 'f' ? (l[i] | 32) - 'a' + 10
                                                                               : -1) >= 0;
             i++) {
            if (sig || h) sig++;
            if (sig <= 16) size = size * 16 + (uint64_t)h;
        }
        if (sig > 16 || size > LP_HTTP_BODY_LIMIT)
            return body_bad(
                q, 413, "send the body in chunks of sizes that match the data (or with a Content-Length)",
                "a chunk announces 0x%.*s bytes%s: more than any request body this server takes (1 TiB)",
                (int)(i < 24 ? i : 24), l, sig > 16 ? " (over 2^64)" : "");
        if (!i || (i < len && l[i] != ';' && l[i] != ' ' && l[i] != '\t')) {
            lp_excerpt(ex, sizeof ex, l, len < 24 ? len : 24);
            return body_bad(q, 400, "send chunk sizes as hexadecimal numbers",
                            "the chunk size \"%s\" is not hexadecimal", ex);
        }
        if (size == 0) { /* the last chunk; then trailer lines up to an empty one */
            for (int n = 0;; n++) {
                rc = chunk_line(c, q, stall_ns, &l, &len);
                if (rc != 1) return rc;
                if (!len) return BODY_DONE;
                if (n >= LP_HTTP_HEADERS_MAX)
                    return body_bad(q, 431, "send fewer trailer fields",
                                    "the chunked body has more than %d trailer lines", LP_HTTP_HEADERS_MAX);
            }
        }
        rc = body_take(c, q, size, stall_ns);
        if (rc != BODY_DONE) return rc;
        rc = chunk_line(c, q, stall_ns, &l, &len);
        if (rc != 1) return rc;
        if (len) {
            lp_excerpt(ex, sizeof ex, l, len < 24 ? len : 24);
            return body_bad(
                q, 400, "send chunk sizes that match the data",
                "a chunk's data is followed by \"%s\" rather than a line end (the chunk size does not match "
                "its data)",
                ex);
        }
    }
}

/* ---- upgraded connections ---- */
typedef struct tls_relay {
    conn *c;
    int fd;    /* the server's end of the socketpair */
    int up_fd; /* the upgrade function's end */
    lp_http_upgrade_fn fn;
    void *user;
    const char *extra;
    size_t extra_len;
} tls_relay;

/* The upgrade function, on a thread of its own; its end of the pair is shut when it returns. */
static void *relay_fn_main(void *arg) {
    tls_relay *r = arg;
    r->fn(r->up_fd, r->extra, r->extra_len, r->user);
    (void)shutdown(r->up_fd, SHUT_RDWR);
    return NULL;
}

/* What the upgrade function writes goes out encrypted; when it is done, the TLS session ends. */
static void *relay_out_main(void *arg) {
    tls_relay *r = arg;
    char *buf = malloc(16384);
    for (;;) {
        ssize_t k = buf ? recv(r->fd, buf, 16384, 0) : -1;
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0 || lp_io_write2(&r->c->io, buf, (size_t)k, NULL, 0) != 0) break;
    }
    free(buf);
    (void)shutdown(r->c->fd, SHUT_RDWR); /* ends the other direction's read */
    return NULL;
}

/* With TLS the upgrade function gets one end of a socketpair; this thread (the connection's)
 * decrypts into it, one more encrypts out of it. */
static void tls_upgrade(conn *c, lp_http_req *q, const char *extra, size_t extra_len) {
    lp_http_server *s = c->s;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        lp_log(LP_LOG_WARN, "%s: cannot relay an upgraded TLS connection: socketpair: %s", s->log_name,
               strerror(errno));
        return;
    }
    tls_relay r = {c, sv[1], sv[0], q->up_fn, q->up_user, extra, extra_len};
    pthread_mutex_lock(&s->cmu);
    c->up_fd = sv[0];
    pthread_mutex_unlock(&s->cmu);
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setstacksize(&at, THREAD_STACK);
    pthread_t tf, to;
    int fn_ok = pthread_create(&tf, &at, relay_fn_main, &r) == 0;
    int out_ok = fn_ok && pthread_create(&to, &at, relay_out_main, &r) == 0;
    pthread_attr_destroy(&at);
    if (!fn_ok || !out_ok)
        lp_log(LP_LOG_WARN, "%s: cannot start a thread for an upgraded connection; closing it", s->log_name);
    char *buf = out_ok ? malloc(16384) : NULL;
    for (;;) {
        long k = buf ? lp_io_read(&c->io, buf, 16384, INT64_MAX) : -1;
        if (k <= 0) break;
        lp_io pair = {sv[1], NULL};
        if (lp_io_write2(&pair, buf, (size_t)k, NULL, 0) != 0) break;
    }
    free(buf);
    /* the client has closed (or the function is done): the function sees the end of its socket */
    (void)shutdown(sv[0], SHUT_RDWR);
    (void)shutdown(sv[1], SHUT_RDWR);
    if (fn_ok) pthread_join(tf, NULL);
    if (out_ok) pthread_join(to, NULL);
    pthread_mutex_lock(&s->cmu);
    c->up_fd = -1;
    pthread_mutex_unlock(&s->cmu);
    close(sv[0]);
    close(sv[1]);
}

/* Answers 101 and hands the connection to the route's upgrade function; the connection ends when
 * the function returns. */
static void do_upgrade(conn *c, lp_http_req *q) {
    lp_http_server *s = c->s;
    if (!q->v11 || !q->upgrade_ok) {
        lp_log(LP_LOG_WARN, "%s %s %s: a 101 to a request whose Connection header does not name upgrade",
               s->log_name, q->method, q->path);
        reply_reset(q);
        lp_http_reply_error(q, WIRE_INVALID, "send Connection: Upgrade with an Upgrade header",
                            "this endpoint switches protocols; the request does not ask to");
        (void)send_reply(c, q, 1);
        return;
    }
    size_t need = 128;
    for (int i = 0; i < q->nhdr; i++)
        need += strlen(q->hdr_name[i]) + strlen(q->hdr_val[i]) + 4;
    char *head = malloc(need);
    if (!head) return;
    size_t hn = (size_t)snprintf(head, need, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n");
    for (int i = 0; i < q->nhdr; i++)
        if (strcasecmp(q->hdr_name[i], "Connection"))
            hn += (size_t)snprintf(head + hn, need - hn, "%s: %s\r\n", q->hdr_name[i], q->hdr_val[i]);
    hn += (size_t)snprintf(head + hn, need - hn, "\r\n");
    int64_t dur = lp_mono_ns() - q->start_ns;
    lp_log(LP_LOG_DEBUG, "%s %s %s -> 101 (%.3f ms)", s->log_name, q->method, q->path, (double)dur / 1e6);
    if (s->obs) s->obs(q->rt ? q->rt->pattern : "-", q->method, 101, dur, s->obs_user);
    int rc = lp_io_write2(&c->io, head, hn, NULL, 0);
    free(head);
    if (rc != 0) return;
    pthread_mutex_lock(&s->cmu);
    int dropped = c->state == CT_DROPPED;
    if (!dropped) c->state = CT_UPGRADED; /* busy for its whole life */
    pthread_mutex_unlock(&s->cmu);
    if (dropped) return;
    const char *extra = c->in + c->in_off;
    size_t extra_len = c->in_len - c->in_off;
    c->in_off = c->in_len;
    if (c->io.tls) {
        tls_upgrade(c, q, extra, extra_len);
        return;
    }
    /* the upgrade function's socket blocks without a send timeout, as any socket it would make */
    struct timeval tv = {0, 0};
    (void)setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    q->up_fn(c->fd, extra, extra_len, q->up_user);
}

/* ---- one request ---- */

/* Frees what a request holds (its reply included). */
static void req_end(lp_http_req *q) {
    if (q->ctx_free) q->ctx_free(q->ctx);
    if (q->sfree) q->sfree(q->scls);
    json_decref(q->json);
    lp_buf_free(&q->body);
    free(q->resp);
    for (int i = 0; i < q->nhdr; i++) {
        free(q->hdr_name[i]);
        free(q->hdr_val[i]);
    }
}

/* Routes the request and answers 404/405 when nothing matches. Returns the route or NULL. */
static const route *route_request(lp_http_server *s, lp_http_req *q) {
    int path_known = 0;
    const route *rt = match(s, q, q->method, q->path, &path_known);
    if (rt) return rt;
    if (path_known) {
        char allow[128] = "";
        for (int i = 0; i < s->nroutes; i++) {
            /* list the methods of routes with the same shape */
            int dummy;
            lp_http_req probe;
            probe.nparam = 0;
            if (match(s, &probe, s->routes[i].method, q->path, &dummy) == &s->routes[i] &&
                !strstr(allow, s->routes[i].method)) {
                if (*allow) strncat(allow, ", ", sizeof allow - strlen(allow) - 1);
                strncat(allow, s->routes[i].method, sizeof allow - strlen(allow) - 1);
            }
        }
        lp_http_add_header(q, "Allow", allow);
        lp_http_reply_error(q, WIRE_METHOD, NULL, "%s is not allowed on %s (allowed: %s)", q->method, q->path,
                            allow);
    } else {
        lp_http_reply_error(q, WIRE_NOT_FOUND, "every path starts with /v1/; see docs/protocol.md",
                            "no such endpoint: %s %s", q->method, q->path);
    }
    return NULL;
}

/* Serves one request whose head (head_len bytes at the input's start) is in. Returns 0 when the
 * connection may serve another, -1 when it ends. */
static int serve_request(conn *c, size_t head_len, int64_t start_ns) {
    lp_http_server *s = c->s;
    lp_http_req *q = calloc(1, sizeof *q);
    if (!q) return -1;
    q->s = s;
    q->c = c;
    q->start_ns = start_ns;
    memcpy(c->hbuf, c->in + c->in_off, head_len);
    c->hbuf[head_len] = 0;
    c->in_off += head_len;
    int rc = -1;
    const char *why = NULL;
    if (conn_set_state(c, CT_BUSY) != 0) goto done;
    if (parse_head(q, c->hbuf, head_len, &why) != 0) {
        q->method = q->method ? q->method : "-";
        q->path = q->path ? q->path : "-";
        lp_http_reply_error(q, WIRE_INVALID, "percent-encode only bytes that are meant", "%s",
                            why ? why : "the request head cannot be read");
        (void)send_reply(c, q, 1);
        goto done;
    }
    q->head_only = !strcmp(q->method, "HEAD");
    const char *conn_h = lp_http_header(q, "Connection");
    q->close_req = conn_h && has_token(conn_h, "close");
    q->upgrade_ok = conn_h && has_token(conn_h, "upgrade");
    const char *te = lp_http_header(q, "Transfer-Encoding");
    const char *cl = lp_http_header(q, "Content-Length");
    const char *expect = lp_http_header(q, "Expect");
    /* request checks, before routing: a request that cannot be framed ends the connection */
    if (te && cl) {
        lp_http_reply_error(q, WIRE_INVALID, "send either Content-Length or Transfer-Encoding: chunked",
                            "the request has both Content-Length (%.32s) and Transfer-Encoding (%.32s); "
                            "its length is ambiguous",
                            cl, te);
        (void)send_reply(c, q, 1);
        goto linger;
    }
    if (te && strcasecmp(te, "chunked") != 0) {
        lp_http_reply_error(q, WIRE_INVALID, "send Transfer-Encoding: chunked or a Content-Length",
                            "Transfer-Encoding %.64s is not supported (only chunked)", te);
        (void)send_reply(c, q, 1);
        goto linger;
    }
    if (q->v11 && !lp_http_header(q, "Host")) {
        lp_http_reply_error(q, WIRE_INVALID, "send a Host header",
                            "an HTTP/1.1 request must have a Host header");
        (void)send_reply(c, q, 1);
        goto linger;
    }
    q->chunked = te != NULL;
    if (cl) {
        q->has_cl = 1;
        q->clen = strtoull(cl, NULL, 10); /* digits only, at most LP_HTTP_BODY_LIMIT: http_head.c */
    }
    int has_body = q->chunked || q->clen > 0;
    q->expect100 = q->v11 && has_body && expect && !strcasecmp(expect, "100-continue");
    q->rt = route_request(s, q);
    if (q->rt && q->rt->body_fn) {
        /* let a streaming route look at the headers before any body arrives */
        if (q->rt->body_fn(q, NULL, 0, q->rt->user) != 0) q->stream_failed = 1;
    } else if (q->rt && q->has_cl && q->clen > s->max_body) {
        if (q->clen > LP_HTTP_DRAIN_MAX || q->expect100)
            lp_http_reply_error(q, WIRE_TOO_LARGE, NULL,
                                "request body of %llu bytes exceeds the limit of %zu bytes",
                                (unsigned long long)q->clen, s->max_body);
        else
            q->too_large = 1; /* read and dropped, then 413 (a client still sending sees it) */
    }
    if (has_body) {
        if (q->replied && (q->expect100 || (q->has_cl && q->clen > LP_HTTP_DRAIN_MAX))) {
            /* answered before the body: a client waiting for "100 Continue" sends none, and an
             * absurd one is not read; the connection cannot go on */
            (void)send_reply(c, q, 1);
            goto linger;
        }
        if (q->expect100 && lp_io_write2(&c->io, "HTTP/1.1 100 Continue\r\n\r\n", 25, NULL, 0) != 0)
            goto done;
        int b = q->chunked ? body_chunked(c, q) : body_take(c, q, q->clen, (int64_t)s->idle_s * 1000000000);
        if (b == BODY_GONE) goto done;
        if (b == BODY_CLOSE) {
            (void)send_reply(c, q, 1);
            goto linger;
        }
    }
    if (!q->replied) {
        if (q->too_large)
            lp_http_reply_error(q, WIRE_TOO_LARGE, NULL, "request body exceeds the limit of %zu bytes",
                                s->max_body);
        else if (!q->rt->body_fn && q->body.len > 0 && !(q->json = lp_http_json_body(q)))
            ; /* not a JSON object: 400/415 before the handler runs */
        else if (!(q->rt->body_fn && q->stream_failed))
            q->rt->fn(q, q->rt->user);
    }
    if (q->up_fn && q->replied && q->status == 101) {
        do_upgrade(c, q);
        goto done;
    }
    rc = send_reply(c, q, 0);
    goto done;
linger:
    conn_linger(c);
done:
    req_end(q);
    free(q);
    return rc;
}

/* ---- the connection's thread ---- */
static void *conn_main(void *arg) {
    conn *c = arg;
    lp_http_server *s = c->s;
    c->in_cap = s->conn_mem > s->head_max + 1024 ? s->conn_mem : s->head_max + 1024;
    c->in = malloc(c->in_cap);
    c->hbuf = malloc(s->head_max + 1);
    int64_t deadline = c->since_ns + (int64_t)s->head_s * 1000000000;
    int ok = c->in && c->hbuf;
    if (ok && s->creds && lp_io_tls_begin(&c->io, s->creds, deadline) != 0) {
        lp_log(LP_LOG_DEBUG, "%s: a TLS handshake failed or did not end in time", s->log_name);
        ok = 0;
    }
    while (ok) {
        lp_http_head_verdict v;
        int64_t first_ns = 0;
        int rc = read_head(c, deadline, &v, &first_ns);
        if (rc == LP_HEAD_MORE) break; /* closed, dropped, or past the deadline */
        if (rc == LP_HEAD_BAD) {
            lp_log(LP_LOG_INFO, "%s: refusing a request head (%d %s): %s", s->log_name, v.status, v.code,
                   v.message);
            if (s->obs) s->obs("-", "-", v.status, lp_mono_ns() - first_ns, s->obs_user);
            answer_raw(c, v.status, v.code, v.message, v.hint);
            conn_linger(c);
            break;
        }
        if (serve_request(c, v.head_len, first_ns) != 0) break;
        if (conn_set_state(c, CT_IDLE) != 0) break;
        deadline = lp_mono_ns() + (int64_t)s->idle_s * 1000000000;
    }
    lp_io_end(&c->io);
    pthread_mutex_lock(&s->cmu);
    conn_unlist(s, c); /* before close: nobody shuts a socket number reused meanwhile */
    c->next = s->dead;
    s->dead = c;
    /* the accept loop joins the thread now rather than at its next wake-up (the pipe outlives every
     * connection: lp_http_server_free closes it last) */
    if (s->wake[1] >= 0) (void)!write(s->wake[1], "r", 1);
    pthread_mutex_unlock(&s->cmu);
    close(c->fd);
    free(c->in);
    free(c->hbuf);
    c->in = c->hbuf = NULL;
    return NULL;
}

/* Joins the threads of finished connections and frees them. */
static void reap(lp_http_server *s) {
    pthread_mutex_lock(&s->cmu);
    conn *d = s->dead;
    s->dead = NULL;
    pthread_mutex_unlock(&s->cmu);
    while (d) {
        conn *next = d->next;
        pthread_join(d->th, NULL);
        free(d);
        d = next;
    }
}

/* Accepts what is waiting. Returns 0, or -1 when out of descriptors or memory (pause accepting). */
static int accept_some(lp_http_server *s) {
    for (int k = 0; k < 64; k++) {
        conn *c = calloc(1, sizeof *c);
        if (!c) return -1;
        c->addr_len = sizeof c->addr;
        int fd = accept4(s->lfd, (struct sockaddr *)&c->addr, &c->addr_len, SOCK_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            free(c);
            if (e == EINTR || e == ECONNABORTED) continue;
            if (e == EAGAIN || e == EWOULDBLOCK) return 0;
            lp_log(LP_LOG_WARN, "%s: cannot accept a connection: %s", s->log_name, strerror(e));
            return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM ? -1 : 0;
        }
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        /* a client that stops reading its answer cannot hold the connection's thread forever */
        struct timeval tv = {(time_t)s->idle_s, 0};
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        c->s = s;
        c->fd = fd;
        c->up_fd = -1;
        c->io.fd = fd;
        c->state = CT_HEAD;
        c->since_ns = lp_mono_ns();
        pthread_mutex_lock(&s->cmu);
        int refused = conn_admit(s, c);
        pthread_mutex_unlock(&s->cmu);
        if (refused) {
            lp_log(LP_LOG_DEBUG, "%s: refusing a connection: its address holds %u already", s->log_name,
                   s->per_ip);
            close(fd);
            free(c);
            continue;
        }
        pthread_attr_t at;
        int ok = pthread_attr_init(&at) == 0;
        if (ok) {
            pthread_attr_setstacksize(&at, THREAD_STACK);
            ok = pthread_create(&c->th, &at, conn_main, c) == 0;
            pthread_attr_destroy(&at);
        }
        if (!ok) {
            lp_log(LP_LOG_WARN, "%s: cannot start a thread for a connection; closing it", s->log_name);
            pthread_mutex_lock(&s->cmu);
            conn_unlist(s, c);
            pthread_mutex_unlock(&s->cmu);
            close(fd);
            free(c);
            return -1;
        }
    }
    return 0;
}

static void *accept_main(void *arg) {
    lp_http_server *s = arg;
    int64_t accept_again_ns = 0;
    while (!__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE)) {
        reap(s);
        int64_t now = lp_mono_ns();
        int paused = now < accept_again_ns;
        struct pollfd p[2] = {{s->wake[0], POLLIN, 0}, {paused ? -1 : s->lfd, POLLIN, 0}};
        int rc = poll(p, 2, paused ? 100 : 1000);
        if (rc < 0 && errno != EINTR) {
            lp_log(LP_LOG_ERROR, "%s: the accept loop cannot poll: %s", s->log_name, strerror(errno));
            usleep(10000);
            continue;
        }
        if (rc <= 0) continue;
        if (p[0].revents) {
            char b[64];
            while (read(s->wake[0], b, sizeof b) > 0) {
            }
        }
        if ((p[1].revents & POLLIN) && accept_some(s) != 0) accept_again_ns = lp_mono_ns() + 100000000;
    }
    return NULL;
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

/* The listening socket (SO_REUSEADDR, IPv6 only on a v6 address). Returns 0, or -1 with a message. */
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

/* Stops accepting and closes the listening socket (the wake-up pipe stays: connections still use
 * it until they end). */
static void accept_stop(lp_http_server *s) {
    if (s->acc_started) {
        __atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
        (void)!write(s->wake[1], "x", 1);
        pthread_join(s->acc, NULL);
        s->acc_started = 0;
    }
    if (s->lfd >= 0) close(s->lfd);
    s->lfd = -1;
}

/* Closes the wake-up pipe; only when no connection is left. */
static void wake_close(lp_http_server *s) {
    for (int i = 0; i < 2; i++)
        if (s->wake[i] >= 0) close(s->wake[i]);
    s->wake[0] = s->wake[1] = -1;
}

int lp_http_server_start(lp_http_server *s, char *err, size_t err_size) {
    if (s->started) {
        lp_set_err(err, err_size, "the server on %s is already started", s->listen);
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl;
    if (parse_listen(s->listen, &ss, &sl, err, err_size) != 0) return -1;
    if (s->tls_cert && !s->creds) {
        char why[256];
        if (lp_tls_creds_new(s->tls_cert, s->tls_key, &s->creds, why, sizeof why) != 0) {
            lp_set_err(
                err, err_size,
                "cannot serve HTTPS on %s: the certificate or key is not valid PEM, or they do not match "
                "(certificate %s, key %s; %s)",
                s->listen, s->tls_cert_path, s->tls_key_path, why);
            return LP_HTTP_ETLS;
        }
    }
    /* the longest request head taken: as with the 64 KiB default connection memory, 24 KiB */
    s->head_max = s->conn_mem >= 49152 ? s->conn_mem / 2 - 8192 : s->conn_mem / 4;
    if (s->head_max > 32768) s->head_max = 32768;
    if (open_listener(s, &ss, sl, err, err_size) != 0) return -1;
    if (pipe2(s->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        lp_set_err(err, err_size, "cannot start serving %s: pipe: %s", s->listen, strerror(errno));
        goto fail;
    }
    if (pthread_create(&s->acc, NULL, accept_main, s) != 0) {
        lp_set_err(err, err_size, "cannot start the accept thread");
        goto fail;
    }
    s->acc_started = 1;
    s->started = 1;
    return 0;
fail:
    accept_stop(s);
    wake_close(s);
    s->port = 0;
    return -1;
}

int lp_http_server_port(const lp_http_server *s) { return s && s->started ? s->port : 0; }

int lp_http_server_is_tls(const lp_http_server *s) { return s && s->tls_cert ? 1 : 0; }

void lp_http_server_free(lp_http_server *s) {
    if (!s) return;
    accept_stop(s); /* no new connection from here on */
    pthread_mutex_lock(&s->cmu);
    for (int64_t t0 = lp_mono_ns(), warned = 0; s->conns;) {
        for (conn *c = s->conns; c; c = c->next) {
            (void)shutdown(c->fd, SHUT_RDWR);
            if (c->up_fd >= 0) (void)shutdown(c->up_fd, SHUT_RDWR);
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&s->ccv, &s->cmu, &ts);
        if (s->conns && !warned && lp_mono_ns() - t0 > 5000000000ll) {
            warned = 1;
            lp_log(LP_LOG_WARN, "%s: waiting for %u connection(s) to end (a handler still running?)",
                   s->log_name, s->nconn);
        }
    }
    pthread_mutex_unlock(&s->cmu);
    reap(s);
    wake_close(s);
    pthread_mutex_destroy(&s->cmu);
    pthread_cond_destroy(&s->ccv);
    lp_tls_creds_free(s->creds);
    if (s->tls_key) explicit_bzero(s->tls_key, s->tls_key_size);
    free(s->tls_key);
    free(s->tls_cert);
    free(s);
}
