// rdc_helper.cu — compiled with -rdc=true: the device function rdc_main.cu declares.
#include "rdc_common.cuh"

__device__ float poly(float x, int k)
{
    float r = 1.0f;
    for (int j = 0; j < k; j++) r = r * x + twice((float)(j + 1)) * 0.5f;
    return r;
}
