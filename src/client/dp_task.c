/* dp_task.c — task handles: their references (the caller's and the transport's), the outcome
 * published under the task's mutex, and lepton_wait (which drives the transport itself when the
 * driver role is free), lepton_task_get_info and lepton_task_free.
 *
 * The job transport's design (ownership, thread safety, lock order, the driver role) is in
 * dp_drive.c's first comment. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "dataplane.h"
#include "dp_jobs_internal.h"
#include "errors.h"

/* Sizes of each known version of lepton_task_info (index = version). */
static const size_t info_size[] = {0, sizeof(lepton_task_info)};
#define INFO_VERSION_MAX (sizeof info_size / sizeof info_size[0] - 1)

void lc_task_unref(lepton_task *t) {
    if (atomic_fetch_sub(&t->refs, 1) != 1) return;
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    lp_buf_free(&t->result);
    lp_buf_free(&t->http_head);
    free(t);
}

/* Publishes the outcome, wakes the waiters and drops the transport's reference. */
void lc_task_complete(lepton_task *t, int32_t state, int32_t status, const char *error, const int64_t ns[3]) {
    lp_buf_free(&t->result);
    pthread_mutex_lock(&t->mu);
    t->state = state;
    t->status = status;
    if (ns) {
        t->queued_ns = ns[0];
        t->started_ns = ns[1];
        t->ended_ns = ns[2];
    }
    snprintf(t->error, sizeof t->error, "%s", error ? error : "");
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    lc_task_unref(t);
}

static int finished(int32_t state) {
    return state == LEPTON_TASK_DONE || state == LEPTON_TASK_FAILED || state == LEPTON_TASK_CANCELED;
}

int lepton_wait(lepton_task *t, int32_t timeout_ms) {
    static const char fn[] = "lepton_wait";
    if (!t) return lc_fail(LEPTON_EINVAL, "%s: t is NULL", fn);
    pthread_mutex_lock(&t->mu);
    if (timeout_ms < 0) timeout_ms = t->timeout_ms;
    int64_t deadline = lp_mono_ns() + (int64_t)timeout_ms * 1000000;
    for (int round = 0; !finished(t->state); round++) {
        int64_t left_ns = deadline - lp_mono_ns();
        if (round > 0 && left_ns <= 0) break;
        /* While the task is unfinished its lease's data plane exists (a close completes every
         * task before freeing it, and completing takes t->mu): take the role if it is free. */
        lc_dp *dp = t->dp;
        pthread_mutex_lock(&dp->lock);
        int drive = dp->driver == LC_ROLE_NONE && !dp->stopping && dp->multi;
        if (drive) dp->driver = LC_ROLE_CALLER;
        if (!drive && dp->driver == LC_ROLE_IO && !dp->stopping && left_ns > 0) {
            /* The I/O thread drives: ask for the role (it gives it back after its current round,
             * woken from its wait) and take it, rather than sleep until it signals this task. */
            pthread_mutex_unlock(&t->mu);
            dp->want_role++;
            lc_dp_wake(dp);
            int64_t step = left_ns < LC_DP_GRACE_NS ? left_ns : LC_DP_GRACE_NS;
            struct timespec until = lc_timespec(lp_mono_ns() + step);
            atomic_fetch_add(&dp->sleepers, 1); /* the lease's close waits for it to leave */
            while (dp->driver == LC_ROLE_IO && !dp->stopping &&
                   pthread_cond_timedwait(&dp->role_cv, &dp->lock, &until) == 0) {
            }
            atomic_fetch_sub(&dp->sleepers, 1);
            dp->want_role--;
            pthread_mutex_unlock(&dp->lock);
            pthread_mutex_lock(&t->mu);
            continue;
        }
        pthread_mutex_unlock(&dp->lock);
        if (drive) {
            /* Drive the transport on this thread until the task ends or the time is up: the
             * answer is read here, with no hand-over between threads. */
            pthread_mutex_unlock(&t->mu);
            for (;;) {
                left_ns = deadline - lp_mono_ns();
                long poll_ms = left_ns <= 0 ? 0 : (long)((left_ns + 999999) / 1000000);
                lc_drive_once(dp, poll_ms > 1000 ? 1000 : poll_ms);
                pthread_mutex_lock(&t->mu);
                int fin = finished(t->state);
                pthread_mutex_unlock(&t->mu);
                if (fin || deadline - lp_mono_ns() <= 0) break;
                pthread_mutex_lock(&dp->lock);
                int stop = dp->stopping;
                pthread_mutex_unlock(&dp->lock);
                if (stop) break;
            }
            pthread_mutex_lock(&dp->lock);
            lc_role_release_locked(dp);
            pthread_mutex_unlock(&dp->lock);
            pthread_mutex_lock(&t->mu);
            continue;
        }
        /* Another thread drives: it signals the task's end. Look again at the role now and
         * then, in case that thread is done driving before this task is. */
        if (left_ns <= 0) break;
        int64_t step = left_ns < LC_DP_GRACE_NS ? left_ns : LC_DP_GRACE_NS;
        struct timespec until = lc_timespec(lp_mono_ns() + step);
        /* Counted as a sleeper so that a driver leaving hands over at once; the lease's close
         * waits for sleepers to leave before freeing dp. */
        atomic_fetch_add(&dp->sleepers, 1);
        pthread_cond_timedwait(&t->cv, &t->mu, &until);
        atomic_fetch_sub(&dp->sleepers, 1);
    }
    int32_t state = t->state, status = t->status;
    char error[sizeof t->error];
    memcpy(error, t->error, sizeof error);
    pthread_mutex_unlock(&t->mu);
    if (!finished(state))
        return lc_fail(LEPTON_ETIMEDOUT, "%s: the task is still queued or running after %d ms", fn,
                       (int)timeout_ms);
    if (status != LEPTON_OK) return lc_fail(status, "%s", error);
    return LEPTON_OK;
}

int lepton_task_get_info(lepton_task *t, lepton_task_info *out) {
    static const char fn[] = "lepton_task_get_info";
    if (!t) return lc_fail(LEPTON_EINVAL, "%s: t is NULL", fn);
    if (!out) return lc_fail(LEPTON_EINVAL, "%s: out is NULL", fn);
    if (out->version == 0 || out->version > INFO_VERSION_MAX)
        return lc_fail(
            LEPTON_EINVAL,
            "%s: out->version %u is not supported (this library knows versions 1 to %zu); initialise "
            "the struct with LEPTON_TASK_INFO_INIT",
            fn, out->version, (size_t)INFO_VERSION_MAX);
    lepton_task_info info = LEPTON_TASK_INFO_INIT;
    pthread_mutex_lock(&t->mu);
    info.state = t->state;
    info.status = t->status;
    info.queued_ns = t->queued_ns;
    info.started_ns = t->started_ns;
    info.ended_ns = t->ended_ns;
    memcpy(info.error, t->error, sizeof info.error);
    pthread_mutex_unlock(&t->mu);
    /* Write only the fields the caller's version of the struct has. */
    size_t from = offsetof(lepton_task_info, state);
    memcpy((char *)out + from, (const char *)&info + from, info_size[out->version] - from);
    return LEPTON_OK;
}

void lepton_task_free(lepton_task *t) {
    if (t) lc_task_unref(t);
}
