# What `cmake --install BUILD [--prefix DIR]` puts where:
#
#   bin/nitc                            the compiler
#   <libdir>/nitc/libnitrt-<triple>.a, .link   the runtime of every target
#                                       built, and the link flags it needs
#   <libdir>/nitc/libnitrt_mpi-<triple>.a, .link   the MPI runtime (nitc --mpi),
#                                       when mpicc was found
#   include/nitc/                       the runtime's headers (nitabi.h: the
#                                       contract with generated code)
#   share/man/manN/, share/nitc/completions/, share/nitc/editors/ (and the
#   shells' own completion directories): from man/, completions/ and editors/
#   when the source tree has them (cmake/install_extras.cmake, at install time)
#
# nitc finds its runtime relative to its own executable (emit.c), through
# NITC_RUNTIME_INSTALL_PATH (cmake/runtime_path.cmake), so the installed
# tree can be moved as a whole. Included by the top-level
# CMakeLists.txt after runtime/ and compiler/.
include(GNUInstallDirs)

install(TARGETS nitc RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
set_target_properties(nitc PROPERTIES INSTALL_RPATH_USE_LINK_PATH TRUE) # LLVM's library directory

foreach(triple ${NITRT_TRIPLES})
  install(FILES ${PROJECT_BINARY_DIR}/runtime/libnitrt-${triple}.a ${PROJECT_BINARY_DIR}/runtime/libnitrt-${triple}.link
    DESTINATION ${NITC_RUNTIME_LIBDIR})
endforeach()
if(NITRT_MPI) # nitc --mpi: the MPI runtime and its link flags
  install(FILES ${PROJECT_BINARY_DIR}/runtime/libnitrt_mpi-x86_64-linux-gnu.a
    ${PROJECT_BINARY_DIR}/runtime/libnitrt_mpi-x86_64-linux-gnu.link DESTINATION ${NITC_RUNTIME_LIBDIR})
endif()
install(FILES runtime/nitabi.h runtime/nitrt.h runtime/s31.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/nitc)

# Written by other work and possibly absent: looked at when installing, so a
# directory added after configuring is installed too.
install(CODE "set(NITC_SOURCE_DIR \"${PROJECT_SOURCE_DIR}\")
set(NITC_MANDIR \"${CMAKE_INSTALL_MANDIR}\")
set(NITC_DATADIR \"${CMAKE_INSTALL_DATADIR}\")")
install(SCRIPT ${PROJECT_SOURCE_DIR}/cmake/install_extras.cmake)

# `cmake --build BUILD --target uninstall`: removes what the last install
# put in place (cmake/uninstall.cmake).
add_custom_target(uninstall
  COMMAND ${CMAKE_COMMAND} -DMANIFEST=${PROJECT_BINARY_DIR}/install_manifest.txt -P ${PROJECT_SOURCE_DIR}/cmake/uninstall.cmake
  COMMENT "Uninstalling nitc (install_manifest.txt)"
  VERBATIM)
