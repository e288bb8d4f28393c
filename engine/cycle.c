/* The run cycle: lock, record, derive, re-drive, emit, drive, prune, finish. Every step that
 * matters is one transaction; between them a kill loses nothing, because the next run
 * re-drives open batches and items are tombstoned only on acknowledgement. */
#define _POSIX_C_SOURCE 200809L
#include "cycle.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "anchor.h"
#include "atomicfile.h"
#include "audit.h"
#include "dbaudit.h"
#include "dbcycle.h"
#include "dbrestore.h"
#include "dbstatus.h"
#include "db.h"
#include "executor.h"
#include "exitcode.h"
#include "fault.h"
#include "log.h"
#include "manifest.h"
#include "report.h"

#define LOCK_CLASS 7283310
#define SHARD_CLASS 7283311

static volatile sig_atomic_t stop_flag;
/* Said once, at the first signal: an operator's Ctrl-C during a 15-minute executor was met with
 * silence until the run ended. Written by the handler itself (write(2) is async-signal-safe), so
 * it is made before. */
static char stop_notice[384], again_notice[384];
static size_t stop_notice_len, again_notice_len;

static void on_signal(int sig)
{
    (void)sig;
    /* A second Ctrl-C was met with silence, as if the run were stuck: it is answered too. */
    const char *notice = stop_flag ? again_notice : stop_notice;
    size_t len = stop_flag ? again_notice_len : stop_notice_len;
    if (len) {
        int saved = errno;
        (void)!write(STDERR_FILENO, notice, len);
        errno = saved;
    }
    stop_flag = 1;
}

/* Before the run has begun nothing is half done: the process ends at once, exit 1 (a
 * transaction under way, such as the anchor check's, is rolled back by the server). */
static char early_notice[256];
static size_t early_notice_len;

static void on_signal_early(int sig)
{
    (void)sig;
    int saved = errno;
    /* A statement waiting on a lock kept its transaction and the run lock after the process was
     * gone, until it ended: the next run exited 3 (an outside tryout's finding). */
    db_cancel_from_signal();
    errno = saved;
    (void)!write(STDERR_FILENO, early_notice, early_notice_len);
    _exit(EXIT_RUNTIME);
}

/* HANDLER for SIGTERM and SIGINT. */
static void on_stop_signals(void (*handler)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

void cycle_trap_signals_early(const char *command)
{
    bool run = strcmp(command, "run") == 0 || strcmp(command, "rerun") == 0;
    int n = snprintf(early_notice, sizeof early_notice,
                     run ? "lethe: stopped by a signal before the run began (or in a dry run); "
                           "nothing was written\n"
                         : "lethe: %s: stopped by a signal before it committed anything; nothing "
                           "was written\n",
                     command);
    early_notice_len = n < 0 ? 0 : (size_t)n < sizeof early_notice ? (size_t)n
                                                                     : sizeof early_notice - 1;
    on_stop_signals(on_signal_early);
}

/* The notices for a stop, said once and again, of ctx->command: TEXT and AGAIN. */
static void trap_with(const struct lethe_ctx *ctx, const char *text, const char *again)
{
    log_set_run_id(ctx->session_id);
    stop_notice_len = log_verbosity() < 0 ? 0
                      : log_format_line(LOG_WARN, "warning: ", text, stop_notice, sizeof stop_notice);
    again_notice_len = log_verbosity() < 0 ? 0
                       : log_format_line(LOG_WARN, "warning: ", again, again_notice,
                                         sizeof again_notice);
    on_stop_signals(on_signal);
    /* A closed stdout or stderr (lethe run 2>&1 | head) must not kill a run between a
     * deleter's work and its record: a write to it fails, and the run goes on. The executor
     * gets SIGPIPE back (executor.c). */
    signal(SIGPIPE, SIG_IGN);
}

void cycle_trap_signals_committed(const struct lethe_ctx *ctx)
{
    char text[320], again[320];
    snprintf(text, sizeof text,
             "%s: stop requested; what it changed is committed (or is being committed): it ends "
             "once its anchor line is written, without waiting for records committed late",
             ctx->command);
    snprintf(again, sizeof again,
             "%s: already stopping: it ends once its anchor line is written; SIGKILL ends it "
             "now, and the next run's anchor line names what it committed",
             ctx->command);
    trap_with(ctx, text, again);
}

void cycle_trap_signals(const struct lethe_ctx *ctx)
{
    char text[320], again[320], timeout[32];
    duration_format(&ctx->cfg.executor_timeout, timeout, sizeof timeout);
    snprintf(text, sizeof text,
             "%s: stop requested; stopping at the next safe point (an executor already running "
             "finishes first, so that its receipts are recorded: up to executor.timeout, %s)",
             ctx->command, timeout);
    snprintf(again, sizeof again,
             "%s: already stopping: waiting for the executor already running, if any, so that its "
             "receipts are recorded (up to executor.timeout, %s); SIGKILL ends it now, and the "
             "next run drives its batch again",
             ctx->command, timeout);
    trap_with(ctx, text, again);
    cycle_heads_watch(ctx->command);
}

bool cycle_stopping(void) { return stop_flag != 0; }

/* ---- another session's record on a chain the run appends to ----------------------------- */

/* Appends to one chain take turns (each locks the chain's head until its transaction ends): an
 * acknowledgement, request or hold whose transaction stayed open held the run inside its append,
 * in silence, and a SIGTERM stopped it only after (an outside tryout, 30 s). The run looks first
 * (sql/0116_heads_probe.sql), every 50 ms, saying so, and a stop request ends the wait: the
 * transaction is rolled back and the next run does its work again. Except while receipts are
 * recorded (heads_patient): the deletion happened, and is recorded as soon as it can be, as an
 * executor already running is waited for. */
static const char *heads_command = "run";
static bool heads_patient, heads_stopped;

static bool heads_wait_for(PGconn *db, bool engine, const char *undone)
{
    heads_stopped = false;
    time_t began = 0, said = 0;
    bool told = false;
    for (int got; (got = dbaudit_heads_try(db, engine)) != 1;) {
        if (got < 0)
            return false;
        if (cycle_stopping() && !heads_patient) {
            heads_stopped = true;
            log_warn("%s: stopped by a signal while waiting for a record being appended in "
                     "another session to commit (chain %s); %s", heads_command,
                     dbaudit_heads_held(), undone);
            return false;
        }
        if (cycle_stopping() && !told) {
            told = true;
            log_warn("%s: the receipts being recorded wait for a record being appended in another "
                     "session to commit (chain %s): the run waits for it, so that they are "
                     "recorded (SIGKILL ends it now, and the next run drives the batch again)",
                     heads_command, dbaudit_heads_held());
        }
        time_t now = time(NULL);
        if (!began) {
            began = said = now;
            log_info("%s: a record is being appended in another session to chain %s, which this "
                     "run appends to as well (an acknowledgement, a request, a hold, another "
                     "shard's run); waiting for it to commit", heads_command, dbaudit_heads_held());
        } else if (now - said >= 60) {
            said = now;
            log_warn("%s: still waiting, for %lds, for a record being appended in another session "
                     "to commit (its transaction holds the head of chain %s)", heads_command,
                     (long)(now - began), dbaudit_heads_held());
            log_hint("see pg_locks and pg_stat_activity for that session (a synchronous standby "
                     "down holds its commit up)%s", heads_patient ? "" : "; SIGTERM stops this run");
        }
        struct timespec pause = {0, 50 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    return true;
}

static bool heads_wait_staged(PGconn *db)
{
    return heads_wait_for(db, false, "what this transaction did is not recorded, and the next run "
                                     "does it again");
}

void cycle_heads_watch(const char *command)
{
    heads_command = command;
    dbaudit_set_heads_wait(heads_wait_staged);
}


static double secs_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* ---- the run lock ----------------------------------------------------------------------- */

int cycle_lock(struct lethe_ctx *ctx, int k, int n)
{
    char ks[16], ns[16];
    snprintf(ks, sizeof ks, "%d", k);
    snprintf(ns, sizeof ns, "%d", n);
    bool got;
    if (!dbcycle_try_lock(ctx->db, ks, ns, &got))
        return EXIT_RUNTIME;
    if (got)
        return EXIT_DONE;
    cycle_name_lock_holder(ctx, "", k, n);
    log_hint("wait for it to finish; 'lethe status' shows the last runs");
    return EXIT_LOCKED;
}

/* Says who holds the run lock: a run (its id, shard and start), or another lethe command
 * that takes it (migrate, replay, reconcile: its session and start), WHAT prefixing the
 * message ("migrate: "); of several, one in the way of shard K/N (N 0: the whole catalog). */
void cycle_name_lock_holder(struct lethe_ctx *ctx, const char *what, int k, int n)
{
    PGresult *r = dbcycle_lock_holder(ctx->db, k, n);
    /* The start of another role's session is not every login's to see (pg_stat_activity). */
    const char *started = r && PQntuples(r) == 1 && db_get(r, 0, "started")
                              ? db_get(r, 0, "started")
                              : "at a time this login may not see";
    if (r && PQntuples(r) == 1 && db_true(r, 0, "is_run"))
        log_error("%sthe run lock is held by run %s%s%s, started %s", what, db_get(r, 0, "holder"),
                  db_get(r, 0, "shard")[0] ? " of shard " : "", db_get(r, 0, "shard"), started);
    else if (r && PQntuples(r) == 1 && db_get(r, 0, "command")[0])
        log_error("%sthe run lock is held by lethe %s (session %s), started %s", what,
                  db_get(r, 0, "command"), db_get(r, 0, "holder"), started);
    else if (r && PQntuples(r) == 1)
        log_error("%sthe run lock is held by another session (%s), started %s", what,
                  db_get(r, 0, "holder"), started);
    else
        log_error("%sthe run lock is held by another run", what);
    PQclear(r);
}

/* ---- executors per location ------------------------------------------------------------ */

int cycle_check_executors(struct lethe_ctx *ctx, bool warn_only)
{
    const struct lethe_config *cfg = &ctx->cfg;
    void (*say)(const char *, ...) __attribute__((format(printf, 1, 2))) = warn_only ? log_warn : log_error;
    int rc = EXIT_DONE;
    for (int i = 0; i < cfg->n_locations && rc == EXIT_DONE; i++) {
        PGresult *r = dbcycle_geo_known(ctx->db, cfg->locations[i].geo);
        if (!r)
            return EXIT_RUNTIME;
        if (!db_true(r, 0, "known")) {
            /* A typo must not send one region's batches to another region's deleter. */
            say("config: '%s' line %d: 'executor.locations.%s': no such geo in lethe.geos",
                      cfg->locations[i].file ? cfg->locations[i].file
                      : cfg->path            ? cfg->path
                                             : "(defaults)",
                      cfg->locations[i].line,
                      cfg->locations[i].geo);
            log_hint("the geos are %s; correct the key, or add the geo to lethe.geos first",
                     db_get(r, 0, "geos") ? db_get(r, 0, "geos") : "none");
            rc = EXIT_USAGE;
        }
        PQclear(r);
    }
    return rc;
}

/* ---- batches ---------------------------------------------------------------------------- */

/* Appends ids (and reasons) of receipts to array literals: ids are parsed UUIDs; reasons are
 * cleaned text, quoted for array syntax. */
static char *id_array(const struct exec_receipt *list, int n)
{
    char *a = malloc(3 + (size_t)n * (UUID_TEXT_LEN + 1));
    if (!a)
        return NULL;
    size_t u = 0;
    a[u++] = '{';
    for (int i = 0; i < n; i++) {
        if (i)
            a[u++] = ',';
        memcpy(a + u, list[i].item_id, UUID_TEXT_LEN - 1);
        u += UUID_TEXT_LEN - 1;
    }
    a[u++] = '}';
    a[u] = '\0';
    return a;
}

static char *reason_array(const struct exec_receipt *list, int n)
{
    size_t cap = 3;
    for (int i = 0; i < n; i++)
        cap += strlen(list[i].reason) * 2 + 3;
    char *a = malloc(cap);
    if (!a)
        return NULL;
    size_t v = 0;
    a[v++] = '{';
    for (int i = 0; i < n; i++) {
        if (i)
            a[v++] = ',';
        a[v++] = '"';
        for (const char *c = list[i].reason; *c; c++) {
            if (*c == '"' || *c == '\\')
                a[v++] = '\\';
            a[v++] = *c;
        }
        a[v++] = '"';
    }
    a[v++] = '}';
    a[v] = '\0';
    return a;
}

void cycle_warn_failed_after_purge(const char *prefix, const char *batch, const char *how, long n)
{
    log_warn("%sbatch %s was %s: %ld failed receipt%s given now change%s nothing; its items are "
             "purged and on record", prefix, batch, how, n, n == 1 ? "" : "s", n == 1 ? "s" : "");
    log_hint("if the deleter left objects behind, 'lethe reconcile --location GEO INVENTORY' "
             "finds them in the storage's inventory");
}

enum drive_outcome cycle_record_ack(struct lethe_ctx *ctx, const char *batch_id,
                                    const struct exec_result *er, const char *operator_name,
                                    bool ack_rest, struct run_counts *c, char *prior)
{
    char was[16] = "";
    PGconn *db = ctx->db;
    enum drive_outcome out = DRIVE_ERROR;
    char *acked = id_array(er->acked, er->n_acked), *failed = id_array(er->failed, er->n_failed),
         *reasons = reason_array(er->failed, er->n_failed);
    if (!acked || !failed || !reasons) {
        log_error("ack: out of memory");
        goto cleanup;
    }
    const char *p[] = {batch_id, acked, failed, reasons, ack_rest ? "t" : "f", er->ok ? "f" : "t",
                       er->ok ? NULL : er->detail, operator_name};
    /* A purge is late when the acknowledgement commits after its deadline (SPEC §3): one that
     * passed a deadline while it waited or wrote is made again, and its new time judges it. */
    int redone = 0;
again:
    if (!db_begin(db))
        goto cleanup;
    if (!dbaudit_stage_open(db))
        goto fail;
    if (!dbcycle_batch_ack_lock(db, batch_id, false) ||
        dbcycle_batch_state(db, batch_id, true, was, sizeof was) < 0)
        goto fail;
    PGresult *r = dbcycle_ack_batch(db, p);
    if (!r)
        goto fail;
    long n_purged = db_get_long(r, 0, "purged"), n_failed = db_get_long(r, 0, "failed"),
         n_foreign = db_get_long(r, 0, "foreign_receipts") + er->foreign;
    bool now_failed = strcmp(db_get(r, 0, "state"), "failed") == 0,
         now_open = strcmp(db_get(r, 0, "state"), "open") == 0;
    PQclear(r);
    if (er->stderr_tail) {
        /* The record keeps the last lines (the log has them all): said, so that nobody takes
         * them for the whole of it. */
        char *kept = er->stderr_tail, *said = NULL;
        size_t cap = strlen(er->stderr_tail) + 96;
        if (er->tail_dropped > 0 && (said = malloc(cap))) {
            snprintf(said, cap, "(%ld earlier line%s of its stderr %s in the log only)\n%s",
                     er->tail_dropped, er->tail_dropped == 1 ? "" : "s",
                     er->tail_dropped == 1 ? "is" : "are", er->stderr_tail);
            kept = said;
        }
        bool ok = dbcycle_batch_error(db, batch_id, kept);
        free(said);
        if (!ok)
            goto fail;
    } else if (!er->ok && !dbcycle_batch_error(db, batch_id, NULL)) {
        /* The record keeps the deleter's stderr alone: lethe's own words ("timed out after
         * 900s", which the acknowledgement wrote there) are the items' reasons, and `lethe
         * batches` showed them as what the deleter said. */
        goto fail;
    }
    /* Counted in the acknowledgement's transaction: a run killed later still counts it. */
    /* Failed by this attempt: a batch an acknowledgement closed meanwhile was not. */
    long n_failed_batch = strcmp(was, "open") == 0 && now_failed && (n_failed > 0 || !er->ok) ? 1 : 0;
    if ((n_purged || n_failed || n_failed_batch) &&
        !dbcycle_run_counted(db, ctx->session_id, n_purged, n_failed, n_failed_batch))
        goto fail;
    fault_point("ack_before_commit");
    bool redo;
    heads_patient = true;
    bool committed = dbaudit_commit_or_redo(db, &redo);
    heads_patient = false;
    if (!committed) {
        if (redo && redone++ < 5) {
            log_warn("ack: batch %s: a deadline passed while its acknowledgement was being "
                     "recorded; recorded again, at a time past it", batch_id);
            goto again;
        }
        if (redo)
            log_error("ack: batch %s: deadlines kept passing while its acknowledgement was being "
                      "recorded; nothing recorded, the batch is as it was", batch_id);
        goto cleanup;
    }
    /* A repurge batch's items were purged before: its acknowledgement purges none, and says
     * so only by the repurges it settled, all of them as the batch left 'open' (a deferred
     * trigger settles them at the commit). Read after the commit: on Citus, the engine's login
     * may not read in the transaction the shards the owner's ack_batch() wrote. A run that
     * drove one said "0 purged" and nothing of them (an outside tryout's finding). */
    long n_repurged = strcmp(was, "open") == 0 && !now_open
                          ? dbcycle_batch_repurges_done(db, batch_id) : 0;
    if (n_repurged < 0)
        n_repurged = 0; /* said; the acknowledgement is recorded */
    if (n_foreign) {
        /* "batch ID (LOCATION)" when a deleter's output is recorded, as its other warnings */
        char where[128];
        snprintf(where, sizeof where, "batch %s", batch_id);
        log_warn("%s: %ld receipt%s named items outside the batch; ignored",
                 er->where[0] ? er->where : where, n_foreign, n_foreign == 1 ? "" : "s");
    }
    /* A failure reported for an item on record as purged contradicts the deletion: the record
     * stands (an ack is idempotent, SPEC §4), but not in silence, since the object may still be
     * in storage (as 'lethe ack --failed' on an acknowledged batch warns). */
    long contradicted = strcmp(was, "open") != 0 && er->n_failed > 0
                            ? dbcycle_batch_purged_among(db, batch_id, failed) : 0;
    if (contradicted > 0) {
        char how[96];
        snprintf(how, sizeof how, "%s already, by an earlier acknowledgement", was);
        cycle_warn_failed_after_purge("", batch_id, how, contradicted);
    }
    if (prior)
        snprintf(prior, 16, "%s", was);
    c->purged += n_purged;
    c->repurged += n_repurged;
    c->failed += n_failed;
    c->failed_batches += n_failed_batch;
    /* An executor that timed out or exited non-zero after a receipt for every item failed
     * nothing: the batch is acknowledged, and says so. */
    out = !now_failed ? DRIVE_ACKNOWLEDGED : !er->ok ? DRIVE_WHOLE_FAILED : DRIVE_FAILED;
    goto cleanup;
fail:
    db_rollback(db);
cleanup:
    free(acked);
    free(failed);
    free(reasons);
    return out;
}

const char *cycle_timed_out(const struct run_counts *c, const char *location)
{
    for (int i = 0; i < c->n_timed_out; i++)
        if (strcmp(c->timed_out[i].location, location) == 0)
            return c->timed_out[i].batch_id;
    return NULL;
}

static long timeout_seconds(const struct lethe_config *cfg)
{
    return (long)(cfg->executor_timeout.seconds + (int64_t)cfg->executor_timeout.months * 30 * 86400);
}

enum drive_outcome cycle_drive_batch(struct lethe_ctx *ctx, const char *batch_id,
                                     const char *location, const char *operator_name,
                                     struct run_counts *c, char *why, size_t why_len)
{
    char path[4200];
    const char *command = config_executor_for(&ctx->cfg, location);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* Without an executor an open batch only needs its manifest on disk; one that is there
     * already is the same bytes, so an idle run does not rewrite it. */
    if (!command && manifest_path(ctx->cfg.spool_dir, location, batch_id, path, sizeof path) &&
        access(path, F_OK) == 0 && !operator_name)
        return DRIVE_WAITING;
    /* The locators' HMACs are recorded with it (SPEC §7). */
    struct exec_items items = {0};
    log_clear_last_error();
    if (!manifest_write(ctx->db, &ctx->audit_key, ctx->cfg.spool_dir, location, batch_id, path,
                        sizeof path, command ? &items : NULL)) {
        exec_items_free(&items);
        /* What the spool said (a path and why: no locator), as status shows the run's error. */
        const char *said = log_last_error()[0] ? log_last_error() : db_last_message();
        snprintf(why, why_len, "batch %s: its manifest could not be written%s%s", batch_id,
                 said[0] ? ": " : "", said);
        return DRIVE_ERROR;
    }
    fault_point("after_manifest");
    c->secs_manifest += secs_since(&t0);
    if (!command) {
        log_info("batch %s (%s) written to %s; it waits for 'lethe ack'", batch_id, location, path);
        return DRIVE_WAITING;
    }
    /* The stop request is honoured here too: after it, no executor is started. */
    if (cycle_stopping()) {
        exec_items_free(&items);
        return DRIVE_STOPPED;
    }
    if (items.n == 0) {
        /* Every item was purged through another batch since (a late acknowledgement supersedes
         * them; sql/0079 closes such a batch at once, this one was locked then, or emptied before
         * that): nothing is left for the deleter, and the batch is closed as acknowledged. */
        exec_items_free(&items);
        struct exec_result none = {.ok = true};
        char was[16] = "";
        enum drive_outcome out = cycle_record_ack(ctx, batch_id, &none, operator_name, false, c, was);
        if (out != DRIVE_ERROR)
            log_info("batch %s (%s): every item was purged through another batch; closed without "
                     "starting its executor", batch_id, location);
        exec_result_free(&none);
        return out;
    }
    if (!dbcycle_batch_attempted(ctx->db, batch_id, false)) {
        exec_items_free(&items);
        snprintf(why, why_len, "batch %s: %s", batch_id, db_last_message());
        return DRIVE_ERROR;
    }
    /* A stop request that came during that round trip is still before the executor. */
    if (cycle_stopping()) {
        exec_items_free(&items);
        if (!dbcycle_batch_attempted(ctx->db, batch_id, true)) {
            snprintf(why, why_len, "batch %s: %s", batch_id, db_last_message());
            return DRIVE_ERROR;
        }
        return DRIVE_STOPPED;
    }
    struct exec_result er;
    log_debug("executor: running for batch %s (%s)", batch_id, location);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (!executor_run(command, path, batch_id, location, timeout_seconds(&ctx->cfg), &items, &er)) {
        exec_result_free(&er);
        exec_items_free(&items);
        snprintf(why, why_len, "batch %s: its executor could not be started", batch_id);
        return DRIVE_ERROR;
    }
    exec_items_free(&items);
    er.items = NULL; /* it pointed there */
    if (er.timed_out && c->n_timed_out < RUN_TIMEOUT_LOCATIONS && !cycle_timed_out(c, location)) {
        snprintf(c->timed_out[c->n_timed_out].location, sizeof c->timed_out[0].location, "%s",
                 location);
        snprintf(c->timed_out[c->n_timed_out].batch_id, sizeof c->timed_out[0].batch_id, "%s",
                 batch_id);
        c->n_timed_out++;
    }
    fault_point("after_executor");
    c->secs_executor += secs_since(&t0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* er.where: "batch ID (LOCATION)", as the executor's own warnings name it. */
    if (er.ignored)
        log_warn("%s: %ld line%s of the executor's output %s; ignored", er.where, er.ignored,
                 er.ignored == 1 ? "" : "s", er.ignored == 1 ? "was not a receipt" : "were not receipts");
    if (er.repeated)
        log_warn("%s: %ld receipt%s repeated one given before for the same item; ignored",
                 er.where, er.repeated, er.repeated == 1 ? "" : "s");
    char was[16] = "";
    long before = c->failed;
    enum drive_outcome out = cycle_record_ack(ctx, batch_id, &er, operator_name, false, c, was);
    bool closed = out != DRIVE_ERROR && strcmp(was, "open") != 0;
    /* The failures this attempt recorded; a batch closed meanwhile (by 'lethe ack') took its
     * own receipts, and what this one could still change is in the counts. */
    for (int i = 0; !closed && i < er.n_failed; i++)
        log_warn("batch %s (%s): item %s failed: %s", batch_id, location, er.failed[i].item_id,
                 er.failed[i].reason);
    if (closed)
        log_warn("batch %s (%s) was %s by an acknowledgement made while its executor ran%s%s; "
                 "this attempt recorded %ld more failed item%s", batch_id, location, was,
                 er.ok ? "" : "; the executor ", er.ok ? "" : er.detail, c->failed - before,
                 c->failed - before == 1 ? "" : "s");
    else if (!er.ok && out == DRIVE_ACKNOWLEDGED && er.left_behind)
        /* "timed out" alone sent the operator looking for a slow deleter. */
        log_warn("batch %s (%s): the executor exited, but a process it left kept its output "
                 "open until the timeout (%lds); every item had its receipt; acknowledged",
                 batch_id, location, timeout_seconds(&ctx->cfg));
    else if (!er.ok && out == DRIVE_ACKNOWLEDGED)
        log_warn("batch %s (%s): executor %s, but every item had its receipt; acknowledged",
                 batch_id, location, er.detail);
    else if (out != DRIVE_ERROR && (!er.ok || out == DRIVE_FAILED)) {
        /* Named by batch too (the items' lines name only their failed receipts): a search of
         * the log for the batch finds why it failed, "no receipt" included. A failed repurge is
         * batched again by the next replay or reconcile, not by a run (README, "A restored
         * database"). */
        long n = c->failed - before, silent = n > er.n_failed ? n - er.n_failed : 0;
        long rep = out == DRIVE_FAILED || out == DRIVE_WHOLE_FAILED
                       ? dbcycle_batch_repurges_failed(ctx->db, batch_id) : 0;
        char again[192] = "due again at the next run";
        if (rep > 0 && rep >= n)
            snprintf(again, sizeof again, "%s, which 'lethe reconcile' or 'lethe replay' batches "
                     "again (no run does)",
                     !er.ok ? "repurges" : n == 1 ? "it is a repurge" : "they are repurges");
        else if (rep > 0)
            snprintf(again, sizeof again, "due again at the next run, but for %ld repurge%s, which "
                     "'lethe reconcile' or 'lethe replay' batches again", rep, rep == 1 ? "" : "s");
        /* The shell lethe starts the command with reports a child a signal killed as 128+N:
         * an out-of-memory kill reads "exit status 137" otherwise. Said here, not in the
         * audit's fixed words. */
        char sig[128] = "";
        if (!er.ok && er.exit_code > 128 && er.exit_code < 128 + 65)
            snprintf(sig, sizeof sig, " (128+%d: how the shell reports a command killed by signal "
                     "%d, %s)", er.exit_code - 128, er.exit_code - 128,
                     strsignal(er.exit_code - 128));
        if (!er.ok && er.left_behind)
            /* "timed out" alone sent the operator looking for a slow deleter here too. */
            log_warn("batch %s (%s) failed: the executor exited, but a process it left kept its "
                     "output open until the timeout (%lds); its unreceipted items are %s",
                     batch_id, location, timeout_seconds(&ctx->cfg), again);
        else if (!er.ok)
            log_warn("batch %s (%s) failed: executor %s%s; its unreceipted items are %s", batch_id,
                     location, er.detail, sig, again);
        else
            log_warn("batch %s (%s) failed: %ld item%s not acknowledged (%ld with no receipt); %s",
                     batch_id, location, n, n == 1 ? "" : "s", silent, again);
        if (er.ok && er.n_acked == 0 && er.n_failed == 0)
            /* A deleter that says nothing, or says it where lethe does not read: its first run
             * fails every batch, and the warning alone names no cause. */
            log_hint("the executor exited 0 without a single receipt for its batch: lethe takes an "
                     "item as deleted only from a line 'deleted ITEM_ID' or 'absent ITEM_ID' on the "
                     "executor's standard output (its stderr goes to the log), one per item of the "
                     "manifest it is given as its last argument");
    }
    c->secs_ack += secs_since(&t0);
    if (out == DRIVE_ERROR) {
        /* Nothing of this attempt was recorded: the batch stays open, whatever the executor
         * did, and the next run runs it again (a deleter is idempotent). */
        if (!er.ok)
            log_warn("batch %s (%s): executor %s; nothing of this attempt was recorded, so the "
                     "batch stays open and the next run runs its executor again", batch_id,
                     location, er.detail);
        snprintf(why, why_len, "batch %s: its receipts could not be recorded: %s", batch_id,
                 db_last_message()[0] ? db_last_message() : "see the log");
    }
    exec_result_free(&er);
    return out;
}

/* ---- the run ---------------------------------------------------------------------------- */

static bool sync_rules(struct lethe_ctx *ctx)
{
    char deadline[64], grace[64], lookahead[64];
    for (int i = 0; i < RULE_COUNT; i++) {
        const struct rule_config *rc = &ctx->cfg.rules[i];
        duration_to_interval(&rc->deadline, deadline, sizeof deadline);
        duration_to_interval(&rc->grace, grace, sizeof grace);
        if (!dbcycle_sync_rule(ctx->db, rc->name, deadline, grace, rc->enabled))
            return false;
    }
    duration_to_interval(&ctx->cfg.lookahead, lookahead, sizeof lookahead);
    return dbcycle_sync_lookahead(ctx->db, lookahead);
}

/* One chunk of new subject requests gets its HMACs (below); *rows is how many there were, and
 * after_tenant/after_id the key of the last. */
static bool hmac_subject_chunk(struct lethe_ctx *ctx, const char *k, const char *n,
                               char after_tenant[UUID_TEXT_LEN], char after_id[24], int *rows)
{
    bool first = after_tenant[0] == '\0';
    PGresult *r = dbcycle_unhashed_subjects(ctx->db, k, n, first ? NULL : after_tenant,
                                            first ? NULL : after_id);
    if (!r)
        return false;
    *rows = PQntuples(r);
    bool ok = true;
    /* The key never enters the database, so the HMACs are computed here; they go back in one
     * statement, as arrays of parsed ids, digits and hex (no quoting needed). */
    char *tenants = malloc((size_t)*rows * UUID_TEXT_LEN + 3), *ids = malloc((size_t)*rows * 21 + 3),
         *macs = malloc((size_t)*rows * 65 + 3);
    if (!tenants || !ids || !macs) {
        log_error("derive: out of memory");
        ok = false;
        goto cleanup;
    }
    size_t t = 0, o = 0, m = 0;
    tenants[t++] = ids[o++] = macs[m++] = '{';
    for (int i = 0; ok && i < *rows; i++) {
        char mac[65];
        if (!(ok = audit_hmac_subject(&ctx->audit_key, db_get(r, i, "subject_id"), mac)))
            break;
        t += (size_t)sprintf(tenants + t, "%s%s", i ? "," : "", db_get(r, i, "tenant_id"));
        o += (size_t)sprintf(ids + o, "%s%s", i ? "," : "", db_get(r, i, "obligation_id"));
        m += (size_t)sprintf(macs + m, "%s%s", i ? "," : "", mac);
    }
    strcpy(tenants + t, "}");
    strcpy(ids + o, "}");
    strcpy(macs + m, "}");
    if (ok && *rows > 0) {
        snprintf(after_tenant, UUID_TEXT_LEN, "%s", db_get(r, *rows - 1, "tenant_id"));
        snprintf(after_id, 24, "%s", db_get(r, *rows - 1, "obligation_id"));
        ok = dbcycle_store_subject_hmacs(ctx->db, tenants, ids, macs);
    }
cleanup:
    free(tenants);
    free(ids);
    free(macs);
    PQclear(r);
    return ok;
}

/* New subject requests get HMAC-SHA256(key, subject) before anything audits them, a chunk at a
 * time in key order: memory stays flat however many came in (100,000 requests at once took
 * 43 MB in one piece; tests/bench/RESULTS.md). */
static bool hmac_subjects(struct lethe_ctx *ctx, const char *k, const char *n)
{
    if (ctx->audit_key.len == 0)
        return true;
    char after_tenant[UUID_TEXT_LEN] = "", after_id[24] = "";
    int rows;
    do {
        if (!hmac_subject_chunk(ctx, k, n, after_tenant, after_id, &rows))
            return false;
    } while (rows == SUBJECT_HMAC_CHUNK);
    return true;
}

/* LETHE_IDLE_CROSSCHECK=1 (the test harness sets it): a run the probe finds idle takes the
 * full way as well, and fails if the full way finds anything to do. */
static bool idle_crosscheck(void)
{
    const char *v = getenv("LETHE_IDLE_CROSSCHECK");
    return v && strcmp(v, "1") == 0;
}

/* The rules as configured are written (sync_rules) before derive() is called, in the same
 * transaction, and before the inbox is filled in it: on Citus a reference table (rules) is not
 * written after a parallel statement on distributed tables in one transaction.
 *
 * With idle set, asks first whether the run has anything to derive or emit (sql/0040): when
 * it has not, *idle is true, c->held is what the emission would report, and the derivation is
 * skipped (unless cross-checked). */
static bool derive(struct lethe_ctx *ctx, const char *as_of, const char *k, const char *n,
                   struct run_counts *c, bool *idle)
{
    PGconn *db = ctx->db;
    PGresult *r;
    if (idle) {
        if (!(r = dbcycle_idle_probe(db, as_of, k, n, ctx->audit_key.len > 0)))
            return false;
        *idle = db_true(r, 0, "idle");
        if (*idle)
            c->held = db_get_long(r, 0, "held");
        PQclear(r);
        if (*idle && !idle_crosscheck())
            return true; /* no stage is made: an idle run stages nothing (sql/0055) */
    }
    if (!dbaudit_stage_open(db))
        return false;
    r = dbcycle_derive_consume(db, k, n);
    if (!r)
        return false;
    c->events = db_get_long(r, 0, "events");
    c->items = db_get_long(r, 0, "items");
    c->obligations = db_get_long(r, 0, "obligations");
    PQclear(r);
    if (!hmac_subjects(ctx, k, n))
        return false;
    r = dbcycle_derive_apply(db, as_of, k, n);
    if (!r)
        return false;
    c->withdrawn = db_get_long(r, 0, "withdrawn");
    c->expanded = db_get_long(r, 0, "expanded");
    PQclear(r);
    return true;
}

/* New items that a restore lost after replay proved them purged (sql/0099), taken from the
 * filled inbox and put in repurge batches, in a transaction of their own before the derivation
 * (which then finds their purges recorded: a new copy of one is due under it). A dry run has no
 * run to record the repurge under: it judges them as new items. Costs a question while replay
 * has left nothing to look for. */
static bool repurge_resent(struct lethe_ctx *ctx, const struct run_life *run, const char *k,
                           const char *n)
{
    PGconn *db = ctx->db;
    int pending = dbcycle_resent_pending(db);
    if (pending <= 0)
        return pending == 0;
    long batches = 0, items = 0;
    if (!db_begin(db) || !dbaudit_stage_open(db) ||
        !dbcycle_repurge_resent(db, ctx->session_id, run->operator_name, ctx->cfg.batch_max_items,
                                k, n, &batches, &items) ||
        !dbaudit_commit(db)) {
        db_rollback(db);
        return false;
    }
    if (items > 0)
        log_info("%ld item%s that replay proved purged before a restore %s sent again: put in %ld "
                 "repurge batch%s, driven with the open batches (purged once, as the audit says)",
                 items, items == 1 ? "" : "s", items == 1 ? "was" : "were", batches,
                 batches == 1 ? "" : "es");
    return true;
}

/* The records of the withdrawals a committed derivation made (sql/0069): on Citus the owner
 * cannot append them in the transaction in which the engine wrote the obligations. */
bool cycle_record_withdrawals(struct lethe_ctx *ctx, const char *k, const char *n)
{
    /* READ COMMITTED whatever the server's default: the function reads the audit after taking
     * its lock, and a snapshot taken before the lock would miss a record made meanwhile. */
    if (!db_begin_read_committed(ctx->db))
        return false;
    PGresult *r = dbcycle_record_withdrawals(ctx->db, k, n);
    if (!r) {
        db_rollback(ctx->db);
        return false;
    }
    long recorded = db_get_long(r, 0, "recorded");
    PQclear(r);
    if (!db_commit(ctx->db))
        return false;
    if (recorded)
        log_debug("withdrawals: %ld recorded", recorded);
    return true;
}

bool cycle_derive_all(struct lethe_ctx *ctx, const struct run_life *run, struct run_counts *c)
{
    PGconn *db = ctx->db;
    if (!db_inbox_fill(db) || !repurge_resent(ctx, run, "0", "0") || !db_begin(db) ||
        !dbaudit_stage_open(db) || !sync_rules(ctx) ||
        !derive(ctx, run->as_of, "0", "0", c, NULL) || !dbaudit_commit(db)) {
        db_rollback(db);
        return false;
    }
    return cycle_record_withdrawals(ctx, "0", "0");
}

static int dry_run(struct lethe_ctx *ctx, const struct run_opts *o, const char *as_of,
                   const char *k, const char *n)
{
    PGconn *db = ctx->db;
    struct run_counts c = {0};
    int rc = EXIT_RUNTIME;
    /* The inbox is filled inside the dry run's transaction, which is rolled back: nothing is
     * written, and a fill at work elsewhere is not waited for. */
    if (!db_begin_read_committed(db))
        return EXIT_RUNTIME;
    if (!sync_rules(ctx) || !db_inbox_fill(db) || !dbaudit_stage_open(db) ||
        !derive(ctx, as_of, k, n, &c, NULL))
        goto cleanup;
    PGresult *r = dbcycle_plan(db, as_of, k, n);
    if (!r)
        goto cleanup;
    /* A run under way has batched what it found due: in flight, those are due here no more, and
     * a plan of nothing due, shown without a word, read as nothing to do. */
    PGresult *h = dbcycle_lock_holder(db, atoi(k), atoi(n));
    if (!h) {
        PQclear(r);
        goto cleanup;
    }
    if (PQntuples(h) == 1 && db_true(h, 0, "is_run"))
        log_warn("run: dry run: run %s is under way (started %s): the items it has batched are in "
                 "flight, not counted as due here", db_str(h, 0, "holder"),
                 db_get(h, 0, "started") ? db_str(h, 0, "started")
                                         : "at a time this login may not see");
    PQclear(h);
    long max = ctx->cfg.batch_max_items;
    if (o->json) {
        bool ok = report_plan_json(db, stdout, as_of, &c, max, r, o->items);
        PQclear(r);
        rc = ok ? EXIT_DONE : EXIT_RUNTIME;
        goto cleanup;
    }
    printf("plan at %s (dry run: nothing written)\n", as_of);
    printf("  new events %ld, new items %ld, obligations %ld, withdrawn %ld\n", c.events, c.items,
           c.obligations, c.withdrawn);
    const char *section = "";
    for (int i = 0; i < PQntuples(r); i++) {
        const char *kind = db_get(r, i, "kind");
        long due = db_get_long(r, i, "due"), held = db_get_long(r, i, "held");
        if (strcmp(kind, "total") == 0) {
            printf("  due %ld item%s, held %ld\n", due, due == 1 ? "" : "s", held);
            continue;
        }
        if (strcmp(section, kind) != 0) {
            section = kind;
            printf("by %s:\n", kind);
        }
        if (strcmp(kind, "location") == 0)
            printf("  %-36s %8ld item%s in %ld batch%s, %ld held\n", db_get(r, i, "name"), due,
                   due == 1 ? "" : "s", (due + max - 1) / max, (due + max - 1) / max == 1 ? "" : "es",
                   held);
        else
            printf("  %-36s %8ld item%s, %ld held\n", db_get(r, i, "name"), due, due == 1 ? "" : "s",
                   held);
    }
    PQclear(r);
    if (o->items && !report_plan_items_text(db, stdout))
        goto cleanup;
    rc = EXIT_DONE;
cleanup:
    db_rollback(db);
    return rc;
}

/* ---- one run's record: run and rerun share it --------------------------------------------- */

void run_life_fail(struct run_life *l, const char *fmt, ...)
{
    /* Rolled back on a stop request, while it waited for another session's record: stopped. */
    if (heads_stopped) {
        heads_stopped = false;
        run_life_interrupt(l, "while waiting for a record being appended in another session to "
                              "commit");
        return;
    }
    if (strcmp(l->outcome, "succeeded") == 0 || strcmp(l->outcome, "running") == 0)
        l->outcome = "failed";
    if (l->error[0])
        return; /* the first failure is the one that explains the run */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->error, sizeof l->error, fmt, ap);
    va_end(ap);
}

void run_life_interrupt(struct run_life *l, const char *what)
{
    if (strcmp(l->outcome, "failed") == 0)
        return;
    l->outcome = "interrupted";
    if (!l->error[0])
        snprintf(l->error, sizeof l->error, "stopped by a signal%s%s", what[0] == ';' ? "" : " ",
                 what);
}

bool run_life_begin(struct lethe_ctx *ctx, struct run_life *l)
{
    PGconn *db = ctx->db;
    clock_gettime(CLOCK_MONOTONIC, &l->t0);
    l->outcome = "succeeded";
    l->error[0] = '\0';
    memset(&l->c, 0, sizeof l->c);
    char n[16];
    snprintf(n, sizeof n, "%d", l->shard_n);
    const char *trigger = l->trigger ? l->trigger : l->operator_name ? "operator" : "timer";
    const char *p[] = {ctx->session_id, trigger, l->operator_name,
                       l->shard[0] ? l->shard : NULL, l->as_of, n};
    if (!db_begin(db))
        return false;
    /* Its first record goes to the engine chain, which an acknowledgement holds until it ends. */
    if (!heads_wait_for(db, true, "nothing was written") || !dbcycle_run_started(db, p) ||
        !dbaudit_commit(db)) {
        db_rollback(db);
        return false;
    }
    log_set_run_id(ctx->session_id);
    return true;
}

static bool write_metrics(struct lethe_ctx *ctx, const struct run_life *l, double seconds);

bool run_life_end(struct lethe_ctx *ctx, struct run_life *l)
{
    PGconn *db = ctx->db;
    const struct run_counts *c = &l->c;
    char n[7][24];
    long vals[] = {c->events, c->due, c->batches, c->purged, c->failed, c->held, c->failed_batches};
    for (int i = 0; i < 7; i++)
        snprintf(n[i], sizeof n[i], "%ld", vals[i]);
    const char *p[] = {ctx->session_id, l->outcome, n[0], n[1], n[2], n[3], n[4], n[5],
                       l->error[0] ? l->error : NULL, n[6]};
    if (strcmp(l->outcome, "failed") == 0)
        log_error("run %s failed: %s", ctx->session_id, l->error);
    else if (strcmp(l->outcome, "interrupted") == 0)
        log_warn("run %s interrupted: %s", ctx->session_id, l->error);
    /* A lost connection lost the run lock too: record the end only with the lock taken again,
     * or leave the run to be marked 'died' by the next one. */
    if (PQstatus(db) != CONNECTION_OK) {
        if (!db_reconnect(ctx) || cycle_lock(ctx, l->shard_k, l->shard_n) != EXIT_DONE) {
            log_error("run %s: the connection was lost and the run lock could not be taken again; "
                      "the next run records this one as died", ctx->session_id);
            return false;
        }
    }
    bool ok = false, recorded = false;
    char *heads = NULL;
    if (!db_begin(db))
        goto done;
    if (!heads_wait_for(db, true, "its end is not recorded: the next run records it as died")) {
        db_rollback(db);
        goto done;
    }
    int ended = dbcycle_run_finished(db, p);
    if (ended == 0) {
        /* Found dead by another run while this one's session was lost: that run may have
         * driven this one's batches again, and its record of this run stands. */
        db_rollback(db);
        log_error("run %s: another run recorded this one as died while its database session was "
                  "lost (lethe.runs.error says which); its end (%s) is not recorded over that",
                  ctx->session_id, l->outcome);
        recorded = true;
        goto done;
    }
    if (ended < 0 || !(heads = dbaudit_checkpoint(db, ctx->session_id)) || !dbaudit_commit(db)) {
        db_rollback(db);
        goto done;
    }
    /* The heads before the checkpoint; anchor_append logs the heads after it. */
    log_debug("checkpoint: %s", heads);
    ok = recorded = true;
    /* Committed: the heads go to the anchor file, which can be shipped out of the database's
     * reach. Failing that exits 1; the next run's line covers these chains too. (Whether the
     * file can be written was judged before the run did anything: config_check_run_files.) */
    if (!anchor_append(db, ctx->cfg.anchor_file, ctx->session_id, ctx->command)) {
        log_error("run %s: its end is recorded in the database, but not its anchor line; the "
                  "next run's line anchors these chains too", ctx->session_id);
        ok = false;
    }
done:
    free(heads);
    if (!recorded)
        log_error("run %s: could not record the end of the run%s%s; what it did stands, and the "
                  "next run records it as died", ctx->session_id, db_last_message()[0] ? ": " : "",
                  db_last_message());
    double secs = secs_since(&l->t0);
    if (l->metrics_file && !write_metrics(ctx, l, secs))
        ok = false;
    return ok;
}

/* The metrics file of the run in this process, once its options are judged (jobs/run.c):
 * a run that ends before it writes its metrics (its config or options refused, the database
 * out of reach, the audit behind its anchors) still says so there. */
static struct {
    char file[4096], shard[32];
    bool armed, written;
} run_metrics;

void cycle_metrics_arm(const char *file, int k, int n)
{
    if (!file || strlen(file) >= sizeof run_metrics.file)
        return;
    snprintf(run_metrics.file, sizeof run_metrics.file, "%s", file);
    if (n)
        snprintf(run_metrics.shard, sizeof run_metrics.shard, "%d/%d", k, n);
    else
        snprintf(run_metrics.shard, sizeof run_metrics.shard, "all");
    run_metrics.armed = true;
}

/* The last run's metrics file for reading, or NULL: never through a link planted at its name
 * (its lines would be copied into a file anyone may read), and only a regular file. */
static FILE *metrics_last(const char *file)
{
    int fd = open(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    FILE *old = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? fdopen(fd, "r") : NULL;
    if (!old && fd >= 0)
        close(fd);
    return old;
}

/* The metrics file's directory, locked (flock) while a run reads the file and replaces it: two
 * shards' runs sharing it, ending together, each kept the other's last series and dropped its
 * fresh ones. The descriptor to unlock with, or -1 (no lock: written as before). */
static int metrics_lock(const char *file)
{
    char dir[4096];
    const char *slash = strrchr(file, '/');
    if (!slash)
        snprintf(dir, sizeof dir, ".");
    else if (slash == file)
        snprintf(dir, sizeof dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - file), file);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0 && flock(fd, LOCK_EX) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static void metrics_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* the lock goes with the descriptor */
}

/* The series other shards' runs wrote in a metrics file they share with this one (SHARD), to be
 * written again with this run's: a shard's success replaced the file with its own series alone,
 * and a shard that had failed vanished from it. Lines of lethe's series only, at most 4,096. */
struct shard_lines {
    char **line;
    size_t n;
};

static void metrics_other_shards(const char *file, const char *shard, struct shard_lines *o)
{
    o->line = NULL;
    o->n = 0;
    FILE *old = metrics_last(file);
    if (!old)
        return;
    char label[64], buf[4096];
    snprintf(label, sizeof label, "{shard=\"%s\"", shard);
    while (fgets(buf, sizeof buf, old) && o->n < 4096) {
        const char *brace = strchr(buf, '{');
        if (strncmp(buf, "lethe_", 6) != 0 || !brace || strncmp(brace, "{shard=\"", 8) != 0 ||
            strncmp(brace, label, strlen(label)) == 0 || !strchr(buf, '\n'))
            continue;
        char **grown = realloc(o->line, (o->n + 1) * sizeof *grown);
        char *copy = strdup(buf);
        if (!grown || !copy) {
            free(copy);
            if (grown)
                o->line = grown;
            break;
        }
        o->line = grown;
        o->line[o->n++] = copy;
    }
    fclose(old);
}

/* The other shards' lines of FAMILY, after this run's. */
static void metrics_put_others(FILE *f, const struct shard_lines *o, const char *family)
{
    size_t len = strlen(family);
    for (size_t i = 0; i < o->n; i++)
        if (strncmp(o->line[i], family, len) == 0 && o->line[i][len] == '{')
            fputs(o->line[i], f);
}

static void metrics_others_free(struct shard_lines *o)
{
    for (size_t i = 0; i < o->n; i++)
        free(o->line[i]);
    free(o->line);
}

void cycle_metrics_after(int rc)
{
    if (!run_metrics.armed || run_metrics.written || rc == EXIT_DONE || rc == EXIT_LOCKED)
        return;
    run_metrics.written = true;
    /* lethe_run_success goes to 0 in place; every other line stays as the last run wrote it
     * (this one could not read the gauges), so that "1 when the last run succeeded" never
     * outlives a failure. */
    char line[4096], success[64];
    int n = snprintf(success, sizeof success, "lethe_run_success{shard=\"%s\"} ",
                     run_metrics.shard);
    /* The last run's file: only lethe's own series and their comments are kept. */
    int lock = metrics_lock(run_metrics.file);
    FILE *old = metrics_last(run_metrics.file);
    struct afile af = {0};
    if (afile_open(&af, run_metrics.file, 0644, AFILE_MODE_FOR_READERS, "metrics") != AFILE_OK) {
        if (old)
            fclose(old);
        metrics_unlock(lock);
        return;
    }
    /* This shard's line, else one after the family's TYPE line (a file shared by several
     * shards' runs: a second HELP and TYPE of one family makes the whole file unreadable). */
    static const char type[] = "# TYPE lethe_run_success ";
    bool found = false;
    while (old && fgets(line, sizeof line, old)) {
        if (strncmp(line, success, (size_t)n) == 0) {
            if (!found)
                fprintf(af.f, "%s0\n", success);
            found = true;
        } else if (strncmp(line, "lethe_", 6) == 0 || strncmp(line, "# HELP lethe_", 13) == 0 ||
                   strncmp(line, "# TYPE lethe_", 13) == 0) {
            fputs(line, af.f);
            if (!found && strncmp(line, type, sizeof type - 1) == 0) {
                fprintf(af.f, "%s0\n", success);
                found = true;
            }
        }
    }
    if (old)
        fclose(old);
    if (!found)
        fprintf(af.f, "# HELP lethe_run_success 1 when the last run succeeded.\n"
                      "# TYPE lethe_run_success gauge\n%s0\n", success);
    if (afile_commit(&af, "metrics"))
        log_info("metrics: '%s' says the run failed (lethe_run_success 0); its other series are "
                 "the last run's", run_metrics.file);
    afile_abandon(&af);
    metrics_unlock(lock);
}

static bool write_metrics(struct lethe_ctx *ctx, const struct run_life *l, double seconds)
{
    const char *file = l->metrics_file;
    const struct run_counts *c = &l->c;
    const char *shard = l->shard[0] ? l->shard : "all";
    PGresult *r = dbcycle_purged_by_rule(ctx->db, ctx->session_id, l->shard_k, l->shard_n);
    PGresult *s = dbcycle_gauges(ctx->db);
    bool ok = false;
    struct afile af = {0};
    struct shard_lines others;
    int lock = metrics_lock(file);
    metrics_other_shards(file, shard, &others);
    run_metrics.written = true;
    if (!r || !s || afile_open(&af, file, 0644, AFILE_MODE_FOR_READERS, "metrics") != AFILE_OK)
        goto cleanup;
    FILE *f = af.f;
    fprintf(f, "# HELP lethe_run_items_purged_by_rule Items the last run purged, by rule and location.\n"
               "# TYPE lethe_run_items_purged_by_rule gauge\n");
    for (int i = 0; i < PQntuples(r); i++)
        fprintf(f, "lethe_run_items_purged_by_rule{shard=\"%s\",rule=\"%s\",location=\"%s\"} %s\n", shard,
                db_get(r, i, "rule"), db_get(r, i, "location"), db_get(r, i, "purged"));
    metrics_put_others(f, &others, "lethe_run_items_purged_by_rule");
    struct {
        const char *name, *help;
        char value[32];
    } g[] = {
        {"lethe_run_batches", "Batches emitted by the last run.", ""},
        {"lethe_run_items_purged", "Items purged by the last run.", ""},
        {"lethe_run_items_failed", "Items that failed in the last run (retried at the next).", ""},
        {"lethe_run_batches_failed", "Batches the last run closed as failed.", ""},
        {"lethe_run_items_held", "Due items blocked by a hold in the last run.", ""},
        {"lethe_overdue_items", "Items past their deadline and not purged, those a hold in effect at the deadline keeps and violations aside.", ""},
        {"lethe_held_past_deadline_items", "Items past their deadline that a hold in effect at the deadline keeps.", ""},
        {"lethe_violation_items", "Shared copies made while opted out, not purged yet.", ""},
        {"lethe_failing_items", "Items not purged that failed three times or more.", ""},
        {"lethe_open_batches", "Batches waiting for acknowledgement.", ""},
        {"lethe_run_duration_seconds", "Duration of the last run.", ""},
        {"lethe_run_success", "1 when the last run succeeded.", ""},
        {"lethe_last_success_timestamp_seconds",
         "End of the last successful run of any shard (a run --as-of a past time: that time).", ""},
    };
    long counts[] = {c->batches, c->purged, c->failed, c->failed_batches, c->held};
    for (int i = 0; i < 5; i++)
        snprintf(g[i].value, sizeof g[i].value, "%ld", counts[i]);
    snprintf(g[5].value, sizeof g[5].value, "%s", db_get(s, 0, "overdue"));
    snprintf(g[6].value, sizeof g[6].value, "%s", db_get(s, 0, "held_past_deadline"));
    snprintf(g[7].value, sizeof g[7].value, "%s", db_get(s, 0, "violations"));
    snprintf(g[8].value, sizeof g[8].value, "%s", db_get(s, 0, "failing"));
    snprintf(g[9].value, sizeof g[9].value, "%s", db_get(s, 0, "open_batches"));
    snprintf(g[10].value, sizeof g[10].value, "%.3f", seconds);
    snprintf(g[11].value, sizeof g[11].value, "%d", strcmp(l->outcome, "succeeded") == 0);
    snprintf(g[12].value, sizeof g[12].value, "%s", db_get(s, 0, "last_success"));
    for (size_t i = 0; i < sizeof g / sizeof g[0]; i++) {
        fprintf(f, "# HELP %s %s\n# TYPE %s gauge\n%s{shard=\"%s\"} %s\n", g[i].name, g[i].help,
                g[i].name, g[i].name, shard, g[i].value);
        metrics_put_others(f, &others, g[i].name);
    }
    ok = afile_commit(&af, "metrics");
cleanup:
    metrics_others_free(&others);
    afile_abandon(&af);
    metrics_unlock(lock);
    PQclear(r);
    PQclear(s);
    return ok;
}

/* After a batch could not be driven (its manifest could not be written: a spool directory
 * gone bad, a file in the way), the other batches are driven still when the connection is as
 * it should be: one location's trouble does not stop every other location's purges. The run
 * ends failed all the same (exit 1), with the first reason. */
static bool drive_error_contained(PGconn *db)
{
    return PQstatus(db) == CONNECTION_OK && PQtransactionStatus(db) == PQTRANS_IDLE;
}

/* The manifest of a batch a run leaves open (its path in PATH), or false after saying why: the
 * next run writes it. */
static bool write_left_manifest(struct lethe_ctx *ctx, const char *batch, const char *location,
                                char *path, size_t cap)
{
    if (manifest_write(ctx->db, &ctx->audit_key, ctx->cfg.spool_dir, location, batch, path, cap,
                       NULL))
        return true;
    log_warn("batch %s (%s) left open without its manifest: %s; the next run writes it", batch,
             location, log_last_error()[0] ? log_last_error() : db_last_message());
    return false;
}

/* A run stopped before it drove the batches it emitted from index FROM on: each one's manifest
 * is written still (SPEC §4: each batch's manifest, then its executor), so that every open batch
 * can be deleted by hand and acknowledged, or looked at, before the next run drives it. A batch
 * whose manifest cannot be written is said, and the next run writes it. */
static void write_left_manifests(struct lethe_ctx *ctx, const PGresult *r, int from)
{
    for (int j = from; j < PQntuples(r); j++) {
        const char *batch = db_get(r, j, "batch_id"), *location = db_get(r, j, "location");
        char path[4200];
        if (!write_left_manifest(ctx, batch, location, path, sizeof path)) {
            if (!drive_error_contained(ctx->db))
                return;
            continue;
        }
        log_info("batch %s (%s) left open, its manifest written to %s: the next run drives it, "
                 "or 'lethe ack' records what was deleted by hand", batch, location, path);
    }
}

/* A batch of a location whose deleter timed out earlier in this run stays open for the next
 * run, said and counted, with its manifest written (SPEC §4: each batch's manifest, then its
 * executor), so that it can be deleted by hand and acknowledged before the next run drives it;
 * true when so. Left without it, `lethe batches` showed no manifest for a batch the run had
 * emitted, and the run's summary counted its items nowhere (an outside tryout's finding). */
static bool left_for_timeout(struct lethe_ctx *ctx, struct run_life *l, const char *batch_id,
                             const char *location, long items)
{
    struct run_counts *c = &l->c;
    const char *on = cycle_timed_out(c, location);
    if (!on)
        return false;
    c->left_open++;
    c->left_open_items += items;
    char path[4200];
    if (write_left_manifest(ctx, batch_id, location, path, sizeof path))
        log_warn("batch %s (%s) left open for the next run, its manifest written to %s: %s's "
                 "deleter timed out on batch %s in this run", batch_id, location, path, location,
                 on);
    else {
        /* as when a batch being driven cannot have its manifest (it went unsaid here: exit 0,
         * the run succeeded; an outside tryout's finding) */
        log_warn("batch %s (%s) left open for the next run: %s's deleter timed out on batch %s "
                 "in this run", batch_id, location, location, on);
        run_life_fail(l, "batch %s: its manifest could not be written: %s; it stays open",
                      batch_id, log_last_error()[0] ? log_last_error() : db_last_message());
    }
    return true;
}

/* Which holds may cover an open batch's items, not which items (rerun counts those). Counting the items walks each
 * one's lineage, which on copies thousands deep took 90 s, at every run while the batch waits;
 * a rerun, an operator's act, counts them. Returns whether it warned. */
static bool warn_holds_since(PGconn *db, const char *batch, const char *location)
{
    PGresult *h = dbcycle_batch_holds_since(db, batch);
    for (int i = 0; h && i < PQntuples(h); i++)
        log_warn("batch %s (%s): hold %s, placed on tenant %s since the batch was made, may cover "
                 "some of its items; a hold does not recall a batch already emitted: they stay "
                 "in it, and go to its deleter", batch, location, db_str(h, i, "hold_id"),
                 db_str(h, i, "tenant_id"));
    bool said = h && PQntuples(h) > 0;
    PQclear(h);
    return said;
}

/* Re-drives the open batches a dead run (or an earlier attempt) left behind: every open batch
 * whose tenants all belong to this run's shard, whatever N it was emitted under. False when
 * the run cannot go on (the listing failed, or a batch's error left the connection unusable). */
static bool redrive(struct lethe_ctx *ctx, struct run_life *l, const char *k, const char *n)
{
    PGresult *r = dbcycle_open_batches(ctx->db, k, n);
    if (!r) {
        run_life_fail(l, "listing open batches failed: %s", db_last_message());
        return false;
    }
    bool ok = true, held_said = false;
    for (int i = 0; i < PQntuples(r); i++) {
        if (cycle_stopping()) {
            run_life_interrupt(l, "while re-driving open batches; the rest stay open for the next run");
            break;
        }
        if (left_for_timeout(ctx, l, db_get(r, i, "batch_id"), db_get(r, i, "location"),
                             db_get_long(r, i, "items")))
            continue;
        /* Listed open when the re-drive began: a 'lethe ack' made since (while an earlier
         * batch's deleter ran) closed it, and its manifest and deleter are done with. */
        char now[16] = "";
        if (dbcycle_batch_state(ctx->db, db_get(r, i, "batch_id"), false, now, sizeof now) < 0) {
            run_life_fail(l, "batch %s: %s", db_get(r, i, "batch_id"), db_last_message());
            ok = false;
            break;
        }
        if (strcmp(now, "open") != 0) {
            log_info("batch %s (%s) was %s by an acknowledgement made during this run; not "
                     "re-driven", db_get(r, i, "batch_id"), db_get(r, i, "location"), now);
            continue;
        }
        char why[512] = "";
        held_said |= warn_holds_since(ctx->db, db_get(r, i, "batch_id"), db_get(r, i, "location"));
        enum drive_outcome d = cycle_drive_batch(ctx, db_get(r, i, "batch_id"), db_get(r, i, "location"),
                                                 NULL, &l->c, why, sizeof why);
        if (d == DRIVE_ERROR) {
            run_life_fail(l, "%s", why);
            if (!drive_error_contained(ctx->db)) {
                ok = false;
                break;
            }
            continue;
        }
        if (d == DRIVE_STOPPED) {
            run_life_interrupt(l, "while re-driving open batches; the rest stay open for the next run");
            break;
        }
        l->c.redriven++;
    }
    PQclear(r);
    if (held_said)
        log_hint("'lethe rerun BATCH_ID' counts the items each hold covers; each such purge is "
                 "recorded with the hold ('hold in effect at purge')");
    return ok;
}

int cycle_fence_wait(PGconn *db, int (*try_fence)(PGconn *), const struct fence_words *w,
                     int bound)
{
    time_t began = 0, said = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int got; (got = try_fence(db)) != 1;) {
        if (got < 0)
            return -1;
        if (cycle_stopping())
            return 0;
        if (bound > 0 && secs_since(&t0) >= bound)
            return 2;
        /* Said at once and each minute: a command that waits says nothing else, and a run
         * holds the run lock meanwhile (the timer's next runs exit 3). */
        time_t now = time(NULL);
        if (!began) {
            began = said = now;
            log_info("%s: %s", w->command, w->first);
        } else if (now - said >= 60) {
            said = now;
            log_warn("%s: still waiting, for %lds, for %s (its session holds %s)", w->command,
                     (long)(now - began), w->what, w->lock);
            log_hint("%s", w->hint);
        }
        struct timespec pause = {0, 50 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    return 1;
}

bool cycle_hold_fence(PGconn *db, const char *command, struct run_life *l)
{
    const struct fence_words w = {
        .command = command,
        .first = "a hold is being placed in another session; waiting for it to commit before "
                 "forming batches, so that it keeps its items back",
        .what = "a hold being placed to commit",
        .lock = "the hold fence, advisory lock " HOLD_FENCE_CLASS ", 0",
        .hint = "see pg_stat_activity for that session (a synchronous standby down holds its "
                "commit up); SIGTERM stops this run, which emits nothing"};
    int got = cycle_fence_wait(db, dbcycle_hold_fence_try, &w, 0);
    if (got < 0)
        run_life_fail(l, "%s failed: %s", command, db_last_message());
    else if (!got)
        run_life_interrupt(l, "while waiting for a hold being placed; no batch was emitted");
    return got == 1;
}

/* Selects the due items and groups them into batches, in one transaction with the audit. */
static PGresult *emit(struct lethe_ctx *ctx, struct run_life *l, const char *k, const char *n)
{
    PGconn *db = ctx->db;
    char maxb[24];
    snprintf(maxb, sizeof maxb, "%lld", ctx->cfg.batch_max_items);
    const char *ep[] = {ctx->session_id, l->as_of, k, n, maxb, l->shard[0] ? l->shard : NULL};
    if (!db_begin(db) || !dbaudit_stage_open(db)) {
        db_rollback(db);
        run_life_fail(l, "emission failed: %s", db_last_message());
        return NULL;
    }
    if (!cycle_hold_fence(db, ctx->command, l)) {
        db_rollback(db);
        return NULL;
    }
    PGresult *r = dbcycle_emit(db, ep, &l->c.held);
    if (!r) {
        run_life_fail(l, "emission failed: %s", db_last_message());
        db_rollback(db);
        return NULL;
    }
    long batches = PQntuples(r), items = 0;
    for (int i = 0; i < batches; i++)
        items += db_get_long(r, i, "items");
    if (batches > 0 && !dbcycle_run_emitted(db, ctx->session_id, batches, items)) {
        run_life_fail(l, "emission failed: %s", db_last_message());
        PQclear(r);
        db_rollback(db);
        return NULL;
    }
    /* A stop request that came while the batches were being formed: none is emitted (SPEC §4:
     * after the request no new batch), and their items stay free for a withdrawal. */
    if (cycle_stopping()) {
        PQclear(r);
        db_rollback(db);
        l->c.held = 0;
        run_life_interrupt(l, "while selecting due items; no batch was emitted");
        return NULL;
    }
    if (!dbaudit_commit(db)) {
        run_life_fail(l, "emission failed: %s", db_last_message());
        PQclear(r);
        return NULL;
    }
    l->c.batches = batches;
    l->c.due += items;
    return r;
}

/* A run that changed the catalog takes status's memory again for the tenants it changed, once
 * its work is recorded, so that the operator's first status after it, and the monthly summary,
 * do not pay for it (at 1M items the first status after an hourly cycle took 0.52-0.73 s, the
 * later ones 0.13-0.16 s: tests/bench/RESULTS.md). It waits a little for a status taking it or
 * for another shard's run between its changes and its commit. An idle run takes it only if a
 * change was marked since (an acknowledgement's). Nothing depends on it: a run that could not
 * take it (the wait ran out, a lost session, an interrupted run) leaves it to the next reader,
 * says so, and its exit status does not change. */
#define REMEMBER_WAIT_SECONDS 10
static void remember_for_status(PGconn *db, const struct run_life *l, bool idle)
{
    if (strcmp(l->outcome, "interrupted") == 0 || cycle_stopping() || PQstatus(db) != CONNECTION_OK)
        return;
    struct timespec tp;
    clock_gettime(CLOCK_MONOTONIC, &tp);
    char why[512] = "";
    db_quiet_for("*"); /* said below, as a warning: the run's own work is done */
    int took = db_status_remember_waiting(db, REMEMBER_WAIT_SECONDS, idle, why, sizeof why);
    db_quiet_for(NULL);
    if (took > 0)
        log_debug("phase status memory: %.3fs", secs_since(&tp));
    else if (took == 0)
        log_debug("status memory: not taken (%s); the next status takes it",
                  idle ? "nothing marked changed since, another session held it, or the role "
                         "may not"
                       : "another session held it, or the role may not");
    else
        log_warn("run: status's memory of what is scheduled was not taken again after the run "
                 "(%s); the next status or export --summary takes it", why);
}

int cycle_run(struct lethe_ctx *ctx, const struct run_opts *o)
{
    PGconn *db = ctx->db;
    struct run_life l;
    memset(&l, 0, sizeof l);
    char k[16], n[16];
    snprintf(k, sizeof k, "%d", o->shard_k);
    snprintf(n, sizeof n, "%d", o->shard_n);
    l.shard_k = o->shard_k;
    l.shard_n = o->shard_n;
    if (o->shard_n)
        snprintf(l.shard, sizeof l.shard, "%d/%d", o->shard_k, o->shard_n);
    l.operator_name = o->operator_name;
    l.metrics_file = o->metrics_file ? o->metrics_file : ctx->cfg.metrics_file;
    PGresult *r = dbcycle_as_of(db, o->as_of[0] ? o->as_of : NULL);
    if (!r)
        return EXIT_RUNTIME;
    snprintf(l.as_of, sizeof l.as_of, "%s", db_get(r, 0, "as_of"));
    bool future = db_true(r, 0, "future");
    PQclear(r);
    if (future && !o->dry_run) {
        log_error("run: --as-of %s is in the future", l.as_of);
        log_hint("evaluate a future instant with --dry-run; a real run purges only what is due now");
        return EXIT_USAGE;
    }
    int rc = cycle_check_executors(ctx, false);
    if (rc != EXIT_DONE)
        return rc;
    /* A dry run shows what the run would do: on a database behind its anchors the run refuses,
     * and what the dry run would list as due (purges the restore took) is not the run's work. */
    if (o->dry_run) {
        if ((rc = anchor_check_before_write(db, ctx->cfg.anchor_file, "run --dry-run",
                                            ANCHOR_WARN_ONLY)) != EXIT_DONE)
            return rc;
        return dbaudit_key_check(db, &ctx->audit_key, false, "run") ? dry_run(ctx, o, l.as_of, k, n)
                                                                     : EXIT_RUNTIME;
    }

    rc = cycle_lock(ctx, o->shard_k, o->shard_n);
    if (rc != EXIT_DONE)
        return rc;
    /* SPEC §7: a database behind its own anchors refuses before it writes anything. */
    if ((rc = anchor_check_before_write(db, ctx->cfg.anchor_file, "run",
                                        ANCHOR_SAY_LACKING | ANCHOR_SAY_MISSING |
                                            ANCHOR_NOTE_GAPS)) != EXIT_DONE)
        return rc;
    if (!dbaudit_key_check(db, &ctx->audit_key, true, "run"))
        return EXIT_RUNTIME;
    cycle_trap_signals(ctx);
    if (!run_life_begin(ctx, &l))
        return EXIT_RUNTIME;
    log_info("run %s started: as_of %s%s%s", ctx->session_id, l.as_of, l.shard[0] ? ", shard " : "",
             l.shard);
    struct run_counts *c = &l.c;
    struct timespec tp;

    /* 2. derive */
    progress_phase("deriving obligations");
    clock_gettime(CLOCK_MONOTONIC, &tp);
    bool idle = false, fast = false;
    if (!db_inbox_fill(db) || !repurge_resent(ctx, &l, k, n) || !db_begin(db) || !sync_rules(ctx) ||
        !derive(ctx, l.as_of, k, n, c, &idle)) {
        run_life_fail(&l, "derivation failed: %s", db_last_message()[0] ? db_last_message() : "see the log");
        db_rollback(db);
        goto finish;
    }
    if (!dbaudit_commit(db)) {
        run_life_fail(&l, "derivation failed: %s", db_last_message()[0] ? db_last_message() : "see the log");
        goto finish;
    }
    fault_point("after_derive");
    fast = idle && !idle_crosscheck();
    if (!fast && !cycle_record_withdrawals(ctx, k, n)) {
        run_life_fail(&l, "recording withdrawals failed: %s",
                      db_last_message()[0] ? db_last_message() : "see the log");
        goto finish;
    }
    if (fast)
        log_debug("phase derive: %.3fs: idle (nothing new, nothing come due): derivation and "
                  "emission skipped", secs_since(&tp));
    else
        log_debug("phase derive: %.3fs: %ld new events, %ld new items, %ld obligations, %ld withdrawn, "
                  "%ld expanded", secs_since(&tp), c->events, c->items, c->obligations, c->withdrawn,
                  c->expanded);
    if (idle && !fast && (c->events || c->items || c->obligations || c->withdrawn || c->expanded)) {
        run_life_fail(&l, "idle cross-check: the probe found nothing to derive, the derivation "
                          "%ld new events, %ld new items, %ld obligations, %ld withdrawn, %ld expanded",
                      c->events, c->items, c->obligations, c->withdrawn, c->expanded);
        goto finish;
    }
    if (cycle_stopping()) {
        run_life_interrupt(&l, "after derivation; nothing was emitted");
        goto finish;
    }

    /* A full spool frees itself: manifests of closed batches go before any is written. */
    char keep[64];
    duration_to_interval(&ctx->cfg.spool_keep, keep, sizeof keep);
    if (manifest_prune(db, ctx->cfg.spool_dir, keep) < 0)
        log_warn("spool: pruning old manifests failed; the next run tries again");

    /* 3. re-drive open batches */
    clock_gettime(CLOCK_MONOTONIC, &tp);
    bool redriven = redrive(ctx, &l, k, n);
    if (l.c.redriven)
        log_debug("phase re-drive: %.3fs: %ld open batch%s", secs_since(&tp), l.c.redriven,
                  l.c.redriven == 1 ? "" : "es");
    if (!redriven || strcmp(l.outcome, "interrupted") == 0)
        goto finish;
    if (cycle_stopping()) {
        run_life_interrupt(&l, "after re-driving open batches; nothing new was emitted");
        goto finish;
    }

    /* 4-5. select due items and group them into batches. The probe's answer for the emission
     * holds only if no open batch was driven since: the items a re-driven batch failed are due
     * again now. */
    if (l.c.redriven)
        idle = fast = false;
    if (fast) {
        fault_point("after_emit");
        log_info("emitted 0 batches with 0 items (%ld held)", c->held);
        goto finish;
    }
    progress_phase("selecting due items");
    clock_gettime(CLOCK_MONOTONIC, &tp);
    long probed_held = c->held;
    r = emit(ctx, &l, k, n);
    if (!r)
        goto finish;
    fault_point("after_emit");
    if (idle && (PQntuples(r) > 0 || c->held != probed_held)) {
        run_life_fail(&l, "idle cross-check: the probe found nothing to emit and %ld held, the "
                          "emission %d batches and %ld held; they stay open for the next run",
                      probed_held, PQntuples(r), c->held);
        PQclear(r);
        goto finish;
    }
    log_info("emitted %ld batch%s with %ld item%s (%ld held)", c->batches, c->batches == 1 ? "" : "es",
             c->due, c->due == 1 ? "" : "s", c->held);
    log_debug("phase emit: %.3fs", secs_since(&tp));

    /* 6-7. manifests, executors, acknowledgements; a stop request is honoured between batches */
    struct progress *pg = progress_new("purging", c->due);
    long done_items = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        int left = PQntuples(r) - i;
        char what[128];
        snprintf(what, sizeof what, "; %d batch%s left open for the next run", left, left == 1 ? "" : "es");
        if (cycle_stopping()) {
            run_life_interrupt(&l, what);
            write_left_manifests(ctx, r, i);
            break;
        }
        if (left_for_timeout(ctx, &l, db_get(r, i, "batch_id"), db_get(r, i, "location"),
                             db_get_long(r, i, "items"))) {
            done_items += db_get_long(r, i, "items");
            progress_update(pg, done_items);
            continue;
        }
        char why[512] = "";
        enum drive_outcome d = cycle_drive_batch(ctx, db_get(r, i, "batch_id"), db_get(r, i, "location"),
                                                 NULL, c, why, sizeof why);
        if (d == DRIVE_ERROR) {
            run_life_fail(&l, "%s; it stays open", why);
            if (!drive_error_contained(db))
                break;
            continue;
        }
        if (d == DRIVE_STOPPED) {
            run_life_interrupt(&l, what);
            write_left_manifests(ctx, r, i + 1);
            break;
        }
        done_items += db_get_long(r, i, "items");
        progress_update(pg, done_items);
    }
    progress_free(pg);
    PQclear(r);
    log_debug("phase drive: %.3fs writing manifests, %.3fs in executors; phase ack: %.3fs",
              c->secs_manifest, c->secs_executor, c->secs_ack);

finish:
    /* Status's memory before the run's end is recorded, so that a stop request while it is
     * taken (up to REMEMBER_WAIT_SECONDS waiting for it, 0.3-0.5 s taking it at 1M items) is
     * read below: after the end was recorded, a run told to stop said so and ended succeeded,
     * exit 0 (an outside tryout's finding). */
    remember_for_status(db, &l, fast && !c->redriven);
    /* A stop request that came while the last batch was driven (or while none was emitted)
     * found no safe point after it; it is still a stop request: the run ends interrupted. */
    if (cycle_stopping())
        run_life_interrupt(&l, "after its last batch; nothing was left undone");
    if (!run_life_end(ctx, &l))
        rc = EXIT_RUNTIME;
    else
        rc = strcmp(l.outcome, "succeeded") == 0 ? EXIT_DONE : EXIT_RUNTIME;
    /* One that came while the end itself was recorded is too late to change it. */
    if (rc == EXIT_DONE && cycle_stopping())
        log_warn("run: the stop request came while the run recorded its end: it had done all its "
                 "work, and succeeded");
    double secs = secs_since(&l.t0); /* the run's own work, as lethe.runs records it */
    if (o->json)
        report_run_json(stdout, ctx->session_id, l.outcome, l.as_of, l.shard, c, secs);
    else {
        /* Open batches a run re-drove are named only when there were any, after the counts
         * scripts read (purged and failed include theirs). */
        char again[64] = "", left[128] = "", re[48] = "";
        /* repurges done are named only when there were any: scripts read purged as before */
        if (c->repurged)
            snprintf(re, sizeof re, ", %ld item%s repurged", c->repurged,
                     c->repurged == 1 ? "" : "s");
        if (c->redriven)
            snprintf(again, sizeof again, ", %ld open batch%s re-driven", c->redriven,
                     c->redriven == 1 ? "" : "es");
        /* and those a timed-out deleter's location left open, whose items are neither purged
         * nor failed */
        if (c->left_open)
            snprintf(left, sizeof left, ", %ld batch%s (%ld item%s) left open for the next run",
                     c->left_open, c->left_open == 1 ? "" : "es", c->left_open_items,
                     c->left_open_items == 1 ? "" : "s");
        printf("run %s %s: as_of %s%s%s, %ld new events, %ld due, %ld batches, %ld purged, "
               "%ld failed items, %ld failed batches, %ld held%s%s%s, %.2fs\n",
               ctx->session_id, l.outcome, l.as_of, l.shard[0] ? ", shard " : "", l.shard, c->events,
               c->due, c->batches, c->purged, c->failed, c->failed_batches, c->held, re, again,
               left, secs);
    }
    return rc;
}
