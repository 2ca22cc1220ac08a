# nit_archive: a static archive built by a compiler CMake does not drive (a
# cross compiler, or the host's plain cc for the runtime that nitc links),
# for runtime/CMakeLists.txt and tests/targets.cmake.
#
#   nit_archive(NAME OUTPUT lib.a OBJDIR dir CC cc AR ar SOURCES file.c...
#               [FLAGS flag...] [WARN flag...] [O3 file.c...] [QUIET file.c...]
#               [OBJECTS file.o...] [DEPENDS file-or-target...] [COMMENT text])
#
# One custom command per source: -O2 -std=c11 (-O3 for the sources in O3),
# FLAGS, and WARN (-w instead for the sources in QUIET, such as flex's and
# bison's output), with a depfile for the headers it includes; then
# `ar rcs` into OUTPUT with the OBJECTS built elsewhere (another archive's),
# and a target NAME, part of ALL, that builds it.
# Sources are absolute paths. Objects are named after their sources without
# the last extension, so two sources of one such name are refused. Sets
# NAME_OBJS in the caller's scope (the objects, in SOURCES' order).
function(nit_archive name)
  cmake_parse_arguments(PARSE_ARGV 1 A "" "OUTPUT;OBJDIR;CC;AR;COMMENT" "SOURCES;FLAGS;WARN;O3;DEPENDS;QUIET;OBJECTS")
  if(A_UNPARSED_ARGUMENTS OR NOT A_OUTPUT OR NOT A_OBJDIR OR NOT A_CC OR NOT A_AR OR NOT A_SOURCES)
    message(FATAL_ERROR "nit_archive(${name}): needs OUTPUT, OBJDIR, CC, AR and SOURCES "
                        "(unexpected: ${A_UNPARSED_ARGUMENTS})")
  endif()
  if(NOT A_COMMENT)
    set(A_COMMENT ${name})
  endif()
  set(objs)
  set(bases)
  foreach(src ${A_SOURCES})
    get_filename_component(base ${src} NAME_WLE)
    get_filename_component(file ${src} NAME)
    if(base IN_LIST bases)
      message(FATAL_ERROR "nit_archive(${name}): two sources named ${base}.*; objects are named after sources")
    endif()
    list(APPEND bases ${base})
    set(obj ${A_OBJDIR}/${base}.o)
    set(opt -O2)
    if(src IN_LIST A_O3)
      set(opt -O3)
    endif()
    set(warn ${A_WARN})
    if(src IN_LIST A_QUIET)
      set(warn -w)
    endif()
    add_custom_command(OUTPUT ${obj}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${A_OBJDIR}
      COMMAND ${A_CC} ${opt} -std=c11 ${A_FLAGS} ${warn} -MD -MF ${obj}.d -c ${src} -o ${obj}
      DEPENDS ${src} ${A_DEPENDS}
      DEPFILE ${obj}.d
      COMMENT "${A_COMMENT}: ${file}"
      VERBATIM)
    list(APPEND objs ${obj})
  endforeach()
  get_filename_component(file ${A_OUTPUT} NAME)
  add_custom_command(OUTPUT ${A_OUTPUT}
    COMMAND ${CMAKE_COMMAND} -E rm -f ${A_OUTPUT}
    COMMAND ${A_AR} rcs ${A_OUTPUT} ${objs} ${A_OBJECTS}
    DEPENDS ${objs} ${A_OBJECTS}
    COMMENT "${A_COMMENT}: ${file}"
    VERBATIM)
  add_custom_target(${name} ALL DEPENDS ${A_OUTPUT})
  set(${name}_OBJS ${objs} PARENT_SCOPE)
endfunction()
