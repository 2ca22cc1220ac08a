# Run by `cmake --install` (install(SCRIPT) in cmake/install.cmake): the
# manual pages, shell completions and editor files, each only when its
# directory exists in the source tree.
#
#   man/**/NAME.N            -> <mandir>/manN/NAME.N
#   completions/             -> <datadir>/nitc/completions/ (all of it), and
#     nitc.bash or bash/nitc -> <datadir>/bash-completion/completions/nitc
#     _nitc or nitc.zsh      -> <datadir>/zsh/vendor-completions/_nitc
#     nitc.fish              -> <datadir>/fish/vendor_completions.d/nitc.fish
#   editors/                 -> <datadir>/nitc/editors/
#
# NITC_SOURCE_DIR, NITC_MANDIR and NITC_DATADIR are set just before.
# file(INSTALL) honours DESTDIR and prints each file like the other rules.
set(prefix "${CMAKE_INSTALL_PREFIX}")
foreach(v NITC_MANDIR NITC_DATADIR)
  if(NOT IS_ABSOLUTE "${${v}}")
    set(${v} "${prefix}/${${v}}")
  endif()
endforeach()

set(src "${NITC_SOURCE_DIR}/man")
if(IS_DIRECTORY "${src}")
  file(GLOB_RECURSE pages "${src}/*")
  foreach(page ${pages})
    get_filename_component(name "${page}" NAME)
    if(name MATCHES "\\.([1-9])$")
      file(INSTALL "${page}" DESTINATION "${NITC_MANDIR}/man${CMAKE_MATCH_1}")
    endif()
  endforeach()
endif()

set(src "${NITC_SOURCE_DIR}/completions")
if(IS_DIRECTORY "${src}")
  file(INSTALL "${src}/" DESTINATION "${NITC_DATADIR}/nitc/completions")
  foreach(pair "nitc.bash|bash-completion/completions|nitc" "bash/nitc|bash-completion/completions|nitc"
          "_nitc|zsh/vendor-completions|_nitc" "nitc.zsh|zsh/vendor-completions|_nitc"
          "zsh/_nitc|zsh/vendor-completions|_nitc" "nitc.fish|fish/vendor_completions.d|nitc.fish"
          "fish/nitc.fish|fish/vendor_completions.d|nitc.fish")
    string(REPLACE "|" ";" pair "${pair}")
    list(GET pair 0 from)
    list(GET pair 1 dir)
    list(GET pair 2 to)
    if(EXISTS "${src}/${from}" AND NOT IS_DIRECTORY "${src}/${from}")
      file(INSTALL "${src}/${from}" DESTINATION "${NITC_DATADIR}/${dir}" RENAME "${to}")
    endif()
  endforeach()
endif()

set(src "${NITC_SOURCE_DIR}/editors")
if(IS_DIRECTORY "${src}")
  file(INSTALL "${src}/" DESTINATION "${NITC_DATADIR}/nitc/editors")
endif()
