/* Runs one executor for one batch (SPEC §4): the command through /bin/sh with the manifest
 * path appended, the batch id and location in its environment, receipts read from its stdout,
 * a timeout that kills its whole process group, and a guard that kills the group should lethe
 * die first. Knows nothing of the database: the caller records the outcome. */
#ifndef LETHE_EXECUTOR_H
#define LETHE_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>

#include "ids.h"

/* One receipt: "deleted <id>" and "absent <id>" acknowledge (reason NULL); "failed <id>
 * <reason>" does not (reason is cleaned text, never NULL). */
struct exec_receipt {
    char item_id[UUID_TEXT_LEN];
    char *reason;
};

/* The items of a batch, as its manifest names them: sorted, each once, with the receipts
 * already taken for each. A receipt is kept once per item and kind; one for another item is
 * counted and dropped. So what an executor prints costs memory in proportion to its batch,
 * however many lines it prints (a deleter stuck repeating a receipt, a stream of foreign ids). */
struct exec_items {
    char (*ids)[UUID_TEXT_LEN];
    unsigned char *seen; /* 1: acknowledged, 2: failed */
    size_t n, cap;
};
bool exec_items_add(struct exec_items *s, const char *item_id);
/* Sorts and removes repeats; call once all are added. False when out of memory. */
bool exec_items_seal(struct exec_items *s);
void exec_items_free(struct exec_items *s);

struct exec_result {
    bool ok;            /* exit 0 within the timeout */
    bool timed_out;
    bool left_behind;   /* timed out after it exited: a process it left kept its output open */
    int exit_code;      /* -1 when killed by a signal or never started */
    char detail[128];   /* fixed words for the audit: "exit status 3", "timed out after 900s" */
    char *stderr_tail;  /* the last lines of its stderr, cleaned, for the batch record only */
    long tail_dropped;  /* lines of its stderr before those, not kept there */
    struct exec_receipt *acked;  /* deleted and absent receipts */
    int n_acked;
    struct exec_receipt *failed; /* failed receipts */
    int n_failed;
    long ignored;       /* lines that were not receipts */
    struct exec_items *items; /* the batch's items, when known; NULL: every receipt is kept */
    long foreign;       /* receipts for items not in the batch, dropped */
    long repeated;      /* receipts given before for the same item and kind, dropped */
    bool stdout_begun;  /* a stdout line was read: a byte order mark is skipped only before it */
    char where[96];     /* "batch ID (LOCATION)": lethe's own words on its stdout name the batch,
                           as several locations' deleters run one after another */
};

/* Appends a receipt to r (reason NULL: an acknowledgement). False when out of memory. */
bool exec_result_add(struct exec_result *r, const char *item_id, const char *reason);

/* ITEMS (may be NULL) are the batch's items: receipts are kept only for them, once each. */
bool executor_run(const char *command, const char *manifest, const char *batch_id,
                  const char *location, long timeout_seconds, struct exec_items *items,
                  struct exec_result *out);
void exec_result_free(struct exec_result *r);

#endif
