/* SPDX-License-Identifier: Apache-2.0
 * tex_sampling — texture objects on CUDA arrays, pitched and linear memory, sampled by kernels
 * (tex_kernels.cu) and compared with a host reference written from the CUDA programming guide's
 * texture-fetching appendix: point sampling T[floor(x)], linear filtering around x - 0.5 with the
 * weights in 9-bit fixed point (8 fractional bits), wrap/mirror on normalised coordinates,
 * clamp/border, 8/16-bit texels as normalised floats (signed ones clamped to -1) unless
 * CU_TRSF_READ_AS_INTEGER, and tld4 returning the footprint (i,j+1) (i+1,j+1) (i+1,j) (i,j).
 * Covers a simpleTexture-style rotation, every address mode, integer and normalised reads,
 * gather, 3D and layered arrays, pitch2D and linear memory, txq, mipmap level 0, bad handles. */
#define CUDA_ENABLE_DEPRECATED 1 /* cuModuleGetTexRef, to check that it is refused */
#include "common.h"

#include <math.h>
#include <stdint.h>

/* ---- the host reference ---- */
typedef struct reftex {
    CUarray_format fmt;
    int nch, w, h, d; /* d: depth or layers */
    const void *data; /* tightly packed, row-major */
    int norm, linear, readint;
    int am[3];
    float border[4];
} reftex;

static int fmt_size(CUarray_format f) {
    return f == CU_AD_FORMAT_UNSIGNED_INT8 || f == CU_AD_FORMAT_SIGNED_INT8                               ? 1
           : f == CU_AD_FORMAT_UNSIGNED_INT16 || f == CU_AD_FORMAT_SIGNED_INT16 || f == CU_AD_FORMAT_HALF ? 2
                                                                                                          : 4;
}

static float half2f(uint16_t h) {
    int e = (h >> 10) & 31, m = h & 1023;
    float v = e == 0 ? ldexpf((float)m, -24) : e == 31 ? INFINITY : ldexpf((float)(m | 1024), e - 25);
    return (h & 0x8000) ? -v : v;
}

/* channel c of texel (x, y, z) as the texture unit returns it: float value or integer bits */
static void ref_texel(const reftex *t, int x, int y, int z, float *f, int64_t *iv) {
    int cs = fmt_size(t->fmt);
    const uint8_t *p =
        (const uint8_t *)t->data + ((size_t)((size_t)z * t->h + y) * t->w + x) * (size_t)(cs * t->nch);
    for (int c = 0; c < 4; c++) {
        f[c] = c == 3 ? 1.0f : 0.0f;
        iv[c] = c == 3 ? 1 : 0;
        if (c >= t->nch) continue;
        const uint8_t *q = p + c * cs;
        int64_t raw = 0;
        float val = 0;
        switch (t->fmt) {
        case CU_AD_FORMAT_UNSIGNED_INT8:
            raw = q[0];
            val = (float)raw / 255.0f;
            break;
        case CU_AD_FORMAT_SIGNED_INT8:
            raw = (int8_t)q[0];
            val = fmaxf((float)raw / 127.0f, -1.0f);
            break;
        case CU_AD_FORMAT_UNSIGNED_INT16: {
            uint16_t u;
            memcpy(&u, q, 2);
            raw = u;
            val = (float)u / 65535.0f;
            break;
        }
        case CU_AD_FORMAT_SIGNED_INT16: {
            int16_t s;
            memcpy(&s, q, 2);
            raw = s;
            val = fmaxf((float)s / 32767.0f, -1.0f);
            break;
        }
        case CU_AD_FORMAT_HALF: {
            uint16_t u;
            memcpy(&u, q, 2);
            val = half2f(u);
            break;
        }
        case CU_AD_FORMAT_FLOAT:
            memcpy(&val, q, 4);
            break;
        case CU_AD_FORMAT_SIGNED_INT32: {
            int32_t s;
            memcpy(&s, q, 4);
            raw = s;
            break;
        }
        default: {
            uint32_t u;
            memcpy(&u, q, 4);
            raw = u;
            break;
        }
        }
        f[c] = val;
        iv[c] = raw;
    }
}

/* address mode on an index of a dimension of n texels; -1: the border */
static int ref_index(int i, int n, int mode) {
    if (mode == CU_TR_ADDRESS_MODE_BORDER) return i < 0 || i >= n ? -1 : i;
    if (mode == CU_TR_ADDRESS_MODE_WRAP) return ((i % n) + n) % n;
    if (mode == CU_TR_ADDRESS_MODE_MIRROR) {
        int p = ((i % (2 * n)) + 2 * n) % (2 * n);
        return p < n ? p : 2 * n - 1 - p;
    }
    return i < 0 ? 0 : i >= n ? n - 1 : i;
}

/* samples t at coordinates c (ndim of them) in layer (layered textures); out: 4 floats */
static void ref_sample(const reftex *t, const float *c, int ndim, int layer, float out[4]) {
    int ext[3] = {t->w, t->h, t->d};
    int lo[3] = {0, 0, layer}, hi[3] = {0, 0, layer};
    float a[3] = {0, 0, 0};
    for (int k = 0; k < ndim; k++) {
        int mode = t->am[k];
        if (!t->norm && mode != CU_TR_ADDRESS_MODE_BORDER) mode = CU_TR_ADDRESS_MODE_CLAMP;
        float x = c[k];
        if (t->norm && mode == CU_TR_ADDRESS_MODE_WRAP) x -= floorf(x);
        if (t->norm && mode == CU_TR_ADDRESS_MODE_MIRROR)
            x = ((long)floorf(x) % 2) ? 1.0f - (x - floorf(x)) : x - floorf(x);
        if (t->norm) x *= (float)ext[k];
        if (t->linear) {
            float xb = x - 0.5f;
            int i = (int)floorf(xb);
            a[k] = roundf((xb - floorf(xb)) * 256.0f) / 256.0f; /* 1.8 fixed point */
            lo[k] = ref_index(i, ext[k], mode);
            hi[k] = ref_index(i + 1, ext[k], mode);
        } else {
            int i = (int)floorf(x);
            if (i >= ext[k] && mode != CU_TR_ADDRESS_MODE_BORDER) i = ext[k] - 1;
            lo[k] = hi[k] = ref_index(i, ext[k], mode);
        }
    }
    for (int ch = 0; ch < 4; ch++)
        out[ch] = 0;
    int corners = t->linear ? 1 << ndim : 1;
    for (int cn = 0; cn < corners; cn++) {
        int idx[3];
        float wgt = 1.0f;
        for (int k = 0; k < 3; k++) {
            int up = k < ndim && ((cn >> k) & 1);
            idx[k] = up ? hi[k] : lo[k];
            if (t->linear && k < ndim) wgt *= up ? a[k] : 1.0f - a[k];
        }
        float f[4];
        int64_t iv[4];
        int intres = t->readint || (fmt_size(t->fmt) == 4 && t->fmt != CU_AD_FORMAT_FLOAT);
        if (idx[0] < 0 || idx[1] < 0 || idx[2] < 0) {
            for (int ch = 0; ch < 4; ch++) {
                f[ch] = t->border[ch];
                if (intres) memcpy(&f[ch], &(int32_t){(int32_t)t->border[ch]}, 4);
            }
        } else {
            ref_texel(t, idx[0], idx[1], idx[2], f, iv);
            if (intres)
                for (int ch = 0; ch < 4; ch++)
                    memcpy(&f[ch], &(int32_t){(int32_t)iv[ch]}, 4);
        }
        for (int ch = 0; ch < 4; ch++)
            out[ch] = t->linear ? out[ch] + wgt * f[ch] : f[ch];
    }
}

/* ---- device helpers ---- */
static CUarray make_array(const reftex *t, unsigned flags, int dims, int layered) {
    CUDA_ARRAY3D_DESCRIPTOR ad =
        array_desc(t->fmt, (unsigned)t->nch, (size_t)t->w, dims >= 2 ? (size_t)t->h : 0,
                   dims == 3 || layered ? (size_t)t->d : 0, flags | (layered ? CUDA_ARRAY3D_LAYERED : 0));
    CUarray a;
    CHECK(cuArray3DCreate(&a, &ad));
    size_t row = (size_t)t->w * (size_t)(fmt_size(t->fmt) * t->nch);
    copy3d(a, (void *)t->data, row, (size_t)t->h, (size_t)t->d, 1);
    return a;
}

static CUtexObject make_tex_res(const reftex *t, const CUDA_RESOURCE_DESC *rd) {
    CUDA_TEXTURE_DESC td;
    memset(&td, 0, sizeof td);
    for (int k = 0; k < 3; k++)
        td.addressMode[k] = (CUaddress_mode)t->am[k];
    td.filterMode = t->linear ? CU_TR_FILTER_MODE_LINEAR : CU_TR_FILTER_MODE_POINT;
    td.flags = (t->norm ? CU_TRSF_NORMALIZED_COORDINATES : 0) | (t->readint ? CU_TRSF_READ_AS_INTEGER : 0);
    memcpy(td.borderColor, t->border, sizeof td.borderColor);
    CUtexObject to;
    CHECK(cuTexObjectCreate(&to, rd, &td, NULL));
    return to;
}

static CUtexObject make_tex(const reftex *t, CUarray a) {
    CUDA_RESOURCE_DESC rd = array_resource(a);
    return make_tex_res(t, &rd);
}

/* runs kernel `name` (t, coords, out, n) with coords of csz floats each; out: n float4 */
static void run_fetch(const char *name, CUtexObject to, const float *coords, int csz, int n, float *out) {
    CUdeviceptr dc, dout;
    CHECK(cuMemAlloc(&dc, (size_t)n * (size_t)csz * 4));
    CHECK(cuMemAlloc(&dout, (size_t)n * 16));
    CHECK(cuMemcpyHtoD(dc, coords, (size_t)n * (size_t)csz * 4));
    void *args[] = {&to, &dc, &dout, &n};
    CHECK(launch1d(fn(name), (unsigned)n, args));
    CHECK(cuMemcpyDtoH(out, dout, (size_t)n * 16));
    CHECK(cuMemFree(dc));
    CHECK(cuMemFree(dout));
}

/* compares n float4 results with the reference (only nch channels unless all4) */
static void compare(const char *what, const reftex *t, const float *coords, int csz, int ndim, int layered,
                    const float *got, int n, float tol) {
    int bad = 0;
    for (int i = 0; i < n; i++) {
        float ref[4];
        int layer = layered ? (int)coords[i * csz + 2] : 0;
        ref_sample(t, coords + i * csz, ndim, layer, ref);
        for (int ch = 0; ch < t->nch; ch++) {
            float g = got[i * 4 + ch], r = ref[ch];
            int ok = t->readint || (fmt_size(t->fmt) == 4 && t->fmt != CU_AD_FORMAT_FLOAT)
                         ? memcmp(&g, &r, 4) == 0
                         : fabsf(g - r) <= tol * fmaxf(1.0f, fabsf(r));
            if (!ok && bad++ < 5)
                fprintf(stderr, "%s: sample %d (%g, %g, %g) channel %d: got %.9g, want %.9g\n", what, i,
                        coords[i * csz], csz > 1 ? coords[i * csz + 1] : 0.0,
                        csz > 2 ? coords[i * csz + 2] : 0.0, ch, g, r);
        }
    }
    EXPECT(bad == 0, "%s: %d mismatching channel(s)", what, bad);
}

/* ---- the tests ---- */
static void test_rotate(void) {
    enum { W = 64, H = 48 };
    static float img[W * H], out[W * H], uv[W * H * 2];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            img[y * W + x] = (float)((x * 7 + y * 13) % 32) / 31.0f + (x == y ? 0.5f : 0.0f);
    reftex t = {CU_AD_FORMAT_FLOAT,
                1,
                W,
                H,
                1,
                img,
                1,
                1,
                0,
                {CU_TR_ADDRESS_MODE_WRAP, CU_TR_ADDRESS_MODE_WRAP, 0},
                {0}};
    CUarray a = make_array(&t, 0, 2, 0);
    CUtexObject to = make_tex(&t, a);
    CUdeviceptr dout, duv;
    CHECK(cuMemAlloc(&dout, sizeof out));
    CHECK(cuMemAlloc(&duv, sizeof uv));
    int w = W, h = H;
    float angle = 0.5f, c = cosf(angle), s = sinf(angle);
    void *args[] = {&dout, &duv, &to, &w, &h, &c, &s};
    CHECK(cuLaunchKernel(fn("rotate"), W / 16, H / 16, 1, 16, 16, 1, 0, NULL, args, NULL));
    CHECK(cuMemcpyDtoH(out, dout, sizeof out));
    CHECK(cuMemcpyDtoH(uv, duv, sizeof uv));
    int bad = 0, moved = 0;
    for (int i = 0; i < W * H; i++) {
        float ref[4];
        ref_sample(&t, &uv[2 * i], 2, 0, ref);
        if (fabsf(out[i] - ref[0]) > 1e-5f && bad++ < 5)
            fprintf(stderr, "rotate: pixel %d at (%g, %g): got %.9g want %.9g\n", i, uv[2 * i], uv[2 * i + 1],
                    out[i], ref[0]);
        moved += fabsf(out[i] - img[i]) > 1e-3f;
    }
    EXPECT(bad == 0, "rotate: %d pixel(s) differ from the bilinear reference", bad);
    EXPECT(moved > W * H / 2, "rotate: the image did not rotate (%d pixels changed)", moved);
    CHECK(cuTexObjectDestroy(to));
    CHECK(cuArrayDestroy(a));
    CHECK(cuMemFree(dout));
    CHECK(cuMemFree(duv));
}

/* linear filtering weights are quantised to 1/256: a ramp 0, 1 sampled at fractions that are not
 * multiples of 1/256 gives the quantised weight, not the exact one */
static void test_weights(void) {
    static const float ramp[2] = {0.0f, 1.0f};
    reftex t = {CU_AD_FORMAT_FLOAT, 1, 2, 1, 1, ramp, 0, 1, 0, {CU_TR_ADDRESS_MODE_CLAMP, 0, 0}, {0}};
    CUarray a = make_array(&t, 0, 1, 0);
    CUtexObject to = make_tex(&t, a);
    enum { N = 64 };
    float c[N], got[N * 4];
    for (int i = 0; i < N; i++)
        c[i] = 0.5f + (float)i / (float)N + 0.0013f * (float)(i % 3);
    run_fetch("fetch1d", to, c, 1, N, got);
    compare("weights", &t, c, 1, 1, 0, got, N, 1e-6f);
    int quantised = 0;
    for (int i = 0; i < N; i++)
        quantised += fabsf(got[i * 4] - (c[i] - 0.5f)) > 1e-4f;
    EXPECT(quantised > N / 4, "weights: only %d of %d samples show 1/256 weight quantisation", quantised, N);
    CHECK(cuTexObjectDestroy(to));
    CHECK(cuArrayDestroy(a));
}

/* every address mode with normalised coordinates, point and linear, on uchar4 (normalised floats) */
static void test_address_modes(void) {
    enum { W = 8, H = 4, N = 96 };
    static uint8_t img[W * H * 4];
    for (int i = 0; i < W * H * 4; i++)
        img[i] = (uint8_t)(i * 37 + 11);
    static const char *names[] = {"wrap", "clamp", "mirror", "border"};
    float c[N * 2], got[N * 4];
    for (int i = 0; i < N; i++) {
        c[2 * i] = -1.53f + (float)i * 0.0431f;
        c[2 * i + 1] = 2.37f - (float)i * 0.0377f;
    }
    for (int mode = 0; mode < 4; mode++)
        for (int lin = 0; lin < 2; lin++) {
            reftex t = {CU_AD_FORMAT_UNSIGNED_INT8, 4, W, H, 1, img, 1, lin, 0, {mode, mode, mode},
                        {0.25f, 0.5f, 0.75f, 1.0f}};
            CUarray a = make_array(&t, 0, 2, 0);
            CUtexObject to = make_tex(&t, a);
            run_fetch("fetch2d", to, c, 2, N, got);
            char what[64];
            snprintf(what, sizeof what, "address mode %s, %s", names[mode], lin ? "linear" : "point");
            compare(what, &t, c, 2, 2, 0, got, N, 1e-5f);
            CHECK(cuTexObjectDestroy(to));
            CHECK(cuArrayDestroy(a));
        }
    /* unnormalised coordinates: clamp and border only (wrap/mirror act as clamp) */
    for (int mode = 0; mode < 4; mode++) {
        reftex t = {CU_AD_FORMAT_UNSIGNED_INT8, 4, W, H, 1, img, 0, 1, 0, {mode, mode, mode}, {0, 0, 0, 0}};
        float cu[N * 2];
        for (int i = 0; i < N * 2; i++)
            cu[i] = c[i] * 6.0f;
        CUarray a = make_array(&t, 0, 2, 0);
        CUtexObject to = make_tex(&t, a);
        run_fetch("fetch2d", to, cu, 2, N, got);
        char what[64];
        snprintf(what, sizeof what, "unnormalised %s, linear", names[mode]);
        compare(what, &t, cu, 2, 2, 0, got, N, 1e-5f);
        CHECK(cuTexObjectDestroy(to));
        CHECK(cuArrayDestroy(a));
    }
}

/* normalised reads of signed/unsigned 8/16-bit formats and half; integer reads */
static void test_formats(void) {
    enum { W = 6, H = 3, N = 40 };
    static int8_t s8[W * H * 2];
    static uint16_t u16[W * H], f16[W * H * 4];
    static int16_t s16[W * H * 4];
    static int32_t s32[W * H * 2];
    for (int i = 0; i < W * H * 2; i++)
        s8[i] = (int8_t)(i == 0 ? -128 : i == 1 ? 127 : i == 2 ? -127 : i * 29 - 100);
    for (int i = 0; i < W * H; i++)
        u16[i] = (uint16_t)(i * 3001 + 7);
    for (int i = 0; i < W * H * 4; i++) {
        s16[i] = (int16_t)(i == 0 ? -32768 : i * 1999 - 30000);
        float v = (float)i * 0.375f - 7.0f;
        /* halves of small multiples of 1/8: exact */
        int e = 0;
        float m = fabsf(v);
        uint16_t hbits = 0;
        if (m != 0) {
            m = frexpf(m, &e); /* m in [0.5, 1) */
            hbits = (uint16_t)(((e + 14) << 10) | ((int)(m * 2048.0f) & 1023));
        }
        f16[i] = (uint16_t)(hbits | (v < 0 ? 0x8000 : 0));
    }
    for (int i = 0; i < W * H * 2; i++)
        s32[i] = i * 123457 - 1000000;
    float c[N * 2], got[N * 4];
    for (int i = 0; i < N; i++) {
        c[2 * i] = (float)(i % 9) * 0.77f - 0.6f;
        c[2 * i + 1] = (float)(i % 5) * 0.81f - 0.3f;
    }
    enum { CL = CU_TR_ADDRESS_MODE_CLAMP, BO = CU_TR_ADDRESS_MODE_BORDER };
    struct {
        const char *name;
        CUarray_format f;
        int nch;
        const void *data;
        int readint, linear, am;
    } cases[] = {
        {"s8x2 normalised", CU_AD_FORMAT_SIGNED_INT8, 2, s8, 0, 0, CL},
        {"s8x2 normalised linear", CU_AD_FORMAT_SIGNED_INT8, 2, s8, 0, 1, CL},
        {"u16 normalised linear", CU_AD_FORMAT_UNSIGNED_INT16, 1, u16, 0, 1, CL},
        {"s16x4 normalised", CU_AD_FORMAT_SIGNED_INT16, 4, s16, 0, 0, CL},
        {"half x4 linear", CU_AD_FORMAT_HALF, 4, f16, 0, 1, CL},
        {"half x4 linear border", CU_AD_FORMAT_HALF, 4, f16, 0, 1, BO},
        {"s8x2 read as integer", CU_AD_FORMAT_SIGNED_INT8, 2, s8, 1, 0, CL},
        {"s16x4 read as integer", CU_AD_FORMAT_SIGNED_INT16, 4, s16, 1, 0, CL},
        {"s16x4 read as integer, border", CU_AD_FORMAT_SIGNED_INT16, 4, s16, 1, 0, BO},
        {"u16 read as integer", CU_AD_FORMAT_UNSIGNED_INT16, 1, u16, 1, 0, CL},
        {"s32x2 (always integer)", CU_AD_FORMAT_SIGNED_INT32, 2, s32, 0, 0, CL},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        reftex t = {cases[k].f,
                    cases[k].nch,
                    W,
                    H,
                    1,
                    cases[k].data,
                    0,
                    cases[k].linear,
                    cases[k].readint,
                    {cases[k].am, cases[k].am, 0},
                    {-3.0f, 7.5f, 0.25f, 1.0f}};
        CUarray a = make_array(&t, 0, 2, 0);
        CUtexObject to = make_tex(&t, a);
        int integer = cases[k].readint || cases[k].f == CU_AD_FORMAT_SIGNED_INT32;
        run_fetch(integer ? (cases[k].f == CU_AD_FORMAT_UNSIGNED_INT16 ? "fetch2d_uint" : "fetch2d_int")
                          : "fetch2d",
                  to, c, 2, N, got);
        compare(cases[k].name, &t, c, 2, 2, 0, got, N, 1e-6f);
        CHECK(cuTexObjectDestroy(to));
        CHECK(cuArrayDestroy(a));
    }
    /* spot values the documentation gives: -128 reads -1.0, 127 reads 1.0 */
    reftex t = {CU_AD_FORMAT_SIGNED_INT8, 2, W, H, 1, s8, 0, 0, 0, {1, 1, 1}, {0}};
    CUarray a = make_array(&t, 0, 2, 0);
    CUtexObject to = make_tex(&t, a);
    float c0[2] = {0.5f, 0.5f};
    run_fetch("fetch2d", to, c0, 2, 1, got);
    EXPECT(got[0] == -1.0f && got[1] == 1.0f, "s8 normalised: -128, 127 read %g, %g (want -1, 1)", got[0],
           got[1]);
    CHECK(cuTexObjectDestroy(to));
    CHECK(cuArrayDestroy(a));
}

static void test_gather(void) {
    enum { W = 5, H = 4, N = 30 };
    static float img[W * H * 4];
    for (int i = 0; i < W * H * 4; i++)
        img[i] = (float)i * 1.5f - 3.0f;
    reftex t = {CU_AD_FORMAT_FLOAT,
                4,
                W,
                H,
                1,
                img,
                0,
                0,
                0,
                {CU_TR_ADDRESS_MODE_CLAMP, CU_TR_ADDRESS_MODE_CLAMP, 0},
                {0}};
    CUarray a = make_array(&t, CUDA_ARRAY3D_TEXTURE_GATHER, 2, 0);
    CUtexObject to = make_tex(&t, a);
    float c[N * 2], got[N * 4];
    for (int i = 0; i < N; i++) {
        c[2 * i] = (float)i * 0.23f - 0.7f;
        c[2 * i + 1] = (float)(i % 7) * 0.61f - 0.2f;
    }
    CUdeviceptr dc, dout;
    CHECK(cuMemAlloc(&dc, sizeof c));
    CHECK(cuMemAlloc(&dout, sizeof got));
    CHECK(cuMemcpyHtoD(dc, c, sizeof c));
    for (int comp = 0; comp < 4; comp++) {
        int n = N;
        void *args[] = {&to, &dc, &dout, &n, &comp};
        CHECK(launch1d(fn("gather"), N, args));
        CHECK(cuMemcpyDtoH(got, dout, sizeof got));
        int bad = 0;
        for (int i = 0; i < N; i++) {
            float xb = c[2 * i] - 0.5f, yb = c[2 * i + 1] - 0.5f;
            int i0 = ref_index((int)floorf(xb), W, 1), i1 = ref_index((int)floorf(xb) + 1, W, 1);
            int j0 = ref_index((int)floorf(yb), H, 1), j1 = ref_index((int)floorf(yb) + 1, H, 1);
            int px[4] = {i0, i1, i1, i0}, py[4] = {j1, j1, j0, j0};
            for (int k = 0; k < 4; k++) {
                float want = img[(py[k] * W + px[k]) * 4 + comp];
                if (got[i * 4 + k] != want && bad++ < 5)
                    fprintf(stderr, "gather comp %d sample %d element %d: got %g want %g\n", comp, i, k,
                            got[i * 4 + k], want);
            }
        }
        EXPECT(bad == 0, "tld4 component %d: %d mismatches", comp, bad);
    }
    CHECK(cuMemFree(dc));
    CHECK(cuMemFree(dout));
    CHECK(cuTexObjectDestroy(to));
    CHECK(cuArrayDestroy(a));
}

static void test_3d_and_layered(void) {
    enum { W = 5, H = 4, D = 3, N = 50 };
    static float vol[W * H * D];
    for (int i = 0; i < W * H * D; i++)
        vol[i] = sinf((float)i) * 4.0f;
    float c[N * 4], got[N * 4];
    for (int i = 0; i < N; i++) {
        c[4 * i] = (float)i * 0.13f - 0.4f;
        c[4 * i + 1] = (float)(i % 11) * 0.41f - 0.3f;
        c[4 * i + 2] = (float)(i % 7) * 0.57f - 0.5f;
        c[4 * i + 3] = 0;
    }
    for (int lin = 0; lin < 2; lin++) {
        reftex t = {CU_AD_FORMAT_FLOAT, 1, W, H, D, vol, 0, lin, 0, {1, 1, 1}, {0}};
        CUarray a = make_array(&t, 0, 3, 0);
        CUtexObject to = make_tex(&t, a);
        run_fetch("fetch3d", to, c, 4, N, got);
        compare(lin ? "3d trilinear" : "3d point", &t, c, 4, 3, 0, got, N, 1e-5f);
        CHECK(cuTexObjectDestroy(to));
        CHECK(cuArrayDestroy(a));
    }
    /* layered: (x, y, layer); layers outside [0, D) clamp */
    float cl[N * 4];
    for (int i = 0; i < N; i++) {
        cl[4 * i] = c[4 * i] * 3.0f;
        cl[4 * i + 1] = c[4 * i + 1];
        cl[4 * i + 2] = (float)(i % 3);
        cl[4 * i + 3] = 0;
    }
    for (int lin = 0; lin < 2; lin++) {
        reftex t = {CU_AD_FORMAT_FLOAT, 1, W, H, D, vol, 0, lin, 0, {1, 1, 1}, {0}};
        CUarray a = make_array(&t, 0, 2, 1);
        CUtexObject to = make_tex(&t, a);
        run_fetch("fetch_a2d", to, cl, 4, N, got);
        compare(lin ? "2d layered linear" : "2d layered point", &t, cl, 4, 2, 1, got, N, 1e-5f);
        CHECK(cuTexObjectDestroy(to));
        CHECK(cuArrayDestroy(a));
        /* 1D layered: W x (H*D) layers of one row */
        reftex t1 = {CU_AD_FORMAT_FLOAT, 1, W, 1, H * D, vol, 0, lin, 0, {1, 1, 1}, {0}};
        CUarray a1 = make_array(&t1, 0, 1, 1);
        CUtexObject to1 = make_tex(&t1, a1);
        run_fetch("fetch_a1d", to1, cl, 4, N, got);
        compare(lin ? "1d layered linear" : "1d layered point", &t1, cl, 4, 1, 1, got, N, 1e-5f);
        CHECK(cuTexObjectDestroy(to1));
        CHECK(cuArrayDestroy(a1));
    }
}

/* pitch2D (cuMemAllocPitch) with bilinear filtering; tex1Dfetch on linear memory (zero outside) */
static void test_memory_resources(void) {
    enum { W = 13, H = 7, N = 40 };
    static float img[W * H];
    for (int i = 0; i < W * H; i++)
        img[i] = (float)((i * 17) % 23) - 5.0f;
    CUdeviceptr dp;
    size_t pitch;
    CHECK(cuMemAllocPitch(&dp, &pitch, W * 4, H, 4));
    CUDA_MEMCPY2D cp;
    memset(&cp, 0, sizeof cp);
    cp.srcMemoryType = CU_MEMORYTYPE_HOST;
    cp.srcHost = img;
    cp.srcPitch = W * 4;
    cp.dstMemoryType = CU_MEMORYTYPE_DEVICE;
    cp.dstDevice = dp;
    cp.dstPitch = pitch;
    cp.WidthInBytes = W * 4;
    cp.Height = H;
    CHECK(cuMemcpy2D(&cp));
    reftex t = {CU_AD_FORMAT_FLOAT, 1, W, H, 1, img, 1, 1, 0, {0, 2, 0}, {0}};
    CUDA_RESOURCE_DESC rd;
    memset(&rd, 0, sizeof rd);
    rd.resType = CU_RESOURCE_TYPE_PITCH2D;
    rd.res.pitch2D.devPtr = dp;
    rd.res.pitch2D.format = CU_AD_FORMAT_FLOAT;
    rd.res.pitch2D.numChannels = 1;
    rd.res.pitch2D.width = W;
    rd.res.pitch2D.height = H;
    rd.res.pitch2D.pitchInBytes = pitch;
    CUtexObject to = make_tex_res(&t, &rd);
    float c[N * 2], got[N * 4];
    for (int i = 0; i < N; i++) {
        c[2 * i] = (float)i * 0.071f - 0.9f;
        c[2 * i + 1] = (float)(i % 9) * 0.33f - 0.8f;
    }
    run_fetch("fetch2d", to, c, 2, N, got);
    compare("pitch2D wrap/mirror linear", &t, c, 2, 2, 0, got, N, 1e-5f);
    CUDA_RESOURCE_DESC back;
    CHECK(cuTexObjectGetResourceDesc(&back, to));
    EXPECT(back.resType == CU_RESOURCE_TYPE_PITCH2D && back.res.pitch2D.pitchInBytes == pitch,
           "resource desc round trip");
    CUDA_TEXTURE_DESC tdb;
    CHECK(cuTexObjectGetTextureDesc(&tdb, to));
    EXPECT(tdb.addressMode[1] == CU_TR_ADDRESS_MODE_MIRROR && tdb.filterMode == CU_TR_FILTER_MODE_LINEAR,
           "texture desc round trip");
    CHECK(cuTexObjectDestroy(to));
    CHECK(cuMemFree(dp));

    enum { L = 10, M = 16 };
    int32_t lin[L * 4];
    for (int i = 0; i < L * 4; i++)
        lin[i] = i * 1001 - 7;
    CUdeviceptr dl;
    CHECK(cuMemAlloc(&dl, sizeof lin));
    CHECK(cuMemcpyHtoD(dl, lin, sizeof lin));
    memset(&rd, 0, sizeof rd);
    rd.resType = CU_RESOURCE_TYPE_LINEAR;
    rd.res.linear.devPtr = dl;
    rd.res.linear.format = CU_AD_FORMAT_SIGNED_INT32;
    rd.res.linear.numChannels = 4;
    rd.res.linear.sizeInBytes = sizeof lin;
    CUDA_TEXTURE_DESC td;
    memset(&td, 0, sizeof td);
    CHECK(cuTexObjectCreate(&to, &rd, &td, NULL));
    int idx[M];
    for (int i = 0; i < M; i++)
        idx[i] = i - 3;
    CUdeviceptr di, dout;
    CHECK(cuMemAlloc(&di, sizeof idx));
    CHECK(cuMemAlloc(&dout, M * 16));
    CHECK(cuMemcpyHtoD(di, idx, sizeof idx));
    int n = M;
    void *args[] = {&to, &di, &dout, &n};
    CHECK(launch1d(fn("fetch_linear"), M, args));
    int32_t out[M * 4];
    CHECK(cuMemcpyDtoH(out, dout, sizeof out));
    int bad = 0;
    for (int i = 0; i < M; i++)
        for (int ch = 0; ch < 4; ch++) {
            int32_t want = idx[i] >= 0 && idx[i] < L ? lin[idx[i] * 4 + ch] : 0;
            bad += out[i * 4 + ch] != want;
        }
    EXPECT(bad == 0, "tex1Dfetch on linear memory: %d mismatches", bad);
    CHECK(cuTexObjectDestroy(to));
    CHECK(cuMemFree(dl));
    CHECK(cuMemFree(di));
    CHECK(cuMemFree(dout));
}

static void test_txq_and_mipmap(void) {
    CUDA_ARRAY3D_DESCRIPTOR ad = array_desc(CU_AD_FORMAT_FLOAT, 1, 16, 8, 0, 0);
    CUmipmappedArray mm;
    CHECK(cuMipmappedArrayCreate(&mm, &ad, 3));
    CUarray l0, l2;
    CHECK(cuMipmappedArrayGetLevel(&l0, mm, 0));
    CHECK(cuMipmappedArrayGetLevel(&l2, mm, 2));
    CUDA_ARRAY3D_DESCRIPTOR got;
    CHECK(cuArray3DGetDescriptor(&got, l2));
    EXPECT(got.Width == 4 && got.Height == 2, "mip level 2 is %zux%zu, want 4x2", got.Width, got.Height);
    EXPECT_CU(cuMipmappedArrayGetLevel(&l2, mm, 3), CUDA_ERROR_INVALID_VALUE);
    static float img[16 * 8];
    for (int i = 0; i < 16 * 8; i++)
        img[i] = (float)i;
    CHECK(cuMemcpyHtoA(l0, 0, img, sizeof img));
    CUDA_RESOURCE_DESC rd;
    memset(&rd, 0, sizeof rd);
    rd.resType = CU_RESOURCE_TYPE_MIPMAPPED_ARRAY;
    rd.res.mipmap.hMipmappedArray = mm;
    CUDA_TEXTURE_DESC td;
    memset(&td, 0, sizeof td);
    td.addressMode[0] = CU_TR_ADDRESS_MODE_MIRROR;
    td.filterMode = CU_TR_FILTER_MODE_LINEAR;
    EXPECT_CU(cuTexObjectCreate(&(CUtexObject){0}, &rd, &td, NULL),
              CUDA_ERROR_INVALID_VALUE); /* needs normalised */
    td.flags = CU_TRSF_NORMALIZED_COORDINATES;
    CUtexObject to;
    CHECK(cuTexObjectCreate(&to, &rd, &td, NULL));
    reftex t = {CU_AD_FORMAT_FLOAT,
                1,
                16,
                8,
                1,
                img,
                1,
                1,
                0,
                {CU_TR_ADDRESS_MODE_MIRROR, CU_TR_ADDRESS_MODE_WRAP, 0},
                {0}};
    float c[8] = {0.1f, 0.2f, 0.53f, 0.77f, -0.2f, 1.3f, 0.999f, 0.01f}, out[16];
    run_fetch("fetch2d", to, c, 2, 4, out);
    compare("mipmapped level 0", &t, c, 2, 2, 0, out, 4, 1e-5f);
    CUdeviceptr dq;
    CHECK(cuMemAlloc(&dq, 6 * 4));
    void *args[] = {&to, &dq};
    CHECK(cuLaunchKernel(fn("query"), 1, 1, 1, 1, 1, 1, 0, NULL, args, NULL));
    int q[6];
    CHECK(cuMemcpyDtoH(q, dq, sizeof q));
    EXPECT(
        q[0] == 16 && q[1] == 8 && q[2] == 1 && q[3] == 1 && q[4] == 1 && q[5] == 1,
        "txq: width %d height %d depth %d normalized %d filter %d addr_mode_0 %d (want 16 8 1 1 1 1=mirror)",
        q[0], q[1], q[2], q[3], q[4], q[5]);
    CHECK(cuMemFree(dq));
    CHECK(cuTexObjectDestroy(to));
    EXPECT_CU(cuArrayDestroy(l0), CUDA_ERROR_INVALID_HANDLE); /* owned by the mipmapped array */
    CHECK(cuMipmappedArrayDestroy(mm));
}

/* texture references are refused: the deprecated API, and .texref in PTX at load time */
static void test_texrefs(void) {
    static const char ptx[] = ".version 7.0\n.target sm_80\n.address_size 64\n.global .texref tref;\n"
                              ".visible .entry k()\n{\n  ret;\n}\n";
    CUmodule m;
    CUtexref tr;
    if (programs_on_cudaemu()) { /* cudaemu's refusals of texture references */
        EXPECT_CU(cuModuleLoadData(&m, ptx), CUDA_ERROR_INVALID_PTX);
        EXPECT_CU(cuModuleGetTexRef(&tr, g_mod, "tref"), CUDA_ERROR_NOT_SUPPORTED);
    }
}

/* a kernel given a destroyed or made-up handle faults; the error is sticky */
static void test_bad_handle(void) {
    static const float one[1] = {1.0f};
    reftex t = {CU_AD_FORMAT_FLOAT, 1, 1, 1, 1, one, 0, 0, 0, {1, 1, 1}, {0}};
    CUarray a = make_array(&t, 0, 1, 0);
    CUtexObject to = make_tex(&t, a);
    CHECK(cuTexObjectDestroy(to));
    EXPECT_CU(cuTexObjectDestroy(to), CUDA_ERROR_INVALID_VALUE);
    CUdeviceptr dc, dout;
    CHECK(cuMemAlloc(&dc, 16));
    CHECK(cuMemAlloc(&dout, 16));
    CHECK(cuMemsetD8(dc, 0, 16));
    int n = 1;
    void *args[] = {&to, &dc, &dout, &n};
    /* as on a GPU, the fault may be reported by the launch or by the next synchronising call */
    CUresult r = launch1d(fn("fetch1d"), 1, args);
    EXPECT(r == CUDA_SUCCESS || r == CUDA_ERROR_ILLEGAL_ADDRESS, "launch with a bad handle returned %s",
           cu_name(r));
    EXPECT_CU(cuCtxSynchronize(), CUDA_ERROR_ILLEGAL_ADDRESS);
    EXPECT_CU(cuMemAlloc(&dc, 16), CUDA_ERROR_ILLEGAL_ADDRESS);
}

int main(void) {
    CUcontext ctx = make_context();
    g_mod = load_ptx("tex_kernels.ptx");
    test_rotate();
    test_weights();
    test_address_modes();
    test_formats();
    test_gather();
    test_3d_and_layered();
    test_memory_resources();
    test_txq_and_mipmap();
    test_texrefs();
    test_bad_handle(); /* last: poisons the context */
    CUdevice dev;
    (void)ctx;
    CHECK(cuDeviceGet(&dev, 0));
    CHECK(cuDevicePrimaryCtxReset(dev));
    return finish("tex_sampling");
}
