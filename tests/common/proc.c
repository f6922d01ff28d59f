/* proc.c — see proc.h. */
#include "proc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

double tc_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void tc_sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int tc_proc_wait_exit(pid_t pid, int timeout_ms) {
    for (int t = 0; t < timeout_ms; t += 20) {
        int ws;
        if (waitpid(pid, &ws, WNOHANG) == pid) return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
        tc_sleep_ms(20);
    }
    tc_proc_kill(pid);
    return -1;
}

int tc_proc_stop(pid_t pid, const char *what, int grace_ms) {
    kill(pid, SIGTERM);
    double until = tc_now_ms() + grace_ms;
    do {
        int status = 0;
        if (waitpid(pid, &status, WNOHANG) == pid) return status;
        tc_sleep_ms(10);
    } while (tc_now_ms() < until);
    fprintf(stderr, "%s ignored SIGTERM for %d ms; killing it\n", what, grace_ms);
    tc_proc_kill(pid);
    return -1;
}

int tc_proc_wait_ready(pid_t pid, int (*ready)(void *arg), void *arg, int timeout_ms) {
    double until = tc_now_ms() + timeout_ms;
    do {
        if (waitpid(pid, NULL, WNOHANG) == pid) return -2;
        if (ready(arg)) return 0;
        tc_sleep_ms(20);
    } while (tc_now_ms() < until);
    tc_proc_kill(pid);
    return -1;
}

void tc_proc_kill(pid_t pid) {
    if (pid <= 0) return;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

int tc_remove_dir(const char *dir) {
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) == 0) return 0;
    fprintf(stderr, "cannot remove %s\n", dir);
    return -1;
}

char *tc_read_file(const char *path, size_t *len) {
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) { /* read to the end: the size of a pipe or a /proc file is not known ahead */
        if (cap - n < 4096) {
            char *nb = realloc(buf, cap * 2 + 8192);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
            cap = cap * 2 + 8192;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        if (got == 0) break;
        n += got;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}
