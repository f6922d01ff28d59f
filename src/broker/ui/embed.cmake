# embed.cmake — writes a C source that holds files as byte arrays (the broker page, served from
# memory so that an installed lepton-broker needs no data directory). Run as a script:
#   cmake -DOUT=ui_assets.c -DFILES="a.html;b.js" -P embed.cmake
# Each file F becomes `const unsigned char lp_ui_<name>[]` and `const size_t lp_ui_<name>_len`,
# <name> being F's file name with every non-alphanumeric character replaced by '_'.
set(src "/* Generated from src/broker/ui by embed.cmake; do not edit. */\n#include <stddef.h>\n")
foreach(f IN LISTS FILES)
  get_filename_component(name "${f}" NAME)
  string(MAKE_C_IDENTIFIER "${name}" id)
  file(READ "${f}" hex HEX)
  string(LENGTH "${hex}" hexlen)
  math(EXPR len "${hexlen} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
  string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n" bytes "${bytes}")
  string(APPEND src "const unsigned char lp_ui_${id}[] = {\n${bytes}0x00};\n")
  string(APPEND src "const size_t lp_ui_${id}_len = ${len};\n")
endforeach()
file(WRITE "${OUT}.tmp" "${src}")
file(RENAME "${OUT}.tmp" "${OUT}")
