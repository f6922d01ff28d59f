/* lease_state.c — lease state names (lease_state.h). */
#include "lease_state.h"

#include <string.h>

static const char *const STATES[LS_COUNT] = {"pending", "active", "closed", "expired", "exhausted", "failed"};

const char *lp_lease_state_name(int s) { return s >= 0 && s < LS_COUNT ? STATES[s] : "unknown"; }

int lp_lease_state_parse(const char *name) {
    for (int i = 0; i < LS_COUNT; i++)
        if (!strcmp(STATES[i], name)) return i;
    return -1;
}

int lp_lease_state_final(int s) { return s > LS_ACTIVE && s < LS_COUNT; }
