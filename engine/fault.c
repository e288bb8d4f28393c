/* Named fault points; inert unless LETHE_FAULT is set. */
#include "fault.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static int passes;

static bool matches(const char *name, int *at)
{
    const char *f = getenv("LETHE_FAULT");
    if (!f || !*f)
        return false;
    size_t n = strlen(name);
    if (strncmp(f, name, n) != 0 || (f[n] != '\0' && f[n] != '@'))
        return false;
    *at = f[n] == '@' ? atoi(f + n + 1) : 1;
    return true;
}

void fault_point(const char *name)
{
    int at;
    if (matches(name, &at) && ++passes >= at)
        raise(SIGKILL);
}

bool fault_active(const char *name)
{
    int at;
    return matches(name, &at);
}
