# CMake generated Testfile for 
# Source directory: /work/main/tests
# Build directory: /work/main/build-lead/tests
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
include("/work/main/build-lead/tests/common_tests[1]_include.cmake")
include("/work/main/build-lead/tests/schema_tests[1]_include.cmake")
include("/work/main/build-lead/tests/auth_tests[1]_include.cmake")
include("/work/main/build-lead/tests/store_tests[1]_include.cmake")
include("/work/main/build-lead/tests/fanout_tests[1]_include.cmake")
include("/work/main/build-lead/tests/engine_tests[1]_include.cmake")
include("/work/main/build-lead/tests/integration_tests[1]_include.cmake")
