# Installs every courier::* library with an exported config, so that another
# project can find_package(Courier) and link courier::core etc., and one
# pkg-config file per library (courier.pc for the core, courier-<adapter>.pc)
# beside it in <libdir>/pkgconfig.
include(CMakePackageConfigHelpers)
get_property(courier_targets GLOBAL PROPERTY COURIER_EXPORTED_TARGETS)
# Which adapters were built decides which dependencies the config finds.
set(COURIER_BUILT_COMPONENTS core memory)
foreach(adapter rocksdb sqlite postgres mongo redis websocket webpush)
  if(TARGET courier_${adapter})
    list(APPEND COURIER_BUILT_COMPONENTS ${adapter})
  endif()
endforeach()
install(TARGETS ${courier_targets}
  EXPORT CourierTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(EXPORT CourierTargets NAMESPACE courier:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/Courier)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/CourierConfig.cmake.in
  ${PROJECT_BINARY_DIR}/CourierConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/Courier)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/CourierConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/CourierConfig.cmake ${PROJECT_BINARY_DIR}/CourierConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/Courier)

# --- pkg-config -------------------------------------------------------------
# Relocatable: prefix is found from the .pc file's own folder, so that
# `cmake --install --prefix ANY` works. The libraries are static unless
# BUILD_SHARED_LIBS, so their private dependencies are in Requires/Libs
# (a static archive needs them at every link); with shared libraries they
# move to Requires.private/Libs.private.
file(RELATIVE_PATH courier_pc_up /${CMAKE_INSTALL_LIBDIR}/pkgconfig /)
string(REGEX REPLACE "/$" "" courier_pc_up "${courier_pc_up}")
# courier_pkg_config(NAME file LIBS -l... REQUIRES ... PRIVATE ... [PRIVATE_LIBS ...])
function(courier_pkg_config)
  cmake_parse_arguments(PC "" "NAME;DESCRIPTION" "LIBS;REQUIRES;PRIVATE;PRIVATE_LIBS" ${ARGN})
  list(JOIN PC_REQUIRES " " requires)
  list(JOIN PC_PRIVATE " " private)
  list(JOIN PC_LIBS " " libs)
  list(JOIN PC_PRIVATE_LIBS " " private_libs)
  if(BUILD_SHARED_LIBS)
    set(req_line "Requires: ${requires}\nRequires.private: ${private}\n")
    set(libs_line "Libs: -L\${libdir} ${libs}\nLibs.private: ${private_libs}\n")
  else()
    set(req_line "Requires: ${requires} ${private}\n")
    set(libs_line "Libs: -L\${libdir} ${libs} ${private_libs}\n")
  endif()
  file(WRITE ${PROJECT_BINARY_DIR}/pkgconfig/${PC_NAME}.pc
    "prefix=\${pcfiledir}/${courier_pc_up}\n"
    "libdir=\${prefix}/${CMAKE_INSTALL_LIBDIR}\n"
    "includedir=\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}\n\n"
    "Name: ${PC_NAME}\n"
    "Description: ${PC_DESCRIPTION}\n"
    "Version: ${PROJECT_VERSION}\n"
    "${req_line}"
    "${libs_line}"
    "Cflags: -I\${includedir}\n")
  install(FILES ${PROJECT_BINARY_DIR}/pkgconfig/${PC_NAME}.pc
    DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endfunction()

courier_pkg_config(NAME courier
  DESCRIPTION "Courier: offline 1:1 messaging core (types, interfaces, engine); C++20"
  LIBS -lcourier_core
  REQUIRES absl_status absl_statusor absl_strings absl_synchronization absl_any_invocable
           absl_span absl_flat_hash_map absl_random_random
  PRIVATE libsodium
  PRIVATE_LIBS -pthread)
# courier_adapter_pkg_config(NAME DESCRIPTION text [LIBS ...] [REQUIRES ...]
#   [PRIVATE ...] [PRIVATE_LIBS ...]): courier-NAME.pc for the library
# courier_NAME when it was built; it links -lcourier_NAME before LIBS and
# requires courier before REQUIRES.
function(courier_adapter_pkg_config name)
  if(NOT TARGET courier_${name})
    return()
  endif()
  cmake_parse_arguments(PC "" "DESCRIPTION" "LIBS;REQUIRES;PRIVATE;PRIVATE_LIBS" ${ARGN})
  courier_pkg_config(NAME courier-${name} DESCRIPTION "${PC_DESCRIPTION}"
    LIBS -lcourier_${name} ${PC_LIBS} REQUIRES courier ${PC_REQUIRES}
    PRIVATE ${PC_PRIVATE} PRIVATE_LIBS ${PC_PRIVATE_LIBS})
endfunction()

courier_adapter_pkg_config(memory
  DESCRIPTION "Courier: in-memory stores, presence, test transport, fault injection")
courier_adapter_pkg_config(rocksdb DESCRIPTION "Courier: the RocksDB store (the embedded default)"
  PRIVATE rocksdb absl_flat_hash_map absl_hash absl_strings)
courier_adapter_pkg_config(sqlite DESCRIPTION "Courier: the SQLite store"
  PRIVATE sqlite3 absl_flat_hash_map absl_hash absl_inlined_vector absl_strings)
courier_adapter_pkg_config(postgres DESCRIPTION "Courier: the PostgreSQL store"
  PRIVATE libpq absl_strings absl_time absl_random_random)
courier_adapter_pkg_config(mongo DESCRIPTION "Courier: the MongoDB store"
  PRIVATE libmongoc-1.0 absl_strings absl_time absl_random_random)
courier_adapter_pkg_config(redis DESCRIPTION "Courier: Redis presence and cross-node signals"
  PRIVATE courier-memory hiredis fmt absl_flat_hash_set absl_random_random absl_strings absl_time)
courier_adapter_pkg_config(websocket DESCRIPTION "Courier: the WebSocket transport (Boost.Beast)"
  LIBS -lcourier_websocket_codec -lcourier_websocket_framing
  REQUIRES absl_status absl_statusor absl_cord absl_strings absl_any_invocable
           absl_flat_hash_map absl_synchronization
  PRIVATE libssl libcrypto
  PRIVATE_LIBS -pthread)
courier_adapter_pkg_config(webpush
  DESCRIPTION "Courier: Web Push (RFC 8030/8291/8292) and webhook senders"
  REQUIRES absl_status absl_statusor absl_strings absl_time
  PRIVATE libssl libcrypto)
