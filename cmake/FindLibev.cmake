# FindLibev.cmake -- locate libev (Debian ships no pkg-config file for it).
#
# Result variables:
#   Libev_FOUND, LIBEV_INCLUDE_DIRS, LIBEV_LIBRARIES, LIBEV_VERSION
# Cache variables (may be set by the user to point at a custom install):
#   LIBEV_INCLUDE_DIR  - directory containing ev.h
#   LIBEV_LIBRARY      - path to libev.so / libev.a
# Imported target:
#   Libev::Libev

find_path(LIBEV_INCLUDE_DIR
    NAMES ev.h
    PATH_SUFFIXES libev ev
    DOC "Directory containing libev's ev.h")

find_library(LIBEV_LIBRARY
    NAMES ev libev
    DOC "libev library")

if(LIBEV_INCLUDE_DIR AND EXISTS "${LIBEV_INCLUDE_DIR}/ev.h")
    file(STRINGS "${LIBEV_INCLUDE_DIR}/ev.h" _libev_version_lines
         REGEX "^#[ \t]*define[ \t]+EV_VERSION_(MAJOR|MINOR)[ \t]+[0-9]+")
    string(REGEX REPLACE ".*EV_VERSION_MAJOR[ \t]+([0-9]+).*" "\\1"
           _libev_major "${_libev_version_lines}")
    string(REGEX REPLACE ".*EV_VERSION_MINOR[ \t]+([0-9]+).*" "\\1"
           _libev_minor "${_libev_version_lines}")
    if(_libev_major MATCHES "^[0-9]+$" AND _libev_minor MATCHES "^[0-9]+$")
        set(LIBEV_VERSION "${_libev_major}.${_libev_minor}")
    endif()
    unset(_libev_version_lines)
    unset(_libev_major)
    unset(_libev_minor)
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Libev
    REQUIRED_VARS LIBEV_LIBRARY LIBEV_INCLUDE_DIR
    VERSION_VAR LIBEV_VERSION)

if(Libev_FOUND)
    set(LIBEV_INCLUDE_DIRS "${LIBEV_INCLUDE_DIR}")
    set(LIBEV_LIBRARIES "${LIBEV_LIBRARY}")
    if(NOT TARGET Libev::Libev)
        add_library(Libev::Libev UNKNOWN IMPORTED)
        set_target_properties(Libev::Libev PROPERTIES
            IMPORTED_LOCATION "${LIBEV_LIBRARY}"
            INTERFACE_INCLUDE_DIRECTORIES "${LIBEV_INCLUDE_DIR}")
    endif()
endif()

mark_as_advanced(LIBEV_INCLUDE_DIR LIBEV_LIBRARY)
