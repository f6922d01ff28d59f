/* lc_raw.h — liblepton's internal interface for the remote driver (src/remote, `lepton exec`):
 * device facts, device addresses, function attributes, module globals and jobs built directly on
 * the wire codec (wire_job.h), with the steps the public job API does not have (memset, device-to-
 * device copy, event). Internal: not exported from liblepton.so.1; the remote driver links
 * liblepton's objects into its own libcuda.so.1 (hidden), so it is a client of liblepton's data
 * plane (retries, TLS, tokens, the stream, errors) and never talks to a worker by itself.
 *
 * Every call follows liblepton's rules: an int status (LEPTON_OK or a negative lepton_status) with
 * lepton_last_error() set on failure; thread-safe like the public calls. */
#ifndef LEPTON_CLIENT_LC_RAW_H
#define LEPTON_CLIENT_LC_RAW_H

#include <stddef.h>
#include <stdint.h>

#include "lepton/lepton.h"
#include "wire_job.h"

/* Device attributes carried by GET /v1/info ("attributes": an array indexed by the driver's
 * CUdevice_attribute value, null where the worker's driver does not know it). */
#define LC_RAW_DEV_ATTRS 256
/* Function attributes carried by the module answer ("attributes": indexed by CUfunction_attribute,
 * 0 = MAX_THREADS_PER_BLOCK ... 9 = PREFERRED_SHARED_MEMORY_CARVEOUT, and on to what the worker's
 * driver knows, at most LC_RAW_FUNC_ATTRS). */
#define LC_RAW_FUNC_ATTRS 32
#define LC_RAW_ATTR_UNKNOWN INT32_MIN

/* What a GPU of the lease is, fetched from its worker (GET /v1/info) once per lease handle and
 * cached: the remote driver answers every device query from this without a round trip. */
typedef struct lc_gpu_facts {
    char name[256]; /* the driver's device name */
    char uuid[64];  /* "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" */
    unsigned char uuid_bytes[16];
    uint64_t memory_total;  /* bytes */
    int32_t driver_version; /* cuDriverGetVersion on the worker (e.g. 13000) */
    int32_t cc_major, cc_minor;
    int32_t attrs[LC_RAW_DEV_ATTRS]; /* [CUdevice_attribute]; LC_RAW_ATTR_UNKNOWN when not known */
    int64_t instance;                /* the GPU's worker process when the facts were fetched (0: not said) */
} lc_gpu_facts;

/* Facts of GPU `gpu` of lease l (cached after the first call; the first costs one round trip). */
int lc_raw_gpu_facts(lepton_lease *l, uint32_t gpu, const lc_gpu_facts **out);
/* Free and total memory of GPU `gpu` now (GET /v1/info: one round trip, never cached). */
int lc_raw_mem_info(lepton_lease *l, uint32_t gpu, uint64_t *free_bytes, uint64_t *total_bytes);

/* The device address of a buffer's first byte (from the worker's allocation answer). */
uint64_t lc_raw_buffer_address(const lepton_buffer *b);
/* The buffer's id and size on its worker (what wire_job_enc_* steps name). */
uint64_t lc_raw_buffer_id(const lepton_buffer *b);
/* Its size in bytes (a module global: the variable's size). */
uint64_t lc_raw_buffer_size(const lepton_buffer *b);

/* A kernel of a loaded module: its parameter layout (cuFuncGetParamInfo on the worker) and
 * attributes (cuFuncGetAttribute), from the module answer, so no round trip is needed. */
typedef struct lc_raw_function {
    const char *name;
    uint32_t nparams;
    const uint32_t *offsets;          /* [nparams]: byte offset of each parameter in the parameter buffer */
    const uint32_t *sizes;            /* [nparams] */
    int32_t attrs[LC_RAW_FUNC_ATTRS]; /* [CUfunction_attribute]; LC_RAW_ATTR_UNKNOWN when not known */
} lc_raw_function;
/* The kernels of module m (valid while m is open): *count of them. */
const lc_raw_function *lc_raw_module_functions(const lepton_module *m, size_t *count);
/* A global variable (__device__/__constant__) `name` of module m on GPU `gpu`, as a buffer handle
 * whose bytes are the variable's (address and size as the worker's driver reports them);
 * lepton_buffer_free drops the handle and never frees the variable. LEPTON_ENOTFOUND when the
 * module has no such global. One round trip. */
int lc_raw_module_global(lepton_module *m, uint32_t gpu, const char *name, lepton_buffer **out);

/* Submits a job built by the caller on the wire codec: `enc` is finished (wire_job_enc_finish
 * returned 0) and is consumed (freed) whatever the outcome; writes[nwrite] are the WRITE steps'
 * host bytes in step order, reads[nread] the READ steps' destinations in step order (they must
 * stay valid until the task is waited for, like lepton_submit's). The task is like any
 * lepton_submit task: lepton_wait, lepton_task_get_info (error text starts with the driver's
 * error name for a CUDA failure, e.g. "CUDA_ERROR_ILLEGAL_ADDRESS: ..."), lepton_task_free. */
typedef struct lc_raw_seg {
    void *host;
    size_t size;
} lc_raw_seg;
int lc_raw_submit(lepton_lease *l, uint32_t gpu, wire_job_enc *enc, const lc_raw_seg *writes, uint32_t nwrite,
                  const lc_raw_seg *reads, uint32_t nread, lepton_task **out);
/* After lepton_wait returned LEPTON_OK: the worker's clock (ns) at each EVENT step of the job, in
 * step order; returns how many it recorded (at most n are copied). */
size_t lc_raw_task_events(lepton_task *t, int64_t *ns, size_t n);
/* After lepton_wait returned (either way, once the worker answered): the instance of the worker
 * process that ran the job, a number drawn at random when a worker starts (0 when not said). A
 * job answered by another instance than lc_gpu_facts.instance ran on a replacement worker: the
 * device memory and addresses of the earlier one are gone. */
int64_t lc_raw_task_instance(lepton_task *t);
/* The step of the job at fault (-1 for none or the job as a whole), after lepton_wait failed. */
long lc_raw_task_step(lepton_task *t);
/* Device output: what the GPU driver of a worker printed for this handle's jobs (docs/dataplane.md
 * "Device output"): kernels' printf on stdout, device assertions on stderr. */
enum { LC_RAW_STDOUT = 0, LC_RAW_STDERR = 1 };
/* After lepton_wait returned (either way, once the worker answered): how many bytes of device output
 * of `stream` the GPU's worker held for this handle's session when the job ended ("output" and
 * "output_stderr" of the job result; 0: none, and nothing to fetch). */
uint64_t lc_raw_task_output(lepton_task *t, int stream);
/* Fetches and empties the device output of `stream` the worker of GPU `gpu` holds for this
 * handle's session (GET /v1/output: one round trip): *out (malloc'd, the caller frees it; NULL when
 * *len is 0) and *len bytes, in the order the driver wrote them (within a launch, in the order the
 * GPU ran its threads). Answered also while a worker that hit a sticky error lingers. */
int lc_raw_output(lepton_lease *l, uint32_t gpu, int stream, char **out, size_t *len);

#endif
