# Warnings and sanitizers applied per target (no directory-wide flags).
function(courier_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    # GCC 12 (Debian 12's) warns -Wrestrict inside libstdc++'s char_traits when
    # it inlines std::string concatenation at -O3 (GCC bug 105329: the "overlap"
    # it reports is of sizes near 2^63 that no path reaches); the Release build
    # printed it for every file that appends to a string.
    target_compile_options(${target} PRIVATE -Wno-restrict)
  endif()
  if(CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    # Let the compiler check the locking protocol (ABSL_GUARDED_BY etc.).
    target_compile_options(${target} PRIVATE -Wthread-safety)
  endif()
  if(COURIER_SANITIZE)
    target_compile_options(${target} PRIVATE -fsanitize=${COURIER_SANITIZE} -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
    target_link_options(${target} PRIVATE -fsanitize=${COURIER_SANITIZE})
  endif()
endfunction()

# courier_library(NAME name SOURCES ... DEPS ... [PRIVATE_DEPS ...])
# Defines courier_<name> with the alias courier::<name>, exported as courier::<name>.
function(courier_library)
  cmake_parse_arguments(CL "" "NAME" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(courier_${CL_NAME} ${CL_SOURCES})
  add_library(courier::${CL_NAME} ALIAS courier_${CL_NAME})
  # Only the COURIER_EXPORT declarations of the public headers are visible
  # outside a shared library built from these objects (courier/export.h).
  set_target_properties(courier_${CL_NAME} PROPERTIES
    EXPORT_NAME ${CL_NAME} OUTPUT_NAME courier_${CL_NAME}
    CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
  target_link_libraries(courier_${CL_NAME} PUBLIC ${CL_DEPS} PRIVATE ${CL_PRIVATE_DEPS})
  courier_target_defaults(courier_${CL_NAME})
  set_property(GLOBAL APPEND PROPERTY COURIER_EXPORTED_TARGETS courier_${CL_NAME})
endfunction()

# courier_adapter_headers(name): the layout of an adapter's folder for
# courier_<name>: include/ public (and installed), src/ private.
function(courier_adapter_headers name)
  target_include_directories(courier_${name}
    PUBLIC
      $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
      $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>
    PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src)
  install(DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/include/courier
    DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endfunction()

# courier_adapter_requires(NAME name FOUND var... NEEDS text)
#
# Leaves the calling adapter's CMakeLists.txt, with one status line
# "courier::NAME disabled: needs TEXT", unless every FOUND variable is true.
# A macro, not a function, so that its return() ends the caller's file: an
# adapter whose dependencies are missing is skipped, never a failed configure.
macro(courier_adapter_requires)
  cmake_parse_arguments(_courier_req "" "NAME;NEEDS" "FOUND" ${ARGN})
  foreach(_courier_req_var IN LISTS _courier_req_FOUND)
    if(NOT ${_courier_req_var})
      message(STATUS "courier::${_courier_req_NAME} disabled: needs ${_courier_req_NEEDS}")
      return()
    endif()
  endforeach()
endmacro()
