# How the Python test suites are found and started (tests/protocol, abuse,
# chaos, cluster, mongo). Included by their CMakeLists.txt.
include_guard(GLOBAL)

# courier_test_python(<var> FOR <suite> [IMPORTS <module>...] [OPTIONAL])
#
# Sets <var> to the first of /usr/bin/python3 and the python3 on PATH that
# imports every module: the system python3 carries Debian's python3-*
# packages, a python3 earlier on PATH (pyenv, a venv) may not. When none
# does, warns (naming <suite> and the modules) and sets <var> to "python3",
# so the suite fails until they are installed, or, with OPTIONAL, to "" so
# the caller can leave the suite out.
function(courier_test_python out)
  cmake_parse_arguments(CTP "OPTIONAL" "FOR" "IMPORTS" ${ARGN})
  set(code "import sys")
  foreach(module IN LISTS CTP_IMPORTS)
    string(APPEND code "; import ${module}")
  endforeach()
  find_program(courier_path_python3 NAMES python3)
  foreach(py /usr/bin/python3 ${courier_path_python3})
    if(EXISTS "${py}")
      execute_process(COMMAND "${py}" -c "${code}"
                      RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
      if(rc EQUAL 0)
        set(${out} "${py}" PARENT_SCOPE)
        return()
      endif()
    endif()
  endforeach()
  string(REPLACE ";" ", " modules "${CTP_IMPORTS}")
  if(CTP_OPTIONAL)
    message(WARNING "${CTP_FOR}: no python3 that imports ${modules}; not registered")
    set(${out} "" PARENT_SCOPE)
  else()
    message(WARNING "${CTP_FOR}: no python3 that imports ${modules}; "
                    "the tests will fail until they are installed (cmake/install-deps.sh)")
    set(${out} python3 PARENT_SCOPE)
  endif()
endfunction()

# courier_add_server_test(<name> PYTHON <python> ARGS <arg>... LABELS <label>...
#                         TIMEOUT <seconds> [SKIP_RETURN_CODE <code>])
#
# A ctest test that runs `<python> <arg>...` against this build's
# courier-server, named by COURIER_SERVER; tests/pylib's courier_server
# reads it. No .pyc files are written into the source tree.
function(courier_add_server_test name)
  cmake_parse_arguments(CST "" "PYTHON;TIMEOUT;SKIP_RETURN_CODE" "ARGS;LABELS" ${ARGN})
  add_test(NAME ${name}
    COMMAND ${CMAKE_COMMAND} -E env
            COURIER_SERVER=$<TARGET_FILE:courier-server>
            PYTHONDONTWRITEBYTECODE=1
            ${CST_PYTHON} ${CST_ARGS})
  set_tests_properties(${name} PROPERTIES LABELS "${CST_LABELS}" TIMEOUT ${CST_TIMEOUT})
  if(DEFINED CST_SKIP_RETURN_CODE)
    set_tests_properties(${name} PROPERTIES SKIP_RETURN_CODE ${CST_SKIP_RETURN_CODE})
  endif()
endfunction()
