/* config.h — leptond's settings: a config file of `key = value` lines, then command-line flags
 * (flags win), then defaults. Every bad value is refused with a message naming it. */
#ifndef LEPTON_AGENT_CONFIG_H
#define LEPTON_AGENT_CONFIG_H

#include <stddef.h>

#define LP_AGENT_MAX_GPUS 64

typedef struct lp_agent_config {
    char broker[512];            /* broker URL, http:// or https:// */
    char token[512];             /* node token */
    char listen[128];            /* ADDR:PORT of the agent; workers use PORT+1+i */
    char advertise[256];         /* host clients reach this node at; "" → the listen host */
    double price;                /* USD per GPU-hour */
    char cuda_library[512];      /* "" → $LEPTON_CUDA_LIBRARY → libcuda.so.1 */
    char name[128];              /* node name; "" → the host name */
    int gpus[LP_AGENT_MAX_GPUS]; /* CUDA ordinals offered, in agent index order */
    int ngpus;                   /* 0 → every GPU found */
    char state_dir[512];         /* "" → /tmp/leptond-PORT */
    char worker[512];            /* lepton-worker executable; "" → next to leptond */
    char tls_cert[512];          /* PEM certificate: the agent and its workers serve HTTPS; "" → HTTP */
    char tls_key[512];           /* its PEM private key; set together with tls_cert */
    char ca_file[512];           /* PEM CA bundle that verifies an https:// broker; "" → the system's */
    char config_file[512];
    int log_level;                      /* LOG_* of log.h, -1 = unset */
    unsigned long long job_queue_bytes; /* bytes of jobs a worker holds before running them; 0 → 256 MiB */
    int embedded;                       /* not a flag: set by a program that runs the agent inside itself
                                           (lp_agent_run then takes no signals; see agent.h) */
} lp_agent_config;

/* Fills c from argv (argv[0] is skipped) and the --config file it names. Returns 0, 1 when --help
 * was asked for, or -1 with a message in err. */
int lp_agent_config_parse(lp_agent_config *c, int argc, char **argv, char *err, size_t err_size);
/* Applies one setting (file key or flag name without the dashes; '-' and '_' are the same).
 * Returns 0, or -1 with a message in err. */
int lp_agent_config_set(lp_agent_config *c, const char *key, const char *value, char *err, size_t err_size);
/* Reads a config file. Returns 0, or -1 with "FILE:LINE: ..." in err. */
int lp_agent_config_file(lp_agent_config *c, const char *path, char *err, size_t err_size);
/* The usage text of leptond (with an example). */
const char *lp_agent_usage(void);
/* Splits "ADDR:PORT" into host (without brackets) and port. Returns 0 or -1. */
int lp_split_hostport(const char *spec, char *host, size_t host_size, int *port);

#endif
