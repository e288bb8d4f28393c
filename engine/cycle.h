/* The run cycle (SPEC §4) and the batch driving that run, rerun and ack share: the run lock,
 * the run record, derivation, emission, manifests, executors and acknowledgement. */
#ifndef LETHE_CYCLE_H
#define LETHE_CYCLE_H

#include <stdbool.h>

#include "ctx.h"
#include "timefmt.h"

struct run_opts {
    char as_of[TIME_TEXT_LEN]; /* empty: the database's now() */
    bool dry_run;
    int shard_k, shard_n;      /* shard_n = 0: every tenant */
    const char *operator_name; /* --operator: an operator's run */
    const char *metrics_file;
    bool json;                 /* --json: the summary, or the plan, as JSON (engine/report.c) */
    bool items;                /* --items: a dry run lists its items */
};

struct run_counts {
    long events, items, obligations, withdrawn, expanded;
    long due, held, batches, purged, failed, redriven;
};

/* lethe run. Returns an exit code. */
int cycle_run(struct lethe_ctx *ctx, const struct run_opts *o);

/* Takes the run lock (all shards when shard_n = 0); on contention prints the holder and
 * returns EXIT_LOCKED. Returns EXIT_DONE when held. */
int cycle_lock(struct lethe_ctx *ctx, int shard_k, int shard_n);

/* Writes a batch's manifest and, when an executor serves its location, runs it and records
 * the acknowledgement. Adds to *purged and *failed. False on a runtime failure (the batch is
 * left open, nothing lost). */
bool cycle_drive_batch(struct lethe_ctx *ctx, const char *batch_id, const char *location,
                       const char *operator_name, long *purged, long *failed);

struct exec_result;
/* Records an acknowledgement (or a whole-batch failure when er->ok is false) in one
 * transaction with its audit records. */
bool cycle_record_ack(struct lethe_ctx *ctx, const char *batch_id, const struct exec_result *er,
                      const char *operator_name, long *purged, long *failed);

/* Installs SIGTERM/SIGINT handlers that only set a flag; cycle_stopping() reads it. */
void cycle_trap_signals(void);
bool cycle_stopping(void);

#endif
