// SPDX-License-Identifier: Apache-2.0
// Corpus kernel: per-thread arrays with data-dependent indexing (forced into .local): a 16-entry
// insertion sort, a 32-entry table with indirect reads, and an array of structs.
struct rec {
    int key;
    float w;
};

extern "C" __global__ void local_array(const unsigned *in, int *out_sorted, int *out_mix, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    int a[16];
    unsigned table[32];
    rec rs[8];
    unsigned seed = in[i];
    for (int k = 0; k < 16; ++k) {
        seed = seed * 1664525u + 1013904223u;
        a[k] = (int)(seed >> 8) - (1 << 23);
    }
    for (int k = 1; k < 16; ++k) {
        int key = a[k];
        int j = k - 1;
        while (j >= 0 && a[j] > key) {
            a[j + 1] = a[j];
            --j;
        }
        a[j + 1] = key;
    }
    for (int k = 0; k < 16; ++k)
        out_sorted[(size_t)i * 16 + k] = a[k];
    for (int k = 0; k < 32; ++k)
        table[k] = (seed >> (k & 15)) ^ (unsigned)k;
    unsigned p = seed & 31u, acc = 0;
    for (int k = 0; k < 20; ++k) {
        acc += table[p];
        p = (table[p] + (unsigned)k) & 31u;
        table[(p * 7u) & 31u] ^= acc;
    }
    for (int k = 0; k < 8; ++k) {
        rs[k].key = (int)(table[k * 4] & 0xffu);
        rs[k].w = (float)k;
    }
    int best = 0;
    for (int k = 1; k < 8; ++k)
        if (rs[k].key > rs[best].key)
            best = k;
    out_mix[(size_t)i * 3 + 0] = (int)acc;
    out_mix[(size_t)i * 3 + 1] = rs[best].key;
    out_mix[(size_t)i * 3 + 2] = (int)rs[(acc >> 3) & 7u].w;
}
