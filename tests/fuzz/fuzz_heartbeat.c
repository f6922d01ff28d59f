/* fuzz_heartbeat.c — the broker's decoder of a heartbeat body (POST /v1/nodes/{name}/heartbeat). */
#include "fuzz.h"

#include "broker_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return 0;
    }
    char err[256] = "";
    int64_t wait = 0;
    const json_t *known = NULL;
    int rc = lp_heartbeat_decode(j, &wait, &known, err, sizeof err);
    if (rc != 0 && !err[0]) abort();
    if (rc == 0 && (wait < 0 || wait > 600000 || (known && !json_is_array(known)))) abort();
    json_decref(j);
    return 0;
}
