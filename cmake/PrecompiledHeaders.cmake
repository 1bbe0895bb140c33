# Precompiled headers (ABLO_PCH, on by default). Most of our translation units include Asio,
# Beast, Boost.JSON, fmt and spdlog, and reading those headers cost each one 3 to 12 s of
# compiler time. The common ones are compiled once per kind of target and every target of that
# kind reuses the result: on one unity batch of the tests, a TSan build took 16% less time and a
# light library file 25% less.
#
# A precompiled header only serves compilations with the same code-generation settings (-fPIC,
# sanitizer options) and the same macro definitions. So each kind has its own: libraries and
# executables, position-independent libraries (those linked into libablo_c.so), gtest binaries
# (gtest in their header as well), and modules compiled with extra options (libFuzzer's coverage
# instrumentation in the fuzz build). The macros the imported libraries define (BOOST_JSON_DYN_LINK,
# FMT_SHARED, ...) are given to every target, whether or not it links the library, so that they are
# the same everywhere. CMake compiles with -Winvalid-pch and g++ with -Werror, so a header that
# stops being reusable fails the build rather than silently costing the time again.
option(ABLO_PCH "Precompile the common headers (faster cold builds)" ON)

set(ABLO_PCH_HEADERS
    <algorithm> <atomic> <chrono> <cstdint> <functional> <map> <memory> <mutex> <optional> <set>
    <string> <string_view> <thread> <unordered_map> <utility> <variant> <vector>
    <boost/asio.hpp> <boost/beast/core.hpp> <boost/beast/http.hpp> <boost/beast/websocket.hpp>
    <boost/json.hpp> <boost/url.hpp> <fmt/format.h> <spdlog/spdlog.h> <tl/expected.hpp>)
set(ABLO_PCH_TEST_HEADERS ${ABLO_PCH_HEADERS} <gtest/gtest.h>)

# The imported libraries' macros, on ablo_warnings (which every target links): compile-only, no
# link dependency.
function(ablo_uniform_library_macros)
  set(definitions)
  foreach(library Boost::json Boost::url Boost::container fmt::fmt spdlog::spdlog)
    if(TARGET ${library})
      get_target_property(macros ${library} INTERFACE_COMPILE_DEFINITIONS)
      if(macros)
        list(APPEND definitions ${macros})
      endif()
    endif()
  endforeach()
  list(REMOVE_DUPLICATES definitions)
  target_compile_definitions(ablo_warnings INTERFACE ${definitions})
endfunction()

# The donor target of a kind: an empty translation unit compiled with the kind's settings.
function(ablo_pch_donor kind pic options test)
  set(donor ablo_pch_${kind})
  if(TARGET ${donor})
    return()
  endif()
  add_library(${donor} STATIC ${PROJECT_SOURCE_DIR}/cmake/pch_donor.cpp)
  set_target_properties(${donor} PROPERTIES POSITION_INDEPENDENT_CODE "${pic}" UNITY_BUILD OFF)
  if(options)
    target_compile_options(${donor} PRIVATE ${options})
  endif()
  target_link_libraries(${donor} PRIVATE ablo_warnings Boost::headers)
  if(test)
    target_link_libraries(${donor} PRIVATE GTest::gtest)
    target_precompile_headers(${donor} PRIVATE ${ABLO_PCH_TEST_HEADERS})
  else()
    target_precompile_headers(${donor} PRIVATE ${ABLO_PCH_HEADERS})
  endif()
endfunction()

# ablo_precompile_headers(DIR...): every C++ library and executable defined in those directories
# reuses the precompiled header of its kind. Call it once all targets exist (their PIC and
# options are read here).
function(ablo_precompile_headers)
  if(NOT ABLO_PCH)
    return()
  endif()
  # Options every target has (add_compile_options: sanitizers) are the donors' too; a target's
  # own options on top of them make another kind.
  get_directory_property(common_options DIRECTORY ${PROJECT_SOURCE_DIR} COMPILE_OPTIONS)
  foreach(dir ${ARGN})
    get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
    foreach(target ${targets})
      get_target_property(type ${target} TYPE)
      get_target_property(sources ${target} SOURCES)
      get_target_property(visibility ${target} CXX_VISIBILITY_PRESET)
      # Shared objects with hidden visibility (libablo_c.so) and C programs are left alone.
      if(NOT type MATCHES "^(STATIC_LIBRARY|EXECUTABLE)$" OR visibility OR NOT sources MATCHES "\\.cpp")
        continue()
      endif()
      get_target_property(pic ${target} POSITION_INDEPENDENT_CODE)
      get_target_property(options ${target} COMPILE_OPTIONS)
      get_target_property(libraries ${target} LINK_LIBRARIES)
      if(NOT pic)
        set(pic OFF)
      endif()
      if(NOT options)
        set(options "")
      endif()
      if(common_options)
        list(REMOVE_ITEM options ${common_options})
      endif()
      set(test OFF)
      if("GTest::gtest" IN_LIST libraries)
        set(test ON)
      endif()
      set(kind library)
      if(test)
        set(kind test)
      endif()
      if(pic)
        string(APPEND kind _pic)
      endif()
      if(options)
        string(MAKE_C_IDENTIFIER "${options}" options_name)
        string(APPEND kind _${options_name})
      endif()
      ablo_pch_donor(${kind} ${pic} "${options}" ${test})
      target_precompile_headers(${target} REUSE_FROM ablo_pch_${kind})
    endforeach()
  endforeach()
endfunction()
