/* cli.h — what the files of the `lepton` command share: global options, exit codes, flag parsing,
 * output helpers and the raw broker calls (for what liblepton has no function: leases by id,
 * nodes, usage). Each verb lives in its own cmd_*.c. */
#ifndef LEPTON_CLI_CLI_H
#define LEPTON_CLI_CLI_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "lepton/lepton.h"

/* Exit codes: 0 success; a failure with a lepton_status exits with -status (LEPTON_ENOCAPACITY →
 * 5, …); a bad command line exits with 2; a local failure (a file) with 1. */
#define CLI_EXIT_OK 0
#define CLI_EXIT_LOCAL 1
#define CLI_EXIT_USAGE 2

/* Defaults shared by every verb that opens a lease (quote, lease open, run, exec), the same as the
 * C API's and the Python binding's: a lease lives an hour unless --ttl, and a request is answered
 * at once unless --wait. The verbs that hold their lease themselves (run, exec) add a keepalive. */
#define CLI_DEFAULT_TTL_S 3600
#define CLI_DEFAULT_WAIT_S 0
#define CLI_HOLDER_KEEPALIVE_S 30

typedef struct cli_global {
    const char *endpoint; /* --endpoint, else $LEPTON_ENDPOINT, else the profile's, else the default */
    const char *token;    /* --token, else $LEPTON_TOKEN, else the profile's, else none */
    const char *ca_file;  /* --ca-file, else $LEPTON_CA_FILE, else the profile's, else the system's CAs */
    /* the profile of the config file (config.c), NULL where it has none */
    const char *profile_endpoint, *profile_token, *profile_ca_file;
} cli_global;

/* ---- the config file (config.c) ---- */
/* Loads profile `name` (--profile, else $LEPTON_PROFILE, else "default") from the config file
 * ($LEPTON_CONFIG, else $XDG_CONFIG_HOME/lepton/config, else ~/.config/lepton/config) into g's
 * profile_* fields. A missing file, or a missing "default" profile, is no error; a profile named
 * explicitly that the file lacks is. A file that holds a token and can be read by group or others
 * is refused. Returns 0, or an exit code after printing why. */
int cli_config_load(cli_global *g, const char *flag_profile);
/* The name of the profile loaded, "none" when none was. */
const char *cli_config_profile(void);
/* The config file's path (for messages and `lepton config`), "" when HOME is not set either. */
void cli_config_path(char *out, size_t n);

/* The broker URL in effect (never NULL). */
const char *cli_endpoint(const cli_global *g);
/* The token in effect, or NULL. */
const char *cli_token(const cli_global *g);
/* The extra CA bundle in effect, or NULL. */
const char *cli_ca_file(const cli_global *g);

/* --json on the command line of a verb that prints JSON: failures then also print a JSON error
 * object on stdout (cli_json_error_end). Set by main. */
extern int cli_json_mode;
/* At the end of a verb that failed (rc != 0) in --json mode: prints
 * {"error": {"code", "status", "exit_code", "message"}} on stdout, the shape of the broker's error
 * answers plus the lepton_status name and the exit code, unless one was printed already. */
void cli_json_error_end(int rc);

/* Messages on stderr, prefixed "lepton: ". */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A usage error of `verb`: prints the message and a pointer to --help, returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *verb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A failed call: prints "lepton: WHAT: message (LEPTON_X)" and returns the exit code of status.
 * The message's C and REST field names (gpu_count, max_price_per_gpu_hour, ...) are replaced by the
 * flags a person types (--gpus, --max-price, ...), and a refusal for capacity gets the hint of the
 * verb WHAT names (cli_hint). */
int cli_fail(int status, const char *what, const char *message);
/* The broker URL that failure messages name (main sets it once the settings are known). */
void cli_fail_endpoint(const char *endpoint);
/* Rewrites the field names of message into the command line's flags (see cli_fail), into out. */
void cli_flag_words(const char *message, char *out, size_t n);
/* The exit code of a lepton_status. */
int cli_exit_code(int status);

/* A tiny option parser: every verb calls cli_opt_next in a loop. Flags take "--flag VALUE" or
 * "--flag=VALUE"; arguments that do not start with "--" are positional. */
typedef struct cli_opts {
    int argc;
    char **argv;
    int i;
    const char *verb; /* for messages, e.g. "lease open" */
    const char *flag; /* the current flag (without "=value") */
    char flagbuf[64];
    const char *inline_value; /* the part after '=', or NULL */
} cli_opts;
void cli_opts_init(cli_opts *o, const char *verb, int argc, char **argv);
/* Returns 1 with o->flag set for a flag, 2 with *positional set for a positional argument, 0 at
 * the end. "--" ends the flags (the rest are positional). */
int cli_opt_next(cli_opts *o, const char **positional);
/* The value of the current flag; NULL after printing a usage error. */
const char *cli_opt_value(cli_opts *o);
/* 1 when the current flag is `name`. */
int cli_opt_is(const cli_opts *o, const char *name);
/* Refuses a value after '=' for a flag without value; returns 0 when fine. */
int cli_opt_no_value(cli_opts *o);

/* Parsers: 0 on success, else a usage message ("--gpus: 'x' is not a number") and CLI_EXIT_USAGE. */
int cli_parse_u32(const char *verb, const char *flag, const char *v, uint32_t min, uint32_t max,
                  uint32_t *out);
int cli_parse_money(const char *verb, const char *flag, const char *v, double *out);
/* "X[,Y[,Z]]" → three values ≥ 1 (missing ones are 1). */
int cli_parse_dims(const char *verb, const char *flag, const char *v, uint32_t out[3]);
/* A byte count: 4096, 4K, 1M, 2G (powers of 1024). */
int cli_parse_size(const char *verb, const char *what, const char *v, uint64_t *out);

/* Files: read a whole file (malloc'd; *size set), write one. 0 or -1 with a message printed. */
int cli_read_file(const char *path, void **data, size_t *size);
int cli_write_file(const char *path, const void *data, size_t size);

/* Human output helpers. */
void cli_fmt_bytes(uint64_t bytes, char *out, size_t n);  /* "80.0 GiB" */
void cli_fmt_time(int64_t unix_s, char *out, size_t n);   /* "2026-11-23 01:02:03 UTC": local, with its
                                                             zone; "-" for 0 */
void cli_fmt_gpu_seconds(int64_t v, char *out, size_t n); /* "1 GPU-second", "2 GPU-seconds" */
void cli_fmt_money(double usd, char *out, size_t n);      /* "$0.001234", "$1.50": lp_money_format */

/* A simple table: add cells row by row, print with aligned columns. */
typedef struct cli_table cli_table;
cli_table *cli_table_new(int ncols, const char *const *headers);
void cli_table_add(cli_table *t, const char *const *cells);
void cli_table_print(cli_table *t);
void cli_table_free(cli_table *t);

/* Prints JSON on stdout (indented, one trailing newline) and frees nothing. */
void cli_print_json(const json_t *j);

/* ---- raw broker calls (src/common/httpc.h + jansson), docs/protocol.md ---- */
/* Calls METHOD path on the broker with an optional JSON body; on 2xx sets *out (caller decrefs) and
 * returns LEPTON_OK. Otherwise returns the lepton_status of the answer (or LEPTON_ENET/EPROTO),
 * writes a message into err and, when the error answer carried a body, sets *out to it. */
int cli_http(const cli_global *g, const char *method, const char *path, const json_t *body, long timeout_ms,
             json_t **out, char *err, size_t err_size);

/* Verbs (argc/argv start after the verb's words). */
int cmd_quote(const cli_global *g, int argc, char **argv);
int cmd_lease(const cli_global *g, int argc, char **argv);
int cmd_run(const cli_global *g, int argc, char **argv);
int cmd_nodes(const cli_global *g, int argc, char **argv);
int cmd_usage(const cli_global *g, int argc, char **argv);
int cmd_dev(const cli_global *g, int argc, char **argv);
int cmd_exec(const cli_global *g, int argc, char **argv);
int cmd_completion(int argc, char **argv);
int cmd_config(const cli_global *g, int argc, char **argv);
/* The --help text of a verb ("run", "lease", ...; "" for lepton itself), NULL for an unknown one:
 * `lepton help VERB`, completion and the man pages use the same texts as --help. */
const char *cli_help_text(const char *verb);
extern const char cli_help_quote[], cli_help_lease[], cli_help_run[], cli_help_exec[], cli_help_nodes[],
    cli_help_usage[], cli_help_dev[], cli_help_version[], cli_help_completion[], cli_help_config[],
    cli_help_main[];

/* The lease request flags shared by quote, lease open, run and exec: returns 1 when the current flag
 * was one of them (consumed), 0 when not, CLI_EXIT_USAGE+100 after a usage error. wait_s: where
 * --wait's seconds go, NULL for the verbs without the lease-only flags (--ttl, --max-cost, --wait,
 * --keepalive, --labels). */
#define CLI_REQ_BAD 102
int cli_lease_request_flag(cli_opts *o, lepton_lease_request *req, uint32_t *wait_s);
/* Parses a verb whose flags are the lease-request ones (none when req is NULL) plus --json and
 * --help: 0, -1 after printing help, or CLI_EXIT_USAGE after a usage message. */
int cli_request_flags(const char *verb, const char *help, int argc, char **argv, lepton_lease_request *req,
                      uint32_t *wait_s, int *json);
/* lepton_lease_open that waits up to wait_s seconds for capacity, saying "waiting for capacity…"
 * on stderr meanwhile (req->wait_ms is overwritten). Returns the status; prints nothing on failure. */
int cli_lease_open_waiting(lepton_client *c, lepton_lease_request *req, uint32_t wait_s, lepton_lease **out);
/* The lease a verb runs on: attached to lease_id (its --lease) when given, else opened with
 * cli_lease_open_waiting; 0, or an exit code after the message ("VERB: --lease: …" or "VERB: lease:
 * <the refusal with its hint>"). */
int cli_lease_get(lepton_client *c, const char *verb, const char *lease_id, lepton_lease_request *req,
                  uint32_t wait_s, lepton_lease **out);
/* The message of a refused lease request in `lepton VERB`, with the hint of what to do from there
 * (the same words in every verb): message + "; waited N s" + "; `lepton quote ...` shows ...". */
void cli_refusal_message(const char *verb, int status, const char *message, uint32_t waited_s, char *out,
                         size_t n);
/* Opens a liblepton client for g (prints the error). */
int cli_client_open(const cli_global *g, lepton_client **out);

#endif
