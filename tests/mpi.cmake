# Data-parallel training over MPI (docs/scaleout.md): nitc --mpi executables
# under mpirun on 1 to 4 ranks against one plain process, resume across rank
# counts, an error on one rank, signals (tests/mpi/scaleout.sh). Skipped
# (exit 77) without mpicc at configure time or mpirun at test time. Not under
# sanitizers: the generated code and its runtime are not instrumented, and
# the MPI library is not either.
if(NITC_SANITIZE)
  return()
endif()
if(NITRT_MPI)
  add_test(NAME mpi_scaleout
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/mpi/scaleout.sh ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR}/examples
            $<TARGET_FILE:nitrt_mkdata> ${PROJECT_BINARY_DIR}/tests/mpi-scaleout)
else()
  add_test(NAME mpi_scaleout
    COMMAND sh -c "echo 'mpi_scaleout: skipped (no mpicc at configure time: install openmpi-bin libopenmpi-dev)'; exit 77")
endif()
set_tests_properties(mpi_scaleout PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 600)
