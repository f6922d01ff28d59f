/* test_token.c — the worker's lease-token check: good, bad signature, wrong lease, wrong GPU,
 * garbage; node keys in hex; per-lease keys (a worker's key verifies its own lease's tokens only);
 * tokens of ended leases (410); the key text leptond hands a worker on its --key-fd pipe. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "lease_token.h"
#include "rand.h"
#include "sha256.h"
#include "token.h"

static char *sign(const unsigned char key[32], const char *payload) {
    return lp_lease_token_sign(key, payload);
}

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
    CHECK_EQ_INT(lp_node_key_from_hex("zz23456789012345678901234567890123456789012345678901234567890123", k2),
                 -1);

    const char *payload =
        "{\"lease\":\"ls_1\",\"node\":\"node-a\",\"gpus\":[\"GPU-1\",\"GPU-2\"],\"expires_at\":1}";
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
    snprintf(forged, sizeof forged, "%.*s%s", (int)(strchr(swapped, '.') - swapped), swapped,
             strchr(tok, '.'));
    /* (it claims another lease of this GPU, whose key this worker cannot hold: "retry", nothing served) */
    CHECK_EQ_INT(lp_token_check(&sc, forged, msg, sizeof msg), LP_TOKEN_NEWER_LEASE);

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

    /* ---- per-lease keys: HMAC(node key, "lepton-lease-key:" + lease id) ---- */
    unsigned char ka[32], ka2[32], kb[32], kother[32], want[32];
    lp_lease_key(key, "ls_A", ka);
    lp_lease_key(key, "ls_A", ka2);
    lp_lease_key(key, "ls_B", kb);
    lp_lease_key(other, "ls_A", kother);
    lp_hmac_sha256(key, 32, "lepton-lease-key:ls_A", 21, want);
    CHECK(memcmp(ka, want, 32) == 0);
    CHECK(memcmp(ka, ka2, 32) == 0);
    CHECK(memcmp(ka, kb, 32) != 0);
    CHECK(memcmp(ka, kother, 32) != 0); /* the same lease id on another node */
    CHECK(memcmp(ka, key, 32) != 0);
    char *tok_a = sign(ka, "{\"lease\":\"ls_A\",\"node\":\"node-a\",\"gpus\":[\"GPU-2\"]}");
    char *tok_b = sign(kb, "{\"lease\":\"ls_B\",\"node\":\"node-a\",\"gpus\":[\"GPU-3\"]}");
    char *tok_a_elsewhere = sign(ka, "{\"lease\":\"ls_A\",\"node\":\"node-a\",\"gpus\":[\"GPU-3\"]}");
    char *p = lp_lease_token_verify(kb, tok_a);
    CHECK(p == NULL); /* lease B's key does not verify lease A's token */
    free(p);
    CHECK((p = lp_lease_token_verify(key, tok_a)) == NULL); /* nor does the node key */
    free(p);
    lp_token_scope wa = {.lease = "ls_A", .node = "node-a", .uuid = "GPU-2"};
    memcpy(wa.key, ka, 32);
    lp_token_scope wb = {.lease = "ls_B", .node = "node-a", .uuid = "GPU-3"};
    memcpy(wb.key, kb, 32);
    CHECK_EQ_INT(lp_token_check(&wa, tok_a, msg, sizeof msg), LP_TOKEN_OK);
    CHECK_EQ_INT(lp_token_check(&wb, tok_b, msg, sizeof msg), LP_TOKEN_OK);
    CHECK_EQ_INT(lp_token_check(&wb, tok_a, msg, sizeof msg), LP_TOKEN_UNAUTHORIZED); /* not its GPU */
    CHECK_EQ_INT(lp_token_check(&wa, tok_b, msg, sizeof msg), LP_TOKEN_UNAUTHORIZED);
    CHECK_CONTAINS(msg, "ls_A");
    /* lease A's token for lease B's GPU (a lease of that GPU B's worker has not heard of): retry */
    CHECK_EQ_INT(lp_token_check(&wb, tok_a_elsewhere, msg, sizeof msg), LP_TOKEN_NEWER_LEASE);
    /* ... and once the agent has told B's worker that lease A ran on the GPU and ended: 410 */
    snprintf(wb.ended[wb.nended++], sizeof wb.ended[0], "%s", "ls_A");
    CHECK_EQ_INT(lp_token_check(&wb, tok_a_elsewhere, msg, sizeof msg), LP_TOKEN_LEASE_ENDED);
    CHECK_CONTAINS(msg, "lease ls_A has ended");
    CHECK_EQ_INT(lp_token_check(&wb, tok_b, msg, sizeof msg), LP_TOKEN_OK);
    /* a forged token in its name ends the same way: nothing is served either way */
    CHECK_EQ_INT(lp_token_check(&wb, bad, msg, sizeof msg), LP_TOKEN_UNAUTHORIZED);

    /* ---- the --key-fd text ---- */
    char ended[2][128] = {"ls_old1", "ls_old2"}, grant[4096];
    int glen = lp_token_grant_text(grant, sizeof grant, kb, (const char(*)[128])ended, 2);
    CHECK(glen > 0);
    char small[40];
    CHECK(lp_token_grant_text(small, sizeof small, kb, (const char(*)[128])ended, 2) == -1); /* too small */
    int fds[2];
    CHECK(pipe(fds) == 0);
    CHECK(write(fds[1], grant, (size_t)glen) == glen);
    close(fds[1]);
    lp_token_scope rd = {.lease = "ls_B", .uuid = "GPU-3"};
    char err[300];
    CHECK_EQ_INT(lp_token_grant_read(&rd, fds[0], err, sizeof err), 0);
    close(fds[0]);
    CHECK(memcmp(rd.key, kb, 32) == 0);
    CHECK_EQ_INT(rd.nended, 2);
    CHECK(!strcmp(rd.ended[1], "ls_old2"));
    CHECK(pipe(fds) == 0);
    CHECK(write(fds[1], "ended ls_x\n", 11) == 11);
    close(fds[1]);
    CHECK_EQ_INT(lp_token_grant_read(&rd, fds[0], err, sizeof err), -1); /* no key */
    close(fds[0]);
    CHECK_CONTAINS(err, "no lease key");
    free(tok_a);
    free(tok_b);
    free(tok_a_elsewhere);

    free(tok);
    free(bad);
    free(foreign);
    free(swapped);
    free(node_b);
    free(not_json);
    free(no_gpus);
    free(huge);
    return check_done("unit.agent.token");
}
