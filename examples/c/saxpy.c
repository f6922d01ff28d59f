/* saxpy.c — the smallest complete Lepton program: lease a GPU, load a PTX module, send two
 * vectors, run y = a*x + y on the GPU, read y back, check it on the host, print the lease's cost.
 *
 *   cc saxpy.c $(pkg-config --cflags --libs lepton) -o saxpy
 *   LEPTON_ENDPOINT=http://127.0.0.1:7700 LEPTON_TOKEN=... ./saxpy path/to/saxpy.ptx
 */
#include <lepton/lepton.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static char *read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n > 0 ? malloc((size_t)n) : NULL;
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

int main(int argc, char **argv) {
    const char *ptx_path = argc > 1 ? argv[1] : "examples/kernels/saxpy.ptx";
    enum { N = 1 << 20 };
    int n = N, status = 1, rc;
    float a = 2.0f;
    size_t ptx_size = 0;
    char *ptx = read_file(ptx_path, &ptx_size);
    float *x = malloc(N * sizeof *x), *y = malloc(N * sizeof *y), *out = malloc(N * sizeof *out);
    lepton_client *client = NULL;
    lepton_lease *lease = NULL;
    lepton_module *mod = NULL;
    lepton_buffer *dx = NULL, *dy = NULL;
    lepton_task *task = NULL;
    if (!ptx || !x || !y || !out) {
        fprintf(stderr, "cannot read %s (or out of memory)\n", ptx_path);
        goto out;
    }
    for (int i = 0; i < N; i++) {
        x[i] = (float)i * 0.5f;
        y[i] = (float)(N - i);
    }

    if ((rc = lepton_client_open(&client, NULL)) != LEPTON_OK) FAIL("client", rc);
    lepton_lease_request req = LEPTON_LEASE_REQUEST_INIT;
    req.ttl_seconds = 300;
    req.max_cost = 1.0; /* a hard cap: the lease ends itself at $1 */
    if ((rc = lepton_lease_open(client, &req, &lease)) != LEPTON_OK) FAIL("lease", rc);
    lepton_lease_info info = LEPTON_LEASE_INFO_INIT;
    lepton_lease_get_info(lease, &info);
    printf("leased %u x %s on %s at $%.2f/GPU-hour\n", info.gpu_count, info.gpu_model, info.node,
           info.price_per_gpu_hour);

    if ((rc = lepton_module_load(lease, ptx, ptx_size, &mod)) != LEPTON_OK) FAIL("module", rc);
    if ((rc = lepton_buffer_alloc(lease, 0, N * sizeof(float), &dx)) != LEPTON_OK) FAIL("alloc x", rc);
    if ((rc = lepton_buffer_alloc(lease, 0, N * sizeof(float), &dy)) != LEPTON_OK) FAIL("alloc y", rc);

    /* One job, one round trip: write x and y, launch, read y back. */
    lepton_arg args[] = {LEPTON_ARG_VAL(n), LEPTON_ARG_VAL(a), LEPTON_ARG_BUF(dx), LEPTON_ARG_BUF(dy)};
    lepton_launch launch = {mod, "saxpy", {(N + 255) / 256, 1, 1}, {256, 1, 1}, 0, args, 4};
    lepton_step steps[] = {
        {LEPTON_STEP_WRITE, dx, 0, x, N * sizeof(float), NULL},
        {LEPTON_STEP_WRITE, dy, 0, y, N * sizeof(float), NULL},
        {LEPTON_STEP_LAUNCH, NULL, 0, NULL, 0, &launch},
        {LEPTON_STEP_READ, dy, 0, out, N * sizeof(float), NULL},
    };
    lepton_job job = LEPTON_JOB_INIT;
    job.steps = steps;
    job.step_count = 4;
    if ((rc = lepton_submit(lease, &job, &task)) != LEPTON_OK) FAIL("submit", rc);
    if ((rc = lepton_wait(task, 60000)) != LEPTON_OK) FAIL("job", rc);

    int bad = 0;
    for (int i = 0; i < N; i++)
        if (fabsf(out[i] - (a * x[i] + y[i])) > 1e-6f * fabsf(a * x[i] + y[i])) bad++;
    lepton_lease_get_info(lease, &info);
    printf("saxpy on %d floats: %s (%d mismatches); y[1] = %.1f\n", N, bad ? "WRONG" : "verified", bad,
           out[1]);
    printf("lease %s cost so far: $%.6f\n", info.id, info.cost);
    status = bad ? 1 : 0;
out:
    lepton_task_free(task);
    if (lease) {
        rc = lepton_lease_close(lease); /* frees the module and buffers too */
        if (rc != LEPTON_OK) fprintf(stderr, "close: %s\n", lepton_last_error());
    }
    lepton_client_close(client);
    free(ptx);
    free(x);
    free(y);
    free(out);
    return status;
}
