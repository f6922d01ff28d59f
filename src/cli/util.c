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

#define DEFAULT_ENDPOINT "http://127.0.0.1:7700"

const char *cli_endpoint(const cli_global *g) {
    if (g->endpoint && *g->endpoint) return g->endpoint;
    const char *e = getenv("LEPTON_ENDPOINT");
    return e && *e ? e : DEFAULT_ENDPOINT;
}

const char *cli_token(const cli_global *g) {
    if (g->token && *g->token) return g->token;
    const char *t = getenv("LEPTON_TOKEN");
    return t && *t ? t : NULL;
}

const char *cli_ca_file(const cli_global *g) {
    if (g->ca_file && *g->ca_file) return g->ca_file;
    const char *f = getenv("LEPTON_CA_FILE");
    return f && *f ? f : NULL;
}

void cli_err(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("lepton: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_usage_error(const char *verb, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("lepton: ", stderr);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nrun 'lepton %s%s--help' for usage\n", verb ? verb : "", verb && *verb ? " " : "");
    va_end(ap);
    return CLI_EXIT_USAGE;
}

int cli_exit_code(int status) {
    if (status >= 0) return CLI_EXIT_OK;
    if (status < -125) return CLI_EXIT_LOCAL;
    return -status;
}

int cli_fail(int status, const char *what, const char *message) {
    fprintf(stderr, "lepton: %s: %s (%s)\n", what, message && *message ? message : "failed",
            lepton_status_name(status));
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
    strftime(out, n, "%Y-%m-%d %H:%M:%S", &tm);
}

void cli_fmt_money(double usd, char *out, size_t n) { lp_money_format(usd, out, n); }

struct cli_table {
    int ncols, nrows, cap;
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
    if (t->nrows == t->cap) {
        int ncap = t->cap ? t->cap * 2 : 8;
        char **nc = realloc(t->cells, (size_t)ncap * (size_t)t->ncols * sizeof *nc);
        if (!nc) return;
        t->cells = nc;
        t->cap = ncap;
    }
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
