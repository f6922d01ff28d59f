/* main.c — the lepton-broker command: `serve` runs the broker until SIGINT/SIGTERM, `token create`
 * mints a tenant or node token. Flag parsing, usage text and exit codes live here only. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "lepton/lepton.h"
#include "log.h"

#define SERVE_USAGE                                                                                          \
    "  lepton-broker serve --listen ADDR:PORT --db PATH|postgres://USER@HOST/DB [--node-timeout S]\n"        \
    "                      [--test-clock] [--dev-tenant NAME] [--max-body BYTES] [--log-level LEVEL]\n"      \
    "                      [--tls-cert FILE --tls-key FILE]\n"
#define TOKEN_USAGE "  lepton-broker token create --db PATH|postgres://USER@HOST/DB --tenant NAME [--node]\n"

#define SERVE_HELP                                                                                           \
    "serve         run the control plane; prints 'lepton-broker listening on http://ADDR:PORT' first\n"      \
    "              (https://ADDR:PORT with --tls-cert and --tls-key)\n"                                      \
    "  --listen        address to listen on (default 127.0.0.1:7700; port 0 picks a free one)\n"             \
    "  --db            SQLite database file (created if missing), or a PostgreSQL connection URI\n"          \
    "                  postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?PARAMS] (also postgresql://; the\n"        \
    "                  database must exist; tables are created on first use; several brokers may\n"          \
    "                  share one PostgreSQL database)\n"                                                     \
    "  --node-timeout  seconds after which a node without heartbeat is lost (default 15; or\n"               \
    "                  --node-timeout-ms N in milliseconds)\n"                                               \
    "  --test-clock    enable POST /v1/debug/clock {\"advance_ms\": N} (tests only)\n"                       \
    "  --dev-tenant    requests without a token act as this tenant (development only)\n"                     \
    "  --max-body      request body limit in bytes (default 65536)\n"                                        \
    "  --log-level     error | warn | info | debug (default $LEPTON_LOG_LEVEL, else info)\n"                 \
    "  --tls-cert      serve HTTPS with this PEM certificate (chain); needs --tls-key\n"                     \
    "  --tls-key       the PEM private key (unencrypted) of --tls-cert; needs --tls-cert\n"
#define TOKEN_HELP                                                                                           \
    "token create  print a new random token; only its SHA-256 is stored\n"                                   \
    "  --db            the broker's database (as for serve)\n"                                               \
    "  --tenant        tenant the token acts for (created if needed)\n"                                      \
    "  --node          a node token (may only register, heartbeat and deregister nodes)\n"
#define ENV_HELP                                                                                             \
    "environment: LEPTON_LOG_LEVEL=debug|info|warn|error (an unknown level is refused)\n"                    \
    "  with postgres://, libpq's PGPASSWORD, ~/.pgpass, PGSSLMODE, ... apply too (a password there stays\n"  \
    "  out of the process list)\n"

static const char USAGE[] =
    "usage:\n" SERVE_USAGE TOKEN_USAGE "  lepton-broker --help | --version\n"
    "\n" SERVE_HELP TOKEN_HELP "\n" ENV_HELP "\n"
    "examples:\n"
    "  lepton-broker token create --db /var/lib/lepton/broker.db --tenant acme\n"
    "  lepton-broker token create --db /var/lib/lepton/broker.db --tenant acme --node\n"
    "  lepton-broker serve --listen 0.0.0.0:7700 --db /var/lib/lepton/broker.db\n"
    "  lepton-broker serve --listen 0.0.0.0:7443 --db /var/lib/lepton/broker.db \\\n"
    "                      --tls-cert /etc/lepton/broker.crt --tls-key /etc/lepton/broker.key\n"
    "  lepton-broker serve --listen 127.0.0.1:0 --db /tmp/test.db --test-clock --node-timeout 2\n"
    "  lepton-broker token create --db postgres://lepton@db.example.com/lepton --tenant acme\n"
    "  lepton-broker serve --listen 0.0.0.0:7700 --db postgres://lepton@db.example.com/lepton\n";

static const char SERVE_USAGE_TEXT[] =
    "usage:\n" SERVE_USAGE "\n" SERVE_HELP "\n" ENV_HELP "\n"
    "examples:\n"
    "  lepton-broker serve --listen 0.0.0.0:7700 --db /var/lib/lepton/broker.db\n"
    "  lepton-broker serve --listen 0.0.0.0:7443 --db /var/lib/lepton/broker.db \\\n"
    "                      --tls-cert /etc/lepton/broker.crt --tls-key /etc/lepton/broker.key\n"
    "  lepton-broker serve --listen 0.0.0.0:7700 --db postgres://lepton@db.example.com/lepton\n";

static const char TOKEN_USAGE_TEXT[] =
    "usage:\n" TOKEN_USAGE "\n" TOKEN_HELP "\n"
    "examples:\n"
    "  lepton-broker token create --db /var/lib/lepton/broker.db --tenant acme\n"
    "  lepton-broker token create --db /var/lib/lepton/broker.db --tenant acme --node\n";

static int usage_error(const char *fmt, const char *arg) {
    fprintf(stderr, "lepton-broker: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nrun 'lepton-broker --help' for usage\n");
    return 2;
}

static int parse_i64(const char *s, long long min, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || !*s || *end || v < min) return -1;
    *out = v;
    return 0;
}

static int cmd_serve(int argc, char **argv) {
    lp_broker_config cfg = {0};
    cfg.listen = "127.0.0.1:7700";
    int log_level = -1; /* --log-level; -1: $LEPTON_LOG_LEVEL, else info */
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long long n;
        if (!strcmp(a, "--test-clock")) {
            cfg.test_clock = 1;
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(SERVE_USAGE_TEXT, stdout);
            return 0;
        }
        if (strncmp(a, "--", 2) != 0) return usage_error("serve: unexpected argument '%s'", a);
        if (strcmp(a, "--listen") && strcmp(a, "--db") && strcmp(a, "--dev-tenant") &&
            strcmp(a, "--node-timeout-ms") && strcmp(a, "--node-timeout") && strcmp(a, "--max-body") &&
            strcmp(a, "--tls-cert") && strcmp(a, "--tls-key") && strcmp(a, "--max-conn") &&
            strcmp(a, "--max-conn-per-ip") && strcmp(a, "--head-timeout-s") && strcmp(a, "--log-level"))
            return usage_error("serve: unknown flag '%s'", a);
        if (!v) return usage_error("serve: %s needs a value", a);
        if (!strcmp(a, "--listen"))
            cfg.listen = v;
        else if (!strcmp(a, "--db"))
            cfg.db = v;
        else if (!strcmp(a, "--dev-tenant"))
            cfg.dev_tenant = v;
        else if (!strcmp(a, "--tls-cert"))
            cfg.tls_cert_file = v;
        else if (!strcmp(a, "--tls-key"))
            cfg.tls_key_file = v;
        else if (!strcmp(a, "--log-level")) {
            if ((log_level = lp_log_parse_level(v)) < 0)
                return usage_error("serve: --log-level: '%s' is not one of error, warn, info, debug", v);
        } else if (!strcmp(a, "--node-timeout")) {
            if (parse_i64(v, 1, &n) || n > 86400)
                return usage_error("serve: --node-timeout needs a number of seconds (1 to 86400), got '%s'",
                                   v);
            cfg.node_timeout_ms = n * 1000;
        } else if (!strcmp(a, "--node-timeout-ms")) {
            if (parse_i64(v, 1, &n))
                return usage_error("serve: --node-timeout-ms needs a positive integer, got '%s'", v);
            cfg.node_timeout_ms = n;
        } else if (!strcmp(a, "--max-body")) {
            if (parse_i64(v, 1, &n))
                return usage_error("serve: --max-body needs a positive integer, got '%s'", v);
            cfg.max_body = (size_t)n;
        } else if (!strcmp(a, "--max-conn") || !strcmp(a, "--max-conn-per-ip") ||
                   !strcmp(a, "--head-timeout-s")) {
            if (parse_i64(v, 1, &n) || n > 1000000)
                return usage_error(
                    "serve: --max-conn, --max-conn-per-ip and --head-timeout-s need a positive "
                    "integer (at most 1000000), got '%s'",
                    v);
            if (!strcmp(a, "--max-conn"))
                cfg.max_connections = (unsigned)n;
            else if (!strcmp(a, "--max-conn-per-ip"))
                cfg.max_conn_per_ip = (unsigned)n;
            else
                cfg.head_timeout_s = (unsigned)n;
        } else
            return usage_error("serve: unknown flag '%s'", a);
        i++;
    }
    if (!cfg.db) return usage_error("serve: --db PATH|postgres://USER@HOST/DB is required%s", "");
    if ((cfg.tls_cert_file && !*cfg.tls_cert_file) || (cfg.tls_key_file && !*cfg.tls_key_file))
        return usage_error("serve: --tls-cert and --tls-key need a file name, got ''%s", "");
    if (!cfg.tls_cert_file != !cfg.tls_key_file)
        return usage_error("serve: --tls-cert and --tls-key go together (HTTPS needs both); %s is missing",
                           cfg.tls_cert_file ? "--tls-key FILE" : "--tls-cert FILE");
    char lerr[200];
    if (log_level >= 0)
        lp_log_set_level(log_level);
    else if (lp_log_check_env(lerr, sizeof lerr) != 0)
        return usage_error("serve: %s (or give --log-level)", lerr);
    /* block the stop signals before any thread starts, then wait for them here */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    lp_log_set_prefix("broker");
    lp_broker *b;
    char err[1024];
    if (lp_broker_start(&cfg, &b, err, sizeof err) != 0) {
        fprintf(stderr, "lepton-broker: %s\n", err);
        return 1;
    }
    char host[300];
    snprintf(host, sizeof host, "%s", cfg.listen);
    char *colon = strrchr(host, ':');
    if (colon) *colon = 0;
    if (!*host) snprintf(host, sizeof host, "0.0.0.0");
    printf("lepton-broker listening on %s://%s:%d\n", cfg.tls_cert_file ? "https" : "http", host,
           lp_broker_port(b));
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    lp_log(LP_LOG_INFO, "signal %d: stopping", sig);
    lp_broker_stop(b);
    return 0;
}

static int cmd_token(int argc, char **argv) {
    if (argc >= 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h") || !strcmp(argv[0], "help"))) {
        fputs(TOKEN_USAGE_TEXT, stdout);
        return 0;
    }
    if (argc < 1 || strcmp(argv[0], "create") != 0)
        return usage_error("token: expected 'token create', got '%s'", argc ? argv[0] : "");
    const char *db = NULL, *tenant = NULL;
    int node = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--node")) {
            node = 1;
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(TOKEN_USAGE_TEXT, stdout);
            return 0;
        }
        if (strcmp(a, "--db") && strcmp(a, "--tenant"))
            return usage_error("token create: unknown flag '%s'", a);
        if (i + 1 >= argc) return usage_error("token create: %s needs a value", a);
        if (!strcmp(a, "--db"))
            db = argv[++i];
        else if (!strcmp(a, "--tenant"))
            tenant = argv[++i];
        else
            return usage_error("token create: unknown flag '%s'", a);
    }
    if (!db) return usage_error("token create: --db PATH|postgres://USER@HOST/DB is required%s", "");
    if (!tenant) return usage_error("token create: --tenant NAME is required%s", "");
    char tok[128], err[1024];
    if (lp_broker_token_create(db, tenant, node, tok, sizeof tok, err, sizeof err) != 0) {
        fprintf(stderr, "lepton-broker: %s\n", err);
        return 1;
    }
    printf("%s\n", tok);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fputs(USAGE, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        fputs(USAGE, stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("lepton-broker %s\n", LEPTON_VERSION_STRING);
        return 0;
    }
    if (!strcmp(cmd, "serve")) return cmd_serve(argc - 2, argv + 2);
    if (!strcmp(cmd, "token")) return cmd_token(argc - 2, argv + 2);
    return usage_error("unknown command '%s' (expected serve or token)", cmd);
}
