/* rand.h — cryptographically random bytes and identifiers (tokens, lease ids, secrets). */
#ifndef LEPTON_COMMON_RAND_H
#define LEPTON_COMMON_RAND_H
#include <stddef.h>

/* Fills buf with n random bytes from the kernel. Returns 0, or -1 if the kernel cannot supply them. */
int lp_random_bytes(void *buf, size_t n);
/* Writes a prefix followed by 2*nbytes random hex digits into out (NUL-terminated). Returns 0 or -1
 * (randomness unavailable or out too small). */
int lp_random_id(char *out, size_t out_size, const char *prefix, size_t nbytes);
/* Writes 2*n lowercase hex digits of bytes into out (which must hold 2*n+1). */
void lp_hex(char *out, const unsigned char *bytes, size_t n);

#endif
