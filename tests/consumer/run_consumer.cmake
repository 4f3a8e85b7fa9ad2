# Runs one consumer build of project/main.cc:
#   MODE=find_package      installs the already-built tree to WORK_DIR/prefix,
#                          builds with find_package(Courier COMPONENTS core memory
#                          sqlite) (only their dependencies looked for), and
#                          configures once more with every component;
#   MODE=add_subdirectory  builds Courier inside the consumer;
#   MODE=pkg_config        installs, checks every installed courier*.pc and
#                          builds with the compiler and `pkg-config --cflags --libs`;
#   MODE=shared            installs, links every installed libcourier_*.a into
#                          one shared library (--whole-archive), checks its
#                          exported symbols (check_symbols.py: public API in,
#                          internals out) and builds the program against it.
# CXX (the compiler), PYTHON and PKG_CONFIG come from tests/consumer/CMakeLists.txt.
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}")
  endif()
endfunction()
# Output of a command, stripped; fails the test if the command fails.
function(capture out)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE text ERROR_VARIABLE err
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${err}")
  endif()
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

set(prefix ${WORK_DIR}/prefix)
if(NOT MODE STREQUAL "add_subdirectory")
  run(${CMAKE_COMMAND} --install ${BINARY_DIR} --prefix ${prefix})
  file(GLOB_RECURSE pc_files ${prefix}/courier*.pc)
  list(GET pc_files 0 first_pc)
  get_filename_component(pc_dir ${first_pc} DIRECTORY)
endif()

if(MODE STREQUAL "find_package")
  run(${CMAKE_COMMAND} -S ${PROJECT_DIR} -B ${WORK_DIR}/build -G Ninja
      -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release)
  run(${CMAKE_COMMAND} -S ${PROJECT_DIR} -B ${WORK_DIR}/build-all -G Ninja
      -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release -DCOURIER_CONSUMER_ALL_COMPONENTS=ON)
  run(${CMAKE_COMMAND} --build ${WORK_DIR}/build -j 2)
  set(hello ${WORK_DIR}/build/courier_hello)
elseif(MODE STREQUAL "add_subdirectory")
  run(${CMAKE_COMMAND} -S ${PROJECT_DIR} -B ${WORK_DIR}/build -G Ninja
      -DCOURIER_SOURCE_DIR=${SOURCE_DIR} -DCMAKE_BUILD_TYPE=Release
      -DCOURIER_WITH_POSTGRES=OFF -DCOURIER_WITH_MONGO=OFF -DCOURIER_WITH_REDIS=OFF
      -DCOURIER_WITH_WEBSOCKET=OFF)
  run(${CMAKE_COMMAND} --build ${WORK_DIR}/build -j 2)
  set(hello ${WORK_DIR}/build/courier_hello)
elseif(MODE STREQUAL "pkg_config")
  set(ENV{PKG_CONFIG_PATH} ${pc_dir})
  # Every installed .pc file is well formed, its Requires resolve, its
  # version is the project's.
  foreach(pc ${pc_files})
    get_filename_component(name ${pc} NAME_WE)
    run(${PKG_CONFIG} --validate ${pc})
    capture(libs ${PKG_CONFIG} --libs ${name})
    capture(version ${PKG_CONFIG} --modversion ${name})
    if(NOT version STREQUAL VERSION)
      message(FATAL_ERROR "${name}.pc: version ${version}, expected ${VERSION}")
    endif()
    message(STATUS "${name}: ${libs}")
  endforeach()
  capture(flags ${PKG_CONFIG} --cflags --libs courier-sqlite courier-memory courier)
  separate_arguments(flags UNIX_COMMAND "${flags}")
  run(${CXX} -std=c++20 -O1 ${PROJECT_DIR}/main.cc -o ${WORK_DIR}/courier_hello ${flags})
  set(hello ${WORK_DIR}/courier_hello)
elseif(MODE STREQUAL "shared")
  set(ENV{PKG_CONFIG_PATH} ${pc_dir})
  file(GLOB archives ${pc_dir}/../libcourier_*.a)
  set(so ${WORK_DIR}/libcourier_all.so)
  run(${CXX} -shared -o ${so} -Wl,--whole-archive ${archives} -Wl,--no-whole-archive)
  run(${PYTHON} ${CMAKE_CURRENT_LIST_DIR}/check_symbols.py ${so} ${SOURCE_DIR})
  # The program links the shared library and the dependencies of every
  # installed library (what the .pc files say), never an archive: whatever it
  # uses must be exported.
  set(names "")
  foreach(pc ${pc_files})
    get_filename_component(name ${pc} NAME_WE)
    list(APPEND names ${name})
  endforeach()
  capture(flags ${PKG_CONFIG} --cflags --libs ${names})
  string(REGEX REPLACE "-lcourier_[a-z_]+" "" flags "${flags}")
  separate_arguments(flags UNIX_COMMAND "${flags}")
  run(${CXX} -std=c++20 -O1 ${PROJECT_DIR}/main.cc -o ${WORK_DIR}/courier_hello
      -L${WORK_DIR} -lcourier_all -Wl,-rpath,${WORK_DIR} ${flags})
  set(hello ${WORK_DIR}/courier_hello)
else()
  message(FATAL_ERROR "unknown MODE ${MODE}")
endif()
run(${hello} ${WORK_DIR}/hello.db)
