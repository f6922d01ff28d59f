/* interp_wmma.c — warp-level matrix ops (wmma m16n16k16, f16 inputs, f16/f32 accumulators).
 * WMMA fragments are opaque to programs, so the emulator uses its own layout:
 *   A (16x16, f16): lane l holds row l%16, k = 0..15 as 8 packed pairs;
 *   B (16x16, f16): lane l holds column l%16, k = 0..15 as 8 packed pairs;
 *   C/D: lane l holds row l/2, columns (l%2)*8 .. +7 (8 f32 registers or 4 packed f16 pairs). */
#include "interp_int.h"

#include <math.h>

#define RG(o) (bank[(o) >> 28] + (size_t)((o)&0x0fffffffu) * 32u)

/* element offset of (row, col) in memory for a matrix stored row- or column-major */
static uint64_t elem_off(int col_major, uint32_t stride, int r, int c) {
    return col_major ? (uint64_t)c * stride + (uint64_t)r : (uint64_t)r * stride + (uint64_t)c;
}

/* The matrix coordinates of element e of lane l's fragment. */
static void frag_pos(int which, int l, int e, int *r, int *c) {
    if (which == 0) {
        *r = l % 16;
        *c = e;
    } else if (which == 1) {
        *r = e;
        *c = l % 16;
    } else {
        *r = l / 2;
        *c = (l % 2) * 8 + e;
    }
}

int wmma_exec(exec *x, const ptx_insn *in, uint64_t **bank, uint32_t m, unsigned tid_base) {
    const uint32_t *ops = x->pm->wops + in->aux;
    if (in->op == OP_WMMA_LOAD || in->op == OP_WMMA_STORE) {
        int which = in->mod, col = in->mod2, f32 = in->type == T_F32;
        int st = in->op == OP_WMMA_STORE;
        int nregs = which < 2 ? 8 : f32 ? 8 : 4;
        uint32_t esz = f32 ? 4 : 2;
        const uint64_t *A = RG(in->s[0]), *S = RG(in->s[1]);
        for (uint32_t mm = m; mm; mm &= mm - 1) {
            int l = __builtin_ctz(mm);
            uint32_t stride = (uint32_t)S[l];
            for (int e = 0; e < 16; e++) {
                if (f32 && e >= 8) break;
                int r, c;
                frag_pos(which, l, e, &r, &c);
                uint64_t addr = A[l] + (uint64_t)in->imm + elem_off(col, stride, r, c) * esz;
                uint8_t *p = mem_xlate(x, in->space, addr, esz, tid_base + (unsigned)l, st, in->line);
                if (!p) return W_ERR;
                int reg = f32 ? e : e / 2, sh = f32 ? 0 : (e % 2) * 16;
                if (reg >= nregs) break;
                uint64_t *R = RG(ops[reg]);
                if (st) {
                    uint32_t v = (uint32_t)(R[l] >> sh);
                    memcpy(p, &v, esz);
                } else {
                    uint32_t v = 0;
                    memcpy(&v, p, esz);
                    if (f32)
                        R[l] = v;
                    else
                        R[l] = sh ? ((R[l] & 0xffffu) | ((uint64_t)(v & 0xffffu) << 16))
                                  : ((R[l] & ~0xffffull) | (v & 0xffffu));
                }
            }
        }
        return W_RUN;
    }
    /* mma: D = A * B + C over the whole warp */
    int df32 = in->type == T_F32, cf32 = in->type2 == T_F32;
    const uint32_t *dreg = ops, *areg = ops + (df32 ? 8 : 4), *breg = areg + 8, *creg = breg + 8;
    float a[16][16], b[16][16], c[16][16];
    for (int l = 0; l < 16; l++)
        for (int e = 0; e < 16; e++) {
            uint32_t ra = (uint32_t)(RG(areg[e / 2])[l] >> ((e % 2) * 16)) & 0xffffu;
            uint32_t rb = (uint32_t)(RG(breg[e / 2])[l] >> ((e % 2) * 16)) & 0xffffu;
            a[l][e] = half_to_float((uint16_t)ra);
            b[e][l] = half_to_float((uint16_t)rb);
        }
    for (int l = 0; l < 32; l++)
        for (int e = 0; e < 8; e++) {
            int r = l / 2, col = (l % 2) * 8 + e;
            uint64_t v = cf32 ? RG(creg[e])[l] : RG(creg[e / 2])[l] >> ((e % 2) * 16);
            c[r][col] = cf32 ? u2f(v) : half_to_float((uint16_t)v);
        }
    float d[16][16];
    for (int r = 0; r < 16; r++)
        for (int col = 0; col < 16; col++) {
            float s = c[r][col];
            for (int k = 0; k < 16; k++)
                s = fmaf(a[r][k], b[k][col], s);
            d[r][col] = s;
        }
    for (uint32_t mm = m; mm; mm &= mm - 1) {
        int l = __builtin_ctz(mm);
        for (int e = 0; e < 8; e++) {
            int r = l / 2, col = (l % 2) * 8 + e;
            if (df32) {
                RG(dreg[e])[l] = f2u(d[r][col]);
            } else {
                uint64_t *R = RG(dreg[e / 2]);
                uint64_t h = float_to_half(d[r][col]);
                R[l] = (e % 2) ? ((R[l] & 0xffffu) | (h << 16)) : ((R[l] & ~0xffffull) | h);
            }
        }
    }
    return W_RUN;
}
