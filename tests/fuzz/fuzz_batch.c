/* fuzz_batch.c — the lease worker's decoder of a POST /v1/jobs/batch body (K records of u32 LE L +
 * L bytes of one job body). */
#include "fuzz.h"
#include "worker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char msg[600];
    msg[0] = 0;
    int rc = wk_batch_decode((const char *)data, size, msg, sizeof msg);
    if (rc != 0 && !msg[0]) abort();
    return 0;
}
