/* lease_state.h — the lease states, their wire names and which of them are final: the broker's one
 * definition (the store persists the numbers, the REST API and the logs show the names). */
#ifndef LEPTON_BROKER_LEASE_STATE_H
#define LEPTON_BROKER_LEASE_STATE_H

/* The numbers are stored in the database: never renumber. */
enum { LS_PENDING = 0, LS_ACTIVE = 1, LS_CLOSED = 2, LS_EXPIRED = 3, LS_EXHAUSTED = 4, LS_FAILED = 5 };
#define LS_COUNT 6

/* The wire name of a state ("active", …), or "unknown". */
const char *lp_lease_state_name(int state);
/* Returns the state of a name, or -1. */
int lp_lease_state_parse(const char *name);
/* The names as a person reads them in a hint: "one of pending, active, …, failed". */
const char *lp_lease_state_names_hint(void);
/* 1 for a state a lease never leaves (closed, expired, exhausted, failed). */
int lp_lease_state_final(int state);

#endif
