/* ptx_lex.h — tokens of PTX text. */
#ifndef CUDAEMU_PTX_LEX_H
#define CUDAEMU_PTX_LEX_H

#include <stddef.h>
#include <stdint.h>

enum { TK_EOF, TK_ID, TK_INT, TK_F32, TK_F64, TK_FLT, TK_STR, TK_PUNCT };

typedef struct ptx_tok {
    int kind;
    int line;
    const char *s;
    uint32_t len;
    char punct;
    uint64_t ival; /* TK_INT value, TK_F32/TK_F64 bits */
    double fval;   /* TK_FLT */
} ptx_tok;

/* Tokenises text; returns the number of tokens (last one TK_EOF) or -1 with a message in err. */
int ptx_lex(const char *text, size_t len, ptx_tok **out, char *err, size_t errsz);

#endif
