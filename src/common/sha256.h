/* sha256.h — SHA-256 and HMAC-SHA-256 (FIPS 180-4, RFC 2104): token hashing and lease-token signing. */
#ifndef LEPTON_COMMON_SHA256_H
#define LEPTON_COMMON_SHA256_H
#include <stddef.h>
#include <stdint.h>

typedef struct lp_sha256 {
    uint32_t h[8];
    uint64_t len;
    unsigned char buf[64];
    size_t fill;
} lp_sha256;

void lp_sha256_init(lp_sha256 *s);
void lp_sha256_update(lp_sha256 *s, const void *data, size_t n);
void lp_sha256_final(lp_sha256 *s, unsigned char out[32]);
void lp_sha256_digest(const void *data, size_t n, unsigned char out[32]);
/* Lowercase hex of the digest (65 bytes with the NUL). */
void lp_sha256_hex(const void *data, size_t n, char out[65]);
void lp_hmac_sha256(const void *key, size_t key_len, const void *msg, size_t n, unsigned char out[32]);
/* Compares n bytes in time independent of where they differ. Returns 1 when equal. */
int lp_const_time_eq(const void *a, const void *b, size_t n);

#endif
