/* match.c — choosing GPUs for a lease request and explaining refusals (match.h). */
#include "match.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "metering.h"
#include "money.h"
#include "wire.h"

int lp_model_matches(const char *model, const char *want) {
    if (!want || !*want) return 1;
    size_t n = strlen(model), m = strlen(want);
    for (size_t i = 0; i + m <= n; i++) {
        size_t k = 0;
        while (k < m && tolower((unsigned char)model[i + k]) == tolower((unsigned char)want[k]))
            k++;
        if (k == m) return 1;
    }
    return 0;
}

int lp_match_kind(const lp_pool *p, const lp_lease_req *req) {
    return p->memory >= req->min_memory && lp_model_matches(p->model, req->gpu_model);
}

int lp_match_fits(const lp_pool *p, const lp_lease_req *req) {
    return p->ready && lp_match_kind(p, req) && p->free >= req->gpu_count &&
           (req->max_price <= 0 || p->price <= req->max_price);
}

static int cheaper(const lp_pool *a, const lp_pool *b) {
    if (a->price != b->price) return a->price < b->price;
    int c = strcmp(a->node, b->node);
    if (c) return c < 0;
    return strcmp(a->model, b->model) < 0;
}

long lp_match_pick(const lp_pool *pools, size_t n, const lp_lease_req *req) {
    long best = -1;
    for (size_t i = 0; i < n; i++)
        if (lp_match_fits(&pools[i], req) && (best < 0 || cheaper(&pools[i], &pools[best]))) best = (long)i;
    return best;
}

static void describe_want(const lp_lease_req *req, char *out, size_t n) {
    int k = snprintf(out, n, "%u GPU%s requested", req->gpu_count, req->gpu_count == 1 ? "" : "s");
    if (*req->gpu_model && k > 0 && (size_t)k < n)
        k += snprintf(out + k, n - (size_t)k, " (model ~ \"%s\")", req->gpu_model);
    if (req->min_memory && k > 0 && (size_t)k < n)
        snprintf(out + k, n - (size_t)k, " with >= %.1f GiB each",
                 (double)req->min_memory / (1024.0 * 1024 * 1024));
}

void lp_match_explain(const lp_pool *pools, size_t n, const lp_lease_req *req, lp_err *e) {
    char want[256];
    describe_want(req, want, sizeof want);
    uint64_t exist = 0, freec = 0, nodes = 0, any_gpus = 0;
    uint32_t largest = 0;
    long cheapest_fit = -1, closest = -1;
    const char *last_node = NULL;
    for (size_t i = 0; i < n; i++) {
        const lp_pool *p = &pools[i];
        if (!p->ready) continue;
        any_gpus += p->total;
        if (!lp_match_kind(p, req)) continue;
        exist += p->total;
        freec += p->free;
        if (!last_node || strcmp(last_node, p->node)) nodes++;
        last_node = p->node;
        if (p->total > largest) largest = p->total;
        if (p->free >= req->gpu_count && (cheapest_fit < 0 || cheaper(p, &pools[cheapest_fit])))
            cheapest_fit = (long)i;
        if (p->free > 0 && (closest < 0 || p->free > pools[closest].free ||
                            (p->free == pools[closest].free && cheaper(p, &pools[closest]))))
            closest = (long)i;
    }
    if (cheapest_fit >= 0 && req->max_price > 0 && pools[cheapest_fit].price > req->max_price) {
        const lp_pool *p = &pools[cheapest_fit];
        char a[LP_MONEY_MAX], m[LP_MONEY_MAX];
        lp_err_set(e, WIRE_OVER_BUDGET, "raise max_price_per_gpu_hour or wait for cheaper capacity",
                   "%s: GPUs fit, but the cheapest is %s on node %s at %s/h per GPU, above "
                   "max_price_per_gpu_hour %s/h",
                   want, p->model, p->node, lp_money_format(p->price, a, sizeof a),
                   lp_money_format(req->max_price, m, sizeof m));
        return;
    }
    if (exist == 0) {
        lp_err_set(e, WIRE_NO_CAPACITY,
                   *req->gpu_model || req->min_memory ? "relax gpu_model or min_gpu_memory"
                                                      : "register a node",
                   "%s: no GPUs of that kind exist (%llu GPUs registered on ready nodes)", want,
                   (unsigned long long)any_gpus);
        return;
    }
    char hint[256] = "";
    if (largest < req->gpu_count)
        snprintf(hint, sizeof hint,
                 "gpu_count %u exceeds the largest node (%u GPUs); split the work or ask for <= %u",
                 req->gpu_count, largest, largest);
    else
        snprintf(hint, sizeof hint, "retry later or set wait_ms to wait for capacity");
    if (closest >= 0) {
        const lp_pool *p = &pools[closest];
        char a[LP_MONEY_MAX];
        lp_err_set(e, WIRE_NO_CAPACITY, hint,
                   "%s: %llu GPUs of matching model exist on %llu node%s, %llu are free; closest: node %s "
                   "has %u free %s at %s/h",
                   want, (unsigned long long)exist, (unsigned long long)nodes, nodes == 1 ? "" : "s",
                   (unsigned long long)freec, p->node, p->free, p->model,
                   lp_money_format(p->price, a, sizeof a));
    } else {
        lp_err_set(e, WIRE_NO_CAPACITY, hint,
                   "%s: %llu GPUs of matching model exist on %llu node%s, 0 are free", want,
                   (unsigned long long)exist, (unsigned long long)nodes, nodes == 1 ? "" : "s");
    }
}

int lp_match_check_cost(const lp_lease_req *req, double price, lp_err *e) {
    int64_t s = lp_meter_cap_seconds(req->gpu_count, price, req->max_cost);
    if (s < 0 || s >= 1) return 0;
    double one = (double)req->gpu_count * price / 3600.0;
    char c[LP_MONEY_MAX], p[LP_MONEY_MAX], o[LP_MONEY_MAX];
    lp_err_set(e, WIRE_OVER_BUDGET, "raise max_cost",
               "max_cost %s buys less than 1 s of %u GPU%s at %s/h (1 s costs %s)",
               lp_money_format(req->max_cost, c, sizeof c), req->gpu_count, req->gpu_count == 1 ? "" : "s",
               lp_money_format(price, p, sizeof p), lp_money_format(one, o, sizeof o));
    return -1;
}
