/* header_c99.c — <lepton/lepton.h> as strict C99 (-std=c99 -pedantic -Werror): see header_use.inc. */
#include "header_use.inc"

int main(void) { return header_use(); }
