/* SPDX-License-Identifier: Apache-2.0
 * pitched.cu — pitched 2D and 3D memory as image and volume code uses it: cudaMallocPitch with
 * cudaMemcpy2D both ways and cudaMemset2D, cudaMemcpy2DAsync on a stream, cudaMalloc3D with
 * cudaMemcpy3D both ways (a sub-box at an offset), and kernels that address rows by the pitch.
 * Every element checked on the host. */
#include "rt_common.h"

__global__ void mark2d(float *p, size_t pitch, int w, int h)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y;
    if (x < w && y < h) {
        float *row = (float *)((char *)p + y * pitch);
        row[x] = row[x] * 2.0f + (float)(y * 1000 + x);
    }
}

__global__ void mark3d(cudaPitchedPtr v, int w, int h, int d)
{
    int x = threadIdx.x, y = blockIdx.x, z = blockIdx.y;
    if (x < w && y < h && z < d) {
        float *row = (float *)((char *)v.ptr + (z * h + y) * v.pitch);
        row[x] += (float)(z * 10000);
    }
}

int main(void)
{
    /* 2D: 77 x 33 floats */
    const int w = 77, h = 33;
    float *img = (float *)malloc(w * h * sizeof(float)), *back = (float *)malloc(w * h * sizeof(float));
    for (int i = 0; i < w * h; i++) img[i] = (float)(i % 13);
    float *d = NULL;
    size_t pitch = 0;
    RT_CHECK(cudaMallocPitch((void **)&d, &pitch, w * sizeof(float), h));
    EXPECT(pitch >= w * sizeof(float) && pitch % 4 == 0, "pitch %zu for rows of %zu bytes", pitch, w * sizeof(float));
    RT_CHECK(cudaMemset2D(d, pitch, 0xff, pitch, h)); /* padding too */
    RT_CHECK(cudaMemcpy2D(d, pitch, img, w * sizeof(float), w * sizeof(float), h, cudaMemcpyHostToDevice));
    mark2d<<<dim3((w + 31) / 32, h), 32>>>(d, pitch, w, h);
    RT_CHECK(cudaGetLastError());
    RT_CHECK(cudaMemcpy2D(back, w * sizeof(float), d, pitch, w * sizeof(float), h, cudaMemcpyDeviceToHost));
    int bad = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) bad += back[y * w + x] != img[y * w + x] * 2.0f + (float)(y * 1000 + x);
    EXPECT(bad == 0, "2D: %d of %d wrong", bad, w * h);
    /* the padding past each row kept the memset's bytes */
    unsigned char *rows = (unsigned char *)malloc(pitch * h);
    RT_CHECK(cudaMemcpy(rows, d, pitch * h, cudaMemcpyDeviceToHost));
    bad = 0;
    for (int y = 0; y < h; y++)
        for (size_t b = w * sizeof(float); b < pitch; b++) bad += rows[y * pitch + b] != 0xff;
    EXPECT(bad == 0, "2D: %d padding bytes changed", bad);
    /* the same rows back through a stream, into a buffer with a wider pitch */
    cudaStream_t s;
    RT_CHECK(cudaStreamCreate(&s));
    size_t hp = (w + 5) * sizeof(float);
    float *wide = NULL;
    RT_CHECK(cudaMallocHost((void **)&wide, hp * h));
    RT_CHECK(cudaMemcpy2DAsync(wide, hp, d, pitch, w * sizeof(float), h, cudaMemcpyDeviceToHost, s));
    RT_CHECK(cudaStreamSynchronize(s));
    bad = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) bad += ((float *)((char *)wide + y * hp))[x] != back[y * w + x];
    EXPECT(bad == 0, "2D async: %d of %d wrong", bad, w * h);

    /* 3D: a 40 x 9 x 5 volume; a 10 x 4 x 3 box of it copied in at (3, 2, 1) and read back */
    const int vw = 40, vh = 9, vd = 5, bw = 10, bh = 4, bd = 3, ox = 3, oy = 2, oz = 1;
    cudaExtent ext = make_cudaExtent(vw * sizeof(float), vh, vd);
    cudaPitchedPtr vol;
    RT_CHECK(cudaMalloc3D(&vol, ext));
    RT_CHECK(cudaMemset3D(vol, 0, ext));
    float box[3][4][10], out[3][4][10];
    for (int z = 0; z < bd; z++)
        for (int y = 0; y < bh; y++)
            for (int x = 0; x < bw; x++) box[z][y][x] = (float)(z * 100 + y * 10 + x);
    cudaMemcpy3DParms in = {0};
    in.srcPtr = make_cudaPitchedPtr(box, bw * sizeof(float), bw, bh);
    in.dstPtr = vol;
    in.dstPos = make_cudaPos(ox * sizeof(float), oy, oz);
    in.extent = make_cudaExtent(bw * sizeof(float), bh, bd);
    in.kind = cudaMemcpyHostToDevice;
    RT_CHECK(cudaMemcpy3D(&in));
    mark3d<<<dim3(vh, vd), vw>>>(vol, vw, vh, vd);
    RT_CHECK(cudaGetLastError());
    cudaMemcpy3DParms o = {0};
    o.srcPtr = vol;
    o.srcPos = make_cudaPos(ox * sizeof(float), oy, oz);
    o.dstPtr = make_cudaPitchedPtr(out, bw * sizeof(float), bw, bh);
    o.extent = in.extent;
    o.kind = cudaMemcpyDeviceToHost;
    RT_CHECK(cudaMemcpy3D(&o));
    bad = 0;
    for (int z = 0; z < bd; z++)
        for (int y = 0; y < bh; y++)
            for (int x = 0; x < bw; x++) bad += out[z][y][x] != box[z][y][x] + (float)((z + oz) * 10000);
    EXPECT(bad == 0, "3D: %d of %d wrong", bad, bw * bh * bd);
    /* outside the box the volume holds only the kernel's marks */
    float *all = (float *)malloc(vol.pitch * vh * vd);
    RT_CHECK(cudaMemcpy(all, vol.ptr, vol.pitch * vh * vd, cudaMemcpyDeviceToHost));
    bad = 0;
    for (int z = 0; z < vd; z++)
        for (int y = 0; y < vh; y++)
            for (int x = 0; x < vw; x++) {
                int inside = z >= oz && z < oz + bd && y >= oy && y < oy + bh && x >= ox && x < ox + bw;
                float v = ((float *)((char *)all + (z * vh + y) * vol.pitch))[x];
                if (!inside) bad += v != (float)(z * 10000);
            }
    EXPECT(bad == 0, "3D: %d elements outside the box changed", bad);

    RT_CHECK(cudaFree(d));
    RT_CHECK(cudaFree(vol.ptr));
    RT_CHECK(cudaFreeHost(wide));
    RT_CHECK(cudaStreamDestroy(s));
    free(img), free(back), free(rows), free(all);
    printf("pitched: %dx%d image (pitch %zu), %dx%dx%d volume (pitch %zu), %dx%dx%d box\n", w, h, pitch, vw, vh, vd,
           vol.pitch, bw, bh, bd);
    return rt_finish("pitched");
}
