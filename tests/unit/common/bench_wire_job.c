/* bench_wire_job.c — timings of the job codec (src/common/wire_job.c) on the hot path of a job's
 * round trip: encoding and decoding the (binary) descriptor of a one-launch empty-kernel job (and
 * of a write + launch(buffer, value) + read job), decoding the first in its JSON form, and
 * encoding and decoding its result in both forms. Prints
 * nanoseconds per call; asserts only that each codec call succeeds (timings vary by machine). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wire_job.h"

#define SHA_TEXT "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
static const char SHA[] = SHA_TEXT;

static double now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* Encodes the job into body (u32 LE n + descriptor, seq 17); returns the body's length (the WRITE
 * bytes are not appended: the decoder is given them separately below), 0 on failure. */
static size_t encode(int full, char *body, size_t cap) {
    static const uint32_t one[3] = {1, 1, 1};
    wire_job_enc e;
    wire_job_enc_init(&e);
    int rc = 0;
    if (full) rc |= wire_job_enc_rw(&e, 1, 3, 0, 16);
    rc |= wire_job_enc_launch(&e, SHA, full ? "saxpy" : "empty_kernel", one, one, 0, full ? 2 : 0);
    if (full) {
        uint32_t v = 42;
        rc |= wire_job_enc_arg_buffer(&e, 3, 0);
        rc |= wire_job_enc_arg_value(&e, &v, sizeof v);
        rc |= wire_job_enc_rw(&e, 0, 3, 0, 16);
    }
    rc |= wire_job_enc_finish(&e);
    size_t n = 0;
    if (!rc && 4 + e.len <= cap) {
        wire_job_enc_seq(e.p, e.seq_at, 17);
        body[0] = (char)(e.len & 0xff);
        body[1] = (char)(e.len >> 8 & 0xff);
        body[2] = (char)(e.len >> 16 & 0xff);
        body[3] = (char)(e.len >> 24 & 0xff);
        memcpy(body + 4, e.p, e.len);
        n = 4 + e.len;
    }
    wire_job_enc_free(&e);
    return n;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 200000;
    if (n < 1) n = 1;
    static char body[4096];
    volatile size_t sink = 0;
    for (int full = 0; full < 2; full++) {
        double t0 = now_ns();
        for (int i = 0; i < n; i++)
            sink += encode(full, body, sizeof body);
        double enc = (now_ns() - t0) / n;
        size_t len = encode(full, body, sizeof body - 16);
        if (!len) {
            fprintf(stderr, "bench_wire_job: encoding failed\n");
            return 1;
        }
        if (full) {
            memset(body + len, 7, 16);
            len += 16;
        }
        wire_job j;
        long step;
        char msg[256];
        if (wire_job_decode(body, len, &j, &step, msg, sizeof msg) || j.seq != 17) {
            fprintf(stderr, "bench_wire_job: decoding failed: %s\n", msg);
            return 1;
        }
        wire_job_free(&j);
        t0 = now_ns();
        for (int i = 0; i < n; i++) {
            sink += (size_t)wire_job_decode(body, len, &j, &step, msg, sizeof msg);
            wire_job_free(&j);
        }
        double dec = (now_ns() - t0) / n;
        printf("%s: encode %.0f ns, decode %.0f ns (body %zu bytes)\n",
               full ? "write + launch(buffer, 4-byte value) + read" : "one launch, no arguments", enc, dec,
               len);
    }
    /* the same one-launch job in the JSON form a person sends with curl */
    static const char json[] =
        "{\"seq\":17,\"steps\":[{\"launch\":{\"module\":\"" SHA_TEXT
        "\",\"function\":\"empty_kernel\",\"grid\":[1,1,1],\"block\":[1,1,1],\"shared\":0,"
        "\"args\":[]}}]}";
    size_t jl = sizeof json - 1;
    body[0] = (char)jl, body[1] = (char)(jl >> 8), body[2] = body[3] = 0;
    memcpy(body + 4, json, jl);
    {
        wire_job j;
        long step;
        char msg[256];
        if (wire_job_decode(body, 4 + jl, &j, &step, msg, sizeof msg) || j.seq != 17 || j.binary) {
            fprintf(stderr, "bench_wire_job: decoding the JSON form failed: %s\n", msg);
            return 1;
        }
        wire_job_free(&j);
        double t0 = now_ns();
        for (int i = 0; i < n; i++) {
            sink += (size_t)wire_job_decode(body, 4 + jl, &j, &step, msg, sizeof msg);
            wire_job_free(&j);
        }
        printf("one launch, no arguments, JSON form: decode %.0f ns (body %zu bytes)\n", (now_ns() - t0) / n,
               4 + jl);
    }
    wire_job_result r = {.seq = 17,
                         .status = "ok",
                         .error = "",
                         .step = -1,
                         .queued_ns = 123456789012,
                         .started_ns = 123456789999,
                         .ended_ns = 123456799999};
    char out[WIRE_JOB_MAX_RESULT];
    for (int form = 0; form < 2; form++) { /* JSON (people, curl), binary (liblepton) */
        r.binary = form;
        double t0 = now_ns();
        for (int i = 0; i < n; i++)
            sink += wire_job_result_encode(&r, out, sizeof out);
        double renc = (now_ns() - t0) / n;
        size_t rl = wire_job_result_encode(&r, out, sizeof out);
        wire_job_result d;
        char msg[256];
        if (!rl || wire_job_result_decode(out, rl, &d, msg, sizeof msg) || strcmp(d.status, "ok")) {
            fprintf(stderr, "bench_wire_job: result codec failed\n");
            return 1;
        }
        t0 = now_ns();
        for (int i = 0; i < n; i++)
            sink += (size_t)wire_job_result_decode(out, rl, &d, msg, sizeof msg);
        double rdec = (now_ns() - t0) / n;
        printf("result, %s (%zu bytes): encode %.0f ns, decode %.0f ns\n", form ? "binary" : "JSON", rl, renc,
               rdec);
    }
    (void)sink;
    return 0;
}
