# authrefresh's install rules (AUTHREFRESH_INSTALL), included by the
# top-level CMakeLists.txt:
#
#   <prefix>/<includedir>/interceptor/*.h     the public headers and version.h
#   <prefix>/<includedir>/protos/             token_service.proto and its generated headers
#   <prefix>/<libdir>/libauthrefresh*.{a,so}
#   <prefix>/<libdir>/cmake/authrefresh/      authrefreshConfig.cmake, ...ConfigVersion.cmake,
#                                             authrefreshTargets.cmake (namespace authrefresh::)
#   <prefix>/<libdir>/pkgconfig/              authrefresh.pc, authrefresh_http_token_refresher.pc,
#                                             authrefresh_redis_backend.pc (AUTHREFRESH_REDIS_BACKEND),
#                                             authrefresh_prometheus_metrics.pc
#                                             (AUTHREFRESH_PROMETHEUS_METRICS)
#
# Components: authrefresh_runtime (shared libraries) and authrefresh_development
# (everything else).

include(CMakePackageConfigHelpers)

set(_authrefresh_cmake_dir "${CMAKE_INSTALL_LIBDIR}/cmake/authrefresh")

set(_authrefresh_installed_targets authrefresh authrefresh_http_token_refresher)
set(_authrefresh_installed_headers ${AUTHREFRESH_PUBLIC_HEADERS} ${AUTHREFRESH_HTTP_PUBLIC_HEADERS})
if(AUTHREFRESH_REDIS_BACKEND)
  list(APPEND _authrefresh_installed_targets authrefresh_redis_backend)
  list(APPEND _authrefresh_installed_headers ${AUTHREFRESH_REDIS_PUBLIC_HEADERS})
endif()
if(AUTHREFRESH_PROMETHEUS_METRICS)
  list(APPEND _authrefresh_installed_targets authrefresh_prometheus_metrics)
  list(APPEND _authrefresh_installed_headers ${AUTHREFRESH_PROMETHEUS_PUBLIC_HEADERS})
endif()

install(TARGETS ${_authrefresh_installed_targets}
  EXPORT authrefreshTargets
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}" COMPONENT authrefresh_runtime
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT authrefresh_runtime
          NAMELINK_COMPONENT authrefresh_development
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT authrefresh_development)

# Public headers only: interceptor/internal/ is not API (interceptor/authrefresh.h).
install(FILES ${_authrefresh_installed_headers}
              "${AUTHREFRESH_GENERATED_DIR}/interceptor/version.h"
        DESTINATION "${AUTHREFRESH_INSTALL_INCLUDEDIR}/interceptor"
        COMPONENT authrefresh_development)
# token_refresher.h includes protos/token_service.pb.h; the .proto is API too
# (other implementations of the TokenService speak it).
install(FILES protos/token_service.proto
              "${AUTHREFRESH_GENERATED_DIR}/protos/token_service.pb.h"
              "${AUTHREFRESH_GENERATED_DIR}/protos/token_service.grpc.pb.h"
        DESTINATION "${AUTHREFRESH_INSTALL_INCLUDEDIR}/protos"
        COMPONENT authrefresh_development)

# The CMake package.
install(EXPORT authrefreshTargets
  NAMESPACE authrefresh::
  DESTINATION "${_authrefresh_cmake_dir}"
  COMPONENT authrefresh_development)
configure_package_config_file(cmake/authrefreshConfig.cmake.in
  "${PROJECT_BINARY_DIR}/authrefreshConfig.cmake"
  INSTALL_DESTINATION "${_authrefresh_cmake_dir}")
# 0.x: a minor release may break the API, so 0.5.x satisfies a request for
# 0.5 (or 0.5.y, y <= x) and nothing else.
write_basic_package_version_file("${PROJECT_BINARY_DIR}/authrefreshConfigVersion.cmake"
  VERSION "${PROJECT_VERSION}"
  COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/authrefreshConfig.cmake"
              "${PROJECT_BINARY_DIR}/authrefreshConfigVersion.cmake"
        DESTINATION "${_authrefresh_cmake_dir}"
        COMPONENT authrefresh_development)

# The pkg-config files, one per library, as the CMake targets and the Bazel
# targets are split: only users of the HTTP refresher get libcurl, only users
# of the Redis backend hiredis.
#
# Requires lists what a consumer's link line needs. For a static
# libauthrefresh.a that is everything it uses, since
# `pkg-config --libs` leaves out Requires.private (the system's own libraries
# are shared, so nobody needs `--static`). For shared libraries, what only the
# implementation uses goes to Requires.private: a normal link then does not
# overlink, and `pkg-config --static` still lists it.
set(_authrefresh_pc_public grpc++ protobuf absl_status absl_statusor absl_strings absl_time)
set(_authrefresh_pc_private absl_core_headers absl_flat_hash_set absl_str_format absl_synchronization libcrypto)
set(_authrefresh_http_pc_public authrefresh)
set(_authrefresh_http_pc_private libcurl libcrypto absl_base absl_core_headers absl_str_format absl_strings absl_synchronization)
set(_authrefresh_redis_pc_public authrefresh)
set(_authrefresh_redis_pc_private hiredis libcrypto absl_flat_hash_map absl_strings)
set(_authrefresh_prometheus_pc_public authrefresh prometheus-cpp-core)
set(_authrefresh_prometheus_pc_private absl_strings)
if(NOT BUILD_SHARED_LIBS)
  list(APPEND _authrefresh_pc_public ${_authrefresh_pc_private})
  list(APPEND _authrefresh_http_pc_public ${_authrefresh_http_pc_private})
  list(APPEND _authrefresh_redis_pc_public ${_authrefresh_redis_pc_private})
  list(APPEND _authrefresh_prometheus_pc_public ${_authrefresh_prometheus_pc_private})
  set(_authrefresh_prometheus_pc_private "")
  set(_authrefresh_pc_private "")
  set(_authrefresh_http_pc_private "")
  set(_authrefresh_redis_pc_private "")
  # Threads::Threads, for a static library's users.
  set(AUTHREFRESH_PC_LIBS_EXTRA " -pthread")
else()
  set(AUTHREFRESH_PC_LIBS_EXTRA "")
endif()

# The prefix is found from the .pc file's own place (${pcfiledir}), so that
# the files stay right when the prefix differs from CMAKE_INSTALL_PREFIX
# (`cmake --install build --prefix DIR`, a moved tree), as Meson's
# pkgconfig.relocatable does. With an absolute libdir or includedir, the
# absolute paths are written instead.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${AUTHREFRESH_INSTALL_INCLUDEDIR}")
  set(AUTHREFRESH_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(AUTHREFRESH_PC_LIBDIR "${CMAKE_INSTALL_FULL_LIBDIR}")
  if(IS_ABSOLUTE "${AUTHREFRESH_INSTALL_INCLUDEDIR}")
    set(AUTHREFRESH_PC_INCLUDEDIR "${AUTHREFRESH_INSTALL_INCLUDEDIR}")
  else()
    set(AUTHREFRESH_PC_INCLUDEDIR "\${prefix}/${AUTHREFRESH_INSTALL_INCLUDEDIR}")
  endif()
else()
  file(RELATIVE_PATH _authrefresh_pc_up "/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/")
  string(REGEX REPLACE "/$" "" _authrefresh_pc_up "${_authrefresh_pc_up}")
  set(AUTHREFRESH_PC_PREFIX "\${pcfiledir}/${_authrefresh_pc_up}")
  set(AUTHREFRESH_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
  set(AUTHREFRESH_PC_INCLUDEDIR "\${prefix}/${AUTHREFRESH_INSTALL_INCLUDEDIR}")
endif()

set(AUTHREFRESH_PC_NAME authrefresh)
set(AUTHREFRESH_PC_DESCRIPTION "${PROJECT_DESCRIPTION}")
list(JOIN _authrefresh_pc_public " " AUTHREFRESH_PC_REQUIRES)
list(JOIN _authrefresh_pc_private " " AUTHREFRESH_PC_REQUIRES_PRIVATE)
configure_file(cmake/authrefresh.pc.in "${PROJECT_BINARY_DIR}/pkgconfig/authrefresh.pc" @ONLY)

set(AUTHREFRESH_PC_NAME authrefresh_http_token_refresher)
set(AUTHREFRESH_PC_DESCRIPTION "authrefresh's OAuth 2.0 HTTP token-endpoint refresher: refresh-token, client-credentials, JWT-bearer and token-exchange grants (libcurl, OpenSSL)")
list(JOIN _authrefresh_http_pc_public " " AUTHREFRESH_PC_REQUIRES)
list(JOIN _authrefresh_http_pc_private " " AUTHREFRESH_PC_REQUIRES_PRIVATE)
configure_file(cmake/authrefresh.pc.in
               "${PROJECT_BINARY_DIR}/pkgconfig/authrefresh_http_token_refresher.pc" @ONLY)

set(_authrefresh_pc_files "${PROJECT_BINARY_DIR}/pkgconfig/authrefresh.pc"
                          "${PROJECT_BINARY_DIR}/pkgconfig/authrefresh_http_token_refresher.pc")
if(AUTHREFRESH_REDIS_BACKEND)
  set(AUTHREFRESH_PC_NAME authrefresh_redis_backend)
  set(AUTHREFRESH_PC_DESCRIPTION "authrefresh's SharedTokenBackend in Redis: one token record and refresh lease for many replicas (hiredis, OpenSSL)")
  list(JOIN _authrefresh_redis_pc_public " " AUTHREFRESH_PC_REQUIRES)
  list(JOIN _authrefresh_redis_pc_private " " AUTHREFRESH_PC_REQUIRES_PRIVATE)
  configure_file(cmake/authrefresh.pc.in
                 "${PROJECT_BINARY_DIR}/pkgconfig/authrefresh_redis_backend.pc" @ONLY)
  list(APPEND _authrefresh_pc_files "${PROJECT_BINARY_DIR}/pkgconfig/authrefresh_redis_backend.pc")
endif()

if(AUTHREFRESH_PROMETHEUS_METRICS)
  set(AUTHREFRESH_PC_NAME authrefresh_prometheus_metrics)
  set(AUTHREFRESH_PC_DESCRIPTION "authrefresh's metrics on a prometheus-cpp Registry")
  list(JOIN _authrefresh_prometheus_pc_public " " AUTHREFRESH_PC_REQUIRES)
  list(JOIN _authrefresh_prometheus_pc_private " " AUTHREFRESH_PC_REQUIRES_PRIVATE)
  configure_file(cmake/authrefresh.pc.in
                 "${PROJECT_BINARY_DIR}/pkgconfig/authrefresh_prometheus_metrics.pc" @ONLY)
  list(APPEND _authrefresh_pc_files
       "${PROJECT_BINARY_DIR}/pkgconfig/authrefresh_prometheus_metrics.pc")
endif()

install(FILES ${_authrefresh_pc_files}
        DESTINATION "${CMAKE_INSTALL_LIBDIR}/pkgconfig"
        COMPONENT authrefresh_development)
