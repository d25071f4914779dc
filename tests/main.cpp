// selfalign tests: the one doctest main, built once as an object library
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
