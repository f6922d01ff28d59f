/* image.c — the size of a module image handed over by pointer only (cuModuleLoadData, cuLinkAddData
 * with size 0, cuLibraryLoadData): the remote driver ships images by content, so it must know how
 * many bytes one has. The containers are those cudaemu reads (its fatbin.h names the magics):
 * PTX text (up to its NUL), an ELF cubin (to the end of its section table or its last section),
 * an nvcc fatbin (header size + the size its header announces) and the __fatBinC_Wrapper_t nvcc
 * embeds (which points to a fatbin). */
#include "image.h"

#include <string.h>

#include "fatbin.h"

static uint64_t rd(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Images larger than this are refused as corrupt (liblepton's module limit is far below). */
#define RM_IMAGE_MAX (1ull << 31)

static int elf_size(const unsigned char *p, size_t *size) {
    if (p[4] != 2 || p[5] != 1) return -1; /* cubins are 64-bit little-endian ELF */
    uint64_t phoff = rd(p + 0x20, 8), shoff = rd(p + 0x28, 8);
    uint64_t phentsize = rd(p + 0x36, 2), phnum = rd(p + 0x38, 2);
    uint64_t shentsize = rd(p + 0x3A, 2), shnum = rd(p + 0x3C, 2);
    uint64_t end = 64;
    if (phoff + phnum * phentsize > end) end = phoff + phnum * phentsize;
    if (shoff + shnum * shentsize > end) end = shoff + shnum * shentsize;
    if (end > RM_IMAGE_MAX || (shnum && shentsize < 64)) return -1;
    for (uint64_t i = 0; i < shnum; i++) {
        const unsigned char *sh = p + shoff + i * shentsize;
        uint32_t type = (uint32_t)rd(sh + 4, 4);
        uint64_t off = rd(sh + 0x18, 8), sz = rd(sh + 0x20, 8);
        if (type == 8 /* SHT_NOBITS */) continue;
        if (off + sz > end) end = off + sz;
        if (end > RM_IMAGE_MAX) return -1;
    }
    *size = (size_t)end;
    return 0;
}

static int fatbin_size(const unsigned char *p, size_t *size) {
    uint64_t hsz = rd(p + 6, 2), body = rd(p + 8, 8);
    if (hsz < 16 || hsz + body > RM_IMAGE_MAX) return -1;
    *size = (size_t)(hsz + body);
    return 0;
}

int rm_image_extent(const void *image, const void **data, size_t *size) {
    const unsigned char *p = image;
    if (!p) return -1;
    *data = image;
    if (strnlen(image, 4) < 4) { /* a short text: NUL within the first four bytes */
        *size = strlen(image) + 1;
        return 0;
    }
    uint32_t magic = (uint32_t)rd(p, 4);
    if (magic == FATBIN_WRAPPER_MAGIC) {
        const void *fb;
        memcpy(&fb, p + 8, sizeof fb);
        if (!fb || (uint32_t)rd(fb, 4) != FATBIN_MAGIC) return -1;
        *data = fb;
        return fatbin_size(fb, size);
    }
    if (magic == FATBIN_MAGIC) return fatbin_size(p, size);
    if (p[0] == 0x7f && p[1] == 'E' && p[2] == 'L' && p[3] == 'F') return elf_size(p, size);
    *size = strlen(image) + 1; /* PTX: the text and its NUL */
    return 0;
}
