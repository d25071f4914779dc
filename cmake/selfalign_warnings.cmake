# Warnings and sanitizers for our own tests, examples and benchmarks; never on the INTERFACE targets.
# -Werror only with SELFALIGN_WARNINGS_AS_ERRORS (OFF by default, so that a newer compiler's new
# warning does not stop someone building the tests; scripts/test.sh and CI turn it ON).
function(selfalign_developer_target target)
  # Every format string of the library checked at compile time in selfalign's own builds
  # (detail/format.hpp); users' builds skip the check, which is a large share of the compile cost.
  target_compile_definitions(${target} PRIVATE SELFALIGN_CHECK_FORMAT_STRINGS)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
    if(SELFALIGN_WARNINGS_AS_ERRORS)
      target_compile_options(${target} PRIVATE -Werror)
    endif()
  endif()
  if(SELFALIGN_SANITIZE)
    string(REPLACE ";" "," _san "${SELFALIGN_SANITIZE}")
    target_compile_options(${target} PRIVATE -fsanitize=${_san} -fno-omit-frame-pointer -fno-sanitize-recover=all)
    target_link_options(${target} PRIVATE -fsanitize=${_san})
  endif()
endfunction()
