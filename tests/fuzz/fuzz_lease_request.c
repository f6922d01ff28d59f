/* fuzz_lease_request.c — the broker's decoder of a lease request body (POST /v1/quote and
 * /v1/leases). The HTTP layer refuses bodies that are not JSON objects before it runs. */
#include "fuzz.h"

#include "broker_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return 0;
    }
    char err[256] = "";
    lp_lease_req q;
    int rc = lp_lease_req_decode(j, size & 1 ? "idem-fuzz" : NULL, &q, err, sizeof err);
    if (rc != 0 && !err[0]) abort(); /* a refusal names its field */
    if (rc == 0 && (q.gpu_count < 1 || q.gpu_count > 1024 || q.ttl_s < 1)) abort();
    json_decref(j);
    return 0;
}
