// SPDX-License-Identifier: Apache-2.0
// Corpus kernel: every atomic on contended addresses. Each thread applies each operation once;
// results that are order-independent are checked exactly, and the values returned by atomicAdd
// and atomicExch are checked to form a permutation (each old value seen exactly once).
//   ai[0] add 1        ai[1] min        ai[2] max        ai[3] and       ai[4] or       ai[5] xor
//   ai[6] inc (lim)    ai[7] dec (lim)  ai[8] CAS-loop increment        ai[9] sub      ai[10] exch
//   au[0] unsigned min  au[1] unsigned max  au[2] inc  (unsigned long long: ul[0] add, ul[1] min, ul[2] max, ul[3] CAS)
//   af[0] float add (integer-valued, exact)  ad[0] double add
#define ATOM_INC_LIMIT 1000u
#define ATOM_DEC_LIMIT 777u

extern "C" __global__ void atomics(const unsigned *in, int *ai, unsigned *au, unsigned long long *ul,
                                   float *af, double *ad, int *old_add, int *old_exch, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    unsigned v = in[i];
    int sv = (int)v;
    old_add[i] = atomicAdd(&ai[0], 1);
    atomicMin(&ai[1], sv);
    atomicMax(&ai[2], sv);
    atomicAnd(&ai[3], (int)(v | 0x01010101u));
    atomicOr(&ai[4], (int)(v & 0x10204080u));
    atomicXor(&ai[5], sv);
    atomicInc((unsigned *)&ai[6], ATOM_INC_LIMIT);
    atomicDec((unsigned *)&ai[7], ATOM_DEC_LIMIT);
    int cur = ai[8], seen;
    do {
        seen = cur;
        cur = atomicCAS(&ai[8], seen, seen + 1);
    } while (cur != seen);
    atomicSub(&ai[9], (int)(v & 0xffu));
    old_exch[i] = atomicExch(&ai[10], i + 1);
    atomicMin(&au[0], v);
    atomicMax(&au[1], v);
    atomicInc(&au[2], 0xffffffffu);
    atomicAdd(&ul[0], (unsigned long long)v << 20);
    atomicMin(&ul[1], ((unsigned long long)v << 32) | (unsigned)i);
    atomicMax(&ul[2], ((unsigned long long)v << 32) | (unsigned)i);
    unsigned long long c = ul[3], s;
    do {
        s = c;
        c = atomicCAS(&ul[3], s, s + (v & 0xfu));
    } while (c != s);
    atomicAdd(&af[0], (float)(int)(v % 17u) - 8.0f);
    atomicAdd(&ad[0], (double)(v & 0xfffu) * 0.5);
}
