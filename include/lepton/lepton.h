/** @file
 * lepton.h — the public C ABI of liblepton, version 1.
 *
 * Copyright 2026 The Lepton Authors. Licensed under the Apache License, Version 2.0.
 *
 * liblepton rents GPUs from a Lepton broker and runs CUDA work on them. A program opens a
 * client (lepton_client_open), asks for a lease on N GPUs (lepton_lease_open), ships modules,
 * device buffers and kernel launches to the leased GPUs (lepton_submit) and collects the results
 * (lepton_wait). Every lease is billed per second at the price agreed when it was granted.
 *
 * Rules that hold for every function in this header:
 *  - A function that can fail returns int: LEPTON_OK (0) or a negative lepton_status. The reason
 *    is in lepton_last_error(), a thread-local message owned by the library.
 *  - Handles are opaque. A function that creates one takes an `**out` parameter that is set to
 *    NULL on failure. Each handle type has exactly one function that ends it (a lease handle has
 *    two: lepton_lease_close ends the lease too, lepton_lease_detach leaves it running); ending NULL
 *    is a no-op.
 *  - Structs passed in or out start with `uint32_t version`; initialise them with their
 *    LEPTON_..._INIT macro. The library rejects version 0 and versions newer than it knows, and
 *    reads or writes only the fields that the given version has.
 *  - Host memory handed to an asynchronous call (a job's host buffers) must stay valid until
 *    lepton_wait returns for that task, as with cudaMemcpyAsync.
 *  - Thread safety: every function may be called from any thread. A client and a lease may be
 *    used from several threads at once; submissions to one GPU run in the order in which the
 *    lepton_submit calls returned. A handle must not be used concurrently with, or after, the
 *    call that ends it.
 *  - No call blocks forever: every network request has a deadline (lepton_client_options.timeout_ms)
 *    and every wait has a timeout.
 */
#ifndef LEPTON_LEPTON_H
#define LEPTON_LEPTON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && !defined(LEPTON_STATIC_BUILD)
#define LEPTON_API __attribute__((visibility("default")))
#else
/** Marks an exported function of liblepton. */
#define LEPTON_API
#endif

/** The version string of this header; lepton_version() returns the library's. */
#define LEPTON_VERSION_STRING "1.0.0"
/** Major version of the ABI; changes only when the SONAME changes. */
#define LEPTON_VERSION_MAJOR 1
/** Minor version: grows when functions, fields or status codes are added. */
#define LEPTON_VERSION_MINOR 0
/** Patch version. */
#define LEPTON_VERSION_PATCH 0

/* ------------------------------------------------------------------------------------------ */
/* Status codes                                                                                */
/* ------------------------------------------------------------------------------------------ */

/** Status codes returned by every function that can fail (0 or negative). */
typedef enum lepton_status {
    LEPTON_OK = 0,           /**< Success. */
    LEPTON_EINVAL = -1,      /**< Bad argument or request; the message says which. */
    LEPTON_ENOMEM = -2,      /**< Out of host memory (or device memory on the node). */
    LEPTON_ENET = -3,        /**< Broker or node unreachable, connection broken. */
    LEPTON_EAUTH = -4,       /**< Missing or invalid token, or the resource is another tenant's. */
    LEPTON_ENOCAPACITY = -5, /**< No GPUs satisfy the request now; the message says why and what is closest. */
    LEPTON_EBUDGET = -6,     /**< Price above max_price_per_gpu_hour, or the lease's max_cost is reached. */
    LEPTON_EEXPIRED = -7,    /**< The lease has ended (closed, TTL, cost cap). */
    LEPTON_ENODELOST = -8,   /**< The node or the lease worker failed. */
    LEPTON_ECUDA = -9,       /**< A CUDA error on the node; the message carries the driver's error name. */
    LEPTON_ETIMEDOUT = -10,  /**< A wait ran out; the task is still running. */
    LEPTON_ECANCELED = -11,  /**< The operation or task was canceled. */
    LEPTON_EPROTO = -12,     /**< Unexpected response from a server, or a protocol version mismatch. */
    LEPTON_ENOTFOUND = -13,  /**< The named lease, module, buffer or function does not exist. */
    LEPTON_ETOOLARGE = -14   /**< A size limit was exceeded. */
} lepton_status;

/**
 * The message of the last failure on the calling thread.
 *
 * Owned by the library; valid until the next liblepton call on the same thread. Never NULL: an
 * empty string when no call on this thread has failed yet. Thread-safe.
 */
LEPTON_API const char *lepton_last_error(void);

/**
 * The name of a status code, e.g. "LEPTON_ENOCAPACITY"; "LEPTON_UNKNOWN" for a value that is not
 * a status code. The string is static. Thread-safe.
 */
LEPTON_API const char *lepton_status_name(int status);

/** The version of the library, "MAJOR.MINOR.PATCH" (e.g. "1.0.0"). Static string. Thread-safe. */
LEPTON_API const char *lepton_version(void);

/* ------------------------------------------------------------------------------------------ */
/* Handles                                                                                     */
/* ------------------------------------------------------------------------------------------ */

/** A connection to a broker; ended by lepton_client_close. */
typedef struct lepton_client lepton_client;
/** A lease on one or more GPUs of one node; the handle is ended by lepton_lease_close (which ends
 *  the lease) or lepton_lease_detach (which leaves it running). */
typedef struct lepton_lease lepton_lease;
/** A CUDA module loaded on every GPU of a lease; ended by lepton_module_free. */
typedef struct lepton_module lepton_module;
/** A device buffer on one GPU of a lease; ended by lepton_buffer_free. */
typedef struct lepton_buffer lepton_buffer;
/** A submitted job; ended by lepton_task_free. */
typedef struct lepton_task lepton_task;

/* ------------------------------------------------------------------------------------------ */
/* Client                                                                                      */
/* ------------------------------------------------------------------------------------------ */

/** Log levels passed to a lepton_log_fn. */
#define LEPTON_LOG_ERROR 0 /**< Something failed. */
#define LEPTON_LOG_WARN 1  /**< Something unexpected that the library recovered from. */
#define LEPTON_LOG_INFO 2  /**< A lease was granted, extended, closed. */
#define LEPTON_LOG_DEBUG 3 /**< Every request. */

/**
 * A log callback. Called from whichever thread does the logged work, possibly several at once;
 * `msg` is valid only during the call. Must not call back into liblepton with the same client.
 */
typedef void (*lepton_log_fn)(int level, const char *msg, void *user);

/** Options of lepton_client_open. Initialise with LEPTON_CLIENT_OPTIONS_INIT. */
typedef struct lepton_client_options {
    uint32_t version;     /**< LEPTON_CLIENT_OPTIONS_VERSION. */
    const char *endpoint; /**< Broker URL; NULL → $LEPTON_ENDPOINT → http://127.0.0.1:7700. Copied. */
    const char *token;    /**< Bearer token; NULL → $LEPTON_TOKEN → none (only `lepton dev` accepts none). Copied. */
    const char *ca_file;  /**< Extra CA bundle (PEM); NULL → $LEPTON_CA_FILE → the system store. Copied. */
    int32_t timeout_ms;   /**< Deadline of each request; 0 = 30000; negative is invalid. */
    lepton_log_fn log;    /**< Log callback; NULL = silent. */
    void *log_user;       /**< Passed to `log` unchanged. */
} lepton_client_options;

/** Current version of lepton_client_options. */
#define LEPTON_CLIENT_OPTIONS_VERSION 1
/** Initializer of lepton_client_options: defaults everywhere. */
#define LEPTON_CLIENT_OPTIONS_INIT {LEPTON_CLIENT_OPTIONS_VERSION, NULL, NULL, NULL, 0, NULL, NULL}

/**
 * Creates a client for a broker. Does not contact the broker (the first request does).
 *
 * @param out   receives the client; NULL on failure.
 * @param opts  options, or NULL for all defaults; not retained after the call.
 * @return LEPTON_OK; LEPTON_EINVAL for a bad option (bad version, URL that is not http(s),
 *         negative timeout, unreadable ca_file, token with control characters); LEPTON_ENOMEM.
 * Thread-safe. The client may be used from several threads at once; it keeps HTTP connections
 * alive between requests.
 */
LEPTON_API int lepton_client_open(lepton_client **out, const lepton_client_options *opts);

/**
 * Ends a client: closes (and bills) every lease still open through it as lepton_lease_close does,
 * detaches (leaves running) every lease handle it got from lepton_lease_attach that is still
 * attached, as lepton_lease_detach does, and frees the client. NULL is a no-op. No other call may use the client, its leases, modules or
 * buffers during or after this call; task handles stay valid until lepton_task_free.
 */
LEPTON_API void lepton_client_close(lepton_client *c);

/* ------------------------------------------------------------------------------------------ */
/* Capacity and leases                                                                         */
/* ------------------------------------------------------------------------------------------ */

/** What a lease asks for. Initialise with LEPTON_LEASE_REQUEST_INIT. */
typedef struct lepton_lease_request {
    uint32_t version;              /**< LEPTON_LEASE_REQUEST_VERSION. */
    uint32_t gpu_count;            /**< 0 → 1; all GPUs of a lease are on one node in v1. */
    const char *gpu_model;         /**< e.g. "H100": matches a model name containing it (case-insensitive); NULL = any. */
    uint64_t min_gpu_memory;       /**< Bytes per GPU; 0 = any. */
    double max_price_per_gpu_hour; /**< USD; 0 = no limit. */
    double max_cost;               /**< USD hard cap for the whole lease; 0 = none. */
    uint32_t ttl_seconds;          /**< The lease ends by itself after this; 0 → 3600. */
    int32_t wait_ms;               /**< Wait up to this long for capacity; 0 = answer now. */
    const char *labels;            /**< Free-form "key=value,..." kept with the lease; NULL = none. */
    /* ---- version 2 (1.1.0) ---- */
    /** Keepalive, seconds (0 = none, else 1 … 86400). While a handle on the lease is open (this one,
     *  or one that lepton_lease_attach made), the library renews the lease from a background thread
     *  every keepalive_seconds / 3; when the broker hears
     *  no renewal for keepalive_seconds (the process died, the network is gone), it ends the lease
     *  as expired, billed up to the last renewal, instead of letting it run to its TTL. */
    uint32_t keepalive_seconds;
} lepton_lease_request;

/** Current version of lepton_lease_request (2: keepalive_seconds). Version 1 callers keep working. */
#define LEPTON_LEASE_REQUEST_VERSION 2
/** Initializer of lepton_lease_request: one GPU of any model, no limits, one hour, no keepalive. */
#define LEPTON_LEASE_REQUEST_INIT {LEPTON_LEASE_REQUEST_VERSION, 0, NULL, 0, 0.0, 0.0, 0, 0, NULL, 0}

/** Lease states (lepton_lease_info.state). */
#define LEPTON_LEASE_PENDING 0   /**< Waiting for capacity. */
#define LEPTON_LEASE_ACTIVE 1    /**< Granted; billed per second. */
#define LEPTON_LEASE_CLOSED 2    /**< Ended by its holder. */
#define LEPTON_LEASE_EXPIRED 3   /**< Ended by its TTL, or by a missed keepalive. */
#define LEPTON_LEASE_EXHAUSTED 4 /**< Ended because its cost reached max_cost. */
#define LEPTON_LEASE_FAILED 5    /**< Ended because its node or a worker was lost. */

/** A snapshot of a lease. Initialise with LEPTON_LEASE_INFO_INIT before lepton_lease_get_info. */
typedef struct lepton_lease_info {
    uint32_t version;          /**< LEPTON_LEASE_INFO_VERSION, set by the caller. */
    char id[64];               /**< The lease id (NUL-terminated). */
    char node[128];            /**< The node's name. */
    char gpu_model[64];        /**< The GPUs' model name. */
    uint32_t gpu_count;        /**< Number of GPUs held. */
    uint64_t gpu_memory;       /**< Bytes per GPU. */
    double price_per_gpu_hour; /**< USD, agreed at grant time. */
    double cost;               /**< Accrued so far, USD (whole seconds, capped at max_cost). */
    int64_t started_at;        /**< Unix seconds when the lease became active. */
    int64_t expires_at;        /**< Unix seconds when the TTL ends it (or when it ended, once ended). */
    int32_t state;             /**< One of LEPTON_LEASE_*. */
} lepton_lease_info;

/** Current version of lepton_lease_info. */
#define LEPTON_LEASE_INFO_VERSION 1
/** Initializer of lepton_lease_info. */
#define LEPTON_LEASE_INFO_INIT {LEPTON_LEASE_INFO_VERSION, {0}, {0}, {0}, 0, 0, 0.0, 0.0, 0, 0, 0}

/** One node's GPUs that could serve a request (lepton_quote). */
typedef struct lepton_offer {
    char node[128];            /**< The node's name. */
    char gpu_model[64];        /**< The GPUs' model name. */
    uint64_t gpu_memory;       /**< Bytes per GPU. */
    uint32_t gpus_free;        /**< GPUs of this kind free on that node now. */
    double price_per_gpu_hour; /**< USD. */
} lepton_offer;

/**
 * Lists the offers a lease request would get now, cheapest first. Reserves nothing.
 *
 * @param c       the client.
 * @param req     the request (its wait_ms, ttl_seconds, max_cost and labels are ignored).
 * @param offers  receives an array owned by the caller, freed with lepton_offers_free; NULL when
 *                `*count` is 0 or on failure.
 * @param count   receives the number of offers; 0 is a success (the message then says why).
 * @return LEPTON_OK; LEPTON_EINVAL; LEPTON_EAUTH; LEPTON_ENET; LEPTON_EPROTO.
 */
LEPTON_API int lepton_quote(lepton_client *c, const lepton_lease_request *req, lepton_offer **offers,
                            size_t *count);

/** Frees an array returned by lepton_quote. NULL is a no-op. */
LEPTON_API void lepton_offers_free(lepton_offer *offers);

/**
 * Acquires a lease: the cheapest node that has gpu_count free GPUs satisfying the request. The
 * lease is active (and billed) when this returns LEPTON_OK.
 *
 * @return LEPTON_OK; LEPTON_ENOCAPACITY (nothing fits now or within wait_ms; the message says
 *         what exists, what is free and what is closest); LEPTON_EBUDGET (every fitting GPU costs
 *         more than max_price_per_gpu_hour); LEPTON_EINVAL; LEPTON_EAUTH; LEPTON_ENET.
 * The lease belongs to the client and is closed by lepton_client_close if still open then.
 * With req->keepalive_seconds, a background thread renews the lease until it is closed (the
 * client's log callback may then be called from that thread).
 */
LEPTON_API int lepton_lease_open(lepton_client *c, const lepton_lease_request *req, lepton_lease **out);

/**
 * Makes a handle on an active lease of the client's tenant that was opened elsewhere: by another
 * process (e.g. `lepton lease open`, or `lepton exec`, which hands its lease to the program it runs),
 * another client, or another handle. Added in 1.1 (version node LEPTON_1.1).
 *
 * The handle reaches the lease's GPUs as its opener's does (the workers and the lease token that the
 * broker gives its tenant): modules, buffers and jobs of this handle are its own; those of other
 * handles on the same lease are not visible through it. Each handle's jobs run on a GPU in the
 * order it submitted them (each handle has a job session of its own on the workers), while the jobs
 * of several handles on one GPU interleave there, one at a time: order work across handles yourself
 * (e.g. wait for one handle's tasks before another handle's jobs use their results).
 * When the lease has a keepalive, this handle renews it too while it is attached (from a background
 * thread, as lepton_lease_open's handle does), so the lease lives while any handle on it is open.
 *
 * The handle belongs to the client. End it with lepton_lease_detach (the lease keeps running: the
 * usual end of an attached handle) or lepton_lease_close (the lease ends, as for one opened here);
 * lepton_client_close detaches the attached handles still open then, never closes them.
 *
 * @param c         the client; its token must be the lease's tenant's.
 * @param lease_id  the lease's id (as lepton_lease_info.id); not retained after the call.
 * @param out       receives the handle; NULL on failure.
 * @return LEPTON_OK; LEPTON_EINVAL (NULL argument, or lease_id is not a lease id);
 *         LEPTON_ENOTFOUND (no such lease, or the lease is another tenant's: the broker answers
 *         both alike); LEPTON_EAUTH (missing or invalid token); LEPTON_EEXPIRED (the lease has ended:
 *         closed, TTL, keepalive, cost cap or node loss; the message says which);
 *         LEPTON_ENOCAPACITY (the lease is still waiting for capacity); LEPTON_ENET; LEPTON_EPROTO;
 *         LEPTON_ENOMEM.
 * Thread-safe; several handles on one lease may exist at once, in one process or several.
 */
LEPTON_API int lepton_lease_attach(lepton_client *c, const char *lease_id, lepton_lease **out);

/**
 * Ends a lease handle without ending the lease: stops the handle's renew thread (if it has one),
 * frees its module and buffer handles (the modules and device memory they name stay with the lease
 * on its workers) and frees the handle. Sends nothing to the broker; the lease keeps running and
 * billing until it is closed (by another handle, `lepton lease close`), or ends by its TTL, cost cap
 * or keepalive (with no handle left to renew it, a lease with a keepalive ends keepalive_seconds
 * later). Works on any handle, opened or attached. Tasks of the handle that have not finished
 * complete with LEPTON_ECANCELED (not yet sent) or LEPTON_EEXPIRED (on their way or running: their
 * results are not collected); their handles stay valid until lepton_task_free. Wait for tasks
 * before detaching. Added in 1.1 (version node LEPTON_1.1).
 *
 * @return LEPTON_OK (always; NULL is a no-op).
 * The handle must not be used concurrently with, or after, this call.
 */
LEPTON_API int lepton_lease_detach(lepton_lease *l);

/**
 * Fetches the lease's current state and cost from the broker. `out->version` must be set by the
 * caller (LEPTON_LEASE_INFO_INIT). Works on ended leases too.
 */
LEPTON_API int lepton_lease_get_info(lepton_lease *l, lepton_lease_info *out);

/**
 * Lists the leases of the client's tenant, newest first, as lepton_lease_get_info describes one: to
 * find a lease again (then lepton_lease_attach it), or to see what is running and what it costs.
 * Added in 1.1 (version node LEPTON_1.1).
 *
 * @param c      the client.
 * @param state  a LEPTON_LEASE_* to list only the leases in that state, or -1 for all.
 * @param after  NULL to start with the newest lease; else the id of the last lease a previous call
 *               wrote, to go on after it (not retained).
 * @param out    an array of cap entries, all of the version the caller sets in out[0].version
 *               (LEPTON_LEASE_INFO_INIT); may be NULL when cap is 0.
 * @param cap    how many entries out has room for.
 * @param count  receives how many were written; fewer than cap means the list has ended.
 * @return LEPTON_OK; LEPTON_EINVAL (NULL c or count, NULL out with cap > 0, an unsupported version,
 *         a state out of range, or an `after` that names no lease of this list); LEPTON_EAUTH;
 *         LEPTON_ENET; LEPTON_EPROTO; LEPTON_ENOMEM. On failure *count is 0 and out is unchanged.
 * Thread-safe.
 */
LEPTON_API int lepton_lease_list(lepton_client *c, int32_t state, const char *after, lepton_lease_info *out,
                                 size_t cap, size_t *count);

/**
 * Adds `seconds` (1 … 2592000) to the lease's expiry. LEPTON_EEXPIRED if it has already ended.
 */
LEPTON_API int lepton_lease_extend(lepton_lease *l, uint32_t seconds);

/**
 * Ends the lease: releases its GPUs, stops billing, frees its module and buffer handles, and
 * frees the lease handle — always, even when the broker cannot be reached (the lease then ends by
 * its keepalive, if it has one, or its TTL). Stops the lease's renew thread first. Tasks of the
 * lease that have not finished complete with LEPTON_ECANCELED (not yet sent) or LEPTON_EEXPIRED
 * (on their way or running); their handles stay valid until lepton_task_free. Returns LEPTON_OK
 * when the broker confirmed the end (also when the lease was already closed by its holder, e.g. by
 * a retried request), LEPTON_EEXPIRED when the lease had already ended otherwise (TTL, keepalive,
 * cost cap, node loss), or the network error. NULL is a no-op returning LEPTON_OK.
 */
LEPTON_API int lepton_lease_close(lepton_lease *l);

/* ------------------------------------------------------------------------------------------ */
/* Device memory, modules, jobs                                                                */
/* ------------------------------------------------------------------------------------------ */

/**
 * Loads a module (PTX text, cubin or fatbin) on every GPU of the lease. An image already loaded
 * on the lease (same content hash) is not sent again. On a JIT failure returns LEPTON_ECUDA with
 * the JIT log in lepton_last_error().
 */
LEPTON_API int lepton_module_load(lepton_lease *l, const void *image, size_t size, lepton_module **out);

/** Unloads a module. NULL is a no-op. Tasks already submitted that use it still complete. */
LEPTON_API void lepton_module_free(lepton_module *m);

/**
 * Allocates `size` bytes of device memory on GPU `gpu` (an index within the lease).
 * LEPTON_EINVAL for size 0 or a bad index; LEPTON_ENOMEM when the GPU has not that much free.
 */
LEPTON_API int lepton_buffer_alloc(lepton_lease *l, uint32_t gpu, size_t size, lepton_buffer **out);

/** Copies `size` bytes from host memory into the buffer at `offset`. Blocks until done. */
LEPTON_API int lepton_buffer_write(lepton_buffer *b, size_t offset, const void *src, size_t size);

/** Copies `size` bytes of the buffer at `offset` into host memory. Blocks until done. */
LEPTON_API int lepton_buffer_read(lepton_buffer *b, size_t offset, void *dst, size_t size);

/** Frees the device memory and the handle. NULL is a no-op. Free a buffer only after the tasks that
 * use it have finished (lepton_wait); a task still using it may fail. */
LEPTON_API void lepton_buffer_free(lepton_buffer *b);

/** Kinds of kernel argument (lepton_arg.kind). */
#define LEPTON_ARG_BUFFER 1 /**< The device address of `buffer`, plus `offset` bytes. */
#define LEPTON_ARG_VALUE 2  /**< `size` bytes at `value`, copied at submit time. */

/** One kernel parameter. */
typedef struct lepton_arg {
    uint32_t kind;         /**< LEPTON_ARG_BUFFER or LEPTON_ARG_VALUE. */
    lepton_buffer *buffer; /**< For LEPTON_ARG_BUFFER. */
    uint64_t offset;       /**< For LEPTON_ARG_BUFFER: byte offset into the buffer. */
    const void *value;     /**< For LEPTON_ARG_VALUE: the bytes of the parameter. */
    size_t size;           /**< For LEPTON_ARG_VALUE: their number. */
} lepton_arg;

/** A buffer argument (its device address). */
#define LEPTON_ARG_BUF(b) ((lepton_arg){LEPTON_ARG_BUFFER, (b), 0, NULL, 0})
/** A value argument taken from the lvalue `v` (its bytes and sizeof). */
#define LEPTON_ARG_VAL(v) ((lepton_arg){LEPTON_ARG_VALUE, NULL, 0, &(v), sizeof(v)})

/** A kernel launch, one step of a job. */
typedef struct lepton_launch {
    lepton_module *module;   /**< The module holding the kernel. */
    const char *function;    /**< The kernel's (mangled) name. */
    uint32_t grid[3];        /**< Blocks per dimension; zeros count as 1. */
    uint32_t block[3];       /**< Threads per dimension; zeros count as 1. */
    uint32_t shared_bytes;   /**< Dynamic shared memory per block. */
    const lepton_arg *args;  /**< The kernel's parameters, in order. */
    size_t arg_count;        /**< Their number; must match the kernel's parameter list. */
} lepton_launch;

/** Kinds of job step (lepton_step.kind). */
#define LEPTON_STEP_WRITE 1  /**< host → buffer. */
#define LEPTON_STEP_READ 2   /**< buffer → host. */
#define LEPTON_STEP_LAUNCH 3 /**< a kernel launch. */

/** One step of a job. */
typedef struct lepton_step {
    uint32_t kind;               /**< LEPTON_STEP_WRITE, LEPTON_STEP_READ or LEPTON_STEP_LAUNCH. */
    lepton_buffer *buffer;       /**< For WRITE and READ. */
    uint64_t offset;             /**< For WRITE and READ: byte offset into the buffer. */
    void *host;                  /**< WRITE reads it, READ fills it; valid until lepton_wait returns. */
    size_t size;                 /**< For WRITE and READ: bytes. */
    const lepton_launch *launch; /**< For LAUNCH. */
} lepton_step;

/** A job: steps run in order on one GPU of a lease. Initialise with LEPTON_JOB_INIT. */
typedef struct lepton_job {
    uint32_t version;         /**< LEPTON_JOB_VERSION. */
    uint32_t gpu;             /**< Index of the GPU within the lease. */
    const lepton_step *steps; /**< The steps. */
    size_t step_count;        /**< Their number (≥ 1). */
} lepton_job;

/** Current version of lepton_job. */
#define LEPTON_JOB_VERSION 1
/** Initializer of lepton_job. */
#define LEPTON_JOB_INIT {LEPTON_JOB_VERSION, 0, NULL, 0}

/** Task states (lepton_task_info.state). */
#define LEPTON_TASK_QUEUED 0 /**< Accepted, waiting behind other jobs of its GPU (or not sent yet). */
/** The node is working on it: every earlier job of its GPU has ended and it has been sent (its data
 *  arriving, or its steps running). */
#define LEPTON_TASK_RUNNING 1
#define LEPTON_TASK_DONE 2     /**< Completed; read-backs have landed. */
#define LEPTON_TASK_FAILED 3   /**< Failed; see status and error. */
#define LEPTON_TASK_CANCELED 4 /**< Canceled before it ran. */

/** A snapshot of a task. Initialise with LEPTON_TASK_INFO_INIT. */
typedef struct lepton_task_info {
    uint32_t version;   /**< LEPTON_TASK_INFO_VERSION, set by the caller. */
    int32_t state;      /**< One of LEPTON_TASK_*. */
    int32_t status;     /**< LEPTON_OK or why it failed. */
    int64_t queued_ns;  /**< Node clock (CLOCK_MONOTONIC of the node), when it was queued. */
    int64_t started_ns; /**< When it started running; 0 if it has not. */
    int64_t ended_ns;   /**< When it ended; 0 if it has not. */
    char error[256];    /**< Why it failed; empty otherwise. */
} lepton_task_info;

/** Current version of lepton_task_info. */
#define LEPTON_TASK_INFO_VERSION 1
/** Initializer of lepton_task_info. */
#define LEPTON_TASK_INFO_INIT {LEPTON_TASK_INFO_VERSION, 0, 0, 0, 0, 0, {0}}

/**
 * Queues a job on one GPU of the lease and returns once it is queued. Value arguments are copied;
 * host buffers of WRITE and READ steps must stay valid until lepton_wait returns for the task.
 * Argument counts and sizes are checked against the kernel's parameter list (LEPTON_EINVAL).
 */
LEPTON_API int lepton_submit(lepton_lease *l, const lepton_job *job, lepton_task **out);

/**
 * Waits up to `timeout_ms` (negative = the client's request timeout, 0 = poll) for the task.
 * @return LEPTON_OK when it completed; LEPTON_ETIMEDOUT when it is still queued or running; else
 *         the status it failed with (LEPTON_ECUDA, LEPTON_ENODELOST, LEPTON_EEXPIRED, ...).
 */
LEPTON_API int lepton_wait(lepton_task *t, int32_t timeout_ms);

/** Fills a snapshot of the task's state, timings and error. `out->version` set by the caller. */
LEPTON_API int lepton_task_get_info(lepton_task *t, lepton_task_info *out);

/** Frees the task handle; a task still running keeps running. NULL is a no-op. */
LEPTON_API void lepton_task_free(lepton_task *t);

#ifdef __cplusplus
}
#endif

#endif /* LEPTON_LEPTON_H */
