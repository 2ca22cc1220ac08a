# A short hostile-input campaign (tests/hostile/campaign.sh): 16 mutated .nit
# files, idx files, CSV files and checkpoints each, and 4 kill -9 during
# --save; no crash, hang or unnamed error. The full campaign runs by hand with
# a larger COUNT (docs/status.md).
add_test(NAME hostile_campaign
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/hostile/campaign.sh ${PROJECT_BINARY_DIR} 16 7)
set_tests_properties(hostile_campaign PROPERTIES TIMEOUT 900 DEPENDS nitc)
