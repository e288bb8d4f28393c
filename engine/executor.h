/* Runs one executor for one batch (SPEC §4): the manifest path as its argument, the batch id
 * and location in its environment, a timeout that kills its whole process group. Knows
 * nothing of the database: the caller records the outcome. */
#ifndef LETHE_EXECUTOR_H
#define LETHE_EXECUTOR_H

#include <stdbool.h>

#include "ids.h"

struct exec_failed {
    char item_id[UUID_TEXT_LEN];
    char *reason;
};

struct exec_result {
    bool ok;            /* exit 0 within the timeout: every item not listed failed is acknowledged */
    bool timed_out;
    int exit_code;      /* -1 when killed by a signal or never started */
    char detail[128];   /* fixed words for the audit: "exit status 3", "timed out after 900s" */
    char *stderr_tail;  /* the last lines of its stderr, for the batch record (never the audit) */
    struct exec_failed *failed;
    int n_failed;
};

/* command is run through /bin/sh so that it may carry arguments of its own. */
bool executor_run(const char *command, const char *manifest, const char *batch_id,
                  const char *location, long timeout_seconds, struct exec_result *out);
void exec_result_free(struct exec_result *r);

#endif
