/* handlers_health.c — GET /healthz, GET /metrics and the test clock (POST /v1/debug/clock). */
#include <stdlib.h>
#include <string.h>

#include "broker_internal.h"
#include "json_field.h"
#include "lepton/lepton.h"
#include "log.h"
#include "wire.h"

static void h_healthz(lp_http_req *r, void *user) {
    lp_http_reply_json_take(r, 200,
                            json_pack("{s:s, s:s}", "status", "ok", "version", LEPTON_VERSION_STRING));
}

/* The fleet's free and leased GPUs by model, over ready nodes. *out is malloc'd (caller frees). */
static int fleet_models(lp_broker *b, lp_metrics_model **out, size_t *n, lp_err *e) {
    *out = NULL;
    *n = 0;
    lp_node_list nl = {0};
    if (b->store->ops->node_list(b->store, &nl, e) != 0) return -1;
    size_t cap = 0;
    for (size_t i = 0; i < nl.n; i++)
        cap += nl.v[i].gpu_count;
    lp_metrics_model *v = calloc(cap ? cap : 1, sizeof *v);
    if (!v) {
        lp_node_list_clear(&nl);
        lp_err_set(e, WIRE_INTERNAL, NULL, "out of memory");
        return -1;
    }
    size_t k = 0;
    for (size_t i = 0; i < nl.n; i++) {
        if (strcmp(nl.v[i].state, "ready") != 0) continue;
        for (size_t g = 0; g < nl.v[i].gpu_count; g++) {
            const lp_gpu *gpu = &nl.v[i].gpus[g];
            size_t j = 0;
            while (j < k && strcmp(v[j].model, gpu->model) != 0)
                j++;
            if (j == k) snprintf(v[k++].model, sizeof v[0].model, "%s", gpu->model);
            if (gpu->lease_id[0])
                v[j].leased++;
            else
                v[j].free++;
        }
    }
    lp_node_list_clear(&nl);
    *out = v;
    *n = k;
    return 0;
}

/* No token: the page holds counts by state, model, route and status only (metrics.h). */
static void h_metrics(lp_http_req *r, void *user) {
    lp_broker *b = user;
    lp_store_stats st;
    lp_metrics_model *models = NULL;
    size_t nmodels = 0, len = 0;
    lp_err e = {0};
    if (b->store->ops->stats(b->store, &st, &e) != 0 || fleet_models(b, &models, &nmodels, &e) != 0) {
        lp_reply_err(r, &e);
        return;
    }
    char *text = lp_metrics_render(b->metrics, &st, models, nmodels, &len);
    free(models);
    if (!text) {
        lp_http_reply_error(r, WIRE_INTERNAL, NULL, "out of memory");
        return;
    }
    lp_http_reply_bytes(r, 200, LP_PROM_CONTENT_TYPE, text, len);
    free(text);
}

static void h_clock(lp_http_req *r, void *user) {
    lp_broker *b = user;
    lp_principal who;
    if (lp_auth(b, r, AUTH_TENANT, &who) != 0) return;
    json_t *j = lp_http_json_body(r);
    if (!j) return;
    int64_t adv = 0;
    char err[256];
    if (lp_json_int(j, "advance_ms", 0, (int64_t)100 * 365 * 86400 * 1000, &adv, err, sizeof err) != 0) {
        json_decref(j);
        lp_http_reply_error(r, WIRE_INVALID, NULL, "%s", err);
        return;
    }
    json_decref(j);
    lp_broker_advance(b, adv);
    lp_log(LP_LOG_INFO, "test clock advanced by %lld ms", (long long)adv);
    lp_reaper_tick(b); /* so that what the jump made due ends before we answer */
    lp_http_reply_json_take(r, 200, json_pack("{s:I}", "now_ms", (json_int_t)lp_broker_now(b)));
}

int lp_routes_health(lp_broker *b, lp_http_server *s) {
    int rc = lp_http_server_route(s, "GET", "/healthz", h_healthz, b);
    rc |= lp_http_server_route(s, "GET", "/metrics", h_metrics, b);
    if (b->test_clock) rc |= lp_http_server_route(s, "POST", "/v1/debug/clock", h_clock, b);
    return rc;
}
