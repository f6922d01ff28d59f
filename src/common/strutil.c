/* strutil.c — see strutil.h. */
#include "strutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void lp_set_err(char *err, size_t n, const char *fmt, ...) {
    if (!err || !n) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
}

void lp_excerpt(char *out, size_t out_size, const char *body, size_t len) {
    if (!out || !out_size) return;
    size_t n = 0;
    for (size_t i = 0; i < len && n + 4 < out_size && i < 160; i++) {
        unsigned char ch = (unsigned char)body[i];
        out[n++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    if (len > 160 && n + 4 < out_size) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
}

long lp_env_long(const char *name, long dflt, long min, long max) {
    const char *e = getenv(name);
    if (!e || !*e) return dflt;
    char *end;
    long v = strtol(e, &end, 10);
    if (end == e) return dflt;
    return v < min ? min : v > max ? max : v;
}
