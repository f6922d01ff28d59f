/* dp_http.c — the data plane's transport to the lease workers: their addresses (from the
 * broker's lease JSON), pooled curl handles (src/common/httpc.h, tuned for bulk bodies: LP_HTTP_BULK)
 * streamed straight from and into the caller's memory, blocking requests (one, or several in
 * parallel on one thread), the retry of a worker that is still starting, and the mapping of every
 * outcome to a lepton_status.
 *
 * Thread safety: each pool has its own lock, taken only to pop or push a handle; a handle is used
 * by one thread at a time. Everything else in lc_dp that this file reads is written once by
 * lc_dp_new. */
#include <curl/curl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "clock.h"
#include "dataplane.h"
#include "errors.h"
#include "http.h"
#include "lease.h"
#include "strutil.h"
#include "wire.h"

#define LC_BACKOFF_FIRST_MS 10
#define LC_BACKOFF_MAX_MS 200
#define LC_URL_MAX 1536

/* ---- addresses ---- */

/* Splits "scheme://host[:port][/...]" into its prefix up to the host (inclusive) and the port;
 * returns 0, or -1 when there is no explicit port. */
static int split_port(const char *url, size_t *host_end, long *port) {
    const char *p = strstr(url, "://");
    if (!p) return -1;
    p += 3;
    if (*p == '[') {
        p = strchr(p, ']');
        if (!p) return -1;
        p++;
    } else {
        while (*p && *p != ':' && *p != '/')
            p++;
    }
    if (*p != ':') return -1;
    *host_end = (size_t)(p - url);
    char *end;
    *port = strtol(p + 1, &end, 10);
    if (end == p + 1 || (*end && *end != '/') || *port <= 0 || *port > 65535) return -1;
    return 0;
}

static char *dup_url(const char *s) {
    size_t n = strlen(s);
    while (n > 0 && s[n - 1] == '/')
        n--;
    char *u = malloc(n + 1);
    if (!u) return NULL;
    memcpy(u, s, n);
    u[n] = '\0';
    return u;
}

static int url_is_http(const char *s) { return !strncmp(s, "http://", 7) || !strncmp(s, "https://", 8); }

/* Fills the workers' URLs from data_plane.workers, or derives them from data_plane.address and
 * the lease's gpus[i].index (docs/dataplane.md: worker of node GPU k at the agent's port + 1 + k).
 * Returns 0, -1 out of memory, or 1 with *why set when the broker's JSON gives no usable address. */
static int worker_urls(lc_dp *dp, const json_t *lease, const char **why) {
    const json_t *plane = json_object_get(lease, "data_plane");
    const char *token = json_string_value(json_object_get(plane, "token"));
    if (!json_is_object(plane) || !token) {
        *why = "the broker gave this lease no data plane (no data_plane address and token)";
        return 1;
    }
    const json_t *workers = json_object_get(plane, "workers");
    const char *address = json_string_value(json_object_get(plane, "address"));
    const json_t *gpus = json_object_get(lease, "gpus");
    for (uint32_t i = 0; i < dp->nworkers; i++) {
        const char *url = NULL;
        char derived[LC_URL_MAX];
        if (json_is_array(workers)) {
            size_t k;
            const json_t *w;
            json_array_foreach(workers, k, w) {
                json_t *idx = json_object_get(w, "index");
                if ((json_is_integer(idx) ? json_integer_value(idx) : (json_int_t)k) == (json_int_t)i)
                    url = json_string_value(json_object_get(w, "address"));
            }
        }
        if (!url && address) {
            size_t host_end;
            long port;
            if (split_port(address, &host_end, &port) == 0 && host_end < 1024) {
                json_int_t node_index = i;
                const json_t *g = json_array_get(gpus, i);
                if (json_is_integer(json_object_get(g, "index")))
                    node_index = json_integer_value(json_object_get(g, "index"));
                long wport = port + 1 + (long)node_index;
                if (node_index >= 0 && wport <= 65535) {
                    snprintf(derived, sizeof derived, "%.*s:%ld", (int)host_end, address, wport);
                    url = derived;
                }
            }
        }
        if (!url || !url_is_http(url) || strlen(url) > 1024) {
            *why = "the broker's data_plane gives no usable worker address for every GPU of the lease";
            return 1;
        }
        lc_worker *w = &dp->workers[i];
        w->url = dup_url(url);
        if (!w->url) return -1;
        size_t n = strlen(w->url) + sizeof "/v1/jobs";
        w->jobs_url = malloc(n);
        if (!w->jobs_url) return -1;
        snprintf(w->jobs_url, n, "%s/v1/jobs", w->url);
        n = strlen(w->url) + sizeof "/v1/jobs/batch";
        w->batch_url = malloc(n);
        if (!w->batch_url) return -1;
        snprintf(w->batch_url, n, "%s/v1/jobs/batch", w->url);
    }
    /* A handle's jobs are numbered in its own session (docs/dataplane.md, Jobs), and the modules it
     * loads are held by that session until it frees them: the lease's own handle uses session 0,
     * which needs no header. The lease token is sent to the workers only. */
    char session[64] = "";
    if (dp->lease->session)
        snprintf(session, sizeof session, LC_SESSION_HEADER ": %" PRIu64, dp->lease->session);
    const char *json_lines[] = {"Content-Type: application/json", "Accept: application/json",
                                "Expect:", session};
    const char *raw_lines[] = {"Content-Type: application/octet-stream", "Expect:", session};
    /* Large jobs wait for "100 Continue": a worker whose job queue is full refuses them before their
     * bytes are sent (docs/dataplane.md, Queue limit). */
    const char *expect_lines[] = {"Content-Type: application/octet-stream", "Expect: 100-continue", session};
    dp->json_headers = lp_http_headers(token, json_lines, sizeof json_lines / sizeof *json_lines);
    dp->raw_headers = lp_http_headers(token, raw_lines, sizeof raw_lines / sizeof *raw_lines);
    dp->expect_headers = lp_http_headers(token, expect_lines, sizeof expect_lines / sizeof *expect_lines);
    return dp->json_headers && dp->raw_headers && dp->expect_headers ? 0 : -1;
}

lc_dp *lc_dp_new(lepton_lease *l, const json_t *lease) {
    lc_dp *dp = calloc(1, sizeof *dp);
    if (!dp) return NULL;
    dp->lease = l;
    dp->timeout_ms = l->client->http.timeout_ms;
    pthread_mutex_init(&dp->lock, NULL);
    lc_cond_init_mono(&dp->io_cv);
    lc_cond_init_mono(&dp->role_cv);
    lp_http_pool_init(&dp->job_idle, 0);
    if (l->gpu_count == 0 || l->gpu_count > 1024) {
        dp->fn_none = "the lease has no GPUs";
        return dp;
    }
    dp->workers = calloc(l->gpu_count, sizeof *dp->workers);
    if (!dp->workers) goto oom;
    for (uint32_t i = 0; i < l->gpu_count; i++)
        lp_http_pool_init(&dp->workers[i].idle, 0);
    /* LEPTON_DP_STREAM=0: jobs and buffer calls over plain HTTP (e.g. to watch them in a proxy). */
    const char *stream = getenv("LEPTON_DP_STREAM");
    dp->stream_off = stream && !strcmp(stream, "0");
    /* LEPTON_DP_SPIN_US: how long a thread waiting for a stream's answer polls before it sleeps */
    dp->spin_ns = (int64_t)lp_env_long("LEPTON_DP_SPIN_US", LC_DP_SPIN_US, 0, 10000) * 1000;
    dp->cork = (int)lp_env_long("LEPTON_DP_CORK", 1, 0, 1);
    dp->cork_ns = (int64_t)lp_env_long("LEPTON_DP_CORK_US", LC_DP_CORK_US, 0, 10000) * 1000;
    dp->nworkers = l->gpu_count;
    const char *why = NULL;
    int rc = worker_urls(dp, lease, &why);
    if (rc < 0) goto oom;
    if (rc > 0) {
        /* Usable for nothing: keep the reason, drop the partial state. */
        lc_dp_shutdown(dp);
        lc_dp_free(dp);
        dp = calloc(1, sizeof *dp);
        if (!dp) return NULL;
        dp->lease = l;
        dp->timeout_ms = l->client->http.timeout_ms;
        pthread_mutex_init(&dp->lock, NULL);
        lc_cond_init_mono(&dp->io_cv);
        lc_cond_init_mono(&dp->role_cv);
        lp_http_pool_init(&dp->job_idle, 0);
        dp->fn_none = why;
    }
    return dp;
oom:
    lc_dp_shutdown(dp);
    lc_dp_free(dp);
    return NULL;
}

int lc_dp_usable(lc_dp *dp, const char *fn) {
    if (!dp || dp->fn_none)
        return lc_fail(LEPTON_EPROTO, "%s: %s", fn, dp ? dp->fn_none : "the lease has no data plane");
    return lc_dp_check_ended(dp, fn);
}

int lc_dp_check_ended(lc_dp *dp, const char *fn) {
    pthread_mutex_lock(&dp->lock);
    int ended = dp->ended, status = dp->ended_status;
    char why[sizeof dp->ended_why];
    memcpy(why, dp->ended_why, sizeof why);
    pthread_mutex_unlock(&dp->lock);
    if (!ended) return LEPTON_OK;
    return lc_fail(status, "%s: lease %s has ended (%s)", fn, dp->lease->id, why);
}

void lc_dp_note_ended(lc_dp *dp, int state, const char *why) {
    static const char *const names[] = {"pending", "active", "closed", "expired", "exhausted", "failed"};
    if (!dp || state < LEPTON_LEASE_CLOSED || state > LEPTON_LEASE_FAILED) return;
    pthread_mutex_lock(&dp->lock);
    dp->ended = 1;
    dp->ended_status = state == LEPTON_LEASE_FAILED ? LEPTON_ENODELOST : LEPTON_EEXPIRED;
    snprintf(dp->ended_why, sizeof dp->ended_why, "%s", why && *why ? why : names[state]);
    pthread_mutex_unlock(&dp->lock);
}

void lc_dp_shutdown(lc_dp *dp) {
    if (!dp) return;
    lc_jobs_shutdown(dp);
    /* Every handle of the lease ends with it; the worker's state goes with the worker. */
    pthread_mutex_lock(&dp->lock);
    lepton_module *m = dp->modules;
    lepton_buffer *b = dp->buffers;
    dp->modules = NULL;
    dp->buffers = NULL;
    pthread_mutex_unlock(&dp->lock);
    while (m) {
        lepton_module *next = m->next;
        free(m);
        m = next;
    }
    while (b) {
        lepton_buffer *next = b->next;
        free(b);
        b = next;
    }
    lc_images_free(dp);
}

void lc_dp_free(lc_dp *dp) {
    if (!dp) return;
    for (uint32_t i = 0; i < dp->nworkers; i++) {
        lc_stream_close(dp->workers[i].st.conn);
        free(dp->workers[i].st.rbuf);
        lp_http_pool_free(&dp->workers[i].idle);
        free(dp->workers[i].url);
        free(dp->workers[i].jobs_url);
        free(dp->workers[i].batch_url);
    }
    lp_http_pool_free(&dp->job_idle);
    free(dp->workers);
    lp_http_headers_free(dp->json_headers);
    lp_http_headers_free(dp->raw_headers);
    lp_http_headers_free(dp->expect_headers);
    pthread_cond_destroy(&dp->io_cv);
    pthread_cond_destroy(&dp->role_cv);
    pthread_mutex_destroy(&dp->lock);
    free(dp);
}

/* ---- curl handles ---- */

lp_http_conn *lc_easy_take(lc_dp *dp, lp_http_pool *pool) {
    const lp_httpc *h = dp->lease->client->http.hc;
    return pool ? lp_http_pool_take(pool, h, LP_HTTP_BULK) : lp_http_conn_new(h, LP_HTTP_BULK);
}

void lc_easy_give(lp_http_pool *pool, lp_http_conn *k) { lp_http_pool_give(pool, k); }

/* ---- blocking transfers ---- */

static size_t xfer_read(char *buf, size_t size, size_t nitems, void *user) {
    lc_xfer *x = user;
    size_t n = size * nitems, left = x->body_len - x->body_off;
    if (n > left) n = left;
    memcpy(buf, x->body + x->body_off, n);
    x->body_off += n;
    return n;
}

static int xfer_seek(void *user, curl_off_t offset, int origin) {
    lc_xfer *x = user;
    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > x->body_len) return CURL_SEEKFUNC_FAIL;
    x->body_off = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

static size_t xfer_write(char *ptr, size_t size, size_t nmemb, void *user) {
    lc_xfer *x = user;
    size_t n = size * nmemb;
    long code = 0;
    curl_easy_getinfo(x->easy->curl, CURLINFO_RESPONSE_CODE, &code);
    if (x->sink && code >= 200 && code < 300) {
        /* Straight into the caller's memory; never past what was asked for. */
        if (n > x->sink_len - x->sink_got) {
            x->overflow = 1;
            return 0;
        }
        memcpy(x->sink + x->sink_got, ptr, n);
        x->sink_got += n;
        return n;
    }
    int rc = lp_buf_append(&x->answer, ptr, n, LC_DP_MAX_JSON);
    if (rc) {
        if (rc == LP_BUF_NOMEM)
            x->oom = 1;
        else
            x->overflow = 1;
        return 0;
    }
    return n;
}

void lc_dp_note_answer(lc_worker *w, int retry_kind) {
    if (retry_kind == LC_RETRY_RESTARTING)
        atomic_store(&w->up, 0); /* its replacement is not up yet: refusals are retried */
    else if (retry_kind != LC_RETRY_STARTING)
        atomic_store(&w->up, 1);
}

int lc_dp_conn_failure(int cc) {
    return cc == CURLE_COULDNT_CONNECT || cc == CURLE_GOT_NOTHING || cc == CURLE_RECV_ERROR ||
           cc == CURLE_SEND_ERROR;
}

static int is_starting(const lc_xfer *x) {
    if (x->http != 503 || !x->answer.p) return 0;
    int starting = 0;
    char text[8];
    lc_dp_error_text(x->http, x->answer.p, x->answer.len, text, sizeof text, &starting);
    return starting;
}

static void xfer_setup(lc_dp *dp, lc_xfer *x) {
    CURL *e = x->easy->curl;
    const lc_worker *w = &dp->workers[x->worker];
    char url[LC_URL_MAX];
    snprintf(url, sizeof url, "%s%s", w->url, x->path);
    x->body_off = x->sink_got = 0;
    x->answer.len = 0;
    x->http = 0;
    x->overflow = x->oom = 0;
    x->easy->errbuf[0] = '\0';
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->raw ? dp->raw_headers : dp->json_headers);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
    if (!strcmp(x->method, "PUT")) {
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->body_len);
    } else if (!strcmp(x->method, "POST")) {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body_len);
    } else {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
        if (strcmp(x->method, "GET")) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, x->method);
    }
    curl_easy_setopt(e, CURLOPT_READFUNCTION, xfer_read);
    curl_easy_setopt(e, CURLOPT_READDATA, x);
    curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, xfer_seek);
    curl_easy_setopt(e, CURLOPT_SEEKDATA, x);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, xfer_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    if (x->raw || x->sink) {
        /* Bulk: no total deadline (256 MiB over a slow link takes long), but no progress for the
         * client's timeout ends it. */
        long secs = (dp->timeout_ms + 999) / 1000;
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 0L);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, secs > 0 ? secs : 1L);
    } else {
        curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)dp->timeout_ms);
        curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 0L);
    }
}

/* Runs the transfers flagged in `run` once, in parallel when there are several. */
static void run_once(lc_dp *dp, lc_xfer *x, size_t n, const char *run) {
    size_t count = 0, only = 0;
    for (size_t i = 0; i < n; i++)
        if (run[i]) {
            xfer_setup(dp, &x[i]);
            count++;
            only = i;
        }
    if (count == 1) {
        x[only].cc = curl_easy_perform(x[only].easy->curl);
    } else if (count > 1) {
        CURLM *m = curl_multi_init();
        for (size_t i = 0; i < n; i++) {
            if (!run[i]) continue;
            x[i].cc = CURLE_OUT_OF_MEMORY;
            if (m) {
                curl_easy_setopt(x[i].easy->curl, CURLOPT_PRIVATE, (void *)&x[i]);
                curl_multi_add_handle(m, x[i].easy->curl);
            }
        }
        int running = m ? 1 : 0;
        while (running) {
            if (curl_multi_perform(m, &running) != CURLM_OK) break;
            CURLMsg *msg;
            int left;
            while ((msg = curl_multi_info_read(m, &left)))
                if (msg->msg == CURLMSG_DONE) {
                    lc_xfer *done = NULL;
                    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&done);
                    if (done) done->cc = msg->data.result;
                }
            if (running) curl_multi_poll(m, NULL, 0, 1000, NULL);
        }
        for (size_t i = 0; m && i < n; i++)
            if (run[i]) curl_multi_remove_handle(m, x[i].easy->curl);
        if (m) curl_multi_cleanup(m);
    }
    for (size_t i = 0; i < n; i++) {
        if (!run[i]) continue;
        curl_easy_getinfo(x[i].easy->curl, CURLINFO_RESPONSE_CODE, &x[i].http);
        if (x[i].http) lc_dp_note_answer(&dp->workers[x[i].worker], is_starting(&x[i]));
    }
}

void lc_dp_run(lc_dp *dp, lc_xfer *x, size_t n) {
    char run_stack[64];
    char *run = n <= sizeof run_stack ? run_stack : malloc(n);
    if (!run) {
        for (size_t i = 0; i < n; i++)
            x[i].oom = 1;
        return;
    }
    int64_t deadline = lp_mono_ms() + dp->timeout_ms;
    int64_t backoff = LC_BACKOFF_FIRST_MS;
    for (size_t i = 0; i < n; i++) {
        x[i].easy = lc_easy_take(dp, &dp->workers[x[i].worker].idle);
        x[i].cc = CURLE_OUT_OF_MEMORY;
        run[i] = x[i].easy != NULL;
    }
    int end_checked = 0;
    for (;;) {
        run_once(dp, x, n, run);
        int again = 0;
        for (size_t i = 0; i < n; i++) {
            if (!run[i]) continue;
            const lc_worker *w = &dp->workers[x[i].worker];
            /* A worker that never answered may be gone because the lease has ended (its TTL passed
             * before the first data-plane call): ask the broker once rather than retrying. */
            if (lc_dp_conn_failure(x[i].cc) && !atomic_load(&w->up) && !end_checked) {
                end_checked = 1;
                if (lc_dp_lease_ended(dp)) {
                    memset(run, 0, n);
                    again = 0;
                    break;
                }
            }
            /* Before this lease's worker has answered once, a refused or broken connection is
             * the worker not being up yet (or the previous lease's worker of the same GPU still
             * exiting on its port): try again. Every transfer restarts from its first byte. */
            int not_up = lc_dp_conn_failure(x[i].cc) && !atomic_load(&w->up);
            run[i] = (not_up || is_starting(&x[i])) && lp_mono_ms() + backoff < deadline;
            again |= run[i];
        }
        if (!again) break;
        lp_sleep_ms(backoff);
        backoff = backoff * 2 > LC_BACKOFF_MAX_MS ? LC_BACKOFF_MAX_MS : backoff * 2;
    }
    for (size_t i = 0; i < n; i++) {
        if (!x[i].easy) continue;
        /* Handles are kept with their worker: their connection to it stays warm. */
        curl_easy_setopt(x[i].easy->curl, CURLOPT_PRIVATE, NULL);
        lc_easy_give(&dp->workers[x[i].worker].idle, x[i].easy);
        x[i].easy = NULL;
    }
    if (run != run_stack) free(run);
}

void lc_xfer_done(lc_xfer *x) { lp_buf_free(&x->answer); }

int lc_dp_transport_text(const lc_dp *dp, const lc_worker *w, CURLcode cc, char *out, size_t n,
                         const char *err) {
    const char *why = err && *err ? err : curl_easy_strerror(cc);
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
        if (atomic_load(&w->up)) {
            snprintf(out, n, "the lease worker at %s refused the connection: it has failed (%s)", w->url,
                     why);
        } else {
            snprintf(out, n, "the lease worker at %s did not come up within %d ms (%s)", w->url,
                     (int)dp->timeout_ms, why);
        }
        return LEPTON_ENODELOST;
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
        snprintf(out, n, "the connection to the lease worker at %s broke mid-request: it has failed (%s)",
                 w->url, why);
        return LEPTON_ENODELOST;
    case CURLE_OPERATION_TIMEDOUT:
        snprintf(out, n, "the lease worker at %s did not answer in time (%s)", w->url, why);
        return LEPTON_ENET;
    default:
        snprintf(out, n, "cannot reach the lease worker at %s: %s%s", w->url, why, lc_tls_hint(cc));
        return LEPTON_ENET;
    }
}

int lc_xfer_status(lc_dp *dp, const char *fn, const char *what, lc_xfer *x, long ok_also) {
    const lc_worker *w = &dp->workers[x->worker];
    char text[3600];
    if (x->oom) return lc_fail(LEPTON_ENOMEM, "%s: out of memory reading the answer to %s", fn, what);
    if (x->overflow && x->sink && x->http >= 200 && x->http < 300)
        return lc_fail(LEPTON_EPROTO, "%s: %s: the worker at %s sent more than the %zu bytes asked for", fn,
                       what, w->url, x->sink_len);
    if (x->overflow)
        return lc_fail(LEPTON_EPROTO, "%s: %s: the answer of the worker at %s exceeds %u MiB", fn, what,
                       w->url, LC_DP_MAX_JSON >> 20);
    if (x->cc != CURLE_OK) {
        int st = lc_dp_transport_text(dp, w, x->cc, text, sizeof text, x->easy ? x->easy->errbuf : NULL);
        if (atomic_load(&w->up) || lc_dp_ended_cached(dp)) st = lc_dp_refine_lost(dp, st, text, sizeof text);
        return lc_fail(st, "%s: %s: %s", fn, what, text);
    }
    if (x->http >= 200 && x->http < 300) {
        if (x->sink && x->sink_got != x->sink_len)
            return lc_fail(LEPTON_EPROTO, "%s: %s: the worker at %s sent %zu bytes instead of %zu", fn, what,
                           w->url, x->sink_got, x->sink_len);
        return LEPTON_OK;
    }
    if (ok_also && x->http == ok_also) return LEPTON_OK;
    int starting = 0;
    int st = lc_dp_error_text(x->http, x->answer.p ? x->answer.p : "", x->answer.len, text, sizeof text,
                              &starting);
    if (starting)
        return lc_fail(st, "%s: %s: the lease worker at %s was still %s after %d ms (%s)", fn, what, w->url,
                       starting == LC_RETRY_QUEUE_FULL   ? "too busy to take it"
                       : starting == LC_RETRY_RESTARTING ? "restarting"
                                                         : "starting",
                       (int)dp->timeout_ms, text);
    return lc_fail(st, "%s: %s: %s", fn, what, text);
}

int lc_dp_ended_cached(lc_dp *dp) {
    pthread_mutex_lock(&dp->lock);
    int ended = dp->ended;
    pthread_mutex_unlock(&dp->lock);
    return ended;
}

int lc_dp_lease_ended(lc_dp *dp) {
    char text[16] = "";
    lc_dp_refine_lost(dp, LEPTON_ENODELOST, text, sizeof text);
    return lc_dp_ended_cached(dp);
}

int lc_dp_refine_lost(lc_dp *dp, int status, char *text, size_t n) {
    if (status != LEPTON_ENODELOST) return status;
    pthread_mutex_lock(&dp->lock);
    int ended = dp->ended;
    pthread_mutex_unlock(&dp->lock);
    if (!ended) {
        char saved[4096];
        snprintf(saved, sizeof saved, "%s", lepton_last_error());
        lepton_lease *l = dp->lease;
        lc_request r = {"lepton_lease_get_info", "GET", l->path, NULL, 0, LC_RETRY};
        lc_response resp;
        lepton_lease_info info = LEPTON_LEASE_INFO_INIT;
        const char *why = NULL;
        int rc = lc_http_call(l->client, &r, &resp);
        if (!rc)
            rc = lc_lease_parse("lepton_lease_get_info", json_object_get(resp.json, "lease"), &info, &why);
        if (!rc && info.state >= LEPTON_LEASE_CLOSED) {
            lc_dp_note_ended(dp, info.state, why);
            ended = 1;
        }
        json_decref(resp.json);
        lc_error_set("%s", saved);
    }
    if (!ended) return status;
    char copy[1024];
    snprintf(copy, sizeof copy, "%s", text);
    pthread_mutex_lock(&dp->lock);
    status = dp->ended_status;
    snprintf(text, n, "lease %s has ended (%s); %s", dp->lease->id, dp->ended_why, copy);
    pthread_mutex_unlock(&dp->lock);
    return status;
}

int lc_dp_error_text(long http, const char *body, size_t len, char *out, size_t n, int *starting) {
    *starting = 0;
    json_t *j = len ? json_loadb(body, len, 0, NULL) : NULL;
    lp_http_error e;
    lp_http_error_of(j, http, &e);
    const char *code = e.code, *msg = e.message, *hint = e.hint;
    int st;
    if (!code && !msg) {
        char ex[200];
        lp_excerpt(ex, sizeof ex, body, len);
        snprintf(out, n, "the worker answered HTTP %ld without a Lepton error body: \"%s\"", http, ex);
        st = http == 502 ? LEPTON_ENODELOST : LEPTON_EPROTO;
        json_decref(j);
        return st;
    }
    if (!msg || !*msg) msg = code;
    if (code && !strcmp(code, "worker_starting")) {
        *starting = LC_RETRY_STARTING;
        st = LEPTON_ENODELOST;
    } else if (http == 503 && code && !strcmp(code, "queue_full")) {
        *starting = LC_RETRY_QUEUE_FULL;
        st = LEPTON_ENOCAPACITY;
    } else if (http == 503 && code && !strcmp(code, "worker_restarting")) {
        *starting = LC_RETRY_RESTARTING;
        st = LEPTON_ENODELOST;
    } else if (code && !strcmp(code, "buffer_lost")) {
        /* Not in wire.h (yet): a buffer of a worker that was replaced after a failure. */
        snprintf(out, n,
                 "%s (the buffer was on a lease worker that failed and was replaced; its contents are "
                 "lost: allocate and fill a new buffer)",
                 msg);
        json_decref(j);
        return LEPTON_ENODELOST;
    } else {
        st = e.status;
    }
    if (hint && *hint)
        snprintf(out, n, "%s (hint: %s)", msg, hint);
    else
        snprintf(out, n, "%s", msg);
    json_decref(j);
    return st;
}
