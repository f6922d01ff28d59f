/* interp_tex.c — the texture and surface instructions (tex, tld4, txq, suld.b, sust.b, suq) on
 * texture and surface objects. Sampling follows the CUDA programming guide's texture-fetching
 * appendix: point sampling picks the texel floor(x); linear filtering blends the texels around
 * x - 0.5 with weights in 9-bit fixed point (8 fractional bits, rounded to nearest), as the
 * hardware does; wrap and mirror apply to normalised coordinates (otherwise clamp, as the API
 * documents); 8/16-bit integer texels read as normalised floats unless CU_TRSF_READ_AS_INTEGER. */
#include "interp_int.h"
#include "tex.h"

#include <math.h>
#include <stdio.h>

#define RG(o) (bank[(o) >> 28] + (size_t)((o)&0x0fffffffu) * 32u)

/* One resolved object for the duration of an instruction. */
typedef struct tview {
    const emu_texobj *t;
    const uint8_t *base; /* element (0,0,0) */
    uint8_t *wbase;
    size_t pitch, slice, rowbytes;
    int fresult; /* texels read as floats */
} tview;

static int tex_fault(exec *x, CUresult err, unsigned tid, int line, const char *fmt, uint64_t v) {
    if (x->err == CUDA_SUCCESS) {
        x->err = err;
        char what[128];
        snprintf(what, sizeof what, fmt, (unsigned long long)v);
        snprintf(x->msg, sizeof x->msg, "%s by thread %u of block (%u,%u,%u), PTX line %d", what, tid,
                 x->ctaid[0], x->ctaid[1], x->ctaid[2], line);
    }
    return W_ERR;
}

/* Resolves handle h (surf: a surface object) into v; 0 or -1 (no such object / memory gone). */
static int view_of(uint64_t h, int surf, tview *v) {
    const emu_texobj *t = texobj_lookup(h, surf);
    if (!t) return -1;
    v->t = t;
    v->pitch = t->pitch;
    v->slice = t->pitch * t->h;
    v->rowbytes = t->w * t->esz;
    int f = t->fmt == CU_AD_FORMAT_FLOAT || t->fmt == CU_AD_FORMAT_HALF;
    v->fresult = f || (t->csz < 4 && !(t->td.flags & CU_TRSF_READ_AS_INTEGER));
    if (t->arr) {
        v->wbase = t->arr->data;
    } else {
        size_t span = t->linear ? t->pitch : (t->h - 1) * t->pitch + t->w * t->esz;
        const vm_alloc *a = vm_find((uint64_t)t->dptr, span);
        if (!a) return -1; /* the memory was freed under the texture */
        v->wbase = a->host + ((uint64_t)t->dptr - a->base);
    }
    v->base = v->wbase;
    return 0;
}

/* Channel c of the element at p: as a float (normalised reads) or as integer bits. */
static float chan_f(const tview *v, const uint8_t *p, unsigned c) {
    const emu_texobj *t = v->t;
    p += c * t->csz;
    switch (t->fmt) {
    case CU_AD_FORMAT_UNSIGNED_INT8:
        return (float)p[0] / 255.0f;
    case CU_AD_FORMAT_SIGNED_INT8: {
        float f = (float)(int8_t)p[0] / 127.0f;
        return f < -1.0f ? -1.0f : f;
    }
    case CU_AD_FORMAT_UNSIGNED_INT16: {
        uint16_t u;
        memcpy(&u, p, 2);
        return (float)u / 65535.0f;
    }
    case CU_AD_FORMAT_SIGNED_INT16: {
        int16_t s;
        memcpy(&s, p, 2);
        float f = (float)s / 32767.0f;
        return f < -1.0f ? -1.0f : f;
    }
    case CU_AD_FORMAT_HALF: {
        uint16_t h;
        memcpy(&h, p, 2);
        return half_to_float(h);
    }
    default: {
        float f;
        memcpy(&f, p, 4);
        return f;
    }
    }
}

static uint32_t chan_i(const tview *v, const uint8_t *p, unsigned c) {
    const emu_texobj *t = v->t;
    p += c * t->csz;
    switch (t->fmt) {
    case CU_AD_FORMAT_UNSIGNED_INT8:
        return p[0];
    case CU_AD_FORMAT_SIGNED_INT8:
        return (uint32_t)(int32_t)(int8_t)p[0];
    case CU_AD_FORMAT_UNSIGNED_INT16:
    case CU_AD_FORMAT_SIGNED_INT16: {
        uint16_t u;
        memcpy(&u, p, 2);
        return t->fmt == CU_AD_FORMAT_SIGNED_INT16 ? (uint32_t)(int32_t)(int16_t)u : u;
    }
    default: {
        uint32_t u;
        memcpy(&u, p, 4);
        return u;
    }
    }
}

/* The border colour of an integer read: the float converted, saturated (NaN reads 0). */
static uint32_t border_int(float f) {
    if (!(f == f)) return 0;
    if (f >= 2147483647.0f) return 0x7fffffffu;
    if (f <= -2147483648.0f) return 0x80000000u;
    return (uint32_t)(int32_t)f;
}

/* A texel as four 32-bit lanes (floats or integers), missing channels (0, 0, 1). inb: inside the
 * texture; otherwise the border colour. */
static void texel(const tview *v, long i, long j, long k, int inb, uint32_t out[4]) {
    const emu_texobj *t = v->t;
    if (!inb) {
        for (int c = 0; c < 4; c++)
            out[c] = v->fresult ? (uint32_t)f2u(t->td.borderColor[c]) : border_int(t->td.borderColor[c]);
        return;
    }
    const uint8_t *p = v->base + (size_t)k * v->slice + (size_t)j * v->pitch + (size_t)i * t->esz;
    for (unsigned c = 0; c < 4; c++) {
        if (c < t->nch)
            out[c] = v->fresult ? (uint32_t)f2u(chan_f(v, p, c)) : chan_i(v, p, c);
        else
            out[c] = c == 3 ? (v->fresult ? (uint32_t)f2u(1.0f) : 1u) : 0u;
    }
}

/* Maps integer texel index i of a dimension of n texels through the address mode; -1 = border. */
static long addr_index(long i, long n, int mode) {
    if (i >= 0 && i < n) return i;
    switch (mode) {
    case CU_TR_ADDRESS_MODE_WRAP: {
        long r = i % n;
        return r < 0 ? r + n : r;
    }
    case CU_TR_ADDRESS_MODE_MIRROR: {
        long r = i % (2 * n);
        if (r < 0) r += 2 * n;
        return r < n ? r : 2 * n - 1 - r;
    }
    case CU_TR_ADDRESS_MODE_BORDER:
        return -1;
    default:
        return i < 0 ? 0 : n - 1;
    }
}

/* A float coordinate brought into texel units, after wrap/mirror of a normalised coordinate. */
static float unnorm(float x, long n, int norm, int mode) {
    if (x != x) x = 0.0f; /* NaN */
    if (norm) {
        if (mode == CU_TR_ADDRESS_MODE_WRAP) {
            x = x - floorf(x);
        } else if (mode == CU_TR_ADDRESS_MODE_MIRROR) {
            float fl = floorf(x);
            float fr = x - fl;
            x = fmodf(fl, 2.0f) != 0.0f ? 1.0f - fr : fr;
        }
        x *= (float)n;
    }
    if (x != x) x = 0.0f; /* an infinite normalised coordinate */
    if (x > 1e9f) x = 1e9f;
    if (x < -1e9f) x = -1e9f;
    return x;
}

/* The weight of the upper texel: frac in 1.8 fixed point, rounded to nearest. */
static float weight(float f) { return floorf(f * 256.0f + 0.5f) / 256.0f; }

typedef struct tcoord {
    long i0[3], i1[3]; /* texel indices (after the address mode; -1 = border) */
    float a[3];        /* weights of i1 */
    int n;             /* dimensions */
} tcoord;

/* Texel indices and weights for float coordinates c[0..n-1]. */
static void coords_f(const tview *v, const float *c, int n, int linear, tcoord *tc) {
    const emu_texobj *t = v->t;
    long ext[3] = {(long)t->w, (long)t->h, (long)(t->dims == 3 ? t->d : 1)};
    int norm = (t->td.flags & CU_TRSF_NORMALIZED_COORDINATES) != 0;
    tc->n = n;
    for (int d = 0; d < n; d++) {
        int mode = t->td.addressMode[d];
        if (!norm && (mode == CU_TR_ADDRESS_MODE_WRAP || mode == CU_TR_ADDRESS_MODE_MIRROR))
            mode = CU_TR_ADDRESS_MODE_CLAMP; /* wrap and mirror need normalised coordinates */
        float u = unnorm(c[d], ext[d], norm, mode);
        if (linear) {
            float ub = u - 0.5f, fl = floorf(ub);
            tc->a[d] = weight(ub - fl);
            tc->i0[d] = addr_index((long)fl, ext[d], mode);
            tc->i1[d] = addr_index((long)fl + 1, ext[d], mode);
        } else {
            tc->a[d] = 0.0f;
            long i = (long)floorf(u);
            if (norm && (mode == CU_TR_ADDRESS_MODE_WRAP || mode == CU_TR_ADDRESS_MODE_MIRROR) && i >= ext[d])
                i = ext[d] - 1; /* frac(x) * n rounded up to n */
            tc->i0[d] = tc->i1[d] = addr_index(i, ext[d], mode);
        }
    }
    for (int d = n; d < 3; d++) {
        tc->i0[d] = tc->i1[d] = 0;
        tc->a[d] = 0.0f;
    }
}

static void fetch(const tview *v, long i, long j, long k, uint32_t out[4]) {
    texel(v, i, j, k, i >= 0 && j >= 0 && k >= 0, out);
}

/* tex: a filtered (or point) sample at float coordinates; layer is the array slice. */
static void sample_f(const tview *v, const float *c, int n, long layer, uint32_t out[4]) {
    const emu_texobj *t = v->t;
    int linear = t->td.filterMode == CU_TR_FILTER_MODE_LINEAR && v->fresult && !t->linear;
    tcoord tc;
    coords_f(v, c, n, linear, &tc);
    if (!linear) {
        fetch(v, tc.i0[0], tc.i0[1], n == 3 ? tc.i0[2] : layer, out);
        return;
    }
    float acc[4] = {0, 0, 0, 0};
    for (int corner = 0; corner < (1 << n); corner++) {
        float wgt = 1.0f;
        long idx[3];
        for (int d = 0; d < n; d++) {
            int hi = (corner >> d) & 1;
            wgt *= hi ? tc.a[d] : 1.0f - tc.a[d];
            idx[d] = hi ? tc.i1[d] : tc.i0[d];
        }
        if (wgt == 0.0f) continue;
        uint32_t tv[4];
        fetch(v, idx[0], n >= 2 ? idx[1] : 0, n == 3 ? idx[2] : layer, tv);
        for (int ch = 0; ch < 4; ch++)
            acc[ch] += wgt * u2f(tv[ch]);
    }
    for (int ch = 0; ch < 4; ch++)
        out[ch] = (uint32_t)f2u(acc[ch]);
}

/* tex with integer coordinates: texel indices, no filtering; linear memory reads zero outside. */
static void sample_i(const tview *v, const int32_t *c, int n, long layer, uint32_t out[4]) {
    const emu_texobj *t = v->t;
    long ext[3] = {(long)t->w, (long)t->h, (long)(t->dims == 3 ? t->d : 1)};
    long idx[3] = {0, 0, layer};
    for (int d = 0; d < n; d++) {
        if (t->linear && (c[d] < 0 || c[d] >= ext[d])) {
            for (int ch = 0; ch < 4; ch++)
                out[ch] = 0;
            return;
        }
        int mode = t->td.addressMode[d] == CU_TR_ADDRESS_MODE_BORDER ? CU_TR_ADDRESS_MODE_BORDER
                                                                     : CU_TR_ADDRESS_MODE_CLAMP;
        idx[d] = addr_index(c[d], ext[d], mode);
    }
    fetch(v, idx[0], idx[1], idx[2], out);
}

static long layer_of(const tview *v, uint64_t raw) {
    long l = (int32_t)raw, n = (long)v->t->d;
    return l < 0 ? 0 : l >= n ? n - 1 : l;
}

static int geom_dims(int geom) {
    return geom == TG_1D || geom == TG_A1D ? 1 : geom == TG_2D || geom == TG_A2D ? 2 : 3;
}

/* The object's geometry matches the instruction's. */
static int geom_ok(const emu_texobj *t, int geom) {
    int layered = geom == TG_A1D || geom == TG_A2D;
    return layered == t->layered && geom_dims(geom) == t->dims;
}

static int do_query(exec *x, const ptx_insn *in, uint64_t **bank, uint32_t m, unsigned tid_base) {
    int surf = in->op == OP_SUQ;
    const uint64_t *H = RG(in->s[0]);
    uint64_t *D = RG(in->d[0]);
    for (uint32_t mm = m; mm; mm &= mm - 1) {
        int l = __builtin_ctz(mm);
        const emu_texobj *t = texobj_lookup(H[l], surf);
        if (!t)
            return tex_fault(x, CUDA_ERROR_ILLEGAL_ADDRESS, tid_base + (unsigned)l, in->line,
                             surf ? "suq on 0x%llx, not a live surface object"
                                  : "txq on 0x%llx, not a live texture object",
                             H[l]);
        static const uint32_t amode[] = {0 /* wrap */, 3 /* clamp_to_edge */, 1 /* mirror */,
                                         4 /* clamp_to_border */};
        uint32_t r = 0;
        switch (in->mod2) {
        case TQ_WIDTH:
            r = (uint32_t)t->w;
            break;
        case TQ_HEIGHT:
            r = t->dims >= 2 ? (uint32_t)t->h : 1;
            break;
        case TQ_DEPTH:
            r = t->dims == 3 ? (uint32_t)t->d : 1;
            break;
        case TQ_ARRAY_SIZE:
            r = t->layered ? (uint32_t)t->d : 1;
            break;
        case TQ_NORMALIZED_COORDS:
            r = (t->td.flags & CU_TRSF_NORMALIZED_COORDINATES) ? 1 : 0;
            break;
        case TQ_FILTER_MODE:
            r = t->td.filterMode == CU_TR_FILTER_MODE_LINEAR;
            break;
        case TQ_ADDR_MODE_0:
        case TQ_ADDR_MODE_1:
        case TQ_ADDR_MODE_2:
            r = amode[t->td.addressMode[in->mod2 - TQ_ADDR_MODE_0] & 3];
            break;
        case TQ_NUM_MIPMAP_LEVELS:
            r = t->res.resType == CU_RESOURCE_TYPE_MIPMAPPED_ARRAY ? t->arr->owner->nlevels : 1;
            break;
        default:
            break;
        }
        D[l] = r;
    }
    return W_RUN;
}

static int do_surface(exec *x, const ptx_insn *in, uint64_t **bank, uint32_t m, unsigned tid_base) {
    const uint32_t *ops = x->pm->wops + in->aux;
    const uint64_t *H = RG(ops[0]), *X = RG(ops[1]), *Y = RG(ops[2]), *Z = RG(ops[3]), *L = RG(ops[4]);
    int st = in->op == OP_SUST, geom = in->mod;
    unsigned tsz = TY_BYTES(in->type), acc = tsz * in->vec;
    tview v;
    uint64_t cur = 0;
    int have = 0;
    for (uint32_t mm = m; mm; mm &= mm - 1) {
        int l = __builtin_ctz(mm);
        unsigned tid = tid_base + (unsigned)l;
        if (!have || H[l] != cur) {
            if (view_of(H[l], 1, &v) != 0)
                return tex_fault(x, CUDA_ERROR_ILLEGAL_ADDRESS, tid, in->line,
                                 "surface access through 0x%llx, not a live surface object", H[l]);
            if (!geom_ok(v.t, geom))
                return tex_fault(x, CUDA_ERROR_ILLEGAL_INSTRUCTION, tid, in->line,
                                 "surface instruction geometry does not match the array of surface 0x%llx",
                                 H[l]);
            cur = H[l];
            have = 1;
        }
        const emu_texobj *t = v.t;
        int64_t bx = (int32_t)X[l], y = geom_dims(geom) >= 2 ? (int32_t)Y[l] : 0;
        int64_t z = geom == TG_3D ? (int32_t)Z[l] : (geom == TG_A1D || geom == TG_A2D) ? (int32_t)L[l] : 0;
        int64_t hh = geom_dims(geom) >= 2 ? (int64_t)t->h : 1,
                dd = (geom == TG_3D || t->layered) ? (int64_t)t->d : 1;
        int64_t rowb = (int64_t)v.rowbytes;
        if (bx % (int64_t)acc)
            return tex_fault(x, CUDA_ERROR_MISALIGNED_ADDRESS, tid, in->line,
                             "surface access at byte x = %lld is not aligned to its size", (uint64_t)bx);
        int oob = bx < 0 || bx + acc > rowb || y < 0 || y >= hh || z < 0 || z >= dd;
        if (oob) {
            if (in->mod2 == SU_TRAP)
                return tex_fault(x, CUDA_ERROR_ILLEGAL_ADDRESS, tid, in->line,
                                 "out-of-bounds surface access (.trap) at byte x = %lld", (uint64_t)bx);
            if (in->mod2 == SU_ZERO) {
                if (!st)
                    for (int k = 0; k < in->vec; k++)
                        RG(in->d[k])[l] = 0;
                continue;
            }
            int64_t maxx = (rowb - acc) / acc * acc;
            bx = bx < 0 ? 0 : bx > maxx ? maxx : bx;
            y = y < 0 ? 0 : y >= hh ? hh - 1 : y;
            z = z < 0 ? 0 : z >= dd ? dd - 1 : z;
        }
        uint8_t *p = v.wbase + (size_t)z * v.slice + (size_t)y * v.pitch + (size_t)bx;
        for (int k = 0; k < in->vec; k++) {
            if (st) {
                uint64_t val = RG(x->pm->wops[in->aux + TEXOP_NOPS + (uint32_t)k])[l];
                memcpy(p + (size_t)k * tsz, &val, tsz); /* little-endian: the low bytes */
            } else {
                uint64_t val = 0;
                memcpy(&val, p + (size_t)k * tsz, tsz);
                RG(in->d[k])[l] = val;
            }
        }
    }
    return W_RUN;
}

int tex_exec(struct exec *x, const ptx_insn *in, uint64_t **bank, uint32_t m, unsigned tid_base) {
    if (in->op == OP_TXQ || in->op == OP_SUQ) return do_query(x, in, bank, m, tid_base);
    if (in->op == OP_SULD || in->op == OP_SUST) return do_surface(x, in, bank, m, tid_base);
    const uint32_t *ops = x->pm->wops + in->aux;
    const uint64_t *H = RG(ops[0]), *C[3] = {RG(ops[1]), RG(ops[2]), RG(ops[3])}, *L = RG(ops[4]);
    int geom = in->mod, n = geom_dims(geom), layered = geom == TG_A1D || geom == TG_A2D;
    int fcoord = in->type2 == T_F32;
    tview v;
    uint64_t cur = 0;
    int have = 0;
    for (uint32_t mm = m; mm; mm &= mm - 1) {
        int l = __builtin_ctz(mm);
        unsigned tid = tid_base + (unsigned)l;
        if (!have || H[l] != cur) {
            if (view_of(H[l], 0, &v) != 0)
                return tex_fault(
                    x, CUDA_ERROR_ILLEGAL_ADDRESS, tid, in->line,
                    "texture fetch through 0x%llx, not a live texture object (or its memory was freed)",
                    H[l]);
            if (!geom_ok(v.t, geom) && !(v.t->linear && geom == TG_1D))
                return tex_fault(x, CUDA_ERROR_ILLEGAL_INSTRUCTION, tid, in->line,
                                 "texture instruction geometry does not match texture 0x%llx", H[l]);
            cur = H[l];
            have = 1;
        }
        long layer = layered ? layer_of(&v, L[l]) : 0;
        uint32_t out[4];
        if (in->op == OP_TLD4) {
            float c[2] = {u2f(C[0][l]), u2f(C[1][l])};
            tcoord tc;
            coords_f(&v, c, 2, 1, &tc);
            uint32_t q[4][4];
            fetch(&v, tc.i0[0], tc.i1[1], layer, q[0]);
            fetch(&v, tc.i1[0], tc.i1[1], layer, q[1]);
            fetch(&v, tc.i1[0], tc.i0[1], layer, q[2]);
            fetch(&v, tc.i0[0], tc.i0[1], layer, q[3]);
            for (int k = 0; k < 4; k++)
                out[k] = q[k][in->mod2];
        } else if (fcoord) {
            float c[3];
            for (int d = 0; d < n; d++)
                c[d] = u2f(C[d][l]);
            sample_f(&v, c, n, layer, out);
        } else {
            int32_t c[3];
            for (int d = 0; d < n; d++)
                c[d] = (int32_t)C[d][l];
            sample_i(&v, c, n, layer, out);
        }
        for (int k = 0; k < 4; k++) {
            if (in->d[k] == OP_NONE) continue;
            RG(in->d[k])[l] = out[k];
        }
    }
    return W_RUN;
}
