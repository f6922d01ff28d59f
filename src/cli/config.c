/* config.c — the `lepton` command's config file: named profiles of endpoint, token and CA file, so
 * that a person with several brokers does not retype them. The file is
 * $LEPTON_CONFIG, else $XDG_CONFIG_HOME/lepton/config, else ~/.config/lepton/config:
 *
 *   # comments and blank lines are ignored
 *   [default]
 *   endpoint = http://127.0.0.1:7700
 *
 *   [prod]
 *   endpoint = https://broker.example:7443
 *   token = lpt_...
 *   ca_file = /etc/lepton/ca.crt
 *
 * The profile is --profile NAME, else $LEPTON_PROFILE, else "default"; each setting is taken from
 * its flag, else its environment variable, else the profile, else the built-in default (cli.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

void cli_config_path(char *out, size_t n) {
    const char *env = getenv("LEPTON_CONFIG"), *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    if (env && *env)
        snprintf(out, n, "%s", env);
    else if (xdg && *xdg)
        snprintf(out, n, "%s/lepton/config", xdg);
    else if (home && *home)
        snprintf(out, n, "%s/.config/lepton/config", home);
    else if (n)
        *out = '\0';
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\t')
        s++;
    size_t k = strlen(s);
    while (k && (s[k - 1] == ' ' || s[k - 1] == '\t' || s[k - 1] == '\n' || s[k - 1] == '\r'))
        s[--k] = '\0';
    return s;
}

/* The profile's values live as long as the process (main's cli_global borrows them). */
static char p_endpoint[1024], p_token[512], p_ca_file[1024];
static char p_name[128]; /* the profile loaded, "" when none */

const char *cli_config_profile(void) { return *p_name ? p_name : "none"; }

/* Reading the config file: where it is, the profile wanted, and what was seen so far. */
typedef struct config_reader {
    const char *path, *want;
    int lineno;
    char section[128]; /* the [profile] the lines are in, "" before the first */
    int found;         /* the wanted profile's [line] was seen */
    int has_token;     /* some profile sets a token */
} config_reader;

/* A [profile] line (s, trimmed): 0, or CLI_EXIT_LOCAL after a message. */
static int config_section(config_reader *r, char *s) {
    char *end = strchr(s, ']');
    if (!end || end[1]) {
        cli_err("%s:%d: '%s' is not a [profile] line", r->path, r->lineno, s);
        return CLI_EXIT_LOCAL;
    }
    *end = '\0';
    char *name = trim(s + 1);
    if (!strncmp(name, "profile ", 8)) name = trim(name + 8); /* [profile NAME], as AWS writes it */
    snprintf(r->section, sizeof r->section, "%s", name);
    if (!strcmp(r->section, r->want)) r->found = 1;
    return 0;
}

/* One line of the file (s, trimmed; not blank, not a comment): a [profile] line or a `key = value`
 * line, whose value is kept when it is in the wanted profile. 0, or CLI_EXIT_LOCAL after a message. */
static int config_line(config_reader *r, char *s) {
    if (*s == '[') return config_section(r, s);
    char *eq = strchr(s, '=');
    if (!eq) {
        cli_err("%s:%d: expected `key = value` or [profile], got '%.80s'", r->path, r->lineno, s);
        return CLI_EXIT_LOCAL;
    }
    *eq = '\0';
    char *key = trim(s), *val = trim(eq + 1);
    size_t vn = strlen(val);
    if (vn >= 2 && val[0] == '"' && val[vn - 1] == '"') {
        val[vn - 1] = '\0';
        val++;
    }
    char *dst = NULL;
    size_t dn = 0;
    if (!strcmp(key, "endpoint")) {
        dst = p_endpoint, dn = sizeof p_endpoint;
    } else if (!strcmp(key, "token")) {
        dst = p_token, dn = sizeof p_token;
        if (*val) r->has_token = 1;
    } else if (!strcmp(key, "ca_file") || !strcmp(key, "ca-file")) {
        dst = p_ca_file, dn = sizeof p_ca_file;
    } else {
        cli_err("%s:%d: unknown key '%s' (endpoint, token, ca_file)", r->path, r->lineno, key);
        return CLI_EXIT_LOCAL;
    }
    if (!*r->section) {
        cli_err("%s:%d: '%s' comes before any [profile] line (start with [default])", r->path, r->lineno,
                key);
        return CLI_EXIT_LOCAL;
    }
    if (strcmp(r->section, r->want) != 0) return 0;
    if (strlen(val) >= dn) {
        cli_err("%s:%d: %s is too long", r->path, r->lineno, key);
        return CLI_EXIT_LOCAL;
    }
    snprintf(dst, dn, "%s", val);
    return 0;
}

int cli_config_load(cli_global *g, const char *flag_profile) {
    const char *env_profile = getenv("LEPTON_PROFILE");
    const char *profile = flag_profile && *flag_profile ? flag_profile
                          : env_profile && *env_profile ? env_profile
                                                        : NULL;
    const char *named_by = flag_profile && *flag_profile ? "--profile" : "$LEPTON_PROFILE";
    char path[1100];
    cli_config_path(path, sizeof path);
    FILE *f = *path ? fopen(path, "r") : NULL;
    if (!f) {
        if (!profile && (errno == ENOENT || !*path)) return 0; /* no file: the defaults */
        if (!*path)
            cli_err("%s %s: no config file (HOME is not set; set LEPTON_CONFIG)", named_by, profile);
        else if (errno == ENOENT)
            cli_err("%s %s: there is no config file %s (see `lepton config --help`)", named_by, profile,
                    path);
        else
            cli_err("config file %s: %s", path, strerror(errno));
        return CLI_EXIT_LOCAL;
    }
    config_reader r = {.path = path, .want = profile ? profile : "default"};
    const char *want = r.want;
    char line[2048];
    int rc = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        r.lineno++;
        char *s = trim(line);
        if (!*s || *s == '#' || *s == ';') continue;
        rc = config_line(&r, s);
    }
    struct stat st;
    int st_ok = fstat(fileno(f), &st) == 0;
    fclose(f);
    if (rc) return rc;
    /* a token is a password: the file that holds one must be the user's alone (as ssh does it) */
    if (r.has_token && st_ok && (st.st_mode & 077)) {
        cli_err("config file %s holds a token and can be read by %s (mode %03o); run: chmod 600 %s", path,
                (st.st_mode & 007) ? "everyone" : "its group", (unsigned)(st.st_mode & 0777), path);
        return CLI_EXIT_LOCAL;
    }
    if (!r.found) {
        if (!profile) return 0;
        cli_err("%s %s: %s has no [%s] profile", named_by, profile, path, profile);
        return CLI_EXIT_LOCAL;
    }
    if (*p_endpoint && strncmp(p_endpoint, "http://", 7) && strncmp(p_endpoint, "https://", 8)) {
        cli_err("%s [%s]: endpoint '%s' is not an http:// or https:// URL", path, want, p_endpoint);
        return CLI_EXIT_LOCAL;
    }
    snprintf(p_name, sizeof p_name, "%s", want);
    g->profile_endpoint = *p_endpoint ? p_endpoint : NULL;
    g->profile_token = *p_token ? p_token : NULL;
    g->profile_ca_file = *p_ca_file ? p_ca_file : NULL;
    return 0;
}
