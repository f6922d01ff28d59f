// SPDX-License-Identifier: Apache-2.0
// The device-function half of the -rdc=true program (see jl_kernel.cu).
__device__ float poly(float x) { return (0.5f * x + 2.0f) * x - 1.0f; }

__device__ float scale_of(int i) { return (i % 3 == 0) ? 2.0f : 1.0f; }
