# Cross-target tests: the same run on x86-64, AArch64 and RISC-V (under
# qemu-user) gives byte-identical checkpoints, and random networks of every
# recipe match the reference on the cross targets (codegen_cross_*), ranks
# as threads give one process's bytes there (codegen_cross_*_ranks), and a
# checkpoint carries a run from one target to another (targets_resume_*). Needs
# the cross runtimes and qemu; MNIST is fetched into the build tree by
# scripts/fetch-data.
find_program(QEMU_AARCH64 qemu-aarch64)
find_program(QEMU_RISCV64 qemu-riscv64)
if(QEMU_AARCH64 AND QEMU_RISCV64 AND "aarch64-linux-gnu" IN_LIST NITRT_TRIPLES
   AND "riscv64-linux-gnu" IN_LIST NITRT_TRIPLES AND NOT NITC_SANITIZE)
  add_test(NAME targets_fetch_mnist
    COMMAND ${PROJECT_SOURCE_DIR}/scripts/fetch-data ${PROJECT_BINARY_DIR}/data)
  set_tests_properties(targets_fetch_mnist PROPERTIES FIXTURES_SETUP mnist TIMEOUT 600)
  # model:samples (the normalization nets are slower per sample under qemu).
  # 1280 samples, 20 steps of 64: every kernel and every path of a step runs
  # 20 times on each target, and the checkpoint holds every byte of the
  # state (these ran 12800 until 2026-12-05, 3200 until 2026-12-06, when
  # the cross tests of ranks and of resumes inside an epoch took the time,
  # and 1920 until 2026-12-07 13:55 UTC, for CI's budget of 30 minutes).
  foreach(entry mlp:1280 lenet5:1280 lenet5_ghaffari:1280 mlp_ln:1280 resnet_bn:320 resnet_l1:320
                lenet5_unified:1280)
    string(REPLACE ":" ";" entry "${entry}")
    list(GET entry 0 model)
    list(GET entry 1 samples)
    add_test(NAME targets_identical_${model}
      COMMAND ${CMAKE_CURRENT_LIST_DIR}/targets/cross.sh ${PROJECT_BINARY_DIR}
              ${PROJECT_SOURCE_DIR}/examples/${model}.nit ${PROJECT_BINARY_DIR}/data/mnist ${samples}
              ${PROJECT_BINARY_DIR}/tests/cross "^(x86_64|x86_64-jobs1|x86_64-jobs3|x86_64-avx2|x86_64-sse2|aarch64|aarch64-sdot|riscv64)$")
    set_tests_properties(targets_identical_${model} PROPERTIES FIXTURES_REQUIRED mnist TIMEOUT 1500)
    # x86-64 (the reference) against RVV, which qemu runs slowly: fewer samples
    # (the GEMM kernels are the same under every recipe: niti models only)
    if(NOT model MATCHES "^(mlp|lenet5)$")
      continue()
    endif()
    add_test(NAME targets_rvv_${model}
      COMMAND ${CMAKE_CURRENT_LIST_DIR}/targets/cross.sh ${PROJECT_BINARY_DIR}
              ${PROJECT_SOURCE_DIR}/examples/${model}.nit ${PROJECT_BINARY_DIR}/data/mnist 640
              ${PROJECT_BINARY_DIR}/tests/cross "^(x86_64|riscv64-rvv)$")
    set_tests_properties(targets_rvv_${model} PROPERTIES FIXTURES_REQUIRED mnist TIMEOUT 900)
  endforeach()
  # The other recipe's softmax (docs/recipes.md, "Loss") on every target but
  # RVV: LeNet-5 under niti with the table softmax, and under ghaffari with
  # NITI's row through the recipe's quantizer. The models are the shipped
  # examples with one line added to their train block.
  foreach(entry "lenet5;table" "lenet5_ghaffari;niti")
    list(GET entry 0 model)
    list(GET entry 1 exp)
    file(READ ${PROJECT_SOURCE_DIR}/examples/${model}.nit src)
    string(REPLACE "train {" "train {\n    loss softmax_ce(exp=${exp})" src "${src}")
    string(REPLACE "model ${model} {" "model ${model}_${exp} {" src "${src}")
    if(NOT src MATCHES "exp=${exp}\\)" OR NOT src MATCHES "model ${model}_${exp} {")
      message(FATAL_ERROR "tests/targets.cmake: examples/${model}.nit has no 'train {' or 'model ${model} {' line")
    endif()
    set(nit ${PROJECT_BINARY_DIR}/tests/cross_loss/${model}_${exp}.nit)
    file(WRITE ${nit} "${src}")
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/examples/${model}.nit)
    add_test(NAME targets_identical_${model}_exp_${exp}
      COMMAND ${CMAKE_CURRENT_LIST_DIR}/targets/cross.sh ${PROJECT_BINARY_DIR} ${nit}
              ${PROJECT_BINARY_DIR}/data/mnist 1280 ${PROJECT_BINARY_DIR}/tests/cross_loss
              "^(x86_64|x86_64-avx2|x86_64-sse2|aarch64|aarch64-sdot|riscv64)$")
    set_tests_properties(targets_identical_${model}_exp_${exp} PROPERTIES FIXTURES_REQUIRED mnist TIMEOUT 900)
  endforeach()
  # shiftquant's weight views by output channel (groups weight=channel) at 4
  # bits: resnet_l1 with its bits and groups lines changed, on the three
  # architectures
  file(READ ${PROJECT_SOURCE_DIR}/examples/resnet_l1.nit src)
  string(REGEX REPLACE "bits +grad=4" "bits      act=8 weight=4 grad=4" src "${src}")
  string(REGEX REPLACE "groups +channel" "groups    channel weight=channel" src "${src}")
  string(REPLACE "model resnet_l1 {" "model resnet_l1_wchannel {" src "${src}")
  if(NOT src MATCHES "weight=4 grad=4" OR NOT src MATCHES "weight=channel" OR NOT src MATCHES "resnet_l1_wchannel")
    message(FATAL_ERROR "tests/targets.cmake: examples/resnet_l1.nit has no 'bits grad=4', 'groups channel' or "
                        "'model resnet_l1 {' line")
  endif()
  set(nit ${PROJECT_BINARY_DIR}/tests/cross_wchannel/resnet_l1_wchannel.nit)
  file(WRITE ${nit} "${src}")
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/examples/resnet_l1.nit)
  add_test(NAME targets_identical_resnet_l1_wchannel
    COMMAND ${CMAKE_CURRENT_LIST_DIR}/targets/cross.sh ${PROJECT_BINARY_DIR} ${nit}
            ${PROJECT_BINARY_DIR}/data/mnist 320 ${PROJECT_BINARY_DIR}/tests/cross_wchannel "^(x86_64|aarch64|riscv64)$")
  set_tests_properties(targets_identical_resnet_l1_wchannel PROPERTIES FIXTURES_REQUIRED mnist TIMEOUT 900)
  # LeNet-5 on every target with one code path forced where it would not
  # run at batch 64:
  #   stream  the non-temporal GEMM stores (cg/gemm.c's .nt kernels):
  #           NITC_STREAM_BYTES=0 streams c1's forward (rows of 784 i32)
  #   ahead   rounding ahead (cg/round.c): NITC_AHEAD_BYTES=0 makes c1's and
  #           c2's forward round ahead (the workers' shared maximum is an
  #           atomic max on each target), stale samples redone
  foreach(forced "stream;NITC_STREAM_BYTES" "ahead;NITC_AHEAD_BYTES")
    list(GET forced 0 what)
    list(GET forced 1 var)
    add_test(NAME targets_identical_lenet5_${what}
      COMMAND ${CMAKE_CURRENT_LIST_DIR}/targets/cross.sh ${PROJECT_BINARY_DIR}
              ${PROJECT_SOURCE_DIR}/examples/lenet5.nit ${PROJECT_BINARY_DIR}/data/mnist 2000
              ${PROJECT_BINARY_DIR}/tests/cross_${what} "^(x86_64|x86_64-avx2|x86_64-sse2|aarch64|aarch64-sdot|riscv64)$")
    set_tests_properties(targets_identical_lenet5_${what} PROPERTIES FIXTURES_REQUIRED mnist TIMEOUT 900
      ENVIRONMENT "${var}=0")
  endforeach()
  # A run carried between targets by its checkpoint (targets/resume.sh):
  # one epoch on x86-64 resumed on AArch64 and RISC-V, and one on AArch64
  # resumed on x86-64, equal two epochs on x86-64; the same from inside the
  # second epoch (--max-steps). niti, the recipe with the
  # most state (masters, momenta, clip sites), and dense norm layers.
  foreach(model lenet5 lenet5_unified mlp_ln)
    add_test(NAME targets_resume_${model}
      COMMAND ${CMAKE_CURRENT_LIST_DIR}/targets/resume.sh ${PROJECT_BINARY_DIR}
              ${PROJECT_SOURCE_DIR}/examples/${model}.nit ${PROJECT_BINARY_DIR}/data/mnist 640
              ${PROJECT_BINARY_DIR}/tests/resume-across/${model} aarch64 riscv64)
    set_tests_properties(targets_resume_${model} PROPERTIES FIXTURES_REQUIRED mnist TIMEOUT 600)
  endforeach()
  # Random networks of every recipe against the reference on the cross
  # targets themselves (run_diff.sh with NITC_DIFF_VARIANT): the harness,
  # the reference, the front end and the runtime's S31 kernels built by
  # each cross compiler from the host targets' own source lists.
  set(xsrcs)
  foreach(lib diffrun nitref nitfront nitrt_s31 nitgen)
    get_target_property(srcs ${lib} SOURCES)
    get_target_property(dir ${lib} SOURCE_DIR)
    foreach(src ${srcs})
      if(NOT src MATCHES "\\.c$") # headers, and nitfront's $<TARGET_OBJECTS:nitgen> (nitgen is listed)
        continue()
      endif()
      cmake_path(ABSOLUTE_PATH src BASE_DIRECTORY ${dir})
      list(APPEND xsrcs ${src})
    endforeach()
  endforeach()
  set(xincs)
  foreach(lib diffrun nitref nitfront nitrt_s31)
    get_target_property(dirs ${lib} INCLUDE_DIRECTORIES)
    list(APPEND xincs ${dirs})
  endforeach()
  list(REMOVE_DUPLICATES xincs)
  list(TRANSFORM xincs PREPEND -I)
  # flex's and bison's output, compiled without our warnings
  set(quiet ${xsrcs})
  list(FILTER quiet INCLUDE REGEX "^${PROJECT_BINARY_DIR}/")
  foreach(triple aarch64-linux-gnu riscv64-linux-gnu)
    nit_archive(diffrun-${triple} OUTPUT ${PROJECT_BINARY_DIR}/tests/libdiffrun-${triple}.a
      OBJDIR ${PROJECT_BINARY_DIR}/tests/diffrun-${triple} CC ${NITRT_CC_${triple}} AR ${NITRT_AR_${triple}}
      SOURCES ${xsrcs} FLAGS ${xincs} WARN ${NITC_WARN} QUIET ${quiet} DEPENDS nitfront COMMENT "diffrun ${triple}")
    # the ranks harness (tests/codegen/ranks.c), linked with libnitrt-<triple>.a
    nit_archive(ranks-${triple} OUTPUT ${PROJECT_BINARY_DIR}/tests/libranks-${triple}.a
      OBJDIR ${PROJECT_BINARY_DIR}/tests/ranks-${triple} CC ${NITRT_CC_${triple}} AR ${NITRT_AR_${triple}}
      SOURCES ${CMAKE_CURRENT_LIST_DIR}/codegen/ranks.c FLAGS -I${PROJECT_SOURCE_DIR}/runtime WARN ${NITC_WARN}
      COMMENT "ranks ${triple}")
  endforeach()
  # variant:count, per recipe (other networks on each variant; RVV, slow
  # under qemu, with fewer), then half as many LeNet-like networks (gennet's
  # NITC_DIFF_POOLS: max pools between convs) under niti and ghaffari.
  # AArch64 without dotprod runs the lanes kernel, as RVV does: 9 (16 until
  # 2026-12-07, then 12; the others 16 until 13:55 that day, for CI's budget)
  set(seed 61)
  foreach(entry aarch64:9 aarch64-sdot:12 riscv64:12 riscv64-rvv:6)
    string(REPLACE ":" ";" entry "${entry}")
    list(GET entry 0 variant)
    foreach(kind niti ghaffari shiftquant unified pools_niti pools_ghaffari)
      list(GET entry 1 count)
      set(recipe ${kind})
      set(mode "NITC_ERR_REUSE=1;NITC_POOL_TAPS=1")
      if(kind MATCHES "^pools_(.*)$")
        math(EXPR count "${count} / 2")
        set(recipe ${CMAKE_MATCH_1})
        set(mode NITC_DIFF_POOLS=1)
        if(recipe STREQUAL "niti")
          set(mode "NITC_DIFF_POOLS=1;NITC_POOL_TAPS=1") # the kept taps, the relu's gate in them
        endif()
      endif()
      add_test(NAME codegen_cross_${variant}_${kind}
        COMMAND ${PROJECT_SOURCE_DIR}/tests/codegen/run_diff.sh ${PROJECT_BINARY_DIR} ${seed} ${count})
      set_tests_properties(codegen_cross_${variant}_${kind} PROPERTIES TIMEOUT 900
        ENVIRONMENT "NITC_DIFF_VARIANT=${variant};NITC_DIFF_RECIPE=${recipe};${mode};NITC_LINK_FLAGS=")
      math(EXPR seed "${seed} + 1")
    endforeach()
  endforeach()
  # Data parallelism on the cross targets (run_ranks.sh with
  # NITC_DIFF_VARIANT): 1, 2, 3 and 8 ranks as threads give one process's
  # bytes, for examples (a norm layer, the recipes with masters) and COUNT
  # random networks of each recipe, plus a third as many with the other
  # softmax (vgg_small alone takes over a minute and a half under qemu;
  # RISC-V, slower under qemu, with fewer)
  foreach(entry "aarch64-sdot:2:lenet5 mlp_ln lenet5_unified resnet_bn" "riscv64:1:lenet5 mlp_ln")
    string(REPLACE ":" ";" entry "${entry}")
    list(GET entry 0 variant)
    list(GET entry 1 count)
    list(GET entry 2 nets)
    add_test(NAME codegen_cross_${variant}_ranks
      COMMAND ${PROJECT_SOURCE_DIR}/tests/codegen/run_ranks.sh ${PROJECT_BINARY_DIR} ${PROJECT_SOURCE_DIR}/examples
              ${seed} ${count})
    set_tests_properties(codegen_cross_${variant}_ranks PROPERTIES TIMEOUT 900 ENVIRONMENT
      "NITC_DIFF_VARIANT=${variant};NITC_RANKS_EXAMPLES=${nets};NITC_LINK_FLAGS=")
    math(EXPR seed "${seed} + 1")
  endforeach()
else()
  message(STATUS "cross-target tests disabled (need qemu-user and the cross runtimes; off under sanitizers)")
endif()
