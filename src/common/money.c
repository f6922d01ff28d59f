/* money.c — printing amounts of money (money.h). */
#include "money.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

char *lp_money_format(double usd, char *out, size_t n) {
    if (!out || n == 0) return out;
    if (!isfinite(usd)) {
        snprintf(out, n, "$%s", isnan(usd) ? "nan" : usd < 0 ? "-inf" : "inf");
        return out;
    }
    double a = fabs(usd);
    if (a >= 1e15) { /* beyond any real bill: whole dollars */
        snprintf(out, n, "%s$%.0f", usd < 0 ? "-" : "", a);
        return out;
    }
    char digits[LP_MONEY_MAX];
    snprintf(digits, sizeof digits, "%.6f", a);
    /* drop trailing zeros beyond the cents */
    char *dot = strchr(digits, '.');
    if (dot) {
        char *end = digits + strlen(digits);
        while (end > dot + 3 && end[-1] == '0')
            *--end = '\0';
    }
    int negative = usd < 0 && strspn(digits, "0.") != strlen(digits); /* no "-$0.00" */
    snprintf(out, n, "%s$%s", negative ? "-" : "", digits);
    return out;
}
