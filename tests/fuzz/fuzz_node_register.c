/* fuzz_node_register.c — the broker's decoder of a node registration body (POST /v1/nodes). */
#include "fuzz.h"

#include "broker_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return 0;
    }
    char err[256] = "";
    lp_node_reg reg;
    lp_gpu *gv = NULL;
    int rc = lp_node_reg_decode(j, &reg, &gv, err, sizeof err);
    if (rc == -1 && !err[0]) abort();
    if (rc == 0) {
        /* what is accepted is complete: a name, an address, 1..1024 GPUs with distinct UUIDs */
        if (!reg.name || !*reg.name || !reg.address || !*reg.address || reg.gpu_count < 1 ||
            reg.gpu_count > 1024 || !gv)
            abort();
        for (size_t i = 0; i < reg.gpu_count; i++)
            if (!gv[i].uuid[0]) abort();
    }
    free(gv);
    json_decref(j);
    return 0;
}
