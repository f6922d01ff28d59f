/* version.c — lepton_version: the library's own version, set by the build from the project's. */
#include "lepton/lepton.h"

#ifndef LEPTON_LIBRARY_VERSION
#error "the build must define LEPTON_LIBRARY_VERSION"
#endif

const char *lepton_version(void) { return LEPTON_LIBRARY_VERSION; }
