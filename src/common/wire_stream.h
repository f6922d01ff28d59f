/* wire_stream.h — the data plane's stream (docs/dataplane.md "The stream"): after an HTTP/1.1
 * upgrade of `GET /v1/stream` on a worker's port, both ends exchange frames of a 16-byte header and
 * a payload. The worker (src/agent/worker_stream.c) and liblepton (src/client/dp_stream.c) both
 * frame and unframe through this header, so the layout has one owner.
 *
 * Header (all integers little-endian):
 *   offset 0  u8   kind    request: WS_JOB, WS_WRITE, WS_READ, WS_PING; response: kind | WS_REPLY
 *   offset 1  u8   flags   0 (a receiver refuses other values)
 *   offset 2  u16  status  responses: the HTTP status the same request would have had over HTTP
 *                          (200, 204, 4xx, 5xx; then the payload is the JSON error body); requests: 0
 *   offset 4  u32  tag     chosen by the client, echoed by the answer
 *   offset 8  u64  length  payload bytes that follow the header
 * Responses come in the order of their requests. */
#ifndef LEPTON_COMMON_WIRE_STREAM_H
#define LEPTON_COMMON_WIRE_STREAM_H

#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include "wire_job.h"

#define WS_PROTOCOL "lepton-stream/1" /* the Upgrade token */
#define WS_PATH "/v1/stream"
#define WS_HEADER 16

#define WS_JOB                                                                                               \
    1 /* payload: u64 seq + a job body exactly as POST /v1/jobs takes it; answer: its result body */
#define WS_WRITE 2 /* payload: u64 buffer + u64 offset + the bytes; answer: 204, empty */
#define WS_READ 3  /* payload: u64 buffer + u64 offset + u64 size; answer: 200 + exactly size bytes */
#define WS_PING 4  /* payload: empty; answer: 200, empty */
#define WS_REPLY 0x80

typedef struct ws_header {
    uint8_t kind, flags;
    uint16_t status;
    uint32_t tag;
    uint64_t length;
} ws_header;

static inline void ws_put_u64(unsigned char *p, uint64_t v) { wire_put_le64(p, v); }
static inline uint64_t ws_get_u64(const unsigned char *p) { return wire_get_le64(p); }

static inline void ws_pack(unsigned char out[WS_HEADER], const ws_header *h) {
    out[0] = h->kind;
    out[1] = h->flags;
    out[2] = (unsigned char)h->status;
    out[3] = (unsigned char)(h->status >> 8);
    for (int i = 0; i < 4; i++)
        out[4 + i] = (unsigned char)(h->tag >> (8 * i));
    ws_put_u64(out + 8, h->length);
}

static inline void ws_unpack(const unsigned char in[WS_HEADER], ws_header *h) {
    h->kind = in[0];
    h->flags = in[1];
    h->status = (uint16_t)(in[2] | (in[3] << 8));
    h->tag = (uint32_t)in[4] | (uint32_t)in[5] << 8 | (uint32_t)in[6] << 16 | (uint32_t)in[7] << 24;
    h->length = ws_get_u64(in + 8);
}

/* Moves (*iov, *n) past k bytes just written: both ends write a frame's pieces with writev/sendmsg
 * and go on from where a short write stopped. Emptied pieces are skipped. */
static inline void ws_iov_advance(struct iovec **iov, int *n, size_t k) {
    while (*n > 0 && k >= (*iov)->iov_len) {
        k -= (*iov)->iov_len;
        (*iov)++;
        (*n)--;
    }
    if (*n > 0 && k) {
        (*iov)->iov_base = (char *)(*iov)->iov_base + k;
        (*iov)->iov_len -= k;
    }
}

#endif
