# Dependencies come from the system (Debian 12: nlohmann-json3-dev, libfmt-dev, libcpp-httplib-dev, libsqlite3-dev,
# doctest-dev). Nothing is downloaded.
find_package(fmt 9 CONFIG REQUIRED)
find_package(nlohmann_json 3.11 CONFIG REQUIRED)
if(SELFALIGN_WITH_SQLITE)
  include(selfalign_find_sqlite)
endif()
if(SELFALIGN_WITH_HTTP)
  include(selfalign_find_httplib)
endif()
