/* pending_api.h — declarations of liblepton and wire-codec functions that other issue-12 branches
 * add (lepton_lease_attach/detach: include/lepton/lepton.h; the memset, copy, event steps and launch
 * options: src/common/wire_job.h), so the remote driver builds before they are merged. Identical
 * to theirs; delete this file once main has both. */
#ifndef LEPTON_REMOTE_PENDING_API_H
#define LEPTON_REMOTE_PENDING_API_H

#include <stddef.h>
#include <stdint.h>

#include "lepton/lepton.h"
#include "wire_job.h"

int lepton_lease_attach(lepton_client *c, const char *lease_id, lepton_lease **out);
int lepton_lease_detach(lepton_lease *l);
int wire_job_enc_launch_opt(wire_job_enc *e, uint32_t max_dynamic_shared);
int wire_job_enc_memset(wire_job_enc *e, uint64_t buffer, uint64_t offset, uint32_t width, uint32_t value,
                        uint64_t count, uint64_t pitch, uint64_t height);
int wire_job_enc_copy(wire_job_enc *e, uint64_t dst, uint64_t dst_off, uint64_t src, uint64_t src_off,
                      uint64_t size, uint64_t dst_pitch, uint64_t src_pitch, uint64_t height);
int wire_job_enc_event(wire_job_enc *e);

#endif
