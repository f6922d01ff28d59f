/* fuzz_lease_token.c — lease tokens: lp_lease_token_verify and the worker's lp_token_check on the
 * input as an Authorization header; and, so that the payload parser is reached past the signature,
 * the input signed as a payload with the node key and then checked. The first byte picks the mode. */
#include "fuzz.h"
#include "lease_token.h"
#include "token.h"

#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    static const unsigned char key[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                          17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
    static lp_token_scope sc = {.lease = "ls_fuzz",
                                .node = "node-fuzz",
                                .uuid = "GPU-fuzz-0",
                                .ended = {"ls_fuzz_ended"},
                                .nended = 1}; /* the lease_ended path too */
    memcpy(sc.key, key, 32);
    char *in = fuzz_cstr(data + 1, size - 1);
    char msg[512];
    if (data[0] & 1) {
        free(lp_lease_token_verify(key, in));
        int rc = lp_token_check(&sc, in, msg, sizeof msg);
        if (rc == LP_TOKEN_OK) abort(); /* an unsigned input cannot pass */
        (void)lp_node_key_from_hex(in, sc.key);
    } else {
        char *tok = lp_lease_token_sign(key, in);
        if (tok) {
            size_t l = strlen(tok) + 8;
            char *auth = malloc(l);
            if (!auth) abort();
            snprintf(auth, l, "Bearer %s", tok);
            int rc = lp_token_check(&sc, auth, msg, sizeof msg);
            if (rc != LP_TOKEN_OK && !msg[0]) abort();
            char *back = lp_lease_token_verify(key, tok);
            if (!back || strcmp(back, in) != 0) abort(); /* what was signed verifies and comes back */
            free(back);
            free(auth);
            free(tok);
        }
    }
    free(in);
    return 0;
}
