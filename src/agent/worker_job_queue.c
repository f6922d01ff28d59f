/* worker_job_queue.c — the order jobs run in (worker.h, docs/dataplane.md "Jobs"): each job session's
 * queue (made on first sight, freed when idle), jobs entered by seq and run one at a time across
 * sessions, each session's in seq order; recent results remembered so that a retried seq is
 * answered without running twice; the queue limit's accounting; the jobs' ends when the worker
 * stops.
 *
 * There is no executor thread: the request thread of the job that is due runs it itself (no
 * hand-off between threads on the path of a job), and whoever finishes a job wakes the waiters of
 * the next one, one of which runs it.
 *
 * After a sticky CUDA error (wk_poison) only the job that faulted reports it: the jobs waiting
 * behind it, and every request after it, are answered 503 worker_restarting, and their seqs are
 * left to the replacement worker. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "wire.h"
#include "worker.h"

#define REMEMBER_JOBS 256 /* finished jobs whose results are kept for retries, per session */
#define REMEMBER_BYTES (256u << 20)
#define REMEMBER_BYTES_ALL (1ull << 30) /* their bytes in all sessions together */
#define GAP_NS (10ll * 1000000000) /* how long a job waits for a predecessor that has not begun to arrive */
#define SESSION_IDLE_NS (600ll * 1000000000) /* an idle session is freed after this long unused */

/* Forgets q's oldest finished job: 0, or -1 when it has none. Under job_mu. */
static int forget_oldest_locked(lp_worker *w, wk_jobq *q) {
    wk_job **pp = &q->jobs, *prev = NULL;
    while (*pp && !(*pp)->done) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (!*pp) return -1;
    wk_job *j = *pp;
    *pp = j->next;
    if (q->jobs_tail == j) q->jobs_tail = prev;
    q->remembered--;
    q->remembered_bytes -= j->res_len;
    w->remembered_bytes -= j->res_len;
    if (--j->refs == 0) wk_job_free(j);
    return 0;
}

/* Drops the oldest finished jobs of q past its remembering limits, then, while the sessions
 * together hold more than REMEMBER_BYTES_ALL, the oldest result of any session. Under job_mu. */
static void evict_locked(lp_worker *w, wk_jobq *q) {
    while ((q->remembered > REMEMBER_JOBS || q->remembered_bytes > REMEMBER_BYTES) &&
           forget_oldest_locked(w, q) == 0) {
    }
    while (w->remembered_bytes > REMEMBER_BYTES_ALL) {
        wk_jobq *oldest = NULL; /* finished jobs come first in a session's list */
        for (wk_jobq *p = &w->q0; p; p = p == &w->q0 ? w->sessions : p->next)
            if (p->jobs && p->jobs->done && (!oldest || p->jobs->ended_ns < oldest->jobs->ended_ns))
                oldest = p;
        if (!oldest || forget_oldest_locked(w, oldest) != 0) break;
    }
}

/* The job due now: the first unfinished one when its seq is the next to run. (The list holds the
 * finished jobs first: jobs run in seq order and only seqs not run yet are entered.) */
static wk_job *due_locked(const wk_jobq *q) {
    wk_job *j = q->undone;
    return j && j->seq == q->next_seq ? j : NULL;
}

/* Wakes the due job of every session: the GPU is free, and any of them may run next. */
static void wake_due_locked(lp_worker *w) {
    for (wk_jobq *q = &w->q0; q; q = q == &w->q0 ? w->sessions : q->next) {
        wk_job *due = due_locked(q);
        if (due) pthread_cond_broadcast(&due->cv);
    }
}

/* Wakes every waiting job of every session. */
static void wake_all_locked(lp_worker *w) {
    for (wk_jobq *q = &w->q0; q; q = q == &w->q0 ? w->sessions : q->next)
        for (wk_job *j = q->jobs; j; j = j->next)
            pthread_cond_broadcast(&j->cv);
}

/* 1 when a job with a seq in [next_seq, seq) is still arriving (its body is streaming in). */
static int arriving_below_locked(const wk_jobq *q, uint64_t seq) {
    for (size_t i = 0; i < q->narriving; i++)
        if (q->arriving[i] >= q->next_seq && q->arriving[i] < seq) return 1;
    return 0;
}

/* Waits until j (of q) is done, running it here when it is due. Under job_mu. */
static void drive_locked(wk_jobq *q, wk_job *j) {
    lp_worker *w = q->w;
    while (!j->done && !w->stopping && !wk_is_poisoned(w)) {
        if (!w->running) {
            wk_job *due = due_locked(q);
            if (due == j) {
                __atomic_store_n(&w->running, 1, __ATOMIC_RELEASE);
                if (q->floating) { /* the seqs before its first here went with the predecessor */
                    q->floating = 0;
                    q->lost_lo = 1;
                    q->lost_hi = j->seq - 1;
                }
                pthread_mutex_unlock(&w->job_mu);
                j->started_ns = lp_mono_ns();
                wk_job_execute(w, q, j);
                pthread_mutex_lock(&w->job_mu);
                j->done = 1;
                w->queued_jobs--;
                q->undone = j->next; /* j was the first unfinished job */
                q->next_seq = j->seq + 1;
                q->seq_done = j->seq;
                if (q->seq_recv < j->seq || wk_is_poisoned(w)) q->seq_recv = j->seq; /* see wk_poison */
                if (q == &w->q0) wk_seq_save(w);
                q->remembered++;
                q->remembered_bytes += j->res_len;
                w->remembered_bytes += j->res_len;
                __atomic_store_n(&w->running, 0, __ATOMIC_RELEASE);
                pthread_cond_broadcast(&j->cv); /* retries of the same seq */
                evict_locked(w, q);             /* j stays alive: the caller holds a reference */
                wake_due_locked(w);             /* the next job of any session */
                return;
            }
            if (!due) {
                /* nothing due: has the earliest waiting job waited too long for a missing seq? (not
                 * while jobs are being refused for a full queue: the missing one may be among them) */
                wk_job *first = q->undone;
                if (first && first->seq > q->next_seq && lp_mono_ns() - first->queued_ns > GAP_NS &&
                    lp_mono_ns() - w->queue_full_ns > GAP_NS && !arriving_below_locked(q, first->seq)) {
                    lp_log(LP_LOG_WARN,
                           "lease %s gpu %s: jobs %" PRIu64 "..%" PRIu64 " of session %" PRIu64
                           " never arrived; going on with job %" PRIu64,
                           w->lease, w->uuid, q->next_seq, first->seq - 1, q->session, first->seq);
                    q->next_seq = first->seq;
                    pthread_cond_broadcast(&first->cv);
                    continue;
                }
            }
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&j->cv, &w->job_mu, &ts);
    }
}

/* Enters j into q (under job_mu). Returns the job whose result answers it, with a reference for
 * the caller: j itself, or the remembered job of the same seq (a retry; j is freed); or NULL with
 * why filled when the seq is too old to answer (j is freed). */
static wk_job *enter_locked(lp_worker *w, wk_jobq *q, wk_job *j, wk_refusal *why) {
    uint64_t seq = j->seq;
    why->seq = seq;
    why->code = NULL;
    if (q->floating && seq < q->next_seq) q->next_seq = seq; /* none of its jobs has run here yet */
    wk_job **pp = &q->jobs;
    if (q->jobs_tail && q->jobs_tail->seq < seq)
        pp = &q->jobs_tail->next; /* the usual case: after every job entered so far */
    else
        while (*pp && (*pp)->seq < seq)
            pp = &(*pp)->next;
    if (*pp && (*pp)->seq == seq) {
        wk_job_free(j); /* a retry: answer with the first one's result */
        (*pp)->refs++;
        return *pp;
    }
    if (seq < q->next_seq) {
        if (seq >= q->lost_lo && seq <= q->lost_hi) {
            why->code = WIRE_NODE_LOST;
            why->hint = "its buffers are lost too; allocate and write them again";
            snprintf(why->msg, sizeof why->msg,
                     "job seq %" PRIu64 " was lost with the previous worker of this GPU, which failed", seq);
        } else {
            why->code = WIRE_CONFLICT;
            why->hint = "number jobs per GPU from 1 in submission order";
            snprintf(why->msg, sizeof why->msg,
                     "job seq %" PRIu64
                     " already ran here and its result is no longer held (next seq: %" PRIu64 ")",
                     seq, q->next_seq);
        }
        wk_job_free(j);
        return NULL;
    }
    j->refs = 2; /* the table's and the caller's */
    w->queued_jobs++;
    j->next = *pp;
    *pp = j;
    if (!j->next) q->jobs_tail = j;
    if (!q->undone || seq < q->undone->seq) q->undone = j; /* seq >= next_seq: after every finished job */
    if (seq > q->seq_recv) q->seq_recv = seq;
    return j;
}

/* Enters jobs[0..n) (seqs increasing) into q, then waits for each in turn, running it when it is
 * due. Jobs of other requests of the session interleave by seq. This cannot deadlock: every
 * request waits on its smallest unfinished seq, so the smallest pending seq of each session always
 * has a request to run it, and the sessions share the GPU without waiting on one another's seqs.
 * On return jobs[i] is done with a result and holds a reference for the caller, or is NULL with
 * why[i] filled. */
void wk_jobs_submit(wk_jobq *q, wk_job **jobs, wk_refusal *why, size_t n) {
    lp_worker *w = q->w;
    pthread_mutex_lock(&w->job_mu);
    uint64_t recv = q->seq_recv;
    for (size_t i = 0; i < n; i++) {
        if (wk_is_poisoned(w)) { /* the context is lost: the replacement takes this seq */
            why[i].seq = jobs[i]->seq;
            why[i].code = WK_RESTARTING;
            why[i].hint = "send it again in a moment";
            snprintf(why[i].msg, sizeof why[i].msg, "the worker is restarting after %.150s", w->poison);
            wk_job_free(jobs[i]);
            jobs[i] = NULL;
            continue;
        }
        jobs[i] = enter_locked(w, q, jobs[i], &why[i]);
    }
    if (q->seq_recv != recv && q == &w->q0) wk_seq_save(w);
    int stopping = w->stopping;
    for (size_t i = 0; i < n && !stopping; i++)
        if (jobs[i]) drive_locked(q, jobs[i]); /* returns at once when the worker stops */
    for (size_t i = 0; i < n; i++) {
        wk_job *j = jobs[i];
        if (!j || (!stopping && j->done && j->res)) continue;
        int lost = stopping || !j->done;
        why[i].code = lost ? WIRE_NODE_LOST : WIRE_INTERNAL;
        why[i].hint = NULL;
        snprintf(why[i].msg, sizeof why[i].msg, "%s",
                 lost ? "the worker is shutting down" : "the worker ran out of memory for the job's result");
        if (!j->done && wk_is_poisoned(w)) { /* it waited behind the job that faulted */
            why[i].code = WK_RESTARTING;
            why[i].hint = "send it again in a moment";
            snprintf(why[i].msg, sizeof why[i].msg, "the worker is restarting after %.150s", w->poison);
        }
        jobs[i] = NULL;
        if (--j->refs == 0) wk_job_free(j); /* not while the table holds it: a job not done stays there */
    }
    pthread_mutex_unlock(&w->job_mu);
}

static void jobq_clear(lp_worker *w, wk_jobq *q) {
    wk_output_drop_locked(q);
    w->remembered_bytes -= q->remembered_bytes;
    q->remembered = q->remembered_bytes = 0;
    q->jobs_tail = q->undone = NULL;
    while (q->jobs) {
        wk_job *j = q->jobs;
        q->jobs = j->next;
        if (--j->refs == 0) wk_job_free(j);
    }
}

static int jobq_idle(const wk_jobq *q) { return !q->users && !q->undone && !q->narriving; }

/* Frees session *pp (idle), remembering where its seqs go on. Under job_mu. */
static void jobq_retire_locked(lp_worker *w, wk_jobq **pp) {
    wk_jobq *q = *pp;
    *pp = q->next;
    size_t slots = sizeof w->retired / sizeof w->retired[0];
    w->retired[w->nretired % slots].session = q->session;
    w->retired[w->nretired % slots].next_seq = q->next_seq;
    w->nretired++;
    w->nsessions--;
    jobq_clear(w, q);
    free(q);
}

wk_jobq *wk_jobq_take(lp_worker *w, uint64_t session) {
    if (!session) {
        pthread_mutex_lock(&w->job_mu);
        w->q0.users++;
        pthread_mutex_unlock(&w->job_mu);
        return &w->q0;
    }
    int64_t now = lp_mono_ns();
    pthread_mutex_lock(&w->job_mu);
    wk_jobq *q = NULL, **lru = NULL;
    for (wk_jobq **pp = &w->sessions; *pp;) {
        if ((*pp)->session == session) {
            q = *pp;
            pp = &q->next;
        } else if (jobq_idle(*pp) && now - (*pp)->used_ns > SESSION_IDLE_NS) {
            jobq_retire_locked(w, pp);
        } else {
            if (jobq_idle(*pp) && (!lru || (*pp)->used_ns < (*lru)->used_ns)) lru = pp;
            pp = &(*pp)->next;
        }
    }
    if (!q && w->nsessions >= WK_SESSIONS_MAX && lru) jobq_retire_locked(w, lru);
    if (!q && w->nsessions < WK_SESSIONS_MAX && (q = calloc(1, sizeof *q))) {
        q->w = w;
        q->session = session;
        q->next_seq = 1;
        /* Its earlier jobs may have run on a predecessor (and died with it): its first jobs set
         * where it starts. A session freed here while idle goes on where it was. */
        q->floating = w->replacement;
        if (q->floating) q->next_seq = UINT64_MAX;
        size_t slots = sizeof w->retired / sizeof w->retired[0];
        for (size_t i = 0; i < slots && i < w->nretired; i++)
            if (w->retired[i].session == session && (q->floating || w->retired[i].next_seq > q->next_seq)) {
                q->next_seq = w->retired[i].next_seq; /* the latest: seqs only grow */
                q->floating = 0;
            }
        q->next = w->sessions;
        w->sessions = q;
        w->nsessions++;
    }
    if (q) {
        q->users++;
        q->used_ns = now;
    } else {
        w->queue_full_total++;
        w->queue_full_ns = now;
    }
    pthread_mutex_unlock(&w->job_mu);
    return q;
}

void wk_err_sessions_full(lp_worker *w, wk_err *e) {
    pthread_mutex_lock(&w->job_mu);
    size_t n = w->nsessions;
    pthread_mutex_unlock(&w->job_mu);
    wk_err_set(e, "queue_full", "send it again once other handles' jobs have run, or detach idle handles",
               "the worker of GPU %s holds %zu job sessions (its most), each with jobs pending or a request "
               "or stream open; a new session must wait",
               w->uuid, n);
    e->status = 503;
}

void wk_jobq_put(wk_jobq *q) {
    if (!q) return;
    lp_worker *w = q->w;
    pthread_mutex_lock(&w->job_mu);
    q->users--;
    q->used_ns = lp_mono_ns();
    pthread_mutex_unlock(&w->job_mu);
}

void wk_job_release(lp_worker *w, uint64_t len) {
    if (!len) return;
    pthread_mutex_lock(&w->job_mu);
    w->queued_bytes -= len;
    pthread_mutex_unlock(&w->job_mu);
}

int wk_job_admit(lp_worker *w, wk_jobq *q, uint64_t seq, uint64_t len) {
    int known = seq > 0;
    uint64_t limit = w->queue_limit ? w->queue_limit : WK_QUEUE_DEFAULT;
    pthread_mutex_lock(&w->job_mu);
    int ok = q && (!w->queued_bytes || len <= limit - (w->queued_bytes < limit ? w->queued_bytes : limit) ||
                   (known && seq <= q->next_seq));
    if (ok) {
        w->queued_bytes += len;
    } else if (q) { /* no session: wk_jobq_take counted it */
        w->queue_full_total++;
        w->queue_full_ns = lp_mono_ns();
    }
    pthread_mutex_unlock(&w->job_mu);
    return ok;
}

static void arriving_drop(wk_jobq *q, uint64_t seq) {
    pthread_mutex_lock(&q->w->job_mu);
    for (size_t i = 0; i < q->narriving; i++)
        if (q->arriving[i] == seq) {
            q->arriving[i] = q->arriving[--q->narriving];
            break;
        }
    pthread_mutex_unlock(&q->w->job_mu);
}

int wk_job_announce(wk_jobq *q, uint64_t seq) {
    int ok = 0;
    pthread_mutex_lock(&q->w->job_mu);
    if (seq && q->narriving < sizeof q->arriving / sizeof q->arriving[0]) {
        q->arriving[q->narriving++] = seq;
        ok = 1;
    }
    pthread_mutex_unlock(&q->w->job_mu);
    return ok;
}

void wk_job_arrived(wk_jobq *q, uint64_t seq) { arriving_drop(q, seq); }

int wk_job_run(wk_jobq *q, char *body, size_t len, int64_t queued_ns, wk_job_answer *a) {
    lp_worker *w = q->w;
    a->job = NULL;
    a->res = NULL;
    a->len = 0;
    const char *code;
    char msg[400];
    wk_job *j = wk_job_parse_new(body, len, queued_ns, &code, msg, sizeof msg);
    if (!j) {
        wk_err_set(&a->err, code, !strcmp(code, WIRE_INVALID) ? WK_JOBS_HINT : NULL, "%s", msg);
        return -1;
    }
    wk_refusal why;
    wk_jobs_submit(q, &j, &why, 1);
    if (!j) {
        if (why.code && !strcmp(why.code, WK_RESTARTING))
            wk_err_restarting(w, &a->err);
        else
            wk_err_set(&a->err, why.code, why.hint, "%s", why.msg);
        return -1;
    }
    a->job = j;
    a->res = j->res;
    a->len = j->res_len;
    return 0;
}

void wk_job_answer_done(lp_worker *w, wk_job_answer *a) {
    if (a->job) wk_job_put(w, a->job);
    a->job = NULL;
}

/* Wakes every waiter (they answer that the worker is going away). */
void wk_jobs_stop(lp_worker *w) {
    pthread_mutex_lock(&w->job_mu);
    w->stopping = 1;
    wake_all_locked(w);
    pthread_mutex_unlock(&w->job_mu);
}

void wk_jobs_wake(lp_worker *w) {
    pthread_mutex_lock(&w->job_mu);
    wake_all_locked(w);
    pthread_mutex_unlock(&w->job_mu);
}

/* Drops every session's jobs and the sessions (streams whose upgrade never ran may still name
 * one: the server, and so every request and stream, is gone). */
void wk_jobs_free(lp_worker *w) {
    pthread_mutex_lock(&w->job_mu);
    jobq_clear(w, &w->q0);
    while (w->sessions) {
        wk_jobq *q = w->sessions;
        w->sessions = q->next;
        jobq_clear(w, q);
        free(q);
    }
    w->nsessions = 0;
    pthread_mutex_unlock(&w->job_mu);
}
