/* test_token.c — the worker's lease-token check: good, bad signature, wrong lease, wrong GPU,
 * garbage; and node keys in hex. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lease_token.h"
#include "rand.h"
#include "token.h"

static char *sign(const unsigned char key[32], const char *payload) { return lp_lease_token_sign(key, payload); }

int main(void) {
    unsigned char key[32], other[32];
    lp_node_key((const unsigned char *)"broker secret", 13, "node-a", key);
    lp_node_key((const unsigned char *)"broker secret", 13, "node-b", other);
    char hex[65];
    lp_hex(hex, key, 32);
    lp_token_scope sc = {.lease = "ls_1", .node = "node-a", .uuid = "GPU-2"};
    CHECK_EQ_INT(lp_node_key_from_hex(hex, sc.key), 0);
    CHECK(memcmp(sc.key, key, 32) == 0);
    unsigned char k2[32];
    CHECK_EQ_INT(lp_node_key_from_hex("abc", k2), -1);
    CHECK_EQ_INT(lp_node_key_from_hex("zz23456789012345678901234567890123456789012345678901234567890123", k2), -1);

    const char *payload = "{\"lease\":\"ls_1\",\"node\":\"node-a\",\"gpus\":[\"GPU-1\",\"GPU-2\"],\"expires_at\":1}";
    char *tok = sign(key, payload);
    char hdr[2048], msg[300];
    snprintf(hdr, sizeof hdr, "Bearer %s", tok);
    /* good: with and without the Bearer prefix; expiry is informative only */
    CHECK_EQ_INT(lp_token_check(&sc, hdr, msg, sizeof msg), LP_TOKEN_OK);
    CHECK_EQ_INT(lp_token_check(&sc, tok, msg, sizeof msg), LP_TOKEN_OK);
    /* the same token on another GPU of the lease */
    lp_token_scope sc1 = sc;
    sc1.uuid = "GPU-1";
    CHECK_EQ_INT(lp_token_check(&sc1, hdr, msg, sizeof msg), LP_TOKEN_OK);

    /* bad signature: one character of the MAC changed, and a token signed with another node's key */
    char *bad = strdup(tok);
    size_t n = strlen(bad);
    bad[n - 2] = bad[n - 2] == 'A' ? 'B' : 'A';
    CHECK_EQ_INT(lp_token_check(&sc, bad, msg, sizeof msg), LP_TOKEN_UNAUTHORIZED);
    CHECK_CONTAINS(msg, "signature");
    char *foreign = sign(other, payload);
    CHECK_EQ_INT(lp_token_check(&sc, foreign, msg, sizeof msg), LP_TOKEN_UNAUTHORIZED);
    /* a payload changed after signing */
    char *swapped = sign(key, "{\"lease\":\"ls_9\",\"node\":\"node-a\",\"gpus\":[\"GPU-2\"]}");
    char forged[2048];
    snprintf(forged, sizeof forged, "%.*s%s", (int)(strchr(swapped, '.') - swapped), swapped, strchr(tok, '.'));
    CHECK_EQ_INT(lp_token_check(&sc, forged, msg, sizeof msg), LP_TOKEN_UNAUTHORIZED);

    /* genuine but for another lease of this GPU (granted again: retry), another GPU, another node */
    CHECK_EQ_INT(lp_token_check(&sc, swapped, msg, sizeof msg), LP_TOKEN_NEWER_LEASE);
    CHECK_CONTAINS(msg, "ls_9");
    char *elsewhere = sign(key, "{\"lease\":\"ls_9\",\"node\":\"node-a\",\"gpus\":[\"GPU-7\"]}");
    CHECK_EQ_INT(lp_token_check(&sc, elsewhere, msg, sizeof msg), LP_TOKEN_FORBIDDEN);
    free(elsewhere);
    lp_token_scope sc3 = sc;
    sc3.uuid = "GPU-3";
    CHECK_EQ_INT(lp_token_check(&sc3, hdr, msg, sizeof msg), LP_TOKEN_FORBIDDEN);
    CHECK_CONTAINS(msg, "GPU-3");
    char *node_b = sign(key, "{\"lease\":\"ls_1\",\"node\":\"node-b\",\"gpus\":[\"GPU-2\"]}");
    CHECK_EQ_INT(lp_token_check(&sc, node_b, msg, sizeof msg), LP_TOKEN_FORBIDDEN);

    /* garbage */
    const char *junk[] = {NULL, "", "Bearer ", "Bearer abc", "a.b", ".", "Basic dXNlcjpwdw==", "!!!.???"};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
        CHECK_EQ_INT(lp_token_check(&sc, junk[i], msg, sizeof msg), LP_TOKEN_UNAUTHORIZED);
    char *not_json = sign(key, "not json");
    CHECK_EQ_INT(lp_token_check(&sc, not_json, msg, sizeof msg), LP_TOKEN_UNAUTHORIZED);
    char *no_gpus = sign(key, "{\"lease\":\"ls_1\"}");
    CHECK_EQ_INT(lp_token_check(&sc, no_gpus, msg, sizeof msg), LP_TOKEN_UNAUTHORIZED);
    char *huge = malloc(20000);
    memset(huge, 'A', 19999);
    huge[19999] = 0;
    huge[100] = '.';
    CHECK_EQ_INT(lp_token_check(&sc, huge, msg, sizeof msg), LP_TOKEN_UNAUTHORIZED);

    free(tok);
    free(bad);
    free(foreign);
    free(swapped);
    free(node_b);
    free(not_json);
    free(no_gpus);
    free(huge);
    CHECK_DONE();
}
