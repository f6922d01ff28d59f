/* errors.h — the client's one error path: the thread-local last-error message and the helpers
 * that set it while returning a status. */
#ifndef LEPTON_CLIENT_ERRORS_H
#define LEPTON_CLIENT_ERRORS_H

/* Formats the calling thread's last-error message (truncated to the buffer, which holds 4 KiB). */
void lc_error_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Sets the last-error message and returns `status`, so that a failure is one line:
 * `return lc_fail(LEPTON_EINVAL, "lepton_x: y is NULL");`. */
int lc_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
