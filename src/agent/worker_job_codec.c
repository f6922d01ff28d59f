/* worker_job_codec.c — the bytes of jobs (worker.h, docs/dataplane.md "Jobs"): a job body (u32 LE n
 * + n bytes of JSON + write bytes) decoded into a job with the shared codec (wire_job.c), a batch's
 * framing (K <= 256 records of u32 LE L + L bytes of one job body) and its jobs, a job's result
 * JSON and the record of a job refused before it ran; and the decoders without a request or a GPU
 * that tests/fuzz drive. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"
#include "wire_job.h"
#include "worker.h"

static wk_job *job_new(void) {
    wk_job *j = calloc(1, sizeof *j);
    if (j && pthread_cond_init(&j->cv, NULL) != 0) {
        free(j);
        j = NULL;
    }
    return j;
}

void wk_job_free(wk_job *j) {
    if (!j) return;
    pthread_cond_destroy(&j->cv);
    wire_job_free(&j->wire);
    free(j->body);
    free(j->res_base);
    free(j);
}

void wk_job_put(lp_worker *w, wk_job *j) {
    pthread_mutex_lock(&w->job_mu);
    int last = --j->refs == 0;
    pthread_mutex_unlock(&w->job_mu);
    if (last) wk_job_free(j);
}

/* Decodes the request body into j (taking it) with the shared codec (wire_job.c). Returns -1 with
 * code and msg when it has no usable seq (the request is refused outright); otherwise 0, with j->pre_code
 * set when the job is malformed or past a limit (it fails in its turn, as the client would have
 * been told at lepton_submit). */
static int parse_job(wk_job *j, char *body, size_t len, const char **code, char *msg, size_t ms) {
    j->body = body;
    long step = -1;
    char pm[sizeof j->pre_msg];
    int rc = wire_job_decode(body, len, &j->wire, &step, pm, sizeof pm);
    j->seq = j->wire.seq;
    j->binary = j->wire.binary;
    j->pre_step = -1;
    if (rc && !j->seq) {
        *code = wire_job_code(rc);
        snprintf(msg, ms, "%s", pm);
        return -1;
    }
    if (rc) {
        snprintf(j->pre_code, sizeof j->pre_code, "%s", wire_job_code(rc));
        snprintf(j->pre_msg, sizeof j->pre_msg, "%s", pm);
        j->pre_step = step;
        return 0;
    }
    j->steps = j->wire.steps;
    j->nsteps = j->wire.nsteps;
    j->read_total = j->wire.read_total;
    return 0;
}

/* A job parsed from body (taken). NULL with code and msg when it cannot be one: out of memory, or
 * no usable seq (a malformed job with a seq is a job: it fails in its turn). */
wk_job *wk_job_parse_new(char *body, size_t len, int64_t now, const char **code, char *msg, size_t ms) {
    wk_job *j = job_new();
    if (!j) {
        free(body);
        *code = WIRE_INTERNAL;
        snprintf(msg, ms, "out of memory");
        return NULL;
    }
    if (parse_job(j, body, len, code, msg, ms) != 0) {
        wk_job_free(j);
        return NULL;
    }
    j->queued_ns = now;
    return j;
}

/* Writes the result of a job (step < 0: none) into out[cap], as JSON or (binary) in the binary
 * form (wire_job.c); its length, 0 when it does not fit. */
size_t wk_job_result_json(const lp_worker *w, char *out, size_t cap, uint64_t seq, const char *status,
                          const char *error, long step, int64_t queued_ns, int64_t started_ns,
                          int64_t ended_ns, int restarting, const int64_t *events, size_t nevents,
                          const uint64_t *output, int binary) {
    wire_job_result r = {.seq = seq,
                         .status = status,
                         .error = error,
                         .step = step,
                         .queued_ns = queued_ns,
                         .started_ns = started_ns,
                         .ended_ns = ended_ns,
                         .restarting = restarting,
                         .instance = w->instance,
                         .output = output ? output[WK_STDOUT] : 0,
                         .output_stderr = output ? output[WK_STDERR] : 0,
                         .nevents = nevents < WIRE_JOB_MAX_EVENTS ? nevents : WIRE_JOB_MAX_EVENTS,
                         .binary = binary};
    if (r.nevents) memcpy(r.events, events, r.nevents * sizeof *events);
    return wire_job_result_encode(&r, out, cap);
}

/* u32 LE n + the result JSON of a job refused before it ran (no data bytes), or NULL. */
char *wk_refusal_record(const lp_worker *w, const wk_refusal *why, size_t *len) {
    char text[WIRE_JOB_MAX_RESULT];
    size_t tl = wk_job_result_json(w, text, sizeof text, why->seq, why->code, why->msg, -1, 0, 0, 0,
                                   !strcmp(why->code, WK_RESTARTING), NULL, 0, NULL, 0);
    char *rec = tl ? malloc(4 + tl) : NULL;
    if (rec) {
        wire_put_le32(rec, (uint32_t)tl);
        memcpy(rec + 4, text, tl);
        *len = 4 + tl;
    }
    return rec;
}

/* Checks a batch's framing: K records of u32 LE L + L bytes, exactly filling the body. Returns K,
 * or 0 with code, hint and msg. */
size_t wk_batch_frame(const char *buf, size_t len, const char **code, const char **hint, char *msg,
                      size_t ms) {
    size_t k = 0;
    *code = WIRE_INVALID;
    *hint = WK_JOBS_HINT;
    for (size_t off = 0; off < len; k++) {
        if (k == WK_BATCH_MAX_JOBS) {
            *code = WIRE_TOO_LARGE;
            *hint = "send at most 256 jobs per batch";
            snprintf(msg, ms, "a batch holds at most %d jobs; the body goes on after job %d",
                     WK_BATCH_MAX_JOBS, WK_BATCH_MAX_JOBS - 1);
            return 0;
        }
        if (len - off < 4) {
            snprintf(msg, ms, "job %zu: the body ends %zu bytes into the record's 4-byte length", k,
                     len - off);
            return 0;
        }
        uint32_t l = wire_get_le32(buf + off);
        if (l < 4 || l > len - off - 4) {
            snprintf(msg, ms,
                     "job %zu: a record of %" PRIu32 " bytes at byte %zu %s (%zu bytes follow its length)", k,
                     l, off, l < 4 ? "cannot hold a job" : "runs past the end of the body", len - off - 4);
            return 0;
        }
        off += 4 + (size_t)l;
    }
    if (!k) snprintf(msg, ms, "a batch holds at least one job; the body is empty");
    return k;
}

/* Parses the batch's K jobs, each from its own copy of its record: run_job frees a job's body
 * once it ran, and batched jobs are small. Returns 0, or -1 with code and msg (nothing was
 * entered: every job is checked first; the jobs parsed so far are freed). */
int wk_batch_jobs_decode(const char *buf, size_t k, int64_t now, wk_job **jobs, const char **code_out,
                         char *out, size_t outsz) {
    size_t off = 0;
    for (size_t i = 0; i < k; i++) {
        size_t len = wire_get_le32(buf + off);
        char *body = malloc(len);
        const char *code = WIRE_INTERNAL;
        char msg[400] = "out of memory";
        if (body) {
            memcpy(body, buf + off + 4, len);
            jobs[i] = wk_job_parse_new(body, len, now, &code, msg, sizeof msg);
        }
        off += 4 + len;
        if (jobs[i] && i && jobs[i]->seq <= jobs[i - 1]->seq) {
            code = WIRE_INVALID;
            snprintf(msg, sizeof msg,
                     "seq %" PRIu64 " does not follow seq %" PRIu64 " of job %zu: a batch's seqs increase",
                     jobs[i]->seq, jobs[i - 1]->seq, i - 1);
            wk_job_free(jobs[i]);
            jobs[i] = NULL;
        }
        if (!jobs[i]) {
            *code_out = code;
            snprintf(out, outsz, "job %zu: %s", i, msg);
            for (size_t m = 0; m < i; m++)
                wk_job_free(jobs[m]);
            return -1;
        }
    }
    return 0;
}

int wk_job_decode(const char *body, size_t len, char *msg, size_t ms) {
    char *copy = malloc(len ? len : 1);
    if (!copy) {
        snprintf(msg, ms, "out of memory");
        return -1;
    }
    if (len) memcpy(copy, body, len);
    const char *code = NULL;
    wk_job *j = wk_job_parse_new(copy, len, 0, &code, msg, ms);
    if (!j) return -1;
    if (j->pre_code[0]) snprintf(msg, ms, "%s: %s", j->pre_code, j->pre_msg);
    int rc = j->pre_code[0] ? 1 : 0;
    wk_job_free(j);
    return rc;
}

int wk_batch_decode(const char *buf, size_t len, char *msg, size_t ms) {
    const char *code, *hint;
    size_t k = wk_batch_frame(buf, len, &code, &hint, msg, ms);
    if (!k) return -1;
    wk_job **jobs = calloc(k, sizeof *jobs);
    if (!jobs) {
        snprintf(msg, ms, "out of memory");
        return -1;
    }
    int rc = wk_batch_jobs_decode(buf, k, 0, jobs, &code, msg, ms);
    if (rc == 0)
        for (size_t i = 0; i < k; i++)
            wk_job_free(jobs[i]);
    free(jobs);
    return rc;
}
