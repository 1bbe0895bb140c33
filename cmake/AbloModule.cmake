# ablo_module(NAME SOURCES ... DEPS ...): one static library per folder under src/,
# exposing headers as <module/header.h> from the src/ root.
function(ablo_module name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(ablo_${name} STATIC ${ARG_SOURCES})
  target_include_directories(ablo_${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(ablo_${name} PUBLIC ${ARG_DEPS} PRIVATE ablo_warnings)
endfunction()
