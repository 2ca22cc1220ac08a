# Front-end tests: Check suites for the lexer, parser and sema; the golden
# diagnostics corpus; robustness against hostile inputs; the examples; the
# command line; and a short libFuzzer run (built with clang-19 when present).
set(FE_TESTS ${CMAKE_CURRENT_SOURCE_DIR}/frontend)

foreach(suite lexer parser sema robust)
  add_executable(test_${suite} ${FE_TESTS}/test_${suite}.c)
  target_link_libraries(test_${suite} PRIVATE nitfront PkgConfig::CHECK)
  target_compile_options(test_${suite} PRIVATE ${NITC_WARN})
endforeach()

add_test(NAME frontend_lexer COMMAND test_lexer)
add_test(NAME frontend_parser COMMAND test_parser)
add_test(NAME frontend_sema COMMAND test_sema)
# test_robust runs hostile inputs in-process and through the nitc binary.
add_test(NAME frontend_robust COMMAND test_robust $<TARGET_FILE:nitc> ${CMAKE_CURRENT_BINARY_DIR}/robust-work)
set_tests_properties(frontend_robust PROPERTIES TIMEOUT 300)

add_test(NAME frontend_golden
  COMMAND sh ${FE_TESTS}/run_golden.sh $<TARGET_FILE:nitc> ${FE_TESTS}/golden)
add_test(NAME frontend_examples
  COMMAND sh ${FE_TESTS}/check_examples.sh $<TARGET_FILE:nitc> ${PROJECT_SOURCE_DIR}/examples)
add_test(NAME frontend_cli
  COMMAND sh ${FE_TESTS}/check_cli.sh $<TARGET_FILE:nitc> ${PROJECT_SOURCE_DIR}/examples)

# libFuzzer target: clang-19 compiles the front end, the generated scanner and
# parser and the fuzz driver in one go. Not with NITC_SANITIZE (the fuzzer
# brings its own ASan and the two runtimes would clash).
find_program(NITC_CLANG19 clang-19)
set(FUZZ_SRC ${CMAKE_CURRENT_SOURCE_DIR}/fuzz)
if(NITC_CLANG19 AND NOT NITC_SANITIZE)
  set(FUZZ_BIN ${CMAKE_CURRENT_BINARY_DIR}/fuzz_frontend)
  set(FUZZ_INPUTS ${FUZZ_SRC}/fuzz_frontend.c
    ${PROJECT_SOURCE_DIR}/compiler/source.c ${PROJECT_SOURCE_DIR}/compiler/diag.c
    ${PROJECT_SOURCE_DIR}/compiler/ast.c ${PROJECT_SOURCE_DIR}/compiler/parse.c
    ${PROJECT_SOURCE_DIR}/compiler/sema.c ${PROJECT_SOURCE_DIR}/compiler/sema_layers.c
    ${PROJECT_SOURCE_DIR}/compiler/sema_train.c
    ${PROJECT_BINARY_DIR}/compiler/nit.lex.c ${PROJECT_BINARY_DIR}/compiler/nit.tab.c)
  add_custom_command(OUTPUT ${FUZZ_BIN}
    COMMAND ${NITC_CLANG19} -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined
      -fno-sanitize-recover=undefined
      -I${PROJECT_SOURCE_DIR}/compiler -I${PROJECT_BINARY_DIR}/compiler -I${PROJECT_SOURCE_DIR}/runtime
      ${FUZZ_INPUTS} -o ${FUZZ_BIN}
    DEPENDS ${FUZZ_INPUTS} ${PROJECT_SOURCE_DIR}/compiler/nitc.h
    COMMENT "Building the libFuzzer front-end target with clang-19"
    VERBATIM)
  add_custom_target(fuzz_frontend ALL DEPENDS ${FUZZ_BIN})
  add_dependencies(fuzz_frontend nitgen)
  add_test(NAME fuzz_smoke
    COMMAND sh -c "mkdir -p \"$0\" && exec \"$1\" -max_total_time=20 -timeout=10 -rss_limit_mb=2048 -max_len=4096 -dict=\"$2/nit.dict\" -print_final_stats=1 \"$0\" \"$2/corpus\""
      ${CMAKE_CURRENT_BINARY_DIR}/fuzz-work ${FUZZ_BIN} ${FUZZ_SRC})
  set_tests_properties(fuzz_smoke PROPERTIES TIMEOUT 120)
else()
  add_test(NAME fuzz_smoke
    COMMAND sh -c "echo 'fuzz_smoke: skipped (needs clang-19 and NITC_SANITIZE=OFF)'; exit 77")
  set_tests_properties(fuzz_smoke PROPERTIES SKIP_RETURN_CODE 77)
endif()
