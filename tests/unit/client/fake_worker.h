/* fake_worker.h — a lease worker for the client's unit tests, speaking docs/dataplane.md on
 * loopback with canned behaviour: modules (every module has the kernels listed below), device
 * buffers in host memory, jobs run in seq order, and faults on demand.
 *
 * Kernels of every module (parameter sizes in brackets):
 *   empty()                     nothing
 *   add_one(ptr[8], n[4])       adds 1 to each of the n bytes at ptr
 *   sleep(ms[4])                sleeps ms milliseconds
 *   fault()                     fails the job with cuda_error CUDA_ERROR_ILLEGAL_ADDRESS
 *   crash()                     drops the connection without answering and stops listening
 *                               (every later connection is refused), like a worker that died
 * An image containing "syntax error" does not load: PUT answers 400 cuda_error with a JIT log. */
#ifndef LEPTON_TEST_FAKE_WORKER_H
#define LEPTON_TEST_FAKE_WORKER_H

#include <stddef.h>
#include <stdint.h>

typedef struct fake_worker fake_worker;

/* Starts a worker that accepts `token`. port 0 = any free port. With `listen_after_ms` > 0, the
 * port is bound at once but refuses connections until that many ms have passed. */
fake_worker *fw_start(const char *token, int port, int listen_after_ms);
void fw_stop(fake_worker *w);
const char *fw_url(const fake_worker *w); /* "http://127.0.0.1:PORT" */
int fw_port(const fake_worker *w);

/* Counters of requests received (all routes, by route) and connections accepted. */
typedef struct fw_counts {
    int requests, module_gets, module_puts, module_deletes, buffer_allocs, buffer_writes, buffer_reads,
        buffer_frees, jobs, connections, unauthorized;
    int batches, largest_batch; /* POST /v1/jobs/batch requests (their jobs count in `jobs` too) */
    int refused;                /* requests answered 503 queue_full or worker_restarting */
    uint64_t last_seq_header;   /* the Lepton-Job-Seq header of the last job request (0: none) */
} fw_counts;
fw_counts fw_get_counts(fake_worker *w);

/* Marks a module image (by sha256 hex) as already loaded. */
void fw_add_module(fake_worker *w, const char *sha);
/* Answers the next n requests with 503 worker_starting. */
void fw_starting(fake_worker *w, int n);
/* Answers the next n job requests (POST /v1/jobs, /v1/jobs/batch) with 503 queue_full. */
void fw_queue_full(fake_worker *w, int n);
/* Answers the next n requests with 503 worker_restarting (a worker after a sticky CUDA error). */
void fw_restarting(fake_worker *w, int n);
/* Marks buffer `id` as lost (410 buffer_lost), as after a worker replacement. */
void fw_lose_buffer(fake_worker *w, uint64_t id);

/* The jobs executed, in execution order: their seq and the first 8 bytes of their first WRITE
 * step (0 when none). Returns the number copied (at most max). */
int fw_executed(fake_worker *w, uint64_t *seqs, uint64_t *tags, int max);
/* The last job descriptor received (JSON text), copied into out. */
void fw_last_descriptor(fake_worker *w, char *out, size_t n);

#endif
