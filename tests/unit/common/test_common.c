/* test_common.c — unit tests of src/common: SHA-256/HMAC vectors, wire code mapping, random ids, integer
 * settings from the environment. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lepton/lepton.h"
#include "base64.h"
#include "rand.h"
#include "sha256.h"
#include "strutil.h"
#include "wire.h"

#include "check.h"

static void test_sha256(void) {
    char hex[65];
    lp_sha256_hex("", 0, hex);
    CHECK(!strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    lp_sha256_hex("abc", 3, hex);
    CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    lp_sha256_hex(m, strlen(m), hex);
    CHECK(!strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
    /* One million 'a' fed in uneven pieces exercises the buffering. */
    static char a[1000000];
    memset(a, 'a', sizeof a);
    lp_sha256 s;
    lp_sha256_init(&s);
    size_t off = 0, step = 1;
    while (off < sizeof a) {
        size_t n = step < sizeof a - off ? step : sizeof a - off;
        lp_sha256_update(&s, a + off, n);
        off += n;
        step = step * 3 % 1017 + 1;
    }
    unsigned char d[32];
    lp_sha256_final(&s, d);
    lp_hex(hex, d, 32);
    CHECK(!strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
}

static void test_hmac(void) {
    /* RFC 4231 test cases 1 and 2. */
    unsigned char key[20], out[32];
    char hex[65];
    memset(key, 0x0b, sizeof key);
    lp_hmac_sha256(key, 20, "Hi There", 8, out);
    lp_hex(hex, out, 32);
    CHECK(!strcmp(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"));
    const char *msg = "what do ya want for nothing?";
    lp_hmac_sha256("Jefe", 4, msg, strlen(msg), out);
    lp_hex(hex, out, 32);
    CHECK(!strcmp(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"));
    /* RFC 4231 case 6: a key longer than the block size is hashed first. */
    unsigned char big[131];
    memset(big, 0xaa, sizeof big);
    const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    lp_hmac_sha256(big, sizeof big, m6, strlen(m6), out);
    lp_hex(hex, out, 32);
    CHECK(!strcmp(hex, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"));
    CHECK(lp_const_time_eq("abc", "abc", 3) == 1);
    CHECK(lp_const_time_eq("abc", "abd", 3) == 0);
}

static void test_wire(void) {
    CHECK(wire_http_status(WIRE_NO_CAPACITY) == 503);
    CHECK(wire_code_to_status(WIRE_NO_CAPACITY, 503) == LEPTON_ENOCAPACITY);
    CHECK(wire_code_to_status(WIRE_OVER_BUDGET, 402) == LEPTON_EBUDGET);
    CHECK(wire_code_to_status(WIRE_LEASE_ENDED, 410) == LEPTON_EEXPIRED);
    CHECK(wire_code_to_status(NULL, 401) == LEPTON_EAUTH);
    CHECK(wire_code_to_status("something_new", 413) == LEPTON_ETOOLARGE);
    CHECK(wire_code_to_status(NULL, 500) == LEPTON_EPROTO);
    CHECK(!strcmp(wire_status_to_code(LEPTON_ECUDA), WIRE_CUDA));
    CHECK(wire_http_status("nope") == 500);
}

static void test_random(void) {
    char a[64], b[64];
    CHECK(lp_random_id(a, sizeof a, "ls_", 12) == 0);
    CHECK(lp_random_id(b, sizeof b, "ls_", 12) == 0);
    CHECK(strlen(a) == 3 + 24 && !strncmp(a, "ls_", 3));
    CHECK(strcmp(a, b) != 0);
    CHECK(lp_random_id(a, 10, "ls_", 12) == -1); /* too small */
}

static void test_base64(void) {
    /* RFC 4648 §10 vectors, and the URL alphabet. */
    char out[64];
    unsigned char back[64];
    lp_b64_encode((const unsigned char *)"fo", 2, out);
    CHECK(!strcmp(out, "Zm8="));
    lp_b64_encode((const unsigned char *)"foobar", 6, out);
    CHECK(!strcmp(out, "Zm9vYmFy"));
    lp_b64url_encode((const unsigned char *)"f", 1, out);
    CHECK(!strcmp(out, "Zg"));
    const unsigned char hi[] = {0xfb, 0xff};
    lp_b64_encode(hi, 2, out);
    CHECK(!strcmp(out, "+/8="));
    lp_b64url_encode(hi, 2, out);
    CHECK(!strcmp(out, "-_8"));
    CHECK(lp_b64url_decode("-_8", 3, back, sizeof back) == 2 && back[0] == 0xfb && back[1] == 0xff);
    CHECK(lp_b64url_decode("+/8=", 4, back, sizeof back) == -1); /* tokens: URL alphabet only */
    CHECK(lp_b64_decode_any("+/8=", 4, back, sizeof back) == 2 && back[0] == 0xfb);
    CHECK(lp_b64_decode_any("-_8", 3, back, sizeof back) == 2 && back[1] == 0xff);
    CHECK(lp_b64_decode_any("Zm9vYmFy", 8, back, 5) == -1); /* too small */
    CHECK(lp_b64_decode_any("Z", 1, back, sizeof back) == -1);
}

static void test_env_long(void) {
    const char *n = "LEPTON_TEST_ENV_LONG";
    unsetenv(n);
    CHECK(lp_env_long(n, 50, 0, 100) == 50); /* unset */
    setenv(n, "", 1);
    CHECK(lp_env_long(n, 50, 0, 100) == 50); /* empty */
    setenv(n, "abc", 1);
    CHECK(lp_env_long(n, 50, 0, 100) == 50); /* not a number */
    setenv(n, "7", 1);
    CHECK(lp_env_long(n, 50, 0, 100) == 7);
    setenv(n, "0", 1);
    CHECK(lp_env_long(n, 50, 0, 100) == 0); /* 0 is a value, not "unset" */
    setenv(n, "-5", 1);
    CHECK(lp_env_long(n, 50, 0, 100) == 0); /* clamped */
    setenv(n, "100000", 1);
    CHECK(lp_env_long(n, 50, 0, 100) == 100);
    unsetenv(n);
}

int main(void) {
    test_env_long();
    test_base64();
    test_sha256();
    test_hmac();
    test_wire();
    test_random();
    return check_done("unit.common");
}
