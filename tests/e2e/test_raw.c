/* test_raw.c — end to end through liblepton's internal interface of the remote driver (lc_raw.h):
 * a real lepton-broker, one leptond with one GPU (the CPU driver by default) and its lepton-worker.
 * Cases (one per run, `test_raw CASE`):
 *   facts   — GPU facts (name, uuid, compute capability, device attributes), memory, and the
 *             kernels' parameter offsets and attributes from the module answer;
 *   steps   — one job with write, memset (1D and 2D), copy (1D and 2D), a launch whose by-value
 *             argument is a raw device address (base + offset), and events; the bytes are
 *             compared with a host model of the steps and the events must increase;
 *   globals — a module global (`.global .u32 g`) as a borrowed buffer: written, read by a kernel,
 *             read back; the same id twice; a name with `$` (percent-encoded); a missing one;
 *             freeing the handle leaves the module;
 *   errors  — memset and copy past a buffer fail the job (invalid_request, naming the step), a
 *             CUDA refusal's text starts with the driver's error name, 65 events are refused when
 *             encoded. */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent_harness.h"
#include "lc_raw.h"
#include "lepton/lepton.h"
#include "sha256.h"
#include "wire_job.h"

#define SKIP 77

static h_broker B;
static a_agent A;
static char T_TEN[128], T_NODE[128];

/* `inc(p, n)`: the u32 words p[0..n) += 1 (p is a plain device address, passed by value);
 * `read_g(out)`: out[0] = 3 * g, g a module global. */
static const char PTX[] = ".version 7.0\n"
                          ".target sm_70\n"
                          ".address_size 64\n"
                          "\n"
                          ".global .align 4 .u32 g;\n"
                          ".global .align 8 .u64 g$2[4];\n"
                          "\n"
                          ".visible .entry inc(\n"
                          "    .param .u64 p,\n"
                          "    .param .u32 n\n"
                          ")\n"
                          "{\n"
                          "    .reg .pred %p<2>;\n"
                          "    .reg .b32 %r<6>;\n"
                          "    .reg .b64 %rd<5>;\n"
                          "    ld.param.u64 %rd1, [p];\n"
                          "    ld.param.u32 %r1, [n];\n"
                          "    mov.u32 %r2, %tid.x;\n"
                          "    setp.ge.u32 %p1, %r2, %r1;\n"
                          "    @%p1 bra DONE;\n"
                          "    cvta.to.global.u64 %rd2, %rd1;\n"
                          "    mul.wide.u32 %rd3, %r2, 4;\n"
                          "    add.s64 %rd4, %rd2, %rd3;\n"
                          "    ld.global.u32 %r3, [%rd4];\n"
                          "    add.s32 %r4, %r3, 1;\n"
                          "    st.global.u32 [%rd4], %r4;\n"
                          "DONE:\n"
                          "    ret;\n"
                          "}\n"
                          "\n"
                          ".visible .entry read_g(\n"
                          "    .param .u64 out\n"
                          ")\n"
                          "{\n"
                          "    .reg .b32 %r<3>;\n"
                          "    .reg .b64 %rd<3>;\n"
                          "    ld.param.u64 %rd1, [out];\n"
                          "    cvta.to.global.u64 %rd2, %rd1;\n"
                          "    ld.global.u32 %r1, [g];\n"
                          "    mul.lo.u32 %r2, %r1, 3;\n"
                          "    st.global.u32 [%rd2], %r2;\n"
                          "    ret;\n"
                          "}\n";

static lepton_client *C;
static lepton_lease *L;
static lepton_module *M;
static char SHA[65]; /* the module's id: its image's SHA-256 */

static int open_all(void) {
    lepton_client_options o = LEPTON_CLIENT_OPTIONS_INIT;
    o.endpoint = B.url;
    o.token = T_TEN;
    o.timeout_ms = 10000;
    CHECK_RC(lepton_client_open(&C, &o), LEPTON_OK);
    if (!C) return -1;
    lepton_lease_request r = LEPTON_LEASE_REQUEST_INIT;
    r.gpu_count = 1;
    r.ttl_seconds = 600;
    r.wait_ms = 5000;
    CHECK_RC(lepton_lease_open(C, &r, &L), LEPTON_OK);
    if (!L) return -1;
    CHECK_RC(lepton_module_load(L, PTX, sizeof PTX - 1, &M), LEPTON_OK);
    lp_sha256_hex(PTX, sizeof PTX - 1, SHA);
    return M ? 0 : -1;
}

static void close_all(void) {
    lepton_module_free(M);
    if (L) CHECK_RC(lepton_lease_close(L), LEPTON_OK);
    lepton_client_close(C);
}

static lepton_buffer *alloc(size_t size) {
    lepton_buffer *b = NULL;
    CHECK_RC(lepton_buffer_alloc(L, 0, size, &b), LEPTON_OK);
    return b;
}

static const lc_raw_function *function(const char *name) {
    size_t n = 0;
    const lc_raw_function *f = lc_raw_module_functions(M, &n);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(f[i].name, name)) return &f[i];
    return NULL;
}

/* Submits e (finished here) and waits: lepton_wait's status; the task in *out when out. */
static int run(wire_job_enc *e, const lc_raw_seg *w, uint32_t nw, const lc_raw_seg *r, uint32_t nr,
               lepton_task **out) {
    int rc = wire_job_enc_finish(e);
    if (rc) {
        fprintf(stderr, "encoding refused: %s\n", e->msg);
        wire_job_enc_free(e);
        return LEPTON_EINVAL;
    }
    lepton_task *t = NULL;
    rc = lc_raw_submit(L, 0, e, w, nw, r, nr, &t);
    if (rc) return rc;
    rc = lepton_wait(t, 20000);
    if (out)
        *out = t;
    else
        lepton_task_free(t);
    return rc;
}

/* ---- facts ---- */
static void case_facts(void) {
    const lc_gpu_facts *f = NULL, *again = NULL;
    CHECK_RC(lc_raw_gpu_facts(L, 0, &f), LEPTON_OK);
    if (!f) return;
    CHECK(f->name[0] != 0);
    CHECK(!strncmp(f->uuid, "GPU-", 4) && strlen(f->uuid) == 40);
    char hex[3];
    snprintf(hex, sizeof hex, "%02x", f->uuid_bytes[0]);
    CHECK(!strncmp(f->uuid + 4, hex, 2)); /* the bytes are the uuid's */
    snprintf(hex, sizeof hex, "%02x", f->uuid_bytes[15]);
    CHECK(!strcmp(f->uuid + 38, hex));
    CHECK(f->memory_total > 0);
    CHECK(f->driver_version > 0);
    CHECK(f->attrs[0] == LC_RAW_ATTR_UNKNOWN);
    CHECK_EQ_INT(f->attrs[1], 1024); /* CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK */
    CHECK_EQ_INT(f->attrs[10], 32);  /* CU_DEVICE_ATTRIBUTE_WARP_SIZE */
    CHECK_EQ_INT(f->attrs[75], f->cc_major);
    CHECK_EQ_INT(f->attrs[76], f->cc_minor);
    if (a_is_emulator()) {
        CHECK_EQ_INT(f->cc_major, 9);
        CHECK_EQ_INT(f->cc_minor, 0);
        CHECK_EQ_INT(f->attrs[16], 132); /* CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT */
    } else {
        CHECK(f->cc_major >= 5 && f->attrs[16] > 0);
    }
    CHECK(f->attrs[255] == LC_RAW_ATTR_UNKNOWN);
    CHECK_RC(lc_raw_gpu_facts(L, 0, &again), LEPTON_OK);
    CHECK(again == f); /* cached: no second round trip */
    CHECK_RC(lc_raw_gpu_facts(L, 1, &again), LEPTON_EINVAL);

    uint64_t fr = 0, total = 0;
    CHECK_RC(lc_raw_mem_info(L, 0, &fr, &total), LEPTON_OK);
    CHECK(total == f->memory_total && fr > 0 && fr <= total);
    lepton_buffer *b = alloc(1 << 20);
    uint64_t fr2 = 0;
    CHECK_RC(lc_raw_mem_info(L, 0, &fr2, &total), LEPTON_OK);
    CHECK(fr2 < fr); /* not cached: the allocation shows */
    lepton_buffer_free(b);

    const lc_raw_function *inc = function("inc"), *rg = function("read_g");
    CHECK(inc && rg);
    if (!inc || !rg) return;
    CHECK_EQ_INT(inc->nparams, 2);
    if (inc->nparams == 2) {
        CHECK_EQ_INT(inc->offsets[0], 0);
        CHECK_EQ_INT(inc->sizes[0], 8);
        CHECK_EQ_INT(inc->offsets[1], 8);
        CHECK_EQ_INT(inc->sizes[1], 4);
    }
    CHECK(inc->attrs[0] > 0 && inc->attrs[0] <= 1024); /* CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK */
    CHECK(inc->attrs[4] != LC_RAW_ATTR_UNKNOWN && inc->attrs[4] >= 0); /* NUM_REGS */
    CHECK(inc->attrs[1] == 0);                                         /* SHARED_SIZE_BYTES */
    CHECK_EQ_INT(rg->nparams, 1);
}

/* ---- steps ---- */
static void case_steps(void) {
    enum { N = 256 };
    lepton_buffer *a = alloc(N), *b = alloc(N);
    if (!a || !b) return;
    uint64_t aa = lc_raw_buffer_address(a), ba = lc_raw_buffer_address(b);
    CHECK(aa != 0 && ba != 0 && aa != ba);
    CHECK(aa + N <= ba || ba + N <= aa);
    CHECK(lc_raw_buffer_id(a) != lc_raw_buffer_id(b));

    unsigned char wa[N], wb[N], ea[N], eb[N], ra[N], rb[N];
    for (int i = 0; i < N; i++)
        wa[i] = (unsigned char)(i * 7 + 1), wb[i] = (unsigned char)(255 - i);
    memcpy(ea, wa, N);
    memcpy(eb, wb, N);
    uint64_t ia = lc_raw_buffer_id(a), ib = lc_raw_buffer_id(b);
    /* memset 1D: 8 u32 of A from byte 64 */
    for (int i = 0; i < 8; i++) {
        uint32_t v = 0x11223344u;
        memcpy(ea + 64 + 4 * i, &v, 4);
    }
    /* memset 2D: 3 rows of 5 bytes 16 apart in B; then u16 rows 2 x 3, pitch 10, from 100 */
    for (int r = 0; r < 3; r++)
        memset(eb + 16 * r, 0xab, 5);
    for (int r = 0; r < 2; r++)
        for (int k = 0; k < 3; k++) {
            uint16_t v = 0xbeef;
            memcpy(eb + 100 + 10 * r + 2 * k, &v, 2);
        }
    /* copy 1D: A[0..32) to B[128..160) (after the memsets: it copies their result) */
    memcpy(eb + 128, ea, 32);
    /* copy 2D: 3 rows of 4 bytes from A at 100 + 8r to B at 200 + 12r */
    for (int r = 0; r < 3; r++)
        memcpy(eb + 200 + 12 * r, ea + 100 + 8 * r, 4);
    /* a launch on A's address + 16: its words 4..11 are incremented */
    uint64_t p = aa + 16;
    uint32_t n = 8;
    uint32_t one[3] = {1, 1, 1}, block[3] = {32, 1, 1};
    wire_job_enc e;
    wire_job_enc_init(&e);
    int rc = wire_job_enc_rw(&e, 1, ia, 0, N);
    rc |= wire_job_enc_rw(&e, 1, ib, 0, N);
    rc |= wire_job_enc_memset(&e, ia, 64, 4, 0x11223344u, 8, 0, 0);
    rc |= wire_job_enc_memset(&e, ib, 0, 1, 0xab, 5, 16, 3);
    rc |= wire_job_enc_memset(&e, ib, 100, 2, 0xbeef, 3, 10, 2);
    rc |= wire_job_enc_event(&e);
    rc |= wire_job_enc_copy(&e, ib, 128, ia, 0, 32, 0, 0, 0);
    rc |= wire_job_enc_copy(&e, ib, 200, ia, 100, 4, 12, 8, 3);
    rc |= wire_job_enc_launch(&e, SHA, "inc", one, block, 0, 2);
    rc |= wire_job_enc_launch_opt(&e, 1024);
    rc |= wire_job_enc_arg_value(&e, &p, 8);
    rc |= wire_job_enc_arg_value(&e, &n, 4);
    for (int i = 0; i < 8; i++) {
        uint32_t v;
        memcpy(&v, ea + 16 + 4 * i, 4);
        v++;
        memcpy(ea + 16 + 4 * i, &v, 4);
    }
    rc |= wire_job_enc_event(&e);
    rc |= wire_job_enc_rw(&e, 0, ia, 0, N);
    rc |= wire_job_enc_rw(&e, 0, ib, 0, N);
    rc |= wire_job_enc_event(&e);
    CHECK(rc == 0);
    lc_raw_seg w[2] = {{wa, N}, {wb, N}}, r[2] = {{ra, N}, {rb, N}};
    lepton_task *t = NULL;
    CHECK_RC(run(&e, w, 2, r, 2, &t), LEPTON_OK);
    if (!t) return;
    CHECK(!memcmp(ra, ea, N));
    CHECK(!memcmp(rb, eb, N));
    for (int i = 0; i < N; i++)
        if (ra[i] != ea[i] || rb[i] != eb[i]) {
            fprintf(stderr, "byte %d: A %02x (want %02x), B %02x (want %02x)\n", i, ra[i], ea[i], rb[i],
                    eb[i]);
            break;
        }
    int64_t ev[8] = {0};
    CHECK_EQ_INT(lc_raw_task_events(t, ev, 8), 3);
    CHECK(ev[0] > 0 && ev[0] < ev[1] && ev[1] < ev[2]);
    int64_t one_ev = 0;
    CHECK_EQ_INT(lc_raw_task_events(t, &one_ev, 1), 3); /* at most n copied, the count told */
    CHECK(one_ev == ev[0]);
    CHECK_EQ_INT(lc_raw_task_step(t), -1);
    const lc_gpu_facts *facts = NULL; /* the job ran on the worker the facts came from */
    CHECK_RC(lc_raw_gpu_facts(L, 0, &facts), LEPTON_OK);
    CHECK(facts && facts->instance > 0 && lc_raw_task_instance(t) == facts->instance);
    lepton_task_info ti = LEPTON_TASK_INFO_INIT;
    CHECK_RC(lepton_task_get_info(t, &ti), LEPTON_OK);
    CHECK(ti.ended_ns >= ev[2]); /* the worker's clock: the job ended after its last event */
    lepton_task_free(t);

    /* the public API still works beside it, on the same buffers */
    unsigned char back[N];
    CHECK_RC(lepton_buffer_read(b, 0, back, N), LEPTON_OK);
    CHECK(!memcmp(back, eb, N));
    lepton_buffer_free(a);
    lepton_buffer_free(b);
}

/* ---- globals ---- */
static void case_globals(void) {
    lepton_buffer *g = NULL, *g2 = NULL, *out = alloc(64);
    CHECK_RC(lc_raw_module_global(M, 0, "g", &g), LEPTON_OK);
    if (!g || !out) return;
    CHECK(lc_raw_buffer_address(g) != 0);
    CHECK_RC(lc_raw_module_global(M, 0, "g", &g2), LEPTON_OK);
    CHECK(g2 && lc_raw_buffer_id(g2) == lc_raw_buffer_id(g) &&
          lc_raw_buffer_address(g2) == lc_raw_buffer_address(g));
    /* a name the path must percent-encode; another variable, its own size */
    lepton_buffer *g3 = NULL;
    CHECK_RC(lc_raw_module_global(M, 0, "g$2", &g3), LEPTON_OK);
    if (g3) {
        CHECK(lc_raw_buffer_id(g3) != lc_raw_buffer_id(g) &&
              lc_raw_buffer_address(g3) != lc_raw_buffer_address(g));
        uint64_t w4[4] = {1, 2, 3, 4}, r4[4] = {0};
        CHECK_RC(lepton_buffer_write(g3, 0, w4, sizeof w4), LEPTON_OK);
        CHECK_RC(lepton_buffer_read(g3, 0, r4, sizeof r4), LEPTON_OK);
        CHECK(!memcmp(w4, r4, sizeof w4));
        lepton_buffer_free(g3);
    }
    lepton_buffer *none = NULL;
    CHECK_RC(lc_raw_module_global(M, 0, "no_such_global", &none), LEPTON_ENOTFOUND);
    CHECK(none == NULL && strstr(lepton_last_error(), "no_such_global"));

    /* write g (as a buffer), a kernel reads it, read it back through both APIs */
    uint32_t seven = 7, got = 0, tripled = 0;
    uint64_t dst = lc_raw_buffer_address(out) + 8;
    uint32_t one[3] = {1, 1, 1};
    wire_job_enc e;
    wire_job_enc_init(&e);
    int rc = wire_job_enc_rw(&e, 1, lc_raw_buffer_id(g), 0, 4);
    rc |= wire_job_enc_launch(&e, SHA, "read_g", one, one, 0, 1);
    rc |= wire_job_enc_arg_value(&e, &dst, 8);
    rc |= wire_job_enc_rw(&e, 0, lc_raw_buffer_id(out), 8, 4);
    rc |= wire_job_enc_rw(&e, 0, lc_raw_buffer_id(g), 0, 4);
    CHECK(rc == 0);
    lc_raw_seg w = {&seven, 4}, r[2] = {{&tripled, 4}, {&got, 4}};
    CHECK_RC(run(&e, &w, 1, r, 2, NULL), LEPTON_OK);
    CHECK_EQ_INT(tripled, 21);
    CHECK_EQ_INT(got, 7);
    uint32_t pub = 0;
    CHECK_RC(lepton_buffer_read(g, 0, &pub, 4), LEPTON_OK);
    CHECK_EQ_INT(pub, 7);
    /* a global's size is the variable's: past it is refused */
    CHECK_RC(lepton_buffer_read(g, 0, &pub, 8), LEPTON_EINVAL);

    /* freeing a handle drops the worker's entry, never the variable: the module still runs and
     * g keeps its value; a new handle gets a new id */
    uint64_t old = lc_raw_buffer_id(g);
    lepton_buffer_free(g);
    lepton_buffer_free(g2);
    CHECK_RC(lc_raw_module_global(M, 0, "g", &g), LEPTON_OK);
    CHECK(g && lc_raw_buffer_id(g) != old);
    wire_job_enc_init(&e);
    rc = wire_job_enc_rw(&e, 0, old, 0, 4);
    CHECK(rc == 0);
    lc_raw_seg r1 = {&got, 4};
    CHECK_RC(run(&e, NULL, 0, &r1, 1, NULL), LEPTON_ENOTFOUND); /* the dropped id */
    got = 0;
    CHECK_RC(lepton_buffer_read(g, 0, &got, 4), LEPTON_OK);
    CHECK_EQ_INT(got, 7);
    lepton_buffer_free(g);
    lepton_buffer_free(out);
}

/* ---- errors ---- */
static void case_errors(void) {
    lepton_buffer *b = alloc(256);
    if (!b) return;
    uint64_t ib = lc_raw_buffer_id(b);
    lepton_task *t = NULL;

    /* memset: the last row ends past the buffer */
    wire_job_enc e;
    wire_job_enc_init(&e);
    CHECK(wire_job_enc_event(&e) == 0);
    CHECK(wire_job_enc_memset(&e, ib, 200, 4, 0, 4, 20, 3) == 0); /* 200 + 40 + 16 = 256: fits */
    CHECK(wire_job_enc_memset(&e, ib, 200, 4, 0, 4, 24, 3) == 0); /* 200 + 48 + 16 = 264: does not */
    CHECK_RC(run(&e, NULL, 0, NULL, 0, &t), LEPTON_EINVAL);
    if (t) {
        CHECK_EQ_INT(lc_raw_task_step(t), 2);
        lepton_task_info ti = LEPTON_TASK_INFO_INIT;
        CHECK_RC(lepton_task_get_info(t, &ti), LEPTON_OK);
        CHECK(strstr(ti.error, "memset step 2") && strstr(ti.error, "overrun buffer"));
        CHECK(lc_raw_task_events(t, NULL, 0) == 0); /* a failed job reports no events */
        lepton_task_free(t);
    }
    /* copy: the source's rows end past it */
    wire_job_enc_init(&e);
    CHECK(wire_job_enc_copy(&e, ib, 0, ib, 250, 4, 0, 8, 1) == 0); /* 250 + 4: fits */
    CHECK(wire_job_enc_copy(&e, ib, 0, ib, 240, 4, 0, 8, 3) == 0); /* 240 + 16 + 4 = 260: does not */
    CHECK_RC(run(&e, NULL, 0, NULL, 0, &t), LEPTON_EINVAL);
    if (t) {
        CHECK_EQ_INT(lc_raw_task_step(t), 1);
        CHECK(strstr(lepton_last_error(), "copy step 1 (source)"));
        lepton_task_free(t);
    }
    /* a CUDA refusal: the dynamic shared memory limit past what the GPU has; the text starts
     * with the driver's error name */
    uint32_t one[3] = {1, 1, 1};
    uint64_t p = lc_raw_buffer_address(b);
    uint32_t n = 1;
    wire_job_enc_init(&e);
    int rc = wire_job_enc_launch(&e, SHA, "inc", one, one, 0, 2);
    rc |= wire_job_enc_launch_opt(&e, 64u << 20);
    rc |= wire_job_enc_arg_value(&e, &p, 8);
    rc |= wire_job_enc_arg_value(&e, &n, 4);
    CHECK(rc == 0);
    CHECK_RC(run(&e, NULL, 0, NULL, 0, &t), LEPTON_ECUDA);
    if (t) {
        lepton_task_info ti = LEPTON_TASK_INFO_INIT;
        CHECK_RC(lepton_task_get_info(t, &ti), LEPTON_OK);
        static const char want[] = "CUDA_ERROR_INVALID_VALUE: launch step 0: ";
        if (strncmp(ti.error, want, sizeof want - 1)) fprintf(stderr, "error text: %s\n", ti.error);
        CHECK(!strncmp(ti.error, want, sizeof want - 1));
        CHECK_EQ_INT(lc_raw_task_step(t), 0);
        lepton_task_free(t);
    }
    /* 65 events: the encoder refuses the 65th (too_large) */
    wire_job_enc_init(&e);
    rc = 0;
    for (int i = 0; i < WIRE_JOB_MAX_EVENTS && !rc; i++)
        rc = wire_job_enc_event(&e);
    CHECK(rc == 0);
    CHECK(wire_job_enc_event(&e) == WIRE_JOB_ETOOLARGE && strstr(e.msg, "WIRE_JOB_MAX_EVENTS"));
    wire_job_enc_free(&e);
    /* 64 run, and report 64 increasing readings */
    wire_job_enc_init(&e);
    for (int i = 0; i < WIRE_JOB_MAX_EVENTS; i++)
        CHECK(wire_job_enc_event(&e) == 0);
    CHECK_RC(run(&e, NULL, 0, NULL, 0, &t), LEPTON_OK);
    if (t) {
        int64_t ev[WIRE_JOB_MAX_EVENTS];
        CHECK_EQ_INT(lc_raw_task_events(t, ev, WIRE_JOB_MAX_EVENTS), WIRE_JOB_MAX_EVENTS);
        for (int i = 1; i < WIRE_JOB_MAX_EVENTS; i++)
            CHECK(ev[i] >= ev[i - 1]);
        lepton_task_free(t);
    }
    /* an unfinished encoder and segments that do not match the job are refused, the encoder freed */
    wire_job_enc_init(&e);
    CHECK(wire_job_enc_rw(&e, 1, ib, 0, 4) == 0);
    CHECK_RC(lc_raw_submit(L, 0, &e, NULL, 0, NULL, 0, &t), LEPTON_EINVAL);
    wire_job_enc_init(&e);
    CHECK(wire_job_enc_rw(&e, 1, ib, 0, 4) == 0 && wire_job_enc_finish(&e) == 0);
    uint32_t four = 4;
    lc_raw_seg w = {&four, 2};
    CHECK_RC(lc_raw_submit(L, 0, &e, &w, 1, NULL, 0, &t), LEPTON_EINVAL);
    CHECK(strstr(lepton_last_error(), "2 bytes"));
    lepton_buffer_free(b);
}

static const check_case CASES[] = {
    {"facts", case_facts}, {"steps", case_steps}, {"globals", case_globals}, {"errors", case_errors}};

static int setup(void) {
    if (h_broker_start(&B, NULL) != 0 || h_token(&B, "acme", 0, T_TEN, sizeof T_TEN) ||
        h_token(&B, "fleet", 1, T_NODE, sizeof T_NODE) || a_agent_start(&A, &B, T_NODE, "n1", 1, 1.0) != 0)
        return -1;
    return open_all();
}

static void teardown(void) {
    close_all();
    a_agent_cleanup(&A);
    a_finish(&B);
}

int main(int argc, char **argv) {
    return check_main(argc, argv, CASES, sizeof CASES / sizeof CASES[0], setup, teardown);
}
