// This program's one translation unit that defines selfalign's non-template functions (separate
// compilation without the selfalign::compiled target).
#include <selfalign/src.hpp>
