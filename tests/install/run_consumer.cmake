# Builds tests/install/consumer against selfalign, either installed (MODE=find_package) or as a
# subdirectory (MODE=add_subdirectory), then runs the consumer program.
set(_dir "${WORK_DIR}/${MODE}")
file(REMOVE_RECURSE "${_dir}")
file(MAKE_DIRECTORY "${_dir}")

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
endfunction()

if(MODE STREQUAL "find_package")
  run(${CMAKE_COMMAND} -S ${SELFALIGN_SOURCE_DIR} -B ${_dir}/selfalign-build -G ${CMAKE_GENERATOR}
      -DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER} -DSELFALIGN_BUILD_TESTS=OFF -DSELFALIGN_BUILD_EXAMPLES=OFF
      -DSELFALIGN_BUILD_BENCHMARKS=OFF -DSELFALIGN_INSTALL=ON -DCMAKE_INSTALL_PREFIX=${_dir}/prefix)
  run(${CMAKE_COMMAND} --build ${_dir}/selfalign-build)  # selfalign::compiled, a static library
  run(${CMAKE_COMMAND} --install ${_dir}/selfalign-build)
  if(NOT EXISTS "${_dir}/prefix/share/pkgconfig/selfalign.pc")
    message(FATAL_ERROR "the install has no selfalign.pc")
  endif()
  # The CMake target links Threads; a pkg-config user needs -pthread too (issue 17).
  find_program(_pkg_config pkg-config)
  if(_pkg_config)
    execute_process(COMMAND ${CMAKE_COMMAND} -E env "PKG_CONFIG_PATH=${_dir}/prefix/share/pkgconfig"
                            ${_pkg_config} --libs selfalign
                    RESULT_VARIABLE _rc OUTPUT_VARIABLE _libs ERROR_VARIABLE _err)
  else()
    file(STRINGS "${_dir}/prefix/share/pkgconfig/selfalign.pc" _libs REGEX "^Libs:")
    set(_rc 0)
  endif()
  if(NOT _rc EQUAL 0 OR NOT _libs MATCHES "-pthread")
    message(FATAL_ERROR "pkg-config --libs selfalign lacks -pthread: '${_libs}' ${_err}")
  endif()
  if(NOT EXISTS "${_dir}/prefix/share/pkgconfig/selfalign-sqlite.pc")
    message(FATAL_ERROR "the install has no selfalign-sqlite.pc")
  endif()
  set(_extra -DCMAKE_PREFIX_PATH=${_dir}/prefix)
else()
  set(_extra -DSELFALIGN_SUBDIR=${SELFALIGN_SOURCE_DIR})
endif()
run(${CMAKE_COMMAND} -S ${SELFALIGN_SOURCE_DIR}/tests/install/consumer -B ${_dir}/consumer-build -G ${CMAKE_GENERATOR}
    -DCMAKE_CXX_COMPILER=${CMAKE_CXX_COMPILER} -DCONSUMER_MODE=${MODE} ${_extra})
run(${CMAKE_COMMAND} --build ${_dir}/consumer-build)
run(${_dir}/consumer-build/consumer)
run(${_dir}/consumer-build/consumer_compiled)
run(${_dir}/consumer-build/consumer_own_src)
if(EXISTS "${_dir}/consumer-build/consumer_sqlite")
  run(${_dir}/consumer-build/consumer_sqlite ${_dir})
elseif(MODE STREQUAL "find_package")
  message(FATAL_ERROR "the installed package has no selfalign::sqlite (is libsqlite3-dev installed?)")
endif()
message(STATUS "consumer (${MODE}) built and ran")
