// SPDX-License-Identifier: Apache-2.0
// empty_kernel.cu — the kernel of lepton-bench's rtt and pipeline scenarios: it does nothing, so a
// job's time is the system's own cost. PTX committed as empty_kernel.ptx (nvcc -ptx -arch=sm_75).
extern "C" __global__ void empty_kernel() {}
