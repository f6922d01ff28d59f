/* port.c — listen-address check (port.h). */
#include "port.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"

int lp_listen_available(const char *listen, char *err, size_t en) {
    char host[256], ps[16];
    int port;
    if (lp_split_hostport(listen, host, sizeof host, &port) != 0) {
        snprintf(err, en, "bad listen address '%s'", listen);
        return -1;
    }
    if (port == 0) return 0;
    snprintf(ps, sizeof ps, "%d", port);
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int rc = getaddrinfo(*host ? host : NULL, ps, &hints, &ai);
    if (rc != 0 || !ai) {
        snprintf(err, en, "cannot resolve '%s': %s", listen, gai_strerror(rc));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1, ok = fd >= 0;
    if (ok)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* TIME_WAIT is fine; a listener is not */
    if (ok && bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        snprintf(err, en, "%s is in use by another process (%s)", listen, strerror(errno));
        ok = 0;
    } else if (!ok) {
        snprintf(err, en, "socket: %s", strerror(errno));
    }
    if (fd >= 0) close(fd);
    freeaddrinfo(ai);
    return ok ? 0 : -1;
}
