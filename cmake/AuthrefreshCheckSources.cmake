# cmake -DSOURCE_DIR=<source root> -DLISTED=<build>/authrefresh_listed.cmake -P AuthrefreshCheckSources.cmake
#
# The ctest test cmake_matches_sources: fails when the CMake build and the
# source tree (and its Bazel BUILD files) have drifted apart, naming what to
# add to which CMakeLists.txt:
#  * every .cc and .h in interceptor/ and interceptor/internal/ is in
#    authrefresh, authrefresh_http_token_refresher or authrefresh_redis_backend
#    (CMakeLists.txt);
#  * every header of interceptor/ is one of the installed public headers;
#  * every cc_test of tests/BUILD and tests/e2e/BUILD is a ctest test
#    (tests/CMakeLists.txt).

foreach(var SOURCE_DIR LISTED)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "usage: cmake -DSOURCE_DIR=... -DLISTED=... -P ${CMAKE_SCRIPT_MODE_FILE}")
  endif()
endforeach()
include("${LISTED}")

set(problems "")

file(GLOB on_disk RELATIVE "${SOURCE_DIR}"
     "${SOURCE_DIR}/interceptor/*.cc" "${SOURCE_DIR}/interceptor/*.h"
     "${SOURCE_DIR}/interceptor/internal/*.cc" "${SOURCE_DIR}/interceptor/internal/*.h")
foreach(file IN LISTS on_disk)
  if(file MATCHES "^interceptor/[^/]+\\.h$")
    list(FIND AUTHREFRESH_LISTED_HEADERS "${file}" i)
    if(i EQUAL -1)
      string(APPEND problems "\n  public header ${file} is not installed: "
                             "add it to AUTHREFRESH_PUBLIC_HEADERS in CMakeLists.txt")
    endif()
  else()
    list(FIND AUTHREFRESH_LISTED_SOURCES "${file}" i)
    if(i EQUAL -1)
      string(APPEND problems "\n  ${file} is in no CMake library: add it to "
                             "AUTHREFRESH_SOURCES (or AUTHREFRESH_HTTP_SOURCES, AUTHREFRESH_REDIS_SOURCES) in CMakeLists.txt")
    endif()
  endif()
endforeach()
foreach(file IN LISTS AUTHREFRESH_LISTED_SOURCES AUTHREFRESH_LISTED_HEADERS)
  if(NOT EXISTS "${SOURCE_DIR}/${file}")
    string(APPEND problems "\n  CMakeLists.txt lists ${file}, which does not exist")
  endif()
endforeach()

set(cc_tests "")
foreach(build_file IN ITEMS tests/BUILD tests/e2e/BUILD)
  file(READ "${SOURCE_DIR}/${build_file}" build)
  string(REGEX MATCHALL "cc_test\\([ \t\r\n]*name = \"[A-Za-z0-9_]+\"" in_file "${build}")
  if(NOT in_file)
    string(APPEND problems "\n  found no cc_test in ${build_file}: has its layout changed?")
  endif()
  foreach(cc_test IN LISTS in_file)
    string(REGEX REPLACE ".*\"([A-Za-z0-9_]+)\"$" "\\1" name "${cc_test}")
    list(APPEND cc_tests "${name}")
    list(FIND AUTHREFRESH_LISTED_TESTS "${name}" i)
    if(i EQUAL -1)
      string(APPEND problems "\n  cc_test ${name} of ${build_file} is no ctest test: "
                             "add it to tests/CMakeLists.txt")
    endif()
  endforeach()
endforeach()

list(LENGTH on_disk n_files)
list(LENGTH cc_tests n_tests)
if(problems)
  message(FATAL_ERROR "The CMake build no longer matches the sources:${problems}")
endif()
message(STATUS "CMake build matches the sources: ${n_files} files of interceptor/, "
               "${n_tests} cc_tests of tests/BUILD and tests/e2e/BUILD")
