/* base64.h — base64 and base64url (RFC 4648): lease tokens and the value arguments of data-plane jobs. */
#ifndef LEPTON_COMMON_BASE64_H
#define LEPTON_COMMON_BASE64_H

#include <stddef.h>

/* base64url without padding. Returns the length written (out must hold 4*ceil(n/3)+1). */
size_t lp_b64url_encode(const unsigned char *in, size_t n, char *out);
/* Standard base64 with padding (job value arguments). out must hold 4*ceil(n/3)+1. */
size_t lp_b64_encode(const unsigned char *in, size_t n, char *out);
/* Decodes base64url without padding (strict: tokens); returns the decoded length or -1 on bad
 * input/too small. */
long lp_b64url_decode(const char *in, size_t n, unsigned char *out, size_t out_size);
/* Decodes base64url or standard base64, padding optional (lenient: what peers send). */
long lp_b64_decode_any(const char *in, size_t n, unsigned char *out, size_t out_size);

#endif
