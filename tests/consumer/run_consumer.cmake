# Runs one consumer build: MODE=find_package installs the already-built tree
# to WORK_DIR/prefix first; MODE=add_subdirectory builds Courier inside.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}")
  endif()
endfunction()
if(MODE STREQUAL "find_package")
  run(${CMAKE_COMMAND} --install ${BINARY_DIR} --prefix ${WORK_DIR}/prefix)
  run(${CMAKE_COMMAND} -S ${PROJECT_DIR} -B ${WORK_DIR}/build -G Ninja
      -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DCMAKE_BUILD_TYPE=Release)
else()
  run(${CMAKE_COMMAND} -S ${PROJECT_DIR} -B ${WORK_DIR}/build -G Ninja
      -DCOURIER_SOURCE_DIR=${SOURCE_DIR} -DCMAKE_BUILD_TYPE=Release
      -DCOURIER_WITH_POSTGRES=OFF -DCOURIER_WITH_MONGO=OFF -DCOURIER_WITH_REDIS=OFF
      -DCOURIER_WITH_WEBSOCKET=OFF)
endif()
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build -j 2)
run(${WORK_DIR}/build/courier_hello ${WORK_DIR}/hello.db)
