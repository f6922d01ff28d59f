/* fake_broker.c — the fake HTTP server and the minimal broker of the client's unit tests. */
#include "fake_broker.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "net.h"
#include "server.h"

struct fake_broker {
    tc_server *srv;
    char url[64];
    fb_handler handler;
    void *user;
    pthread_mutex_t lock; /* serialises handler calls and guards requests */
    int requests;
};

static const char *reason(int status) {
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 410:
        return "Gone";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    default:
        return "Status";
    }
}

/* One request: the handler's canned answer, delayed or dropped as it says. */
static int serve(int fd, const tc_server_req *r, void *user) {
    fake_broker *fb = user;
    fb_request *req = calloc(1, sizeof *req);
    fb_reply *rep = calloc(1, sizeof *rep);
    int rc = -1;
    if (!req || !rep) goto done;
    snprintf(req->method, sizeof req->method, "%s", r->method);
    snprintf(req->path, sizeof req->path, "%s", r->path);
    const char *lines = strstr(r->head, "\r\n"); /* the header lines, from the request line's end */
    snprintf(req->headers, sizeof req->headers, "%s", lines ? lines : "");
    memcpy(req->body, r->body, r->body_len);
    req->body[r->body_len] = '\0';
    req->body_len = r->body_len;
    pthread_mutex_lock(&fb->lock);
    fb->requests++;
    fb->handler(req, rep, fb->user);
    pthread_mutex_unlock(&fb->lock);
    if (rep->drop) goto done;
    if (rep->delay_ms > 0 && tc_server_sleep(fb->srv, rep->delay_ms)) goto done;
    int status = rep->status ? rep->status : 200;
    char head[256];
    size_t blen = strlen(rep->body);
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                     status, reason(status), blen);
    if (tc_send_all(fd, head, (size_t)n) == 0 && tc_send_all(fd, rep->body, blen) == 0) rc = 0;
done:
    free(req);
    free(rep);
    return rc;
}

fake_broker *fb_start(fb_handler handler, void *user) {
    fake_broker *fb = calloc(1, sizeof *fb);
    if (!fb) return NULL;
    fb->handler = handler;
    fb->user = user;
    pthread_mutex_init(&fb->lock, NULL);
    fb->srv = tc_server_start(0, 0, sizeof((fb_request *)0)->body - 1, serve, fb);
    if (!fb->srv) {
        pthread_mutex_destroy(&fb->lock);
        free(fb);
        return NULL;
    }
    snprintf(fb->url, sizeof fb->url, "http://127.0.0.1:%d", tc_server_port(fb->srv));
    return fb;
}

const char *fb_url(const fake_broker *fb) { return fb->url; }

int fb_requests(fake_broker *fb) {
    pthread_mutex_lock(&fb->lock);
    int n = fb->requests;
    pthread_mutex_unlock(&fb->lock);
    return n;
}

int fb_connections(fake_broker *fb) { return tc_server_connections(fb->srv); }

void fb_stop(fake_broker *fb) {
    if (!fb) return;
    tc_server_stop(fb->srv);
    pthread_mutex_destroy(&fb->lock);
    free(fb);
}

/* ---- the minimal broker ---- */

static void lease_json(const fb_mini *m, char *out, size_t n, int id, const char *state, long expires) {
    snprintf(
        out, n,
        "{\"lease\": {\"id\": \"ls_%d\", \"tenant\": \"t\", \"state\": \"%s\", \"end_reason\": %s, "
        "\"node\": \"node-a\", \"gpu_model\": \"NVIDIA H100 80GB HBM3\", \"gpu_count\": %d, "
        "\"gpu_memory\": 85899345920, \"price_per_gpu_hour\": 2.5, \"cost\": 0.0014, \"ttl_seconds\": 600, "
        "\"created_at\": 1790000000, \"started_at\": 1790000000, \"expires_at\": %ld, \"ended_at\": %s, "
        "%s}}",
        id, state, strcmp(state, "active") ? "\"ended\"" : "null", m->gpu_count ? m->gpu_count : 2, expires,
        strcmp(state, "active") ? "1790000100" : "null",
        m->data_plane ? m->data_plane
                      : "\"data_plane\": {\"address\": \"http://127.0.0.1:1\", \"token\": \"tok\"}");
}

static void error_json(fb_reply *rep, int status, const char *code, const char *msg) {
    rep->status = status;
    snprintf(rep->body, sizeof rep->body, "{\"error\": {\"code\": \"%s\", \"message\": \"%s\"}}", code, msg);
}

void fb_mini_handler(const fb_request *req, fb_reply *rep, void *user) {
    fb_mini *m = user;
    const char *auth = strcasestr(req->headers, "\r\nAuthorization: ");
    m->last_auth[0] = '\0';
    if (auth) sscanf(auth + 17, "%255[^\r]", m->last_auth);
    int id = 0;
    char tail[64] = "";
    if (!strcmp(req->method, "POST") && !strcmp(req->path, "/v1/leases")) {
        m->opens++;
        size_t bl =
            req->body_len < sizeof m->last_open_body - 1 ? req->body_len : sizeof m->last_open_body - 1;
        memcpy(m->last_open_body, req->body, bl);
        m->last_open_body[bl] = '\0';
        const char *k = strstr(req->body, "\"idempotency_key\":\"");
        m->last_key[0] = '\0';
        if (k) sscanf(k + 19, "%127[^\"]", m->last_key);
        for (int i = 0; i < m->nkeys; i++)
            if (!strcmp(m->keys_seen[i], m->last_key)) {
                rep->status = 200;
                lease_json(m, rep->body, sizeof rep->body, m->lease_ids_for_key[i], "active",
                           m->leases[m->lease_ids_for_key[i]].expires);
                return;
            }
        id = ++m->next_id;
        m->leases[id].open = 1;
        m->leases[id].expires = 1790000600;
        if (m->nkeys < 8) {
            strcpy(m->keys_seen[m->nkeys], m->last_key);
            m->lease_ids_for_key[m->nkeys++] = id;
        }
        if (m->drop_next_open_answer) {
            m->drop_next_open_answer = 0;
            rep->drop = 1;
            return;
        }
        rep->status = 201;
        lease_json(m, rep->body, sizeof rep->body, id, "active", m->leases[id].expires);
        return;
    }
    if (!strcmp(req->method, "POST") && !strcmp(req->path, "/v1/quote")) {
        m->quotes++;
        snprintf(
            rep->body, sizeof rep->body,
            "{\"offers\": [{\"node\": \"b\", \"gpu_model\": \"A100\", \"gpu_memory\": 42949672960, "
            "\"gpus_free\": 4, \"price_per_gpu_hour\": 1.9}, {\"node\": \"a\", \"gpu_model\": \"H100\", "
            "\"gpu_memory\": 85899345920, \"gpus_free\": 8, \"price_per_gpu_hour\": 2.5}, {\"node\": \"c\", "
            "\"gpu_model\": \"L4\", \"gpu_memory\": 25769803776, \"gpus_free\": 1, \"price_per_gpu_hour\": "
            "0.7}], "
            "\"message\": \"3 offers\"}");
        return;
    }
    if (sscanf(req->path, "/v1/leases/ls_%d%63s", &id, tail) >= 1 && id > 0 && id < 4096 &&
        id <= m->next_id) {
        int open = m->leases[id].open;
        const char *ended = m->leases[id].ended ? m->leases[id].ended : "closed";
        if (!strcmp(req->method, "GET") && !tail[0]) {
            lease_json(m, rep->body, sizeof rep->body, id, open ? "active" : ended, m->leases[id].expires);
            return;
        }
        if (!strcmp(req->method, "POST") && !strcmp(tail, "/extend")) {
            if (!open) return error_json(rep, 410, "lease_ended", "lease has ended");
            long secs = 0;
            const char *s = strstr(req->body, "\"seconds\":");
            if (s) secs = strtol(s + 10, NULL, 10);
            m->leases[id].expires += secs;
            lease_json(m, rep->body, sizeof rep->body, id, "active", m->leases[id].expires);
            return;
        }
        if (!strcmp(req->method, "POST") && !strcmp(tail, "/close")) {
            m->closes++;
            m->leases[id].open = 0;
            if (!open) {
                rep->status = 410;
                snprintf(rep->body, sizeof rep->body,
                         "{\"error\": {\"code\": \"lease_ended\", \"message\": \"lease ls_%d has already "
                         "ended\"}, "
                         "\"lease\": {\"id\": \"ls_%d\", \"state\": \"%s\"}}",
                         id, id, ended);
                return;
            }
            if (m->drop_next_close_answer) {
                m->drop_next_close_answer = 0;
                rep->drop = 1;
                return;
            }
            lease_json(m, rep->body, sizeof rep->body, id, "closed", m->leases[id].expires);
            return;
        }
    }
    error_json(rep, 404, "not_found", "no such route");
}
