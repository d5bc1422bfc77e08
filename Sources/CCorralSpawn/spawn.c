#include "corral_spawn.h"
int corral_spawn_placeholder(void) { return 0; }
