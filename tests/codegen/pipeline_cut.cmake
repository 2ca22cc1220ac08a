# The optimizer's pipeline was cut for every target and level
# (cmake/pipelines.cmake): without a row, nitc still compiles, but runs the
# whole pipeline on one thread, silently slower. Every row's unit part must
# start at float2int, where LLVM's per-function optimization begins, and
# every row's module part must hold the inliner's per-function pipeline once
# (compiler/passes.c moves it into the units; without it, that half of the
# whole-module part would stay on one thread).
#   cmake -DINC=BUILD/compiler/pipelines.inc -P pipeline_cut.cmake
file(READ ${INC} text)
set(missing "")
foreach(arch x86_64 aarch64 riscv64)
  foreach(level 1 2 3)
    string(FIND "${text}" "PIPE(\"${arch}\", ${level}," at)
    if(at LESS 0)
      list(APPEND missing "${arch} -O${level}")
    endif()
  endforeach()
endforeach()
if(missing)
  message(FATAL_ERROR "no cut in LLVM's default pipeline for: ${missing} (is LLVM's opt installed?)")
endif()
string(REGEX MATCHALL "\n     \"function<eager-inv>\\(float2int," units "${text}")
list(LENGTH units n)
if(NOT n EQUAL 9)
  message(FATAL_ERROR "${n} of 9 unit parts start at float2int")
endif()
string(REPLACE ";" "," flat "${text}") # a ';' would split the matches into list items
string(REGEX MATCHALL "cgscc\\(devirt<4>\\(inline,[^\n]*function<eager-inv,no-rerun>\\(" inner "${flat}")
list(LENGTH inner n)
if(NOT n EQUAL 9)
  message(FATAL_ERROR "${n} of 9 module parts hold the inliner's per-function pipeline")
endif()
message(STATUS "pipeline cut for 3 targets x 3 levels")
