/* leptond_main.c — the node agent's command line: settings, signals, run. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "config.h"
#include "log.h"

int main(int argc, char **argv) {
    lp_agent_config cfg;
    char err[1024];
    lp_log_set_prefix("leptond");
    int rc = lp_agent_config_parse(&cfg, argc, argv, err, sizeof err);
    if (rc == 1) {
        fputs(lp_agent_usage(), stdout);
        return 0;
    }
    if (rc != 0) {
        fprintf(stderr, "leptond: %s\n(see leptond --help)\n", err);
        return 2;
    }
    if (cfg.log_level >= 0) lp_log_set_level(cfg.log_level);
    static char prefix[160];
    snprintf(prefix, sizeof prefix, "leptond %s", cfg.name); /* every line names the node */
    lp_log_set_prefix(prefix);
    /* signals are taken synchronously by the main loop; every thread created later inherits this */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGCHLD);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    lp_agent *a;
    if (lp_agent_new(&cfg, &a, err, sizeof err) != 0) {
        lp_log(LP_LOG_ERROR, "%s", err);
        return 1;
    }
    rc = lp_agent_run(a);
    lp_agent_free(a);
    return rc;
}
