# Companions of the compiler: editor grammars, man pages, bash completion.
# Each test reads the sources (the scanner, sema's tables, the usage texts)
# and fails when a companion has drifted from them. Only companions_docs_models
# needs a build (nitc --check on the models of docs/pytorch.md).
set(COMPANIONS ${CMAKE_CURRENT_LIST_DIR}/companions)
add_test(NAME companions_editors
  COMMAND bash ${COMPANIONS}/editors.sh ${PROJECT_SOURCE_DIR})
add_test(NAME companions_man
  COMMAND bash ${COMPANIONS}/man.sh ${PROJECT_SOURCE_DIR})
set_tests_properties(companions_man PROPERTIES SKIP_RETURN_CODE 77)
add_test(NAME companions_completion
  COMMAND bash ${COMPANIONS}/completion.sh ${PROJECT_SOURCE_DIR})
add_test(NAME companions_docs_models
  COMMAND bash ${COMPANIONS}/docs_models.sh $<TARGET_FILE:nitc> ${PROJECT_SOURCE_DIR})
