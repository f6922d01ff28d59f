/* export_tables.h — the driver's private export tables that NVIDIA's CUDA runtime (cudart, static or
 * shared) asks for through cuGetExportTable, served over the public driver API so that cudaemu and
 * the remote driver (src/remote) share one implementation (export_tables.c). */
#ifndef CUDAEMU_EXPORT_TABLES_H
#define CUDAEMU_EXPORT_TABLES_H

#include <cuda.h>
#include <stddef.h>

/* The table registered under *id: CUDA_SUCCESS and *table, or CUDA_ERROR_NOT_FOUND (*table NULL)
 * for a table that is not served. Each unknown table and each slot that is called without being
 * understood is reported through xt_note, naming the table and the slot. */
CUresult xt_get_table(const CUuuid *id, const void **table);

/* Called by the driver when a context ends (cuCtxDestroy, the primary context's reset or last
 * release): runs and forgets the destructors the runtime registered for it. */
void xt_context_ended(CUcontext ctx);

/* MD2 (RFC 1319) of n bytes; exposed for its test vectors. The tables must have been asked for once
 * (xt_get_table), which builds MD2's substitution table. */
void xt_md2_digest(const void *data, size_t n, unsigned char out[16]);

/* Supplied by the driver that links export_tables.c: writes one diagnostic line, already formatted
 * (cudaemu: CUDAEMU_LOG; remote driver: LEPTON_LOG_LEVEL=debug). */
void xt_log(const char *line);

#endif
