# Export (docs/deploy.md): exported C equals the trainer's per-sample
# forward pass.
#   export_examples          examples trained, exported, compiled for x86-64,
#                            AArch64, RISC-V 64 and 32-bit ARM (qemu), logits
#                            and accuracy against predict/eval --per-sample;
#                            no floating point; refusals
#   export_diff_<recipe>     random gennet networks of each recipe, exported
#                            (export's own check) and compiled for the same
#                            targets, logits compared on each
# Under sanitizers: lenet5 and a few random networks (the generated code and
# its runtime archive are not instrumented; the runtime library is).
# 8 networks per recipe, 4 under sanitizers (12 and 6 until 2026-12-07,
# when the suite's time neared CI's budget: most of each network's time is
# the four compilers at -O2).
set(EXPORT_DIR ${CMAKE_CURRENT_LIST_DIR}/export)
if(NITC_SANITIZE)
  set(EXPORT_MODELS lenet5)
  set(EXPORT_NETS 4)
else()
  set(EXPORT_MODELS lenet5 resnet_tiny lenet5_ghaffari resnet_bn mlp_ln)
  set(EXPORT_NETS 8)
endif()
add_test(NAME export_examples
  COMMAND ${EXPORT_DIR}/export.sh ${PROJECT_BINARY_DIR} $<TARGET_FILE:nitrt_mkdata>
          ${PROJECT_BINARY_DIR}/tests/export-examples ${PROJECT_SOURCE_DIR}/examples ${EXPORT_MODELS})
set_tests_properties(export_examples PROPERTIES TIMEOUT 900)
foreach(spec niti:1 ghaffari:11 shiftquant:21 unified:31)
  string(REPLACE ":" ";" parts ${spec})
  list(GET parts 0 recipe)
  list(GET parts 1 seed)
  add_test(NAME export_diff_${recipe}
    COMMAND ${EXPORT_DIR}/export_diff.sh ${PROJECT_BINARY_DIR} $<TARGET_FILE:nitrt_mkdata>
            ${PROJECT_SOURCE_DIR}/examples ${seed} ${EXPORT_NETS} ${recipe})
  set_tests_properties(export_diff_${recipe} PROPERTIES TIMEOUT 900)
endforeach()
