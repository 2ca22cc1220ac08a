# Commands around the compiler: `nitc plot` on synthetic logs (skipped when
# gnuplot is missing) and `cmake --install` into a prefix that is then moved.
set(CLI_TESTS ${CMAKE_CURRENT_LIST_DIR}/cli)

add_test(NAME cli_plot COMMAND sh ${CLI_TESTS}/plot.sh $<TARGET_FILE:nitc>)
set_tests_properties(cli_plot PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 120)

add_test(NAME cli_install
  COMMAND sh ${CLI_TESTS}/install.sh ${CMAKE_COMMAND} ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR}
          $<TARGET_FILE:nitrt_mkdata> ${PROJECT_BINARY_DIR}/tests/cli-install)
set_tests_properties(cli_install PROPERTIES TIMEOUT 300)
