/* server.h — a tiny threaded HTTP/1.1 server on 127.0.0.1 for the fakes of the tests (the client's
 * fake broker and fake worker): an acceptor thread, a thread per connection that reads each
 * request (head and Content-Length body) and hands it to a handler, which answers on the socket
 * itself. It can start listening late, play dead (a crashed process) and stop, ending every
 * connection and joining every thread. */
#ifndef LEPTON_TESTS_COMMON_SERVER_H
#define LEPTON_TESTS_COMMON_SERVER_H

#include <stddef.h>

typedef struct tc_server tc_server;

typedef struct tc_server_req {
    const char *method;
    const char *path;
    const char *head;    /* the request line and header lines, NUL-terminated ("\r\nName: value" finds one) */
    unsigned char *body; /* NUL-terminated (not counted in body_len) */
    size_t body_len;
} tc_server_req;

/* Answers one request on fd (tc_send_all); returns 0 to read the connection's next request, else
 * the connection ends. Called on the connection's thread. */
typedef int (*tc_server_handler)(int fd, const tc_server_req *req, void *user);

/* Serves on 127.0.0.1:port (0: a port the kernel picks), listening after listen_after_ms (0: at
 * once; connections wait in no backlog until then); a request whose body exceeds max_body (0: no
 * limit) ends its connection unanswered. NULL on failure. */
tc_server *tc_server_start(int port, int listen_after_ms, size_t max_body, tc_server_handler handler,
                           void *user);
int tc_server_port(const tc_server *s);
/* Connections accepted and served so far. */
int tc_server_connections(tc_server *s);
/* Sleeps ms, or less when the server stops: 1 when it stopped meanwhile. */
int tc_server_sleep(tc_server *s, int ms);
/* Like a process that died: the listening socket and every connection shut down, nothing accepted
 * any more. */
void tc_server_kill(tc_server *s);
/* Stops serving, ends every connection, joins every thread and frees the server. NULL-safe. */
void tc_server_stop(tc_server *s);

#endif
