/* cmd_nodes.c — `lepton nodes` and `lepton usage`: the broker's node list and the tenant's bill
 * (GET /v1/nodes, GET /v1/usage; liblepton has no call for these). */
#include <stdio.h>
#include <string.h>

#include "cli.h"

const char cli_help_nodes[] =
    "usage: lepton nodes [--json]\n"
    "\n"
    "The nodes the broker knows: state, address, price, GPUs (free/total) and their models.\n"
    "  --json   the broker's JSON array of nodes\n"
    "\n"
    "example:\n"
    "  lepton nodes --endpoint http://broker.example:7700 --token lpt_...\n";

const char cli_help_usage[] =
    "usage: lepton usage [--json]\n"
    "\n"
    "What your tenant has used and owes: GPU-seconds and cost in total and per lease.\n"
    "  --json   the broker's JSON {tenant, gpu_seconds, cost, leases: [...]}\n"
    "\n"
    "example:\n"
    "  lepton usage\n";

static const char *model_at(const json_t *gpus, size_t i) {
    const char *m = json_string_value(json_object_get(json_array_get(gpus, i), "model"));
    return m ? m : "";
}

/* Parses [--json] and GETs path: 0 with *ans set; -1 after printing help; else the exit code. */
static int fetch(const cli_global *g, const char *verb, const char *help, const char *path, int argc,
                 char **argv, int *json, json_t **ans) {
    *ans = NULL;
    int rc = cli_request_flags(verb, help, argc, argv, NULL, NULL, json);
    if (rc) return rc;
    char err[1024];
    rc = cli_http(g, "GET", path, NULL, 0, ans, err, sizeof err);
    if (rc) {
        json_decref(*ans);
        *ans = NULL;
        return cli_fail(rc, verb, err);
    }
    return 0;
}

int cmd_nodes(const cli_global *g, int argc, char **argv) {
    int json = 0;
    json_t *ans;
    int rc = fetch(g, "nodes", cli_help_nodes, "/v1/nodes", argc, argv, &json, &ans);
    if (rc) return rc < 0 ? 0 : rc;
    json_t *arr = json_object_get(ans, "nodes");
    if (json) {
        cli_print_json(arr ? arr : json_array());
    } else if (json_array_size(arr) == 0) {
        printf("no nodes\n");
    } else {
        static const char *const hdr[] = {"NODE",        "STATE",     "ADDRESS",
                                          "PRICE/GPU-H", "GPUS FREE", "GPU MODELS"};
        cli_table *t = cli_table_new(6, hdr);
        size_t i;
        json_t *n;
        json_array_foreach(arr, i, n) {
            char price[32], gpus[32], models[400] = "";
            cli_fmt_money(json_number_value(json_object_get(n, "price_per_gpu_hour")), price, sizeof price);
            snprintf(gpus, sizeof gpus, "%lld/%lld",
                     (long long)json_integer_value(json_object_get(n, "gpus_free")),
                     (long long)json_integer_value(json_object_get(n, "gpus_total")));
            /* distinct models with their counts, e.g. "2 x NVIDIA H100 (80.0 GiB)" */
            json_t *gl = json_object_get(n, "gpus");
            size_t gi, gj;
            json_t *gp;
            json_array_foreach(gl, gi, gp) {
                const char *m = json_string_value(json_object_get(gp, "model"));
                int seen = 0, count = 0;
                for (gj = 0; gj < gi; gj++)
                    if (!strcmp(model_at(gl, gj), m ? m : "")) seen = 1;
                if (seen) continue;
                for (gj = gi; gj < json_array_size(gl); gj++)
                    if (!strcmp(model_at(gl, gj), m ? m : "")) count++;
                char mem[32];
                cli_fmt_bytes((uint64_t)json_integer_value(json_object_get(gp, "memory")), mem, sizeof mem);
                size_t len = strlen(models);
                snprintf(models + len, sizeof models - len, "%s%d x %s (%s)", len ? ", " : "", count,
                         m ? m : "?", mem);
            }
            const char *row[] = {json_string_value(json_object_get(n, "name")),
                                 json_string_value(json_object_get(n, "state")),
                                 json_string_value(json_object_get(n, "address")),
                                 price,
                                 gpus,
                                 models};
            cli_table_add(t, row);
        }
        cli_table_print(t);
        cli_table_free(t);
    }
    json_decref(ans);
    return 0;
}

int cmd_usage(const cli_global *g, int argc, char **argv) {
    int json = 0;
    json_t *ans;
    int rc = fetch(g, "usage", cli_help_usage, "/v1/usage", argc, argv, &json, &ans);
    if (rc) return rc < 0 ? 0 : rc;
    if (json) {
        cli_print_json(ans);
    } else {
        char cost[48];
        cli_fmt_money(json_number_value(json_object_get(ans, "cost")), cost, sizeof cost);
        const char *tenant = json_string_value(json_object_get(ans, "tenant"));
        json_t *arr = json_object_get(ans, "leases");
        char total[48];
        cli_fmt_gpu_seconds((int64_t)json_integer_value(json_object_get(ans, "gpu_seconds")), total,
                            sizeof total);
        printf("tenant %s: %s, cost %s, %zu lease%s\n", tenant ? tenant : "?", total, cost,
               json_array_size(arr), json_array_size(arr) == 1 ? "" : "s");
        if (json_array_size(arr) > 0) {
            static const char *const hdr[] = {"LEASE", "STATE", "GPU-SECONDS", "COST"};
            cli_table *t = cli_table_new(4, hdr);
            size_t i;
            json_t *l;
            json_array_foreach(arr, i, l) {
                char gs[32], c[48];
                snprintf(gs, sizeof gs, "%lld",
                         (long long)json_integer_value(json_object_get(l, "gpu_seconds")));
                cli_fmt_money(json_number_value(json_object_get(l, "cost")), c, sizeof c);
                const char *row[] = {json_string_value(json_object_get(l, "lease_id")),
                                     json_string_value(json_object_get(l, "state")), gs, c};
                cli_table_add(t, row);
            }
            cli_table_print(t);
            cli_table_free(t);
        }
    }
    json_decref(ans);
    return 0;
}
