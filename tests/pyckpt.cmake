# The checkpoint reader scripts/nitckpt.py (docs/runtime.md, "Reading
# checkpoints outside nitc"), tests/pyckpt/check.py: lenet5 (int8 and int16
# weights), lenet5_ghaffari, resnet_bn (int16 and int32 masters) and a CSV
# model trained briefly; the reader's tensors against export's C arrays, the
# init rule, `info` and the log; damaged and foreign files refused as the
# runtime refuses them. Skipped (77) without a Python 3 that has numpy.
# Not under the sanitizers: what it checks is the Python reader, the same in
# both suites (nitc and the runtime meet the sanitizers in the other tests).
if(NOT NITC_SANITIZE)
  add_test(NAME pyckpt
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/pyckpt/run.sh ${PROJECT_BINARY_DIR} $<TARGET_FILE:nitrt_mkdata>
            ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR}/tests/pyckpt)
  set_tests_properties(pyckpt PROPERTIES TIMEOUT 900 SKIP_RETURN_CODE 77)
endif()
