/* test_idle_guard.c — idle sockets do not lock clients out (end to end): with more idle TCP
 * connections than each server's connection limit held open against the broker, the node agent's
 * endpoint and a lease's worker (from other loopback addresses, 100 per address), a tenant still
 * opens a lease, uses its GPU memory and closes it, and the agent still answers. Prints how many
 * sockets were held and how long each real request took. The broker runs with a 30 s head deadline
 * so that eviction, not the deadline, is what lets the client in. Each of the three servers also
 * answers malformed request heads at once with the JSON error body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_harness.h"
#include "lepton/lepton.h"

#define PER_ADDR 100
#define MAX_HELD 2000

static h_broker B;
static a_agent A1;
static char T_TEN[128], T_NODE[128];
static int held_fds[MAX_HELD];
static int nheld;

/* Opens `count` idle connections to 127.0.0.1:port, PER_ADDR from each of 127.0.0.<first>.. ;
 * returns how many connected. */
static int hold_idle(int port, int first, int count) {
    int ok = 0;
    for (int i = 0; i < count && nheld < MAX_HELD; i++) {
        int fd = tc_dial((127u << 24) | (uint32_t)(first + i / PER_ADDR), port, 0);
        if (fd < 0) continue;
        held_fds[nheld++] = fd;
        ok++;
    }
    return ok;
}

/* A malformed request head sent to 127.0.0.1:port is answered at once with the JSON error body
 * (status, Content-Type, code), never HTML. */
static void expect_json_error(const char *who, int port, const char *req, size_t len, int status,
                              const char *code) {
    int fd = tc_dial(0, port, 0);
    CHECK(fd >= 0);
    double t0 = tc_now_ms();
    char a[4096] = "";
    if (fd >= 0) {
        (void)tc_send_all(fd, req, len);
        (void)tc_read_until_close(fd, a, sizeof a, 3000);
        close(fd);
    }
    double ms = tc_now_ms() - t0;
    char want_status[32], want_code[96];
    snprintf(want_status, sizeof want_status, "HTTP/1.1 %d ", status);
    snprintf(want_code, sizeof want_code, "{\"error\":{\"code\":\"%s\",\"message\":\"", code);
    const char *body = strstr(a, "\r\n\r\n");
    int ok = !strncmp(a, want_status, strlen(want_status)) &&
             strstr(a, "\r\nContent-Type: application/json\r\n") && body &&
             !strncmp(body + 4, want_code, strlen(want_code)) && ms < 1000;
    if (!ok)
        fprintf(stderr, "%s: expected %d %s (JSON) within 1 s; got after %.0f ms:\n%s\n", who, status, code,
                ms, a);
    CHECK(ok);
}

/* Malformed heads against one server: no colon, a 10 KB URI, NUL bytes, an absurd chunk size. */
static void malformed_heads(const char *who, int port) {
    static const char nocolon[] = "GET /v1/x HTTP/1.1\r\nHost: t\r\nNoColonHere\r\n\r\n";
    expect_json_error(who, port, nocolon, sizeof nocolon - 1, 400, "invalid_request");
    static const char nul[] = "G\0T /v1/x HTTP/1.1\r\nHost: t\r\n\r\n";
    expect_json_error(who, port, nul, sizeof nul - 1, 400, "invalid_request");
    static const char chunk[] = "PUT /v1/buffers/1 HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
                                "ffffffffffffffff\r\nabc\r\n";
    expect_json_error(who, port, chunk, sizeof chunk - 1, 413, "too_large");
    static char uri[11000];
    int n = snprintf(uri, sizeof uri, "GET /v1/x?q=%010240d HTTP/1.1\r\nHost: t\r\n\r\n", 0);
    expect_json_error(who, port, uri, (size_t)n, 414, "too_large");
    fprintf(stderr, "%s: malformed heads answered with the JSON error body\n", who);
}

static void release_all(void) {
    for (int i = 0; i < nheld; i++)
        close(held_fds[i]);
    nheld = 0;
}

static void run(void) {
    lepton_client_options o = LEPTON_CLIENT_OPTIONS_INIT;
    o.endpoint = B.url;
    o.token = T_TEN;
    o.timeout_ms = 10000;
    lepton_client *c = NULL;
    CHECK_RC(lepton_client_open(&c, &o), LEPTON_OK);
    if (!c) return;

    malformed_heads("broker", B.port);
    malformed_heads("agent", A1.port);

    /* the broker (limit 1024): 1100 idle sockets from 127.0.0.2..12, then open a lease */
    int n = hold_idle(B.port, 2, 1100);
    CHECK_EQ_INT(n, 1100);
    tc_sleep_ms(200);
    double t0 = tc_now_ms();
    lepton_lease_request r = LEPTON_LEASE_REQUEST_INIT;
    r.gpu_count = 1;
    r.ttl_seconds = 600;
    r.wait_ms = 5000;
    lepton_lease *l = NULL;
    CHECK_RC(lepton_lease_open(c, &r, &l), LEPTON_OK);
    double open_ms = tc_now_ms() - t0;
    fprintf(stderr, "broker: %d idle sockets held; lease opened in %.1f ms\n", n, open_ms);
    CHECK(open_ms < 5000);

    /* the agent's endpoint (limit 64): 200 idle sockets, then GET /healthz */
    int na = hold_idle(A1.port, 20, 200);
    CHECK_EQ_INT(na, 200);
    tc_sleep_ms(200);
    t0 = tc_now_ms();
    a_slot s[A_MAX_GPUS];
    int gpus = a_agent_slots(&A1, s, A_MAX_GPUS);
    double agent_ms = tc_now_ms() - t0;
    CHECK_EQ_INT(gpus, A1.gpus);
    fprintf(stderr, "agent: %d idle sockets held; /healthz answered in %.1f ms\n", na, agent_ms);
    CHECK(agent_ms < 5000);

    /* the lease's worker (limit 512): 600 idle sockets, then allocate, write and read GPU memory */
    lepton_lease_info info = LEPTON_LEASE_INFO_INIT;
    int slot = -1;
    if (l && lepton_lease_get_info(l, &info) == LEPTON_OK)
        for (int i = 0; i < gpus; i++)
            if (!strcmp(s[i].lease, info.id)) slot = i;
    CHECK(slot >= 0);
    if (slot >= 0) malformed_heads("worker", A1.port + 1 + slot);
    int nw = slot >= 0 ? hold_idle(A1.port + 1 + slot, 30, 600) : 0;
    CHECK_EQ_INT(nw, 600);
    tc_sleep_ms(200);
    t0 = tc_now_ms();
    char in[4096], out[4096];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (char)(i * 13 + 1);
    lepton_buffer *buf = NULL;
    if (l) {
        CHECK_RC(lepton_buffer_alloc(l, 0, sizeof in, &buf), LEPTON_OK);
        if (buf) {
            CHECK_RC(lepton_buffer_write(buf, 0, in, sizeof in), LEPTON_OK);
            CHECK_RC(lepton_buffer_read(buf, 0, out, sizeof out), LEPTON_OK);
            CHECK(memcmp(in, out, sizeof in) == 0);
            lepton_buffer_free(buf);
        }
    }
    double use_ms = tc_now_ms() - t0;
    fprintf(stderr, "worker: %d idle sockets held; alloc + write + read + free of 4 KiB in %.1f ms\n", nw,
            use_ms);
    CHECK(use_ms < 5000);

    /* close the lease while all of them are still held */
    t0 = tc_now_ms();
    if (l) CHECK_RC(lepton_lease_close(l), LEPTON_OK);
    double close_ms = tc_now_ms() - t0;
    fprintf(stderr, "broker: lease closed in %.1f ms (%d idle sockets held in all)\n", close_ms, nheld);
    CHECK(close_ms < 5000);
    release_all();
    lepton_client_close(c);
}

int main(void) {
    a_become_subreaper();
    if (h_broker_start(&B, "--head-timeout-s 30") != 0) return 1;
    int rc = 1;
    if (h_token(&B, "acme", 0, T_TEN, sizeof T_TEN) || h_token(&B, "fleet", 1, T_NODE, sizeof T_NODE)) {
        fprintf(stderr, "token create failed (see %s)\n", B.log);
        check_failures++;
    } else if (a_agent_start(&A1, &B, T_NODE, "n1", 2, 1.5) != 0) {
        check_failures++;
    } else {
        run();
        CHECK(h_healthy(&B));
    }
    release_all();
    a_agent_cleanup(&A1);
    a_finish(&B);
    rc = check_done("guard.idle_sockets");
    return rc;
}
