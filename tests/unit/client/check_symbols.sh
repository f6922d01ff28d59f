#!/bin/sh
# check_symbols.sh LIBRARY — fails unless the shared library exports only lepton_* (plus the
# version nodes themselves), every one of them under a LEPTON_ version node (1.0's under LEPTON_1,
# 1.1's under LEPTON_1.1), and has the SONAME liblepton.so.1.
set -eu
lib=$1
syms=$(nm -D --defined-only "$lib" | awk '{print $NF}')
bad=$(printf '%s\n' "$syms" | grep -v -E '^(lepton_[A-Za-z0-9_]+@@?LEPTON_1(\.[0-9]+)?|LEPTON_1(\.[0-9]+)?)$' || true)
if [ -n "$bad" ]; then
    echo "exported symbols outside lepton_*/LEPTON_1:" >&2
    printf '%s\n' "$bad" >&2
    exit 1
fi
count=$(printf '%s\n' "$syms" | grep -c '^lepton_' || true)
for fn in lepton_last_error lepton_status_name lepton_version lepton_client_open lepton_client_close \
          lepton_quote lepton_offers_free lepton_lease_open lepton_lease_get_info lepton_lease_extend \
          lepton_lease_close lepton_module_load lepton_module_free lepton_buffer_alloc lepton_buffer_write \
          lepton_buffer_read lepton_buffer_free lepton_submit lepton_wait lepton_task_get_info lepton_task_free; do
    printf '%s\n' "$syms" | grep -q "^$fn@@LEPTON_1\$" || { echo "missing export: $fn" >&2; exit 1; }
done
for fn in lepton_lease_attach lepton_lease_detach; do # added in 1.1
    printf '%s\n' "$syms" | grep -q "^$fn@@LEPTON_1.1\$" || { echo "missing export: $fn under LEPTON_1.1" >&2; exit 1; }
done
soname=$(objdump -p "$lib" | awk '/SONAME/ {print $2}')
[ "$soname" = "liblepton.so.1" ] || { echo "SONAME is '$soname', expected liblepton.so.1" >&2; exit 1; }
echo "ok: $count lepton_* symbols under LEPTON_1 and LEPTON_1.1, nothing else; SONAME $soname"
