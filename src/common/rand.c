/* rand.c — random bytes through getrandom(2). */
#include "rand.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

int lp_random_bytes(void *buf, size_t n) {
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

void lp_hex(char *out, const unsigned char *bytes, size_t n) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

int lp_random_id(char *out, size_t out_size, const char *prefix, size_t nbytes) {
    unsigned char raw[64];
    size_t plen = prefix ? strlen(prefix) : 0;
    if (nbytes > sizeof raw || out_size < plen + 2 * nbytes + 1) return -1;
    if (lp_random_bytes(raw, nbytes) != 0) return -1;
    if (plen) memcpy(out, prefix, plen);
    lp_hex(out + plen, raw, nbytes);
    return 0;
}
