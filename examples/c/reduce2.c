/* reduce2.c — one lease, two GPUs, one sum: the integers of a large array are split in halves,
 * each half is summed on its own GPU of the lease by a block-reduction kernel (the two jobs run at
 * the same time), the two partial sums are added on the host and checked against the host's own
 * sum, and the lease's cost is printed.
 *
 *   cc -std=c11 reduce2.c $(pkg-config --cflags --libs lepton) -o reduce2
 *   LEPTON_ENDPOINT=http://127.0.0.1:7700 LEPTON_TOKEN=... ./reduce2 [PTX] [N]
 *
 * PTX defaults to examples/kernels/reduce.ptx (built from reduce.cu), N to 4194304 integers.
 * The broker must have a node with 2 free GPUs (scripts/quickstart.sh starts one). Exits 0 only
 * when the GPUs' total equals the host's.
 *
 * Copyright 2026 The Lepton Authors. Licensed under the Apache License, Version 2.0.
 */
#include <lepton/lepton.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

enum { GPUS = 2, THREADS = 256, MAX_BLOCKS = 1024 };

static char *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0)
        buf = malloc((size_t)n);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *size = buf ? (size_t)n : 0;
    return buf;
}

#define FAIL(what, rc)                                                                                       \
    do {                                                                                                     \
        fprintf(stderr, "%s: %s: %s\n", what, lepton_status_name(rc), lepton_last_error());                  \
        goto out;                                                                                            \
    } while (0)

/* One GPU's share of the work: everything its job points to lives here until lepton_wait. */
typedef struct half {
    lepton_buffer *in, *total;
    uint32_t n;            /* integers in this half */
    uint64_t zero, result; /* host sides of the WRITE and READ steps of *total */
    lepton_arg args[3];
    lepton_launch launch;
    lepton_step steps[4];
    lepton_task *task;
} half;

int main(int argc, char **argv) {
    const char *ptx_path = argc > 1 ? argv[1] : "examples/kernels/reduce.ptx";
    unsigned long want = argc > 2 ? strtoul(argv[2], NULL, 10) : 1ul << 22;
    if (want < GPUS || want > (1ul << 30)) {
        fprintf(stderr, "usage: %s [PTX] [N], 2 <= N <= 2^30 integers\n", argv[0]);
        return 2;
    }
    uint32_t n = (uint32_t)want;
    int status = 1, rc;
    size_t ptx_size = 0;
    char *ptx = read_file(ptx_path, &ptx_size);
    int32_t *data = malloc((size_t)n * sizeof *data);
    lepton_client *client = NULL;
    lepton_lease *lease = NULL;
    lepton_module *mod = NULL;
    half h[GPUS] = {0};
    if (!ptx || !data) {
        fprintf(stderr, "cannot read %s (or out of memory)\n", ptx_path);
        goto out;
    }

    /* Values in [-1000, 1000] from a fixed LCG: a sum with plenty of cancellation, exact in 64 bits. */
    int64_t host_sum = 0;
    uint32_t seed = 12345;
    for (uint32_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        data[i] = (int32_t)((seed >> 8) % 2001u) - 1000;
        host_sum += data[i];
    }

    if ((rc = lepton_client_open(&client, NULL)) != LEPTON_OK)
        FAIL("client", rc); /* $LEPTON_ENDPOINT, $LEPTON_TOKEN */
    lepton_lease_request req = LEPTON_LEASE_REQUEST_INIT;
    req.gpu_count = GPUS; /* both on one node: the lease's GPUs 0 and 1 */
    req.ttl_seconds = 300;
    req.max_cost = 1.0;
    req.wait_ms = 10000;
    req.labels = "example=reduce2";
    if ((rc = lepton_lease_open(client, &req, &lease)) != LEPTON_OK) FAIL("lease", rc);
    lepton_lease_info info = LEPTON_LEASE_INFO_INIT;
    if ((rc = lepton_lease_get_info(lease, &info)) != LEPTON_OK) FAIL("lease info", rc);
    printf("leased %u x %s on %s at $%.2f/GPU-hour (lease %s)\n", info.gpu_count, info.gpu_model, info.node,
           info.price_per_gpu_hour, info.id);

    /* One load puts the module on every GPU of the lease. */
    if ((rc = lepton_module_load(lease, ptx, ptx_size, &mod)) != LEPTON_OK) FAIL("module", rc);

    uint32_t first = 0;
    for (uint32_t g = 0; g < GPUS; g++) {
        half *p = &h[g];
        p->n = g + 1 < GPUS ? n / GPUS : n - first;
        if ((rc = lepton_buffer_alloc(lease, g, (size_t)p->n * sizeof *data, &p->in)) != LEPTON_OK)
            FAIL("alloc input", rc);
        if ((rc = lepton_buffer_alloc(lease, g, sizeof p->result, &p->total)) != LEPTON_OK)
            FAIL("alloc total", rc);
        uint32_t blocks = (p->n + THREADS - 1) / THREADS;
        if (blocks > MAX_BLOCKS) blocks = MAX_BLOCKS; /* the kernel strides over the rest */
        p->args[0] = LEPTON_ARG_BUF(p->in);
        p->args[1] = LEPTON_ARG_VAL(p->n);
        p->args[2] = LEPTON_ARG_BUF(p->total);
        p->launch = (lepton_launch){.module = mod,
                                    .function = "reduce_sum_i32",
                                    .grid = {blocks, 1, 1},
                                    .block = {THREADS, 1, 1},
                                    .shared_bytes = THREADS * sizeof(int64_t), /* the kernel's partial[] */
                                    .args = p->args,
                                    .arg_count = 3};
        /* One job, one round trip: the half, a zeroed total, the launch, the total back. */
        p->steps[0] =
            (lepton_step){LEPTON_STEP_WRITE, p->in, 0, data + first, (size_t)p->n * sizeof *data, NULL};
        p->steps[1] = (lepton_step){LEPTON_STEP_WRITE, p->total, 0, &p->zero, sizeof p->zero, NULL};
        p->steps[2] = (lepton_step){LEPTON_STEP_LAUNCH, NULL, 0, NULL, 0, &p->launch};
        p->steps[3] = (lepton_step){LEPTON_STEP_READ, p->total, 0, &p->result, sizeof p->result, NULL};
        first += p->n;
    }

    /* Submit both before waiting for either: lepton_submit returns once the job is queued, so the
     * two GPUs work at the same time. */
    for (uint32_t g = 0; g < GPUS; g++) {
        lepton_job job = LEPTON_JOB_INIT;
        job.gpu = g;
        job.steps = h[g].steps;
        job.step_count = 4;
        if ((rc = lepton_submit(lease, &job, &h[g].task)) != LEPTON_OK) FAIL("submit", rc);
    }
    int64_t gpu_sum = 0;
    for (uint32_t g = 0; g < GPUS; g++) {
        if ((rc = lepton_wait(h[g].task, 120000)) != LEPTON_OK) FAIL("job", rc);
        lepton_task_info ti = LEPTON_TASK_INFO_INIT;
        if (lepton_task_get_info(h[g].task, &ti) == LEPTON_OK)
            printf("GPU %u: %u integers, partial sum %" PRId64 ", ran %.1f ms\n", g, h[g].n,
                   (int64_t)h[g].result, (double)(ti.ended_ns - ti.started_ns) / 1e6);
        gpu_sum += (int64_t)h[g].result; /* the kernel's unsigned bits are a two's complement sum */
    }
    lepton_task_info t0 = LEPTON_TASK_INFO_INIT, t1 = LEPTON_TASK_INFO_INIT;
    if (lepton_task_get_info(h[0].task, &t0) == LEPTON_OK &&
        lepton_task_get_info(h[1].task, &t1) == LEPTON_OK && t0.started_ns &&
        t1.started_ns) /* the node's clock: the two runs overlap when both GPUs worked at once */
        printf("the two jobs %s on the node\n", t0.started_ns < t1.ended_ns && t1.started_ns < t0.ended_ns
                                                    ? "overlapped"
                                                    : "ran one after the other");

    int ok = gpu_sum == host_sum;
    printf("sum of %u integers on %d GPUs: %" PRId64 " (host: %" PRId64 ") %s\n", n, GPUS, gpu_sum, host_sum,
           ok ? "verified" : "WRONG");
    if (lepton_lease_get_info(lease, &info) == LEPTON_OK)
        printf("lease %s cost so far: $%.6f\n", info.id, info.cost);
    status = ok ? 0 : 1;
out:
    if (lease) {
        /* Frees the module and buffers too, and ends any task still out (after a failure), so that
         * none of them touches `data` or `h` once they are freed below. */
        rc = lepton_lease_close(lease);
        if (rc != LEPTON_OK) fprintf(stderr, "close: %s: %s\n", lepton_status_name(rc), lepton_last_error());
    }
    for (uint32_t g = 0; g < GPUS; g++)
        lepton_task_free(h[g].task);
    lepton_client_close(client);
    free(ptx);
    free(data);
    return status;
}
