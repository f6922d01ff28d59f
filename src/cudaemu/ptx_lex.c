/* ptx_lex.c — turns PTX text into tokens: identifiers (directives, opcodes, registers, names),
 * integer and float literals (0f/0d bit patterns, decimal), strings and punctuation. */
#include "ptx_lex.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int is_id_start(int c) { return isalpha(c) || c == '_' || c == '$' || c == '%' || c == '.'; }
static int is_id_char(int c) { return isalnum(c) || c == '_' || c == '$' || c == '.'; }

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int ptx_lex(const char *text, size_t len, ptx_tok **out, char *err, size_t errsz) {
    size_t cap = 1024, n = 0, i = 0;
    int line = 1;
    ptx_tok *t = malloc(cap * sizeof *t);
    if (!t) {
        snprintf(err, errsz, "out of memory");
        return -1;
    }
    while (1) {
        while (i < len) {
            char c = text[i];
            if (c == '\n') {
                line++;
                i++;
            } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
                i++;
            } else if (c == '/' && i + 1 < len && text[i + 1] == '/') {
                while (i < len && text[i] != '\n')
                    i++;
            } else if (c == '/' && i + 1 < len && text[i + 1] == '*') {
                i += 2;
                while (i + 1 < len && !(text[i] == '*' && text[i + 1] == '/')) {
                    if (text[i] == '\n') line++;
                    i++;
                }
                i += 2;
            } else {
                break;
            }
        }
        if (n + 1 >= cap) {
            cap *= 2;
            ptx_tok *nt = realloc(t, cap * sizeof *t);
            if (!nt) {
                free(t);
                snprintf(err, errsz, "out of memory");
                return -1;
            }
            t = nt;
        }
        ptx_tok *k = &t[n];
        memset(k, 0, sizeof *k);
        k->line = line;
        if (i >= len || text[i] == '\0') {
            k->kind = TK_EOF;
            k->s = "end of input"; /* error messages quote it ("near 'end of input'") */
            k->len = 12;
            n++;
            break;
        }
        size_t st = i;
        unsigned char c = (unsigned char)text[i];
        k->s = text + i;
        if (is_id_start(c)) {
            i++;
            while (i < len) {
                if (is_id_char((unsigned char)text[i])) {
                    i++;
                } else if (text[i] == ':' && i + 2 < len && text[i + 1] == ':' &&
                           is_id_char((unsigned char)text[i + 2])) {
                    i += 2; /* qualifiers such as .shared::cta or .L2::cache_hint */
                } else {
                    break;
                }
            }
            k->kind = TK_ID;
        } else if (isdigit(c)) {
            if (c == '0' && i + 1 < len &&
                (text[i + 1] == 'f' || text[i + 1] == 'F' || text[i + 1] == 'd' || text[i + 1] == 'D')) {
                int is64 = text[i + 1] == 'd' || text[i + 1] == 'D';
                int want = is64 ? 16 : 8;
                uint64_t v = 0;
                i += 2;
                int nd = 0;
                while (i < len && hexval((unsigned char)text[i]) >= 0) {
                    v = (v << 4) | (uint64_t)hexval((unsigned char)text[i]);
                    i++;
                    nd++;
                }
                if (nd != want) {
                    snprintf(err, errsz, "line %d: malformed float literal", line);
                    free(t);
                    return -1;
                }
                k->kind = is64 ? TK_F64 : TK_F32;
                k->ival = v;
            } else if (c == '0' && i + 1 < len && (text[i + 1] == 'x' || text[i + 1] == 'X')) {
                uint64_t v = 0;
                i += 2;
                int nd = 0;
                while (i < len && hexval((unsigned char)text[i]) >= 0) {
                    v = (v << 4) | (uint64_t)hexval((unsigned char)text[i]);
                    i++;
                    nd++;
                }
                if (nd == 0 || nd > 16) {
                    snprintf(err, errsz, "line %d: malformed hex literal", line);
                    free(t);
                    return -1;
                }
                if (i < len && (text[i] == 'U' || text[i] == 'u')) i++;
                k->kind = TK_INT;
                k->ival = v;
            } else {
                size_t j = i;
                int isf = 0;
                while (j < len && isdigit((unsigned char)text[j]))
                    j++;
                if (j < len && text[j] == '.' && j + 1 < len && isdigit((unsigned char)text[j + 1])) isf = 1;
                if (j < len && (text[j] == 'e' || text[j] == 'E')) isf = 1;
                if (isf) {
                    char buf[64];
                    size_t e = j;
                    while (e < len && (isalnum((unsigned char)text[e]) || text[e] == '.' ||
                                       ((text[e] == '-' || text[e] == '+') &&
                                        (text[e - 1] == 'e' || text[e - 1] == 'E'))))
                        e++;
                    size_t l = e - i < sizeof buf - 1 ? e - i : sizeof buf - 1;
                    memcpy(buf, text + i, l);
                    buf[l] = 0;
                    k->kind = TK_FLT;
                    k->fval = strtod(buf, NULL);
                    i = e;
                } else {
                    uint64_t v = 0, base = c == '0' && j - i > 1 ? 8 : 10;
                    for (size_t q = i; q < j; q++) {
                        uint64_t d = (uint64_t)(text[q] - '0');
                        if (d >= base || v > (UINT64_MAX - d) / base) {
                            snprintf(err, errsz, "line %d: integer literal '%.*s' %s", line,
                                     (int)(j - i < 40 ? j - i : 40), text + i,
                                     d >= base ? "is not a valid octal number" : "does not fit in 64 bits");
                            free(t);
                            return -1;
                        }
                        v = v * base + d;
                    }
                    i = j;
                    if (i < len && (text[i] == 'U' || text[i] == 'u')) i++;
                    k->kind = TK_INT;
                    k->ival = v;
                }
            }
        } else if (c == '"') {
            i++;
            while (i < len && text[i] != '"' && text[i] != '\n')
                i++;
            if (i < len && text[i] == '"') i++;
            k->kind = TK_STR;
        } else if (strchr("{}()[],;:+-|!@<>=", c)) {
            i++;
            k->kind = TK_PUNCT;
            k->punct = (char)c;
        } else {
            snprintf(err, errsz, "line %d: unexpected character '%c'", line, isprint(c) ? c : '?');
            free(t);
            return -1;
        }
        k->len = (uint32_t)(i - st);
        n++;
    }
    *out = t;
    return (int)n;
}
