# Installs every courier::* library with an exported config, so that another
# project can find_package(Courier) and link courier::core etc.
include(CMakePackageConfigHelpers)
get_property(courier_targets GLOBAL PROPERTY COURIER_EXPORTED_TARGETS)
# Which adapters were built decides which dependencies the config finds.
set(COURIER_BUILT_ADAPTERS "")
foreach(adapter rocksdb sqlite postgres mongo redis websocket)
  if(TARGET courier_${adapter})
    list(APPEND COURIER_BUILT_ADAPTERS ${adapter})
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
