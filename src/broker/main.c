/* main.c — the lepton-broker command: `serve` runs the broker until SIGINT/SIGTERM, `token create`
 * mints a tenant or node token, `token list` and `token revoke` manage them. Flag parsing, usage text
 * and exit codes live here only. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "broker.h"
#include "clock.h"
#include "lepton/lepton.h"
#include "log.h"
#include "store.h"

#define SERVE_USAGE                                                                                          \
    "  lepton-broker serve --listen ADDR:PORT --db PATH|postgres://USER@HOST/DB [--node-timeout S]\n"        \
    "                      [--test-clock] [--dev-tenant NAME] [--max-body BYTES] [--log-level LEVEL]\n"      \
    "                      [--tls-cert FILE --tls-key FILE]\n"
#define TOKEN_USAGE                                                                                          \
    "  lepton-broker token create --db PATH|postgres://USER@HOST/DB --tenant NAME [--node]\n"                \
    "                             [--expires-in SECONDS]\n"                                                  \
    "  lepton-broker token list --db PATH|postgres://USER@HOST/DB [--tenant NAME] [--json]\n"                \
    "  lepton-broker token revoke --db PATH|postgres://USER@HOST/DB ID\n"

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
    "token create  print a new random token on stdout (only its SHA-256 is stored) and its id on stderr\n"   \
    "  --db            the broker's database (as for serve)\n"                                               \
    "  --tenant        tenant the token acts for (created if needed)\n"                                      \
    "  --node          a node token (may only register, heartbeat and deregister nodes)\n"                   \
    "  --expires-in    the token is refused this many seconds from now (default: never expires)\n"           \
    "token list    one line per token: id, tenant, kind (tenant|node), created, expires, revoked (UTC)\n"    \
    "  --db            the broker's database (as for serve)\n"                                               \
    "  --tenant        only this tenant's tokens\n"                                                          \
    "  --json          a JSON array instead (times in unix milliseconds and UTC text; null for never)\n"     \
    "token revoke  refuse the token with this id (from token create or token list) from the next request\n"  \
    "              on; revoking a revoked token again changes nothing; an unknown id exits 1\n"
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
    "  lepton-broker token create --db /var/lib/lepton/broker.db --tenant ci --expires-in 86400\n"
    "  lepton-broker token list --db /var/lib/lepton/broker.db --tenant acme\n"
    "  lepton-broker token revoke --db /var/lib/lepton/broker.db tk_3f9a0c1d2b4e5f60\n"
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
    "  lepton-broker token create --db /var/lib/lepton/broker.db --tenant acme --node\n"
    "  lepton-broker token create --db /var/lib/lepton/broker.db --tenant ci --expires-in 86400\n"
    "  lepton-broker token list --db /var/lib/lepton/broker.db --tenant acme\n"
    "  lepton-broker token revoke --db /var/lib/lepton/broker.db tk_3f9a0c1d2b4e5f60\n";

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

static int is_help(const char *a) { return !strcmp(a, "--help") || !strcmp(a, "-h"); }

/* The flags of the token subcommands: --db, --tenant, --node, --expires-in, --json and one ID
 * (revoke). Returns -1 when done (fields set), else the exit code of a usage error or of --help. */
typedef struct token_args {
    const char *db, *tenant, *id;
    int node, json;
    long long expires_in;
} token_args;

static int token_flags(const char *sub, int argc, char **argv, token_args *t) {
    int is_create = !strcmp(sub, "create"), is_list = !strcmp(sub, "list"),
        is_revoke = !strcmp(sub, "revoke");
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            fputs(TOKEN_USAGE_TEXT, stdout);
            return 0;
        }
        if (is_create && !strcmp(a, "--node")) {
            t->node = 1;
            continue;
        }
        if (is_list && !strcmp(a, "--json")) {
            t->json = 1;
            continue;
        }
        if (is_revoke && strncmp(a, "--", 2) != 0) {
            if (t->id) return usage_error("token revoke: one ID at a time, got a second one '%s'", a);
            t->id = a;
            continue;
        }
        int known = !strcmp(a, "--db") || (!is_revoke && !strcmp(a, "--tenant")) ||
                    (is_create && !strcmp(a, "--expires-in"));
        char msg[300];
        if (!known) {
            snprintf(msg, sizeof msg, "token %s: unknown flag '%s'", sub, a);
            return usage_error("%s", msg);
        }
        if (i + 1 >= argc) {
            snprintf(msg, sizeof msg, "token %s: %s needs a value", sub, a);
            return usage_error("%s", msg);
        }
        const char *v = argv[++i];
        if (!strcmp(a, "--db"))
            t->db = v;
        else if (!strcmp(a, "--tenant"))
            t->tenant = v;
        else if (parse_i64(v, 1, &t->expires_in) || t->expires_in > LP_BROKER_TOKEN_EXPIRES_MAX_S)
            return usage_error("token create: --expires-in needs a number of seconds (1 to 316224000, ten "
                               "years), got '%s'",
                               v);
    }
    if (!t->db) return usage_error("token %s: --db PATH|postgres://USER@HOST/DB is required", sub);
    if (is_create && !t->tenant) return usage_error("token create: --tenant NAME is required%s", "");
    if (is_revoke && !t->id)
        return usage_error("token revoke: which token? give its ID (see: lepton-broker token list --db DB)%s",
                           "");
    return -1;
}

static int token_create(const token_args *t) {
    char tok[128], id[LP_BROKER_TOKEN_ID_MAX], err[1024];
    if (lp_broker_token_mint(t->db, t->tenant, t->node, t->expires_in, tok, sizeof tok, id, err,
                             sizeof err) != 0) {
        fprintf(stderr, "lepton-broker: %s\n", err);
        return 1;
    }
    /* stdout is the token alone (scripts capture it); what names it goes to stderr */
    printf("%s\n", tok);
    fflush(stdout);
    if (t->expires_in) {
        char when[LP_BROKER_TIME_TEXT_MAX];
        lp_broker_time_text(lp_wall_ms() + t->expires_in * 1000, when);
        fprintf(stderr,
                "token id %s (tenant %s, %s token, expires about %s); revoke with: lepton-broker token "
                "revoke --db DB %s\n",
                id, t->tenant, t->node ? "node" : "tenant", when, id);
    } else {
        fprintf(stderr,
                "token id %s (tenant %s, %s token, no expiry); revoke with: lepton-broker token revoke "
                "--db DB %s\n",
                id, t->tenant, t->node ? "node" : "tenant", id);
    }
    return 0;
}

static void time_or(int64_t ms, const char *none, char out[LP_BROKER_TIME_TEXT_MAX]) {
    if (ms)
        lp_broker_time_text(ms, out);
    else
        snprintf(out, LP_BROKER_TIME_TEXT_MAX, "%s", none);
}

static json_t *ms_json(int64_t ms) { return ms ? json_integer(ms) : json_null(); }

static json_t *time_json(int64_t ms) {
    char t[LP_BROKER_TIME_TEXT_MAX];
    lp_broker_time_text(ms, t);
    return ms ? json_string(t) : json_null();
}

static int token_print(const lp_token_list *l, int as_json) {
    if (as_json) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < l->n; i++) {
            const lp_token_info *t = &l->v[i];
            json_array_append_new(
                arr, json_pack("{s:s, s:s, s:s, s:I, s:o, s:o, s:o, s:o, s:o}", "id", t->id, "tenant",
                               t->tenant, "kind", t->is_node ? "node" : "tenant", "created_ms",
                               (json_int_t)t->created_ms, "created", time_json(t->created_ms), "expires_ms",
                               ms_json(t->expires_ms), "expires", time_json(t->expires_ms), "revoked_ms",
                               ms_json(t->revoked_ms), "revoked", time_json(t->revoked_ms)));
        }
        char *text = arr ? json_dumps(arr, JSON_INDENT(2)) : NULL;
        json_decref(arr);
        if (!text) {
            fprintf(stderr, "lepton-broker: out of memory while writing the token list\n");
            return 1;
        }
        printf("%s\n", text);
        free(text);
        return 0;
    }
    printf("%-20s %-20s %-6s %-20s %-20s %s\n", "ID", "TENANT", "KIND", "CREATED", "EXPIRES", "REVOKED");
    for (size_t i = 0; i < l->n; i++) {
        const lp_token_info *t = &l->v[i];
        char created[LP_BROKER_TIME_TEXT_MAX], expires[LP_BROKER_TIME_TEXT_MAX],
            revoked[LP_BROKER_TIME_TEXT_MAX];
        time_or(t->created_ms, "-", created);
        time_or(t->expires_ms, "never", expires);
        time_or(t->revoked_ms, "-", revoked);
        printf("%-20s %-20s %-6s %-20s %-20s %s\n", t->id, t->tenant, t->is_node ? "node" : "tenant", created,
               expires, revoked);
    }
    return 0;
}

static int token_manage(const char *sub, const token_args *t) {
    lp_store *s;
    lp_err e = {0};
    if (lp_store_open(t->db, &s, &e) != 0) {
        fprintf(stderr, "lepton-broker: %s\n", e.message);
        return 1;
    }
    int rc = 1;
    if (!strcmp(sub, "list")) {
        lp_token_list l = {0};
        if (s->ops->token_list(s, t->tenant, &l, &e) == 0) rc = token_print(&l, t->json);
        lp_token_list_clear(&l);
    } else {
        lp_token_info info;
        int already = 0;
        if (s->ops->token_revoke(s, t->id, lp_wall_ms(), &info, &already, &e) == 0) {
            char when[LP_BROKER_TIME_TEXT_MAX];
            lp_broker_time_text(info.revoked_ms, when);
            printf("token %s (tenant %s) %s revoked at %s\n", info.id, info.tenant,
                   already ? "was already" : "is", when);
            rc = 0;
        }
    }
    if (rc && e.code) fprintf(stderr, "lepton-broker: %s%s%s\n", e.message, *e.hint ? "; " : "", e.hint);
    lp_store_close(s);
    return rc;
}

static int cmd_token(int argc, char **argv) {
    if (argc >= 1 && (is_help(argv[0]) || !strcmp(argv[0], "help"))) {
        fputs(TOKEN_USAGE_TEXT, stdout);
        return 0;
    }
    const char *sub = argc ? argv[0] : "";
    if (strcmp(sub, "create") && strcmp(sub, "list") && strcmp(sub, "revoke"))
        return usage_error("token: expected 'token create', 'token list' or 'token revoke', got '%s'", sub);
    token_args t = {0};
    int rc = token_flags(sub, argc - 1, argv + 1, &t);
    if (rc >= 0) return rc;
    return !strcmp(sub, "create") ? token_create(&t) : token_manage(sub, &t);
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
