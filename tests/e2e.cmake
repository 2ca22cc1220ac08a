# End-to-end tests: nitc-built executables on synthetic data (resume, eval,
# threads, corrupt checkpoints). Under sanitizers only the MLP runs: the
# generated code and its runtime are not instrumented, nitc is.
set(E2E_MODELS mlp)
if(NOT NITC_SANITIZE)
  list(APPEND E2E_MODELS lenet5 resnet_tiny lenet5_ghaffari mlp_ln resnet_bn resnet_l1 lenet5_unified)
endif()
foreach(model ${E2E_MODELS})
  add_test(NAME e2e_${model}
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/e2e/resume.sh ${PROJECT_BINARY_DIR}
            ${PROJECT_SOURCE_DIR}/examples/${model}.nit $<TARGET_FILE:nitrt_mkdata>
            ${PROJECT_BINARY_DIR}/tests/e2e-${model})
  set_tests_properties(e2e_${model} PROPERTIES TIMEOUT 900)
endforeach()
# Recipe unified: info, the JSON log's sites, a resume under other settings.
if(NOT NITC_SANITIZE)
  add_test(NAME e2e_unified_sites
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/e2e/unified.sh ${PROJECT_BINARY_DIR}
            ${PROJECT_SOURCE_DIR}/examples/lenet5_unified.nit $<TARGET_FILE:nitrt_mkdata>
            ${PROJECT_BINARY_DIR}/tests/e2e-unified-sites)
  set_tests_properties(e2e_unified_sites PROPERTIES TIMEOUT 300)
endif()
# train --telemetry: reads only, its log entries and table, its warnings.
if(NOT NITC_SANITIZE)
  add_test(NAME e2e_telemetry
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/e2e/telemetry.sh ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR}/examples
            $<TARGET_FILE:nitrt_mkdata> ${PROJECT_BINARY_DIR}/tests/e2e-telemetry)
  set_tests_properties(e2e_telemetry PROPERTIES TIMEOUT 300)
endif()
# Either softmax under either kind of recipe: the checkpoint, info, the log
# and resume (tests/e2e/loss.sh).
if(NOT NITC_SANITIZE)
  add_test(NAME e2e_loss_choice
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/e2e/loss.sh ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR}/examples
            $<TARGET_FILE:nitrt_mkdata> ${PROJECT_BINARY_DIR}/tests/e2e-loss)
  set_tests_properties(e2e_loss_choice PROPERTIES TIMEOUT 300)
endif()
# The pool's per-body times and bench/pool_times.sh (runtime/pooltimes.c).
add_test(NAME e2e_pool_times
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/e2e/pool_times.sh ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}
          ${PROJECT_SOURCE_DIR}/examples/mlp.nit $<TARGET_FILE:nitrt_mkdata> ${PROJECT_BINARY_DIR}/tests/e2e-pool-times)
set_tests_properties(e2e_pool_times PROPERTIES TIMEOUT 300)
# Whole training runs against the reference: for each recipe a small model
# trains three epochs as its executable and in `reftrain --epochs`; the
# logits of 40 test images must be the same bytes (tests/e2e/whole_run.sh).
add_test(NAME e2e_whole_run
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/e2e/whole_run.sh ${PROJECT_BINARY_DIR} $<TARGET_FILE:nitrt_mkdata>
          ${PROJECT_BINARY_DIR}/tests/e2e-whole-run)
set_tests_properties(e2e_whole_run PROPERTIES TIMEOUT 300)
