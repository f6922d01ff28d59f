/* cmd_lease.c — `lepton lease open | list | info | extend | renew | close` and the lease-request flags shared
 * with quote and run. A lease opened here must outlive the command, so it is opened with a raw
 * POST /v1/leases (a liblepton lease ends with its client); leases named by id are reached through
 * the broker's REST API for the same reason. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "clock.h"
#include "rand.h"

const char cli_help_lease[] =
    "usage:\n"
    "  lepton lease open [--gpus N] [--gpu-model M] [--min-memory SIZE] [--ttl S] [--max-price P]\n"
    "                    [--max-cost C] [--wait S] [--labels K=V,...] [--keepalive S] [--json]\n"
    "  lepton lease list [--active] [--json]\n"
    "  lepton lease info ID [--json]\n"
    "  lepton lease extend ID SECONDS [--json]\n"
    "  lepton lease renew ID [--json]\n"
    "  lepton lease close ID [--json]\n"
    "\n"
    "open    acquire GPUs now; the lease stays open (and billed) after the command ends, until\n"
    "        `lepton lease close ID`, its TTL or its cost cap. Prints the lease id.\n"
    "  --gpus N          GPUs on one node (default 1)\n"
    "  --gpu-model M     a model name containing M, e.g. H100 (default any)\n"
    "  --min-memory SIZE memory per GPU, e.g. 40G (default any)\n"
    "  --ttl S           seconds until the lease ends by itself (default 3600)\n"
    "  --max-price P     refuse GPUs costing more than P USD per GPU-hour (default no limit)\n"
    "  --max-cost C      end the lease when it has cost C USD (default no cap)\n"
    "  --wait S          wait up to S seconds for capacity (default 0: answer now)\n"
    "  --labels K=V,...  free-form labels kept with the lease\n"
    "  --keepalive S     end the lease (expired, billed to the last renewal) when it is not renewed\n"
    "                    for S seconds: renew it with `lepton lease renew ID` (default 0: none)\n"
    "list    your leases, newest first (--active: only active ones)\n"
    "info    one lease: state, node, GPUs, price, cost so far, times\n"
    "extend  add SECONDS to a lease's TTL\n"
    "renew   tell the broker the holder of a lease with --keepalive is still there\n"
    "close   end a lease now and print its final cost\n"
    "  --json            print the broker's JSON (the lease object) instead of a table\n"
    "\n"
    "exit codes: 0 ok, 2 bad command line, 5 no capacity, 6 over budget, 7 lease already ended,\n"
    "            13 no such lease, 4 auth, 3 broker unreachable (see `lepton --help`)\n"
    "\n"
    "examples:\n"
    "  id=$(lepton lease open --gpus 2 --ttl 600 --max-cost 1.00 --json | jq -r .id)\n"
    "  lepton lease extend \"$id\" 600\n"
    "  lepton lease list\n"
    "  lepton lease close \"$id\"\n";

#define CLI_LEASE_COLS 8
static const char *const cli_lease_headers[CLI_LEASE_COLS] = {
    "ID", "STATE", "NODE", "GPUS", "PRICE/GPU-H", "COST", "STARTED", "EXPIRES/ENDED"};

static int64_t jint(const json_t *o, const char *k) {
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (int64_t)json_integer_value(v)
                              : (json_is_real(v) ? (int64_t)json_real_value(v) : 0);
}
static double jnum(const json_t *o, const char *k) { return json_number_value(json_object_get(o, k)); }
static const char *jstr(const json_t *o, const char *k) {
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* One row of the lease table. */
static void cli_lease_row(const json_t *l, char cells[][96]) {
    snprintf(cells[0], 96, "%s", jstr(l, "id"));
    snprintf(cells[1], 96, "%s", jstr(l, "state"));
    snprintf(cells[2], 96, "%s", jstr(l, "node"));
    snprintf(cells[3], 96, "%lld x %.70s", (long long)jint(l, "gpu_count"), jstr(l, "gpu_model"));
    cli_fmt_money(jnum(l, "price_per_gpu_hour"), cells[4], 96);
    cli_fmt_money(jnum(l, "cost"), cells[5], 96);
    cli_fmt_time(jint(l, "started_at"), cells[6], 96);
    int64_t ended = jint(l, "ended_at");
    cli_fmt_time(ended ? ended : jint(l, "expires_at"), cells[7], 96);
}

static void print_lease_detail(const json_t *l) {
    char b[96];
    printf("lease       %s\n", jstr(l, "id"));
    printf("state       %s", jstr(l, "state"));
    const char *why = jstr(l, "end_reason");
    if (*why) printf(" (%s)", why);
    putchar('\n');
    printf("node        %s\n", jstr(l, "node"));
    cli_fmt_bytes((uint64_t)jint(l, "gpu_memory"), b, sizeof b);
    printf("gpus        %lld x %s, %s each\n", (long long)jint(l, "gpu_count"), jstr(l, "gpu_model"), b);
    cli_fmt_money(jnum(l, "price_per_gpu_hour"), b, sizeof b);
    printf("price       %s per GPU-hour\n", b);
    cli_fmt_money(jnum(l, "cost"), b, sizeof b);
    char gs[48];
    cli_fmt_gpu_seconds(jint(l, "gpu_seconds"), gs, sizeof gs);
    printf("cost        %s (%s)", b, gs);
    if (jnum(l, "max_cost") > 0) {
        cli_fmt_money(jnum(l, "max_cost"), b, sizeof b);
        printf(", cap %s", b);
    }
    putchar('\n');
    if (json_is_integer(json_object_get(l, "keepalive_seconds")))
        printf("keepalive   %lld s (ends if not renewed for that long)\n",
               (long long)jint(l, "keepalive_seconds"));
    cli_fmt_time(jint(l, "started_at"), b, sizeof b);
    printf("started     %s\n", b);
    if (jint(l, "ended_at")) {
        cli_fmt_time(jint(l, "ended_at"), b, sizeof b);
        printf("ended       %s\n", b);
    } else {
        cli_fmt_time(jint(l, "expires_at"), b, sizeof b);
        printf("expires     %s (in %lld s)\n", b, (long long)(jint(l, "expires_at") - (int64_t)time(NULL)));
    }
    if (*jstr(l, "labels")) printf("labels      %s\n", jstr(l, "labels"));
}

/* The lease object of an answer, without the data-plane credentials. */
static json_t *lease_of(json_t *ans) {
    json_t *l = json_object_get(ans, "lease");
    if (json_is_object(l)) json_object_del(l, "data_plane");
    return l;
}

int cli_lease_request_flag(cli_opts *o, lepton_lease_request *req, uint32_t *wait_s) {
    const char *v;
    int rc, lease_fields = wait_s != NULL;
    if (cli_opt_is(o, "--gpus")) {
        if (!(v = cli_opt_value(o))) return CLI_REQ_BAD;
        rc = cli_parse_u32(o->verb, "--gpus", v, 1, 1024, &req->gpu_count);
    } else if (cli_opt_is(o, "--gpu-model")) {
        if (!(v = cli_opt_value(o))) return CLI_REQ_BAD;
        req->gpu_model = *v ? v : NULL;
        rc = 0;
    } else if (cli_opt_is(o, "--min-memory")) {
        if (!(v = cli_opt_value(o))) return CLI_REQ_BAD;
        rc = cli_parse_size(o->verb, "--min-memory", v, &req->min_gpu_memory);
    } else if (cli_opt_is(o, "--max-price")) {
        if (!(v = cli_opt_value(o))) return CLI_REQ_BAD;
        rc = cli_parse_money(o->verb, "--max-price", v, &req->max_price_per_gpu_hour);
    } else if (lease_fields && cli_opt_is(o, "--ttl")) {
        if (!(v = cli_opt_value(o))) return CLI_REQ_BAD;
        rc = cli_parse_u32(o->verb, "--ttl", v, 1, 2592000, &req->ttl_seconds);
    } else if (lease_fields && cli_opt_is(o, "--max-cost")) {
        if (!(v = cli_opt_value(o))) return CLI_REQ_BAD;
        rc = cli_parse_money(o->verb, "--max-cost", v, &req->max_cost);
    } else if (lease_fields && cli_opt_is(o, "--wait")) {
        if (!(v = cli_opt_value(o))) return CLI_REQ_BAD;
        rc = cli_parse_u32(o->verb, "--wait", v, 0, 86400, wait_s);
    } else if (lease_fields && cli_opt_is(o, "--keepalive")) {
        if (!(v = cli_opt_value(o))) return CLI_REQ_BAD;
        rc = cli_parse_u32(o->verb, "--keepalive", v, 0, 86400, &req->keepalive_seconds);
    } else if (lease_fields && cli_opt_is(o, "--labels")) {
        if (!(v = cli_opt_value(o))) return CLI_REQ_BAD;
        req->labels = v;
        rc = 0;
    } else {
        return 0;
    }
    return rc ? CLI_REQ_BAD : 1;
}

static double mono_s(void) { return (double)lp_mono_ns() / 1e9; }

int cli_lease_open_waiting(lepton_client *c, lepton_lease_request *req, uint32_t wait_s, lepton_lease **out) {
    double t0 = mono_s();
    req->wait_ms = 0;
    int rc = lepton_lease_open(c, req, out);
    int rounds = 0;
    while (rc == LEPTON_ENOCAPACITY) {
        double left = t0 + wait_s - mono_s();
        if (left <= 0) break;
        if (rounds++ == 0)
            fprintf(stderr, "lepton: waiting for capacity… (up to %u s): %s\n", wait_s, lepton_last_error());
        else
            fprintf(stderr, "lepton: still waiting for capacity… %.0f s of %u s\n", mono_s() - t0, wait_s);
        req->wait_ms = (int32_t)(left > 10 ? 10000 : left * 1000 + 1);
        rc = lepton_lease_open(c, req, out);
    }
    return rc;
}

int cli_lease_get(lepton_client *c, const char *verb, const char *lease_id, lepton_lease_request *req,
                  uint32_t wait_s, lepton_lease **out) {
    char what[64];
    int rc;
    if (lease_id) {
        if (!(rc = lepton_lease_attach(c, lease_id, out))) return 0;
        snprintf(what, sizeof what, "%s: --lease", verb);
        return cli_fail(rc, what, lepton_last_error());
    }
    if (!(rc = cli_lease_open_waiting(c, req, wait_s, out))) return 0;
    char msg[4200];
    cli_refusal_message(verb, rc, lepton_last_error(), wait_s, msg, sizeof msg);
    snprintf(what, sizeof what, "%s: lease", verb);
    return cli_fail(rc, what, msg);
}

void cli_refusal_message(const char *verb, int status, const char *message, uint32_t waited_s, char *out,
                         size_t n) {
    char waited[48] = "";
    if (waited_s) snprintf(waited, sizeof waited, " (waited %u s)", waited_s);
    if (status == LEPTON_ENOCAPACITY && strstr(message, "exceeds the largest")) /* waiting cannot help */
        snprintf(out, n, "%s; `lepton quote --gpus N` shows what fits", message);
    else if (status == LEPTON_ENOCAPACITY)
        snprintf(out, n,
                 "%s%s; `lepton quote` shows what is free now, and `lepton %s --wait SECONDS` waits %s",
                 message, waited, verb, waited_s ? "longer" : "for capacity");
    else if (status == LEPTON_EBUDGET)
        snprintf(out, n, "%s; `lepton quote` shows the prices now", message);
    else
        snprintf(out, n, "%s", message);
}

int cli_request_flags(const char *verb, const char *help, int argc, char **argv, lepton_lease_request *req,
                      uint32_t *wait_s, int *json) {
    cli_opts o;
    cli_opts_init(&o, verb, argc, argv);
    int k;
    const char *pos;
    while ((k = cli_opt_next(&o, &pos))) {
        if (k == 2) return cli_usage_error(verb, "unexpected argument '%s'", pos);
        if (cli_opt_is(&o, "--help")) {
            fputs(help, stdout);
            return -1;
        }
        if (cli_opt_is(&o, "--json")) {
            if (cli_opt_no_value(&o)) return CLI_EXIT_USAGE;
            *json = 1;
            continue;
        }
        int r = req ? cli_lease_request_flag(&o, req, wait_s) : 0;
        if (r == CLI_REQ_BAD) return CLI_EXIT_USAGE;
        if (r == 0) return cli_usage_error(verb, "unknown flag '%s'", o.flag);
    }
    return 0;
}

/* ---- open ---- */
static json_t *request_json(const lepton_lease_request *r, int32_t wait_ms, const char *key) {
    json_t *b = json_object();
    json_object_set_new(b, "gpu_count", json_integer(r->gpu_count ? r->gpu_count : 1));
    if (r->gpu_model) json_object_set_new(b, "gpu_model", json_string(r->gpu_model));
    if (r->min_gpu_memory)
        json_object_set_new(b, "min_gpu_memory", json_integer((json_int_t)r->min_gpu_memory));
    if (r->max_price_per_gpu_hour > 0)
        json_object_set_new(b, "max_price_per_gpu_hour", json_real(r->max_price_per_gpu_hour));
    if (r->max_cost > 0) json_object_set_new(b, "max_cost", json_real(r->max_cost));
    if (r->ttl_seconds) json_object_set_new(b, "ttl_seconds", json_integer(r->ttl_seconds));
    json_object_set_new(b, "wait_ms", json_integer(wait_ms));
    if (r->labels) json_object_set_new(b, "labels", json_string(r->labels));
    if (r->keepalive_seconds) json_object_set_new(b, "keepalive_seconds", json_integer(r->keepalive_seconds));
    json_object_set_new(b, "idempotency_key", json_string(key));
    return b;
}

static int lease_open(const cli_global *g, int argc, char **argv) {
    lepton_lease_request req = LEPTON_LEASE_REQUEST_INIT;
    req.ttl_seconds = CLI_DEFAULT_TTL_S;
    int json = 0;
    uint32_t wait_flag = CLI_DEFAULT_WAIT_S; /* --wait, seconds */
    int prc = cli_request_flags("lease open", cli_help_lease, argc, argv, &req, &wait_flag, &json);
    if (prc) return prc < 0 ? 0 : prc;
    int64_t wait_s = wait_flag;
    char key[64];
    if (lp_random_id(key, sizeof key, "cli_", 16) != 0)
        return cli_fail(LEPTON_EINVAL, "lease open", "the kernel gave no randomness for an idempotency key");
    int64_t t0 = lp_mono_ms();
    char err[1024];
    json_t *ans = NULL;
    int rc, announced = 0;
    for (int attempt = 0;; attempt++) {
        int64_t left_ms = wait_s * 1000 - (lp_mono_ms() - t0);
        int32_t w = announced ? (int32_t)(left_ms > 10000 ? 10000 : (left_ms > 0 ? left_ms : 0)) : 0;
        /* a new key per attempt: a refused request must not be replayed as refused */
        char akey[80];
        snprintf(akey, sizeof akey, "%s_%d", key, attempt);
        json_t *body = request_json(&req, w, akey);
        json_decref(ans);
        rc = cli_http(g, "POST", "/v1/leases", body, 30000 + w, &ans, err, sizeof err);
        json_decref(body);
        if (rc != LEPTON_ENOCAPACITY || left_ms - w <= 0) break;
        if (!announced)
            fprintf(stderr, "lepton: waiting for capacity… (up to %lld s): %s\n", (long long)wait_s, err);
        else
            fprintf(stderr, "lepton: still waiting for capacity… %lld s of %lld s\n",
                    (long long)((lp_mono_ms() - t0) / 1000), (long long)wait_s);
        announced++;
    }
    if (rc) {
        json_decref(ans);
        char msg[1400];
        cli_refusal_message("lease open", rc, err, (uint32_t)wait_s, msg, sizeof msg);
        return cli_fail(rc, "lease open", msg);
    }
    json_t *l = lease_of(ans);
    if (json) {
        cli_print_json(l);
    } else {
        char b[96];
        cli_fmt_bytes((uint64_t)jint(l, "gpu_memory"), b, sizeof b);
        char price[48];
        cli_fmt_money(jnum(l, "price_per_gpu_hour"), price, sizeof price);
        printf("lease %s: %lld x %s (%s) on %s at %s per GPU-hour\n", jstr(l, "id"),
               (long long)jint(l, "gpu_count"), jstr(l, "gpu_model"), b, jstr(l, "node"), price);
        char e[96];
        cli_fmt_time(jint(l, "expires_at"), e, sizeof e);
        printf("expires %s; close it with: lepton lease close %s\n", e, jstr(l, "id"));
    }
    json_decref(ans);
    return 0;
}

/* ---- list / info / extend / close ---- */
static int lease_list(const cli_global *g, int argc, char **argv) {
    cli_opts o;
    cli_opts_init(&o, "lease list", argc, argv);
    int json = 0, active = 0, k;
    const char *pos;
    while ((k = cli_opt_next(&o, &pos))) {
        if (k == 2) return cli_usage_error(o.verb, "unexpected argument '%s'", pos);
        if (cli_opt_is(&o, "--help")) {
            fputs(cli_help_lease, stdout);
            return 0;
        }
        if (cli_opt_no_value(&o)) return CLI_EXIT_USAGE;
        if (cli_opt_is(&o, "--json"))
            json = 1;
        else if (cli_opt_is(&o, "--active"))
            active = 1;
        else
            return cli_usage_error(o.verb, "unknown flag '%s'", o.flag);
    }
    /* every page of GET /v1/leases (500 leases each), newest first */
    json_t *arr = json_array();
    char err[1024], next[96] = "";
    for (int page = 0; page < 100000; page++) {
        char path[256];
        snprintf(path, sizeof path, "/v1/leases?limit=500%s%s%s", active ? "&state=active" : "",
                 *next ? "&after=" : "", next);
        json_t *ans = NULL;
        int rc = cli_http(g, "GET", path, NULL, 0, &ans, err, sizeof err);
        if (rc) {
            json_decref(ans);
            json_decref(arr);
            return cli_fail(rc, "lease list", err);
        }
        json_array_extend(arr, json_object_get(ans, "leases"));
        const char *n = json_string_value(json_object_get(ans, "next"));
        snprintf(next, sizeof next, "%s", n && strlen(n) < sizeof next ? n : "");
        json_decref(ans);
        if (!*next) break;
    }
    json_t *ans = arr; /* freed below */
    size_t i;
    json_t *l;
    json_array_foreach(arr, i, l) json_object_del(l, "data_plane");
    if (json) {
        cli_print_json(arr ? arr : json_array());
    } else if (json_array_size(arr) == 0) {
        printf("no leases\n");
    } else {
        cli_table *t = cli_table_new(CLI_LEASE_COLS, cli_lease_headers);
        json_array_foreach(arr, i, l) {
            char cells[CLI_LEASE_COLS][96];
            cli_lease_row(l, cells);
            const char *row[CLI_LEASE_COLS];
            for (int c = 0; c < CLI_LEASE_COLS; c++)
                row[c] = cells[c];
            cli_table_add(t, row);
        }
        cli_table_print(t);
        cli_table_free(t);
    }
    json_decref(ans);
    return 0;
}

static int id_ok(const char *verb, const char *id) {
    if (!*id || strlen(id) > 63) return cli_usage_error(verb, "'%s' is not a lease id", id);
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
              *p == '-' || *p == '.'))
            return cli_usage_error(verb, "'%s' is not a lease id (letters, digits, _ - . only)", id);
    return 0;
}

/* info, extend and close: ID (+ SECONDS for extend), --json. */
static int lease_by_id(const cli_global *g, const char *what, int argc, char **argv) {
    char verb[32];
    snprintf(verb, sizeof verb, "lease %s", what);
    cli_opts o;
    cli_opts_init(&o, verb, argc, argv);
    int json = 0, k, npos = 0;
    const char *pos, *id = NULL, *secs = NULL;
    while ((k = cli_opt_next(&o, &pos))) {
        if (k == 2) {
            if (npos == 0)
                id = pos;
            else if (npos == 1 && !strcmp(what, "extend"))
                secs = pos;
            else
                return cli_usage_error(verb, "unexpected argument '%s'", pos);
            npos++;
            continue;
        }
        if (cli_opt_is(&o, "--help")) {
            fputs(cli_help_lease, stdout);
            return 0;
        }
        if (cli_opt_no_value(&o)) return CLI_EXIT_USAGE;
        if (cli_opt_is(&o, "--json"))
            json = 1;
        else
            return cli_usage_error(verb, "unknown flag '%s'", o.flag);
    }
    if (!id) return cli_usage_error(verb, "missing the lease ID");
    if (id_ok(verb, id)) return CLI_EXIT_USAGE;
    uint32_t seconds = 0;
    if (!strcmp(what, "extend")) {
        if (!secs) return cli_usage_error(verb, "missing SECONDS (e.g. lepton lease extend %s 600)", id);
        if (cli_parse_u32(verb, "SECONDS", secs, 1, 2592000, &seconds)) return CLI_EXIT_USAGE;
    }
    char path[160], err[1024];
    json_t *ans = NULL, *body = NULL;
    const char *method = "POST";
    if (!strcmp(what, "info")) {
        snprintf(path, sizeof path, "/v1/leases/%s", id);
        method = "GET";
    } else if (!strcmp(what, "extend")) {
        snprintf(path, sizeof path, "/v1/leases/%s/extend", id);
        body = json_pack("{s:I}", "seconds", (json_int_t)seconds);
    } else if (!strcmp(what, "renew")) {
        snprintf(path, sizeof path, "/v1/leases/%s/renew", id);
    } else {
        snprintf(path, sizeof path, "/v1/leases/%s/close", id);
    }
    int rc = cli_http(g, method, path, body, 0, &ans, err, sizeof err);
    json_decref(body);
    json_t *l = lease_of(ans);
    /* closing a lease that its holder already closed is the outcome asked for */
    if (rc == LEPTON_EEXPIRED && !strcmp(what, "close") && !strcmp(jstr(l, "state"), "closed"))
        rc = LEPTON_OK;
    if (rc) {
        char what2[96];
        snprintf(what2, sizeof what2, "lease %s %s", what, id);
        json_decref(ans);
        return cli_fail(rc, what2, err);
    }
    if (json) {
        cli_print_json(l);
    } else if (!strcmp(what, "info")) {
        print_lease_detail(l);
    } else if (!strcmp(what, "extend")) {
        char e[96];
        cli_fmt_time(jint(l, "expires_at"), e, sizeof e);
        printf("lease %s extended by %u s; expires %s\n", id, seconds, e);
    } else if (!strcmp(what, "renew")) {
        if (json_is_integer(json_object_get(l, "keepalive_seconds")))
            printf("lease %s renewed; it ends if not renewed again within %lld s\n", id,
                   (long long)jint(l, "keepalive_seconds"));
        else
            printf("lease %s renewed (it has no keepalive: renewing changes nothing)\n", id);
    } else {
        char c[96];
        cli_fmt_money(jnum(l, "cost"), c, sizeof c);
        char gs[48];
        cli_fmt_gpu_seconds(jint(l, "gpu_seconds"), gs, sizeof gs);
        printf("lease %s closed; cost %s (%s)\n", id, c, gs);
    }
    json_decref(ans);
    return 0;
}

int cmd_lease(const cli_global *g, int argc, char **argv) {
    if (argc < 1)
        return cli_usage_error("lease", "expected a subcommand: open, list, info, extend, renew or close");
    const char *sub = argv[0];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        fputs(cli_help_lease, stdout);
        return 0;
    }
    if (!strcmp(sub, "open")) return lease_open(g, argc - 1, argv + 1);
    if (!strcmp(sub, "list") || !strcmp(sub, "ls")) return lease_list(g, argc - 1, argv + 1);
    if (!strcmp(sub, "info") || !strcmp(sub, "extend") || !strcmp(sub, "renew") || !strcmp(sub, "close"))
        return lease_by_id(g, sub, argc - 1, argv + 1);
    return cli_usage_error(
        "lease", "unknown subcommand '%s' (expected open, list, info, extend, renew or close)", sub);
}
