/* test_queue.c — the remote driver's queue rules (src/remote/queue.c) against a fake transport:
 * what submits and what waits, the bounds, forward mode, pageable copies vs pinned references,
 * errors surfacing at the next synchronisation, queries answering NOT_READY, events and host
 * functions. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "queue.h"

/* ---- the fake transport: a job list with scripted outcomes ---- */
#define MAX_JOBS 512
typedef struct fake_job {
    size_t nsteps;
    int kinds[1100];
    unsigned char first_write[8]; /* the first WRITE step's first bytes, read at wait time */
    void *first_write_ptr;
    int polls_left; /* waits with timeout 0 that answer RUNNING */
    int status, lost, waited, released;
    size_t nevents;
} fake_job;

typedef struct fake {
    fake_job jobs[MAX_JOBS];
    int njobs;
    int fail_job; /* index of the job that fails (-1: none) */
    int fail_status;
    int lose_from;   /* jobs from this index on report the lease lost (-1: never) */
    int submit_lost; /* submit itself fails as lost */
    int polls;       /* polls_left given to each new job */
    int64_t clock;
} fake;

static int fake_submit(void *ctx, const rq_step *steps, size_t n, void **ticket, rq_result *r) {
    fake *f = ctx;
    if (f->submit_lost) {
        r->status = RQ_LAUNCH_FAILED;
        r->lost = 1;
        snprintf(r->msg, sizeof r->msg, "LEPTON_ENODELOST: fake worker gone");
        return -1;
    }
    if (f->njobs == MAX_JOBS) {
        r->status = 999; /* CUDA_ERROR_UNKNOWN: the fake's table is full (a test that went wrong) */
        snprintf(r->msg, sizeof r->msg, "fake transport: more than %d jobs", MAX_JOBS);
        return -1;
    }
    fake_job *j = &f->jobs[f->njobs];
    memset(j, 0, sizeof *j);
    j->nsteps = n;
    for (size_t i = 0; i < n && i < 1100; i++) {
        j->kinds[i] = steps[i].kind;
        if (steps[i].kind == RQ_EVENT) j->nevents++;
        if (steps[i].kind == RQ_WRITE && !j->first_write_ptr) j->first_write_ptr = steps[i].host;
    }
    j->polls_left = f->polls;
    j->status = f->njobs == f->fail_job ? f->fail_status : RQ_OK;
    j->lost = f->lose_from >= 0 && f->njobs >= f->lose_from;
    *ticket = j;
    f->njobs++;
    return 0;
}

static int fake_wait(void *ctx, void *ticket, int timeout_ms, rq_result *r) {
    fake *f = ctx;
    fake_job *j = ticket;
    if (timeout_ms == 0 && j->polls_left > 0) {
        j->polls_left--;
        return RQ_RUNNING;
    }
    j->waited++;
    if (j->first_write_ptr) memcpy(j->first_write, j->first_write_ptr, sizeof j->first_write);
    r->status = j->lost ? RQ_LAUNCH_FAILED : j->status;
    r->lost = j->lost;
    if (j->status != RQ_OK)
        snprintf(r->msg, sizeof r->msg, "CUDA_ERROR_ILLEGAL_ADDRESS: launch step 0: boom");
    r->nevents = j->nevents;
    for (size_t i = 0; i < j->nevents; i++)
        r->events[i] = (f->clock += 1500000); /* 1.5 ms apart */
    return 0;
}

static void fake_release(void *ctx, void *ticket) {
    (void)ctx;
    ((fake_job *)ticket)->released++;
}

static fake g_fake;
static rq_queue g_q;

static void setup(int forward) {
    memset(&g_fake, 0, sizeof g_fake);
    g_fake.fail_job = -1;
    g_fake.lose_from = -1;
    rq_transport tr = {&g_fake, fake_submit, fake_wait, fake_release};
    rq_init(&g_q, &tr, forward);
}

static void teardown(void) { rq_destroy(&g_q, 1000); }

static rq_launch *mk_launch(void) {
    rq_launch *l = calloc(1, sizeof *l);
    l->function = strdup("k");
    l->nargs = 1;
    l->sizes = malloc(sizeof *l->sizes);
    l->sizes[0] = 8;
    l->data = calloc(1, 8);
    return l;
}

/* ---- cases ---- */

static void async_calls_cost_nothing_until_sync(void) {
    setup(0);
    char buf[64] = {0};
    CHECK_EQ_INT(rq_write(&g_q, 1, 0, buf, sizeof buf, 0), RQ_OK);
    CHECK_EQ_INT(rq_launch_add(&g_q, mk_launch()), RQ_OK);
    CHECK_EQ_INT(rq_memset(&g_q, 1, 0, 4, 7, 16, 0, 0), RQ_OK);
    CHECK_EQ_INT(rq_copy(&g_q, 2, 0, 1, 0, 64, 0, 0, 0), RQ_OK);
    CHECK_EQ_INT(g_fake.njobs, 0); /* nothing left the client */
    CHECK_EQ_INT(rq_read(&g_q, 2, 0, buf, sizeof buf), RQ_OK);
    CHECK_EQ_INT(rq_sync(&g_q), RQ_OK);
    CHECK_EQ_INT(g_fake.njobs, 1); /* one job, in program order */
    CHECK_EQ_INT(g_fake.jobs[0].nsteps, 5);
    CHECK_EQ_INT(g_fake.jobs[0].kinds[0], RQ_WRITE);
    CHECK_EQ_INT(g_fake.jobs[0].kinds[1], RQ_LAUNCH);
    CHECK_EQ_INT(g_fake.jobs[0].kinds[2], RQ_MEMSET);
    CHECK_EQ_INT(g_fake.jobs[0].kinds[3], RQ_COPY);
    CHECK_EQ_INT(g_fake.jobs[0].kinds[4], RQ_READ);
    CHECK_EQ_INT(g_fake.jobs[0].waited, 1);
    CHECK_EQ_INT(g_fake.jobs[0].released, 1);
    /* a sync with nothing queued costs nothing */
    CHECK_EQ_INT(rq_sync(&g_q), RQ_OK);
    CHECK_EQ_INT(g_fake.njobs, 1);
    teardown();
}

static void step_bound_submits_without_waiting(void) {
    setup(0);
    for (int i = 0; i < RQ_MAX_STEPS; i++)
        CHECK_EQ_INT(rq_memset(&g_q, 1, 0, 1, 0, 4, 0, 0), RQ_OK);
    CHECK_EQ_INT(g_fake.njobs, 1);
    CHECK_EQ_INT(g_fake.jobs[0].nsteps, RQ_MAX_STEPS);
    CHECK_EQ_INT(g_fake.jobs[0].waited, 0); /* submitted, not waited */
    CHECK_EQ_INT(rq_memset(&g_q, 1, 0, 1, 0, 4, 0, 0), RQ_OK);
    CHECK_EQ_INT(g_fake.njobs, 1);
    CHECK_EQ_INT(rq_sync(&g_q), RQ_OK);
    CHECK_EQ_INT(g_fake.njobs, 2);
    CHECK_EQ_INT(g_fake.jobs[1].nsteps, 1);
    CHECK_EQ_INT(g_fake.jobs[0].waited, 1);
    CHECK_EQ_INT(g_fake.jobs[1].waited, 1);
    teardown();
}

static void event_and_byte_bounds(void) {
    setup(0);
    rq_event *ev = rq_event_new(0);
    for (int i = 0; i < RQ_MAX_EVENTS - 1; i++)
        CHECK_EQ_INT(rq_event_record(&g_q, ev), RQ_OK);
    CHECK_EQ_INT(g_fake.njobs, 0);
    CHECK_EQ_INT(rq_event_record(&g_q, ev), RQ_OK);
    CHECK_EQ_INT(g_fake.njobs, 1);
    CHECK_EQ_INT(g_fake.jobs[0].nevents, RQ_MAX_EVENTS);
    /* 16 MiB of queued writes: 4 MiB each, the fourth submits */
    size_t n = 4u << 20;
    char *big = calloc(1, n);
    for (int i = 0; i < 3; i++)
        CHECK_EQ_INT(rq_write(&g_q, 1, 0, big, n, 1), RQ_OK);
    CHECK_EQ_INT(g_fake.njobs, 1);
    CHECK_EQ_INT(rq_write(&g_q, 1, 0, big, n, 1), RQ_OK);
    CHECK_EQ_INT(g_fake.njobs, 2);
    CHECK_EQ_INT(g_fake.jobs[1].nsteps, 4);
    /* one write larger than a piece is split */
    char *huge = calloc(1, RQ_PIECE + 100);
    CHECK_EQ_INT(rq_write(&g_q, 1, 0, huge, RQ_PIECE + 100, 1), RQ_OK);
    CHECK_EQ_INT(g_fake.njobs, 3); /* the first piece reached the bound */
    CHECK_EQ_INT(g_fake.jobs[2].nsteps, 1);
    CHECK_EQ_INT(rq_sync(&g_q), RQ_OK);
    CHECK_EQ_INT(g_fake.njobs, 4);
    CHECK_EQ_INT(g_fake.jobs[3].nsteps, 1); /* the 100-byte rest */
    rq_event_release(ev);
    free(big);
    free(huge);
    teardown();
}

static void descriptor_bound(void) {
    setup(0);
    /* launches of 4 KiB of parameters: ~5.5 KiB of base64 each, so 2 MiB of descriptor comes well
     * before 1024 steps */
    int n = 0;
    while (g_fake.njobs == 0 && n < RQ_MAX_STEPS) {
        rq_launch *l = mk_launch();
        l->sizes[0] = 4096;
        free(l->data);
        l->data = calloc(1, 4096);
        CHECK_EQ_INT(rq_launch_add(&g_q, l), RQ_OK);
        n++;
    }
    CHECK_EQ_INT(g_fake.njobs, 1);
    CHECK(n > 300 && n < 400);
    CHECK_EQ_INT(rq_sync(&g_q), RQ_OK);
    teardown();
}

static void forward_mode_one_round_trip_per_call(void) {
    setup(1);
    char buf[16] = {0};
    CHECK_EQ_INT(rq_write(&g_q, 1, 0, buf, sizeof buf, 0), RQ_OK);
    CHECK_EQ_INT(g_fake.njobs, 1);
    CHECK_EQ_INT(g_fake.jobs[0].waited, 1);
    CHECK_EQ_INT(rq_launch_add(&g_q, mk_launch()), RQ_OK);
    CHECK_EQ_INT(g_fake.njobs, 2);
    CHECK_EQ_INT(g_fake.jobs[1].waited, 1);
    CHECK_EQ_INT(rq_sync(&g_q), RQ_OK);
    CHECK_EQ_INT(g_fake.njobs, 2);
    teardown();
}

static void pageable_copied_pinned_referenced(void) {
    setup(0);
    unsigned char page[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    CHECK_EQ_INT(rq_write(&g_q, 1, 0, page, sizeof page, 0), RQ_OK);
    memset(page, 0xEE, sizeof page); /* the caller reuses its buffer at once: allowed for pageable */
    CHECK_EQ_INT(rq_sync(&g_q), RQ_OK);
    CHECK_EQ_INT(g_fake.jobs[0].first_write[0], 1);
    CHECK_EQ_INT(g_fake.jobs[0].first_write[7], 8);
    CHECK(g_fake.jobs[0].first_write_ptr != (void *)page);
    /* pinned: the step refers to the caller's memory, no copy */
    unsigned char pinned[8] = {9, 9, 9, 9, 9, 9, 9, 9};
    CHECK_EQ_INT(rq_write(&g_q, 1, 0, pinned, sizeof pinned, 1), RQ_OK);
    pinned[0] = 42; /* changed before the sync: the job sees it (CUDA's rule for pinned memory) */
    CHECK_EQ_INT(rq_sync(&g_q), RQ_OK);
    CHECK(g_fake.jobs[1].first_write_ptr == (void *)pinned);
    CHECK_EQ_INT(g_fake.jobs[1].first_write[0], 42);
    teardown();
}

static void error_surfaces_at_next_sync(void) {
    setup(0);
    g_fake.fail_job = 0;
    g_fake.fail_status = 700; /* CUDA_ERROR_ILLEGAL_ADDRESS */
    for (int i = 0; i < RQ_MAX_STEPS; i++)
        rq_launch_add(&g_q, mk_launch());
    CHECK_EQ_INT(g_fake.njobs, 1); /* submitted by the bound; its failure is not known yet */
    CHECK_EQ_INT(rq_memset(&g_q, 1, 0, 1, 0, 1, 0, 0), RQ_OK);
    CHECK_EQ_INT(rq_sync(&g_q), 700);
    CHECK(strstr(rq_last_message(&g_q), "CUDA_ERROR_ILLEGAL_ADDRESS") != NULL);
    teardown();
}

static void sticky_error_stays(void) {
    setup(0);
    g_fake.fail_job = 0;
    g_fake.fail_status = 700; /* CUDA_ERROR_ILLEGAL_ADDRESS: the context is corrupt */
    CHECK_EQ_INT(rq_launch_add(&g_q, mk_launch()), RQ_OK);
    CHECK_EQ_INT(rq_sync(&g_q), 700);
    CHECK_EQ_INT(rq_sync(&g_q), 700); /* again, as a local GPU answers */
    CHECK_EQ_INT(rq_launch_add(&g_q, mk_launch()), 700);
    CHECK_EQ_INT(rq_dead(&g_q), 700);
    CHECK_EQ_INT(g_fake.njobs, 1); /* nothing more was sent */
    teardown();
    /* a non-sticky failure is reported once and the device goes on */
    setup(0);
    g_fake.fail_job = 0;
    g_fake.fail_status = 1; /* CUDA_ERROR_INVALID_VALUE (a memset past a buffer's end) */
    CHECK_EQ_INT(rq_memset(&g_q, 1, 0, 1, 0, 1, 0, 0), RQ_OK);
    CHECK_EQ_INT(rq_sync(&g_q), 1);
    CHECK_EQ_INT(rq_dead(&g_q), RQ_OK);
    CHECK_EQ_INT(rq_memset(&g_q, 1, 0, 1, 0, 1, 0, 0), RQ_OK);
    CHECK_EQ_INT(rq_sync(&g_q), RQ_OK);
    teardown();
}

static void query_not_ready_while_running(void) {
    setup(0);
    g_fake.polls = 2;
    CHECK_EQ_INT(rq_launch_add(&g_q, mk_launch()), RQ_OK);
    CHECK_EQ_INT(rq_query(&g_q), RQ_NOT_READY); /* submitted by the query */
    CHECK_EQ_INT(g_fake.njobs, 1);
    CHECK_EQ_INT(rq_query(&g_q), RQ_NOT_READY);
    CHECK_EQ_INT(rq_query(&g_q), RQ_OK);
    CHECK_EQ_INT(g_fake.njobs, 1);
    CHECK_EQ_INT(rq_query(&g_q), RQ_OK); /* idle */
    teardown();
}

static void events_time_and_query(void) {
    setup(0);
    g_fake.polls = 1;
    rq_event *a = rq_event_new(0), *b = rq_event_new(0);
    float ms = -1;
    CHECK_EQ_INT(rq_event_query(a), RQ_OK); /* never recorded: complete */
    CHECK_EQ_INT(rq_event_elapsed(a, b, &ms), RQ_INVALID_VALUE);
    CHECK_EQ_INT(rq_event_record(&g_q, a), RQ_OK);
    CHECK_EQ_INT(rq_launch_add(&g_q, mk_launch()), RQ_OK);
    CHECK_EQ_INT(rq_event_record(&g_q, b), RQ_OK);
    CHECK_EQ_INT(rq_event_elapsed(a, b, &ms), RQ_NOT_READY);
    CHECK_EQ_INT(rq_event_query(b), RQ_NOT_READY); /* submits; the job is running */
    CHECK_EQ_INT(g_fake.njobs, 1);
    CHECK_EQ_INT(rq_event_sync(b), RQ_OK);
    CHECK_EQ_INT(rq_event_elapsed(a, b, &ms), RQ_OK);
    CHECK(ms > 1.49f && ms < 1.51f);
    /* the handle can go while a record is queued */
    CHECK_EQ_INT(rq_event_record(&g_q, a), RQ_OK);
    rq_event_release(a);
    CHECK_EQ_INT(rq_sync(&g_q), RQ_OK);
    rq_event_release(b);
    teardown();
}

static int g_cb_calls, g_cb_status, g_cb_jobs_waited;
static void on_host(void *user, int status) {
    g_cb_calls++;
    g_cb_status = status;
    g_cb_jobs_waited = ((fake *)user)->jobs[0].waited;
}

static void host_functions_after_their_work(void) {
    setup(0);
    g_cb_calls = 0;
    CHECK_EQ_INT(rq_launch_add(&g_q, mk_launch()), RQ_OK);
    CHECK_EQ_INT(rq_host_fn_add(&g_q, on_host, &g_fake), RQ_OK);
    CHECK_EQ_INT(g_cb_calls, 0);
    CHECK_EQ_INT(rq_sync(&g_q), RQ_OK);
    CHECK_EQ_INT(g_cb_calls, 1);
    CHECK_EQ_INT(g_cb_status, RQ_OK);
    CHECK_EQ_INT(g_cb_jobs_waited, 1); /* ran after the launch's job completed */
    /* with nothing queued and nothing out: runs at the next synchronisation */
    CHECK_EQ_INT(rq_host_fn_add(&g_q, on_host, &g_fake), RQ_OK);
    CHECK_EQ_INT(rq_sync(&g_q), RQ_OK);
    CHECK_EQ_INT(g_cb_calls, 2);
    teardown();
}

static void lost_lease_is_sticky(void) {
    setup(0);
    g_fake.lose_from = 0;
    CHECK_EQ_INT(rq_launch_add(&g_q, mk_launch()), RQ_OK);
    CHECK_EQ_INT(rq_sync(&g_q), RQ_LAUNCH_FAILED);                         /* the work in flight */
    CHECK_EQ_INT(rq_launch_add(&g_q, mk_launch()), RQ_DEVICE_UNAVAILABLE); /* and everything after */
    CHECK_EQ_INT(rq_sync(&g_q), RQ_DEVICE_UNAVAILABLE);
    teardown();
    setup(0);
    g_fake.submit_lost = 1;
    CHECK_EQ_INT(rq_memset(&g_q, 1, 0, 1, 0, 1, 0, 0), RQ_OK);
    CHECK_EQ_INT(rq_sync(&g_q), RQ_LAUNCH_FAILED);
    CHECK_EQ_INT(rq_query(&g_q), RQ_DEVICE_UNAVAILABLE);
    teardown();
}

static void stats_count_jobs(void) {
    rq_stats before, after;
    rq_stats_get(&before);
    setup(0);
    char buf[10] = {0};
    rq_write(&g_q, 1, 0, buf, sizeof buf, 0);
    rq_read(&g_q, 1, 0, buf, 4);
    rq_sync(&g_q);
    rq_stats_round_trip(100, 0);
    rq_stats_get(&after);
    CHECK_EQ_INT(after.jobs - before.jobs, 1);
    CHECK_EQ_INT(after.round_trips - before.round_trips, 2);
    CHECK_EQ_INT(after.steps - before.steps, 2);
    CHECK_EQ_INT(after.bytes_up - before.bytes_up, 110);
    CHECK_EQ_INT(after.bytes_down - before.bytes_down, 4);
    teardown();
}

static void *thread_body(void *arg) {
    rq_event *ev = arg;
    for (int i = 0; i < 300; i++) {
        char buf[32] = {0};
        CHECK_EQ_INT(rq_write(&g_q, 1, 0, buf, sizeof buf, 0), RQ_OK);
        CHECK_EQ_INT(rq_launch_add(&g_q, mk_launch()), RQ_OK);
        if (i % 7 == 0) CHECK_EQ_INT(rq_event_record(&g_q, ev), RQ_OK);
        if (i % 13 == 0) CHECK_EQ_INT(rq_event_query(ev), RQ_OK);
        if (i % 50 == 0) CHECK_EQ_INT(rq_sync(&g_q), RQ_OK);
    }
    return NULL;
}

static void threads(void) {
    setup(0);
    rq_event *ev = rq_event_new(0);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, thread_body, ev);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ_INT(rq_sync(&g_q), RQ_OK);
    size_t steps = 0;
    for (int j = 0; j < g_fake.njobs; j++)
        steps += g_fake.jobs[j].nsteps;
    CHECK_EQ_INT(steps, 4 * (600 + 43)); /* every step of every thread, once */
    rq_event_release(ev);
    teardown();
}

static const check_case g_cases[] = {
    {"async_calls_cost_nothing_until_sync", async_calls_cost_nothing_until_sync},
    {"step_bound_submits_without_waiting", step_bound_submits_without_waiting},
    {"event_and_byte_bounds", event_and_byte_bounds},
    {"descriptor_bound", descriptor_bound},
    {"forward_mode_one_round_trip_per_call", forward_mode_one_round_trip_per_call},
    {"pageable_copied_pinned_referenced", pageable_copied_pinned_referenced},
    {"error_surfaces_at_next_sync", error_surfaces_at_next_sync},
    {"sticky_error_stays", sticky_error_stays},
    {"query_not_ready_while_running", query_not_ready_while_running},
    {"events_time_and_query", events_time_and_query},
    {"host_functions_after_their_work", host_functions_after_their_work},
    {"lost_lease_is_sticky", lost_lease_is_sticky},
    {"stats_count_jobs", stats_count_jobs},
    {"threads", threads},
};

int main(int argc, char **argv) {
    return check_main(argc, argv, g_cases, sizeof g_cases / sizeof g_cases[0], NULL, NULL);
}
