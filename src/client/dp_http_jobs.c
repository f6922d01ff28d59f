/* dp_http_jobs.c — jobs over HTTP on the lease's curl multi handle (used by the driver role's
 * holder only): a request put on the wire (one job, POST /v1/jobs, or a batch of small ones, POST
 * /v1/jobs/batch), its body read from the caller's memory, its answer written to its tasks, and the
 * requests curl has finished with completed, or sent again while their worker starts, restarts or
 * is full.
 *
 * The job transport's design (ownership, thread safety, lock order, the driver role) is in
 * dp_drive.c's first comment. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "clock.h"
#include "dataplane.h"
#include "dp_jobs_internal.h"
#include "lease.h"

#define LC_DP_BULK (1u << 20)             /* a job moving this many bytes gets large curl buffers */
#define LC_DP_EXPECT (8u << 20)           /* a job sending this many bytes waits for "100 Continue" */
#define LC_DP_FULL_NS (10ll * 1000000000) /* ... and from 1 MiB, this long after a 503 queue_full */

static size_t job_read(char *buf, size_t size, size_t nitems, void *user) {
    lepton_task *t = user;
    size_t room = size * nitems, n = 0;
    while (n < room && t->sent_seg <= t->nwrite) {
        const char *src;
        size_t len;
        if (t->sent_seg == 0) {
            src = t->http_head.p;
            len = t->http_head.len;
        } else {
            src = t->segs[t->sent_seg - 1].host;
            len = t->segs[t->sent_seg - 1].size;
        }
        size_t k = len - t->sent_off;
        if (k > room - n) k = room - n;
        memcpy(buf + n, src + t->sent_off, k);
        n += k;
        t->sent_off += k;
        if (t->sent_off == len) {
            t->sent_seg++;
            t->sent_off = 0;
        }
    }
    return n;
}

static int job_seek(void *user, curl_off_t offset, int origin) {
    lepton_task *t = user;
    if (origin != SEEK_SET || offset != 0) return CURL_SEEKFUNC_CANTSEEK;
    t->sent_seg = 0;
    t->sent_off = 0;
    return CURL_SEEKFUNC_OK;
}

/* An answer's first bytes tell its kind: a plain JSON answer (an error body; json_answer 1), kept
 * whole in t->result, or framed results (2). Returns 1 when this chunk belonged to a JSON answer,
 * with *ret what the write callback returns; 0 for framed results, left to the caller. */
static int json_answer(lepton_task *t, const char *p, size_t n, size_t *ret) {
    if (!t->json_answer) {
        long code = 0;
        char *ct = NULL;
        CURL *e = t->easy->curl;
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct);
        t->json_answer = (code < 200 || code >= 300 || (ct && strstr(ct, "json"))) ? 1 : 2;
    }
    if (t->json_answer != 1) return 0;
    int rc = lp_buf_append(&t->result, p, n, LC_DP_MAX_JSON);
    *ret = rc ? lc_job_bad(t, rc == LP_BUF_NOMEM ? "out of memory reading the worker's answer"
                                                 : "the worker's answer is too large")
              : n;
    return 1;
}

static size_t job_write(char *ptr, size_t size, size_t nmemb, void *user) {
    lepton_task *t = user;
    size_t n = size * nmemb, ret;
    if (json_answer(t, ptr, n, &ret)) return ret;
    return lc_framed_feed(t, ptr, n) ? 0 : n;
}

/* The answer to a batch: records of u32 length + one job's framed result, in the batch's order;
 * each record's bytes go to its task. */
static size_t batch_write(char *ptr, size_t size, size_t nmemb, void *user) {
    lepton_task *h = user;
    size_t n = size * nmemb, ret;
    const char *p = ptr;
    if (json_answer(h, p, n, &ret)) return ret;
    while (n) {
        if (h->rec_got < 4) {
            if (!h->rcv)
                return lc_job_bad(h, "the worker's batch answer has more results than the batch has jobs");
            size_t k = 4 - h->rec_got < n ? 4 - h->rec_got : n;
            memcpy(h->rec_bytes + h->rec_got, p, k);
            h->rec_got += k;
            p += k;
            n -= k;
            if (h->rec_got == 4) {
                h->rec_left = wire_get_le32(h->rec_bytes);
                if (h->rec_left < 4 || h->rec_left > 4 + (uint64_t)LC_DP_MAX_JSON + h->rcv->read_total)
                    return lc_job_bad(h, "a record of the worker's batch answer has a bad length prefix");
            }
            continue;
        }
        lepton_task *t = h->rcv;
        size_t k = h->rec_left < n ? (size_t)h->rec_left : n;
        if (lc_framed_feed(t, p, k)) {
            if (t != h) {
                h->bad_answer = 1;
                snprintf(h->bad_text, sizeof h->bad_text, "%s", t->bad_text);
            }
            return 0;
        }
        p += k;
        n -= k;
        h->rec_left -= k;
        if (!h->rec_left) {
            t->rec_complete = 1;
            h->rcv = t->batch_next;
            h->rec_got = 0;
        }
    }
    return size * nmemb;
}

static void active_link(lc_dp *dp, lepton_task *t) {
    t->prev = NULL;
    t->next = dp->active;
    if (t->next) t->next->prev = t;
    dp->active = t;
}

static void active_unlink(lc_dp *dp, lepton_task *t) {
    if (t->prev)
        t->prev->next = t->next;
    else
        dp->active = t->next;
    if (t->next) t->next->prev = t->prev;
    t->prev = t->next = NULL;
}

/* Takes a request off the wire: its handle goes back to the pool. */
void lc_job_detach(lc_dp *dp, lepton_task *t) {
    CURL *e = t->easy->curl;
    curl_multi_remove_handle(dp->multi, e);
    active_unlink(dp, t);
    lc_easy_give(&dp->job_idle, t->easy);
    t->easy = NULL;
    free(t->batch_body);
    t->batch_body = NULL;
}

/* Completes a request's jobs (a single job, or the jobs of a batch headed by h): a job whose
 * result arrived whole gets it, the others fail with status and text. The request counts once
 * among its worker's requests on the wire: on its head. */
void lc_request_finish(lc_dp *dp, lepton_task *h, int status, const char *text) {
    for (lepton_task *u = h, *next; u; u = next) {
        next = u->batch_next; /* u may be freed once complete */
        u->batch_next = NULL;
        u->batch_n = 0;
        if (u->rec_complete)
            lc_job_result(dp, u, u == h);
        else
            lc_job_fail(dp, u, u == h, status, "%s", text);
    }
}

/* Sends a request's jobs again later (the worker is still starting); a job that cannot be
 * (the lease is closing) fails with status and text. */
static void request_requeue(lc_dp *dp, lepton_task *h, int status, const char *text) {
    for (lepton_task *u = h, *next; u; u = next) {
        next = u->batch_next;
        u->batch_next = NULL;
        u->batch_n = 0;
        if (lc_job_requeue(dp, u, u == h)) lc_job_fail(dp, u, u == h, status, "%s", text);
    }
}

/* The job's head in the JSON form (t->http_head: u32 LE n + the JSON descriptor), made once;
 * 0, or -1 out of memory. */
static int http_head(lepton_task *t) {
    if (t->http_head.len) return 0;
    char len[4] = {0};
    if (lp_buf_append(&t->http_head, len, 4, WIRE_JOB_MAX_BODY) ||
        wire_job_json_of(t->head + 4, t->head_len - 4, &t->http_head)) {
        lp_buf_free(&t->http_head);
        return -1;
    }
    wire_put_le32(t->http_head.p, (uint32_t)(t->http_head.len - 4));
    return 0;
}

/* The bytes of t's request over HTTP: its JSON head and its WRITE bytes. */
static uint64_t http_body_len(const lepton_task *t) { return t->http_head.len + (t->body_len - t->head_len); }

/* Puts a request on the wire: one job, or the batch that t heads (POST /v1/jobs/batch: records
 * of u32 LE length + the job's body, answered by records of u32 LE length + the job's result). */
void lc_job_start(lc_dp *dp, lepton_task *t) {
    for (lepton_task *u = t; u; u = u->batch_next) {
        u->sent_seg = u->sent_off = 0;
        lc_answer_reset(u, u == t ? 0 : 2);
        if (http_head(u)) {
            lc_request_finish(dp, t, LEPTON_ENOMEM, "out of memory (a job's JSON descriptor)");
            return;
        }
    }
    t->sent_ns = lp_mono_ns();
    t->easy = lc_easy_take(dp, &dp->job_idle);
    if (!t->easy) {
        lc_request_finish(dp, t, LEPTON_ENOMEM, "out of memory (no curl handle)");
        return;
    }
    CURL *e = t->easy->curl;
    int batch = t->batch_next != NULL;
    uint64_t body_len = http_body_len(t), read_total = t->read_total;
    if (batch) {
        size_t len = 0;
        for (lepton_task *u = t; u; u = u->batch_next)
            len += 4 + (size_t)http_body_len(u);
        char *b = malloc(len);
        if (!b) {
            lc_easy_give(&dp->job_idle, t->easy);
            t->easy = NULL;
            lc_request_finish(dp, t, LEPTON_ENOMEM, "out of memory (batch of jobs)");
            return;
        }
        size_t at = 0;
        for (lepton_task *u = t; u; u = u->batch_next) {
            wire_put_le32(b + at, (uint32_t)http_body_len(u));
            memcpy(b + at + 4, u->http_head.p, u->http_head.len);
            at += 4 + u->http_head.len;
            for (uint32_t i = 0; i < u->nwrite; i++) {
                memcpy(b + at, u->segs[i].host, u->segs[i].size);
                at += u->segs[i].size;
            }
        }
        t->batch_body = b;
        t->rcv = t;
        t->rec_got = 0;
        t->rec_left = 0;
        body_len = len;
        read_total = 0;
        curl_easy_setopt(e, CURLOPT_URL, dp->workers[t->worker].batch_url);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, (void *)b);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, batch_write);
    } else {
        curl_easy_setopt(e, CURLOPT_URL, dp->workers[t->worker].jobs_url);
        /* A job without WRITE data is one contiguous body: curl then sends it with the headers
         * in one segment; otherwise the body is read from the head and the caller's memory in
         * turn. */
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->nwrite ? NULL : (void *)t->http_head.p);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, job_write);
    }
    /* The seq in a header: a worker whose queue is full takes the job every other waits for. */
    snprintf(t->seq_line, sizeof t->seq_line, "Lepton-Job-Seq: %" PRIu64, t->seq);
    t->seq_header.data = t->seq_line;
    /* Large bodies wait for "100 Continue" (one round trip), so that a full worker refuses them
     * before they are sent: always from 8 MiB, and from 1 MiB while that worker is refusing. */
    const lc_worker *wk = &dp->workers[t->worker];
    int expect = body_len >= LC_DP_EXPECT || (body_len >= LC_DP_BULK && wk->queue_full_ns &&
                                              t->sent_ns - wk->queue_full_ns < LC_DP_FULL_NS);
    t->seq_header.next = expect ? dp->expect_headers : dp->raw_headers;
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, &t->seq_header);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, job_read);
    curl_easy_setopt(e, CURLOPT_READDATA, t);
    curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, job_seek);
    curl_easy_setopt(e, CURLOPT_SEEKDATA, t);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (void *)t);
    /* A job may wait behind others and run long: no deadline on the whole exchange; a dead
     * worker shows as a refused or broken connection, a lost node through keep-alive probes. */
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 0L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 0L);
    /* Large curl buffers only for jobs that move much data: a lease may keep 8 handles per GPU. */
    curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, body_len >= LC_DP_BULK ? 2l << 20 : 64l << 10);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, read_total >= LC_DP_BULK ? 512l << 10 : 64l << 10);
    active_link(dp, t);
    if (curl_multi_add_handle(dp->multi, e) != CURLM_OK) {
        active_unlink(dp, t);
        lc_easy_give(&dp->job_idle, t->easy);
        t->easy = NULL;
        free(t->batch_body);
        t->batch_body = NULL;
        lc_request_finish(dp, t, LEPTON_ENOMEM, "cannot start the transfer");
        return;
    }
    if (t->first_in_line) lc_mark_running(t);
}

/* After a request to worker `wi` ended: the earliest job still on the wire there is next in line
 * on its GPU when no job before it waits in the queue (one sent back while the worker started). */
static void advance_running(lc_dp *dp, uint32_t wi) {
    lepton_task *first = NULL;
    for (lepton_task *a = dp->active; a; a = a->next)
        if (a->worker == wi && (!first || a->seq < first->seq)) first = a;
    if (!first) return;
    pthread_mutex_lock(&dp->lock);
    lepton_task *q = dp->workers[wi].head;
    int next_in_line = !q || q->seq > first->seq;
    pthread_mutex_unlock(&dp->lock);
    if (next_in_line) lc_mark_running(first);
}

/* A request curl has finished with: its jobs complete, or go back to the queue while the
 * worker is still starting. */
static void request_done(lc_dp *dp, lepton_task *t, CURLcode cc);
static void job_done(lc_dp *dp, lepton_task *t, CURLcode cc) {
    uint32_t wi = t->worker;
    request_done(dp, t, cc);
    advance_running(dp, wi);
}

static void request_done(lc_dp *dp, lepton_task *t, CURLcode cc) {
    lc_worker *w = &dp->workers[t->worker];
    long http = 0;
    char text[512];
    curl_easy_getinfo(t->easy->curl, CURLINFO_RESPONSE_CODE, &http);
    int net =
        cc == CURLE_OK ? LEPTON_OK : lc_dp_transport_text(dp, w, cc, text, sizeof text, t->easy->errbuf);
    int was_up = atomic_load(&w->up);
    int batch = t->batch_next != NULL;
    int64_t now = lp_mono_ns();
    if (dp->lease->client->log) {
        uint64_t last = t->seq;
        for (lepton_task *u = t->batch_next; u; u = u->batch_next)
            last = u->seq;
        lc_log(dp->lease->client, LEPTON_LOG_DEBUG,
               "lease %s GPU %u: POST /v1/jobs%s (seq %" PRIu64 "..%" PRIu64 ", %u job%s) -> %ld in %lld µs",
               dp->lease->id, t->worker, batch ? "/batch" : "", t->seq, last, batch ? t->batch_n : 1,
               batch ? "s" : "", http, (long long)((now - t->sent_ns) / 1000));
    }
    lc_job_detach(dp, t);

    if (t->bad_answer) return lc_request_finish(dp, t, LEPTON_EPROTO, t->bad_text);
    if (cc != CURLE_OK) {
        if (lc_dp_conn_failure(cc) && !atomic_load(&w->up) && now < t->deadline_ns)
            return request_requeue(dp, t, net, text);
        if (was_up) net = lc_dp_refine_lost(dp, net, text, sizeof text);
        return lc_request_finish(dp, t, net, text);
    }
    if (t->json_answer != 2) {
        int starting = 0;
        int st = lc_dp_error_text(http, t->result.p ? t->result.p : "", t->result.len, text, sizeof text,
                                  &starting);
        lc_dp_note_answer(w, starting);
        if (starting == LC_RETRY_QUEUE_FULL) w->queue_full_ns = now;
        /* A full queue is a busy worker, not a dead one: the timeout counts from its last result. */
        int64_t busy_until = w->progress_ns + (int64_t)dp->timeout_ms * 1000000;
        if (starting == LC_RETRY_QUEUE_FULL && w->progress_ns && busy_until > t->deadline_ns)
            for (lepton_task *u = t; u; u = u->batch_next)
                u->deadline_ns = busy_until;
        /* not up yet, restarting, or too many jobs held there: sent again after a back-off */
        if (starting && now < t->deadline_ns) return request_requeue(dp, t, st, text);
        if (http >= 200 && http < 300) {
            snprintf(text, sizeof text, "the worker answered HTTP %ld with JSON instead of a job result",
                     http);
            st = LEPTON_EPROTO;
        }
        return lc_request_finish(dp, t, st, text);
    }
    atomic_store(&w->up, 1);
    if (!batch) t->rec_complete = 1;
    lc_request_finish(dp, t, LEPTON_EPROTO,
                      "the worker's answer to the batch ended before this job's result");
}

/* Completes the jobs curl has finished with; returns how many. The caller holds the role. */
int lc_reap(lc_dp *dp) {
    int running = 0, done = 0, left;
    curl_multi_perform(dp->multi, &running);
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(dp->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        lepton_task *t = NULL;
        CURLcode cc = msg->data.result;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        if (t) job_done(dp, t, cc);
        done++;
    }
    return done;
}
