/* fuzz_job.c — the lease worker's decoder of a POST /v1/jobs body (u32 LE n, n bytes of JSON
 * descriptor, the write steps' bytes). */
#include "fuzz.h"
#include "worker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char msg[600];
    msg[0] = 0;
    int rc = wk_job_decode((const char *)data, size, msg, sizeof msg);
    if (rc != 0 && !msg[0]) abort(); /* a refusal always says why */
    return 0;
}
