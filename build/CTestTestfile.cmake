# CMake generated Testfile for 
# Source directory: /work/main
# Build directory: /work/main/build
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
add_test(test_base "/work/main/build/test_base")
set_tests_properties(test_base PROPERTIES  ENVIRONMENT "QWICK_BIN=/work/main/build;QWICK_THREADS=2" TIMEOUT "900" WORKING_DIRECTORY "/work/main" _BACKTRACE_TRIPLES "/work/main/CMakeLists.txt;68;add_test;/work/main/CMakeLists.txt;0;")
