/* wire.h — the protocol's error vocabulary: wire error codes, their HTTP statuses and the
 * lepton_status each maps to on the client. One table, used by every server and the client. */
#ifndef LEPTON_COMMON_WIRE_H
#define LEPTON_COMMON_WIRE_H

/* Wire error codes ("code" in {"error": {"code", "message", "hint"}}). */
#define WIRE_INVALID "invalid_request"            /* 400 → LEPTON_EINVAL */
#define WIRE_UNAUTHORIZED "unauthorized"          /* 401 → LEPTON_EAUTH */
#define WIRE_FORBIDDEN "forbidden"                /* 403 → LEPTON_EAUTH */
#define WIRE_NOT_FOUND "not_found"                /* 404 → LEPTON_ENOTFOUND */
#define WIRE_METHOD "method_not_allowed"          /* 405 → LEPTON_EINVAL */
#define WIRE_LEASE_ENDED "lease_ended"            /* 410 → LEPTON_EEXPIRED */
#define WIRE_CONFLICT "conflict"                  /* 409 → LEPTON_EINVAL */
#define WIRE_TOO_LARGE "too_large"                /* 413 → LEPTON_ETOOLARGE */
#define WIRE_UNSUPPORTED "unsupported_media_type" /* 415 → LEPTON_EINVAL */
#define WIRE_OVER_BUDGET "over_budget"            /* 402 → LEPTON_EBUDGET */
#define WIRE_NO_CAPACITY "no_capacity"            /* 503 → LEPTON_ENOCAPACITY */
#define WIRE_NODE_LOST "node_lost"                /* 502 → LEPTON_ENODELOST */
#define WIRE_CUDA "cuda_error"                    /* 500 → LEPTON_ECUDA */
#define WIRE_NO_MEMORY "out_of_memory"            /* 507 → LEPTON_ENOMEM */
#define WIRE_TIMEOUT "timeout"                    /* 504 → LEPTON_ETIMEDOUT */
#define WIRE_CANCELED "canceled"                  /* 409 → LEPTON_ECANCELED */
#define WIRE_INTERNAL "internal"                  /* 500 → LEPTON_EPROTO */

/* The HTTP status a server sends with a wire code (500 for an unknown code). */
int wire_http_status(const char *code);
/* The lepton_status a client reports for a wire code; falls back on the HTTP status when the code
 * is unknown or NULL. */
int wire_code_to_status(const char *code, long http_status);
/* The wire code of a lepton_status (for servers that carry client statuses, e.g. the worker). */
const char *wire_status_to_code(int status);

#endif
