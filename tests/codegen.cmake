# Code generation tests:
#   codegen_nofloat   the optimized IR of every example has no floating-point
#                     type or instruction
#   codegen_diff      2/3 COUNT random networks, generated code vs the reference,
#                     byte for byte after every step (tests/codegen/run_diff.sh)
#   codegen_diff_ghaffari  COUNT/4 random networks of recipe ghaffari (masters,
#                     views, table softmax, SGD; one in four at widths below
#                     8 bits) against the reference
#   codegen_diff_shiftquant  COUNT/4 networks of recipe shiftquant (widths
#                     2..8, SQ_b with channel, sample and tensor groups)
#   codegen_diff_unified  COUNT/4 networks of recipe unified (clip searches
#                     every 1..3 steps on both grids or clip off, lrscale on
#                     or off, error widths 2..8)
#   codegen_diff_loss_<r>  COUNT/12 networks of recipe r with the other
#                     recipe's softmax (exp=table under niti, exp=niti else)
#   codegen_diff_<k>  the same with the portable GEMM kernels forced
#                     (NITC_GEMM=generic, lanes, plain; ubs on an AVX2 host,
#                     its A split at every K: NITC_AX_KMIN=0),
#                     fewer networks, no error-buffer sharing, so every
#                     error is compared, and the gathers on the caller
#                     (NITC_GATHER_WORKERS=0, cg/step.c's gather_table)
#   codegen_diff_pools_<r>  COUNT/6 networks of conv, relu, max pool blocks
#   codegen_diff_ahead_<v>  COUNT/6 networks whose every conv rounds ahead
#                     (NITC_AHEAD_BYTES=0): niti, ghaffari (its gathers on
#                     the caller: NITC_GATHER_WORKERS=0), niti on the plain
#                     kernel
#   codegen_gemm      the GEMM kernel alone vs a plain loop, every kernel, odd
#                     shapes (tests/codegen/gemm_check.sh)
#   codegen_examples  every example compiles to an executable
#   codegen_fold      bodies of one shape fold into one, of different shapes
#                     do not (tests/codegen/fold.sh)
#   codegen_pipeline_cut  LLVM's default pipeline was cut for every target
#                     and level (cmake/pipelines.cmake), so the units run the
#                     optimizer's per-function part in parallel
#   codegen_ranks     data parallelism: N ranks as threads with in-process
#                     collectives give one process's bytes (ranks.c);
#                     codegen_ranks_ahead with every conv rounding ahead
#   codegen_batches   batches of 17 and 35 vs the reference (batches.sh)
#   codegen_tilewords conv GEMMs with their panel words built in the tile
#                     vs the reference and the panel forms (tilewords.sh)
#   codegen_ubs_panels  the ubs kernel's conv panels gathered by groups of
#                     four rows and read in place (implicit) vs the reference
#                     and the padded panels (ubs_panels.sh)
set(CG_DIR ${CMAKE_CURRENT_LIST_DIR}/codegen)

add_executable(gennet ${CG_DIR}/gennet.c)
target_include_directories(gennet PRIVATE ${PROJECT_SOURCE_DIR}/runtime)
target_compile_options(gennet PRIVATE ${NITC_WARN})
set_target_properties(gennet PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)

# The harness without main's partner (nit_model comes from each generated object).
add_library(diffrun STATIC ${CG_DIR}/diffrun.c ${CG_DIR}/load.c)
target_compile_options(diffrun PRIVATE ${NITC_WARN})
target_link_libraries(diffrun PUBLIC nitref nitfront nitrt_s31)
set_target_properties(diffrun PROPERTIES ARCHIVE_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
set_target_properties(nitref PROPERTIES ARCHIVE_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)

# errdump: trains one generated object like the runtime and dumps its stored
# error tensors (bench/accuracy/quant_error.sh; main here, nit_model from the
# object it is linked with).
add_library(errdump STATIC ${CG_DIR}/errdump.c)
target_compile_options(errdump PRIVATE ${NITC_WARN})
target_link_libraries(errdump PUBLIC nitrt nitrt_s31)
set_target_properties(errdump PROPERTIES ARCHIVE_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)

# clipdump: the same harness recording the wide errors of recipe unified's
# DSGC sites through a wrapper of nitrt_clip_site (link the executable with
# -Wl,--wrap=nitrt_clip_site; bench/accuracy/clip_curve.sh).
add_library(clipdump STATIC ${CG_DIR}/errdump.c)
target_compile_definitions(clipdump PRIVATE ERRDUMP_CLIP=1)
target_compile_options(clipdump PRIVATE ${NITC_WARN})
target_link_libraries(clipdump PUBLIC nitrt nitrt_s31)
set_target_properties(clipdump PROPERTIES ARCHIVE_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)

# ranks: N ranks as threads with in-process collectives against one process
# (tests/codegen/ranks.c; main here, nit_model from the object).
add_library(ranks STATIC ${CG_DIR}/ranks.c)
target_compile_options(ranks PRIVATE ${NITC_WARN})
target_link_libraries(ranks PUBLIC nitrt nitrt_s31)
set_target_properties(ranks PROPERTIES ARCHIVE_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)

# 144 and 30 since 2026-12-07 13:55 UTC (180 and 40 before): the two suites
# took 27.9 minutes on a slow day of the two-core host, CI's budget is 30,
# and the soaks of each session run many more networks (tests/codegen/run_diff.sh
# with other seeds)
if(NITC_SANITIZE)
  set(CG_LINK_FLAGS "-fsanitize=address,undefined")
  set(CG_DIFF_COUNT 30)
else()
  set(CG_LINK_FLAGS "")
  set(CG_DIFF_COUNT 144)
endif()

# COUNT sizes the variants below; the plain run takes two thirds of it
# (180 until 2026-12-07: the variants hold most of the networks, and the
# suite's time went to them)
math(EXPR CG_MAIN_COUNT "${CG_DIFF_COUNT} * 2 / 3")
add_test(NAME codegen_diff
  COMMAND ${CG_DIR}/run_diff.sh ${PROJECT_BINARY_DIR} 1 ${CG_MAIN_COUNT})
# errors over dead activations and one another (plan.c, place_errors) in
# every network, and max pools that keep their taps, with the activations
# no backward step reads placed apart (plan_taps, place_fwd): by default
# errors share only past 1 MiB and pools keep taps only past 8 MiB of
# activations, and the random networks' are smaller
set_tests_properties(codegen_diff PROPERTIES TIMEOUT 1500
  ENVIRONMENT "NITC_ERR_REUSE=1;NITC_POOL_TAPS=1;NITC_LINK_FLAGS=${CG_LINK_FLAGS};CC=${CMAKE_C_COMPILER}")

# The recipe with masters: COUNT/4 random ghaffari networks (views, table
# softmax, SGD with momentum and decay, int16 and int32 masters, and one
# network in four at narrower widths).
math(EXPR CG_GH_COUNT "${CG_DIFF_COUNT} / 4")
add_test(NAME codegen_diff_ghaffari
  COMMAND ${CG_DIR}/run_diff.sh ${PROJECT_BINARY_DIR} 11 ${CG_GH_COUNT})
set_tests_properties(codegen_diff_ghaffari PROPERTIES TIMEOUT 900
  ENVIRONMENT "NITC_DIFF_RECIPE=ghaffari;NITC_POOL_TAPS=1;NITC_LINK_FLAGS=${CG_LINK_FLAGS};CC=${CMAKE_C_COMPILER}")

# Recipe shiftquant: as many networks again, with widths 2..8 and SQ's groups.
add_test(NAME codegen_diff_shiftquant
  COMMAND ${CG_DIR}/run_diff.sh ${PROJECT_BINARY_DIR} 21 ${CG_GH_COUNT})
set_tests_properties(codegen_diff_shiftquant PROPERTIES TIMEOUT 900
  ENVIRONMENT "NITC_DIFF_RECIPE=shiftquant;NITC_POOL_TAPS=1;NITC_LINK_FLAGS=${CG_LINK_FLAGS};CC=${CMAKE_C_COMPILER}")

# Recipe unified: the error-site kernel, the multipliers and phi.
add_test(NAME codegen_diff_unified
  COMMAND ${CG_DIR}/run_diff.sh ${PROJECT_BINARY_DIR} 31 ${CG_GH_COUNT})
set_tests_properties(codegen_diff_unified PROPERTIES TIMEOUT 900
  ENVIRONMENT "NITC_DIFF_RECIPE=unified;NITC_POOL_TAPS=1;NITC_LINK_FLAGS=${CG_LINK_FLAGS};CC=${CMAKE_C_COMPILER}")

# The other recipe's softmax (docs/recipes.md, "Loss"; gennet's
# NITC_DIFF_LOSS): niti networks with the table softmax, its e32 through
# RQ_8 at LOSS; networks of the recipes with masters with NITI's row, its
# e32 through the recipe's EQ. Not under the sanitizers: what they compare
# is the generated code, which they do not instrument, and nitc's paths
# are the other diffs' (codegen_ranks covers these networks there too).
if(NOT NITC_SANITIZE)
  math(EXPR CG_LOSS_COUNT "${CG_DIFF_COUNT} / 12")
  set(CG_LOSS_SEED 51)
  foreach(recipe niti ghaffari shiftquant unified)
    add_test(NAME codegen_diff_loss_${recipe}
      COMMAND ${CG_DIR}/run_diff.sh ${PROJECT_BINARY_DIR} ${CG_LOSS_SEED} ${CG_LOSS_COUNT})
    set_tests_properties(codegen_diff_loss_${recipe} PROPERTIES TIMEOUT 900
      ENVIRONMENT "NITC_DIFF_LOSS=other;NITC_DIFF_RECIPE=${recipe};NITC_LINK_FLAGS=${CG_LINK_FLAGS};CC=${CMAKE_C_COMPILER}")
    math(EXPR CG_LOSS_SEED "${CG_LOSS_SEED} + 1")
  endforeach()
endif()

# ubs (AVX2 without VNNI) where this host runs AVX2: the host kernel where
# it has no VNNI, forced where it has.
set(CG_KINDS generic lanes plain)
if(EXISTS /proc/cpuinfo)
  file(STRINGS /proc/cpuinfo CG_CPU_FLAGS REGEX "^flags" LIMIT_COUNT 1)
  if(CG_CPU_FLAGS MATCHES " avx2( |$)")
    list(APPEND CG_KINDS ubs)
  endif()
endif()
set(CG_KIND_SEED 2)
foreach(kind ${CG_KINDS})
  math(EXPR CG_KIND_COUNT "${CG_DIFF_COUNT} / 6") # COUNT/5 until 2026-12-07
  add_test(NAME codegen_diff_${kind}
    COMMAND ${CG_DIR}/run_diff.sh ${PROJECT_BINARY_DIR} ${CG_KIND_SEED} ${CG_KIND_COUNT})
  # ubs: A split (cg/gemm.c, gemm_ax) at every K, not only from 256
  set_tests_properties(codegen_diff_${kind} PROPERTIES TIMEOUT 900
    ENVIRONMENT "NITC_GEMM=${kind};NITC_AX_KMIN=0;NITC_ERR_REUSE=0;NITC_GATHER_WORKERS=0;NITC_LINK_FLAGS=${CG_LINK_FLAGS};CC=${CMAKE_C_COMPILER}")
  math(EXPR CG_KIND_SEED "${CG_KIND_SEED} + 1")
endforeach()

# K in blocks (cg/gemm.c, kblock_gemm) of 16 bytes wherever K is larger, so
# that every GEMM of the random networks goes through them (on ubs with A
# split at every K: its correction only in the first block).
math(EXPR CG_KB_COUNT "${CG_DIFF_COUNT} / 5")
add_test(NAME codegen_diff_kblock
  COMMAND ${CG_DIR}/run_diff.sh ${PROJECT_BINARY_DIR} 7 ${CG_KB_COUNT})
set_tests_properties(codegen_diff_kblock PROPERTIES TIMEOUT 900
  ENVIRONMENT "NITC_GEMM_KBLOCK=16;NITC_AX_KMIN=0;NITC_LINK_FLAGS=${CG_LINK_FLAGS};CC=${CMAKE_C_COMPILER}")

# Rounding ahead (cg/round.c; plan.c's plan_ahead) in every conv that can,
# not only in those whose batch accumulators reach 8 MiB: COUNT/6 networks
# of the recipes whose input errors round ahead too, and of niti on the
# plain kernel (no fused maxima: the bodies take their own).
math(EXPR CG_AHEAD_COUNT "${CG_DIFF_COUNT} / 6")
foreach(variant niti ghaffari plain)
  set(CG_AHEAD_ENV "NITC_AHEAD_BYTES=0;NITC_LINK_FLAGS=${CG_LINK_FLAGS};CC=${CMAKE_C_COMPILER}")
  if(variant STREQUAL "plain")
    list(APPEND CG_AHEAD_ENV "NITC_GEMM=plain")
  else()
    list(APPEND CG_AHEAD_ENV "NITC_DIFF_RECIPE=${variant}")
  endif()
  if(variant STREQUAL "ghaffari") # the gathers' caller path with masters (all-zero terms skipped)
    list(APPEND CG_AHEAD_ENV "NITC_GATHER_WORKERS=0")
  endif()
  add_test(NAME codegen_diff_ahead_${variant}
    COMMAND ${CG_DIR}/run_diff.sh ${PROJECT_BINARY_DIR} 41 ${CG_AHEAD_COUNT})
  set_tests_properties(codegen_diff_ahead_${variant} PROPERTIES TIMEOUT 900 ENVIRONMENT "${CG_AHEAD_ENV}")
endforeach()

# Max pools in rounding regions (plan.c, plan_pools): COUNT/6 networks of
# LeNet-like blocks (gennet's NITC_DIFF_POOLS), under niti (the relu in the
# requantization) and ghaffari (its own relu pass), where the random
# networks above rarely have a pool between two convs. niti's pools keep
# their taps (plan_taps), the relu's gate in them; ghaffari's find the
# maxima again.
foreach(variant niti ghaffari)
  add_test(NAME codegen_diff_pools_${variant}
    COMMAND ${CG_DIR}/run_diff.sh ${PROJECT_BINARY_DIR} 51 ${CG_AHEAD_COUNT})
  set(CG_TAPS 0)
  if(variant STREQUAL "niti")
    set(CG_TAPS 1)
  endif()
  set_tests_properties(codegen_diff_pools_${variant} PROPERTIES TIMEOUT 900 ENVIRONMENT
    "NITC_DIFF_POOLS=1;NITC_POOL_TAPS=${CG_TAPS};NITC_DIFF_RECIPE=${variant};NITC_LINK_FLAGS=${CG_LINK_FLAGS};CC=${CMAKE_C_COMPILER}")
endforeach()
# The same blocks on inputs more than 64 pixels wide (NITC_DIFF_POOLS=wide):
# their first pool reads rows too long for cg/pool.c's row vectors and goes
# window by window, finding the maxima again (taps 0) or keeping its taps
# (taps 1); no narrow network takes that path.
math(EXPR CG_WIDE_COUNT "${CG_AHEAD_COUNT} / 2")
foreach(taps 0 1)
  add_test(NAME codegen_diff_pools_wide_taps${taps}
    COMMAND ${CG_DIR}/run_diff.sh ${PROJECT_BINARY_DIR} 6${taps} ${CG_WIDE_COUNT})
  set_tests_properties(codegen_diff_pools_wide_taps${taps} PROPERTIES TIMEOUT 900 ENVIRONMENT
    "NITC_DIFF_POOLS=wide;NITC_POOL_TAPS=${taps};NITC_LINK_FLAGS=${CG_LINK_FLAGS};CC=${CMAKE_C_COMPILER}")
endforeach()

# Data parallelism without MPI: N ranks as threads, one process's bytes
# (tests/codegen/run_ranks.sh: every example, COUNT/30 random networks per recipe).
math(EXPR CG_RANKS_COUNT "${CG_DIFF_COUNT} / 30")
add_test(NAME codegen_ranks
  COMMAND ${CG_DIR}/run_ranks.sh ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR}/examples 5 ${CG_RANKS_COUNT})
set_tests_properties(codegen_ranks PROPERTIES TIMEOUT 900
  ENVIRONMENT "NITC_LINK_FLAGS=${CG_LINK_FLAGS};CC=${CMAKE_C_COMPILER}")
# the same with every conv rounding ahead: each rank redoes its own stale
# samples, and the ranks still agree on every k
# Neither runs under the sanitizers: what differs from codegen_ranks and
# the codegen_diff_<k> runs there is generated code, which they do not
# instrument; nitc's paths (the rounding ahead, every kernel, K in blocks)
# are the other diffs', and the harness and runtime codegen_ranks's.
if(NOT NITC_SANITIZE)
  add_test(NAME codegen_ranks_ahead
    COMMAND ${CG_DIR}/run_ranks.sh ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR}/examples 6 1)
  set_tests_properties(codegen_ranks_ahead PROPERTIES TIMEOUT 900
    ENVIRONMENT "NITC_AHEAD_BYTES=0;NITC_LINK_FLAGS=${CG_LINK_FLAGS};CC=${CMAKE_C_COMPILER}")

  add_test(NAME codegen_gemm
    COMMAND ${CG_DIR}/gemm_check.sh ${PROJECT_BINARY_DIR} ${PROJECT_BINARY_DIR}/tests/gemm)
  set_tests_properties(codegen_gemm PROPERTIES TIMEOUT 600
    ENVIRONMENT "NITC_LINK_FLAGS=${CG_LINK_FLAGS};CC=${CMAKE_C_COMPILER}")
endif()

add_test(NAME codegen_nofloat
  COMMAND ${CG_DIR}/nofloat.sh ${PROJECT_BINARY_DIR}/compiler/nitc ${PROJECT_SOURCE_DIR}/examples
          ${PROJECT_BINARY_DIR}/tests/nofloat)
set_tests_properties(codegen_nofloat PROPERTIES TIMEOUT 600)

add_test(NAME codegen_fold
  COMMAND ${CG_DIR}/fold.sh ${PROJECT_BINARY_DIR}/compiler/nitc ${PROJECT_SOURCE_DIR}/examples
          ${PROJECT_BINARY_DIR}/tests/fold)
set_tests_properties(codegen_fold PROPERTIES TIMEOUT 300)

add_test(NAME codegen_pipeline_cut
  COMMAND ${CMAKE_COMMAND} -DINC=${PROJECT_BINARY_DIR}/compiler/pipelines.inc
          -P ${CG_DIR}/pipeline_cut.cmake)

# One value with 200 consumers and a chain of 100 adds, against the reference
# (tests/codegen/fanout.sh).
add_test(NAME codegen_fanout
  COMMAND ${CG_DIR}/fanout.sh ${PROJECT_BINARY_DIR})
set_tests_properties(codegen_fanout PROPERTIES TIMEOUT 600
  ENVIRONMENT "NITC_LINK_FLAGS=${CG_LINK_FLAGS};CC=${CMAKE_C_COMPILER}")

# --emit shapes and the executable's info print the same memory figures.
add_test(NAME codegen_memory_agree
  COMMAND ${CG_DIR}/memory_agree.sh $<TARGET_FILE:nitc> ${PROJECT_SOURCE_DIR}/examples
          ${PROJECT_BINARY_DIR}/tests/memory_agree)
set_tests_properties(codegen_memory_agree PROPERTIES TIMEOUT 600)

# Scratch only for what runs; a model over the memory limit refused with the
# figure (tests/codegen/plan_limits.sh).
add_test(NAME codegen_plan_limits
  COMMAND ${CG_DIR}/plan_limits.sh $<TARGET_FILE:nitc> ${PROJECT_BINARY_DIR}/tests/plan_limits)

# Batches of 17 and 35 against the reference: the paths that take 16
# samples at a time, and their edges (tests/codegen/batches.sh).
add_test(NAME codegen_batches
  COMMAND ${CG_DIR}/batches.sh ${PROJECT_BINARY_DIR})
set_tests_properties(codegen_batches PROPERTIES TIMEOUT 600
  ENVIRONMENT "NITC_LINK_FLAGS=${CG_LINK_FLAGS};CC=${CMAKE_C_COMPILER}")

# Panel words built in the tile (tests/codegen/tilewords.sh).
add_test(NAME codegen_tilewords
  COMMAND ${CG_DIR}/tilewords.sh ${PROJECT_BINARY_DIR})
set_tests_properties(codegen_tilewords PROPERTIES TIMEOUT 300
  ENVIRONMENT "NITC_LINK_FLAGS=${CG_LINK_FLAGS};CC=${CMAKE_C_COMPILER}")

add_test(NAME codegen_ubs_panels
  COMMAND ${CG_DIR}/ubs_panels.sh ${PROJECT_BINARY_DIR})
set_tests_properties(codegen_ubs_panels PROPERTIES TIMEOUT 300
  ENVIRONMENT "NITC_LINK_FLAGS=${CG_LINK_FLAGS};CC=${CMAKE_C_COMPILER}")

# The draw loops interleaved on AVX2 only (tests/codegen/draws_interleave.sh).
add_test(NAME codegen_draws_interleave
  COMMAND ${CG_DIR}/draws_interleave.sh $<TARGET_FILE:nitc> ${PROJECT_SOURCE_DIR}/examples/mlp_ln.nit)

# No loop that holds loops unrolled, so no inner loop compiled twice, on
# four targets (tests/codegen/nest_rolled.sh; cg/llvm.c, l_next).
add_test(NAME codegen_nest_rolled
  COMMAND ${CG_DIR}/nest_rolled.sh $<TARGET_FILE:nitc>
    ${PROJECT_SOURCE_DIR}/examples/lenet5.nit ${PROJECT_SOURCE_DIR}/examples/lenet5_unified.nit
    ${PROJECT_SOURCE_DIR}/examples/mlp.nit ${PROJECT_SOURCE_DIR}/examples/resnet_l1.nit
    ${PROJECT_SOURCE_DIR}/examples/vgg_small.nit)
set_tests_properties(codegen_nest_rolled PROPERTIES TIMEOUT 300)
