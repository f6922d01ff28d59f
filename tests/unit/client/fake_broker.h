/* fake_broker.h — a tiny HTTP/1.1 server for the client's unit tests: a thread with a listening
 * socket on 127.0.0.1 that hands each request to a handler and writes its canned answer (or
 * delays it, or drops the connection). fb_mini_* is a handler that plays a minimal broker. */
#ifndef LEPTON_TEST_FAKE_BROKER_H
#define LEPTON_TEST_FAKE_BROKER_H

#include <stddef.h>

typedef struct fb_request {
    char method[16];
    char path[512];
    char headers[8192]; /* raw header lines */
    char body[65536];
    size_t body_len;
} fb_request;

typedef struct fb_reply {
    int status;       /* 0 → 200 */
    char body[16384]; /* sent as is */
    int delay_ms;     /* wait before answering (interrupted by fb_stop) */
    int drop;         /* close the connection without answering */
} fb_reply;

typedef void (*fb_handler)(const fb_request *req, fb_reply *reply, void *user);

typedef struct fake_broker fake_broker;

/* Starts serving; handler calls are serialised. Returns NULL on failure. */
fake_broker *fb_start(fb_handler handler, void *user);
/* "http://127.0.0.1:PORT" */
const char *fb_url(const fake_broker *fb);
/* Requests received so far, and connections accepted so far. */
int fb_requests(fake_broker *fb);
int fb_connections(fake_broker *fb);
/* Stops serving, ends every connection and frees the server. */
void fb_stop(fake_broker *fb);

/* A minimal broker: leases (open with idempotency keys, get, extend, close) and quotes. */
typedef struct fb_mini {
    int next_id;
    int drop_next_open_answer; /* create the lease, then drop the connection instead of answering */
    int drop_next_close_answer;
    int opens, closes, quotes; /* requests seen */
    char last_key[128];        /* idempotency_key of the last POST /v1/leases */
    char keys_seen[8][128];
    int lease_ids_for_key[8];
    int nkeys;
    char last_auth[256];       /* Authorization header value of the last request */
    char last_open_body[1024]; /* body of the last POST /v1/leases */
    int gpu_count;             /* of every lease; 0 = 2 */
    const char *data_plane;    /* JSON of the leases' data_plane (and "gpus": …); NULL = a dead address */
    struct {
        int open;
        long expires;
        const char *ended; /* state once ended; NULL = "closed" */
    } leases[4096];
} fb_mini;
void fb_mini_handler(const fb_request *req, fb_reply *reply, void *user);

#endif
