/* base64.c — base64 and base64url (RFC 4648 §4, §5) for lease tokens and job values. */
#include "base64.h"

static const char URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char STD[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static size_t encode(const unsigned char *in, size_t n, char *out, const char *abc, int pad) {
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
        out[o++] = abc[v >> 6 & 63];
        out[o++] = abc[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
        if (pad) {
            out[o++] = '=';
            out[o++] = '=';
        }
    } else if (n - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[o++] = abc[v >> 18 & 63];
        out[o++] = abc[v >> 12 & 63];
        out[o++] = abc[v >> 6 & 63];
        if (pad) out[o++] = '=';
    }
    out[o] = 0;
    return o;
}

size_t lp_b64url_encode(const unsigned char *in, size_t n, char *out) { return encode(in, n, out, URL, 0); }

size_t lp_b64_encode(const unsigned char *in, size_t n, char *out) { return encode(in, n, out, STD, 1); }

/* The value of a digit; c62/c63 are the alphabet's last two ('-' '_' or '+' '/'). */
static int b64val(char c, char c62, char c63) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == c62) return 62;
    if (c == c63) return 63;
    return -1;
}

static long decode(const char *in, size_t n, unsigned char *out, size_t out_size, int any) {
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    if (any)
        while (n && in[n - 1] == '=')
            n--;
    if (n % 4 == 1) return -1;
    for (size_t i = 0; i < n; i++) {
        int v = b64val(in[i], '-', '_');
        if (v < 0 && any) v = b64val(in[i], '+', '/');
        if (v < 0) return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o >= out_size) return -1;
            out[o++] = (unsigned char)(acc >> bits & 0xff);
        }
    }
    return (long)o;
}

long lp_b64url_decode(const char *in, size_t n, unsigned char *out, size_t out_size) {
    return decode(in, n, out, out_size, 0);
}

long lp_b64_decode_any(const char *in, size_t n, unsigned char *out, size_t out_size) {
    return decode(in, n, out, out_size, 1);
}
