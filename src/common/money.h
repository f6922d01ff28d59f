/* money.h — the one way amounts of money (USD) are printed: every digit that matters, so that a
 * $0.003 cost cap does not show as $0.00 (end reasons, logs, the CLI). */
#ifndef LEPTON_COMMON_MONEY_H
#define LEPTON_COMMON_MONEY_H
#include <stddef.h>

/* Longest text lp_money_format writes, NUL included (a "$", 15 integer digits, ".", 6 decimals). */
#define LP_MONEY_MAX 32

/* Writes usd as "$D.DD", with up to 6 decimals when the amount has them ($0.003, $1.50, $0.000556),
 * never in exponent notation; negative amounts get a leading "-". Returns out. */
char *lp_money_format(double usd, char *out, size_t n);

#endif
