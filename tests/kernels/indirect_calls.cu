// SPDX-License-Identifier: Apache-2.0
// Corpus kernel: calls through function pointers (a __device__ table initialized with function
// addresses, so PTX has an indirect call with a prototype and a global initialized with function
// symbols) and a dense switch, which nvcc may lower to a jump table (brx.idx).
typedef unsigned (*binop)(unsigned, unsigned);

__device__ __noinline__ unsigned op_add(unsigned a, unsigned b) { return a + b; }
__device__ __noinline__ unsigned op_xor(unsigned a, unsigned b) { return a ^ (b << 3); }
__device__ __noinline__ unsigned op_rot(unsigned a, unsigned b) { return (a << (b & 31u)) | (a >> ((32u - (b & 31u)) & 31u)); }
__device__ __noinline__ unsigned op_mulhi(unsigned a, unsigned b) { return __umulhi(a, b) + 1u; }

__device__ binop g_ops[4] = {op_add, op_xor, op_rot, op_mulhi};

extern "C" __global__ void indirect_calls(const unsigned *a, const unsigned *b, unsigned *out, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n)
        return;
    unsigned x = a[i], y = b[i];
    binop f = g_ops[x & 3u];
    unsigned r = f(x, y);
    binop g = (y & 1u) ? op_mulhi : op_add;
    r ^= g(r, y);
    unsigned s;
    switch ((x >> 4) & 15u) {
    case 0: s = x + 1u; break;
    case 1: s = y * 3u; break;
    case 2: s = x ^ y; break;
    case 3: s = x - y; break;
    case 4: s = x * y; break;
    case 5: s = x | 0x80000000u; break;
    case 6: s = y >> 3; break;
    case 7: s = ~x; break;
    case 8: s = x + y + 7u; break;
    case 9: s = (x & 0xffffu) * 9u; break;
    case 10: s = y - 11u; break;
    case 11: s = x << 2; break;
    case 12: s = (x > y) ? x : y; break;
    case 13: s = 13u; break;
    case 14: s = x % 14u; break;
    default: s = y / 15u; break;
    }
    out[2 * i] = r;
    out[2 * i + 1] = s;
}
