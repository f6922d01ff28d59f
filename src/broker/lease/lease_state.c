/* lease_state.c — lease state names (lease_state.h). */
#include "lease_state.h"

#include <pthread.h>
#include <string.h>

#include "lepton/lepton.h"

/* The wire carries the names, liblepton's enum the numbers: they must agree with ours. */
_Static_assert(LS_PENDING == LEPTON_LEASE_PENDING && LS_ACTIVE == LEPTON_LEASE_ACTIVE &&
                   LS_CLOSED == LEPTON_LEASE_CLOSED && LS_EXPIRED == LEPTON_LEASE_EXPIRED &&
                   LS_EXHAUSTED == LEPTON_LEASE_EXHAUSTED && LS_FAILED == LEPTON_LEASE_FAILED,
               "lease states differ from lepton.h's LEPTON_LEASE_*");

static const char *const STATES[LS_COUNT] = {"pending", "active", "closed", "expired", "exhausted", "failed"};

const char *lp_lease_state_name(int s) { return s >= 0 && s < LS_COUNT ? STATES[s] : "unknown"; }

int lp_lease_state_parse(const char *name) {
    for (int i = 0; i < LS_COUNT; i++)
        if (!strcmp(STATES[i], name)) return i;
    return -1;
}

static char g_hint[96];
static pthread_once_t g_hint_once = PTHREAD_ONCE_INIT;

static void hint_build(void) {
    strcpy(g_hint, "one of ");
    for (int i = 0; i < LS_COUNT; i++) {
        strcat(g_hint, STATES[i]);
        if (i + 1 < LS_COUNT) strcat(g_hint, ", ");
    }
}

const char *lp_lease_state_names_hint(void) {
    pthread_once(&g_hint_once, hint_build);
    return g_hint;
}

int lp_lease_state_final(int s) { return s > LS_ACTIVE && s < LS_COUNT; }
