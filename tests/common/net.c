/* net.c — see net.h. */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"

static struct sockaddr_in loopback(int port) {
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return sa;
}

int tc_free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    struct sockaddr_in sa = loopback(0);
    socklen_t sl = sizeof sa;
    int port =
        bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && getsockname(fd, (struct sockaddr *)&sa, &sl) == 0
            ? ntohs(sa.sin_port)
            : 0;
    close(fd);
    return port;
}

int tc_port_bindable(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    struct sockaddr_in sa = loopback(port);
    int ok = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    close(fd);
    return ok;
}

int tc_free_ports(int count) {
    /* Random bases below the usual ephemeral range (32768+), so that outgoing connections do not
     * take the ports between the probe and the bind; aligned to blocks of 16, so that agents of
     * tests running at once never share a block (the first port of a taken block is the agent's,
     * bound from its start, while its workers' ports stay free until a lease). */
    static unsigned seed;
    if (!seed) seed = (unsigned)getpid() ^ (unsigned)time(NULL);
    if (count > 16) return -1;
    for (int attempt = 0; attempt < 200; attempt++) {
        int base = 20000 + 16 * (int)(rand_r(&seed) % 750u);
        int ok = 1;
        for (int i = 0; i < count && ok; i++)
            ok = tc_port_bindable(base + i);
        if (ok) return base;
    }
    return -1;
}

int tc_dial(uint32_t from, int port, int recv_timeout_ms) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    if (from) {
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(from);
        if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0) goto fail;
    }
    struct sockaddr_in dst = loopback(port);
    if (connect(fd, (struct sockaddr *)&dst, sizeof dst) != 0) goto fail;
    if (recv_timeout_ms > 0) {
        struct timeval tv = {recv_timeout_ms / 1000, (recv_timeout_ms % 1000) * 1000};
        if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) goto fail;
    }
    return fd;
fail:
    close(fd);
    return -1;
}

int tc_port_open(int port) {
    int fd = tc_dial(0, port, 0);
    if (fd < 0) return 0;
    close(fd);
    return 1;
}

int tc_listen(int *port, int backlog) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = loopback(*port);
    socklen_t sl = sizeof sa;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || (backlog > 0 && listen(fd, backlog) != 0) ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(sa.sin_port);
    return fd;
}

int tc_send_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n) {
        ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) return -1;
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

int tc_recv_all(int fd, void *p, size_t n) {
    char *c = p;
    while (n) {
        ssize_t k = recv(fd, c, n, 0);
        if (k <= 0) return -1;
        c += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Waits for fd to be readable until the deadline (tc_now_ms); 1 when it is. */
static int readable_by(int fd, double end_ms) {
    int left = (int)(end_ms - tc_now_ms());
    if (left <= 0) return 0;
    struct pollfd p = {fd, POLLIN, 0};
    return poll(&p, 1, left) > 0;
}

long tc_read_until_close(int fd, char *buf, size_t cap, int timeout_ms) {
    size_t n = 0;
    double end = tc_now_ms() + timeout_ms;
    while (readable_by(fd, end)) {
        ssize_t k = recv(fd, buf + n, cap - 1 - n, 0);
        if (k < 0) {
            if (!n) return -1;
            break;
        }
        if (k == 0) break;
        n += (size_t)k;
        if (n + 1 >= cap) break;
    }
    buf[n] = 0;
    return (long)n;
}

int tc_http_answer_complete(const char *buf, size_t n) {
    const char *body = strstr(buf, "\r\n\r\n");
    const char *cl = strcasestr(buf, "\r\nContent-Length:");
    return body && cl && cl < body && (size_t)(buf + n - (body + 4)) >= strtoul(cl + 17, NULL, 10);
}

size_t tc_read_http_answer(int fd, char *buf, size_t cap, int timeout_ms) {
    size_t n = 0;
    double end = tc_now_ms() + timeout_ms;
    buf[0] = 0;
    while (readable_by(fd, end)) {
        ssize_t k = recv(fd, buf + n, cap - 1 - n, 0);
        if (k <= 0) break;
        n += (size_t)k;
        buf[n] = 0;
        if (tc_http_answer_complete(buf, n)) break;
        if (n + 1 >= cap) break;
    }
    buf[n] = 0;
    return n;
}

int tc_closed_within(int fd, int timeout_ms) {
    struct pollfd p = {fd, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0) return 0;
    char b[256];
    return recv(fd, b, sizeof b, 0) <= 0;
}

int tc_http_status(const char *answer) {
    int st = 0;
    return sscanf(answer, "HTTP/1.1 %d", &st) == 1 ? st : 0;
}

int tc_http_ask(int port, const char *request, size_t len, int timeout_ms) {
    int fd = tc_dial(0, port, 0);
    if (fd < 0) return 0;
    char answer[1024];
    int st =
        tc_send_all(fd, request, len) == 0 && tc_read_http_answer(fd, answer, sizeof answer, timeout_ms) > 0
            ? tc_http_status(answer)
            : 0;
    close(fd);
    return st;
}
