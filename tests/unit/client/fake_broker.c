/* fake_broker.c — the fake HTTP server and the minimal broker of the client's unit tests. */
#include "fake_broker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"

#define FB_MAX_CONNS 1024

struct fake_broker {
    int listen_fd;
    int stop_pipe[2];
    char url[64];
    fb_handler handler;
    void *user;
    pthread_t acceptor;
    pthread_mutex_t lock; /* serialises handler calls and guards the fields below */
    int stopping;
    int requests;
    int nconns;
    int conn_fds[FB_MAX_CONNS];
    pthread_t conn_threads[FB_MAX_CONNS];
};

typedef struct conn_arg {
    fake_broker *fb;
    int fd;
} conn_arg;

/* Waits until fd is readable or the server stops. 1 = readable, 0 = stopping/timeout. */
static int wait_readable(fake_broker *fb, int fd, int timeout_ms) {
    struct pollfd p[2] = {{fd, POLLIN, 0}, {fb->stop_pipe[0], POLLIN, 0}};
    int n = poll(p, 2, timeout_ms);
    if (n <= 0) return 0;
    if (p[1].revents) return 0;
    return 1;
}

static int write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

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

static void *conn_main(void *arg) {
    conn_arg a = *(conn_arg *)arg;
    free(arg);
    fake_broker *fb = a.fb;
    static _Thread_local char buf[65536 + 8192 + 1024];
    size_t have = 0;
    fb_request *req = malloc(sizeof *req);
    fb_reply *rep = malloc(sizeof *rep);
    for (;;) {
        /* Read the head. */
        char *end = NULL;
        while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
            if (have == sizeof buf || !wait_readable(fb, a.fd, -1)) goto done;
            ssize_t r = recv(a.fd, buf + have, sizeof buf - have, 0);
            if (r <= 0) goto done;
            have += (size_t)r;
        }
        size_t head_len = (size_t)(end - buf) + 4;
        memset(req, 0, sizeof *req);
        char *line_end = memchr(buf, '\r', head_len);
        char first[1024];
        size_t fl = (size_t)(line_end - buf) < sizeof first - 1 ? (size_t)(line_end - buf) : sizeof first - 1;
        memcpy(first, buf, fl);
        first[fl] = '\0';
        sscanf(first, "%15s %511s", req->method, req->path);
        size_t hl = head_len - fl < sizeof req->headers - 1 ? head_len - fl : sizeof req->headers - 1;
        memcpy(req->headers, buf + fl, hl);
        size_t clen = 0;
        const char *cl = strcasestr(req->headers, "\r\nContent-Length:");
        if (cl) clen = (size_t)strtoul(cl + 17, NULL, 10);
        if (clen > sizeof req->body - 1) goto done;
        while (have < head_len + clen) {
            if (!wait_readable(fb, a.fd, -1)) goto done;
            ssize_t r = recv(a.fd, buf + have, sizeof buf - have, 0);
            if (r <= 0) goto done;
            have += (size_t)r;
        }
        memcpy(req->body, buf + head_len, clen);
        req->body[clen] = '\0';
        req->body_len = clen;
        memmove(buf, buf + head_len + clen, have - head_len - clen);
        have -= head_len + clen;

        memset(rep, 0, sizeof *rep);
        pthread_mutex_lock(&fb->lock);
        fb->requests++;
        fb->handler(req, rep, fb->user);
        pthread_mutex_unlock(&fb->lock);
        if (rep->drop) goto done;
        if (rep->delay_ms > 0) {
            struct pollfd p = {fb->stop_pipe[0], POLLIN, 0};
            if (poll(&p, 1, rep->delay_ms) != 0) goto done;
        }
        int status = rep->status ? rep->status : 200;
        char head[256];
        size_t blen = strlen(rep->body);
        int n = snprintf(head, sizeof head,
                         "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                         status, reason(status), blen);
        if (write_all(a.fd, head, (size_t)n) || write_all(a.fd, rep->body, blen)) goto done;
    }
done:
    free(req);
    free(rep);
    shutdown(a.fd, SHUT_RDWR);
    return NULL;
}

static void *accept_main(void *arg) {
    fake_broker *fb = arg;
    for (;;) {
        if (!wait_readable(fb, fb->listen_fd, -1)) return NULL;
        int fd = accept(fb->listen_fd, NULL, NULL);
        if (fd < 0) continue;
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pthread_mutex_lock(&fb->lock);
        if (fb->stopping || fb->nconns == FB_MAX_CONNS) {
            pthread_mutex_unlock(&fb->lock);
            close(fd);
            continue;
        }
        conn_arg *ca = malloc(sizeof *ca);
        ca->fb = fb;
        ca->fd = fd;
        int i = fb->nconns++;
        fb->conn_fds[i] = fd;
        pthread_create(&fb->conn_threads[i], NULL, conn_main, ca);
        pthread_mutex_unlock(&fb->lock);
    }
}

fake_broker *fb_start(fb_handler handler, void *user) {
    fake_broker *fb = calloc(1, sizeof *fb);
    if (!fb) return NULL;
    fb->handler = handler;
    fb->user = user;
    pthread_mutex_init(&fb->lock, NULL);
    if (pipe(fb->stop_pipe)) goto fail;
    int port = 0;
    fb->listen_fd = tc_listen(&port, 128);
    if (fb->listen_fd < 0) goto fail;
    snprintf(fb->url, sizeof fb->url, "http://127.0.0.1:%d", port);
    if (pthread_create(&fb->acceptor, NULL, accept_main, fb)) goto fail;
    return fb;
fail:
    free(fb);
    return NULL;
}

const char *fb_url(const fake_broker *fb) { return fb->url; }

int fb_requests(fake_broker *fb) {
    pthread_mutex_lock(&fb->lock);
    int n = fb->requests;
    pthread_mutex_unlock(&fb->lock);
    return n;
}

int fb_connections(fake_broker *fb) {
    pthread_mutex_lock(&fb->lock);
    int n = fb->nconns;
    pthread_mutex_unlock(&fb->lock);
    return n;
}

void fb_stop(fake_broker *fb) {
    if (!fb) return;
    pthread_mutex_lock(&fb->lock);
    fb->stopping = 1;
    pthread_mutex_unlock(&fb->lock);
    if (write(fb->stop_pipe[1], "x", 1) != 1) perror("fb_stop");
    pthread_join(fb->acceptor, NULL);
    for (int i = 0; i < fb->nconns; i++) {
        shutdown(fb->conn_fds[i], SHUT_RDWR);
        pthread_join(fb->conn_threads[i], NULL);
        close(fb->conn_fds[i]);
    }
    close(fb->listen_fd);
    close(fb->stop_pipe[0]);
    close(fb->stop_pipe[1]);
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
