// SPDX-License-Identifier: Apache-2.0
// Corpus kernels: one-block sorts and loops whose bodies diverge on data between __syncthreads()
// (each block sorts its own segment of blockDim.x keys in shared memory). bitonic_sort comes last so
// that its shared array does not sit at offset 0 of the module's shared window.
//  bitonic_sort: the classic bitonic network, __syncthreads() inside two nested loops and a
//    data-dependent compare-and-swap; blockDim.x a power of two (1024, 512, ...).
//  odd_even_sort: odd-even transposition sort, blockDim.x rounds, any blockDim.x (also not a
//    multiple of 32); the swap is data dependent and the loop ends at a barrier.
//  bitonic_sort_pairs: bitonic sort of key/value pairs, every thread handling two elements
//    (2 * blockDim.x keys); the swap branch holds a second, nested data-dependent branch.
//  mark_zeros (last): a compare with 0 after a barrier.
//  merge_rank: each block merges its two sorted halves by binary search (a data-dependent
//    trip count per thread) and then runs a reduce loop whose early iterations exit per warp.
extern "C" __global__ void odd_even_sort(int *data)
{
    __shared__ int s[1024];
    unsigned t = threadIdx.x, n = blockDim.x;
    int *seg = data + (size_t)blockIdx.x * n;
    s[t] = seg[t];
    __syncthreads();
    for (unsigned round = 0; round < n; ++round) {
        unsigned i = 2 * t + (round & 1u);
        if (i + 1 < n) {
            int a = s[i], b = s[i + 1];
            if (a > b) {
                s[i] = b;
                s[i + 1] = a;
            }
        }
        __syncthreads();
    }
    seg[t] = s[t];
}

extern "C" __global__ void bitonic_sort_pairs(unsigned *keys, unsigned *vals)
{
    __shared__ unsigned sk[2048];
    __shared__ unsigned sv[2048];
    unsigned t = threadIdx.x, n = 2 * blockDim.x;
    unsigned *kseg = keys + (size_t)blockIdx.x * n, *vseg = vals + (size_t)blockIdx.x * n;
    sk[t] = kseg[t];
    sv[t] = vseg[t];
    sk[t + blockDim.x] = kseg[t + blockDim.x];
    sv[t + blockDim.x] = vseg[t + blockDim.x];
    __syncthreads();
    for (unsigned k = 2; k <= n; k <<= 1) {
        for (unsigned j = k >> 1; j > 0; j >>= 1) {
            // thread t handles the pair (lo, lo + j) where lo has bit j clear
            unsigned lo = 2 * t - (t & (j - 1)), hi = lo + j;
            bool up = (lo & k) == 0;
            unsigned ka = sk[lo], kb = sk[hi];
            if ((ka > kb) == up && ka != kb) {
                sk[lo] = kb;
                sk[hi] = ka;
                unsigned va = sv[lo], vb = sv[hi];
                if (va != vb) {
                    sv[lo] = vb;
                    sv[hi] = va;
                }
            } else if (ka == kb) {
                // equal keys: order the values too, so the result is unique
                unsigned va = sv[lo], vb = sv[hi];
                if ((va > vb) == up && va != vb) {
                    sv[lo] = vb;
                    sv[hi] = va;
                }
            }
            __syncthreads();
        }
    }
    kseg[t] = sk[t];
    vseg[t] = sv[t];
    kseg[t + blockDim.x] = sk[t + blockDim.x];
    vseg[t + blockDim.x] = sv[t + blockDim.x];
}

// in: per block, 2 * blockDim.x ints whose halves are each sorted ascending (distinct values).
// out: the merged segment; sums[2 * blockIdx.x + {0,1}]: shared-memory tree sum and max of the
// segment's values, computed by a loop whose active threads shrink (whole warps idle at the barrier).
extern "C" __global__ void merge_rank(const int *in, int *out, int *sums)
{
    __shared__ int sa[1024];
    __shared__ int sb[1024];
    __shared__ int red[1024];
    __shared__ int mx[1024];
    unsigned t = threadIdx.x, h = blockDim.x;
    const int *seg = in + (size_t)blockIdx.x * 2 * h;
    sa[t] = seg[t];
    sb[t] = seg[h + t];
    __syncthreads();
    // rank of sa[t] in sb: number of sb elements < sa[t] (binary search, data-dependent trips)
    int va = sa[t], vb = sb[t];
    unsigned lo = 0, hi = h;
    while (lo < hi) {
        unsigned mid = (lo + hi) >> 1;
        if (sb[mid] < va)
            lo = mid + 1;
        else
            hi = mid;
    }
    unsigned ra = t + lo;
    lo = 0;
    hi = h;
    while (lo < hi) {
        unsigned mid = (lo + hi) >> 1;
        if (sa[mid] <= vb)
            lo = mid + 1;
        else
            hi = mid;
    }
    unsigned rb = t + lo;
    __syncthreads();
    out[(size_t)blockIdx.x * 2 * h + ra] = va;
    out[(size_t)blockIdx.x * 2 * h + rb] = vb;
    red[t] = va + vb;
    mx[t] = va > vb ? va : vb;
    __syncthreads();
    // tree sum and max for any h: fold the upper part onto the lower until one element is left;
    // the max only stores when the incoming value is larger (a data-dependent branch)
    for (unsigned m = h; m > 1;) {
        unsigned half = (m + 1) >> 1;
        if (t + half < m) {
            red[t] += red[t + half];
            int x = mx[t + half];
            if (x > mx[t])
                mx[t] = x;
        }
        m = half;
        __syncthreads();
    }
    if (t == 0) {
        sums[2 * blockIdx.x] = red[0];
        sums[2 * blockIdx.x + 1] = mx[0];
    }
}

extern "C" __global__ void bitonic_sort(unsigned *data)
{
    __shared__ unsigned s[1024];
    unsigned t = threadIdx.x, n = blockDim.x;
    unsigned *seg = data + (size_t)blockIdx.x * n;
    s[t] = seg[t];
    __syncthreads();
    for (unsigned k = 2; k <= n; k <<= 1) {
        for (unsigned j = k >> 1; j > 0; j >>= 1) {
            unsigned ixj = t ^ j;
            if (ixj > t) {
                unsigned a = s[t], b = s[ixj];
                if ((t & k) == 0) {
                    if (a > b) {
                        s[t] = b;
                        s[ixj] = a;
                    }
                } else {
                    if (a < b) {
                        s[t] = b;
                        s[ixj] = a;
                    }
                }
            }
            __syncthreads();
        }
    }
    seg[t] = s[t];
}

// Marks the zero keys of a reversed block (its shared array sits past the others): a plain
// comparison with 0 after a barrier, whose answer is wrong without an error if the immediate 0
// is confused with the array's address.
extern "C" __global__ void mark_zeros(const int *in, int *out)
{
    __shared__ int rev[1024];
    unsigned t = threadIdx.x, n = blockDim.x;
    size_t base = (size_t)blockIdx.x * n;
    rev[n - 1 - t] = in[base + t];
    __syncthreads();
    out[base + t] = rev[t] == 0 ? 11 : 22;
}
