/* wire.c — the table behind wire.h. */
#include "wire.h"

#include <string.h>

#include "lepton/lepton.h"

static const struct {
    const char *code;
    int http;
    int status;
} table[] = {
    {WIRE_INVALID, 400, LEPTON_EINVAL},
    {WIRE_UNAUTHORIZED, 401, LEPTON_EAUTH},
    {WIRE_FORBIDDEN, 403, LEPTON_EAUTH},
    {WIRE_NOT_FOUND, 404, LEPTON_ENOTFOUND},
    {WIRE_METHOD, 405, LEPTON_EINVAL},
    {WIRE_LEASE_ENDED, 410, LEPTON_EEXPIRED},
    {WIRE_CONFLICT, 409, LEPTON_EINVAL},
    {WIRE_TOO_LARGE, 413, LEPTON_ETOOLARGE},
    {WIRE_UNSUPPORTED, 415, LEPTON_EINVAL},
    {WIRE_OVER_BUDGET, 402, LEPTON_EBUDGET},
    {WIRE_NO_CAPACITY, 503, LEPTON_ENOCAPACITY},
    {WIRE_NODE_LOST, 502, LEPTON_ENODELOST},
    {WIRE_CUDA, 500, LEPTON_ECUDA},
    {WIRE_NO_MEMORY, 507, LEPTON_ENOMEM},
    {WIRE_TIMEOUT, 504, LEPTON_ETIMEDOUT},
    {WIRE_CANCELED, 409, LEPTON_ECANCELED},
    {WIRE_INTERNAL, 500, LEPTON_EPROTO},
};

int wire_http_status(const char *code) {
    for (size_t i = 0; code && i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(table[i].code, code)) return table[i].http;
    return 500;
}

int wire_code_to_status(const char *code, long http_status) {
    for (size_t i = 0; code && i < sizeof table / sizeof table[0]; i++)
        if (!strcmp(table[i].code, code)) return table[i].status;
    switch (http_status) {
    case 400:
    case 405:
    case 409:
    case 415:
    case 422:
        return LEPTON_EINVAL;
    case 401:
    case 403:
        return LEPTON_EAUTH;
    case 402:
        return LEPTON_EBUDGET;
    case 404:
        return LEPTON_ENOTFOUND;
    case 410:
        return LEPTON_EEXPIRED;
    case 413:
        return LEPTON_ETOOLARGE;
    case 502:
        return LEPTON_ENODELOST;
    case 503:
        return LEPTON_ENOCAPACITY;
    case 504:
        return LEPTON_ETIMEDOUT;
    default:
        return LEPTON_EPROTO;
    }
}

const char *wire_status_to_code(int status) {
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].status == status) return table[i].code;
    return WIRE_INTERNAL;
}
