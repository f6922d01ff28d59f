/* proc.h — time, child processes and files for tests: a monotonic clock, sleeping, stopping and
 * reaping a child with a deadline, removing a test's directory, reading a whole file. */
#ifndef LEPTON_TESTS_COMMON_PROC_H
#define LEPTON_TESTS_COMMON_PROC_H

#include <stddef.h>
#include <sys/types.h>

/* Milliseconds of the monotonic clock. */
double tc_now_ms(void);
/* Sleeps ms milliseconds (signals do not cut it short). */
void tc_sleep_ms(long ms);

/* Waits up to timeout_ms for child pid to end: its exit status, 128 + the signal that ended it, or
 * -1 when it was still running (then it is killed and reaped). */
int tc_proc_wait_exit(pid_t pid, int timeout_ms);
/* SIGTERM, then waits up to grace_ms for child pid (named `what` in the message) to end: its wait
 * status, or -1 when it had to be killed with SIGKILL (and was reaped). */
int tc_proc_stop(pid_t pid, const char *what, int grace_ms);
/* SIGKILL and reap. */
void tc_proc_kill(pid_t pid);
/* Polls ready(arg) every 20 ms until it answers nonzero (0), child pid ends by itself (-2; reaped)
 * or timeout_ms pass (-1; then the child is killed and reaped). */
int tc_proc_wait_ready(pid_t pid, int (*ready)(void *arg), void *arg, int timeout_ms);

/* Removes a test's directory and all in it (saying so on stderr when it cannot); 0 or -1. */
int tc_remove_dir(const char *dir);
/* The whole of file path, NUL-terminated (not counted in *len), in memory the caller frees; NULL
 * (and *len 0) when it cannot be read. */
char *tc_read_file(const char *path, size_t *len);

#endif
