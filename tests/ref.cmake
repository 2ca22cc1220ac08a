# The numerics reference (tests/ref): a plain C oracle of docs/numerics.md.
#   nitref    library: ref.c (needs only ref.h + runtime/nitabi.h) and
#             from_model.c (reads the front end's Model from compiler/nitc.h)
#   test_ref  Check suite: hand-computed vectors, statistics, loss, layers
#   refbias   prints the measured pseudo-rounding bias table (docs/numerics.md)
#   reftrain  trains a network with the reference on idx data; parses .nit
#             files only when the front end library `nitfront` exists.
set(REF_DIR ${CMAKE_CURRENT_LIST_DIR}/ref)
set(REF_ROOT ${CMAKE_CURRENT_LIST_DIR}/..)

add_library(nitref STATIC ${REF_DIR}/ref.c ${REF_DIR}/from_model.c)
target_include_directories(nitref PUBLIC ${REF_DIR} ${REF_ROOT}/runtime ${REF_ROOT}/compiler)
target_compile_options(nitref PRIVATE ${NITC_WARN})

add_executable(test_ref ${REF_DIR}/test_ref.c)
target_compile_options(test_ref PRIVATE ${NITC_WARN})
target_link_libraries(test_ref PRIVATE nitref PkgConfig::CHECK)
add_test(NAME ref_unit COMMAND test_ref)
set_tests_properties(ref_unit PROPERTIES TIMEOUT 120)

add_executable(refbias ${REF_DIR}/refbias.c)
target_compile_options(refbias PRIVATE ${NITC_WARN})
target_link_libraries(refbias PRIVATE nitref)

add_executable(reftrain ${REF_DIR}/reftrain.c)
target_compile_options(reftrain PRIVATE ${NITC_WARN})
target_link_libraries(reftrain PRIVATE nitref)
if(TARGET nitfront AND EXISTS ${REF_ROOT}/compiler/sema.c AND EXISTS ${REF_ROOT}/compiler/parse.c)
  target_compile_definitions(reftrain PRIVATE NITREF_FRONT=1)
  target_link_libraries(reftrain PRIVATE nitfront)
endif()
