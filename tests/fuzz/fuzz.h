/* fuzz.h — the one entry point every target of tests/fuzz defines (libFuzzer's signature). Built
 * with -DLEPTON_FUZZ=ON it is driven by libFuzzer; in the normal build driver.c calls it once per
 * file of the target's committed corpus (CTest fuzz.<target>.corpus). */
#ifndef LEPTON_TESTS_FUZZ_H
#define LEPTON_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A NUL-terminated copy of the input (caller frees). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) abort();
    if (size) memcpy(s, data, size);
    s[size] = 0;
    return s;
}

#endif
