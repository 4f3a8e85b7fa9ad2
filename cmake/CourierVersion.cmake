# Generates courier/version.h (cmake/version.h.in) into the build tree at
# configure time: the project's version and the short git commit ("unknown"
# outside a git checkout or without git). Re-run cmake to refresh the commit.
set(COURIER_GIT_COMMIT "unknown")
find_package(Git QUIET)
if(GIT_FOUND)
  execute_process(
    COMMAND ${GIT_EXECUTABLE} rev-parse --short HEAD
    WORKING_DIRECTORY ${PROJECT_SOURCE_DIR}
    OUTPUT_VARIABLE _courier_git_commit
    OUTPUT_STRIP_TRAILING_WHITESPACE
    RESULT_VARIABLE _courier_git_result
    ERROR_QUIET)
  if(_courier_git_result EQUAL 0 AND NOT _courier_git_commit STREQUAL "")
    set(COURIER_GIT_COMMIT "${_courier_git_commit}")
  endif()
endif()
set(COURIER_GENERATED_INCLUDE_DIR ${PROJECT_BINARY_DIR}/generated/include)
configure_file(${PROJECT_SOURCE_DIR}/cmake/version.h.in
  ${COURIER_GENERATED_INCLUDE_DIR}/courier/version.h @ONLY)
message(STATUS "Courier ${PROJECT_VERSION} (commit ${COURIER_GIT_COMMIT})")
