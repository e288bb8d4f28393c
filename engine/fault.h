/* Fault injection for the crash tests: LETHE_FAULT=POINT[@N] kills the process with SIGKILL
 * at the N-th pass (default 1st) through the named point. Without the variable (as in
 * production) every call is a no-op. */
#ifndef LETHE_FAULT_H
#define LETHE_FAULT_H

#include <stdbool.h>

void fault_point(const char *name);
/* True when the named failure should be simulated now (e.g. "enospc"). */
bool fault_active(const char *name);

#endif
