/* log.h — the one logging function of the daemons (broker, agent, worker) and its levels. */
#ifndef LEPTON_COMMON_LOG_H
#define LEPTON_COMMON_LOG_H

#include <stddef.h>

/* Prefixed: <syslog.h> defines LOG_INFO and its kin as macros. */
enum { LP_LOG_ERROR = 0, LP_LOG_WARN = 1, LP_LOG_INFO = 2, LP_LOG_DEBUG = 3 };

/* Sets the lowest-priority level that is printed (default LP_LOG_INFO; $LEPTON_LOG_LEVEL=debug|info|
 * warn|error). */
void lp_log_set_level(int level);
/* The level named `name` (error, warn, info, debug; any case), or -1 for anything else. */
int lp_log_parse_level(const char *name);
/* Checks $LEPTON_LOG_LEVEL: 0 when it is unset, empty or a level; else -1 with a message in err
 * ("LEPTON_LOG_LEVEL: 'verbose' is not one of error, warn, info, debug"). Daemons call it at start
 * and refuse to run on -1, so a typo does not silently log at info. */
int lp_log_check_env(char *err, size_t n);
/* Sets a prefix (e.g. "broker") printed on every line. The string is borrowed, must outlive logging. */
void lp_log_set_prefix(const char *prefix);
/* Sends the lines to descriptor fd (written whole, one write each) instead of stderr; -1: stderr.
 * For a process whose fd 2 is not its log (lepton-worker hands its stderr to the leased program). */
void lp_log_set_fd(int fd);
/* One line on stderr: time, level, prefix, message. Thread-safe. */
void lp_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
