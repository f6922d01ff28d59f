/* fuzz_fatbin.c — cudaemu's image containers and decompressors on arbitrary bytes. The first byte
 * picks the decoder: 0 image_ptx_get (fatbin / wrapper / cubin / text detection, entry walk, PTX
 * entry decompression) on the rest; 1 the ZSTD and 2 the LZ4 decoder on bytes 3.., asked for as
 * many output bytes as bytes 1-2 say. Each loads or fails with a message, never reads or writes
 * outside its buffers; an accepted PTX lies inside the input or its own allocation. */
#include "fatbin.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    unsigned mode = data[0] % 3;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    if (mode == 0) {
        if (n == 0) return 0; /* size 0 means "unknown" to image_ptx_get: not for untrusted bytes */
        /* a copy of exactly n bytes, so that reads past the input are caught */
        uint8_t *img = malloc(n);
        if (!img) abort();
        memcpy(img, p, n);
        char log[512];
        image_ptx ip;
        CUresult r = image_ptx_get(img, n, &ip, log, sizeof log);
        if (r == CUDA_SUCCESS) {
            if (!ip.owned && (ip.text < (const char *)img || ip.text + ip.len > (const char *)img + n))
                abort();
            volatile char sink = 0;
            for (size_t i = 0; i < ip.len; i++)
                sink ^= ip.text[i];
            (void)sink;
        } else if (r != CUDA_ERROR_INVALID_IMAGE && r != CUDA_ERROR_NO_BINARY_FOR_GPU &&
                   r != CUDA_ERROR_OUT_OF_MEMORY) {
            abort();
        } else if (!log[0]) {
            abort(); /* a refusal always says why */
        }
        image_ptx_release(&ip);
        free(img);
        return 0;
    }
    if (n < 2) return 0;
    size_t cap = (size_t)p[0] | (size_t)p[1] << 8;
    uint8_t *src = malloc(n - 2 + 1), *dst = malloc(cap + 1);
    if (!src || !dst) abort();
    memcpy(src, p + 2, n - 2);
    if (mode == 1)
        (void)fatbin_zstd_decode(src, n - 2, dst, cap);
    else
        (void)fatbin_lz4_decode(src, n - 2, dst, cap);
    free(src);
    free(dst);
    return 0;
}
