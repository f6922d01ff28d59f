/* server.c — see server.h. */
#include "server.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"

#define MAX_CONNS 1024
#define HEAD_MAX 16384

struct tc_server {
    int listen_fd, port, listen_after_ms;
    size_t max_body;
    int stop_pipe[2];
    tc_server_handler handler;
    void *user;
    pthread_t acceptor;
    pthread_mutex_t lock; /* guards the fields below */
    int stopping, dead, nconns;
    int conn_fds[MAX_CONNS];
    pthread_t conn_threads[MAX_CONNS];
};

typedef struct conn_arg {
    tc_server *s;
    int fd;
} conn_arg;

/* Waits until fd is readable (1) or the server stops (0). */
static int wait_readable(tc_server *s, int fd) {
    struct pollfd p[2] = {{fd, POLLIN, 0}, {s->stop_pipe[0], POLLIN, 0}};
    for (;;) {
        int n = poll(p, 2, -1);
        if (n < 0 && errno == EINTR) continue;
        return n > 0 && !p[1].revents;
    }
}

/* Reads more of the connection into buf[*have..cap); 0, or -1 when it ended or the server stops. */
static int read_more(tc_server *s, int fd, void *buf, size_t *have, size_t cap) {
    if (*have == cap || !wait_readable(s, fd)) return -1;
    ssize_t r = recv(fd, (char *)buf + *have, cap - *have, 0);
    if (r <= 0) return -1;
    *have += (size_t)r;
    return 0;
}

static void *conn_main(void *arg) {
    conn_arg ca = *(conn_arg *)arg;
    free(arg);
    tc_server *s = ca.s;
    char head[HEAD_MAX + 1];
    size_t have = 0;
    for (;;) {
        char *end;
        while (!(end = memmem(head, have, "\r\n\r\n", 4)))
            if (read_more(s, ca.fd, head, &have, HEAD_MAX) != 0) goto done;
        size_t head_len = (size_t)(end - head) + 4;
        char saved = head[head_len];
        head[head_len] = '\0';
        char method[16] = "", path[1024] = "";
        sscanf(head, "%15s %1023s", method, path);
        size_t clen = 0;
        const char *cl = strcasestr(head, "\r\nContent-Length:");
        if (cl) clen = (size_t)strtoull(cl + 17, NULL, 10);
        head[head_len] = saved;
        if (s->max_body && clen > s->max_body) goto done;
        unsigned char *body = malloc(clen + 1);
        if (!body) goto done;
        size_t got = have - head_len < clen ? have - head_len : clen;
        memcpy(body, head + head_len, got);
        size_t rest = have - head_len - got;
        char req_head[HEAD_MAX + 1];
        memcpy(req_head, head, head_len);
        req_head[head_len] = '\0';
        memmove(head, head + head_len + got, rest);
        have = rest;
        while (got < clen)
            if (read_more(s, ca.fd, body, &got, clen) != 0) {
                free(body);
                goto done;
            }
        body[clen] = '\0';
        tc_server_req req = {method, path, req_head, body, clen};
        int rc = s->handler(ca.fd, &req, s->user);
        free(body);
        if (rc) goto done;
    }
done:
    shutdown(ca.fd, SHUT_RDWR);
    return NULL;
}

static void *accept_main(void *arg) {
    tc_server *s = arg;
    if (s->listen_after_ms > 0) {
        struct pollfd p = {s->stop_pipe[0], POLLIN, 0};
        if (poll(&p, 1, s->listen_after_ms) != 0) return NULL;
        listen(s->listen_fd, 128);
    }
    for (;;) {
        if (!wait_readable(s, s->listen_fd)) return NULL;
        int fd = accept(s->listen_fd, NULL, NULL);
        pthread_mutex_lock(&s->lock);
        if (fd < 0) {
            int dead = s->dead;
            pthread_mutex_unlock(&s->lock);
            if (dead) return NULL;
            continue;
        }
        conn_arg *ca = malloc(sizeof *ca);
        if (s->stopping || s->dead || s->nconns == MAX_CONNS || !ca) {
            pthread_mutex_unlock(&s->lock);
            free(ca);
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        ca->s = s;
        ca->fd = fd;
        int i = s->nconns++;
        s->conn_fds[i] = fd;
        pthread_create(&s->conn_threads[i], NULL, conn_main, ca);
        pthread_mutex_unlock(&s->lock);
    }
}

tc_server *tc_server_start(int port, int listen_after_ms, size_t max_body, tc_server_handler handler,
                           void *user) {
    tc_server *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->listen_after_ms = listen_after_ms;
    s->max_body = max_body;
    s->handler = handler;
    s->user = user;
    s->port = port;
    pthread_mutex_init(&s->lock, NULL);
    if (pipe(s->stop_pipe) != 0) goto fail;
    s->listen_fd = tc_listen(&s->port, listen_after_ms > 0 ? 0 : 128); /* else it listens later */
    if (s->listen_fd < 0) goto fail_pipe;
    if (pthread_create(&s->acceptor, NULL, accept_main, s) != 0) goto fail_listen;
    return s;
fail_listen:
    close(s->listen_fd);
fail_pipe:
    close(s->stop_pipe[0]);
    close(s->stop_pipe[1]);
fail:
    pthread_mutex_destroy(&s->lock);
    free(s);
    return NULL;
}

int tc_server_port(const tc_server *s) { return s->port; }

int tc_server_connections(tc_server *s) {
    pthread_mutex_lock(&s->lock);
    int n = s->nconns;
    pthread_mutex_unlock(&s->lock);
    return n;
}

int tc_server_sleep(tc_server *s, int ms) {
    struct pollfd p = {s->stop_pipe[0], POLLIN, 0};
    return poll(&p, 1, ms) != 0;
}

void tc_server_kill(tc_server *s) {
    pthread_mutex_lock(&s->lock);
    s->dead = 1;
    shutdown(s->listen_fd, SHUT_RDWR);
    for (int k = 0; k < s->nconns; k++)
        shutdown(s->conn_fds[k], SHUT_RDWR);
    pthread_mutex_unlock(&s->lock);
}

void tc_server_stop(tc_server *s) {
    if (!s) return;
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    pthread_mutex_unlock(&s->lock);
    if (write(s->stop_pipe[1], "x", 1) != 1) perror("tc_server_stop");
    pthread_join(s->acceptor, NULL);
    for (int i = 0; i < s->nconns; i++) {
        shutdown(s->conn_fds[i], SHUT_RDWR);
        pthread_join(s->conn_threads[i], NULL);
        close(s->conn_fds[i]);
    }
    close(s->listen_fd);
    close(s->stop_pipe[0]);
    close(s->stop_pipe[1]);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
