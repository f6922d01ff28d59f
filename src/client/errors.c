/* errors.c — lepton_last_error, lepton_status_name and the thread-local message behind them.
 *
 * Thread safety: the message lives in thread-local storage, so threads never share it and no lock
 * is needed; the status-name table is constant. */
#include "errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lepton/lepton.h"

#define LC_ERROR_MAX 4096

static _Thread_local char tl_error[LC_ERROR_MAX];

static void error_vset(const char *fmt, va_list ap) {
    /* Format into a scratch buffer first: an argument may point into tl_error itself (a message
     * that wraps the previous one), and vsnprintf must not read and write the same bytes. */
    char tmp[LC_ERROR_MAX];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    if (n < 0) {
        strcpy(tl_error, "(unformattable error message)");
        return;
    }
    if ((size_t)n >= sizeof tmp) /* truncated: say so instead of cutting a sentence silently */
        memcpy(tmp + sizeof tmp - 5, "...", 4);
    memcpy(tl_error, tmp, strlen(tmp) + 1);
}

void lc_error_set(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    error_vset(fmt, ap);
    va_end(ap);
}

int lc_fail(int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    error_vset(fmt, ap);
    va_end(ap);
    return status;
}

const char *lepton_last_error(void) { return tl_error; }

const char *lepton_status_name(int status) {
    switch (status) {
    case LEPTON_OK:
        return "LEPTON_OK";
    case LEPTON_EINVAL:
        return "LEPTON_EINVAL";
    case LEPTON_ENOMEM:
        return "LEPTON_ENOMEM";
    case LEPTON_ENET:
        return "LEPTON_ENET";
    case LEPTON_EAUTH:
        return "LEPTON_EAUTH";
    case LEPTON_ENOCAPACITY:
        return "LEPTON_ENOCAPACITY";
    case LEPTON_EBUDGET:
        return "LEPTON_EBUDGET";
    case LEPTON_EEXPIRED:
        return "LEPTON_EEXPIRED";
    case LEPTON_ENODELOST:
        return "LEPTON_ENODELOST";
    case LEPTON_ECUDA:
        return "LEPTON_ECUDA";
    case LEPTON_ETIMEDOUT:
        return "LEPTON_ETIMEDOUT";
    case LEPTON_ECANCELED:
        return "LEPTON_ECANCELED";
    case LEPTON_EPROTO:
        return "LEPTON_EPROTO";
    case LEPTON_ENOTFOUND:
        return "LEPTON_ENOTFOUND";
    case LEPTON_ETOOLARGE:
        return "LEPTON_ETOOLARGE";
    default:
        return "LEPTON_UNKNOWN";
    }
}
