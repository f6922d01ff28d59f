/* dataplane.c — the data-plane functions of lepton.h (modules, buffers, jobs, tasks). They are
 * exported so that programs and bindings link against the whole ABI today, and each one fails
 * plainly with LEPTON_EINVAL and says so: the data plane arrives in a later release. */
#include "errors.h"
#include "lepton/lepton.h"

#define NOT_YET(fn)                                                                                          \
    lc_fail(LEPTON_EINVAL, fn ": not implemented yet (the data plane arrives in a later release)")

int lepton_module_load(lepton_lease *l, const void *image, size_t size, lepton_module **out) {
    if (out) *out = NULL;
    return NOT_YET("lepton_module_load");
}

void lepton_module_free(lepton_module *m) {}

int lepton_buffer_alloc(lepton_lease *l, uint32_t gpu, size_t size, lepton_buffer **out) {
    if (out) *out = NULL;
    return NOT_YET("lepton_buffer_alloc");
}

int lepton_buffer_write(lepton_buffer *b, size_t offset, const void *src, size_t size) {
    return NOT_YET("lepton_buffer_write");
}

int lepton_buffer_read(lepton_buffer *b, size_t offset, void *dst, size_t size) {
    return NOT_YET("lepton_buffer_read");
}

void lepton_buffer_free(lepton_buffer *b) {}

int lepton_submit(lepton_lease *l, const lepton_job *job, lepton_task **out) {
    if (out) *out = NULL;
    return NOT_YET("lepton_submit");
}

int lepton_wait(lepton_task *t, int32_t timeout_ms) { return NOT_YET("lepton_wait"); }

int lepton_task_get_info(lepton_task *t, lepton_task_info *out) { return NOT_YET("lepton_task_get_info"); }

void lepton_task_free(lepton_task *t) {}
