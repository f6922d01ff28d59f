/* agent_leases.c — leptond's lease table (agent_internal.h): the leases the broker lists as active
 * on this node, taken in from its heartbeat answers (added, their end times updated, removed when
 * gone from the list), the GPUs each holds here, the agent's own ending of a lease whose TTL or cost
 * cap ran out, and each lease's state directory (made for its workers, removed with the lease,
 * swept of leftovers from an earlier run). */
#define _XOPEN_SOURCE 700
#include "agent_internal.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clock.h"
#include "log.h"

#define DEADLINE_GRACE_MS 1000

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    return remove(path);
}

static void rm_tree(const char *path) { nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static int safe_id(const char *s) {
    if (!s || !*s || strlen(s) >= 128) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
              *s == '-'))
            return 0;
    return 1;
}

void ag_lease_dir(const lp_agent *a, const char *id, char *out, size_t n) {
    snprintf(out, n, "%s/leases/%s", a->cfg.state_dir, id);
}

int ag_mkdirs(const char *path) {
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST) return -1;
            *p = '/';
        }
    return mkdir(tmp, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

ag_lease *ag_find_lease(lp_agent *a, const char *id) {
    for (ag_lease *l = a->leases; l; l = l->next)
        if (!strcmp(l->id, id)) return l;
    return NULL;
}

void ag_lease_fail(lp_agent *a, ag_lease *l, const char *reason) {
    if (l->failed) return;
    l->failed = 1;
    snprintf(l->fail_reason, sizeof l->fail_reason, "%s", reason);
    lp_log(LP_LOG_ERROR, "lease %s node %s: failed: %s", l->id, a->cfg.name, reason);
    ag_lease_stop_workers(a, l, "the lease failed");
}

void ag_lease_remove(lp_agent *a, ag_lease *l) {
    char dir[700];
    ag_lease_stop_workers(a, l, "the lease ended");
    for (int i = 0; i < l->nslots; i++)
        if (l->slot[i] >= 0) {
            ag_slot *s = &a->slots[l->slot[i]];
            if (s->nended == LP_TOKEN_MAX_ENDED) {
                memmove(s->ended, s->ended + 1, (LP_TOKEN_MAX_ENDED - 1) * sizeof s->ended[0]);
                s->nended--;
            }
            snprintf(s->ended[s->nended++], sizeof s->ended[0], "%s", l->id);
            s->lease = NULL;
            s->held_ms += lp_mono_ms() - s->held_since_ms;
            s->nfails = 0;
            s->restarts = 0;
        }
    ag_lease_dir(a, l->id, dir, sizeof dir);
    rm_tree(dir);
    lp_log(LP_LOG_INFO, "lease %s node %s: ended; its workers stop and its state is removed", l->id,
           a->cfg.name);
    for (ag_lease **pp = &a->leases; *pp; pp = &(*pp)->next)
        if (*pp == l) {
            *pp = l->next;
            break;
        }
    free(l);
}

static int64_t secs_ms(const json_t *v) {
    return json_is_integer(v) ? (int64_t)json_integer_value(v) * 1000 : 0;
}

/* Takes the broker's view of when a lease ends (a heartbeat's node view of the lease: expires_at,
 * ends_at, ends_by; docs/protocol.md). The billing rules stay at the broker. Returns 1 when the
 * expiry changed (an extension). */
static int lease_update_times(ag_lease *l, const json_t *j) {
    int changed = 0;
    int64_t exp = secs_ms(json_object_get(j, "expires_at"));
    int64_t ends = secs_ms(json_object_get(j, "ends_at"));
    if (exp > 0 && exp != l->expires_ms) {
        changed = 1;
        l->expires_ms = exp;
    }
    l->ends_ms = ends > 0 ? ends : exp;
    const char *by = json_string_value(json_object_get(j, "ends_by"));
    l->ends_by_cap = by && !strcmp(by, "cost_cap");
    if (changed && l->ended_local && !l->failed && l->ends_ms > lp_wall_ms())
        l->ended_local = 0; /* extended */
    return changed;
}

static void lease_add(lp_agent *a, const char *id, const json_t *j) {
    ag_lease *l = calloc(1, sizeof *l);
    if (!l) return;
    snprintf(l->id, sizeof l->id, "%s", id);
    l->seen = 1;
    lease_update_times(l, j);
    const json_t *gpus = json_object_get(j, "gpus");
    size_t n = json_array_size(gpus);
    if (n > LP_AGENT_MAX_GPUS) n = LP_AGENT_MAX_GPUS;
    l->nslots = (int)n;
    int here = 0;
    for (size_t k = 0; k < n; k++) {
        const char *uuid = json_string_value(json_object_get(json_array_get(gpus, k), "uuid"));
        l->slot[k] = -1;
        for (int i = 0; uuid && i < a->nslots; i++)
            if (!strcmp(a->slots[i].gpu.uuid, uuid)) l->slot[k] = i;
        if (l->slot[k] < 0) {
            lp_log(LP_LOG_ERROR, "lease %s node %s: the broker lists GPU %s, which this agent does not offer",
                   id, a->cfg.name, uuid ? uuid : "?");
            continue;
        }
        ag_slot *s = &a->slots[l->slot[k]];
        if (s->lease) {
            lp_log(LP_LOG_ERROR, "lease %s node %s: GPU %s is still held by lease %s; not starting it there",
                   id, a->cfg.name, s->gpu.uuid, s->lease->id);
            l->slot[k] = -1;
            continue;
        }
        s->lease = l;
        s->held_since_ms = lp_mono_ms();
        s->lease_index = (int)k;
        s->nfails = 0;
        s->restarts = 0;
        s->restart_at_ms = 0;
        here++;
    }
    l->next = a->leases;
    a->leases = l;
    lp_log(LP_LOG_INFO, "lease %s node %s: granted on %d GPU%s here, ends at %lld (%s)", id, a->cfg.name,
           here, here == 1 ? "" : "s", (long long)(l->ends_ms / 1000),
           l->ends_by_cap ? "its cost cap" : "its TTL");
}

/* Removes lease directories that belong to no active lease (left by an earlier run). Under mu. */
static void sweep_dirs(lp_agent *a) {
    char root[700];
    snprintf(root, sizeof root, "%s/leases", a->cfg.state_dir);
    DIR *d = opendir(root);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || ag_find_lease(a, e->d_name)) continue;
        char p[1000];
        snprintf(p, sizeof p, "%s/%s", root, e->d_name);
        rm_tree(p);
    }
    closedir(d);
}

/* Returns 1 when the node's set of leases (or an expiry) changed. */
int ag_reconcile(lp_agent *a, const json_t *leases) {
    int changed = 0;
    pthread_mutex_lock(&a->mu);
    for (ag_lease *l = a->leases; l; l = l->next)
        l->seen = 0;
    size_t i;
    const json_t *j;
    json_array_foreach(leases, i, j) {
        const char *id = json_string_value(json_object_get(j, "id"));
        const char *state = json_string_value(json_object_get(j, "state"));
        if (!id || (state && strcmp(state, "active") != 0)) continue;
        ag_lease *l = ag_find_lease(a, id);
        if (l) {
            l->seen = 1;
            changed |= lease_update_times(l, j);
        }
    }
    for (ag_lease *l = a->leases, *nx; l; l = nx) {
        nx = l->next;
        if (!l->seen) {
            ag_lease_remove(a, l);
            changed = 1;
        }
    }
    json_array_foreach(leases, i, j) {
        const char *id = json_string_value(json_object_get(j, "id"));
        const char *state = json_string_value(json_object_get(j, "state"));
        if (!id || (state && strcmp(state, "active") != 0) || ag_find_lease(a, id)) continue;
        if (!safe_id(id)) {
            lp_log(LP_LOG_ERROR, "node %s: ignoring a lease with an unusable id", a->cfg.name);
            continue;
        }
        lease_add(a, id, j);
        changed = 1;
    }
    if (!a->swept) {
        sweep_dirs(a);
        a->swept = 1;
    }
    pthread_mutex_unlock(&a->mu);
    return changed;
}

void ag_leases_end_due(lp_agent *a, int64_t wall) {
    for (ag_lease *l = a->leases; l; l = l->next) {
        if (l->failed || l->ended_local) continue;
        int64_t end = l->ends_ms > 0 ? l->ends_ms : l->expires_ms;
        const char *why = l->ends_by_cap ? "its cost cap was reached" : "its TTL ran out";
        if (end > 0 && wall >= end + DEADLINE_GRACE_MS) {
            l->ended_local = 1;
            a->ctr.leases_ended_local++;
            lp_log(LP_LOG_INFO, "lease %s node %s: ended by the agent: %s (broker last heard %.1f s ago)",
                   l->id, a->cfg.name, why,
                   a->last_contact_ms ? (double)(wall - a->last_contact_ms) / 1000.0 : -1.0);
            ag_lease_stop_workers(a, l, why);
        }
    }
}
