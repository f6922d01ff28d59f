/* fuzz_http_head.c — the HTTP server's check of a connection's first request head
 * (lp_http_head_check, src/common/http_head.c) on raw bytes: never reads past them, and every
 * verdict is whole (a complete head fits the limit; a refusal has a status, a code and a message).
 * The input is checked whole and as every prefix a slow client could have sent, with and without
 * the end of the connection; the first byte picks the head limit. */
#include "fuzz.h"
#include "http_head.h"

#include <stdio.h>

static void check(const char *buf, size_t n, size_t head_max, int eof) {
    lp_http_head_verdict v;
    int rc = lp_http_head_check(buf, n, head_max, eof, &v);
    if (rc == LP_HEAD_OK && (v.head_len == 0 || v.head_len > n || v.head_len > head_max)) abort();
    if (rc == LP_HEAD_BAD &&
        ((v.status != 400 && v.status != 413 && v.status != 414 && v.status != 431 && v.status != 505) ||
         !v.code || !v.message[0]))
        abort();
    if (rc == LP_HEAD_MORE && eof && n > 0) abort(); /* a head cut by the end of the connection is refused */
    if (rc != LP_HEAD_OK && rc != LP_HEAD_BAD && rc != LP_HEAD_MORE) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    size_t head_max = data[0] & 1 ? 32768 : 64 + (size_t)data[0] * 4;
    size_t n = size - 1;
    /* an exact-size copy, so that ASan sees any read past the bytes received */
    char *buf = malloc(n ? n : 1);
    if (!buf) abort();
    if (n) memcpy(buf, data + 1, n);
    for (size_t k = 0; k <= n; k += k < 64 ? 1 : 61) {
        check(buf, k, head_max, 0);
        check(buf, k, head_max, 1);
    }
    check(buf, n, head_max, 0);
    check(buf, n, head_max, 1);
    free(buf);
    return 0;
}
