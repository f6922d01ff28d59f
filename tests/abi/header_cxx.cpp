// header_cxx.cpp — <lepton/lepton.h> from C++11 (-pedantic -Werror): see header_use.inc.
#include "header_use.inc"

int main() { return header_use(); }
