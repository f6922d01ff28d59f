/* fatbin.c — image containers: picks the PTX entry of an nvcc fatbin (directly or behind a
 * __fatBinC_Wrapper_t) for the device's architecture and decompresses it (LZ4 block format or a
 * ZSTD frame, RFC 8878, both decoded here and bounds-checked); refuses ELF cubins and SASS-only
 * fatbins with the compile option that would have produced PTX. */
#include "fatbin.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_IMAGE_BYTES (1ull << 30) /* a decompressed entry larger than this is refused */

static uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | rd16(p + 2) << 16; }
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static int highbit(uint32_t v) { return 31 - __builtin_clz(v); } /* v != 0 */

/* ------------------------------------------------------------------------------------------ */
/* LZ4 block format: tokens of literal length / match length, 16-bit little-endian offsets.   */
int fatbin_lz4_decode(const uint8_t *src, size_t n, uint8_t *dst, size_t cap) {
    size_t ip = 0, op = 0;
    while (ip < n) {
        unsigned tok = src[ip++];
        size_t lit = tok >> 4;
        if (lit == 15) {
            unsigned b;
            do {
                if (ip >= n) return -1;
                b = src[ip++];
                lit += b;
            } while (b == 255 && lit < cap);
        }
        if (lit > n - ip || lit > cap - op) return -1;
        memcpy(dst + op, src + ip, lit);
        ip += lit;
        op += lit;
        if (ip == n) break; /* the last sequence has literals only */
        if (n - ip < 2) return -1;
        size_t off = rd16(src + ip);
        ip += 2;
        if (off == 0 || off > op) return -1;
        size_t ml = tok & 15u;
        if (ml == 15) {
            unsigned b;
            do {
                if (ip >= n) return -1;
                b = src[ip++];
                ml += b;
            } while (b == 255 && ml < cap);
        }
        ml += 4;
        if (ml > cap - op) return -1;
        for (size_t k = 0; k < ml; k++, op++)
            dst[op] = dst[op - off]; /* may overlap */
    }
    return op == cap ? 0 : -1;
}

/* ------------------------------------------------------------------------------------------ */
/* ZSTD (RFC 8878): frames of raw / RLE / compressed blocks; literals Huffman-coded, sequences  */
/* FSE-coded. No dictionaries (nvcc uses none).                                               */

/* Backward bit stream: read from the end towards the start, the last byte's top set bit marks
 * where the data begins. Bits past the start read as zero; bit < 0 then flags an overrun. */
typedef struct bback {
    const uint8_t *p;
    int64_t bit; /* number of unread bits */
} bback;

static int bb_init(bback *b, const uint8_t *p, size_t n) {
    if (n == 0 || p[n - 1] == 0) return -1;
    b->p = p;
    b->bit = (int64_t)(n - 1) * 8 + highbit(p[n - 1]);
    return 0;
}

static uint64_t bb_peek(const bback *b, unsigned nb) /* nb <= 56 */
{
    if (nb == 0 || b->bit <= 0) return 0;
    int64_t hi = b->bit, lo = hi - (int64_t)nb, start = lo < 0 ? 0 : lo;
    size_t b0 = (size_t)(start >> 3), b1 = (size_t)((hi - 1) >> 3);
    uint64_t w = 0;
    for (size_t i = b1 + 1; i-- > b0;)
        w = (w << 8) | b->p[i];
    w >>= (unsigned)(start - (int64_t)b0 * 8);
    unsigned have = (unsigned)(hi - start);
    w &= have >= 64 ? ~0ull : ((1ull << have) - 1);
    if (lo < 0) w <<= (unsigned)(-lo);
    return w;
}

static uint64_t bb_read(bback *b, unsigned nb) {
    uint64_t v = bb_peek(b, nb);
    b->bit -= nb;
    return v;
}

typedef struct fse_cell {
    uint16_t sym;
    uint8_t nb;
    uint16_t base;
} fse_cell;

typedef struct fse_table {
    int al;
    fse_cell c[512];
} fse_table;

/* Reads an FSE table description (normalised counts); returns the bytes used or -1. */
static long fse_read_norm(const uint8_t *p, size_t n, int maxsym, int maxal, int16_t *norm, int *nsym,
                          int *al) {
    size_t bit = 0, nbits = n * 8;
    if (n < 1) return -1;
    int a = (p[0] & 15) + 5;
    bit = 4;
    if (a > maxal) return -1;
    int remaining = (1 << a) + 1, threshold = 1 << a, nb = a + 1, s = 0;
    while (remaining > 1) {
        if (s > maxsym || bit + (size_t)nb > nbits + 8) return -1;
        uint32_t v = 0;
        for (int k = 0; k < nb; k++) {
            size_t q = bit + (size_t)k;
            if (q < nbits && (p[q >> 3] >> (q & 7) & 1)) v |= 1u << k;
        }
        int max = 2 * threshold - 1 - remaining, count;
        if ((int)(v & (uint32_t)(threshold - 1)) < max) {
            count = (int)(v & (uint32_t)(threshold - 1));
            bit += (size_t)nb - 1;
        } else {
            count = (int)(v & (uint32_t)(2 * threshold - 1));
            if (count >= threshold) count -= max;
            bit += (size_t)nb;
        }
        if (bit > nbits) return -1;
        count--;
        remaining -= count < 0 ? -count : count;
        norm[s++] = (int16_t)count;
        if (count == 0) {
            for (;;) {
                if (bit + 2 > nbits) return -1;
                int r = (p[bit >> 3] >> (bit & 7) & 1) | (p[(bit + 1) >> 3] >> ((bit + 1) & 7) & 1) << 1;
                bit += 2;
                for (int k = 0; k < r; k++) {
                    if (s > maxsym) return -1;
                    norm[s++] = 0;
                }
                if (r != 3) break;
            }
        }
        while (remaining < threshold && threshold > 1) {
            nb--;
            threshold >>= 1;
        }
    }
    if (remaining != 1) return -1;
    *nsym = s;
    *al = a;
    return (long)((bit + 7) / 8);
}

static int fse_build(fse_table *t, const int16_t *norm, int nsym, int al) {
    int size = 1 << al, high = size - 1;
    uint16_t next[256];
    if (nsym > 256) return -1;
    for (int s = 0; s < nsym; s++) {
        if (norm[s] == -1) {
            if (high < 0) return -1;
            t->c[high--].sym = (uint16_t)s;
            next[s] = 1;
        } else {
            next[s] = (uint16_t)norm[s];
        }
    }
    int pos = 0, step = (size >> 1) + (size >> 3) + 3, placed = 0;
    for (int s = 0; s < nsym; s++) {
        for (int i = 0; i < norm[s]; i++) {
            t->c[pos].sym = (uint16_t)s;
            placed++;
            do
                pos = (pos + step) & (size - 1);
            while (pos > high);
        }
    }
    if (pos != 0 || placed != high + 1) return -1;
    for (int u = 0; u < size; u++) {
        int s = t->c[u].sym;
        uint32_t x = next[s]++;
        if (x == 0) return -1;
        int nb = al - highbit(x);
        if (nb < 0) return -1;
        t->c[u].nb = (uint8_t)nb;
        t->c[u].base = (uint16_t)((x << nb) - (uint32_t)size);
    }
    t->al = al;
    return 0;
}

typedef struct huf_table {
    int maxbits;
    uint8_t sym[2048], nb[2048];
} huf_table;

/* Reads a Huffman tree description; returns the bytes used or -1. */
static long huf_read(huf_table *h, const uint8_t *p, size_t n) {
    uint8_t w[256];
    int nw = 0;
    long used;
    if (n < 1) return -1;
    if (p[0] < 128) {
        size_t cs = p[0];
        if (cs == 0 || cs + 1 > n) return -1;
        int16_t norm[256];
        int nsym, al;
        long u = fse_read_norm(p + 1, cs, 255, 6, norm, &nsym, &al);
        if (u < 0 || (size_t)u >= cs) return -1;
        static __thread fse_table t;
        if (fse_build(&t, norm, nsym, al) != 0) return -1;
        bback b;
        if (bb_init(&b, p + 1 + u, cs - (size_t)u) != 0) return -1;
        uint32_t s1 = (uint32_t)bb_read(&b, (unsigned)al), s2 = (uint32_t)bb_read(&b, (unsigned)al);
        if (b.bit < 0) return -1;
        for (;;) {
            if (nw > 253) return -1;
            w[nw++] = (uint8_t)t.c[s1].sym;
            s1 = t.c[s1].base + (uint32_t)bb_read(&b, t.c[s1].nb);
            if (b.bit < 0) {
                w[nw++] = (uint8_t)t.c[s2].sym;
                break;
            }
            w[nw++] = (uint8_t)t.c[s2].sym;
            s2 = t.c[s2].base + (uint32_t)bb_read(&b, t.c[s2].nb);
            if (b.bit < 0) {
                if (nw > 254) return -1;
                w[nw++] = (uint8_t)t.c[s1].sym;
                break;
            }
        }
        used = (long)cs + 1;
    } else {
        nw = p[0] - 127;
        size_t nbytes = ((size_t)nw + 1) / 2;
        if (nbytes + 1 > n) return -1;
        for (int i = 0; i < nw; i++)
            w[i] = (uint8_t)(i & 1 ? p[1 + i / 2] & 15 : p[1 + i / 2] >> 4);
        used = (long)nbytes + 1;
    }
    uint32_t sum = 0;
    for (int i = 0; i < nw; i++) {
        if (w[i] > 11) return -1;
        if (w[i]) sum += 1u << (w[i] - 1);
    }
    if (sum == 0 || nw > 255) return -1;
    int maxbits = highbit(sum) + 1;
    if (maxbits > 11) return -1;
    uint32_t rest = (1u << maxbits) - sum;
    if (rest & (rest - 1)) return -1;
    w[nw++] = (uint8_t)(highbit(rest) + 1);
    uint32_t pos = 0;
    for (int wt = 1; wt <= maxbits; wt++)
        for (int s = 0; s < nw; s++) {
            if (w[s] != wt) continue;
            uint32_t len = 1u << (wt - 1);
            if (pos + len > (1u << maxbits)) return -1;
            memset(h->sym + pos, s, len);
            memset(h->nb + pos, maxbits + 1 - wt, len);
            pos += len;
        }
    if (pos != 1u << maxbits) return -1;
    h->maxbits = maxbits;
    return used;
}

static int huf_stream(const huf_table *h, const uint8_t *p, size_t n, uint8_t *out, size_t cnt) {
    bback b;
    if (bb_init(&b, p, n) != 0) return -1;
    for (size_t i = 0; i < cnt; i++) {
        unsigned v = (unsigned)bb_peek(&b, (unsigned)h->maxbits);
        out[i] = h->sym[v];
        b.bit -= h->nb[v];
        if (b.bit < 0) return -1;
    }
    return b.bit == 0 ? 0 : -1;
}

typedef struct zctx {
    uint8_t *out;
    size_t cap, pos;
    uint8_t lit[1 << 17];
    size_t nlit;
    huf_table huf;
    int have_huf;
    fse_table ll, of, ml;
    int have_ll, have_of, have_ml;
    uint32_t rep[3];
} zctx;

static long literals(zctx *z, const uint8_t *p, size_t n) {
    if (n < 1) return -1;
    unsigned type = p[0] & 3, sf = (p[0] >> 2) & 3;
    size_t regen, hsz;
    if (type < 2) {
        if (sf == 0 || sf == 2) {
            hsz = 1;
            regen = p[0] >> 3;
        } else if (sf == 1) {
            if (n < 2) return -1;
            hsz = 2;
            regen = (p[0] >> 4) | (size_t)p[1] << 4;
        } else {
            if (n < 3) return -1;
            hsz = 3;
            regen = (p[0] >> 4) | (size_t)p[1] << 4 | (size_t)p[2] << 12;
        }
        if (regen > sizeof z->lit) return -1;
        if (type == 0) {
            if (regen > n - hsz) return -1;
            memcpy(z->lit, p + hsz, regen);
            z->nlit = regen;
            return (long)(hsz + regen);
        }
        if (n < hsz + 1) return -1;
        memset(z->lit, p[hsz], regen);
        z->nlit = regen;
        return (long)hsz + 1;
    }
    unsigned bits = sf < 2 ? 10 : sf == 2 ? 14 : 18;
    hsz = sf < 2 ? 3 : sf == 2 ? 4 : 5;
    if (n < hsz) return -1;
    uint64_t hv = 0;
    for (size_t i = hsz; i-- > 0;)
        hv = hv << 8 | p[i];
    regen = (size_t)(hv >> 4) & ((1u << bits) - 1);
    size_t csz = (size_t)(hv >> (4 + bits)) & ((1u << bits) - 1);
    int streams = sf == 0 ? 1 : 4;
    if (regen > sizeof z->lit || csz > n - hsz) return -1;
    const uint8_t *q = p + hsz;
    size_t qn = csz;
    if (type == 2) {
        long u = huf_read(&z->huf, q, qn);
        if (u < 0) return -1;
        z->have_huf = 1;
        q += u;
        qn -= (size_t)u;
    } else if (!z->have_huf) {
        return -1;
    }
    if (streams == 1) {
        if (huf_stream(&z->huf, q, qn, z->lit, regen) != 0) return -1;
    } else {
        if (qn < 6) return -1;
        size_t s1 = rd16(q), s2 = rd16(q + 2), s3 = rd16(q + 4);
        if (s1 + s2 + s3 > qn - 6) return -1;
        size_t s4 = qn - 6 - s1 - s2 - s3, per = (regen + 3) / 4;
        if (per * 3 > regen) return -1;
        const uint8_t *d = q + 6;
        if (huf_stream(&z->huf, d, s1, z->lit, per) != 0 ||
            huf_stream(&z->huf, d + s1, s2, z->lit + per, per) != 0 ||
            huf_stream(&z->huf, d + s1 + s2, s3, z->lit + 2 * per, per) != 0 ||
            huf_stream(&z->huf, d + s1 + s2 + s3, s4, z->lit + 3 * per, regen - 3 * per) != 0)
            return -1;
    }
    z->nlit = regen;
    return (long)(hsz + csz);
}

static const int16_t LL_DEFAULT[36] = {4, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1,  1,  2,  2,
                                       2, 2, 2, 2, 2, 2, 2, 3, 2, 1, 1, 1, 1, 1, -1, -1, -1, -1};
static const int16_t ML_DEFAULT[53] = {1, 4, 3, 2, 2, 2, 2, 2, 2, 1, 1,  1,  1,  1,  1,  1,  1, 1,
                                       1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,  1,  1,  1,  1,  1,  1, 1,
                                       1, 1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1, -1, -1};
static const int16_t OF_DEFAULT[29] = {1, 1, 1, 1, 1, 1, 2, 2, 2, 1,  1,  1,  1,  1, 1,
                                       1, 1, 1, 1, 1, 1, 1, 1, 1, -1, -1, -1, -1, -1};
static const uint32_t LL_BASE[36] = {0,  1,  2,   3,   4,   5,    6,    7,    8,    9,     10,    11,
                                     12, 13, 14,  15,  16,  18,   20,   22,   24,   28,    32,    40,
                                     48, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536};
static const uint8_t LL_BITS[36] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  0,  0,  0,  0,  1,  1,
                                    1, 1, 2, 2, 3, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const uint32_t ML_BASE[53] = {
    3,  4,  5,  6,  7,  8,  9,  10,  11,  12,  13,   14,   15,   16,   17,    18,    19,   20,
    21, 22, 23, 24, 25, 26, 27, 28,  29,  30,  31,   32,   33,   34,   35,    37,    39,   41,
    43, 47, 51, 59, 67, 83, 99, 131, 259, 515, 1027, 2051, 4099, 8195, 16387, 32771, 65539};
static const uint8_t ML_BITS[53] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  0,  0,  0,  0,  0,  0, 0,
                                    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  0,  0,  0,  1,  1,  1, 1,
                                    2, 2, 3, 3, 4, 4, 5, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

/* Sets up one of the three sequence tables from its compression mode; returns bytes used or -1. */
static long seq_table(fse_table *t, int *have, unsigned mode, const uint8_t *p, size_t n, const int16_t *def,
                      int ndef, int defal, int maxsym, int maxal) {
    if (mode == 0) {
        if (fse_build(t, def, ndef, defal) != 0) return -1;
        *have = 1;
        return 0;
    }
    if (mode == 1) {
        if (n < 1 || p[0] > maxsym) return -1;
        t->al = 0;
        t->c[0].sym = p[0];
        t->c[0].nb = 0;
        t->c[0].base = 0;
        *have = 1;
        return 1;
    }
    if (mode == 2) {
        int16_t norm[256];
        int nsym, al;
        long u = fse_read_norm(p, n, maxsym, maxal, norm, &nsym, &al);
        if (u < 0 || fse_build(t, norm, nsym, al) != 0) return -1;
        *have = 1;
        return u;
    }
    return *have ? 0 : -1;
}

static int sequences(zctx *z, const uint8_t *p, size_t n) {
    if (n < 1) return -1;
    size_t nseq, i = 0;
    if (p[0] < 128) {
        nseq = p[0];
        i = 1;
    } else if (p[0] < 255) {
        if (n < 2) return -1;
        nseq = ((size_t)(p[0] - 128) << 8) + p[1];
        i = 2;
    } else {
        if (n < 3) return -1;
        nseq = p[1] + ((size_t)p[2] << 8) + 0x7f00;
        i = 3;
    }
    size_t lp = 0;
    if (nseq > 0) {
        if (i >= n) return -1;
        unsigned modes = p[i++];
        if (modes & 3) return -1;
        long u;
        if ((u = seq_table(&z->ll, &z->have_ll, modes >> 6, p + i, n - i, LL_DEFAULT, 36, 6, 35, 9)) < 0)
            return -1;
        i += (size_t)u;
        if ((u = seq_table(&z->of, &z->have_of, (modes >> 4) & 3, p + i, n - i, OF_DEFAULT, 29, 5, 31, 8)) <
            0)
            return -1;
        i += (size_t)u;
        if ((u = seq_table(&z->ml, &z->have_ml, (modes >> 2) & 3, p + i, n - i, ML_DEFAULT, 53, 6, 52, 9)) <
            0)
            return -1;
        i += (size_t)u;
        bback b;
        if (i >= n || bb_init(&b, p + i, n - i) != 0) return -1;
        uint32_t sll = (uint32_t)bb_read(&b, (unsigned)z->ll.al),
                 sof = (uint32_t)bb_read(&b, (unsigned)z->of.al),
                 sml = (uint32_t)bb_read(&b, (unsigned)z->ml.al);
        for (size_t k = 0; k < nseq; k++) {
            unsigned ofc = z->of.c[sof].sym, mlc = z->ml.c[sml].sym, llc = z->ll.c[sll].sym;
            if (ofc > 31 || mlc > 52 || llc > 35) return -1;
            uint64_t ofv = (1ull << ofc) + bb_read(&b, ofc);
            size_t ml = ML_BASE[mlc] + (size_t)bb_read(&b, ML_BITS[mlc]);
            size_t ll = LL_BASE[llc] + (size_t)bb_read(&b, LL_BITS[llc]);
            if (k + 1 < nseq) {
                sll = z->ll.c[sll].base + (uint32_t)bb_read(&b, z->ll.c[sll].nb);
                sml = z->ml.c[sml].base + (uint32_t)bb_read(&b, z->ml.c[sml].nb);
                sof = z->of.c[sof].base + (uint32_t)bb_read(&b, z->of.c[sof].nb);
            }
            if (b.bit < 0) return -1;
            uint64_t off;
            if (ofv > 3) {
                off = ofv - 3;
                z->rep[2] = z->rep[1];
                z->rep[1] = z->rep[0];
                z->rep[0] = (uint32_t)(off > 0xffffffffu ? 0xffffffffu : off);
            } else {
                unsigned idx = (unsigned)ofv - 1 + (ll == 0);
                if (idx == 0) {
                    off = z->rep[0];
                } else {
                    off = idx == 3 ? (uint64_t)z->rep[0] - 1 : z->rep[idx];
                    if (idx != 1) z->rep[2] = z->rep[1];
                    z->rep[1] = z->rep[0];
                    z->rep[0] = (uint32_t)off;
                }
            }
            if (ll > z->nlit - lp || ll > z->cap - z->pos) return -1;
            memcpy(z->out + z->pos, z->lit + lp, ll);
            lp += ll;
            z->pos += ll;
            if (off == 0 || off > z->pos || ml > z->cap - z->pos) return -1;
            for (size_t m = 0; m < ml; m++, z->pos++)
                z->out[z->pos] = z->out[z->pos - off];
        }
        if (b.bit != 0) return -1;
    } else if (i != n) {
        return -1;
    }
    size_t rest = z->nlit - lp;
    if (rest > z->cap - z->pos) return -1;
    memcpy(z->out + z->pos, z->lit + lp, rest);
    z->pos += rest;
    return 0;
}

int fatbin_zstd_decode(const uint8_t *src, size_t n, uint8_t *dst, size_t cap) {
    zctx *z = calloc(1, sizeof *z);
    if (!z) return -1;
    z->out = dst;
    z->cap = cap;
    size_t i = 0;
    int rc = 0, frames = 0;
    while (rc == 0 && i < n) {
        if (n - i < 4) {
            rc = -1;
            break;
        }
        uint32_t magic = rd32(src + i);
        if ((magic & 0xfffffff0u) == 0x184d2a50u) { /* skippable frame */
            if (n - i < 8 || rd32(src + i + 4) > n - i - 8) {
                rc = -1;
                break;
            }
            i += 8 + rd32(src + i + 4);
            continue;
        }
        if (magic != 0xfd2fb528u || n - i < 5) {
            rc = -1;
            break;
        }
        unsigned fhd = src[i + 4];
        i += 5;
        unsigned fcsflag = fhd >> 6, single = (fhd >> 5) & 1, checksum = (fhd >> 2) & 1, did = fhd & 3;
        size_t hdr = (single ? 0 : 1) + (did == 3 ? 4 : did) + (fcsflag == 0 ? single : 1u << fcsflag);
        if ((fhd & 8) || hdr > n - i) {
            rc = -1;
            break;
        }
        if (!single) i++;
        uint32_t dict = 0;
        for (size_t k = 0, dn = did == 3 ? 4 : did; k < dn; k++)
            dict |= (uint32_t)src[i++] << (8 * k);
        if (dict != 0) { /* dictionaries are not used by nvcc */
            rc = -1;
            break;
        }
        size_t fcsn = fcsflag == 0 ? single : 1u << fcsflag, start = z->pos;
        uint64_t fcs = 0;
        for (size_t k = 0; k < fcsn; k++)
            fcs |= (uint64_t)src[i++] << (8 * k);
        if (fcsn == 2) fcs += 256;
        z->have_huf = z->have_ll = z->have_of = z->have_ml = 0;
        z->rep[0] = 1;
        z->rep[1] = 4;
        z->rep[2] = 8;
        for (int last = 0; !last && rc == 0;) {
            if (n - i < 3) {
                rc = -1;
                break;
            }
            uint32_t bh = src[i] | (uint32_t)src[i + 1] << 8 | (uint32_t)src[i + 2] << 16;
            i += 3;
            last = bh & 1;
            unsigned type = (bh >> 1) & 3;
            size_t bs = bh >> 3;
            if (type == 1) {
                if (n - i < 1 || bs > cap - z->pos)
                    rc = -1;
                else {
                    memset(dst + z->pos, src[i], bs);
                    z->pos += bs;
                    i += 1;
                }
            } else if (type == 0) {
                if (bs > n - i || bs > cap - z->pos)
                    rc = -1;
                else {
                    memcpy(dst + z->pos, src + i, bs);
                    z->pos += bs;
                    i += bs;
                }
            } else if (type == 2) {
                if (bs > n - i || bs > (1u << 17))
                    rc = -1;
                else {
                    long u = literals(z, src + i, bs);
                    if (u < 0 || sequences(z, src + i + u, bs - (size_t)u) != 0) rc = -1;
                    i += bs;
                }
            } else {
                rc = -1;
            }
        }
        if (rc == 0 && fcsn && fcs != z->pos - start) rc = -1;
        if (rc == 0 && checksum) {
            if (n - i < 4)
                rc = -1;
            else
                i += 4; /* XXH64 of the content: the size checks already catch truncation */
        }
        frames++;
    }
    if (rc == 0 && (frames == 0 || z->pos != cap)) rc = -1;
    free(z);
    return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Containers.                                                                                */

static CUresult fail(CUresult r, char *log, size_t logsz, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static CUresult fail(CUresult r, char *log, size_t logsz, const char *fmt, ...) {
    if (log && logsz) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(log, logsz, fmt, ap);
        va_end(ap);
    }
    return r;
}

#define ENTRY_PTX 1
#define ENTRY_ELF 2
#define ENTRY_LTO 8 /* NVVM IR for link-time optimisation (code=lto_XX) */
#define ENTRY_FLAG_LZ4 0x2000ull
#define ENTRY_FLAG_ZSTD 0x8000ull

static CUresult no_binary(int sm, const char *what, char *log, size_t logsz) {
    if (sm <= 0)
        return fail(CUDA_ERROR_NO_BINARY_FOR_GPU, log, logsz,
                    "cudaemu: %s: this image holds only machine code for a GPU; the CPU driver needs PTX "
                    "(compile with "
                    "-gencode arch=compute_XX,code=compute_XX)",
                    what);
    return fail(
        CUDA_ERROR_NO_BINARY_FOR_GPU, log, logsz,
        "cudaemu: %s: this image holds only machine code for sm_%d; the CPU driver needs PTX (compile with "
        "-gencode arch=compute_%d,code=compute_%d)",
        what, sm, sm, sm);
}

static int elf_sm(const uint8_t *e, size_t n) {
    if (n < 52) return 0;
    uint32_t flags = e[4] == 2 ? (n >= 64 ? rd32(e + 48) : 0) : rd32(e + 36);
    return e[7] == 0x41 && e[8] >= 8 ? (int)((flags >> 8) & 0xff) : (int)(flags & 0xff);
}

static CUresult fatbin_ptx(const uint8_t *fb, size_t size, image_ptx *out, char *log, size_t logsz) {
    if (size && size < 16)
        return fail(CUDA_ERROR_INVALID_IMAGE, log, logsz, "cudaemu: fatbin shorter than its header");
    uint32_t hsz = rd16(fb + 6);
    uint64_t body = rd64(fb + 8);
    if (rd16(fb + 4) != 1 || hsz < 16 || hsz > 4096 || body > MAX_IMAGE_BYTES)
        return fail(CUDA_ERROR_INVALID_IMAGE, log, logsz,
                    "cudaemu: fatbin header (version %u, header size %u) not understood", rd16(fb + 4), hsz);
    uint64_t total = hsz + body;
    if (size && total > size)
        return fail(CUDA_ERROR_INVALID_IMAGE, log, logsz,
                    "cudaemu: fatbin truncated: the header announces %llu bytes, the image has %zu",
                    (unsigned long long)total, size);
    const uint8_t *best = NULL, *higher = NULL;
    int best_arch = -1, higher_arch = 1 << 30, sass_arch = 0, lto_arch = 0, entries = 0;
    for (uint64_t off = hsz; off < total;) {
        if (total - off < 16)
            return fail(CUDA_ERROR_INVALID_IMAGE, log, logsz, "cudaemu: fatbin entry header truncated");
        const uint8_t *e = fb + off;
        uint32_t ehs = rd32(e + 4);
        uint64_t psz = rd64(e + 8);
        if (ehs < 64 || ehs > total - off || psz > total - off - ehs)
            return fail(CUDA_ERROR_INVALID_IMAGE, log, logsz,
                        "cudaemu: fatbin entry %d at offset %llu runs past the container (header %u, payload "
                        "%llu bytes)",
                        entries, (unsigned long long)off, ehs, (unsigned long long)psz);
        unsigned kind = rd16(e);
        int arch = (int)rd32(e + 28);
        if (kind == ENTRY_PTX) {
            if (arch <= FATBIN_DEVICE_SM && arch > best_arch) {
                best = e;
                best_arch = arch;
            } else if (arch > FATBIN_DEVICE_SM && arch < higher_arch) {
                higher = e;
                higher_arch = arch;
            }
        } else if (kind == ENTRY_ELF && !sass_arch) {
            sass_arch = arch;
        } else if (kind == ENTRY_LTO && !lto_arch) {
            lto_arch = arch;
        }
        entries++;
        off += ehs + psz;
    }
    if (!best && higher) {
        best = higher;
        best_arch = higher_arch;
    }
    if (!best) {
        if (sass_arch) return no_binary(sass_arch, "fatbin", log, logsz);
        if (lto_arch)
            return fail(CUDA_ERROR_NO_BINARY_FOR_GPU, log, logsz,
                        "cudaemu: fatbin: this image holds only LTO IR for compute_%d (code=lto_%d); the CPU "
                        "driver needs "
                        "PTX (compile with -gencode arch=compute_%d,code=compute_%d)",
                        lto_arch, lto_arch, lto_arch, lto_arch);
        return fail(CUDA_ERROR_INVALID_IMAGE, log, logsz, "cudaemu: fatbin with %d entries holds no PTX",
                    entries);
    }
    uint32_t ehs = rd32(best + 4);
    uint64_t psz = rd64(best + 8), csz = rd32(best + 16), flags = rd64(best + 40), usz = rd64(best + 56);
    const uint8_t *pay = best + ehs;
    out->arch = best_arch;
    if (!(flags & (ENTRY_FLAG_LZ4 | ENTRY_FLAG_ZSTD))) {
        out->text = (const char *)pay;
        out->len = strnlen((const char *)pay, (size_t)psz);
        out->owned = NULL;
        return CUDA_SUCCESS;
    }
    if (!csz) csz = psz;
    if ((flags & ENTRY_FLAG_LZ4) && (flags & ENTRY_FLAG_ZSTD))
        return fail(CUDA_ERROR_INVALID_IMAGE, log, logsz,
                    "cudaemu: fatbin PTX entry flags both LZ4 and ZSTD compression");
    if (csz > psz || usz == 0 || usz > MAX_IMAGE_BYTES)
        return fail(
            CUDA_ERROR_INVALID_IMAGE, log, logsz,
            "cudaemu: fatbin PTX entry sizes inconsistent (compressed %llu in %llu, uncompressed %llu)",
            (unsigned long long)csz, (unsigned long long)psz, (unsigned long long)usz);
    char *buf = malloc((size_t)usz + 1);
    if (!buf)
        return fail(CUDA_ERROR_OUT_OF_MEMORY, log, logsz, "cudaemu: no memory for a %llu-byte PTX",
                    (unsigned long long)usz);
    int rc = (flags & ENTRY_FLAG_LZ4) ? fatbin_lz4_decode(pay, (size_t)csz, (uint8_t *)buf, (size_t)usz)
                                      : fatbin_zstd_decode(pay, (size_t)csz, (uint8_t *)buf, (size_t)usz);
    if (rc != 0) {
        free(buf);
        return fail(
            CUDA_ERROR_INVALID_IMAGE, log, logsz,
            "cudaemu: fatbin PTX entry for compute_%d: corrupt %s data (%llu bytes that should give %llu)",
            best_arch, (flags & ENTRY_FLAG_LZ4) ? "LZ4" : "ZSTD", (unsigned long long)csz,
            (unsigned long long)usz);
    }
    buf[usz] = 0;
    out->owned = buf;
    out->text = buf;
    out->len = strnlen(buf, (size_t)usz);
    return CUDA_SUCCESS;
}

CUresult image_ptx_get(const void *image, size_t size, image_ptx *out, char *log, size_t logsz) {
    memset(out, 0, sizeof *out);
    if (log && logsz) log[0] = 0;
    const uint8_t *p = image;
    if (!p) return fail(CUDA_ERROR_INVALID_VALUE, log, logsz, "cudaemu: NULL image");
    /* an image of unknown size (cuModuleLoadData) may be a short NUL-terminated text: look at no
     * more than its bytes before comparing magics */
    size_t head = size ? size : strnlen(image, 4);
    if (head < 4) {
        out->text = image;
        out->len = strnlen(image, head);
        return CUDA_SUCCESS;
    }
    uint32_t magic = rd32(p);
    if (magic == FATBIN_WRAPPER_MAGIC) {
        if (size && size < 16)
            return fail(CUDA_ERROR_INVALID_IMAGE, log, logsz, "cudaemu: fatbin wrapper truncated");
        const void *data;
        memcpy(&data, p + 8, sizeof data);
        uint32_t ver = rd32(p + 4);
        if ((ver != 1 && ver != 2) || !data)
            return fail(CUDA_ERROR_INVALID_IMAGE, log, logsz,
                        "cudaemu: __fatBinC_Wrapper_t version %u / data %p not understood", ver, data);
        if (size) { /* an image of known size (a fuzzer, a file) cannot carry a pointer we may follow */
            return fail(CUDA_ERROR_INVALID_IMAGE, log, logsz,
                        "cudaemu: a __fatBinC_Wrapper_t is only valid in memory");
        }
        if (rd32(data) != FATBIN_MAGIC)
            return fail(CUDA_ERROR_INVALID_IMAGE, log, logsz,
                        "cudaemu: __fatBinC_Wrapper_t does not point to a fatbin");
        return fatbin_ptx(data, 0, out, log, logsz);
    }
    if (magic == FATBIN_MAGIC) return fatbin_ptx(p, size, out, log, logsz);
    if (p[0] == 0x7f && p[1] == 'E' && p[2] == 'L' && p[3] == 'F') {
        /* byte by byte, so a short NUL-terminated "\x7fELF" is not read past its end; an image of
         * known size must hold the identification bytes */
        if ((size && size < 16) || !(p[4] == 1 || p[4] == 2) || p[5] != 1 || p[6] != 1)
            return fail(CUDA_ERROR_INVALID_IMAGE, log, logsz,
                        "cudaemu: an ELF image that is not a little-endian cubin; load PTX text or a fatbin "
                        "holding PTX");
        return no_binary(elf_sm(p, size ? size : 64), "cubin (ELF)", log, logsz);
    }
    out->text = image;
    out->len = strnlen(image, size ? size : (256u << 20));
    return CUDA_SUCCESS;
}

void image_ptx_release(image_ptx *p) {
    if (!p) return;
    free(p->owned);
    memset(p, 0, sizeof *p);
}
