# nitc_runtime_path(BINDIR LIBDIR FULL_LIBDIR OUT): where the installed nitc
# looks for its runtime (compiler/emit.c, NITC_RUNTIME_INSTALL_PATH).
#
# With both install directories relative to the prefix (the default: bin
# and lib), OUT is the path from BINDIR to LIBDIR/nitc, "../lib/nitc", which
# holds wherever the prefix is put: at configure time, by `cmake --install
# --prefix`, or by moving the installed tree. With either one absolute,
# the two no longer move together, and OUT is the absolute FULL_LIBDIR/nitc:
# the runtime stays where it was installed and nitc finds it from anywhere.
# tests/cli/install.sh calls this with -P to check both cases.
function(nitc_runtime_path bindir libdir full_libdir out)
  if(IS_ABSOLUTE "${bindir}" OR IS_ABSOLUTE "${libdir}")
    set(${out} "${full_libdir}/nitc" PARENT_SCOPE)
  else()
    file(RELATIVE_PATH rel "/prefix/${bindir}" "/prefix/${libdir}/nitc")
    set(${out} "${rel}" PARENT_SCOPE)
  endif()
endfunction()

# cmake -DBINDIR=... -DLIBDIR=... -DFULL_LIBDIR=... -P runtime_path.cmake
# prints the path (the test's entry).
if(CMAKE_SCRIPT_MODE_FILE STREQUAL CMAKE_CURRENT_LIST_FILE)
  nitc_runtime_path("${BINDIR}" "${LIBDIR}" "${FULL_LIBDIR}" path)
  message("${path}")
endif()
