/* The run cycle (SPEC §4) and what run, rerun and ack share: the run lock, one run lifecycle
 * (record, audit, checkpoint, metrics), derivation, emission, manifests, executors and the
 * recording of receipts. */
#ifndef LETHE_CYCLE_H
#define LETHE_CYCLE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "ctx.h"
#include "timefmt.h"

/* Tenants are hashed into this many buckets, Citus's shards (lethe.shard_of in
 * sql/0027_shard_placement.sql); --shard K/N takes N up to it. */
#define LETHE_SHARD_BUCKETS 32

struct run_opts {
    char as_of[TIME_TEXT_LEN]; /* empty: the database's now() */
    bool dry_run;
    int shard_k, shard_n;      /* shard_n = 0: every tenant */
    const char *operator_name; /* --operator: an operator's run */
    const char *metrics_file;
    bool json;                 /* --json: the summary, or the plan, as JSON (engine/report.c) */
    bool items;                /* --items: a dry run lists its items */
};

#define RUN_TIMEOUT_LOCATIONS 16
struct run_counts {
    long events, items, obligations, withdrawn, expanded;
    long due, held, batches, purged, failed, failed_batches, redriven;
    long repurged; /* repurges done: items purged before, deleted again (in none of the above) */
    long left_open, left_open_items; /* batches left for a location whose deleter timed out */
    double secs_manifest, secs_executor, secs_ack; /* where driving the batches went */
    /* The locations whose deleter timed out in this run, and on which batch: their other
     * batches are left open for the next run (cycle_timed_out). */
    int n_timed_out;
    struct {
        char location[64], batch_id[40];
    } timed_out[RUN_TIMEOUT_LOCATIONS];
};

/* The batch on which LOCATION's deleter timed out in this run, or NULL: a run does not wait a
 * whole timeout again for each of that location's other batches (they stay open, and the next
 * run drives them), so that one region's hung deleter does not hold up the others. */
const char *cycle_timed_out(const struct run_counts *c, const char *location);

/* One run from its record to its checkpoint. run and rerun both go through it. */
struct run_life {
    char as_of[TIME_TEXT_LEN];
    char shard[40];            /* "K/N" or "" */
    int shard_k, shard_n;
    const char *operator_name; /* an operator's run when set */
    const char *trigger;       /* runs.trigger: "rerun"; NULL: "operator" or "timer" */
    const char *metrics_file;
    struct run_counts c;
    const char *outcome;       /* succeeded, failed, interrupted */
    char error[512];           /* why, carried to the run record as a value */
    struct timespec t0;
};

/* Records the run's start (run record, run_started) and marks runs of an overlapping shard set
 * that a dead process left 'running' as died. Needs the lock. */
bool run_life_begin(struct lethe_ctx *ctx, struct run_life *l);
/* Records the end: run record, run_finished, checkpoint, metrics. False when that failed. */
bool run_life_end(struct lethe_ctx *ctx, struct run_life *l);
/* Marks the run failed with the first reason given; later reasons are logged by the caller. */
void run_life_fail(struct run_life *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Marks the run interrupted by a stop request (unless it already failed). */
void run_life_interrupt(struct run_life *l, const char *what);

/* Every executor.locations key must name a geo of lethe.geos: EXIT_USAGE (with the file,
 * line and hint) when one does not; said as a warning when warn_only (status). */
int cycle_check_executors(struct lethe_ctx *ctx, bool warn_only);

/* The derivation of every tenant (§3), as a run makes it: the inbox filled, then in a
 * transaction of its own the config's rules synced, new events and items consumed, obligations
 * expanded and withdrawn, and after its commit the records of the withdrawals it made (on Citus
 * the derivation writes as the engine's login and the emission as the owner, and one
 * transaction may not write the same shards as two users). Call it outside a transaction. A
 * rerun derives before it batches a failed batch's items again, so that a withdrawal is
 * honoured. */
bool cycle_record_withdrawals(struct lethe_ctx *ctx, const char *k, const char *n);
bool cycle_derive_all(struct lethe_ctx *ctx, const struct run_life *run, struct run_counts *c);

/* lethe run. Returns an exit code. */
int cycle_run(struct lethe_ctx *ctx, const struct run_opts *o);

/* Takes the run lock: the whole catalog when shard_n = 0, else shard K of N, refused while a
 * run with an overlapping shard set (no shard, or another N) holds its lock. On contention
 * prints the holder and returns EXIT_LOCKED. Returns EXIT_DONE when held. */
int cycle_lock(struct lethe_ctx *ctx, int shard_k, int shard_n);
/* Names the run lock's holder in an error, after a command failed to take it. */
void cycle_name_lock_holder(struct lethe_ctx *ctx, const char *what, int k, int n);

enum drive_outcome {
    DRIVE_ERROR,        /* a runtime failure: the batch is left open, nothing lost */
    DRIVE_STOPPED,      /* a stop request came before the executor started */
    DRIVE_WAITING,      /* no executor: the manifest waits for 'lethe ack' */
    DRIVE_ACKNOWLEDGED, /* every item purged */
    DRIVE_FAILED,       /* some items failed (receipts, or none) */
    DRIVE_WHOLE_FAILED, /* the executor failed as a whole (exit status, signal or timeout)
                         * and left items without a receipt */
};

/* Writes a batch's manifest and, when an executor serves its location, runs it and records
 * its receipts. Adds to c's purged, failed and failed_batches. On DRIVE_ERROR, why says what. */
enum drive_outcome cycle_drive_batch(struct lethe_ctx *ctx, const char *batch_id,
                                     const char *location, const char *operator_name,
                                     struct run_counts *c, char *why, size_t why_len);

struct exec_result;
/* Records the receipts of one attempt (or an operator's ack when ack_rest: every item not
 * listed failed is acknowledged) in one transaction with its audit records. PRIOR (16 bytes,
 * may be NULL) gets the batch's state as that transaction found it: a batch closed since the
 * caller looked (an acknowledgement made meanwhile) is not counted as failed by this one, and
 * failed receipts for items it purged are warned of, with the way to find what was left. */
enum drive_outcome cycle_record_ack(struct lethe_ctx *ctx, const char *batch_id,
                                    const struct exec_result *er, const char *operator_name,
                                    bool ack_rest, struct run_counts *c, char *prior);

/* Warns that N failed receipts given for batch BATCH, which was HOW ("acknowledged already",
 * ...), change nothing: its items are purged and on record (an ack is idempotent, SPEC §4), but
 * the object may still be in storage, and the hint says how to find it. PREFIX: "ack: " or "". */
void cycle_warn_failed_after_purge(const char *prefix, const char *batch, const char *how, long n);

/* Installs SIGTERM/SIGINT handlers that set a flag, which cycle_stopping() reads, and say once on
 * stderr (as log lines are written there) that ctx->command stops at the next safe point (not
 * with -q); the run id is ctx->session_id from here on. SIGPIPE is ignored: a closed stdout or
 * stderr does not stop a run. */
void cycle_trap_signals(const struct lethe_ctx *ctx);
/* Handlers for the time before the run begins (from its options on), or before COMMAND (reconcile,
 * replay) commits: a SIGTERM or SIGINT then ends the process at once, exit 1, saying that nothing
 * was written. It killed it, exit 143, outside SPEC §6's table. cycle_trap_signals (run, rerun)
 * and cycle_trap_signals_committed (reconcile, replay) replace them. */
void cycle_trap_signals_early(const char *command);
/* Handlers from just before reconcile or replay commits: a stop then sets the flag (the anchor
 * line's wait for records committed late ends at once) and the command finishes, saying so. */
void cycle_trap_signals_committed(const struct lethe_ctx *ctx);
/* The metrics file (NULL: none) of the run this process is to make, for shard K/N; then, as
 * the process ends with RC, lethe_run_success set to 0 in it when the run failed before
 * writing it (a usage error, the database out of reach, the audit behind its anchors). */
void cycle_metrics_arm(const char *file, int k, int n);
void cycle_metrics_after(int rc);
bool cycle_stopping(void);
/* From here, each commit of COMMAND's audit records first waits, saying so and stopping on a
 * signal, while another session's uncommitted record holds a chain it appends to. */
void cycle_heads_watch(const char *command);
/* What a wait for a fence says: at once, COMMAND ": " FIRST (info); each minute, that it is still
 * waiting for WHAT (its session holds LOCK), and HINT. */
struct fence_words {
    const char *command, *first, *what, *lock, *hint;
};
/* Tries TRY_FENCE (1 taken, 0 not yet, -1 error) every 50 ms until it takes its fence, saying
 * so as W says. 1 once taken, 0 when a stop was asked for first (cycle_stopping), 2 once BOUND
 * seconds have passed without it (0: no bound), -1 on error. */
int cycle_fence_wait(PGconn *db, int (*try_fence)(PGconn *), const struct fence_words *w,
                     int bound);

/* Takes the hold fence shared in the caller's transaction (dbcycle.h), a try every 50 ms: a hold
 * being placed holds it until its commit, which a synchronous standby that is down holds up
 * for as long as it is down, and a stop request meanwhile was heeded only once the hold
 * committed (a SIGTERM waited ten minutes). The wait is said, as COMMAND's. False after
 * marking run L failed (an error) or interrupted (a stop requested first). */
bool cycle_hold_fence(PGconn *db, const char *command, struct run_life *l);

#endif
