/* main.c — the `lepton` command: global options, the verbs of API.md, `version` and the exit-code
 * table in --help. Each verb lives in its own cmd_*.c. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

const char cli_help_main[] =
    "usage: lepton [--endpoint URL] [--token T] [--ca-file FILE] [--profile NAME] COMMAND [ARGS...]\n"
    "\n"
    "Rent GPUs from a Lepton broker and run CUDA kernels on them.\n"
    "\n"
    "commands:\n"
    "  dev [--port 7700] [--emulate N] [--price USD] [--data DIR]\n"
    "                       broker + node agent in one process on loopback, for development\n"
    "  quote [--gpus N] [--gpu-model M] [--json]\n"
    "                       what a lease would get now, cheapest first\n"
    "  lease open [--gpus N] [--gpu-model M] [--ttl S] [--max-price P] [--max-cost C] [--json]\n"
    "  lease list | info ID | extend ID SECONDS | renew ID | close ID\n"
    "  run --ptx FILE --kernel NAME --grid X[,Y,Z] --block X[,Y,Z] [--lease ID] ARG...\n"
    "                       lease a GPU, run one kernel on files, print timing and cost, close\n"
    "  exec [--gpus N] [--gpu-model M] [--min-memory X] [--max-price P] [--max-cost C] [--ttl S]\n"
    "       [--wait S] [--keepalive S] [--lease ID] -- PROGRAM [ARGS...]\n"
    "                       run an unmodified CUDA program on a lease's GPUs (the remote driver);\n"
    "                       exit status = the program's; the lease is closed and its cost printed\n"
    "  nodes [--json]       the broker's nodes and their GPUs\n"
    "  usage [--json]       your GPU-seconds and cost, per lease\n"
    "  version              the versions of lepton and liblepton\n"
    "  config [--json]      the config file, the profile in effect and where each setting comes from\n"
    "  completion bash|zsh  a shell completion script (e.g. source <(lepton completion bash))\n"
    "  help [COMMAND]       this text, or COMMAND's (the same as COMMAND --help)\n"
    "Every command takes --help (with an example).\n"
    "\n"
    "global options (anywhere on the line):\n"
    "  --endpoint URL   the broker (default $LEPTON_ENDPOINT, else http://127.0.0.1:7700)\n"
    "  --token T        your tenant token (default $LEPTON_TOKEN; `lepton dev` accepts none)\n"
    "  --ca-file FILE   CA bundle (PEM) that signed an https broker's and its nodes' certificates\n"
    "                   (default $LEPTON_CA_FILE, else the system's CAs)\n"
    "  --profile NAME   the profile of the config file to use (default $LEPTON_PROFILE, else\n"
    "                   \"default\"); the file is $LEPTON_CONFIG, else $XDG_CONFIG_HOME/lepton/config,\n"
    "                   else ~/.config/lepton/config; see `lepton config --help`\n"
    "  each setting comes from its flag, else its environment variable, else the profile, else the\n"
    "  default\n"
    "\n"
    "output: human tables by default; --json prints only valid JSON on stdout, also on failure:\n"
    "  {\"error\": {\"code\", \"status\", \"exit_code\", \"message\"}}. Messages go to stderr. Times are\n"
    "  local, with their zone; money is USD.\n"
    "\n"
    "exit codes (a failed call exits with -lepton_status):\n"
    "   0 ok                     7 LEPTON_EEXPIRED (the lease has ended)\n"
    "   1 LEPTON_EINVAL, or a    8 LEPTON_ENODELOST (node or worker lost)\n"
    "     local file error       9 LEPTON_ECUDA (CUDA error on the node)\n"
    "   2 bad command line       10 LEPTON_ETIMEDOUT\n"
    "     (LEPTON_ENOMEM too)    11 LEPTON_ECANCELED\n"
    "   3 LEPTON_ENET            12 LEPTON_EPROTO (unexpected answer)\n"
    "   4 LEPTON_EAUTH           13 LEPTON_ENOTFOUND (no such lease)\n"
    "   5 LEPTON_ENOCAPACITY     14 LEPTON_ETOOLARGE\n"
    "   6 LEPTON_EBUDGET\n"
    "\n"
    "example:\n"
    "  lepton dev &                      # prints the endpoint and a token\n"
    "  lepton quote --gpus 1\n"
    "  lepton run --ptx examples/kernels/saxpy.ptx --kernel saxpy --grid 4 --block 256 \\\n"
    "      u32:1024 f32:2.0 in:x.bin inout:y.bin\n";

const char cli_help_version[] = "usage: lepton version [--json]\n\nPrints the versions of lepton and of the "
                                "liblepton it runs with.\n"
                                "  --json   {\"lepton\", \"liblepton\", \"abi\"}\n"
                                "\nexample:\n  lepton version\n";

static int cmd_version(int argc, char **argv) {
    if (argc > 0 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
        fputs(cli_help_version, stdout);
        return 0;
    }
    if (argc > 0 && !strcmp(argv[0], "--json")) {
        printf("{\"lepton\": \"%s\", \"liblepton\": \"%s\", \"abi\": %d}\n", LEPTON_VERSION_STRING,
               lepton_version(), LEPTON_VERSION_MAJOR);
        return 0;
    }
    if (argc > 0) return cli_usage_error("version", "unexpected argument '%s'", argv[0]);
    printf("lepton %s (liblepton %s, ABI %d)\n", LEPTON_VERSION_STRING, lepton_version(),
           LEPTON_VERSION_MAJOR);
    return 0;
}

const char *cli_help_text(const char *verb) {
    static const struct {
        const char *verb, *text;
    } T[] = {{"", cli_help_main},
             {"dev", cli_help_dev},
             {"quote", cli_help_quote},
             {"lease", cli_help_lease},
             {"run", cli_help_run},
             {"exec", cli_help_exec},
             {"nodes", cli_help_nodes},
             {"usage", cli_help_usage},
             {"version", cli_help_version},
             {"config", cli_help_config},
             {"completion", cli_help_completion}};
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
        if (!strcmp(T[i].verb, verb)) return T[i].text;
    return NULL;
}

/* The verbs that print JSON with --json (exec's flags end at PROGRAM, whose own may be --json). */
static int takes_json(const char *cmd) {
    static const char *const v[] = {"quote", "lease", "run", "nodes", "usage", "version", "config"};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (!strcmp(cmd, v[i])) return 1;
    return 0;
}

static int dispatch(cli_global *g, int argc, char **argv) {
    if (argc < 2) {
        fputs(cli_help_main, stderr);
        return CLI_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    int rest = argc - 2;
    char **rv = argv + 2;
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
        fputs(cli_help_main, stdout);
        return 0;
    }
    if (!strcmp(cmd, "help")) { /* `lepton help VERB` = `lepton VERB --help` */
        const char *t = cli_help_text(rest > 0 ? rv[0] : "");
        if (!t) return cli_usage_error("", "help: unknown command '%s'", rv[0]);
        fputs(t, stdout);
        return 0;
    }
    if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) return cmd_version(rest, rv);
    if (!strcmp(cmd, "completion")) return cmd_completion(rest, rv);
    if (!strcmp(cmd, "config")) return cmd_config(g, rest, rv);
    if (!strcmp(cmd, "quote")) return cmd_quote(g, rest, rv);
    if (!strcmp(cmd, "lease")) return cmd_lease(g, rest, rv);
    if (!strcmp(cmd, "run")) return cmd_run(g, rest, rv);
    if (!strcmp(cmd, "exec")) return cmd_exec(g, rest, rv);
    if (!strcmp(cmd, "nodes")) return cmd_nodes(g, rest, rv);
    if (!strcmp(cmd, "usage")) return cmd_usage(g, rest, rv);
    if (!strcmp(cmd, "dev")) return cmd_dev(g, rest, rv);
    return cli_usage_error(
        "", "unknown command '%s' (dev, quote, lease, run, exec, nodes, usage, version, config, completion)",
        cmd);
}

int main(int argc, char **argv) {
    signal(SIGPIPE, SIG_IGN);
    cli_global g = {0};
    const char *profile = NULL;
    /* take the global options out of argv wherever they are (before a "--") */
    int n = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            while (i < argc)
                argv[n++] = argv[i++];
            break;
        }
        const char **dst = NULL;
        const char *name = NULL;
        if (!strncmp(a, "--endpoint", 10) && (a[10] == 0 || a[10] == '='))
            dst = &g.endpoint, name = "--endpoint";
        else if (!strncmp(a, "--token", 7) && (a[7] == 0 || a[7] == '='))
            dst = &g.token, name = "--token";
        else if (!strncmp(a, "--ca-file", 9) && (a[9] == 0 || a[9] == '='))
            dst = &g.ca_file, name = "--ca-file";
        else if (!strncmp(a, "--profile", 9) && (a[9] == 0 || a[9] == '='))
            dst = &profile, name = "--profile";
        if (!dst) {
            argv[n++] = argv[i];
            continue;
        }
        const char *eq = strchr(a, '=');
        if (eq)
            *dst = eq + 1;
        else if (i + 1 < argc)
            *dst = argv[++i];
        else
            return cli_usage_error("", "%s needs a value", name);
    }
    argc = n;
    argv[argc] = NULL;
    if (argc >= 2 && takes_json(argv[1]))
        for (int i = 2; i < argc && strcmp(argv[i], "--"); i++)
            if (!strcmp(argv[i], "--json")) cli_json_mode = 1;
    int rc = 0;
    if (g.endpoint && strncmp(g.endpoint, "http://", 7) && strncmp(g.endpoint, "https://", 8))
        rc = cli_usage_error("", "--endpoint: '%s' is not an http:// or https:// URL", g.endpoint);
    /* the verbs that talk to a broker read the profile (`lepton dev` serves one; help, version and
     * completion work whatever the config file holds) */
    static const char *const client_verbs[] = {"quote", "lease", "run", "exec", "nodes", "usage", "config"};
    int reads_profile = 0;
    for (size_t i = 0; argc >= 2 && i < sizeof client_verbs / sizeof client_verbs[0]; i++)
        if (!strcmp(argv[1], client_verbs[i])) reads_profile = 1;
    for (int i = 2; reads_profile && i < argc && strcmp(argv[i], "--"); i++) {
        if (!strcmp(argv[1], "exec") && argv[i][0] != '-') break; /* PROGRAM's own --help is PROGRAM's */
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) reads_profile = 0;
    }
    if (!rc && reads_profile) rc = cli_config_load(&g, profile);
    const char *ca = rc ? NULL : cli_ca_file(&g);
    if (ca && access(ca, R_OK) != 0) {
        cli_err("%s '%s' cannot be read: %s",
                g.ca_file && *g.ca_file                                 ? "--ca-file"
                : getenv("LEPTON_CA_FILE") && *getenv("LEPTON_CA_FILE") ? "$LEPTON_CA_FILE"
                                                                        : "the profile's ca_file",
                ca, strerror(errno));
        rc = CLI_EXIT_LOCAL;
    }
    if (!rc) cli_fail_endpoint(cli_endpoint(&g));
    if (!rc) rc = dispatch(&g, argc, argv);
    cli_json_error_end(rc);
    return rc;
}
