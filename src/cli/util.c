/* util.c — the command line's shared plumbing: flag parsing with precise messages, exit codes,
 * file I/O, human formatting (bytes, times, money, tables) and JSON output. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "cli.h"
#include "money.h"
#include "wire.h"

#define DEFAULT_ENDPOINT "http://127.0.0.1:7700"

/* flag > environment > profile (config file) > default */
static const char *pick(const char *flag, const char *env, const char *profile, const char *dflt) {
    if (flag && *flag) return flag;
    const char *e = getenv(env);
    if (e && *e) return e;
    return profile && *profile ? profile : dflt;
}

const char *cli_endpoint(const cli_global *g) {
    return pick(g->endpoint, "LEPTON_ENDPOINT", g->profile_endpoint, DEFAULT_ENDPOINT);
}
const char *cli_token(const cli_global *g) { return pick(g->token, "LEPTON_TOKEN", g->profile_token, NULL); }
const char *cli_ca_file(const cli_global *g) {
    return pick(g->ca_file, "LEPTON_CA_FILE", g->profile_ca_file, NULL);
}

/* ---- failures: stderr always; in --json mode one JSON error object on stdout too ---- */
int cli_json_mode;
static char last_msg[4096];   /* the last failure's message, for the JSON error object */
static const char *last_code; /* its code in the broker's vocabulary ("no_capacity", "usage", ...) */
static int last_status;       /* its lepton_status, 0 for a usage or local error */
static int json_error_printed;

static void remember(const char *code, int status, const char *fmt, va_list ap) {
    vsnprintf(last_msg, sizeof last_msg, fmt, ap);
    last_code = code;
    last_status = status;
}

void cli_json_error_end(int rc) {
    if (!cli_json_mode || rc == 0 || json_error_printed) return;
    json_error_printed = 1;
    json_t *e = json_object();
    json_object_set_new(e, "code", json_string(last_code ? last_code : "failed"));
    json_object_set_new(e, "status",
                        last_status ? json_string(lepton_status_name(last_status)) : json_null());
    json_object_set_new(e, "exit_code", json_integer(rc));
    json_object_set_new(e, "message", json_string(*last_msg ? last_msg : "failed"));
    json_t *j = json_pack("{s:o}", "error", e);
    cli_print_json(j);
    json_decref(j);
}

void cli_err(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("lepton: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    va_start(ap, fmt);
    remember("local", 0, fmt, ap);
    va_end(ap);
}

int cli_usage_error(const char *verb, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("lepton: ", stderr);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nrun 'lepton %s%s--help' for usage\n", verb ? verb : "", verb && *verb ? " " : "");
    va_end(ap);
    va_start(ap, fmt);
    remember("usage", 0, fmt, ap);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

int cli_exit_code(int status) {
    if (status >= 0) return CLI_EXIT_OK;
    if (status < -125) return CLI_EXIT_LOCAL;
    return -status;
}

/* The words of the C API and of the REST API that a person did not type, and the flags they did.
 * Longest first where one is a prefix of another. */
static const char *const FLAG_WORDS[][2] = {
    {"max_price_per_gpu_hour", "--max-price"},
    {"keepalive_seconds", "--keepalive"},
    {"min_gpu_memory", "--min-memory"},
    {"ttl_seconds", "--ttl"},
    {"gpu_count", "--gpus"},
    {"gpu_model", "--gpu-model"},
    {"max_cost", "--max-cost"},
    {"wait_ms", "--wait"},
};

void cli_flag_words(const char *m, char *out, size_t n) {
    size_t o = 0;
    if (!n) return;
    while (*m && o + 1 < n) {
        int hit = 0;
        /* a whole word only: "gpu_count" but not "the_gpu_count_x" */
        int start = (o == 0 || !(out[o - 1] == '_' || (out[o - 1] >= 'a' && out[o - 1] <= 'z')));
        for (size_t i = 0; start && i < sizeof FLAG_WORDS / sizeof FLAG_WORDS[0]; i++) {
            size_t k = strlen(FLAG_WORDS[i][0]);
            if (strncmp(m, FLAG_WORDS[i][0], k) != 0) continue;
            char next = m[k]; /* m holds at least k bytes here: it matched */
            if (next != '_' && !(next >= 'a' && next <= 'z')) {
                size_t f = strlen(FLAG_WORDS[i][1]);
                if (o + f + 1 >= n) break;
                memcpy(out + o, FLAG_WORDS[i][1], f);
                o += f;
                m += k;
                hit = 1;
                break;
            }
        }
        if (!hit) out[o++] = *m++;
    }
    out[o] = '\0';
}

/* Hints of the REST API (the broker's answers) that have a command of their own. */
static const char *const HINT_WORDS[][2] = {
    {"list your leases with GET /v1/leases", "`lepton lease list` shows your leases"},
    /* a person with a wrong token cannot create one: say where theirs came from, and who can */
    {"create one with: lepton-broker token create --db DB --tenant NAME",
     "check --token, $LEPTON_TOKEN or the profile's token (`lepton config` shows which is used); the "
     "broker's operator makes tokens with `lepton-broker token create`"},
    {"create a token with: lepton-broker token create --db DB --tenant NAME",
     "give one with --token, $LEPTON_TOKEN or a profile (`lepton config --help`); the broker's operator "
     "makes tokens with `lepton-broker token create`"},
};

static const char *fail_endpoint; /* the broker in effect, for messages (cli_fail_endpoint) */
void cli_fail_endpoint(const char *endpoint) { fail_endpoint = endpoint; }

/* The message of a failure in the command line's words: without liblepton's function name, with the
 * same "cannot reach the broker" whichever way the broker was called, and with the hints and field
 * names of the APIs turned into commands and flags. */
static void cli_words(int status, const char *m, char *out, size_t n) {
    char a[3072], b[3072];
    /* "lepton_quote: ..." → "..." */
    if (!strncmp(m, "lepton_", 7)) {
        const char *p = m + 7;
        while ((*p >= 'a' && *p <= 'z') || *p == '_')
            p++;
        if (p[0] == ':' && p[1] == ' ') m = p + 2;
    }
    snprintf(a, sizeof a, "%s", m);
    /* liblepton's "POST http://broker/v1/quote failed: REASON" reads as the CLI's own calls read */
    const char *ep = fail_endpoint;
    const char *failed = strstr(a, " failed: ");
    if (status == LEPTON_ENET && ep && failed && strstr(a, ep) && strstr(a, ep) < failed &&
        strncmp(a, "cannot reach", 12) != 0) {
        const char *why = failed + 9;
        int tls = strstr(why, "SSL") || strstr(why, "certificate") || strstr(why, "TLS");
        snprintf(b, sizeof b, "cannot reach the broker at %s: %s (%s)", ep, why,
                 tls ? "its TLS certificate is not trusted here, or it does not speak https: see --ca-file"
                     : "is `lepton dev` running? see --endpoint");
        snprintf(a, sizeof a, "%s", b);
    }
    /* liblepton's " (hint: X)" reads as the broker's "; X" that the REST calls print */
    char *hint = strstr(a, " (hint: ");
    char *hend = hint ? strchr(hint, ')') : NULL;
    if (hint && hend) {
        snprintf(b, sizeof b, "%.*s; %.*s%s", (int)(hint - a), a, (int)(hend - hint - 8), hint + 8, hend + 1);
        snprintf(a, sizeof a, "%s", b);
    }
    for (size_t i = 0; i < sizeof HINT_WORDS / sizeof HINT_WORDS[0]; i++) {
        char *h = strstr(a, HINT_WORDS[i][0]);
        if (!h) continue;
        snprintf(b, sizeof b, "%.*s%s%s", (int)(h - a), a, HINT_WORDS[i][1], h + strlen(HINT_WORDS[i][0]));
        snprintf(a, sizeof a, "%s", b);
    }
    /* the broker's "$2.50/h" is "$2.50 per GPU-hour" here, as every price the CLI prints */
    size_t o = 0;
    for (const char *p = a; *p && o + 1 < sizeof b;) {
        if (*p == '$' && p[1] >= '0' && p[1] <= '9') {
            const char *q = p + 1;
            while ((*q >= '0' && *q <= '9') || *q == '.')
                q++;
            if (q[0] == '/' && q[1] == 'h' && !(q[2] >= 'a' && q[2] <= 'z')) {
                const char *tail =
                    !strncmp(q + 2, " per GPU", 8) && strncmp(q + 2, " per GPU-", 9) ? q + 10 : q + 2;
                int w = snprintf(b + o, sizeof b - o, "%.*s per GPU-hour", (int)(q - p), p);
                if (w < 0 || (size_t)w >= sizeof b - o) break;
                o += (size_t)w;
                p = tail;
                continue;
            }
        }
        b[o++] = *p++;
    }
    b[o] = '\0';
    cli_flag_words(b, out, n);
}

int cli_fail(int status, const char *what, const char *message) {
    char words[3072];
    cli_words(status, message && *message ? message : "failed", words, sizeof words);
    fprintf(stderr, "lepton: %s: %s (%s)\n", what, words, lepton_status_name(status));
    snprintf(last_msg, sizeof last_msg, "%.900s: %s", what, words);
    /* the broker's code for the status; LEPTON_ENET has none (no answer came): "unreachable" */
    last_code = status == LEPTON_ENET ? "unreachable" : wire_status_to_code(status);
    last_status = status;
    return cli_exit_code(status);
}

int cli_client_open(const cli_global *g, lepton_client **out) {
    lepton_client_options o = LEPTON_CLIENT_OPTIONS_INIT;
    o.endpoint = cli_endpoint(g);
    o.token = cli_token(g);
    o.ca_file = cli_ca_file(g);
    int rc = lepton_client_open(out, &o);
    if (rc) return cli_fail(rc, "cannot set up the client", lepton_last_error());
    return 0;
}

/* ---- options ---- */
void cli_opts_init(cli_opts *o, const char *verb, int argc, char **argv) {
    memset(o, 0, sizeof *o);
    o->argc = argc;
    o->argv = argv;
    o->verb = verb;
}

int cli_opt_next(cli_opts *o, const char **positional) {
    static const char dashdash[] = "--";
    for (;;) {
        if (o->i >= o->argc) return 0;
        const char *a = o->argv[o->i++];
        if (o->flag == dashdash || strncmp(a, "--", 2) != 0 || !strcmp(a, "-")) {
            if (!strcmp(a, "-h") && o->flag != dashdash) {
                o->flag = "--help";
                o->inline_value = NULL;
                return 1;
            }
            *positional = a;
            return 2;
        }
        if (!strcmp(a, "--")) {
            o->flag = dashdash;
            continue;
        }
        const char *eq = strchr(a, '=');
        if (eq) {
            snprintf(o->flagbuf, sizeof o->flagbuf, "%.*s", (int)(eq - a), a);
            o->flag = o->flagbuf;
            o->inline_value = eq + 1;
        } else {
            o->flag = a;
            o->inline_value = NULL;
        }
        return 1;
    }
}

int cli_opt_is(const cli_opts *o, const char *name) { return o->flag && !strcmp(o->flag, name); }

const char *cli_opt_value(cli_opts *o) {
    if (o->inline_value) return o->inline_value;
    if (o->i >= o->argc) {
        cli_usage_error(o->verb, "%s needs a value", o->flag);
        return NULL;
    }
    return o->argv[o->i++];
}

int cli_opt_no_value(cli_opts *o) {
    if (o->inline_value) return cli_usage_error(o->verb, "%s takes no value", o->flag);
    return 0;
}

/* ---- values ---- */
int cli_parse_u32(const char *verb, const char *flag, const char *v, uint32_t min, uint32_t max,
                  uint32_t *out) {
    const char *p = v;
    while (*p == ' ')
        p++;
    if (*p < '0' || *p > '9') return cli_usage_error(verb, "%s: '%s' is not a number", flag, v);
    char *end;
    errno = 0;
    unsigned long long n = strtoull(p, &end, 10);
    if (*end) return cli_usage_error(verb, "%s: '%s' is not a number", flag, v);
    if (errno || n < min || n > max)
        return cli_usage_error(verb, "%s: %s is out of range (%u to %u)", flag, v, min, max);
    *out = (uint32_t)n;
    return 0;
}

int cli_parse_money(const char *verb, const char *flag, const char *v, double *out) {
    const char *p = v;
    if (*p == '$') p++;
    char *end;
    errno = 0;
    double d = strtod(p, &end);
    if (!*p || *end || errno || !isfinite(d))
        return cli_usage_error(verb, "%s: '%s' is not an amount in USD (e.g. 2.50)", flag, v);
    if (d < 0) return cli_usage_error(verb, "%s: %s is negative", flag, v);
    *out = d;
    return 0;
}

int cli_parse_dims(const char *verb, const char *flag, const char *v, uint32_t out[3]) {
    out[0] = out[1] = out[2] = 1;
    const char *p = v;
    for (int k = 0; k < 3; k++) {
        if (*p < '0' || *p > '9')
            return cli_usage_error(
                verb, "%s: '%s' is not X[,Y[,Z]] with positive numbers (e.g. 4096 or 64,64)", flag, v);
        char *end;
        errno = 0;
        unsigned long long n = strtoull(p, &end, 10);
        if (errno || n == 0 || n > UINT32_MAX)
            return cli_usage_error(verb, "%s: '%s': every dimension must be 1 to %u", flag, v, UINT32_MAX);
        out[k] = (uint32_t)n;
        if (!*end) return 0;
        if (*end != ',' || k == 2)
            return cli_usage_error(
                verb, "%s: '%s' is not X[,Y[,Z]] with positive numbers (e.g. 4096 or 64,64)", flag, v);
        p = end + 1;
    }
    return 0;
}

int cli_parse_size(const char *verb, const char *what, const char *v, uint64_t *out) {
    if (*v < '0' || *v > '9')
        return cli_usage_error(verb, "%s: '%s' is not a size in bytes (e.g. 4096, 64K, 1M)", what, v);
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    unsigned shift = 0;
    if (*end == 'K' || *end == 'k')
        shift = 10;
    else if (*end == 'M' || *end == 'm')
        shift = 20;
    else if (*end == 'G' || *end == 'g')
        shift = 30;
    if (shift) end++;
    if (shift && (*end == 'i' || *end == 'B')) end += *end == 'i' ? 1 : 0;
    if (shift && *end == 'B') end++;
    if (errno || *end || n == 0)
        return cli_usage_error(verb, "%s: '%s' is not a size in bytes (e.g. 4096, 64K, 1M)", what, v);
    if (n > (UINT64_MAX >> shift)) return cli_usage_error(verb, "%s: '%s' is too large", what, v);
    *out = (uint64_t)n << shift;
    return 0;
}

/* ---- files ---- */
int cli_read_file(const char *path, void **data, size_t *size) {
    *data = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        cli_err("cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    lp_buf b = LP_BUF_INIT;
    for (;;) {
        if (lp_buf_reserve(&b, b.len < 65536 ? 65536 : b.len, LP_CAP_FILE)) {
            lp_buf_free(&b);
            fclose(f);
            cli_err("out of memory reading %s", path);
            return -1;
        }
        size_t r = fread(b.p + b.len, 1, b.cap - 1 - b.len, f);
        b.len += r;
        if (r == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        lp_buf_free(&b);
        cli_err("cannot read %s", path);
        return -1;
    }
    b.p[b.len] = '\0';
    *data = b.p; /* never NULL, also for an empty file */
    *size = b.len;
    return 0;
}

int cli_write_file(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        cli_err("cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    int ok = fwrite(data, 1, size, f) == size;
    if (fclose(f) != 0) ok = 0;
    if (!ok) {
        cli_err("cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- formatting ---- */
void cli_fmt_bytes(uint64_t b, char *out, size_t n) {
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)b;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(out, n, "%llu B", (unsigned long long)b);
    else
        snprintf(out, n, "%.1f %s", v, units[u]);
}

void cli_fmt_time(int64_t t, char *out, size_t n) {
    if (t <= 0) {
        snprintf(out, n, "-");
        return;
    }
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    strftime(out, n, "%Y-%m-%d %H:%M:%S %Z", &tm);
}

void cli_fmt_gpu_seconds(int64_t v, char *out, size_t n) {
    snprintf(out, n, "%lld GPU-second%s", (long long)v, v == 1 ? "" : "s");
}

void cli_fmt_money(double usd, char *out, size_t n) { lp_money_format(usd, out, n); }

struct cli_table {
    int ncols, nrows;
    size_t cap;   /* cells allocated */
    char **cells; /* nrows × ncols, row 0 = headers */
};

cli_table *cli_table_new(int ncols, const char *const *headers) {
    cli_table *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->ncols = ncols;
    cli_table_add(t, headers);
    return t;
}

void cli_table_add(cli_table *t, const char *const *cells) {
    if (!t) return;
    char **nc = lp_grow(t->cells, &t->cap, ((size_t)t->nrows + 1) * (size_t)t->ncols, sizeof *t->cells,
                        8 * (size_t)t->ncols);
    if (!nc) return;
    t->cells = nc;
    for (int c = 0; c < t->ncols; c++)
        t->cells[t->nrows * t->ncols + c] = strdup(cells[c] ? cells[c] : "");
    t->nrows++;
}

void cli_table_print(cli_table *t) {
    if (!t) return;
    size_t w[32] = {0};
    for (int r = 0; r < t->nrows; r++)
        for (int c = 0; c < t->ncols && c < 32; c++) {
            const char *s = t->cells[r * t->ncols + c];
            size_t len = s ? strlen(s) : 0;
            if (len > w[c]) w[c] = len;
        }
    for (int r = 0; r < t->nrows; r++) {
        for (int c = 0; c < t->ncols && c < 32; c++) {
            const char *s = t->cells[r * t->ncols + c];
            if (c == t->ncols - 1)
                printf("%s", s ? s : "");
            else
                printf("%-*s  ", (int)w[c], s ? s : "");
        }
        putchar('\n');
    }
}

void cli_table_free(cli_table *t) {
    if (!t) return;
    for (int i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}

void cli_print_json(const json_t *j) {
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
}
