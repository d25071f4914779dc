// Compiles against selfalign::openai when the install provides it.
#include <selfalign/selfalign.hpp>
int main() { return 0; }
