# Runtime tests: the runtime linked with a hand-written fake model
# (tests/runtime/fake_model.c) in several shapes, a synthetic data generator,
# one Check suite for the library's functions, and shell-driven end-to-end
# cases of the training executable (tests/runtime/cli.sh).
set(NITRT_TEST_DIR ${CMAKE_CURRENT_LIST_DIR}/runtime)
set(NITRT_SRC_DIR ${CMAKE_CURRENT_LIST_DIR}/../runtime)

function(nitrt_fake name)
  add_executable(${name} ${NITRT_TEST_DIR}/fake_model.c)
  target_compile_definitions(${name} PRIVATE ${ARGN})
  target_compile_options(${name} PRIVATE ${NITC_WARN})
  target_link_libraries(${name} PRIVATE nitrt)
endfunction()

nitrt_fake(fake_mnist)                                       # 1x28x28, 10 classes, batch <= 32
nitrt_fake(fake_other FAKE_NAME="other" FAKE_FP=0xFEEDull)   # same shapes, another model
nitrt_fake(fake_cifar FAKE_C=3 FAKE_H=32 FAKE_W=32 FAKE_BATCH=16)
nitrt_fake(fake_csv FAKE_C=1 FAKE_H=1 FAKE_W=6 FAKE_CLASSES=3 FAKE_BATCH=8)
nitrt_fake(fake_vec FAKE_C=784 FAKE_H=1 FAKE_W=1)                # fake_mnist with a vector input [784]
nitrt_fake(fake_wide FAKE_BITS=12 FAKE_FP=0x1212ull)         # int16 weights
nitrt_fake(fake_mnist64 FAKE_BATCH=64)                       # fake_mnist compiled for batch 64
nitrt_fake(fake_ghaffari FAKE_GHAFFARI=1 FAKE_FP=0x6A6Aull)  # recipe ghaffari: masters, momenta, statistics
nitrt_fake(fake_classes FAKE_C=1 FAKE_H=1 FAKE_W=2 FAKE_CLASSES=400000 FAKE_BATCH=4 FAKE_FP=0xC1A55ull)

add_executable(nitrt_mkdata ${NITRT_TEST_DIR}/mkdata.c)
target_include_directories(nitrt_mkdata PRIVATE ${NITRT_SRC_DIR})
target_compile_options(nitrt_mkdata PRIVATE ${NITC_WARN})

add_executable(test_runtime ${NITRT_TEST_DIR}/test_runtime.c ${NITRT_TEST_DIR}/fake_model.c)
target_compile_options(test_runtime PRIVATE ${NITC_WARN})
target_link_libraries(test_runtime PRIVATE nitrt PkgConfig::CHECK)
add_test(NAME runtime_unit COMMAND test_runtime)

# The pool with a window between a job's fields and its publication
# (threads.c compiled in with NITRT_POOL_WINDOW_NS; its symbols come before
# the library's, so the library's threads.o is not linked).
add_executable(test_pool_window ${NITRT_TEST_DIR}/pool_window.c ${NITRT_SRC_DIR}/threads.c)
target_compile_definitions(test_pool_window PRIVATE NITRT_POOL_WINDOW_NS=20000)
target_include_directories(test_pool_window PRIVATE ${NITRT_SRC_DIR})
target_compile_options(test_pool_window PRIVATE ${NITC_WARN})
target_link_libraries(test_pool_window PRIVATE nitrt PkgConfig::CHECK)
add_test(NAME runtime_pool_window COMMAND test_pool_window)

# S31 scalars, tables, schedules and the LINSUM plan against the reference.
add_executable(test_runtime_s31 ${NITRT_TEST_DIR}/test_s31.c)
target_compile_options(test_runtime_s31 PRIVATE ${NITC_WARN})
target_link_libraries(test_runtime_s31 PRIVATE nitrt_s31 nitref PkgConfig::CHECK)
add_test(NAME runtime_s31 COMMAND test_runtime_s31)
set_tests_properties(runtime_s31 PROPERTIES ENVIRONMENT "CK_DEFAULT_TIMEOUT=120")

# The normalization kernels against the reference, one call at a time, on
# shapes that reach each of their paths (norm.c).
add_executable(test_runtime_norm ${NITRT_TEST_DIR}/test_norm.c)
target_compile_options(test_runtime_norm PRIVATE ${NITC_WARN})
target_link_libraries(test_runtime_norm PRIVATE nitrt_s31 nitref PkgConfig::CHECK)
add_test(NAME runtime_norm COMMAND test_runtime_norm)

# The error sites of recipe unified (runtime/clip.c) against the model's
# golden vectors and the reference, step by step.
add_executable(test_runtime_clip ${NITRT_TEST_DIR}/test_clip.c)
target_compile_options(test_runtime_clip PRIVATE ${NITC_WARN})
target_include_directories(test_runtime_clip PRIVATE ${PROJECT_SOURCE_DIR}/tests/ref)
target_link_libraries(test_runtime_clip PRIVATE nitrt_s31 nitref PkgConfig::CHECK)
add_test(NAME runtime_clip COMMAND test_runtime_clip)
set_tests_properties(runtime_unit PROPERTIES ENVIRONMENT "CK_DEFAULT_TIMEOUT=60")

# No floating point in the runtime: no float/double in its sources ...
add_test(NAME runtime_no_float_source
  COMMAND sh -c "! grep -nwE 'float|double|long double|math\\.h' ${NITRT_SRC_DIR}/*.c ${NITRT_SRC_DIR}/*.h")
# ... and no floating-point instructions in the library nitc links with.
add_test(NAME runtime_no_float_insns
  COMMAND bash ${NITRT_TEST_DIR}/cli.sh no_float_insns)
set_tests_properties(runtime_no_float_insns PROPERTIES
  ENVIRONMENT "BIN=$<TARGET_FILE_DIR:fake_mnist>;RTLIB=${PROJECT_BINARY_DIR}/runtime")

set(NITRT_CLI_CASES
  cli_good cli_bad info help_version train_basic train_log progress batch_limit
  data_errors gzip cifar csv csv_decimal ckpt_roundtrip ckpt_corrupt ckpt_other_model
  save_unwritable ckpt_untouched resume_equivalence resume_done holdout_limit
  eval predict wide determinism cross_targets interrupt mnist_real
  csv_scaling eval_data_source quant_mismatch per_sample files_special csv_hostile
  ckpt_fields batch_mismatch stale_tmp many_classes ghaffari_flags ghaffari_resume
  eval_per_class run_record save_best companions inspect save_every
  max_steps vector_input)
foreach(case ${NITRT_CLI_CASES})
  add_test(NAME runtime_${case} COMMAND bash ${NITRT_TEST_DIR}/cli.sh ${case})
  set_tests_properties(runtime_${case} PROPERTIES
    ENVIRONMENT "BIN=$<TARGET_FILE_DIR:fake_mnist>;RTLIB=${PROJECT_BINARY_DIR}/runtime;NITRT_SRC=${NITRT_SRC_DIR};NITRT_TESTS=${NITRT_TEST_DIR};DATA_ROOT=${CMAKE_CURRENT_LIST_DIR}/../data"
    SKIP_RETURN_CODE 77)
endforeach()

# libFuzzer targets for the loaders: idx, CSV, CIFAR-10, gzip and checkpoints.
# clang-19 compiles the runtime (without main.c), a fake model of the
# target's shape and the driver in one go, under ASan and UBSan. Not with
# NITC_SANITIZE (the fuzzer brings its own ASan). ctest runs each briefly on
# seeds made from real small files (tests/fuzz/run_runtime.sh); longer runs:
#   tests/fuzz/run_runtime.sh csv /tmp/fz-csv build/tests build/tests/fuzz_csv 600
find_program(NITC_CLANG19 clang-19)
set(NITRT_FUZZ_DIR ${CMAKE_CURRENT_LIST_DIR}/fuzz)
# the whole runtime but its main (libFuzzer brings its own), as the runtime
# lists it
set(NITRT_FUZZ_LIB ${NITRT_SOURCE_PATHS})
list(FILTER NITRT_FUZZ_LIB EXCLUDE REGEX "/main\\.c$")
set(NITRT_FUZZ_CSV_MODEL -DFAKE_C=1 -DFAKE_H=1 -DFAKE_W=6 -DFAKE_CLASSES=3 -DFAKE_BATCH=8)
set(NITRT_FUZZ_CIFAR_MODEL -DFAKE_C=3 -DFAKE_H=32 -DFAKE_W=32 -DFAKE_BATCH=16)
function(nitrt_fuzzer target)
  set(bin ${CMAKE_CURRENT_BINARY_DIR}/fuzz_${target})
  if(NITC_CLANG19 AND NOT NITC_SANITIZE)
    set(srcs ${NITRT_FUZZ_DIR}/fuzz_${target}.c ${NITRT_TEST_DIR}/fake_model.c ${NITRT_FUZZ_LIB})
    add_custom_command(OUTPUT ${bin}
      COMMAND ${NITC_CLANG19} -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined
        -fno-sanitize-recover=undefined -DNITRT_ZLIB -I${NITRT_SRC_DIR} -I${NITRT_GENERATED_DIR} ${ARGN} ${srcs} -o ${bin} -lz -lpthread
      DEPENDS ${srcs} ${NITRT_SRC_DIR}/nitrt.h ${NITRT_SRC_DIR}/nitabi.h
      COMMENT "Building the libFuzzer target fuzz_${target} with clang-19"
      VERBATIM)
    add_custom_target(fuzz_${target} ALL DEPENDS ${bin})
    add_test(NAME fuzz_runtime_${target}
      COMMAND sh ${NITRT_FUZZ_DIR}/run_runtime.sh ${target}
        ${CMAKE_CURRENT_BINARY_DIR}/fuzz-runtime-${target} $<TARGET_FILE_DIR:fake_csv> ${bin} 5 200000)
    set_tests_properties(fuzz_runtime_${target} PROPERTIES TIMEOUT 120)
  else()
    add_test(NAME fuzz_runtime_${target}
      COMMAND sh -c "echo 'fuzz_runtime_${target}: skipped (needs clang-19 and NITC_SANITIZE=OFF)'; exit 77")
    set_tests_properties(fuzz_runtime_${target} PROPERTIES SKIP_RETURN_CODE 77)
  endif()
endfunction()
nitrt_fuzzer(idx ${NITRT_FUZZ_CSV_MODEL})
nitrt_fuzzer(csv ${NITRT_FUZZ_CSV_MODEL})
nitrt_fuzzer(cifar ${NITRT_FUZZ_CIFAR_MODEL})
nitrt_fuzzer(ckpt ${NITRT_FUZZ_CSV_MODEL})
nitrt_fuzzer(gz ${NITRT_FUZZ_CSV_MODEL})
