/* domain.c — the domain types' helpers (domain.h): errors, freeing owned lists, token ids. */
#include "domain.h"

#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void lp_err_set(lp_err *e, const char *code, const char *hint, const char *fmt, ...) {
    if (!e) return;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    snprintf(e->hint, sizeof e->hint, "%s", hint ? hint : "");
}

void lp_node_clear(lp_node *n) {
    if (!n) return;
    free(n->gpus);
    n->gpus = NULL;
    n->gpu_count = 0;
}

void lp_node_list_clear(lp_node_list *l) {
    for (size_t i = 0; i < l->n; i++)
        lp_node_clear(&l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

void lp_lease_clear(lp_lease *l) {
    if (!l) return;
    free(l->gpus);
    l->gpus = NULL;
}

void lp_lease_list_clear(lp_lease_list *l) {
    for (size_t i = 0; i < l->n; i++)
        lp_lease_clear(&l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

void lp_offer_list_clear(lp_offer_list *l) {
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

void lp_event_list_clear(lp_event_list *l) {
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

int lp_event_list_push(lp_event_list *l, const lp_event *e) {
    if (!l) return 0;
    lp_event *nv = lp_grow(l->v, &l->cap, l->n + 1, sizeof *l->v, 8);
    if (!nv) return -1;
    l->v = nv;
    l->v[l->n++] = *e;
    return 0;
}

void lp_token_list_clear(lp_token_list *l) {
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

void lp_token_id(const char *hash_hex, char out[LP_TOKEN_ID_MAX]) {
    snprintf(out, LP_TOKEN_ID_MAX, "tk_%.16s", hash_hex);
}
