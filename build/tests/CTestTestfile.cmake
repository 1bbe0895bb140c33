# CMake generated Testfile for 
# Source directory: /work/main/tests
# Build directory: /work/main/build/tests
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
include("/work/main/build/tests/common_tests[1]_include.cmake")
include("/work/main/build/tests/schema_tests[1]_include.cmake")
include("/work/main/build/tests/auth_tests[1]_include.cmake")
include("/work/main/build/tests/store_tests[1]_include.cmake")
include("/work/main/build/tests/fanout_tests[1]_include.cmake")
include("/work/main/build/tests/engine_tests[1]_include.cmake")
include("/work/main/build/tests/integration_tests[1]_include.cmake")
