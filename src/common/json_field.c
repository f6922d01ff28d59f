/* json_field.c — typed, range-checked reads of request fields (json_field.h). */
#include "json_field.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *type_name(const json_t *v) {
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

static const json_t *get(const json_t *obj, const char *field) {
    const json_t *v = json_object_get(obj, field);
    return (v && !json_is_null(v)) ? v : NULL;
}

int lp_json_int(const json_t *obj, const char *field, int64_t min, int64_t max, int64_t *out, char *err,
                size_t err_size) {
    const json_t *v = get(obj, field);
    if (!v) return 0;
    int64_t x;
    if (json_is_integer(v)) {
        x = (int64_t)json_integer_value(v);
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!isfinite(d) || d != floor(d) || d < -9.2e18 || d > 9.2e18) {
            snprintf(err, err_size, "field '%s' must be an integer, got %g", field, d);
            return -1;
        }
        x = (int64_t)d;
    } else {
        snprintf(err, err_size, "field '%s' must be an integer, got %s", field, type_name(v));
        return -1;
    }
    if (x < min || x > max) {
        snprintf(err, err_size, "field '%s' is %lld; it must be between %lld and %lld", field, (long long)x,
                 (long long)min, (long long)max);
        return -1;
    }
    *out = x;
    return 0;
}

int lp_json_num(const json_t *obj, const char *field, double min, double max, double *out, char *err,
                size_t err_size) {
    const json_t *v = get(obj, field);
    if (!v) return 0;
    if (!json_is_number(v)) {
        snprintf(err, err_size, "field '%s' must be a number, got %s", field, type_name(v));
        return -1;
    }
    double d = json_number_value(v);
    if (!isfinite(d) || d < min || d > max) {
        snprintf(err, err_size, "field '%s' is %g; it must be a finite number between %g and %g", field, d,
                 min, max);
        return -1;
    }
    *out = d;
    return 0;
}

int lp_json_str(const json_t *obj, const char *field, size_t max_len, const char **out, char *err,
                size_t err_size) {
    const json_t *v = get(obj, field);
    if (!v) return 0;
    if (!json_is_string(v)) {
        snprintf(err, err_size, "field '%s' must be a string, got %s", field, type_name(v));
        return -1;
    }
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n > max_len) {
        snprintf(err, err_size, "field '%s' is %zu bytes long; the limit is %zu", field, n, max_len);
        return -1;
    }
    if (strlen(s) != n) {
        snprintf(err, err_size, "field '%s' must not contain NUL characters", field);
        return -1;
    }
    *out = s;
    return 0;
}

int lp_json_arr(const json_t *obj, const char *field, const json_t **out, char *err, size_t err_size) {
    const json_t *v = get(obj, field);
    if (!v) return 0;
    if (!json_is_array(v)) {
        snprintf(err, err_size, "field '%s' must be an array, got %s", field, type_name(v));
        return -1;
    }
    *out = v;
    return 0;
}
