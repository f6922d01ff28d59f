/* job_ref.h — the reference (jansson) decoder of a job body, for fuzz_job (job_ref.c). */
#ifndef LEPTON_TESTS_FUZZ_JOB_REF_H
#define LEPTON_TESTS_FUZZ_JOB_REF_H

#include "wire_job.h"

/* wire_job_decode's contract, decoded with jansson (JSON_REJECT_DUPLICATES). */
int wire_job_decode_ref(const char *body, size_t len, wire_job *j, long *step, char *msg, size_t ms);
/* wire_job_result_decode's contract, decoded with jansson. */
int wire_job_result_decode_ref(const char *json, size_t n, wire_job_result *r, char *msg, size_t ms);

#endif
