/* worker_fixture.h — what the tests that start lepton-worker processes share: the emulated GPU's
 * UUID (as the agent learns it), a node key and the lease tokens signed with it (as the broker
 * does), and starting a worker as leptond does. Ports, sockets, processes: tests/common. */
#ifndef LEPTON_TESTS_AGENT_WORKER_FIXTURE_H
#define LEPTON_TESTS_AGENT_WORKER_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cuda_api.h"
#include "lease_token.h"
#include "net.h"
#include "proc.h"
#include "rand.h"

/* 1, after saying SKIPPED, when the test's arguments (WORKER LIBCUDA PTX) lack the CPU driver. */
static int fx_no_driver(int argc, char **argv) {
    if (argc >= 4 && access(argv[2], R_OK) == 0) return 0;
    printf("SKIPPED: the CPU driver (cudaemu libcuda.so.1) is not built at %s\n", argc > 2 ? argv[2] : "?");
    return 1;
}

/* One emulated GPU, a kernel watchdog, and linger_ms for a poisoned worker to keep answering
 * before it exits (so that its answers can be observed). */
static void fx_env(const char *linger_ms) {
    setenv("CUDAEMU_DEVICE_COUNT", "1", 1);
    unsetenv("CUDAEMU_DEVICES");
    setenv("CUDAEMU_WATCHDOG_MS", "10000", 1);
    setenv("LEPTON_WORKER_LINGER_MS", linger_ms, 1);
}

/* The UUID of the first GPU of the CUDA library lib. 0, or -1 after saying why on stderr. */
static int fx_gpu_uuid(const char *lib, char *uuid, size_t n) {
    lp_cuda cu;
    char err[600] = "";
    lp_gpu_desc *gpus = NULL;
    int ngpu = 0;
    if (lp_cuda_open(&cu, lib, err, sizeof err) != 0) {
        fprintf(stderr, "cannot load the CUDA library %s: %s\n", lib, err);
        return -1;
    }
    int rc = lp_cuda_list_gpus(&cu, &gpus, &ngpu, err, sizeof err) == 0 && ngpu > 0 ? 0 : -1;
    if (rc == 0)
        snprintf(uuid, n, "%s", gpus[0].uuid);
    else
        fprintf(stderr, "cannot list the emulated GPU: %s\n", err);
    free(gpus);
    lp_cuda_close(&cu);
    return rc;
}

/* 1 when the worker on 127.0.0.1:*port answers GET /healthz with 200. */
static int fx_worker_healthy(void *port) {
    static const char get[] = "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    return tc_http_ask(*(int *)port, get, sizeof get - 1, 5000) == 200;
}

/* Starts lepton-worker exe for lease ls_test (node node-t, GPU uuid at index 0) on 127.0.0.1:port,
 * handing it the lease key (hex) on a pipe as leptond does; queue_bytes: --job-queue-bytes, or NULL.
 * Returns the process id once GET /healthz answers 200 (up to 10 s), or -1 (then it is reaped). */
static pid_t fx_start_worker(const char *exe, const char *lib, const char *uuid, const char *dir,
                             const char *keyhex, int port, const char *queue_bytes) {
    char listen[64], grant[200], fdarg[16];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    int kp[2];
    if (pipe(kp) != 0) return -1;
    int glen = snprintf(grant, sizeof grant, "key %s\n", keyhex);
    if (write(kp[1], grant, (size_t)glen) != glen) {
        close(kp[0]);
        close(kp[1]);
        return -1;
    }
    close(kp[1]);
    snprintf(fdarg, sizeof fdarg, "%d", kp[0]);
    pid_t pid = fork();
    if (pid == 0) {
        const char *args[] = {exe,         "--listen",
                              listen,      "--lease",
                              "ls_test",   "--uuid",
                              uuid,        "--state-dir",
                              dir,         "--node",
                              "node-t",    "--index",
                              "0",         "--cuda-library",
                              lib,         "--key-fd",
                              fdarg,       queue_bytes ? "--job-queue-bytes" : NULL,
                              queue_bytes, NULL};
        execv(exe, (char *const *)args);
        _exit(127);
    }
    close(kp[0]);
    if (pid < 0) return -1;
    return tc_proc_wait_ready(pid, fx_worker_healthy, &port, 10000) == 0 ? pid : -1;
}

/* The u32 little-endian length that leads a job body (the JSON's length). */
static void put_le32(char *p, size_t v) {
    for (int i = 0; i < 4; i++)
        p[i] = (char)(v >> (8 * i) & 0xff);
}

static size_t get_le32(const char *p) {
    const unsigned char *u = (const unsigned char *)p;
    return (size_t)u[0] | (size_t)u[1] << 8 | (size_t)u[2] << 16 | (size_t)u[3] << 24;
}

/* The GPU of the CUDA library (its UUID, as the agent learns it), a node key (hex: as a worker gets
 * it) and lease ls_test's tokens for that GPU on node-t, as the broker signs them: one signed with
 * the key, one with another key. The tokens are the caller's (fx_keys_free). */
typedef struct fx_keys {
    char uuid[64];
    unsigned char key[32];
    char keyhex[65];
    char payload[512]; /* what the tokens sign */
    char *tok, *tok_bad_sig;
} fx_keys;

/* 0, or -1 after saying why on stderr (the GPU could not be listed; no tokens then). */
static int fx_keys_make(fx_keys *k, const char *lib) {
    memset(k, 0, sizeof *k);
    if (fx_gpu_uuid(lib, k->uuid, sizeof k->uuid) != 0) return -1;
    unsigned char other_key[32];
    lp_random_bytes(k->key, 32);
    lp_random_bytes(other_key, 32);
    lp_hex(k->keyhex, k->key, 32);
    snprintf(k->payload, sizeof k->payload,
             "{\"lease\":\"ls_test\",\"node\":\"node-t\",\"gpus\":[\"%s\"],\"expires_at\":1}", k->uuid);
    k->tok = lp_lease_token_sign(k->key, k->payload);
    k->tok_bad_sig = lp_lease_token_sign(other_key, k->payload);
    return 0;
}

static void fx_keys_free(fx_keys *k) {
    free(k->tok);
    free(k->tok_bad_sig);
    k->tok = k->tok_bad_sig = NULL;
}

#endif
