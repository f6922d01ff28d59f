/* leptond_main.c — the node agent's command line: settings, signals, run. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "lepton/lepton.h"
#include "config.h"
#include "log.h"

int main(int argc, char **argv) {
    lp_agent_config cfg;
    char err[1024];
    lp_log_set_prefix("leptond");
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--version") || (i == 1 && argc == 2 && !strcmp(argv[i], "version"))) {
            printf("leptond %s\n", LEPTON_VERSION_STRING);
            return 0;
        }
    int rc = lp_agent_config_parse(&cfg, argc, argv, err, sizeof err);
    if (rc == 1) {
        fputs(lp_agent_usage(), stdout);
        return 0;
    }
    if (rc != 0) {
        fprintf(stderr, "leptond: %s\n(see leptond --help)\n", err);
        return 2;
    }
    if (cfg.log_level >= 0) {
        lp_log_set_level(cfg.log_level);
    } else if (lp_log_check_env(err, sizeof err) != 0) {
        fprintf(stderr, "leptond: %s (or give --log-level)\n(see leptond --help)\n", err);
        return 2;
    }
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
