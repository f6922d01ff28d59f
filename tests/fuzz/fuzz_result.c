/* fuzz_result.c — the client's decoder of a job result (wire_job_result_decode, what liblepton
 * runs on the worker's answer), JSON or binary. On JSON it agrees with the jansson decoder it
 * replaced (job_ref.c); what it accepts, encoded again by the worker's encoder
 * (wire_job_result_encode) in both forms and decoded, keeps its status, step, times, flag and
 * output count. */
#include "fuzz.h"
#include "job_ref.h"
#include "wire_job.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    wire_job_result r, s;
    char msg[300], rmsg[300];
    msg[0] = 0;
    int rc = wire_job_result_decode((const char *)data, size, &r, msg, sizeof msg);
    /* the same answers as the jansson decoder it replaced, except on NUL bytes (jansson skips them) */
    int rrc = memchr(data, 0, size)
                  ? rc
                  : wire_job_result_decode_ref((const char *)data, size, &s, rmsg, sizeof rmsg);
    if (rc != rrc) abort();
    if (rc == 0 && !memchr(data, 0, size) &&
        (strcmp(r.status, s.status) || strcmp(r.error, s.error) || r.step != s.step || r.seq != s.seq ||
         r.queued_ns != s.queued_ns || r.started_ns != s.started_ns || r.ended_ns != s.ended_ns ||
         r.restarting != s.restarting || r.output != s.output || r.output_stderr != s.output_stderr ||
         r.nevents != s.nevents || memcmp(r.events, s.events, r.nevents * sizeof r.events[0])))
        abort();
    if (rc != 0) {
        if (!msg[0]) abort(); /* a refusal always says why */
        return 0;
    }
    if (!r.status || !r.error || !*r.status || r.step < -1) abort();
    char out[WIRE_JOB_MAX_RESULT];
    for (int form = 0; form < 2; form++) { /* JSON, then binary */
        r.binary = form;
        size_t n = wire_job_result_encode(&r, out, sizeof out);
        if (!n) abort(); /* every decoded result fits: status < 48 bytes, the error is cut */
        if (wire_job_result_decode(out, n, &s, msg, sizeof msg) != 0 || s.binary != form) abort();
        if (strcmp(r.status, s.status) || r.step != s.step || r.seq != s.seq || r.queued_ns != s.queued_ns ||
            r.started_ns != s.started_ns || r.ended_ns != s.ended_ns || r.restarting != s.restarting ||
            r.output != s.output || r.output_stderr != s.output_stderr || r.nevents != s.nevents ||
            memcmp(r.events, s.events, r.nevents * sizeof r.events[0]))
            abort();
    }
    return 0;
}
