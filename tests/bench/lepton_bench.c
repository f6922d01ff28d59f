/* lepton_bench.c — `lepton-bench`: the scenarios of PERFORMANCE.md, each reported as JSON lines
 * {"scenario", "metric", "value", "baseline", "ratio", "target"} against a baseline measured in the
 * same run. Exits non-zero only on errors, never on a slow figure. Scenarios present so far: lease
 * (emu comes from lepton-bench-emu when built; rtt/upload/download/pipeline arrive with the data plane). */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "lepton/lepton.h"

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p) {
    int i = (int)(p * (n - 1) + 0.5);
    return v[i < 0 ? 0 : (i >= n ? n - 1 : i)];
}

static void emit(const char *scenario, const char *metric, double value, double baseline, const char *target) {
    if (baseline > 0)
        printf("{\"scenario\": \"%s\", \"metric\": \"%s\", \"value\": %.4g, \"baseline\": %.4g, \"ratio\": %.3f, "
               "\"target\": \"%s\"}\n",
               scenario, metric, value, baseline, value / baseline, target);
    else
        printf("{\"scenario\": \"%s\", \"metric\": \"%s\", \"value\": %.4g, \"baseline\": null, \"ratio\": null, "
               "\"target\": \"%s\"}\n",
               scenario, metric, value, target);
    fflush(stdout);
}

typedef struct lease_result {
    double p50_us, p99_us, cycles_per_s;
} lease_result;

/* Registers `gpus` GPUs (8 per node, the last node smaller), then times `cycles` lease open+close
 * pairs of one GPU through liblepton on one keep-alive client. */
static int bench_lease(int gpus, int cycles, lease_result *out) {
    h_broker b;
    char tenant[128], node[128];
    if (h_broker_start(&b, "--node-timeout-ms 100000000") != 0) return -1;
    int rc = -1;
    double *lat = calloc((size_t)cycles, sizeof *lat);
    if (!lat || h_token(&b, "bench", 0, tenant, sizeof tenant) || h_token(&b, "fleet", 1, node, sizeof node))
        goto done;
    for (int registered = 0, n = 0; registered < gpus; n++) {
        int here = gpus - registered < 8 ? gpus - registered : 8;
        char name[64];
        snprintf(name, sizeof name, "node-%05d", n);
        /* Prices spread so that matching has to order; the cheapest are taken first. */
        if (h_register_node(&b, node, name, here, "NVIDIA H100 80GB HBM3", 80ULL << 30, 1.0 + (n % 97) * 0.01) / 100 != 2)
            goto done;
        registered += here;
    }
    lepton_client_options o = LEPTON_CLIENT_OPTIONS_INIT;
    o.endpoint = b.url;
    o.token = tenant;
    lepton_client *c = NULL;
    if (lepton_client_open(&c, &o) != LEPTON_OK) goto done;
    lepton_lease_request req = LEPTON_LEASE_REQUEST_INIT;
    req.gpu_model = "H100";
    int warm = cycles / 10 + 5;
    double t_all = 0;
    for (int i = -warm; i < cycles; i++) {
        double t0 = now_us();
        lepton_lease *l = NULL;
        int r1 = lepton_lease_open(c, &req, &l);
        int r2 = r1 == LEPTON_OK ? lepton_lease_close(l) : r1;
        double dt = now_us() - t0;
        if (r1 != LEPTON_OK || r2 != LEPTON_OK) {
            fprintf(stderr, "lease bench: %s: %s\n", lepton_status_name(r1 ? r1 : r2), lepton_last_error());
            lepton_client_close(c);
            goto done;
        }
        if (i >= 0) {
            lat[i] = dt;
            t_all += dt;
        }
    }
    lepton_client_close(c);
    qsort(lat, (size_t)cycles, sizeof *lat, cmp_double);
    out->p50_us = pct(lat, cycles, 0.50);
    out->p99_us = pct(lat, cycles, 0.99);
    out->cycles_per_s = cycles / (t_all / 1e6);
    rc = 0;
done:
    free(lat);
    h_broker_cleanup(&b);
    return rc;
}

static int scenario_lease(int quick) {
    int cycles = quick ? 300 : 3000;
    lease_result small, big;
    if (bench_lease(10, cycles, &small) != 0) return -1;
    if (bench_lease(10000, cycles, &big) != 0) return -1;
    emit("lease", "p50_us_10_gpus", small.p50_us, 0, "<= 2000");
    emit("lease", "p99_us_10_gpus", small.p99_us, 0, "reported");
    emit("lease", "cycles_per_s_10_gpus", small.cycles_per_s, 0, "reported");
    emit("lease", "p50_us_10000_gpus", big.p50_us, small.p50_us, "<= 2 (ratio to the 10-GPU p50), value <= 2000");
    emit("lease", "p99_us_10000_gpus", big.p99_us, small.p99_us, "reported");
    emit("lease", "cycles_per_s_10000_gpus", big.cycles_per_s, small.cycles_per_s, "reported");
    return 0;
}

static void usage(void) {
    printf("usage: lepton-bench [--quick] [--scenario NAME]...\n"
           "  Runs the PERFORMANCE.md scenarios against a broker it starts on loopback and prints one JSON\n"
           "  line per figure. Scenarios: lease (emu: run lepton-bench-emu).\n"
           "example: lepton-bench --quick --scenario lease\n");
}

int main(int argc, char **argv) {
    int quick = 0, want_lease = 0, any = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) quick = 1;
        else if (!strcmp(argv[i], "--scenario") && i + 1 < argc) {
            any = 1;
            const char *s = argv[++i];
            if (!strcmp(s, "lease")) want_lease = 1;
            else {
                fprintf(stderr, "lepton-bench: unknown scenario '%s' (known: lease)\n", s);
                return 2;
            }
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage();
            return 0;
        } else {
            fprintf(stderr, "lepton-bench: unknown argument '%s'\n", argv[i]);
            usage();
            return 2;
        }
    }
    if (!any) want_lease = 1;
    int failed = 0;
    if (want_lease && scenario_lease(quick) != 0) {
        fprintf(stderr, "lepton-bench: the lease scenario failed\n");
        failed = 1;
    }
    return failed;
}
