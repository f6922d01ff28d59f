/* config.c — parsing leptond's config file and flags (config.h). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "strutil.h"

const char *lp_agent_usage(void) {
    return "usage: leptond --broker URL --token NODE_TOKEN [--listen ADDR:PORT] [--price USD]\n"
           "               [--cuda-library PATH] [--name NAME] [--gpus 0,1] [--config FILE]\n"
           "               [--state-dir DIR] [--advertise HOST] [--worker PATH] [--log-level LEVEL]\n"
           "               [--tls-cert FILE --tls-key FILE] [--ca-file FILE] [--job-queue-bytes N]\n"
           "\n"
           "The Lepton node agent: offers this host's GPUs to a broker, starts one lease worker per\n"
           "leased GPU (listening on PORT+1+i for the agent's i-th GPU) and ends it when the lease ends.\n"
           "\n"
           "  --broker URL        broker to register with (http://HOST:PORT or https://...)\n"
           "  --token TOKEN       node token (lepton-broker token create --node); or $LEPTON_NODE_TOKEN\n"
           "  --listen ADDR:PORT  agent's own address, serves GET /healthz (default 127.0.0.1:7710)\n"
           "  --advertise HOST    host name clients use to reach the workers (default: the listen host)\n"
           "  --price USD         price per GPU-hour (default 0)\n"
           "  --cuda-library PATH CUDA driver to load (default $LEPTON_CUDA_LIBRARY, then libcuda.so.1)\n"
           "  --name NAME         node name (default: the host name)\n"
           "  --gpus LIST         CUDA device ordinals to offer, e.g. 0,1 (default: all)\n"
           "  --config FILE       file of `key = value` lines with the same keys (flags win)\n"
           "  --state-dir DIR     lease state: module images, buffer journals (default /tmp/leptond-PORT)\n"
           "  --worker PATH       lepton-worker executable (default: next to leptond)\n"
           "  --log-level LEVEL   error | warn | info | debug (default info)\n"
           "  --tls-cert FILE     serve HTTPS (the agent and every lease worker) with this PEM certificate;\n"
           "                      workers are then registered as https://HOST:PORT (needs --tls-key)\n"
           "  --tls-key FILE      the PEM private key (unencrypted) of --tls-cert\n"
           "  --ca-file FILE      PEM CA bundle to verify an https:// broker's certificate with, instead of\n"
           "                      the system's (e.g. a private CA, or the broker's self-signed certificate)\n"
           "  --job-queue-bytes N bytes of job requests a lease worker holds for jobs that wait for their\n"
           "                      turn (default 268435456 = 256 MiB; at least 65536); past it a job is\n"
           "                      answered 503 queue_full and liblepton sends it again a moment later\n"
           "  --help              this text\n"
           "\n"
           "Example:\n"
           "  leptond --broker http://broker.example:7700 --token lpn_0123... \\\n"
           "          --listen 0.0.0.0:7710 --advertise gpu-host-1.example --price 2.50 --gpus 0,1\n"
           "\n"
           "  # the same as a config file, started with: leptond --config /etc/lepton/leptond.conf\n"
           "  broker = http://broker.example:7700\n"
           "  token = lpn_0123...\n"
           "  listen = 0.0.0.0:7710\n"
           "  price = 2.50\n"
           "\n"
           "  # HTTPS on both sides (keys tls_cert, tls_key and ca_file in a config file):\n"
           "  leptond --broker https://broker.example:7443 --ca-file /etc/lepton/ca.crt \\\n"
           "          --token lpn_0123... --listen 0.0.0.0:7710 --advertise gpu-host-1.example \\\n"
           "          --tls-cert /etc/lepton/node.crt --tls-key /etc/lepton/node.key\n";
}

int lp_split_hostport(const char *spec, char *host, size_t host_size, int *port) {
    const char *colon;
    if (spec[0] == '[') {
        const char *rb = strchr(spec, ']');
        if (!rb || rb[1] != ':') return -1;
        if ((size_t)(rb - spec - 1) >= host_size) return -1;
        snprintf(host, host_size, "%.*s", (int)(rb - spec - 1), spec + 1);
        colon = rb + 1;
    } else {
        colon = strrchr(spec, ':');
        if (!colon || (size_t)(colon - spec) >= host_size) return -1;
        snprintf(host, host_size, "%.*s", (int)(colon - spec), spec);
    }
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || errno || p < 0 || p > 65535) return -1;
    *port = (int)p;
    return 0;
}

static int copy_str(char *dst, size_t n, const char *key, const char *v, char *err, size_t en) {
    if (strlen(v) >= n) {
        lp_set_err(err, en, "%s is too long (at most %zu characters)", key, n - 1);
        return -1;
    }
    snprintf(dst, n, "%s", v);
    return 0;
}

/* A PEM file setting: an empty value would silently mean "no TLS", so it is refused. */
static int copy_file(char *dst, size_t n, const char *key, const char *v, char *err, size_t en) {
    if (!*v) {
        lp_set_err(err, en, "%s: empty (give the path of a PEM file)", key);
        return -1;
    }
    return copy_str(dst, n, key, v, err, en);
}

static int parse_gpus(lp_agent_config *c, const char *v, char *err, size_t en) {
    int n = 0;
    const char *p = v;
    if (!strcmp(v, "all") || !*v) {
        c->ngpus = 0;
        return 0;
    }
    while (*p) {
        while (*p == ' ')
            p++;
        if (!isdigit((unsigned char)*p)) goto bad;
        char *end;
        errno = 0;
        long g = strtol(p, &end, 10);
        if (errno || g < 0 || g > 4095) goto bad;
        for (int i = 0; i < n; i++)
            if (c->gpus[i] == (int)g) {
                lp_set_err(err, en, "gpus: device %ld is listed twice in '%s'", g, v);
                return -1;
            }
        if (n >= LP_AGENT_MAX_GPUS) {
            lp_set_err(err, en, "gpus: at most %d devices per agent", LP_AGENT_MAX_GPUS);
            return -1;
        }
        c->gpus[n++] = (int)g;
        p = end;
        while (*p == ' ')
            p++;
        if (*p == ',') {
            p++;
            if (!*p) goto bad;
        } else if (*p) {
            goto bad;
        }
    }
    c->ngpus = n;
    return 0;
bad:
    lp_set_err(err, en, "gpus: '%s' is not a list of CUDA device ordinals such as 0,1 (or 'all')", v);
    return -1;
}

int lp_agent_config_set(lp_agent_config *c, const char *key_in, const char *v, char *err, size_t en) {
    char key[64];
    size_t k = 0;
    for (; key_in[k] && k < sizeof key - 1; k++)
        key[k] = key_in[k] == '-' ? '_' : key_in[k];
    key[k] = 0;
    if (!strcmp(key, "broker")) {
        if (strncmp(v, "http://", 7) && strncmp(v, "https://", 8)) {
            lp_set_err(err, en, "broker: '%s' is not an http:// or https:// URL", v);
            return -1;
        }
        if (copy_str(c->broker, sizeof c->broker, "broker", v, err, en)) return -1;
        size_t n = strlen(c->broker);
        while (n > 0 && c->broker[n - 1] == '/')
            c->broker[--n] = 0;
        return 0;
    }
    if (!strcmp(key, "token")) {
        if (!*v) {
            lp_set_err(err, en, "token: empty");
            return -1;
        }
        return copy_str(c->token, sizeof c->token, "token", v, err, en);
    }
    if (!strcmp(key, "listen")) {
        char host[256];
        int port;
        if (lp_split_hostport(v, host, sizeof host, &port) != 0 || port == 0) {
            lp_set_err(err, en, "listen: '%s' is not ADDR:PORT with a port 1..65535 (e.g. 127.0.0.1:7710)",
                       v);
            return -1;
        }
        return copy_str(c->listen, sizeof c->listen, "listen", v, err, en);
    }
    if (!strcmp(key, "advertise"))
        return copy_str(c->advertise, sizeof c->advertise, "advertise", v, err, en);
    if (!strcmp(key, "price")) {
        char *end;
        errno = 0;
        double p = strtod(v, &end);
        while (*end == ' ')
            end++;
        if (!*v || *end || errno || !isfinite(p) || p < 0 || p > 1e9) {
            lp_set_err(err, en, "price: '%s' is not a price in USD per GPU-hour (a number ≥ 0, e.g. 2.50)",
                       v);
            return -1;
        }
        c->price = p;
        return 0;
    }
    if (!strcmp(key, "job_queue_bytes")) {
        char *end;
        errno = 0;
        unsigned long long q = strtoull(v, &end, 10);
        if (!*v || *v == '-' || *end || errno || q < 65536 || q > (1ull << 40)) {
            lp_set_err(err, en,
                       "job-queue-bytes: '%s' is not a byte count in 65536..1099511627776 (e.g. 268435456)",
                       v);
            return -1;
        }
        c->job_queue_bytes = q;
        return 0;
    }
    if (!strcmp(key, "cuda_library"))
        return copy_str(c->cuda_library, sizeof c->cuda_library, "cuda-library", v, err, en);
    if (!strcmp(key, "name")) {
        if (!*v) {
            lp_set_err(err, en, "name: empty");
            return -1;
        }
        for (const char *p = v; *p; p++)
            if (!isalnum((unsigned char)*p) && !strchr("._-:", *p)) {
                lp_set_err(err, en, "name: '%s' may hold only letters, digits and . _ - :", v);
                return -1;
            }
        return copy_str(c->name, sizeof c->name, "name", v, err, en);
    }
    if (!strcmp(key, "gpus")) return parse_gpus(c, v, err, en);
    if (!strcmp(key, "state_dir"))
        return copy_str(c->state_dir, sizeof c->state_dir, "state-dir", v, err, en);
    if (!strcmp(key, "worker")) return copy_str(c->worker, sizeof c->worker, "worker", v, err, en);
    if (!strcmp(key, "tls_cert")) return copy_file(c->tls_cert, sizeof c->tls_cert, "tls-cert", v, err, en);
    if (!strcmp(key, "tls_key")) return copy_file(c->tls_key, sizeof c->tls_key, "tls-key", v, err, en);
    if (!strcmp(key, "ca_file")) return copy_file(c->ca_file, sizeof c->ca_file, "ca-file", v, err, en);
    if (!strcmp(key, "log_level")) {
        static const char *names[] = {"error", "warn", "info", "debug"};
        for (int i = 0; i < 4; i++)
            if (!strcmp(v, names[i])) {
                c->log_level = i;
                return 0;
            }
        lp_set_err(err, en, "log-level: '%s' is not one of error, warn, info, debug", v);
        return -1;
    }
    lp_set_err(err, en, "unknown setting '%s' (see leptond --help)", key_in);
    return -1;
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    return s;
}

int lp_agent_config_file(lp_agent_config *c, const char *path, char *err, size_t en) {
    FILE *f = fopen(path, "r");
    if (!f) {
        lp_set_err(err, en, "cannot open config file %s: %s", path, strerror(errno));
        return -1;
    }
    char line[2048];
    int lineno = 0, rc = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            lp_set_err(err, en, "%s:%d: line too long", path, lineno);
            rc = -1;
            break;
        }
        char *s = trim(line);
        if (!*s || *s == '#') continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            lp_set_err(err, en, "%s:%d: expected `key = value`, got '%.80s'", path, lineno, s);
            rc = -1;
            break;
        }
        *eq = 0;
        char *key = trim(s), *val = trim(eq + 1);
        size_t vn = strlen(val);
        if (vn >= 2 && val[0] == '"' && val[vn - 1] == '"') {
            val[vn - 1] = 0;
            val++;
        }
        char inner[512];
        if (lp_agent_config_set(c, key, val, inner, sizeof inner) != 0) {
            lp_set_err(err, en, "%s:%d: %s", path, lineno, inner);
            rc = -1;
            break;
        }
    }
    fclose(f);
    return rc;
}

static void defaults(lp_agent_config *c) {
    memset(c, 0, sizeof *c);
    snprintf(c->listen, sizeof c->listen, "127.0.0.1:7710");
    c->log_level = -1;
}

int lp_agent_config_parse(lp_agent_config *c, int argc, char **argv, char *err, size_t en) {
    defaults(c);
    /* The file first, so that flags override it wherever --config appears. */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 1;
        const char *file = NULL;
        if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc) {
                lp_set_err(err, en, "--config needs a value");
                return -1;
            }
            file = argv[++i];
        } else if (!strncmp(argv[i], "--config=", 9)) {
            file = argv[i] + 9;
        }
        if (file) {
            if (copy_str(c->config_file, sizeof c->config_file, "config", file, err, en) ||
                lp_agent_config_file(c, file, err, en))
                return -1;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            lp_set_err(err, en, "unexpected argument '%s' (see leptond --help)", a);
            return -1;
        }
        char key[64];
        const char *val;
        const char *eq = strchr(a, '=');
        if (eq) {
            snprintf(key, sizeof key, "%.*s", (int)(eq - a - 2), a + 2);
            val = eq + 1;
        } else {
            snprintf(key, sizeof key, "%s", a + 2);
            if (i + 1 >= argc) {
                lp_set_err(err, en, "%s needs a value", a);
                return -1;
            }
            val = argv[++i];
        }
        if (!strcmp(key, "config")) continue;
        char inner[512];
        if (lp_agent_config_set(c, key, val, inner, sizeof inner) != 0) {
            lp_set_err(err, en, "--%s", inner);
            return -1;
        }
    }
    if (!c->token[0]) {
        const char *t = getenv("LEPTON_NODE_TOKEN");
        if (t && *t) snprintf(c->token, sizeof c->token, "%s", t);
    }
    if (!c->broker[0]) {
        lp_set_err(err, en, "no broker: give --broker URL (or `broker = URL` in the config file)");
        return -1;
    }
    if (!c->token[0]) {
        lp_set_err(err, en,
                   "no node token: give --token NODE_TOKEN (made with `lepton-broker token create --node`), "
                   "`token = ...` in the config file, or $LEPTON_NODE_TOKEN");
        return -1;
    }
    if (!c->tls_cert[0] != !c->tls_key[0]) {
        lp_set_err(err, en, "tls-cert and tls-key go together (HTTPS needs both): %s is missing",
                   c->tls_cert[0] ? "--tls-key FILE (or `tls_key = FILE`)"
                                  : "--tls-cert FILE (or `tls_cert = FILE`)");
        return -1;
    }
    if (!c->name[0]) {
        char h[128] = "";
        if (gethostname(h, sizeof h - 1) != 0 || !*h) snprintf(h, sizeof h, "node");
        for (char *p = h; *p; p++)
            if (!isalnum((unsigned char)*p) && !strchr("._-:", *p)) *p = '-';
        snprintf(c->name, sizeof c->name, "%s", h);
    }
    char host[256];
    int port = 0;
    if (lp_split_hostport(c->listen, host, sizeof host, &port) != 0) {
        lp_set_err(err, en, "bad listen address '%s'", c->listen);
        return -1;
    }
    if (port + 1 + (c->ngpus ? c->ngpus : 1) > 65535) {
        lp_set_err(err, en, "listen: port %d leaves no room for the worker ports PORT+1+i", port);
        return -1;
    }
    if (!c->state_dir[0]) snprintf(c->state_dir, sizeof c->state_dir, "/tmp/leptond-%d", port);
    return 0;
}
