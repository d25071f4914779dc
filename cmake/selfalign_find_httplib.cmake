# Finds cpp-httplib and provides the target selfalign::httplib.
# Upstream installs a CMake package (httplib::httplib); Debian's libcpp-httplib-dev is a compiled
# library with only a pkg-config file whose Cflags carry the CPPHTTPLIB_*_SUPPORT macros that the
# library was built with. Both work; the macros must reach every translation unit that includes
# <httplib.h>, which the pkg-config target guarantees.
if(NOT TARGET selfalign::httplib)
  find_package(httplib CONFIG QUIET)
  if(httplib_FOUND AND TARGET httplib::httplib)
    add_library(selfalign::httplib INTERFACE IMPORTED)
    set_target_properties(selfalign::httplib PROPERTIES INTERFACE_LINK_LIBRARIES httplib::httplib)
  else()
    find_package(PkgConfig QUIET)
    if(PkgConfig_FOUND)
      pkg_check_modules(SELFALIGN_CPPHTTPLIB QUIET IMPORTED_TARGET cpp-httplib)
      if(SELFALIGN_CPPHTTPLIB_FOUND)
        add_library(selfalign::httplib INTERFACE IMPORTED)
        set_target_properties(selfalign::httplib PROPERTIES INTERFACE_LINK_LIBRARIES PkgConfig::SELFALIGN_CPPHTTPLIB)
      endif()
    endif()
  endif()
endif()
