/* test_money.c — lp_money_format prints every digit that matters: a $0.003 cap is "$0.003", not
 * "$0.00"; cents always shown; no exponent notation; no "-$0.00". */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "money.h"

static void expect(double v, const char *want) {
    char out[LP_MONEY_MAX];
    lp_money_format(v, out, sizeof out);
    CHECKF(strcmp(out, want) == 0, "lp_money_format(%.17g) = \"%s\", want \"%s\"", v, out, want);
}

int main(void) {
    expect(0.003, "$0.003");
    expect(0, "$0.00");
    expect(1.5, "$1.50");
    expect(12, "$12.00");
    expect(0.1, "$0.10");
    expect(2.0 / 3600, "$0.000556"); /* one second of a $2/h GPU */
    expect(0.0000001, "$0.00");
    expect(1234567.891, "$1234567.891");
    expect(-0.25, "-$0.25");
    expect(-0.0000001, "$0.00");
    expect(1e20, "$100000000000000000000");
    expect(NAN, "$nan");
    char small[4];
    lp_money_format(0.003, small, sizeof small); /* cut, never overrun */
    CHECK_STR(small, "$0.");
    return check_done("unit.common.money");
}
