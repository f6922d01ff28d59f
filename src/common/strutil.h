/* strutil.h — small string helpers shared by every component: formatted error messages into a
 * caller's buffer, and printable excerpts of untrusted bodies for messages. */
#ifndef LEPTON_COMMON_STRUTIL_H
#define LEPTON_COMMON_STRUTIL_H
#include <stddef.h>

/* vsnprintf into err (when err is non-NULL and n > 0). */
void lp_set_err(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Copies at most 160 bytes of body into out, non-printable bytes as '?', "..." when cut. */
void lp_excerpt(char *out, size_t out_size, const char *body, size_t len);
/* The integer in environment variable name, clamped to [min, max]; dflt when it is unset, empty or
 * not a number. */
long lp_env_long(const char *name, long dflt, long min, long max);

#endif
