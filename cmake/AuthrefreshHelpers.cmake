# Functions of authrefresh's own CMake build. Not installed.

include_guard(GLOBAL)

# authrefresh_warnings(<target>)
#
# The warnings authrefresh's own code compiles with. PRIVATE: they never reach
# a consumer. (Not an INTERFACE library linked PRIVATE: a static library's
# private links are exported as $<LINK_ONLY:...> and would have to be
# installed.) With clang, -Wthread-safety checks the ABSL_GUARDED_BY
# annotations as the Bazel build does (which also makes them errors).
function(authrefresh_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<CXX_COMPILER_ID:GNU,Clang,AppleClang>:-Wall>
    $<$<CXX_COMPILER_ID:Clang,AppleClang>:-Wthread-safety>)
endfunction()

# authrefresh_library_properties(<target> <export name>)
#
# What both installed libraries share: the warnings, PIC, the name the target has
# in the authrefresh:: namespace once installed, and the shared library's
# version. authrefresh is 0.x: a minor release may break the ABI, so the
# SOVERSION is MAJOR.MINOR (libauthrefresh.so.0.5), as the package's
# compatibility is SameMinorVersion.
function(authrefresh_library_properties target export_name)
  authrefresh_warnings(${target})
  # PIC unless the project says otherwise: a static libauthrefresh.a can then
  # be linked into the application's own shared libraries.
  if(NOT DEFINED CMAKE_POSITION_INDEPENDENT_CODE)
    set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  endif()
  set_target_properties(${target} PROPERTIES
    EXPORT_NAME ${export_name}
    VERSION ${PROJECT_VERSION}
    SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
endfunction()

# authrefresh_grpc_cpp_sources(<variable> <proto>)
#
# The CMake counterpart of bazel/grpc_proto.bzl's cc_grpc_proto: generates
# <name>.pb.{h,cc} and <name>.grpc.pb.{h,cc} from <proto>, a path relative to
# the source root, which is the import root. They go to the same relative path
# under AUTHREFRESH_GENERATED_DIR, so that with that directory on the include
# path `#include "protos/token_service.pb.h"` works. Sets <variable> to the
# four files; add them to a target in the same directory.
function(authrefresh_grpc_cpp_sources variable proto)
  get_filename_component(dir "${proto}" DIRECTORY)
  get_filename_component(name "${proto}" NAME_WE)
  set(base "${AUTHREFRESH_GENERATED_DIR}/${dir}/${name}")
  set(outputs "${base}.pb.h" "${base}.pb.cc" "${base}.grpc.pb.h" "${base}.grpc.pb.cc")
  file(MAKE_DIRECTORY "${AUTHREFRESH_GENERATED_DIR}")
  add_custom_command(
    OUTPUT ${outputs}
    COMMAND protobuf::protoc
            "--proto_path=${PROJECT_SOURCE_DIR}"
            "--cpp_out=${AUTHREFRESH_GENERATED_DIR}"
            "--grpc_out=${AUTHREFRESH_GENERATED_DIR}"
            "--plugin=protoc-gen-grpc=$<TARGET_FILE:gRPC::grpc_cpp_plugin>"
            "${PROJECT_SOURCE_DIR}/${proto}"
    DEPENDS "${PROJECT_SOURCE_DIR}/${proto}"
            "$<TARGET_FILE:protobuf::protoc>"
            "$<TARGET_FILE:gRPC::grpc_cpp_plugin>"
    COMMENT "Generating C++ and gRPC code from ${proto}"
    VERBATIM)
  set(${variable} "${outputs}" PARENT_SCOPE)
endfunction()
