# `cmake --build BUILD --target uninstall`: removes what the last
# `cmake --install BUILD` installed, as listed in BUILD/install_manifest.txt
# (honouring DESTDIR like the install), then the directories of nitc's own
# (a path component named nitc: <libdir>/nitc, <includedir>/nitc,
# <datadir>/nitc and below) that are left empty. Shared directories such as
# bin/ or share/man/man1/ stay, whatever they hold.
#
# MANIFEST is set by the target (the top-level CMakeLists.txt).
if(NOT EXISTS "${MANIFEST}")
  message(FATAL_ERROR "nothing to uninstall: ${MANIFEST} is missing (cmake --install writes it)")
endif()
file(STRINGS "${MANIFEST}" files)
set(dirs)
set(removed 0)
foreach(f ${files})
  set(p "$ENV{DESTDIR}${f}")
  if(IS_SYMLINK "${p}" OR EXISTS "${p}")
    file(REMOVE "${p}")
    if(IS_SYMLINK "${p}" OR EXISTS "${p}")
      message(FATAL_ERROR "cannot remove ${p}")
    endif()
    message(STATUS "Removed: ${p}")
    math(EXPR removed "${removed} + 1")
  else()
    message(STATUS "Already gone: ${p}")
  endif()
  get_filename_component(d "${p}" DIRECTORY)
  if(d MATCHES "/nitc(/|$)")
    list(APPEND dirs "${d}")
  endif()
endforeach()
# children sort after their parents: descending order visits them first
if(dirs)
  list(REMOVE_DUPLICATES dirs)
  list(SORT dirs ORDER DESCENDING)
endif()
foreach(d ${dirs})
  while(IS_DIRECTORY "${d}" AND d MATCHES "/nitc(/|$)")
    file(GLOB left LIST_DIRECTORIES true "${d}/*" "${d}/.*")
    if(left)
      break()
    endif()
    file(REMOVE_RECURSE "${d}")
    message(STATUS "Removed the empty directory ${d}")
    get_filename_component(d "${d}" DIRECTORY)
  endwhile()
endforeach()
message(STATUS "nitc: ${removed} files uninstalled")
