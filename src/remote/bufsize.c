/* bufsize.c — the one place the remote driver reads a liblepton handle's insides: the size of a
 * buffer handle (a module global's size comes back in it). To be replaced by an lc_raw accessor
 * (lc_raw_buffer_size) when liblepton has one. */
#include "dataplane.h"
#include "module.h"

uint64_t rm_buffer_size(const lepton_buffer *b) { return b->size; }
