// The selfalign::compiled library: every non-template function of selfalign, defined once.
#include <selfalign/src.hpp>
