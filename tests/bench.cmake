# The bench programs build and run (tests/bench/build.sh); not under the
# sanitizers (their runtime library is instrumented then).
if(NOT NITC_SANITIZE)
  add_test(NAME bench_programs
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/bench/build.sh ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}
            ${PROJECT_BINARY_DIR}/tests/bench-programs ${NITC_WARN})
  set_tests_properties(bench_programs PROPERTIES TIMEOUT 120)
endif()

# The accuracy experiments run end to end at a tiny size on synthetic data
# (tests/bench/accuracy_smoke.sh, about 10 s; 20 where python3 has torch
# and the two with the fp32 mirror run too).
if(NOT NITC_SANITIZE)
  add_test(NAME bench_accuracy_smoke
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/bench/accuracy_smoke.sh ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}
            ${PROJECT_BINARY_DIR}/tests/accuracy-smoke)
  set_tests_properties(bench_accuracy_smoke PROPERTIES TIMEOUT 300)
endif()

# bench/run end to end at a tiny size on its own synthetic data
# (tests/bench/run_smoke.sh, about 15 s): every part of its report.
if(NOT NITC_SANITIZE)
  add_test(NAME bench_run_smoke
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/bench/run_smoke.sh ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}
            ${PROJECT_BINARY_DIR}/tests/bench-run-smoke)
  set_tests_properties(bench_run_smoke PROPERTIES TIMEOUT 180)
endif()
