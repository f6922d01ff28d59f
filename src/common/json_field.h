/* json_field.h — reading optional, typed fields of a JSON request object with validation: a known
 * field of the wrong type, out of range or too long yields a message that names the field.
 * Absent or null fields leave *out untouched (the caller's default). Link with jansson. */
#ifndef LEPTON_COMMON_JSON_FIELD_H
#define LEPTON_COMMON_JSON_FIELD_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Each returns 0 (absent or valid) or -1 with a message in err. */
/* An integer in [min, max]; an integral real such as 2.0 is accepted. */
int lp_json_int(const json_t *obj, const char *field, int64_t min, int64_t max, int64_t *out, char *err,
                size_t err_size);
/* A finite number in [min, max]. */
int lp_json_num(const json_t *obj, const char *field, double min, double max, double *out, char *err,
                size_t err_size);
/* A string of at most max_len bytes without NUL; *out is borrowed from obj. */
int lp_json_str(const json_t *obj, const char *field, size_t max_len, const char **out, char *err,
                size_t err_size);
/* An array (borrowed). */
int lp_json_arr(const json_t *obj, const char *field, const json_t **out, char *err, size_t err_size);

#endif
