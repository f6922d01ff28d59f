/* SPDX-License-Identifier: Apache-2.0
 * thrust_basics.cu — Thrust (shipped with the toolkit) the way application code uses it:
 * device_vector from host data, sort, sort_by_key, reduce, transform with a functor, inclusive_scan
 * and count_if. Thrust launches CUB's kernels through the runtime, so this is CUB's dispatch again
 * from another door. Every result compared with the host. */
#include "rt_common.h"

#include <thrust/count.h>
#include <thrust/device_vector.h>
#include <thrust/host_vector.h>
#include <thrust/reduce.h>
#include <thrust/scan.h>
#include <thrust/sequence.h>
#include <thrust/sort.h>
#include <thrust/transform.h>

#include <algorithm>
#include <vector>

struct square_plus {
    float c;
    __host__ __device__ float operator()(float x) const { return x * x + c; }
};
struct is_odd {
    __host__ __device__ bool operator()(int x) const { return x & 1; }
};

int main(void)
{
    const int n = 100000;
    std::vector<int> h(n);
    unsigned s = 1;
    for (int i = 0; i < n; i++) s = s * 1103515245u + 12345u, h[i] = (int)((s >> 8) % 1000000);
    thrust::device_vector<int> d(h.begin(), h.end());
    thrust::device_vector<int> vals(n);
    thrust::sequence(vals.begin(), vals.end());
    thrust::device_vector<int> keys = d;
    thrust::sort_by_key(keys.begin(), keys.end(), vals.begin());
    thrust::sort(d.begin(), d.end());
    std::vector<int> ref = h;
    std::sort(ref.begin(), ref.end());
    thrust::host_vector<int> sorted = d, k2 = keys, v2 = vals;
    int bad = 0;
    for (int i = 0; i < n; i++) bad += sorted[i] != ref[i] || k2[i] != ref[i] || h[v2[i]] != k2[i];
    EXPECT(bad == 0, "sort / sort_by_key: %d of %d wrong", bad, n);

    long long sum = thrust::reduce(d.begin(), d.end(), 0LL), want = 0;
    for (int x : h) want += x;
    EXPECT(sum == want, "reduce %lld, want %lld", sum, want);
    long long odd = thrust::count_if(d.begin(), d.end(), is_odd()), want_odd = 0;
    for (int x : h) want_odd += x & 1;
    EXPECT(odd == want_odd, "count_if %lld, want %lld", odd, want_odd);

    thrust::device_vector<float> f(1000);
    thrust::sequence(f.begin(), f.end(), 0.5f, 0.25f);
    thrust::transform(f.begin(), f.end(), f.begin(), square_plus{3.0f});
    thrust::inclusive_scan(f.begin(), f.end(), f.begin());
    thrust::host_vector<float> fh = f;
    double run = 0;
    bad = 0;
    for (int i = 0; i < 1000; i++) {
        float x = 0.5f + 0.25f * (float)i;
        run += (double)(x * x + 3.0f);
        if (fabs(fh[i] - run) > 1e-5 * run) bad++;
    }
    EXPECT(bad == 0, "transform + inclusive_scan: %d of 1000 off", bad);
    RT_CHECK(cudaDeviceSynchronize());
    printf("thrust_basics: %d keys sorted, sum %lld, %lld odd, scan of 1000 squares %.1f\n", n, sum, odd, fh[999]);
    return rt_finish("thrust_basics");
}
