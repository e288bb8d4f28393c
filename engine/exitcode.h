/* The one table of exit codes (SPEC §6). A number never changes meaning;
 * every job returns one of these and nothing else. */
#ifndef LETHE_EXITCODE_H
#define LETHE_EXITCODE_H

enum lethe_exit {
    EXIT_DONE = 0,         /* done */
    EXIT_RUNTIME = 1,      /* runtime failure, including an interrupted run */
    EXIT_USAGE = 2,        /* usage or configuration error, malformed id or time */
    EXIT_LOCKED = 3,       /* the run lock is held by another run */
    EXIT_CHECK_FAILED = 4, /* verify found a broken chain, or status --check found trouble */
};

#endif
