# Runs PROGRAM --version and checks it exits 0 printing exactly
# "NAME VERSION (commit COMMIT)" (courier/version.h).
execute_process(COMMAND ${PROGRAM} --version
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
string(STRIP "${out}" out)
set(expected "${NAME} ${VERSION} (commit ${COMMIT})")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${PROGRAM} --version exited ${rc}: ${out} ${err}")
endif()
if(NOT out STREQUAL expected)
  message(FATAL_ERROR "${PROGRAM} --version printed \"${out}\", expected \"${expected}\"")
endif()
if(NOT COMMIT MATCHES "^([0-9a-f]+|unknown)$")
  message(FATAL_ERROR "commit \"${COMMIT}\" is neither a hash nor \"unknown\"")
endif()
message(STATUS "${out}")
