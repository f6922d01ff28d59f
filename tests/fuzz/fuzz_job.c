/* fuzz_job.c — the job contract's decoder (wire_job_decode, what the lease worker runs on a
 * POST /v1/jobs body: u32 LE n, n bytes of descriptor, JSON or binary, the write steps' bytes).
 * Checked:
 *  - against the jansson decoder it replaced (job_ref.c), on every input whose descriptor jansson
 *    reads without duplicate members: both accept the same jobs, decoded the same, and of those
 *    they refuse, both do so outright (no seq) or both in the job's turn;
 *  - what it accepts survives the client's encoder: re-encoded (wire_job_enc_*, the binary form,
 *    the limits checked again) and decoded once more, it is the same job. A binary input (the
 *    corpus has some) is checked by that alone. */
#include <jansson.h>
#include <stdio.h>

#include "buf.h"
#include "fuzz.h"
#include "job_ref.h"
#include "wire_job.h"

static void same_job(const wire_job *a, const wire_job *b) {
    if (a->seq != b->seq || a->nsteps != b->nsteps || a->nevents != b->nevents ||
        a->write_total != b->write_total || a->read_total != b->read_total)
        abort();
    for (size_t i = 0; i < a->nsteps; i++) {
        const wire_job_step *x = &a->steps[i], *y = &b->steps[i];
        if (x->kind != y->kind) abort();
        if (x->kind == 'm' || x->kind == 'c') {
            if (x->buffer != y->buffer || x->offset != y->offset || x->size != y->size ||
                x->width != y->width || x->value != y->value || x->count != y->count ||
                x->pitch != y->pitch || x->height != y->height || x->src_buffer != y->src_buffer ||
                x->src_offset != y->src_offset || x->src_pitch != y->src_pitch)
                abort();
            continue;
        }
        if (x->kind == 'e') continue;
        if (x->kind != 'l') {
            if (x->buffer != y->buffer || x->offset != y->offset || x->size != y->size ||
                x->out_off != y->out_off || (x->kind == 'w' && memcmp(x->data, y->data, x->size)))
                abort();
            continue;
        }
        if (strcmp(x->module, y->module) || strcmp(x->function, y->function) || x->shared != y->shared ||
            memcmp(x->grid, y->grid, sizeof x->grid) || memcmp(x->block, y->block, sizeof x->block) ||
            x->nargs != y->nargs || x->max_dynamic_shared != y->max_dynamic_shared)
            abort();
        for (size_t k = 0; k < x->nargs; k++) {
            const wire_job_arg *p = &x->args[k], *q = &y->args[k];
            if (p->is_buffer != q->is_buffer || p->buffer != q->buffer || p->offset != q->offset ||
                p->len != q->len || (!p->is_buffer && memcmp(p->value, q->value, p->len)))
                abort();
        }
    }
}

/* Encodes j as liblepton would; NULL when the encoder refuses (it must not: j was accepted). */
static char *reencode(const wire_job *j, size_t *len) {
    wire_job_enc e;
    wire_job_enc_init(&e);
    int rc = 0;
    for (size_t i = 0; i < j->nsteps && !rc; i++) {
        const wire_job_step *s = &j->steps[i];
        if (s->kind == 'm') {
            rc = wire_job_enc_memset(&e, s->buffer, s->offset, s->width, s->value, s->count, s->pitch,
                                     s->height);
            continue;
        }
        if (s->kind == 'c') {
            rc = wire_job_enc_copy(&e, s->buffer, s->offset, s->src_buffer, s->src_offset, s->size, s->pitch,
                                   s->src_pitch, s->height);
            continue;
        }
        if (s->kind == 'e') {
            rc = wire_job_enc_event(&e);
            continue;
        }
        if (s->kind != 'l') {
            rc = wire_job_enc_rw(&e, s->kind == 'w', s->buffer, s->offset, s->size);
            continue;
        }
        rc = wire_job_enc_launch(&e, s->module, s->function, s->grid, s->block, s->shared, s->nargs);
        if (!rc) rc = wire_job_enc_launch_opt(&e, s->max_dynamic_shared);
        for (size_t k = 0; k < s->nargs && !rc; k++)
            rc = s->args[k].is_buffer ? wire_job_enc_arg_buffer(&e, s->args[k].buffer, s->args[k].offset)
                                      : wire_job_enc_arg_value(&e, s->args[k].value, s->args[k].len);
    }
    if (!rc) rc = wire_job_enc_finish(&e);
    if (rc) {
        if (rc != WIRE_JOB_ENOMEM && rc != WIRE_JOB_ETOOLARGE)
            abort(); /* only size can grow: base64url, defaults */
        wire_job_enc_free(&e);
        return NULL;
    }
    wire_job_enc_seq(e.p, e.seq_at, j->seq);
    *len = 4 + e.len + (size_t)j->write_total;
    char *b = malloc(*len);
    if (!b) abort();
    for (int i = 0; i < 4; i++)
        b[i] = (char)(e.len >> (8 * i));
    memcpy(b + 4, e.p, e.len);
    size_t off = 4 + e.len;
    for (size_t i = 0; i < j->nsteps; i++)
        if (j->steps[i].kind == 'w') {
            memcpy(b + off, j->steps[i].data, j->steps[i].size);
            off += j->steps[i].size;
        }
    wire_job_enc_free(&e);
    return b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char msg[600];
    msg[0] = 0;
    wire_job j;
    long step;
    int rc = wire_job_decode((const char *)data, size, &j, &step, msg, sizeof msg);
    if (rc != 0 && !msg[0]) abort(); /* a refusal always says why */
    if (rc != 0 && (step < -1 || (j.seq && step >= (long)WIRE_JOB_MAX_STEPS))) abort();
    if (size >= 4) {
        uint32_t n =
            (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 | (uint32_t)data[3] << 24;
        json_t *strict =
            n && n <= size - 4 ? json_loadb((const char *)data + 4, n, JSON_REJECT_DUPLICATES, NULL) : NULL;
        json_t *loose = n && n <= size - 4 && !strict ? json_loadb((const char *)data + 4, n, 0, NULL) : NULL;
        /* a duplicate member, or a NUL byte (jansson skips those): the decoders may differ */
        if (!(loose && !strict) && !(n <= size - 4 && memchr(data + 4, 0, n))) {
            wire_job ref;
            long rstep;
            char rmsg[600];
            int rrc = wire_job_decode_ref((const char *)data, size, &ref, &rstep, rmsg, sizeof rmsg);
            if ((rc == 0) != (rrc == 0) || (j.seq != 0) != (ref.seq != 0) || j.seq != ref.seq) {
                fprintf(stderr, "wire_job_decode %d (seq %llu): %s\nreference %d (seq %llu): %s\n", rc,
                        (unsigned long long)j.seq, rc ? msg : "ok", rrc, (unsigned long long)ref.seq,
                        rrc ? rmsg : "ok");
                abort();
            }
            if (rc == 0) same_job(&j, &ref);
            wire_job_free(&ref);
        }
        json_decref(strict);
        json_decref(loose);
    }
    if (rc == 0 && j.binary) { /* its JSON form (liblepton's HTTP path) is the same job */
        uint32_t n = wire_get_le32(data);
        lp_buf js = LP_BUF_INIT;
        if (lp_buf_append(&js, data, 4, SIZE_MAX / 2) || wire_job_json_of((const char *)data + 4, n, &js) ||
            lp_buf_append(&js, data + 4 + n, size - 4 - n, SIZE_MAX / 2))
            abort();
        wire_put_le32(js.p, (uint32_t)(js.len - 4 - (size - 4 - n)));
        wire_job k;
        if (wire_job_decode(js.p, js.len, &k, &step, msg, sizeof msg) != 0 && !strstr(msg, "WIRE_JOB_MAX"))
            abort(); /* only size can grow: base64 */
        else if (k.seq)
            same_job(&j, &k);
        wire_job_free(&k);
        lp_buf_free(&js);
    }
    if (rc == 0) {
        size_t len;
        char *b = reencode(&j, &len);
        if (b) {
            wire_job k;
            if (wire_job_decode(b, len, &k, &step, msg, sizeof msg) != 0) abort();
            same_job(&j, &k);
            wire_job_free(&k);
            free(b);
        }
    }
    wire_job_free(&j);
    return 0;
}
