/* fatbin.h — what cudaemu can load from an image: PTX text, an nvcc fatbin (0xBA55ED50, entries
 * possibly LZ4- or ZSTD-compressed), the __fatBinC_Wrapper_t nvcc embeds (0x466243B1) and ELF
 * cubins (refused: machine code cannot run on the CPU). */
#ifndef CUDAEMU_FATBIN_H
#define CUDAEMU_FATBIN_H

#include <cuda.h>
#include <stddef.h>
#include <stdint.h>

#define FATBIN_MAGIC 0xBA55ED50u
#define FATBIN_WRAPPER_MAGIC 0x466243B1u
#define FATBIN_DEVICE_SM 90 /* the architecture cudaemu's devices report */

typedef struct image_ptx {
    const char *text; /* the PTX text (not necessarily NUL-terminated) */
    size_t len;
    char *owned; /* heap copy behind text, or NULL when text points into the caller's image */
    int arch;    /* compute_XX of the chosen fatbin entry, 0 for plain text */
} image_ptx;

/* Finds the PTX to load in image. size is the image's length in bytes, or 0 when the caller does
 * not know it (the driver entry points): the container headers then give the extent. Returns
 * CUDA_SUCCESS (release *out with image_ptx_release), CUDA_ERROR_INVALID_IMAGE (malformed or
 * corrupt container) or CUDA_ERROR_NO_BINARY_FOR_GPU (machine code only); log says why. */
CUresult image_ptx_get(const void *image, size_t size, image_ptx *out, char *log, size_t logsz);
void image_ptx_release(image_ptx *p);

/* The two decompressors nvcc's fatbinary uses; each fills exactly cap bytes of dst or fails (-1). */
int fatbin_lz4_decode(const uint8_t *src, size_t n, uint8_t *dst, size_t cap);
int fatbin_zstd_decode(const uint8_t *src, size_t n, uint8_t *dst, size_t cap);

#endif
