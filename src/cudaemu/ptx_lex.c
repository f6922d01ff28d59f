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

/* Advances *pos past whitespace and comments, counting the newlines it passes in *line. */
static void skip_blank(const char *text, size_t len, size_t *pos, int *line) {
    size_t i = *pos;
    while (i < len) {
        char c = text[i];
        if (c == '\n') {
            (*line)++;
            i++;
        } else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
            i++;
        } else if (c == '/' && i + 1 < len && text[i + 1] == '/') {
            while (i < len && text[i] != '\n')
                i++;
        } else if (c == '/' && i + 1 < len && text[i + 1] == '*') {
            i += 2;
            while (i + 1 < len && !(text[i] == '*' && text[i + 1] == '/')) {
                if (text[i] == '\n') (*line)++;
                i++;
            }
            i += 2;
        } else {
            break;
        }
    }
    *pos = i;
}

/* Makes room for one more token after the n already in *t; frees *t and fails when out of memory. */
static int grow_tokens(ptx_tok **t, size_t n, size_t *cap, char *err, size_t errsz) {
    if (n + 1 < *cap) return 0;
    *cap *= 2;
    ptx_tok *nt = realloc(*t, *cap * sizeof *nt);
    if (!nt) {
        free(*t);
        snprintf(err, errsz, "out of memory");
        return -1;
    }
    *t = nt;
    return 0;
}

/* Scans an identifier (directive, opcode, register or name) starting at *pos. */
static void lex_id(const char *text, size_t len, size_t *pos) {
    size_t i = *pos + 1;
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
    *pos = i;
}

/* Reads hex digits from *pos into *v; returns how many there were. */
static int scan_hex(const char *text, size_t len, size_t *pos, uint64_t *v) {
    int nd = 0;
    while (*pos < len && hexval((unsigned char)text[*pos]) >= 0) {
        *v = (*v << 4) | (uint64_t)hexval((unsigned char)text[*pos]);
        (*pos)++;
        nd++;
    }
    return nd;
}

/* Lexes a 0fXXXXXXXX / 0dXXXXXXXXXXXXXXXX literal: the IEEE bits of a float or double. */
static int lex_float_bits(const char *text, size_t len, size_t *pos, int line, ptx_tok *k, char *err,
                          size_t errsz) {
    int is64 = text[*pos + 1] == 'd' || text[*pos + 1] == 'D';
    int want = is64 ? 16 : 8;
    uint64_t v = 0;
    *pos += 2;
    if (scan_hex(text, len, pos, &v) != want) {
        snprintf(err, errsz, "line %d: malformed float literal", line);
        return -1;
    }
    k->kind = is64 ? TK_F64 : TK_F32;
    k->ival = v;
    return 0;
}

/* Lexes a 0x hex integer literal with an optional U suffix. */
static int lex_hex_int(const char *text, size_t len, size_t *pos, int line, ptx_tok *k, char *err,
                       size_t errsz) {
    uint64_t v = 0;
    *pos += 2;
    int nd = scan_hex(text, len, pos, &v);
    if (nd == 0 || nd > 16) {
        snprintf(err, errsz, "line %d: malformed hex literal", line);
        return -1;
    }
    if (*pos < len && (text[*pos] == 'U' || text[*pos] == 'u')) (*pos)++;
    k->kind = TK_INT;
    k->ival = v;
    return 0;
}

/* Lexes a decimal float literal such as 1.5 or 2e-3 whose digits end at j. */
static void lex_decimal_float(const char *text, size_t len, size_t *pos, size_t j, ptx_tok *k) {
    size_t i = *pos;
    char buf[64];
    size_t e = j;
    while (e < len && (isalnum((unsigned char)text[e]) || text[e] == '.' ||
                       ((text[e] == '-' || text[e] == '+') && (text[e - 1] == 'e' || text[e - 1] == 'E'))))
        e++;
    size_t l = e - i < sizeof buf - 1 ? e - i : sizeof buf - 1;
    memcpy(buf, text + i, l);
    buf[l] = 0;
    k->kind = TK_FLT;
    k->fval = strtod(buf, NULL);
    *pos = e;
}

/* Lexes a decimal (or, with a leading 0, octal) integer literal whose digits end at j, with an
 * optional U suffix. */
static int lex_decimal_int(const char *text, size_t len, size_t *pos, size_t j, int line, ptx_tok *k,
                           char *err, size_t errsz) {
    size_t i = *pos;
    uint64_t v = 0, base = text[i] == '0' && j - i > 1 ? 8 : 10;
    for (size_t q = i; q < j; q++) {
        uint64_t d = (uint64_t)(text[q] - '0');
        if (d >= base || v > (UINT64_MAX - d) / base) {
            snprintf(err, errsz, "line %d: integer literal '%.*s' %s", line, (int)(j - i < 40 ? j - i : 40),
                     text + i, d >= base ? "is not a valid octal number" : "does not fit in 64 bits");
            return -1;
        }
        v = v * base + d;
    }
    i = j;
    if (i < len && (text[i] == 'U' || text[i] == 'u')) i++;
    k->kind = TK_INT;
    k->ival = v;
    *pos = i;
    return 0;
}

/* Lexes a literal that starts with a digit: float bits, hex, decimal float or decimal/octal integer. */
static int lex_number(const char *text, size_t len, size_t *pos, int line, ptx_tok *k, char *err,
                      size_t errsz) {
    size_t i = *pos;
    char c = text[i];
    if (c == '0' && i + 1 < len &&
        (text[i + 1] == 'f' || text[i + 1] == 'F' || text[i + 1] == 'd' || text[i + 1] == 'D'))
        return lex_float_bits(text, len, pos, line, k, err, errsz);
    if (c == '0' && i + 1 < len && (text[i + 1] == 'x' || text[i + 1] == 'X'))
        return lex_hex_int(text, len, pos, line, k, err, errsz);
    size_t j = i;
    int isf = 0;
    while (j < len && isdigit((unsigned char)text[j]))
        j++;
    if (j < len && text[j] == '.' && j + 1 < len && isdigit((unsigned char)text[j + 1])) isf = 1;
    if (j < len && (text[j] == 'e' || text[j] == 'E')) isf = 1;
    if (isf) {
        lex_decimal_float(text, len, pos, j, k);
        return 0;
    }
    return lex_decimal_int(text, len, pos, j, line, k, err, errsz);
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
        skip_blank(text, len, &i, &line);
        if (grow_tokens(&t, n, &cap, err, errsz) != 0) return -1;
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
            lex_id(text, len, &i);
            k->kind = TK_ID;
        } else if (isdigit(c)) {
            if (lex_number(text, len, &i, line, k, err, errsz) != 0) {
                free(t);
                return -1;
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
