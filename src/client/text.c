/* text.c — lc_copy_text: bounded UTF-8-aware string copies (text.h). */
#include "text.h"

#include <string.h>

void lc_copy_text(char *dst, size_t size, const char *src) {
    if (size == 0) return;
    size_t n = src ? strlen(src) : 0;
    if (n >= size) {
        n = size - 1;
        /* Do not end in the middle of a multi-byte character: back off continuation bytes. */
        while (n > 0 && ((unsigned char)src[n] & 0xC0) == 0x80)
            n--;
    }
    if (n) memcpy(dst, src, n);
    dst[n] = '\0';
}
