/* text.h — bounded copies of broker-supplied text into the fixed-size char arrays of the public
 * structs, cut at a UTF-8 character boundary. */
#ifndef LEPTON_CLIENT_TEXT_H
#define LEPTON_CLIENT_TEXT_H

#include <stddef.h>

/* Copies src (NULL = "") into dst[size], truncating at a UTF-8 character boundary. */
void lc_copy_text(char *dst, size_t size, const char *src);

#endif
