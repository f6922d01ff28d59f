/* net.h — loopback sockets for tests: free ports, connections with deadlines, sending and reading
 * whole HTTP answers over raw sockets (for what a client library would hide or refuse to send). */
#ifndef LEPTON_TESTS_COMMON_NET_H
#define LEPTON_TESTS_COMMON_NET_H

#include <stddef.h>
#include <stdint.h>

/* A loopback port that the kernel picks and that is free at the time of the call; 0 when none. */
int tc_free_port(void);
/* `count` (≤ 16) consecutive loopback ports free at the time of the call, in a random block of 16
 * below the ephemeral range (so that outgoing connections do not take them, and tests running at
 * once do not share a block); the first, or -1. */
int tc_free_ports(int count);
/* 1 when 127.0.0.1:port can be bound now. */
int tc_port_bindable(int port);
/* 1 when something accepts TCP connections on 127.0.0.1:port. */
int tc_port_open(int port);

/* A TCP connection to 127.0.0.1:port, from the loopback address `from` (host order, e.g.
 * 0x7f000002 for 127.0.0.2; 0: the kernel's choice), whose reads give up after recv_timeout_ms
 * (0: never). The socket, or -1. */
int tc_dial(uint32_t from, int port, int recv_timeout_ms);
/* A socket listening on 127.0.0.1:*port (0: a port the kernel picks, written back), with
 * SO_REUSEADDR and the given backlog (0: bound, not listening yet). The socket, or -1. */
int tc_listen(int *port, int backlog);

/* Sends all n bytes (no SIGPIPE); 0, or -1 when the connection failed first. */
int tc_send_all(int fd, const void *p, size_t n);
/* Receives exactly n bytes; 0, or -1 on an error or an early end. */
int tc_recv_all(int fd, void *p, size_t n);
/* Reads into buf (NUL-terminated, at most cap - 1 bytes) until the peer closes or timeout_ms pass.
 * The bytes read; -1 on a reset before any. */
long tc_read_until_close(int fd, char *buf, size_t cap, int timeout_ms);
/* The same, stopping as soon as a whole HTTP answer (head and Content-Length body) is in; 0 on a
 * reset or nothing read. */
size_t tc_read_http_answer(int fd, char *buf, size_t cap, int timeout_ms);
/* 1 when buf (n bytes, NUL-terminated) holds an answer's head and its whole Content-Length body. */
int tc_http_answer_complete(const char *buf, size_t n);
/* 1 when the peer closes fd (end or reset) within timeout_ms. */
int tc_closed_within(int fd, int timeout_ms);
/* The status of an HTTP/1.1 answer, or 0. */
int tc_http_status(const char *answer);
/* Sends a raw request (len bytes) on a new connection to 127.0.0.1:port and reads the answer for up
 * to timeout_ms: its status, or 0 when none came. */
int tc_http_ask(int port, const char *request, size_t len, int timeout_ms);

#endif
