/* ptx_text.c — kernel names and parameter lists read from PTX text (ptx_text.h). */
#include "ptx_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* The PTX text without comments (malloc'd), or NULL when out of memory. */
static char *strip_comments(const char *t, size_t n) {
    char *o = malloc(n + 1);
    if (!o) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n && t[i]; i++) {
        if (t[i] == '/' && i + 1 < n && t[i + 1] == '/') {
            while (i < n && t[i] && t[i] != '\n')
                i++;
            if (i < n && t[i] == '\n') o[k++] = '\n';
            continue;
        }
        if (t[i] == '/' && i + 1 < n && t[i + 1] == '*') {
            i += 2;
            while (i + 1 < n && t[i] && !(t[i] == '*' && t[i + 1] == '/'))
                i++;
            i++;
            o[k++] = ' ';
            continue;
        }
        o[k++] = t[i];
    }
    o[k] = '\0';
    return o;
}

static int ident_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '$' || c == '%';
}

static const char *skip_space(const char *p) {
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

/* The name of the next `.entry` at or after *p in comment-free text (*len its length; *p moves past
 * it), or NULL when there is none. */
static const char *next_entry(const char **p, size_t *len) {
    for (const char *q = *p; (q = strstr(q, ".entry")) != NULL;) {
        q += 6;
        if (ident_char(*q)) continue;
        q = skip_space(q);
        const char *name = q;
        while (ident_char(*q))
            q++;
        if (q == name) continue;
        *p = q;
        *len = (size_t)(q - name);
        return name;
    }
    return NULL;
}

int lp_ptx_entries(const void *image, size_t size, void (*fn)(const char *name, size_t len, void *user),
                   void *user) {
    char *text = strip_comments(image, size);
    if (!text) return -1;
    int count = 0;
    size_t nl;
    for (const char *p = text, *name; (name = next_entry(&p, &nl)) != NULL; count++)
        fn(name, nl, user);
    free(text);
    return count;
}

/* One ".param ..." declaration of length len into *out; 0 when it is one. */
static int parse_decl(const char *d, size_t len, lp_ptx_param *out) {
    char buf[512];
    snprintf(buf, sizeof buf, "%.*s", (int)(len < sizeof buf ? len : sizeof buf - 1), d);
    memset(out, 0, sizeof *out);
    out->count = 1;
    char *save = NULL, *tok = strtok_r(buf, " \t\r\n", &save);
    if (!tok || strcmp(tok, ".param") != 0) return -1;
    char *last = NULL;
    while ((tok = strtok_r(NULL, " \t\r\n", &save)) != NULL) {
        if (tok[0] == '.') {
            const char *t = tok + 1;
            if (!out->type[0] && (t[0] == 'u' || t[0] == 's' || t[0] == 'b' || t[0] == 'f') &&
                (!strcmp(t + 1, "8") || !strcmp(t + 1, "16") || !strcmp(t + 1, "32") ||
                 !strcmp(t + 1, "64"))) {
                if (t[0] == 'f' && !strcmp(t + 1, "8")) continue;
                snprintf(out->type, sizeof out->type, "%s", t);
                out->kind = t[0];
                out->size = (uint32_t)atoi(t + 1) / 8;
            }
            continue;
        }
        last = tok; /* the name, possibly with "[N]" (or "[" "N" "]" apart) */
        if (strchr(tok, '[')) break;
    }
    if (!last) return -1;
    char *br = strchr(last, '[');
    if (!br) {
        /* "name [ 16 ]": the rest of the declaration holds the length */
        const char *rest = strchr(d, '[');
        if (rest && rest < d + len) out->count = (uint32_t)strtoul(rest + 1, NULL, 10);
    } else {
        out->count = (uint32_t)strtoul(br + 1, NULL, 10);
        *br = '\0';
    }
    if (out->count == 0) out->count = 1;
    snprintf(out->name, sizeof out->name, "%s", last);
    out->size *= out->count;
    if (out->count != 1) out->kind = 0; /* an aggregate: its bytes, not a number */
    return 0;
}

int lp_ptx_signature(const void *image, size_t size, const char *kernel, lp_ptx_param **params, size_t *n,
                     char *err, size_t en) {
    *params = NULL;
    *n = 0;
    if (en) *err = '\0';
    const unsigned char *u = image;
    if (size >= 4 && ((u[0] == 0x7f && u[1] == 'E' && u[2] == 'L' && u[3] == 'F') ||
                      (u[0] == 0x50 && u[1] == 0xed && u[2] == 0x55 && u[3] == 0xba)))
        return 1;
    if (memchr(image, '\0', size) && strlen(image) < size / 2) return 1;
    char *text = strip_comments(image, size);
    if (!text) {
        snprintf(err, en, "out of memory reading the PTX");
        return -1;
    }
    if (!strstr(text, ".entry")) {
        free(text);
        return 1;
    }
    char names[512] = "";
    int rc = -1;
    size_t nl;
    for (const char *p = text, *name; (name = next_entry(&p, &nl)) != NULL;) {
        if (strlen(kernel) != nl || strncmp(name, kernel, nl) != 0) {
            size_t len = strlen(names);
            if (len + nl + 3 < sizeof names)
                snprintf(names + len, sizeof names - len, "%s%.*s", len ? ", " : "", (int)nl, name);
            continue;
        }
        p = skip_space(p);
        if (*p != '(') { /* no parameter list */
            rc = 0;
            break;
        }
        const char *close = strchr(p, ')');
        if (!close) {
            snprintf(err, en, "the PTX declaration of kernel '%s' has no ')'", kernel);
            break;
        }
        size_t cap = 0, count = 0;
        lp_ptx_param *list = lp_grow(NULL, &cap, 1, sizeof *list, 8); /* never NULL on success */
        const char *d = p + 1;
        while (list && d < close) {
            const char *comma = memchr(d, ',', (size_t)(close - d));
            const char *end = comma ? comma : close;
            lp_ptx_param one;
            if (parse_decl(skip_space(d), (size_t)(end - skip_space(d)), &one) == 0) {
                lp_ptx_param *grown = lp_grow(list, &cap, count + 1, sizeof *list, 8);
                if (!grown) {
                    free(list);
                    list = NULL;
                    break;
                }
                list = grown;
                list[count++] = one;
            }
            d = end + 1;
        }
        if (!list) {
            snprintf(err, en, "out of memory reading the PTX");
            break;
        }
        *params = list;
        *n = count;
        rc = 0;
        break;
    }
    if (rc < 0 && !*err)
        snprintf(err, en, "there is no kernel '%s' in it (its kernels: %s)", kernel, *names ? names : "none");
    free(text);
    return rc;
}
