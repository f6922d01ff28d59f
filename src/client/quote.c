/* quote.c — lepton_quote and lepton_offers_free: what a lease request would get now, as an array
 * of lepton_offer, cheapest first. Reserves nothing, so the request may be retried safely. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "errors.h"
#include "json_field.h"
#include "request.h"
#include "text.h"

static int cheaper(const void *a, const void *b) {
    const lepton_offer *x = a, *y = b;
    if (x->price_per_gpu_hour != y->price_per_gpu_hour)
        return x->price_per_gpu_hour < y->price_per_gpu_hour ? -1 : 1;
    return strcmp(x->node, y->node);
}

int lepton_quote(lepton_client *c, const lepton_lease_request *req, lepton_offer **offers, size_t *count) {
    static const char fn[] = "lepton_quote";
    if (offers) *offers = NULL;
    if (count) *count = 0;
    if (!c) return lc_fail(LEPTON_EINVAL, "%s: c is NULL", fn);
    if (!offers) return lc_fail(LEPTON_EINVAL, "%s: offers is NULL", fn);
    if (!count) return lc_fail(LEPTON_EINVAL, "%s: count is NULL", fn);
    json_t *body;
    int rc = lc_request_body(fn, req, LC_FOR_QUOTE, NULL, &body);
    if (rc) return rc;
    lc_request r = {fn, "POST", "/v1/quote", body, 0, LC_RETRY};
    lc_response resp;
    rc = lc_http_call(c, &r, &resp);
    json_decref(body);
    if (rc) {
        json_decref(resp.json);
        return rc;
    }
    json_t *arr = json_object_get(resp.json, "offers");
    if (!json_is_array(arr)) {
        json_decref(resp.json);
        return lc_fail(LEPTON_EPROTO, "%s: the broker's answer has no \"offers\" array", fn);
    }
    size_t n = json_array_size(arr);
    lepton_offer *out = NULL;
    if (n) {
        out = calloc(n, sizeof *out);
        if (!out) {
            json_decref(resp.json);
            return lc_fail(LEPTON_ENOMEM, "%s: out of memory for %zu offers", fn, n);
        }
    }
    char err[200] = "";
    int sorted = 1, bad = 0;
    const size_t any = (size_t)1 << 20;
    for (size_t i = 0; i < n && !bad; i++) {
        json_t *o = json_array_get(arr, i);
        const char *node = NULL, *model = NULL;
        int64_t memory = 0, free_gpus = 0;
        double price = 0;
        if (!json_is_object(o)) {
            snprintf(err, sizeof err, "offer %zu is not an object", i);
            bad = 1;
        } else if (lp_json_str(o, "node", any, &node, err, sizeof err) ||
                   lp_json_str(o, "gpu_model", any, &model, err, sizeof err) ||
                   lp_json_int(o, "gpu_memory", 0, INT64_MAX, &memory, err, sizeof err) ||
                   lp_json_int(o, "gpus_free", 0, UINT32_MAX, &free_gpus, err, sizeof err) ||
                   lp_json_num(o, "price_per_gpu_hour", 0, 1e300, &price, err, sizeof err)) {
            bad = 1;
        } else {
            lc_copy_text(out[i].node, sizeof out[i].node, node);
            lc_copy_text(out[i].gpu_model, sizeof out[i].gpu_model, model);
            out[i].gpu_memory = (uint64_t)memory;
            out[i].gpus_free = (uint32_t)free_gpus;
            out[i].price_per_gpu_hour = price;
            if (i && cheaper(&out[i - 1], &out[i]) > 0) sorted = 0;
        }
    }
    if (bad) {
        free(out);
        json_decref(resp.json);
        return lc_fail(LEPTON_EPROTO, "%s: malformed offer in the broker's answer: %s", fn, err);
    }
    /* The broker sends them cheapest first; sort only if it did not, so the promise holds anyway. */
    if (!sorted) qsort(out, n, sizeof *out, cheaper);
    if (n == 0) {
        const char *why = json_string_value(json_object_get(resp.json, "message"));
        lc_error_set("%s", why && *why ? why : "no GPUs match the request now");
    }
    json_decref(resp.json);
    *offers = out;
    *count = n;
    return LEPTON_OK;
}

void lepton_offers_free(lepton_offer *offers) { free(offers); }
