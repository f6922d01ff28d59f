/* http_server.h — the project's one HTTP/1.1 server: routes by method and path pattern
 * ("/v1/leases/{id}"), accumulates request bodies up to a limit (413 before reading past it),
 * optionally streams large raw bodies to a callback, answers JSON and the protocol's error body
 * {"error": {"code", "message", "hint"}}.
 *
 * Thread model: one thread per connection (keep-alive), so a handler may block for a long time (a
 * long-poll) without starving other clients. Handlers of different connections run concurrently.
 * Idle sockets cannot lock clients out: a connection must send a complete request head within
 * head_timeout_s of connecting (or of its previous answer: idle_timeout_s), or it is dropped; each
 * client address holds at most max_per_ip connections; and when max_connections are open, a new
 * one evicts the oldest connection that has not yet sent a request head (then the oldest idle
 * keep-alive one), so that a client that talks at once is always served.
 *
 * Every request head, on every connection (plain or TLS, first or later on a keep-alive one), is
 * checked on the bytes received (http_head.h): a malformed one (request line, header lines, sizes:
 * 400/413/414/431/505) is answered with the JSON error body and the connection closed. Every error
 * the server answers by itself is that JSON body; none is HTML.
 * Requests are checked before any handler runs (400 with the JSON error body): no NUL byte in the
 * path or a header value, a Host header on HTTP/1.1, not both Content-Length and Transfer-Encoding
 * (answered, then the connection is closed), no Transfer-Encoding but "chunked", no chunk size that
 * is not hexadecimal or over 1 TiB (413); and on non-streaming routes a body must be a JSON object
 * (or empty). A body that stalls (no byte for head_timeout_s * 2 while more of a chunked body is
 * expected, e.g. after an absurd chunk size; idle_timeout_s for a Content-Length body) is answered
 * 400 and the connection closed. A client that sends "Expect: 100-continue" gets "100 Continue"
 * when its body is wanted, or the final answer at once (then the connection closes). A HEAD request
 * is routed as such (405 unless a route takes HEAD); its answer carries no body.
 * Used by the broker (control plane) and by the node agent's lease worker (bulk data). Either speaks
 * HTTPS when given a PEM certificate and key (GnuTLS: http_io.h).
 *
 * A route may switch its connection to another protocol (lp_http_reply_upgrade: 101 Switching
 * Protocols); the connection then belongs to the route's upgrade function, which runs on a thread of
 * its own until the connection ends. The server owns those threads: lp_http_server_free shuts every
 * upgraded socket down (its reads and writes fail at once) and waits for their functions to return.
 * An upgraded connection counts as a busy one: never evicted, never closed as idle, and it still
 * counts against max_per_ip and max_connections.
 *
 * Link with GnuTLS and jansson (PkgConfig::GNUTLS, PkgConfig::JANSSON; lepton_common carries both). */
#ifndef LEPTON_COMMON_HTTP_SERVER_H
#define LEPTON_COMMON_HTTP_SERVER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lp_http_server lp_http_server;
/* One request in flight. Owned by the server; valid only during the callbacks of that request. */
typedef struct lp_http_req lp_http_req;

/* Handles a complete request. It must answer with exactly one lp_http_reply_* call (otherwise
 * the server answers 500). Runs on the connection's thread; may block. */
typedef void (*lp_http_handler)(lp_http_req *req, void *user);
/* Receives a raw request body chunk by chunk instead of accumulating it (routes added with
 * lp_http_server_route_stream). It is first called once with data NULL and size 0 as soon as the
 * headers are in (a chance to check them and refuse before any body is read), then per chunk.
 * Returns 0 to go on, or -1 after answering with lp_http_reply_*: the answer is sent at once and
 * the rest of the body is discarded. The handler runs after the last chunk. */
typedef int (*lp_http_body_fn)(lp_http_req *req, const char *data, size_t size, void *user);
/* Told about every answered request: the route pattern ("-" when none matched), method, status
 * and the time from the request's first byte of headers to the answer. For metrics. */
typedef void (*lp_http_observer)(const char *pattern, const char *method, int status, int64_t duration_ns,
                                 void *user);

typedef struct lp_http_config {
    const char *listen;       /* "ADDR:PORT", "[v6]:PORT" or ":PORT"; port 0 picks a free one */
    size_t max_body;          /* bytes of an accumulated body; 0 → 65536 */
    unsigned max_connections; /* 0 → 1024 */
    unsigned idle_timeout_s;  /* keep-alive idle time before a connection is closed; 0 → 120 */
    const char *log_name;     /* used in log lines; NULL → "http" */
    /* HTTPS: PEM files of the certificate (chain) and its unencrypted private key, both or neither;
     * NULL (or "") → plain HTTP. Read once by lp_http_server_new. */
    const char *tls_cert_file;
    const char *tls_key_file;
    unsigned head_timeout_s; /* seconds to send a complete request head after connecting; 0 → 5 */
    unsigned max_per_ip;     /* connections per client address; 0 → 128 */
} lp_http_config;

/* What lp_http_server_new and lp_http_server_start return when the TLS certificate or key is at
 * fault (rather than, say, the address): restarting with the same files will not help. */
#define LP_HTTP_ETLS (-2)

/* Creates a server (not yet listening). With TLS it reads the certificate and key files now.
 * Returns 0, or -1 with a message in err; LP_HTTP_ETLS when a file is unreadable or only one of the
 * two is given. */
int lp_http_server_new(const lp_http_config *cfg, lp_http_server **out, char *err, size_t err_size);
/* 1 when the server speaks HTTPS, else 0. */
int lp_http_server_is_tls(const lp_http_server *s);
/* Adds a route. method is "GET", "POST", ...; pattern segments of the form {name} match any one
 * path segment and are read back with lp_http_param. Routes are tried in the order added.
 * The pattern string is borrowed and must outlive the server. Only before lp_http_server_start.
 * Returns 0 or -1 (too many routes, pattern too long). */
int lp_http_server_route(lp_http_server *s, const char *method, const char *pattern, lp_http_handler fn,
                         void *user);
/* As lp_http_server_route, but the body goes to body_fn as it arrives (no size limit applies). */
int lp_http_server_route_stream(lp_http_server *s, const char *method, const char *pattern,
                                lp_http_body_fn body_fn, lp_http_handler fn, void *user);
void lp_http_server_set_observer(lp_http_server *s, lp_http_observer fn, void *user);
/* Sets the bytes of each connection's input buffer (default 64 KiB; the longest request head taken
 * follows from it: 24 KiB at 64 KiB, at most 32 KiB); larger ones hand a streamed body over in
 * bigger chunks (bulk uploads). Only before lp_http_server_start. */
void lp_http_server_set_conn_memory(lp_http_server *s, size_t bytes);
/* Binds and starts serving. Returns 0, or -1 with a message in err (address in use, ...);
 * LP_HTTP_ETLS when GnuTLS refuses the certificate and key (not PEM, or not a pair). */
int lp_http_server_start(lp_http_server *s, char *err, size_t err_size);
/* The bound port (useful with port 0), or 0 when not started. */
int lp_http_server_port(const lp_http_server *s);
/* Stops listening, closes every connection, waits for running handlers to return (a handler that
 * blocks must be woken by its owner first) and frees the server. NULL is a no-op. */
void lp_http_server_free(lp_http_server *s);

/* ---- request accessors (borrowed strings, valid during the request) ---- */
const char *lp_http_method(const lp_http_req *r);
const char *lp_http_path(const lp_http_req *r);
/* Value of the path parameter {name}, or NULL. */
const char *lp_http_param(const lp_http_req *r, const char *name);
/* Value of a request header (case-insensitive name), or NULL. */
const char *lp_http_header(const lp_http_req *r, const char *name);
/* Value of a query-string argument, or NULL. */
const char *lp_http_query(const lp_http_req *r, const char *name);
/* The accumulated body (NUL-terminated for convenience; may contain NULs) and its size. */
const char *lp_http_body(const lp_http_req *r, size_t *size);
/* Per-request context for streaming routes; free_fn (may be NULL) runs when the request ends. */
void lp_http_set_ctx(lp_http_req *r, void *ctx, void (*free_fn)(void *));
void *lp_http_ctx(const lp_http_req *r);
/* 1 when the client has closed its side of the connection (for long-polls: stop waiting). */
int lp_http_client_gone(const lp_http_req *r);
/* 1 once a reply has been set. */
int lp_http_replied(const lp_http_req *r);

/* Parses the body as a JSON object: an empty body (or only whitespace) is {}. On failure (not JSON,
 * NUL bytes, not an object) answers 400 (or 415 when the Content-Type is not JSON) and returns NULL.
 * The caller owns the result. (The server checks this before a non-streaming handler runs.) */
json_t *lp_http_json_body(lp_http_req *r);

/* ---- replies (the first reply wins; later ones are ignored) ---- */
/* Answers status with body serialized as JSON. Takes ownership of body (steals the reference). */
void lp_http_reply_json_take(lp_http_req *r, int status, json_t *body);
/* Answers raw bytes (copied). content_type NULL → application/octet-stream. */
void lp_http_reply_bytes(lp_http_req *r, int status, const char *content_type, const void *data, size_t size);
/* Produces a streamed response body: fills buf with up to max bytes of the body starting at byte
 * pos and returns how many (> 0), or -1 on failure (the connection is then closed). Runs on the
 * request's connection thread, after the handler returned. */
typedef long (*lp_http_reader_fn)(void *cls, uint64_t pos, char *buf, size_t max);
/* Answers status with a body of exactly size bytes produced by fn in pieces of up to block bytes
 * (0 → 256 KiB), so that a large body is never held whole. free_fn (may be NULL) runs with cls
 * exactly once: when the response is done, or at once when this reply is ignored or fails. */
void lp_http_reply_stream(lp_http_req *r, int status, const char *content_type, uint64_t size, size_t block,
                          lp_http_reader_fn fn, void *cls, void (*free_fn)(void *));
/* Serves an upgraded connection until it ends, on a thread of its own. fd is a blocking socket: the
 * client's TCP socket (plain HTTP) or, with TLS, one end of a socketpair that the server encrypts
 * for (the client's TCP socket has TCP_NODELAY either way): read and write it (send with
 * MSG_NOSIGNAL), shutdown() it if need be, never close it: the server closes the connection when
 * the function returns. extra holds the extra_size bytes the client sent after its request head,
 * already read from the socket: they come first. With TLS, the server shuts fd when the client
 * closes its connection. */
typedef void (*lp_http_upgrade_fn)(int fd, const char *extra, size_t extra_size, void *user);
/* Answers 101 Switching Protocols with "Upgrade: protocol" (copied) and "Connection: Upgrade", then
 * hands the connection to fn (user is passed on; it must outlive the server). The request must be
 * HTTP/1.1 with a Connection header naming upgrade: the server sends no 101 otherwise but a 400
 * (check first and answer 426). */
void lp_http_reply_upgrade(lp_http_req *r, const char *protocol, lp_http_upgrade_fn fn, void *user);
/* Answers the error body of wire code `code` (see wire.h) with the status wire_http_status(code).
 * hint may be NULL. */
void lp_http_reply_error(lp_http_req *r, const char *code, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Builds {"error": {"code", "message", "hint"}} (hint omitted when NULL or empty), so a caller can
 * add fields beside "error" before lp_http_reply_json_take. */
json_t *lp_http_error_body(const char *code, const char *message, const char *hint);
/* Adds a response header to the reply (copied); call before the lp_http_reply_* call. */
void lp_http_add_header(lp_http_req *r, const char *name, const char *value);

#endif
