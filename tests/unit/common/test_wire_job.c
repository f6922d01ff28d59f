/* test_wire_job.c — the job contract's codec (src/common/wire_job.c): encode → decode round trips of
 * every step kind and argument kind; each limit at its edge (accepted by both ends) and one past it
 * (refused by the encoder, as lepton_submit does, and by the decoder, as the worker does, with the
 * same message); malformed descriptors; the result codec; the binary forms of both (what liblepton
 * sends and the worker answers it), written by hand past the encoder's limits. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "wire_job.h"

#include "check.h"

static const char SHA[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
static const uint32_t ONE[3] = {1, 1, 1};

/* A growable text: descriptors written by hand (past the limits the encoder enforces). */
typedef struct txt {
    char *p;
    size_t len, cap;
} txt;

static void put(txt *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(txt *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (t->len + (size_t)n + 1 > t->cap) {
        t->cap = (t->len + (size_t)n + 1) * 2;
        t->p = realloc(t->p, t->cap);
        if (!t->p) abort();
    }
    va_start(ap, fmt);
    vsnprintf(t->p + t->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

/* u32 LE n + descriptor + `extra` bytes of WRITE data (zeros). */
static char *body_of(const char *desc, size_t n, size_t extra, size_t *len) {
    char *b = calloc(1, 4 + n + extra + 1);
    if (!b) abort();
    b[0] = (char)(n & 0xff), b[1] = (char)(n >> 8 & 0xff), b[2] = (char)(n >> 16 & 0xff),
    b[3] = (char)(n >> 24);
    memcpy(b + 4, desc, n);
    *len = 4 + n + extra;
    return b;
}

/* Decodes desc (+ extra WRITE bytes): the codec's outcome, with seq, step and msg. */
static int decode_text(const char *desc, size_t extra, uint64_t *seq, long *step, char *msg, size_t ms) {
    size_t len;
    char *b = body_of(desc, strlen(desc), extra, &len);
    wire_job j;
    int rc = wire_job_decode(b, len, &j, step, msg, ms);
    *seq = j.seq;
    wire_job_free(&j);
    free(b);
    return rc;
}

/* Encodes, finishes, sets seq; returns the finished body (u32 + descriptor + WRITE bytes of
 * `fill`), or NULL with the encoder's refusal in msg. */
static char *finish(wire_job_enc *e, uint64_t seq, int *rc, size_t *len, char *msg, size_t ms) {
    *rc = wire_job_enc_finish(e);
    if (*rc) {
        snprintf(msg, ms, "%s", e->msg);
        wire_job_enc_free(e);
        return NULL;
    }
    wire_job_enc_seq(e->p, e->seq_at, seq);
    char *b = body_of(e->p, e->len, (size_t)e->write_total, len);
    memset(b + 4 + e->len, 0x5a, (size_t)e->write_total);
    wire_job_enc_free(e);
    return b;
}

static void test_round_trip(void) {
    wire_job_enc e;
    wire_job_enc_init(&e);
    uint32_t grid[3] = {7, 0, 3}, block[3] = {256, 1, 0};
    unsigned char val[13];
    for (int i = 0; i < 13; i++)
        val[i] = (unsigned char)(i * 37);
    int rc = wire_job_enc_rw(&e, 1, 3, 16, 5);
    rc |= wire_job_enc_launch(&e, SHA, "k\"ern\\el\n", grid, block, 48, 3);
    rc |= wire_job_enc_arg_buffer(&e, 3, 8);
    rc |= wire_job_enc_arg_value(&e, val, sizeof val);
    rc |= wire_job_enc_arg_value(&e, val, 1);
    rc |= wire_job_enc_launch(&e, SHA, "none", ONE, ONE, 0, 0);
    rc |= wire_job_enc_rw(&e, 0, 3, 0, 100);
    rc |= wire_job_enc_rw(&e, 1, 4, 1, 2);
    rc |= wire_job_enc_rw(&e, 0, 4, 0, 7);
    CHECK(rc == 0);
    size_t len;
    char msg[300];
    char *b = finish(&e, 12345678901234ull, &rc, &len, msg, sizeof msg);
    CHECK(rc == 0 && b);
    if (!b) return;
    b[4 + (len - 4 - 7) + 5] = 'x'; /* the second WRITE's first byte */
    wire_job j;
    long step;
    CHECK(wire_job_decode(b, len, &j, &step, msg, sizeof msg) == 0);
    CHECK(j.seq == 12345678901234ull);
    CHECK(j.nsteps == 6);
    CHECK(j.write_total == 7 && j.read_total == 107);
    if (j.nsteps == 6) {
        wire_job_step *s = j.steps;
        CHECK(s[0].kind == 'w' && s[0].buffer == 3 && s[0].offset == 16 && s[0].size == 5);
        CHECK(s[0].data == b + len - 7 && (unsigned char)s[0].data[0] == 0x5a);
        CHECK(s[1].kind == 'l' && !strcmp(s[1].module, SHA) && !strcmp(s[1].function, "k\"ern\\el\n"));
        CHECK(s[1].grid[0] == 7 && s[1].grid[1] == 1 && s[1].grid[2] == 3);
        CHECK(s[1].block[0] == 256 && s[1].block[1] == 1 && s[1].block[2] == 1 && s[1].shared == 48);
        CHECK(s[1].nargs == 3);
        if (s[1].nargs == 3) {
            CHECK(s[1].args[0].is_buffer && s[1].args[0].buffer == 3 && s[1].args[0].offset == 8);
            CHECK(!s[1].args[1].is_buffer && s[1].args[1].len == 13 && !memcmp(s[1].args[1].value, val, 13));
            CHECK(!s[1].args[2].is_buffer && s[1].args[2].len == 1 && s[1].args[2].value[0] == val[0]);
            CHECK(((uintptr_t)s[1].args[1].value & 7) == 0);
        }
        CHECK(s[2].kind == 'l' && s[2].nargs == 0 && !strcmp(s[2].function, "none"));
        CHECK(s[3].kind == 'r' && s[3].size == 100 && s[3].out_off == 0);
        CHECK(s[4].kind == 'w' && s[4].buffer == 4 && s[4].size == 2 && s[4].data == b + len - 2);
        CHECK(s[5].kind == 'r' && s[5].size == 7 && s[5].out_off == 100);
    }
    wire_job_free(&j);
    free(b);
}

/* The encoder refuses with `rc`; the decoder refuses `desc` (the same job written by hand) with the
 * same code and the same message. `seq_known`: the decoder fails the job in its turn (seq set)
 * rather than refusing the request. */
static void same_refusal(const char *what, int enc_rc, const char *enc_msg, const char *desc, size_t extra,
                         int want_rc, int seq_known) {
    uint64_t seq;
    long step;
    char msg[300] = "";
    int rc = decode_text(desc, extra, &seq, &step, msg, sizeof msg);
    if (enc_rc != want_rc || rc != want_rc || strcmp(msg, enc_msg) || (seq != 0) != seq_known) {
        fprintf(stderr, "%s: encoder %d \"%s\"\n  decoder %d \"%s\" (seq %llu)\n", what, enc_rc, enc_msg, rc,
                msg, (unsigned long long)seq);
        check_failures++;
    }
}

static void test_limit_steps(void) {
    wire_job_enc e;
    wire_job_enc_init(&e);
    int rc = 0;
    for (int i = 0; i < WIRE_JOB_MAX_STEPS && !rc; i++)
        rc = wire_job_enc_rw(&e, 0, 1, 0, 1);
    CHECK(rc == 0);
    size_t len;
    char msg[300];
    int erc = wire_job_enc_rw(&e, 0, 1, 0, 1);
    char emsg[300];
    snprintf(emsg, sizeof emsg, "%s", e.msg);
    CHECK(erc == WIRE_JOB_ETOOLARGE && strstr(emsg, "4096") && strstr(emsg, "WIRE_JOB_MAX_STEPS"));
    wire_job_enc_free(&e);

    /* at the limit: both ends accept */
    wire_job_enc_init(&e);
    for (int i = 0; i < WIRE_JOB_MAX_STEPS; i++)
        wire_job_enc_rw(&e, 0, 1, 0, 1);
    char *b = finish(&e, 1, &rc, &len, msg, sizeof msg);
    CHECK(rc == 0 && b);
    wire_job j;
    long step;
    CHECK(b && wire_job_decode(b, len, &j, &step, msg, sizeof msg) == 0 && j.nsteps == WIRE_JOB_MAX_STEPS);
    wire_job_free(&j);
    free(b);

    txt t = {0};
    put(&t, "{\"seq\":5,\"steps\":[");
    for (int i = 0; i <= WIRE_JOB_MAX_STEPS; i++)
        put(&t, "%s{\"read\":{\"buffer\":1,\"size\":1}}", i ? "," : "");
    put(&t, "]}");
    same_refusal("steps", erc, emsg, t.p, 0, WIRE_JOB_ETOOLARGE, 1);
    free(t.p);
}

/* A launch of `nargs` arguments, each a value of `vsize` bytes (or a buffer when vsize is 0). */
static int enc_launch(wire_job_enc *e, const char *fn, size_t nargs, size_t vsize, const uint32_t grid[3],
                      uint32_t shared) {
    static unsigned char big[WIRE_JOB_MAX_VALUE + 1];
    int rc = wire_job_enc_launch(e, SHA, fn, grid, ONE, shared, nargs);
    for (size_t k = 0; k < nargs && !rc; k++)
        rc = vsize ? wire_job_enc_arg_value(e, big, vsize) : wire_job_enc_arg_buffer(e, 1, 0);
    return rc;
}

static void desc_launch(txt *t, const char *fn, size_t nargs, size_t vsize, const char *grid,
                        uint64_t shared) {
    put(t,
        "{\"seq\":9,\"steps\":[{\"launch\":{\"module\":\"%s\",\"function\":\"%s\",\"grid\":%s,\"shared\":%"
        "llu,\"args\":[",
        SHA, fn, grid, (unsigned long long)shared);
    for (size_t k = 0; k < nargs; k++) {
        if (k) put(t, ",");
        if (!vsize) {
            put(t, "{\"buffer\":1,\"offset\":0}");
            continue;
        }
        put(t, "{\"value\":\"");
        size_t n = vsize;
        for (; n >= 3; n -= 3)
            put(t, "AAAA");
        put(t, "%s\"}", n == 2 ? "AAA=" : n == 1 ? "AA==" : "");
    }
    put(t, "]}}]}");
}

/* Both ends accept a launch (nargs, vsize, grid, shared) that the encoder accepts. */
static void both_accept(const char *what, const char *fn, size_t nargs, size_t vsize, const uint32_t grid[3],
                        uint32_t shared) {
    wire_job_enc e;
    wire_job_enc_init(&e);
    int rc = enc_launch(&e, fn, nargs, vsize, grid, shared);
    size_t len;
    char msg[300] = "";
    char *b = rc ? (wire_job_enc_free(&e), NULL) : finish(&e, 2, &rc, &len, msg, sizeof msg);
    wire_job j;
    long step;
    int drc = b ? wire_job_decode(b, len, &j, &step, msg, sizeof msg) : -9;
    if (rc || drc) {
        fprintf(stderr, "%s: at the limit: encoder %d, decoder %d: %s\n", what, rc, drc, msg);
        check_failures++;
    } else {
        CHECK(j.nsteps == 1 && j.steps[0].nargs == nargs);
        if (nargs && vsize) CHECK(j.steps[0].args[nargs - 1].len == vsize);
    }
    if (b) wire_job_free(&j);
    free(b);
}

/* Both ends refuse with the same message: the encoder the launch, the decoder its text. */
static void both_refuse(const char *what, const char *fn, size_t nargs, size_t vsize, const uint32_t grid[3],
                        uint32_t shared, const char *grid_text, uint64_t shared_text, int want_rc) {
    wire_job_enc e;
    wire_job_enc_init(&e);
    int rc = enc_launch(&e, fn, nargs, vsize, grid, shared);
    char emsg[300];
    snprintf(emsg, sizeof emsg, "%s", e.msg);
    wire_job_enc_free(&e);
    txt t = {0};
    desc_launch(&t, fn, nargs, vsize, grid_text, shared_text);
    same_refusal(what, rc, emsg, t.p, 0, want_rc, 1);
    free(t.p);
}

static void test_limits_launch(void) {
    static char name[WIRE_JOB_MAX_FUNCTION + 2];
    memset(name, 'f', sizeof name - 1);
    both_accept("args", "k", WIRE_JOB_MAX_ARGS, 0, ONE, 0);
    both_refuse("args", "k", WIRE_JOB_MAX_ARGS + 1, 0, ONE, 0, "[1,1,1]", 0, WIRE_JOB_ETOOLARGE);
    both_accept("value", "k", 1, WIRE_JOB_MAX_VALUE, ONE, 0);
    both_accept("value of 1 byte", "k", 1, 1, ONE, 0);
    both_accept("value of 2 bytes", "k", 1, 2, ONE, 0);
    both_refuse("value", "k", 1, WIRE_JOB_MAX_VALUE + 1, ONE, 0, "[1,1,1]", 0, WIRE_JOB_ETOOLARGE);
    /* a by-value argument of 5,000 bytes: once refused only by the worker, now accepted by both */
    both_accept("value of 5000 bytes", "k", 1, 5000, ONE, 0);
    name[WIRE_JOB_MAX_FUNCTION] = 0;
    both_accept("function", name, 0, 0, ONE, 0);
    name[WIRE_JOB_MAX_FUNCTION] = 'f';
    both_refuse("function", name, 0, 0, ONE, 0, "[1,1,1]", 0, WIRE_JOB_ETOOLARGE);
    both_refuse("empty function", "", 0, 0, ONE, 0, "[1,1,1]", 0, WIRE_JOB_EINVAL);
    uint32_t g[3] = {WIRE_JOB_MAX_DIM, 1, WIRE_JOB_MAX_DIM};
    both_accept("grid", "k", 0, 0, g, WIRE_JOB_MAX_SHARED);
    g[2] = WIRE_JOB_MAX_DIM + 1u;
    both_refuse("grid", "k", 0, 0, g, 0, "[2147483647,1,2147483648]", 0, WIRE_JOB_EINVAL);
    both_refuse("shared", "k", 0, 0, ONE, WIRE_JOB_MAX_SHARED + 1u, "[1,1,1]", WIRE_JOB_MAX_SHARED + 1ull,
                WIRE_JOB_EINVAL);

    /* a value of no bytes: refused by both */
    wire_job_enc e;
    wire_job_enc_init(&e);
    CHECK(wire_job_enc_launch(&e, SHA, "k", ONE, ONE, 0, 1) == 0);
    int rc = wire_job_enc_arg_value(&e, "", 0);
    char emsg[300];
    snprintf(emsg, sizeof emsg, "%s", e.msg);
    wire_job_enc_free(&e);
    txt t = {0};
    put(&t,
        "{\"seq\":9,\"steps\":[{\"launch\":{\"module\":\"%s\",\"function\":\"k\",\"args\":[{\"value\":\"\"}]}"
        "}]}",
        SHA);
    same_refusal("empty value", rc, emsg, t.p, 0, WIRE_JOB_EINVAL, 1);
    free(t.p);
}

static void test_limits_sizes(void) {
    /* READ bytes: exactly the limit passes; one more byte is refused at that step */
    wire_job_enc e;
    wire_job_enc_init(&e);
    int rc = wire_job_enc_rw(&e, 0, 1, 0, WIRE_JOB_MAX_READ - 1);
    rc |= wire_job_enc_rw(&e, 0, 1, 0, 1);
    CHECK(rc == 0);
    size_t len;
    char msg[300];
    char *b = finish(&e, 3, &rc, &len, msg, sizeof msg);
    wire_job j;
    long step;
    CHECK(b && wire_job_decode(b, len, &j, &step, msg, sizeof msg) == 0 && j.read_total == WIRE_JOB_MAX_READ);
    wire_job_free(&j);
    free(b);
    wire_job_enc_init(&e);
    wire_job_enc_rw(&e, 0, 1, 0, WIRE_JOB_MAX_READ);
    rc = wire_job_enc_rw(&e, 0, 1, 0, 1);
    char emsg[300];
    snprintf(emsg, sizeof emsg, "%s", e.msg);
    wire_job_enc_free(&e);
    char desc[200];
    snprintf(
        desc, sizeof desc,
        "{\"seq\":3,\"steps\":[{\"read\":{\"buffer\":1,\"size\":%u}},{\"read\":{\"buffer\":1,\"size\":1}}]}",
        WIRE_JOB_MAX_READ);
    same_refusal("read bytes", rc, emsg, desc, 0, WIRE_JOB_ETOOLARGE, 1);
    CHECK(strstr(emsg, "steps[1].read") != NULL);

    /* the request: descriptor + WRITE bytes; the limit passes, one byte more does not */
    wire_job_enc_init(&e);
    wire_job_enc_rw(&e, 1, 1, 0, 1000);
    CHECK(wire_job_enc_finish(&e) == 0);
    size_t dl = e.len;
    wire_job_enc_free(&e);
    /* a second write (a kind byte and three u64) makes the body exactly the limit */
    uint64_t fill = WIRE_JOB_MAX_BODY - 4 - (dl + 1 + 24) - 1000;
    wire_job_enc_init(&e);
    wire_job_enc_rw(&e, 1, 1, 0, 1000);
    wire_job_enc_rw(&e, 1, 1, 0, fill);
    rc = wire_job_enc_finish(&e);
    if (rc == 0 && 4 + e.len + e.write_total == WIRE_JOB_MAX_BODY) {
        wire_job_enc_seq(e.p, e.seq_at, 4);
        char *big = body_of(e.p, e.len, (size_t)e.write_total, &len);
        CHECK(wire_job_decode(big, len, &j, &step, msg, sizeof msg) == 0 && j.write_total == 1000 + fill);
        wire_job_free(&j);
        free(big);
    } else {
        fprintf(stderr, "body at the limit: encoder %d (%s), %zu bytes\n", rc, e.msg,
                (size_t)(4 + e.len + e.write_total));
        check_failures++;
    }
    wire_job_enc_free(&e);
    wire_job_enc_init(&e);
    wire_job_enc_rw(&e, 1, 1, 0, 1000);
    wire_job_enc_rw(&e, 1, 1, 0, fill + 1);
    rc = wire_job_enc_finish(&e);
    snprintf(emsg, sizeof emsg, "%s", e.msg);
    CHECK(rc == WIRE_JOB_ETOOLARGE);
    /* the worker sees the request's length before anything else: the same words (its bytes are
     * never read past the limit check, so a short buffer stands for it) */
    char tiny[8] = {0};
    CHECK(wire_job_decode(tiny, WIRE_JOB_MAX_BODY + 1ull, &j, &step, msg, sizeof msg) == WIRE_JOB_ETOOLARGE);
    CHECK(j.seq == 0 && !strcmp(msg, emsg));
    wire_job_free(&j);
    wire_job_enc_free(&e);

    /* the descriptor: ~128 maximal values pass 4 MiB in the binary form (test_json_growth: the JSON
     * form's 4 MiB comes first, at 96) */
    wire_job_enc_init(&e);
    rc = 0;
    for (int i = 0; i < 130 && !rc; i++)
        rc = enc_launch(&e, "k", 1, WIRE_JOB_MAX_VALUE, ONE, 0);
    CHECK(rc == 0);
    rc = wire_job_enc_finish(&e);
    snprintf(emsg, sizeof emsg, "%s", e.msg);
    CHECK(rc == WIRE_JOB_ETOOLARGE && strstr(emsg, "WIRE_JOB_MAX_DESCRIPTOR"));
    /* the same descriptor given to the decoder: its length prefix is refused first, in the same words */
    char *bd = body_of(e.p, e.len, 0, &len);
    CHECK(wire_job_decode(bd, len, &j, &step, msg, sizeof msg) == WIRE_JOB_ETOOLARGE && j.seq == 0);
    CHECK(!strcmp(msg, emsg));
    wire_job_free(&j);
    free(bd);
    wire_job_enc_free(&e);
}

static void test_malformed(void) {
    static const struct {
        const char *desc;
        size_t extra;
        int rc;    /* the decoder's outcome */
        int seq;   /* 1: the job has its seq (fails in its turn); 0: the request is refused */
        long step; /* the step at fault */
        const char *words;
    } cases[] = {
        {"nope", 0, WIRE_JOB_EINVAL, 0, -1, "not a JSON object"},
        {"[1]", 0, WIRE_JOB_EINVAL, 0, -1, "not a JSON object"},
        {"{\"steps\":[]}", 0, WIRE_JOB_EINVAL, 0, -1, "'seq' is required"},
        {"{\"seq\":0,\"steps\":[]}", 0, WIRE_JOB_EINVAL, 0, -1, "'seq' is required"},
        {"{\"seq\":1.5,\"steps\":[]}", 0, WIRE_JOB_EINVAL, 0, -1, "'seq' is required"},
        {"{\"seq\":1,\"seq\":2}", 0, WIRE_JOB_EINVAL, 0, -1, "not a JSON object"},
        {"{\"seq\":1,\"steps\":{}}", 0, WIRE_JOB_EINVAL, 1, -1, "'steps' must be an array"},
        {"{\"seq\":1,\"steps\":[3]}", 0, WIRE_JOB_EINVAL, 1, 0, "one of write, launch, read"},
        {"{\"seq\":1,\"steps\":[{\"read\":{\"buffer\":1,\"size\":1},\"write\":{}}]}", 0, WIRE_JOB_EINVAL, 1,
         0, "one of write, launch, read"},
        {"{\"seq\":1,\"steps\":[{\"read\":{\"buffer\":1}}]}", 0, WIRE_JOB_EINVAL, 1, 0, "'size' is required"},
        {"{\"seq\":1,\"steps\":[{\"read\":{\"buffer\":-1,\"size\":1}}]}", 0, WIRE_JOB_EINVAL, 1, 0,
         "'buffer' must be"},
        {"{\"seq\":1,\"steps\":[{\"read\":{\"buffer\":1,\"size\":4398046511105}}]}", 0, WIRE_JOB_EINVAL, 1, 0,
         "'size' must be"},
        {"{\"seq\":1,\"steps\":[{\"write\":{\"buffer\":1,\"size\":8}}]}", 7, WIRE_JOB_EINVAL, 1, 0,
         "needs 8 bytes"},
        {"{\"seq\":1,\"steps\":[{\"write\":{\"buffer\":1,\"size\":8}}]}", 9, WIRE_JOB_EINVAL, 1, -1,
         "after the descriptor"},
        {"{\"seq\":1,\"steps\":[{\"launch\":{\"module\":\"abc\",\"function\":\"k\"}}]}", 0, WIRE_JOB_EINVAL,
         1, 0, "SHA-256"},
        {"{\"seq\":1,\"steps\":[{\"launch\":[]}]}", 0, WIRE_JOB_EINVAL, 1, 0, "launch must be an object"},
        /* the JSON itself (the worker's parser reads all of it, as jansson did) */
        {"{\"seq\":1,\"steps\":[]} x", 0, WIRE_JOB_EINVAL, 0, -1, "bytes after the descriptor"},
        {"{\"seq\":1e2,\"steps\":[]}", 0, WIRE_JOB_EINVAL, 0, -1, "'seq' is required"},
        {"{\"seq\":99999999999999999999,\"steps\":[]}", 0, WIRE_JOB_EINVAL, 0, -1, "past 64 bits"},
        {"{\"seq\":1,\"x\":1e999,\"steps\":[]}", 0, WIRE_JOB_EINVAL, 0, -1, "past a double"},
        {"{\"seq\":1,\"x\":\"\\ud800\",\"steps\":[]}", 0, WIRE_JOB_EINVAL, 0, -1, "surrogate"},
        {"{\"seq\":1,\"x\":\"\xc3\x28\",\"steps\":[]}", 0, WIRE_JOB_EINVAL, 0, -1, "not UTF-8"},
        {"{\"seq\":1,\"x\":\"a\tb\"}", 0, WIRE_JOB_EINVAL, 0, -1, "control character"},
        {"{\"seq\":1,\"steps\":[{\"read\":{\"buffer\":1,\"size\":1,\"size\":2}}]}", 0, WIRE_JOB_EINVAL, 0, -1,
         "duplicate member"},
        {"{\"seq\":1,\"steps\":[{\"read\":{\"buffer\":1,\"size\":1}},]}", 0, WIRE_JOB_EINVAL, 0, -1,
         "a value expected"},
        {"{\"steps\":[{\"read\":{\"buffer\":\"one\",\"size\":1}}],\"seq\":6}", 0, WIRE_JOB_EINVAL, 1, 0,
         "steps[0].read: field 'buffer' must be an integer"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t seq;
        long step;
        char msg[300] = "";
        int rc = decode_text(cases[i].desc, cases[i].extra, &seq, &step, msg, sizeof msg);
        if (rc != cases[i].rc || (seq != 0) != cases[i].seq || (cases[i].seq && step != cases[i].step) ||
            !strstr(msg, cases[i].words)) {
            fprintf(stderr, "malformed case %zu (%s): rc %d seq %llu step %ld: %s\n", i, cases[i].desc, rc,
                    (unsigned long long)seq, step, msg);
            check_failures++;
        }
    }
    /* launches with bad parts (module valid) */
    const char *parts[][2] = {
        {"\"function\":\"k\",\"grid\":[1,2,3,4]", "grid must be an array"},
        {"\"function\":\"k\",\"block\":[\"1\"]", "block[0] must be an integer"},
        {"\"function\":\"k\",\"shared\":-1", "shared is -1"},
        {"\"function\":\"k\",\"args\":{}", "args must be an array"},
        {"\"function\":\"k\",\"args\":[{}]", "args[0] must be"},
        {"\"function\":\"k\",\"args\":[{\"value\":\"@@@@\"}]", "is not base64"},
        {"\"function\":\"k\",\"args\":[{\"value\":7}]", "must be a base64 string"},
        {"\"function\":\"k\",\"args\":[{\"buffer\":1,\"offset\":-2}]", "'offset' must be"},
        {"\"function\":5", "must name a kernel"},
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        char desc[400];
        snprintf(desc, sizeof desc,
                 "{\"seq\":4,\"steps\":[{\"read\":{\"buffer\":1,\"size\":1}},{\"launch\":{\"module\":\"%s\",%"
                 "s}}]}",
                 SHA, parts[i][0]);
        uint64_t seq;
        long step;
        char msg[300] = "";
        int rc = decode_text(desc, 0, &seq, &step, msg, sizeof msg);
        if (rc != WIRE_JOB_EINVAL || seq != 4 || step != 1 || !strstr(msg, parts[i][1]) ||
            !strstr(msg, "steps[1]")) {
            fprintf(stderr, "bad launch %zu (%s): rc %d seq %llu step %ld: %s\n", i, parts[i][0], rc,
                    (unsigned long long)seq, step, msg);
            check_failures++;
        }
    }
    /* framing */
    wire_job j;
    long step;
    char msg[300];
    CHECK(wire_job_decode("\1\0\0", 3, &j, &step, msg, sizeof msg) == WIRE_JOB_EINVAL && j.seq == 0);
    CHECK(wire_job_decode("\0\0\0\0{}", 6, &j, &step, msg, sizeof msg) == WIRE_JOB_EINVAL && j.seq == 0);
    CHECK(wire_job_decode("\011\0\0\0{}", 6, &j, &step, msg, sizeof msg) == WIRE_JOB_EINVAL &&
          strstr(msg, "does not fit"));
    /* whitespace anywhere, escaped names, members the schema does not know (skipped, however deep) */
    uint64_t seq0;
    const char *odd =
        " {\n\"x\": {\"a\": [1, 2.5e3, true, null, {\"b\": \"\\u00e9\"}]},\t\"se\\u0071\" : 12 ,"
        "\"steps\" : [ { \"read\" : { \"size\" : 3 , \"buffer\" : 2 , \"why\": [] } } ] } ";
    CHECK(decode_text(odd, 0, &seq0, &step, msg, sizeof msg) == 0 && seq0 == 12);
    char deep[5000];
    size_t dn = (size_t)snprintf(deep, sizeof deep, "{\"seq\":1,\"x\":");
    for (int i = 0; i < 2100; i++)
        deep[dn++] = '[';
    for (int i = 0; i < 2100; i++)
        deep[dn++] = ']';
    snprintf(deep + dn, sizeof deep - dn, "}");
    CHECK(decode_text(deep, 0, &seq0, &step, msg, sizeof msg) == WIRE_JOB_EINVAL && seq0 == 0 &&
          strstr(msg, "nested"));
    /* an empty step list is a job (the worker runs nothing); base64url values are accepted */
    uint64_t seq;
    CHECK(decode_text("{\"seq\":8,\"steps\":[]}", 0, &seq, &step, msg, sizeof msg) == 0 && seq == 8);
    char desc[300];
    snprintf(desc, sizeof desc,
             "{\"seq\":8,\"steps\":[{\"launch\":{\"module\":\"%s\",\"function\":\"k\",\"args\":[{\"value\":"
             "\"-_8\"}]}}]}",
             SHA);
    CHECK(decode_text(desc, 0, &seq, &step, msg, sizeof msg) == 0);
    /* the encoder: a launch's arguments must be complete; no argument without a launch */
    wire_job_enc e;
    wire_job_enc_init(&e);
    CHECK(wire_job_enc_arg_buffer(&e, 1, 0) == WIRE_JOB_EINVAL);
    wire_job_enc_free(&e);
    wire_job_enc_init(&e);
    CHECK(wire_job_enc_launch(&e, SHA, "k", ONE, ONE, 0, 2) == 0);
    CHECK(wire_job_enc_arg_buffer(&e, 1, 0) == 0);
    CHECK(wire_job_enc_finish(&e) == WIRE_JOB_EINVAL && strstr(e.msg, "2 arguments announced, 1 given"));
    wire_job_enc_free(&e);
    wire_job_enc_init(&e);
    CHECK(wire_job_enc_launch(&e, "ABC", "k", ONE, ONE, 0, 0) == WIRE_JOB_EINVAL && strstr(e.msg, "SHA-256"));
    wire_job_enc_free(&e);
}

static void test_result(void) {
    char out[WIRE_JOB_MAX_RESULT];
    wire_job_result r = {
        .seq = 17, .status = "ok", .error = "", .step = -1, .queued_ns = 1, .started_ns = 2, .ended_ns = 3};
    size_t n = wire_job_result_encode(&r, out, sizeof out);
    CHECK(n == strlen("{\"seq\":17,\"status\":\"ok\",\"error\":\"\",\"step\":null,\"queued_ns\":1,\"started_"
                      "ns\":2,\"ended_ns\":3}"));
    CHECK(!memcmp(out,
                  "{\"seq\":17,\"status\":\"ok\",\"error\":\"\",\"step\":null,\"queued_ns\":1,\"started_ns\":"
                  "2,\"ended_ns\":3}",
                  n));
    wire_job_result d;
    char msg[200];
    CHECK(wire_job_result_decode(out, n, &d, msg, sizeof msg) == 0);
    CHECK(d.seq == 17 && !strcmp(d.status, "ok") && !strcmp(d.error, "") && d.step == -1 &&
          d.queued_ns == 1 && d.started_ns == 2 && d.ended_ns == 3 && !d.restarting);

    /* an error with quotes, control characters, UTF-8 and a stray byte; restarting */
    r = (wire_job_result){.seq = 5,
                          .status = "cuda_error",
                          .error = "k\"\\\n\t é \xff!",
                          .step = 3,
                          .queued_ns = 10,
                          .started_ns = 20,
                          .ended_ns = 30,
                          .restarting = 1};
    n = wire_job_result_encode(&r, out, sizeof out);
    CHECK(n > 0 && wire_job_result_decode(out, n, &d, msg, sizeof msg) == 0);
    CHECK(!strcmp(d.status, "cuda_error") && !strcmp(d.error, "k\"\\\n\t é ?!") && d.step == 3 &&
          d.restarting);
    CHECK(d.instance == 0); /* not said */

    /* the worker's instance, with events after it; a non-positive or non-integer one counts as absent */
    wire_job_result ri = {.seq = 6,
                          .status = "ok",
                          .error = "",
                          .step = -1,
                          .instance = 0x7123456789abcdefll,
                          .nevents = 2,
                          .events = {5, 9}};
    n = wire_job_result_encode(&ri, out, sizeof out);
    CHECK(n > 0 && strstr(out, "\"instance\":8152436061464415727"));
    CHECK(wire_job_result_decode(out, n, &d, msg, sizeof msg) == 0 && d.instance == 0x7123456789abcdefll &&
          d.nevents == 2 && d.events[1] == 9);
    const char *neg = "{\"status\":\"ok\",\"instance\":-3}", *str = "{\"status\":\"ok\",\"instance\":\"7\"}";
    CHECK(wire_job_result_decode(neg, strlen(neg), &d, msg, sizeof msg) == 0 && d.instance == 0);
    CHECK(wire_job_result_decode(str, strlen(str), &d, msg, sizeof msg) == 0 && d.instance == 0);
    CHECK(d.output == 0 && !strstr(out, "\"output\"")); /* none pending: not on the wire */

    /* device output pending for the session: said when > 0, after the instance; anything that is
     * not a positive integer counts as none */
    ri.output = 4097;
    n = wire_job_result_encode(&ri, out, sizeof out);
    CHECK(n > 0 && strstr(out, "\"instance\":8152436061464415727,\"output\":4097,\"events\":[5,9]}"));
    CHECK(wire_job_result_decode(out, n, &d, msg, sizeof msg) == 0 && d.output == 4097 && d.nevents == 2);
    const char *outs[] = {"{\"status\":\"ok\",\"output\":-1}", "{\"status\":\"ok\",\"output\":\"12\"}",
                          "{\"status\":\"ok\",\"output\":null}", "{\"status\":\"ok\",\"output\":1.5}"};
    for (size_t i = 0; i < sizeof outs / sizeof *outs; i++)
        CHECK(wire_job_result_decode(outs[i], strlen(outs[i]), &d, msg, sizeof msg) == 0 && d.output == 0);
    const char *big = "{\"status\":\"ok\",\"output\":1048576}";
    CHECK(wire_job_result_decode(big, strlen(big), &d, msg, sizeof msg) == 0 && d.output == 1048576 &&
          d.output_stderr == 0);
    /* the driver's stderr (device assertions) on its own */
    ri.output = 0;
    ri.output_stderr = 211;
    n = wire_job_result_encode(&ri, out, sizeof out);
    CHECK(n > 0 && strstr(out, "\"instance\":8152436061464415727,\"output_stderr\":211,\"events\"") &&
          !strstr(out, "\"output\":"));
    CHECK(wire_job_result_decode(out, n, &d, msg, sizeof msg) == 0 && d.output == 0 &&
          d.output_stderr == 211);
    const char *both = "{\"output_stderr\":5,\"status\":\"ok\",\"output\":3,\"output_stderr\":-2}";
    CHECK(wire_job_result_decode(both, strlen(both), &d, msg, sizeof msg) == 0 && d.output == 3 &&
          d.output_stderr == 0); /* the last value counts */

    /* a very long error is cut to fit the result's room, and the JSON stays whole */
    static char longer[10000];
    memset(longer, 'e', sizeof longer - 1);
    r.error = longer;
    n = wire_job_result_encode(&r, out, sizeof out);
    CHECK(n > 3000 && n <= WIRE_JOB_MAX_RESULT);
    CHECK(wire_job_result_decode(out, n, &d, msg, sizeof msg) == 0 && d.step == 3 && d.ended_ns == 30);
    /* with every member at its longest and all the events, the cut error still leaves room */
    wire_job_result full = {.seq = INT64_MAX,
                            .status = "cuda_error",
                            .error = longer,
                            .step = INT32_MAX,
                            .queued_ns = INT64_MIN,
                            .started_ns = INT64_MIN,
                            .ended_ns = INT64_MIN,
                            .restarting = 1,
                            .instance = INT64_MAX,
                            .output = UINT64_MAX,
                            .output_stderr = UINT64_MAX,
                            .nevents = WIRE_JOB_MAX_EVENTS};
    for (size_t i = 0; i < WIRE_JOB_MAX_EVENTS; i++)
        full.events[i] = INT64_MIN;
    n = wire_job_result_encode(&full, out, sizeof out);
    CHECK(n > 0 && n <= WIRE_JOB_MAX_RESULT);
    CHECK(wire_job_result_decode(out, n, &d, msg, sizeof msg) == 0 && d.output == (uint64_t)INT64_MAX &&
          d.output_stderr == (uint64_t)INT64_MAX && d.nevents == WIRE_JOB_MAX_EVENTS && d.restarting &&
          d.instance == INT64_MAX);
    CHECK(wire_job_result_encode(&r, out, 40) == 0); /* no room at all */

    /* malformed results */
    CHECK(wire_job_result_decode("[]", 2, &d, msg, sizeof msg) == WIRE_JOB_EINVAL);
    CHECK(wire_job_result_decode("{\"seq\":1}", 9, &d, msg, sizeof msg) == WIRE_JOB_EINVAL &&
          strstr(msg, "status"));
    CHECK(wire_job_result_decode("{\"status\":", 10, &d, msg, sizeof msg) == WIRE_JOB_EINVAL);
    const char *odd = "{\"status\":\"not_found\",\"step\":\"x\",\"queued_ns\":-5,\"error\":7}";
    CHECK(wire_job_result_decode(odd, strlen(odd), &d, msg, sizeof msg) == 0 && d.step == -1 &&
          d.queued_ns == 0 && !strcmp(d.error, "") && !strcmp(d.status, "not_found"));
    CHECK(!strcmp(wire_job_code(WIRE_JOB_ETOOLARGE), "too_large") &&
          !strcmp(wire_job_code(WIRE_JOB_EINVAL), "invalid_request"));
}

/* The steps of the remote driver: memset, copy (1D and 2D, defaults resolved), event, launch's
 * max_dynamic_shared; their limits on both ends with the same words. */
static void test_new_steps(void) {
    wire_job_enc e;
    wire_job_enc_init(&e);
    int rc = wire_job_enc_memset(&e, 2, 8, 4, 0xdeadbeefu, 10, 0, 0);
    rc |= wire_job_enc_memset(&e, 2, 0, 2, 0x1234, 3, 16, 4);
    rc |= wire_job_enc_copy(&e, 2, 64, 5, 1, 24, 0, 0, 0);
    rc |= wire_job_enc_copy(&e, 2, 0, 5, 4, 8, 32, 12, 3);
    rc |= wire_job_enc_event(&e);
    rc |= wire_job_enc_launch(&e, SHA, "k", ONE, ONE, 0, 1);
    rc |= wire_job_enc_launch_opt(&e, 70000);
    rc |= wire_job_enc_arg_value(&e, "\1\2\3\4\5\6\7\10", 8);
    rc |= wire_job_enc_launch(&e, SHA, "z", ONE, ONE, 0, 0);
    rc |= wire_job_enc_launch_opt(&e, 0); /* 0: nothing is set, nothing is sent */
    rc |= wire_job_enc_event(&e);
    CHECK(rc == 0);
    CHECK(e.nevents == 2);
    size_t len;
    char msg[300];
    char *b = finish(&e, 9, &rc, &len, msg, sizeof msg);
    CHECK(rc == 0 && b);
    if (!b) return;
    wire_job j;
    long step;
    CHECK(wire_job_decode(b, len, &j, &step, msg, sizeof msg) == 0);
    CHECK(j.nsteps == 8 && j.nevents == 2);
    if (j.nsteps == 8) {
        wire_job_step *s = j.steps;
        CHECK(s[0].kind == 'm' && s[0].buffer == 2 && s[0].offset == 8 && s[0].width == 4 &&
              s[0].value == 0xdeadbeefu && s[0].count == 10 && s[0].pitch == 40 && s[0].height == 1);
        CHECK(s[1].kind == 'm' && s[1].width == 2 && s[1].value == 0x1234 && s[1].count == 3 &&
              s[1].pitch == 16 && s[1].height == 4);
        CHECK(s[2].kind == 'c' && s[2].buffer == 2 && s[2].offset == 64 && s[2].src_buffer == 5 &&
              s[2].src_offset == 1 && s[2].size == 24 && s[2].pitch == 24 && s[2].src_pitch == 24 &&
              s[2].height == 1);
        CHECK(s[3].kind == 'c' && s[3].pitch == 32 && s[3].src_pitch == 12 && s[3].height == 3 &&
              s[3].size == 8);
        CHECK(s[4].kind == 'e');
        CHECK(s[5].kind == 'l' && s[5].max_dynamic_shared == 70000 && s[5].nargs == 1 &&
              s[5].args[0].len == 8);
        CHECK(s[6].kind == 'l' && s[6].max_dynamic_shared == 0 && s[6].nargs == 0);
        CHECK(s[7].kind == 'e');
    }
    wire_job_free(&j);
    free(b);

    /* defaults written by hand: pitch = a row (0 too, as the encoder has it), height = 1 (0 too);
     * "value" is optional */
    uint64_t seq;
    const char *d1 = "{\"seq\":3,\"steps\":[{\"memset\":{\"buffer\":1,\"width\":2,\"count\":5,\"height\":0}},"
                     "{\"copy\":{\"buffer\":1,\"src_buffer\":2,\"size\":7,\"height\":2,\"pitch\":0}},"
                     "{\"event\":{\"x\":[1]}}]}";
    size_t bl;
    char *bb = body_of(d1, strlen(d1), 0, &bl);
    CHECK(wire_job_decode(bb, bl, &j, &step, msg, sizeof msg) == 0);
    if (j.nsteps == 3) {
        CHECK(j.steps[0].pitch == 10 && j.steps[0].height == 1 && j.steps[0].value == 0);
        CHECK(j.steps[1].pitch == 7 && j.steps[1].src_pitch == 7 && j.steps[1].height == 2);
        CHECK(j.steps[2].kind == 'e' && j.nevents == 1);
    }
    wire_job_free(&j);
    free(bb);

    /* refusals: the encoder and the decoder say the same */
    struct {
        const char *what;
        int (*enc)(wire_job_enc *);
        const char *desc;
        int rc;
        const char *needle;
    } cases[] = {
        {"width 3", NULL, "{\"seq\":1,\"steps\":[{\"memset\":{\"buffer\":1,\"width\":3,\"count\":1}}]}",
         WIRE_JOB_EINVAL, "steps[0].memset.width is 3"},
        {"pitch < row", NULL,
         "{\"seq\":1,\"steps\":[{\"memset\":{\"buffer\":1,\"width\":4,\"count\":4,\"pitch\":15,\"height\":2}}"
         "]}",
         WIRE_JOB_EINVAL, "steps[0].memset.pitch is 15"},
        {"src pitch < row", NULL,
         "{\"seq\":1,\"steps\":[{\"copy\":{\"buffer\":1,\"src_buffer\":2,\"size\":8,\"src_pitch\":4,"
         "\"height\":2}}]}",
         WIRE_JOB_EINVAL, "steps[0].copy.src_pitch is 4"},
        {"rows past the limit", NULL,
         "{\"seq\":1,\"steps\":[{\"copy\":{\"buffer\":1,\"src_buffer\":2,\"size\":8,\"pitch\":4398046511104,"
         "\"height\":2}}]}",
         WIRE_JOB_EINVAL, "WIRE_JOB_MAX_BUFFER"},
        {"copy without source", NULL, "{\"seq\":1,\"steps\":[{\"copy\":{\"buffer\":1,\"size\":8}}]}",
         WIRE_JOB_EINVAL, "steps[0].copy: field 'src_buffer' is required"},
        {"event not an object", NULL, "{\"seq\":1,\"steps\":[{\"event\":1}]}", WIRE_JOB_EINVAL,
         "steps[0].event must be an object"},
        {"two kinds", NULL, "{\"seq\":1,\"steps\":[{\"event\":{},\"memset\":{}}]}", WIRE_JOB_EINVAL,
         "one of write"},
        {"max_dynamic_shared", NULL,
         "{\"seq\":1,\"steps\":[{\"launch\":{\"module\":\""
         "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
         "\",\"function\":\"k\",\"max_dynamic_shared\":-1}}]}",
         WIRE_JOB_EINVAL, "steps[0].launch.max_dynamic_shared is -1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        msg[0] = 0;
        rc = decode_text(cases[i].desc, 0, &seq, &step, msg, sizeof msg);
        if (rc != cases[i].rc || seq != 1 || step != 0 || !strstr(msg, cases[i].needle)) {
            fprintf(stderr, "%s: decoder %d step %ld \"%s\"\n", cases[i].what, rc, step, msg);
            check_failures++;
        }
    }
    /* the encoder's words for the same faults */
    wire_job_enc_init(&e);
    CHECK(wire_job_enc_memset(&e, 1, 0, 3, 0, 1, 0, 0) == WIRE_JOB_EINVAL &&
          strstr(e.msg, "steps[0].memset.width is 3"));
    wire_job_enc_free(&e);
    wire_job_enc_init(&e);
    CHECK(wire_job_enc_memset(&e, 1, 0, 4, 0, 4, 15, 2) == WIRE_JOB_EINVAL &&
          strstr(e.msg, "steps[0].memset.pitch is 15"));
    wire_job_enc_free(&e);
    wire_job_enc_init(&e);
    CHECK(wire_job_enc_copy(&e, 1, 0, 2, 0, 8, 0, 4, 2) == WIRE_JOB_EINVAL &&
          strstr(e.msg, "steps[0].copy.src_pitch is 4"));
    wire_job_enc_free(&e);
    wire_job_enc_init(&e);
    CHECK(wire_job_enc_copy(&e, 1, 0, 2, 0, 8, 1ull << 42, 0, 2) == WIRE_JOB_EINVAL &&
          strstr(e.msg, "WIRE_JOB_MAX_BUFFER"));
    wire_job_enc_free(&e);
    wire_job_enc_init(&e);
    CHECK(wire_job_enc_launch_opt(&e, 5) == WIRE_JOB_EINVAL && strstr(e.msg, "must follow a launch"));
    wire_job_enc_free(&e);
    wire_job_enc_init(&e);
    CHECK(wire_job_enc_launch(&e, SHA, "k", ONE, ONE, 0, 1) == 0 &&
          wire_job_enc_arg_value(&e, "abcd", 4) == 0);
    CHECK(wire_job_enc_launch_opt(&e, 5) == WIRE_JOB_EINVAL); /* after its arguments: too late */
    wire_job_enc_free(&e);

    /* events: 64 per job on both ends, the 65th refused (too_large) with the same words */
    wire_job_enc_init(&e);
    rc = 0;
    for (int i = 0; i < WIRE_JOB_MAX_EVENTS && !rc; i++)
        rc = wire_job_enc_event(&e);
    CHECK(rc == 0);
    int erc = wire_job_enc_event(&e);
    char emsg[300];
    snprintf(emsg, sizeof emsg, "%s", e.msg);
    CHECK(erc == WIRE_JOB_ETOOLARGE && strstr(emsg, "steps[64].event") &&
          strstr(emsg, "WIRE_JOB_MAX_EVENTS"));
    wire_job_enc_free(&e);
    txt t = {0};
    for (int n = WIRE_JOB_MAX_EVENTS; n <= WIRE_JOB_MAX_EVENTS + 1; n++) {
        t.len = 0;
        put(&t, "{\"seq\":4,\"steps\":[");
        for (int i = 0; i < n; i++)
            put(&t, "%s{\"event\":{}}", i ? "," : "");
        put(&t, "]}");
        if (n == WIRE_JOB_MAX_EVENTS) {
            CHECK(decode_text(t.p, 0, &seq, &step, msg, sizeof msg) == 0);
        } else {
            same_refusal("65 events", erc, emsg, t.p, 0, WIRE_JOB_ETOOLARGE, 1);
            CHECK(decode_text(t.p, 0, &seq, &step, msg, sizeof msg) == WIRE_JOB_ETOOLARGE && step == 64);
        }
    }
    free(t.p);
}

/* Results carry the events' clock readings; a malformed "events" counts as absent. */
static void test_result_events(void) {
    char out[WIRE_JOB_MAX_RESULT];
    wire_job_result r = {.seq = 2, .status = "ok", .error = "", .step = -1, .nevents = WIRE_JOB_MAX_EVENTS};
    for (int i = 0; i < WIRE_JOB_MAX_EVENTS; i++)
        r.events[i] = INT64_MAX - 64 + i;
    size_t n = wire_job_result_encode(&r, out, sizeof out);
    CHECK(n > 0);
    wire_job_result d;
    char msg[200];
    CHECK(wire_job_result_decode(out, n, &d, msg, sizeof msg) == 0);
    CHECK(d.nevents == WIRE_JOB_MAX_EVENTS && !memcmp(d.events, r.events, sizeof r.events));
    /* with a long error, the events still fit (the error is cut instead) */
    static char longer[10000];
    memset(longer, 'e', sizeof longer - 1);
    r.error = longer;
    r.status = "cuda_error";
    n = wire_job_result_encode(&r, out, sizeof out);
    CHECK(n > 0 && n <= WIRE_JOB_MAX_RESULT && wire_job_result_decode(out, n, &d, msg, sizeof msg) == 0);
    CHECK(d.nevents == WIRE_JOB_MAX_EVENTS && d.events[63] == INT64_MAX - 1);
    /* no events: no member */
    r = (wire_job_result){.seq = 2, .status = "ok", .error = "", .step = -1};
    n = wire_job_result_encode(&r, out, sizeof out);
    CHECK(n > 0 && !memmem(out, n, "events", 6));
    const char *odd = "{\"status\":\"ok\",\"events\":[1,\"x\",3]}";
    CHECK(wire_job_result_decode(odd, strlen(odd), &d, msg, sizeof msg) == 0 && d.nevents == 0);
    odd = "{\"status\":\"ok\",\"events\":[5,6]}";
    CHECK(wire_job_result_decode(odd, strlen(odd), &d, msg, sizeof msg) == 0 && d.nevents == 2 &&
          d.events[1] == 6);
}

/* ---- the binary form (what liblepton sends): written by hand here, past what the encoder
 * allows, to see the decoder keep the JSON form's limits, words and fault kinds ---- */

typedef struct bin {
    char p[600000];
    size_t len;
} bin;

static void b_le(bin *b, uint64_t v, int n) {
    for (int i = 0; i < n; i++)
        b->p[b->len++] = (char)(v >> (8 * i));
}
static void b_head(bin *b, uint64_t seq, uint32_t nsteps) {
    b->len = 0;
    memcpy(b->p, WIRE_JOB_BIN_MAGIC, 4);
    b->len = 4;
    b_le(b, seq, 8);
    b_le(b, nsteps, 4);
}
/* A launch of "k" on module SHA (raw bytes 00 11 22 ...) with the given fields and no arguments
 * yet (nargs announced). */
static void b_launch(bin *b, const uint32_t grid[3], const uint32_t block[3], uint32_t shared, uint32_t mds,
                     uint16_t nargs, const char *fn) {
    b_le(b, 'l', 1);
    for (int k = 0; k < 32; k++)
        b_le(b, (uint64_t)((k % 16) * 0x11), 1);
    for (int d = 0; d < 3; d++)
        b_le(b, grid[d], 4);
    for (int d = 0; d < 3; d++)
        b_le(b, block[d], 4);
    b_le(b, shared, 4);
    b_le(b, mds, 4);
    b_le(b, nargs, 2);
    size_t fl = strlen(fn);
    b_le(b, fl, 2);
    memcpy(b->p + b->len, fn, fl);
    b->len += fl;
}

/* Decodes b (+ extra WRITE bytes): outcome, seq, step, msg. */
static int b_decode(const bin *b, size_t extra, uint64_t *seq, long *step, char *msg, size_t ms) {
    size_t len;
    char *body = body_of(b->p, b->len, extra, &len);
    wire_job j;
    int rc = wire_job_decode(body, len, &j, step, msg, ms);
    *seq = j.seq;
    CHECK(j.binary == 1);
    wire_job_free(&j);
    free(body);
    return rc;
}

static bin B;

static void test_binary(void) {
    char msg[300], emsg[300];
    uint64_t seq;
    long step;
    /* the encoder's output, decoded: every field; then every shorter prefix of it is malformed and
     * refused outright (no seq), and so is a byte more */
    wire_job_enc e;
    wire_job_enc_init(&e);
    uint32_t g[3] = {7, 0, 3}, bl[3] = {128, 2, 0};
    int rc = wire_job_enc_rw(&e, 1, 3, 8, 5);
    rc |= wire_job_enc_launch(&e, SHA, "saxpy", g, bl, 96, 2);
    rc |= wire_job_enc_launch_opt(&e, 50000);
    rc |= wire_job_enc_arg_buffer(&e, 3, 16);
    rc |= wire_job_enc_arg_value(&e, "\0\1\2", 3);
    rc |= wire_job_enc_memset(&e, 3, 0, 2, 0xabcd, 4, 0, 0);
    rc |= wire_job_enc_copy(&e, 4, 1, 3, 2, 6, 0, 0, 2);
    rc |= wire_job_enc_event(&e);
    rc |= wire_job_enc_rw(&e, 0, 4, 0, 9);
    rc |= wire_job_enc_finish(&e);
    CHECK(rc == 0 && !memcmp(e.p, WIRE_JOB_BIN_MAGIC, 4));
    wire_job_enc_seq(e.p, e.seq_at, 0x123456789aull);
    size_t dl = e.len, len;
    char *body = body_of(e.p, dl, 5, &len);
    memcpy(body + 4 + dl, "hello", 5);
    wire_job j;
    CHECK(wire_job_decode(body, len, &j, &step, msg, sizeof msg) == 0 && j.binary &&
          j.seq == 0x123456789aull);
    CHECK(j.nsteps == 6 && j.nevents == 1 && j.write_total == 5 && j.read_total == 9);
    if (j.nsteps == 6) {
        const wire_job_step *s = j.steps;
        CHECK(s[0].kind == 'w' && s[0].buffer == 3 && s[0].offset == 8 && s[0].size == 5 &&
              !memcmp(s[0].data, "hello", 5));
        CHECK(s[1].kind == 'l' && !strcmp(s[1].module, SHA) && !strcmp(s[1].function, "saxpy") &&
              s[1].grid[0] == 7 && s[1].grid[1] == 1 && s[1].grid[2] == 3 && s[1].block[0] == 128 &&
              s[1].block[1] == 2 && s[1].block[2] == 1 && s[1].shared == 96 &&
              s[1].max_dynamic_shared == 50000);
        CHECK(s[1].nargs == 2 && s[1].args[0].is_buffer && s[1].args[0].buffer == 3 &&
              s[1].args[0].offset == 16 && !s[1].args[1].is_buffer && s[1].args[1].len == 3 &&
              !memcmp(s[1].args[1].value, "\0\1\2", 3));
        CHECK(s[2].kind == 'm' && s[2].width == 2 && s[2].value == 0xabcd && s[2].count == 4 &&
              s[2].pitch == 8 && s[2].height == 1);
        CHECK(s[3].kind == 'c' && s[3].buffer == 4 && s[3].offset == 1 && s[3].src_buffer == 3 &&
              s[3].src_offset == 2 && s[3].size == 6 && s[3].pitch == 6 && s[3].src_pitch == 6 &&
              s[3].height == 2);
        CHECK(s[4].kind == 'e' && s[5].kind == 'r' && s[5].buffer == 4 && s[5].size == 9 &&
              s[5].out_off == 0);
    }
    /* its JSON form (liblepton's HTTP path) is the same job */
    lp_buf js = LP_BUF_INIT;
    CHECK(wire_job_json_of(e.p, dl, &js) == 0 && js.len > 0);
    if (js.len) {
        wire_job k;
        char *jb = body_of(js.p, js.len, 5, &len);
        memcpy(jb + 4 + js.len, "hello", 5);
        CHECK(wire_job_decode(jb, len, &k, &step, msg, sizeof msg) == 0 && !k.binary && k.seq == j.seq);
        CHECK(k.nsteps == j.nsteps && k.write_total == j.write_total && k.read_total == j.read_total);
        for (size_t i = 0; i < k.nsteps && k.nsteps == j.nsteps; i++) {
            const wire_job_step *x = &j.steps[i], *y = &k.steps[i];
            CHECK(x->kind == y->kind && x->buffer == y->buffer && x->offset == y->offset &&
                  x->size == y->size && x->width == y->width && x->value == y->value &&
                  x->count == y->count && x->pitch == y->pitch && x->height == y->height &&
                  x->src_buffer == y->src_buffer && x->src_offset == y->src_offset &&
                  x->src_pitch == y->src_pitch && x->shared == y->shared &&
                  x->max_dynamic_shared == y->max_dynamic_shared && x->nargs == y->nargs &&
                  !memcmp(x->grid, y->grid, sizeof x->grid) && !memcmp(x->block, y->block, sizeof x->block));
            if (x->kind == 'l') CHECK(!strcmp(x->module, y->module) && !strcmp(x->function, y->function));
            for (size_t a = 0; a < x->nargs && x->nargs == y->nargs; a++)
                CHECK(x->args[a].is_buffer == y->args[a].is_buffer && x->args[a].len == y->args[a].len &&
                      x->args[a].buffer == y->args[a].buffer && x->args[a].offset == y->args[a].offset &&
                      (x->args[a].is_buffer || !memcmp(x->args[a].value, y->args[a].value, x->args[a].len)));
        }
        CHECK(strstr(js.p, "\"max_dynamic_shared\":50000") && strstr(js.p, "{\"value\":\"AAEC\"}"));
        wire_job_free(&k);
        free(jb);
    }
    lp_buf_free(&js);
    CHECK(wire_job_json_of(e.p, dl - 1, &js) == WIRE_JOB_EINVAL);
    lp_buf_free(&js);
    CHECK(wire_job_json_of("{\"seq\":1}", 10, &js) == WIRE_JOB_EINVAL);
    lp_buf_free(&js);
    wire_job_free(&j);
    free(body);
    int cut_ok = 1;
    for (size_t n = 4; n < dl; n++) {
        body = body_of(e.p, n, 0, &len);
        rc = wire_job_decode(body, len, &j, &step, msg, sizeof msg);
        if (rc != WIRE_JOB_EINVAL || j.seq != 0 || !strstr(msg, "binary job descriptor is malformed")) {
            fprintf(stderr, "prefix of %zu bytes: rc %d seq %llu: %s\n", n, rc, (unsigned long long)j.seq,
                    msg);
            cut_ok = 0;
        }
        wire_job_free(&j);
        free(body);
    }
    CHECK(cut_ok);
    memcpy(B.p, e.p, dl);
    B.p[dl] = 0;
    B.len = dl + 1; /* a byte after the last step */
    CHECK(b_decode(&B, 5, &seq, &step, msg, sizeof msg) == WIRE_JOB_EINVAL && seq == 0 &&
          strstr(msg, "bytes after the last step"));
    wire_job_enc_free(&e);

    /* unknown step kind, unknown argument type: malformed */
    b_head(&B, 1, 1);
    b_le(&B, 'x', 1);
    CHECK(b_decode(&B, 0, &seq, &step, msg, sizeof msg) == WIRE_JOB_EINVAL && seq == 0 &&
          strstr(msg, "step kind"));
    b_head(&B, 1, 1);
    b_launch(&B, ONE, ONE, 0, 0, 1, "k");
    b_le(&B, 'q', 1);
    CHECK(b_decode(&B, 0, &seq, &step, msg, sizeof msg) == WIRE_JOB_EINVAL && seq == 0 &&
          strstr(msg, "argument type"));
    /* seq 0 and seq past int64: no usable seq */
    b_head(&B, 0, 0);
    CHECK(b_decode(&B, 0, &seq, &step, msg, sizeof msg) == WIRE_JOB_EINVAL && seq == 0 && strstr(msg, "seq"));
    b_head(&B, 1ull << 63, 0);
    CHECK(b_decode(&B, 0, &seq, &step, msg, sizeof msg) == WIRE_JOB_EINVAL && seq == 0);
    b_head(&B, 9, 0); /* no steps: a job */
    CHECK(b_decode(&B, 0, &seq, &step, msg, sizeof msg) == 0 && seq == 9);

    /* values out of range fail the job in its turn, at its step, in the encoder's words */
    uint32_t big[3] = {1, WIRE_JOB_MAX_DIM + 1u, 1};
    wire_job_enc_init(&e);
    CHECK(wire_job_enc_launch(&e, SHA, "k", ONE, big, 0, 0) == WIRE_JOB_EINVAL);
    snprintf(emsg, sizeof emsg, "%s", e.msg);
    wire_job_enc_free(&e);
    b_head(&B, 4, 1);
    b_launch(&B, ONE, big, 0, 0, 0, "k");
    CHECK(b_decode(&B, 0, &seq, &step, msg, sizeof msg) == WIRE_JOB_EINVAL && seq == 4 && step == 0 &&
          !strcmp(msg, emsg));
    wire_job_enc_init(&e);
    wire_job_enc_event(&e);
    CHECK(wire_job_enc_launch(&e, SHA, "k", ONE, ONE, WIRE_JOB_MAX_SHARED + 1u, 0) == WIRE_JOB_EINVAL);
    snprintf(emsg, sizeof emsg, "%s", e.msg);
    wire_job_enc_free(&e);
    b_head(&B, 4, 2);
    b_le(&B, 'e', 1);
    b_launch(&B, ONE, ONE, WIRE_JOB_MAX_SHARED + 1u, 0, 0, "k");
    CHECK(b_decode(&B, 0, &seq, &step, msg, sizeof msg) == WIRE_JOB_EINVAL && seq == 4 && step == 1 &&
          !strcmp(msg, emsg));
    /* the longest name passes, one byte more does not */
    char name[WIRE_JOB_MAX_FUNCTION + 2];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = 0;
    b_head(&B, 4, 1);
    b_launch(&B, ONE, ONE, 0, 0, 0, name);
    wire_job_enc_init(&e);
    CHECK(wire_job_enc_launch(&e, SHA, name, ONE, ONE, 0, 0) != 0);
    snprintf(emsg, sizeof emsg, "%s", e.msg);
    wire_job_enc_free(&e);
    CHECK(b_decode(&B, 0, &seq, &step, msg, sizeof msg) != 0 && seq == 4 && step == 0 && !strcmp(msg, emsg));
    name[WIRE_JOB_MAX_FUNCTION] = 0;
    b_head(&B, 4, 1);
    b_launch(&B, ONE, ONE, 0, 0, 0, name);
    CHECK(b_decode(&B, 0, &seq, &step, msg, sizeof msg) == 0 && seq == 4);
    /* a name the JSON form could not carry (a NUL byte, bytes that are not UTF-8) fails the job */
    static const char *const bad_names[] = {"sa\0xp", "k\xff"};
    for (int b = 0; b < 2; b++) {
        b_head(&B, 4, 1);
        b_launch(&B, ONE, ONE, 0, 0, 0, "xxxxx");
        memcpy(B.p + B.len - 5 + (b ? 3 : 0), bad_names[b], b ? 2 : 5);
        CHECK(b_decode(&B, 0, &seq, &step, msg, sizeof msg) == WIRE_JOB_EINVAL && seq == 4 && step == 0 &&
              strstr(msg, "steps[0].launch.function must be UTF-8 text without NUL bytes"));
    }
    /* ... and the encoder refuses such a name in the same words (lepton_submit refuses what the
     * worker would) */
    wire_job_enc_init(&e);
    CHECK(wire_job_enc_launch(&e, SHA, "xxxk\xff", ONE, ONE, 0, 0) == WIRE_JOB_EINVAL && !strcmp(e.msg, msg));
    wire_job_enc_free(&e);
    /* arguments: 257 are too many; a value of 0 or 32,765 bytes is refused, 32,764 passes */
    wire_job_enc_init(&e);
    CHECK(wire_job_enc_launch(&e, SHA, "k", ONE, ONE, 0, WIRE_JOB_MAX_ARGS + 1) == WIRE_JOB_ETOOLARGE);
    snprintf(emsg, sizeof emsg, "%s", e.msg);
    wire_job_enc_free(&e);
    b_head(&B, 4, 1);
    b_launch(&B, ONE, ONE, 0, 0, WIRE_JOB_MAX_ARGS + 1, "k");
    for (int k = 0; k <= WIRE_JOB_MAX_ARGS; k++) {
        b_le(&B, 'b', 1);
        b_le(&B, 1, 8);
        b_le(&B, 0, 8);
    }
    CHECK(b_decode(&B, 0, &seq, &step, msg, sizeof msg) == WIRE_JOB_ETOOLARGE && seq == 4 &&
          !strcmp(msg, emsg));
    static const size_t vsizes[] = {0, WIRE_JOB_MAX_VALUE + 1, WIRE_JOB_MAX_VALUE};
    for (int v = 0; v < 3; v++) {
        b_head(&B, 4, 1);
        b_launch(&B, ONE, ONE, 0, 0, 1, "k");
        b_le(&B, 'v', 1);
        b_le(&B, vsizes[v], 4);
        memset(B.p + B.len, 7, vsizes[v]);
        B.len += vsizes[v];
        rc = b_decode(&B, 0, &seq, &step, msg, sizeof msg);
        if (v == 2) {
            CHECK(rc == 0);
            continue;
        }
        wire_job_enc_init(&e);
        wire_job_enc_launch(&e, SHA, "k", ONE, ONE, 0, 1);
        int erc = wire_job_enc_arg_value(&e, B.p + B.len - vsizes[v], vsizes[v]);
        snprintf(emsg, sizeof emsg, "%s", e.msg);
        wire_job_enc_free(&e);
        CHECK(erc != 0 && rc == erc && seq == 4 && step == 0 && !strcmp(msg, emsg));
    }
    /* a buffer past INT64_MAX, an offset past WIRE_JOB_MAX_BUFFER: the field is named */
    b_head(&B, 4, 1);
    b_le(&B, 'r', 1);
    b_le(&B, 1, 8);
    b_le(&B, WIRE_JOB_MAX_BUFFER + 1, 8);
    b_le(&B, 4, 8);
    CHECK(b_decode(&B, 0, &seq, &step, msg, sizeof msg) == WIRE_JOB_EINVAL && seq == 4 && step == 0 &&
          strstr(msg, "steps[0].read: field 'offset'"));
    /* memset width 3 and a copy past its end, in the encoder's words */
    wire_job_enc_init(&e);
    CHECK(wire_job_enc_memset(&e, 1, 0, 3, 0, 4, 0, 0) == WIRE_JOB_EINVAL);
    snprintf(emsg, sizeof emsg, "%s", e.msg);
    wire_job_enc_free(&e);
    b_head(&B, 4, 1);
    b_le(&B, 'm', 1);
    b_le(&B, 1, 8);
    b_le(&B, 0, 8);
    b_le(&B, 3, 4);
    b_le(&B, 0, 4);
    b_le(&B, 4, 8);
    b_le(&B, 0, 8);
    b_le(&B, 0, 8);
    CHECK(b_decode(&B, 0, &seq, &step, msg, sizeof msg) == WIRE_JOB_EINVAL && seq == 4 && !strcmp(msg, emsg));
    wire_job_enc_init(&e);
    CHECK(wire_job_enc_copy(&e, 1, WIRE_JOB_MAX_BUFFER - 4, 2, 0, 8, 0, 0, 1) != 0);
    snprintf(emsg, sizeof emsg, "%s", e.msg);
    wire_job_enc_free(&e);
    b_head(&B, 4, 1);
    b_le(&B, 'c', 1);
    uint64_t cf[8] = {1, WIRE_JOB_MAX_BUFFER - 4, 2, 0, 8, 0, 0, 1};
    for (int k = 0; k < 8; k++)
        b_le(&B, cf[k], 8);
    CHECK(b_decode(&B, 0, &seq, &step, msg, sizeof msg) != 0 && seq == 4 && !strcmp(msg, emsg));
    /* a write whose bytes the body lacks; 65 events; 4,097 steps */
    b_head(&B, 4, 1);
    b_le(&B, 'w', 1);
    b_le(&B, 1, 8);
    b_le(&B, 0, 8);
    b_le(&B, 10, 8);
    CHECK(b_decode(&B, 9, &seq, &step, msg, sizeof msg) == WIRE_JOB_EINVAL && seq == 4 &&
          strstr(msg, "10 bytes"));
    wire_job_enc_init(&e);
    rc = 0;
    for (int k = 0; k <= WIRE_JOB_MAX_EVENTS && !rc; k++)
        rc = wire_job_enc_event(&e);
    snprintf(emsg, sizeof emsg, "%s", e.msg);
    wire_job_enc_free(&e);
    b_head(&B, 4, WIRE_JOB_MAX_EVENTS + 1);
    for (int k = 0; k <= WIRE_JOB_MAX_EVENTS; k++)
        b_le(&B, 'e', 1);
    CHECK(rc != 0 && b_decode(&B, 0, &seq, &step, msg, sizeof msg) == rc && seq == 4 && !strcmp(msg, emsg));
    b_head(&B, 4, WIRE_JOB_MAX_STEPS + 1);
    for (int k = 0; k <= WIRE_JOB_MAX_STEPS; k++)
        b_le(&B, 'r', 1), b_le(&B, 1, 8), b_le(&B, 0, 8), b_le(&B, 0, 8);
    CHECK(b_decode(&B, 0, &seq, &step, msg, sizeof msg) == WIRE_JOB_ETOOLARGE && seq == 4 && step == -1 &&
          strstr(msg, "WIRE_JOB_MAX_STEPS"));
    /* a step count past what the descriptor holds is cut short, not a huge allocation */
    b_head(&B, 4, UINT32_MAX);
    CHECK(b_decode(&B, 0, &seq, &step, msg, sizeof msg) == WIRE_JOB_EINVAL && seq == 0);
}

/* Where a binary result's status starts (its fixed part's length, wire_job.h). */
#define RES_AT 73

static void test_result_binary(void) {
    char out[WIRE_JOB_MAX_RESULT], msg[200];
    wire_job_result r = {.seq = 77,
                         .status = "cuda_error",
                         .error = "CUDA_ERROR_X: bad \xff byte \xe2\x82\xac",
                         .step = 2,
                         .queued_ns = 10,
                         .started_ns = 20,
                         .ended_ns = 30,
                         .restarting = 1,
                         .instance = 0x7123456789abcdefll,
                         .output = 4097,
                         .output_stderr = UINT64_MAX,
                         .nevents = 3,
                         .events = {5, -1, INT64_MAX},
                         .binary = 1};
    size_t n = wire_job_result_encode(&r, out, sizeof out);
    CHECK(n > 0 && !memcmp(out, WIRE_JOB_RES_MAGIC, 4));
    wire_job_result d;
    CHECK(wire_job_result_decode(out, n, &d, msg, sizeof msg) == 0 && d.binary);
    CHECK(d.seq == 77 && !strcmp(d.status, "cuda_error") && d.step == 2 && d.queued_ns == 10 &&
          d.started_ns == 20 && d.ended_ns == 30 && d.restarting && d.instance == 0x7123456789abcdefll &&
          d.output == 4097 && d.output_stderr == (uint64_t)INT64_MAX && d.nevents == 3 && d.events[0] == 5 &&
          d.events[1] == -1 && d.events[2] == INT64_MAX);
    CHECK(!strcmp(d.error, "CUDA_ERROR_X: bad ? byte \xe2\x82\xac")); /* not UTF-8 becomes '?' */
    /* the JSON form of the same result reads the same (but the error, which JSON keeps whole) */
    r.binary = 0;
    wire_job_result dj;
    size_t nj = wire_job_result_encode(&r, out, sizeof out);
    CHECK(nj > 0 && wire_job_result_decode(out, nj, &dj, msg, sizeof msg) == 0 && !dj.binary);
    CHECK(dj.seq == d.seq && dj.step == d.step && dj.ended_ns == d.ended_ns && dj.instance == d.instance &&
          dj.output_stderr == d.output_stderr && dj.nevents == d.nevents && !strcmp(dj.error, d.error));
    r.binary = 1;
    /* no step, no events, a success */
    wire_job_result ok = {.seq = 1, .status = "ok", .step = -1, .binary = 1};
    n = wire_job_result_encode(&ok, out, sizeof out);
    CHECK(n > 0 && wire_job_result_decode(out, n, &d, msg, sizeof msg) == 0 && d.step == -1 &&
          !strcmp(d.status, "ok") && !strcmp(d.error, "") && d.nevents == 0 && !d.restarting);
    /* a long error is cut to what a reader keeps, at a character (3-byte characters: 170 of them) */
    static char longer[3001];
    for (int i = 0; i < 1000; i++)
        memcpy(longer + 3 * i, "\xe2\x82\xac", 3);
    r.error = longer;
    n = wire_job_result_encode(&r, out, sizeof out);
    CHECK(n > 0 && wire_job_result_decode(out, n, &d, msg, sizeof msg) == 0 && strlen(d.error) == 510 &&
          d.nevents == 3);
    CHECK(wire_job_result_encode(&r, out, 40) == 0); /* no room at all */
    n = wire_job_result_encode(&r, out, 120);        /* 13 bytes of room: 4 characters */
    CHECK(n == 120 - 1 && wire_job_result_decode(out, n, &d, msg, sizeof msg) == 0 && strlen(d.error) == 12);
    /* malformed: cut short, lengths that do not add up, a status too long or empty */
    n = wire_job_result_encode(&ok, out, sizeof out);
    CHECK(wire_job_result_decode(out, 20, &d, msg, sizeof msg) == WIRE_JOB_EINVAL);
    CHECK(wire_job_result_decode(out, n - 1, &d, msg, sizeof msg) == WIRE_JOB_EINVAL &&
          strstr(msg, "add up"));
    out[69] = (char)(WIRE_JOB_MAX_EVENTS + 1);
    CHECK(wire_job_result_decode(out, n, &d, msg, sizeof msg) == WIRE_JOB_EINVAL);
    static char st[49];
    memset(st, 's', 48);
    wire_job_result lst = {.seq = 1, .status = st, .step = -1, .binary = 1};
    n = wire_job_result_encode(&lst, out, sizeof out);
    CHECK(n > 0 && wire_job_result_decode(out, n, &d, msg, sizeof msg) == WIRE_JOB_EINVAL &&
          strstr(msg, "status"));
    lst.status = "";
    n = wire_job_result_encode(&lst, out, sizeof out);
    CHECK(n > 0 && wire_job_result_decode(out, n, &d, msg, sizeof msg) == WIRE_JOB_EINVAL);
    /* a status with a NUL byte or bytes that are not UTF-8 is not usable; such bytes of an error
     * read as '?' (what the JSON form would carry) */
    lst.status = "okay";
    lst.error = "abcdef";
    n = wire_job_result_encode(&lst, out, sizeof out);
    out[RES_AT + 1] = 0; /* "o\0ay" */
    CHECK(n > 0 && wire_job_result_decode(out, n, &d, msg, sizeof msg) == WIRE_JOB_EINVAL &&
          strstr(msg, "status"));
    out[RES_AT + 1] = (char)0xff;
    CHECK(wire_job_result_decode(out, n, &d, msg, sizeof msg) == WIRE_JOB_EINVAL);
    out[RES_AT + 1] = 'k';
    out[RES_AT + 4 + 1] = 0;
    out[RES_AT + 4 + 3] = (char)0xc3;
    CHECK(wire_job_result_decode(out, n, &d, msg, sizeof msg) == 0 && !strcmp(d.status, "okay") &&
          !strcmp(d.error, "a?c?ef"));
}

/* The JSON form's size: within WIRE_JOB_JSON_GROWTH times the binary one (+ WIRE_JOB_JSON_EXTRA
 * for the event steps) on the worst case of every step kind — the bound that lets the encoder skip
 * measuring the JSON form of every common job. */
static size_t json_len_of(const bin *b) {
    lp_buf js = LP_BUF_INIT;
    int rc = wire_job_json_of(b->p, b->len, &js);
    CHECK_EQ_INT(rc, 0);
    size_t n = rc ? 0 : js.len;
    lp_buf_free(&js);
    return n;
}

static void test_json_growth(void) {
    const uint64_t M = UINT64_MAX;
    const uint32_t G[3] = {UINT32_MAX, UINT32_MAX, UINT32_MAX};
    char name[WIRE_JOB_MAX_FUNCTION + 1];
    memset(name, 1, WIRE_JOB_MAX_FUNCTION); /* a control character: 6 bytes as JSON */
    name[WIRE_JOB_MAX_FUNCTION] = 0;
    const char kinds[] = "wrmcl";
    for (const char *k = kinds; *k; k++) {
        b_head(&B, M, 8);
        for (int i = 0; i < 8; i++) {
            if (*k == 'l') {
                b_launch(&B, G, G, UINT32_MAX, UINT32_MAX, 256, name);
                for (int a = 0; a < 256; a++) {
                    b_le(&B, a % 2 ? 'b' : 'v', 1);
                    if (a % 2) {
                        b_le(&B, M, 8);
                        b_le(&B, M, 8);
                    } else {
                        b_le(&B, 1, 4);
                        b_le(&B, 0xff, 1);
                    }
                }
            } else {
                b_le(&B, (uint64_t)*k, 1);
                int n = *k == 'm' ? 6 : *k == 'c' ? 8 : 3;
                for (int f = 0; f < n; f++)
                    b_le(&B, M, 8);
            }
        }
        size_t jn = json_len_of(&B);
        if (jn > WIRE_JOB_JSON_GROWTH * B.len)
            fprintf(stderr, "step kind %c: %zu bytes as JSON, %zu binary\n", *k, jn, B.len);
        CHECK(jn > 2 * B.len && jn <= WIRE_JOB_JSON_GROWTH * B.len);
    }
    b_head(&B, M, WIRE_JOB_MAX_EVENTS);
    for (int i = 0; i < WIRE_JOB_MAX_EVENTS; i++)
        b_le(&B, 'e', 1);
    size_t jn = json_len_of(&B);
    CHECK(jn > WIRE_JOB_JSON_GROWTH * B.len && jn <= WIRE_JOB_JSON_GROWTH * B.len + WIRE_JOB_JSON_EXTRA);

    /* so the encoder measures the JSON form of a large job: 95 maximal values fit it, 96 do not
     * (the binary form would hold ~127); the refusal reads as the worker's for that JSON form */
    for (int n = 95; n <= 96; n++) {
        wire_job_enc e;
        wire_job_enc_init(&e);
        int rc = 0;
        for (int i = 0; i < n && !rc; i++)
            rc = enc_launch(&e, "k", 1, WIRE_JOB_MAX_VALUE, ONE, 0);
        CHECK_EQ_INT(rc, 0);
        CHECK(e.len < WIRE_JOB_MAX_DESCRIPTOR);
        rc = wire_job_enc_finish(&e); /* (it writes the step count, refused or not) */
        wire_job_enc_seq(e.p, e.seq_at, 7);
        lp_buf js = LP_BUF_INIT;
        CHECK(wire_job_json_of(e.p, e.len, &js) == 0);
        size_t len;
        char *jb = body_of(js.p, js.len, 0, &len), msg[512];
        wire_job j;
        long step;
        int drc = wire_job_decode(jb, len, &j, &step, msg, sizeof msg);
        if (n == 95) {
            CHECK(rc == 0 && drc == 0 && js.len <= WIRE_JOB_MAX_DESCRIPTOR && j.nsteps == 95);
        } else {
            CHECK(rc == WIRE_JOB_ETOOLARGE && drc == WIRE_JOB_ETOOLARGE && js.len > WIRE_JOB_MAX_DESCRIPTOR);
            CHECK(!strcmp(e.msg, msg) && strstr(msg, "WIRE_JOB_MAX_DESCRIPTOR"));
        }
        wire_job_free(&j);
        free(jb);
        lp_buf_free(&js);
        wire_job_enc_free(&e);
    }
}

int main(void) {
    test_round_trip();
    test_limit_steps();
    test_limits_launch();
    test_limits_sizes();
    test_malformed();
    test_result();
    test_new_steps();
    test_result_events();
    test_binary();
    test_result_binary();
    test_json_growth();
    return check_done("unit.common.wire_job");
}
