/* lethe rerun: an operator re-drives an open batch (manifest again, executor again), or puts
 * a failed batch's still-due items into a new batch at once. Takes the run lock. */
#define _POSIX_C_SOURCE 200809L
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "anchor.h"
#include "cli.h"
#include "cycle.h"
#include "db.h"
#include "dbcycle.h"
#include "dbaudit.h"
#include "dbstatus.h"
#include "exitcode.h"
#include "jobs.h"
#include "log.h"
#include "operator.h"

/* The failed batch's items a rerun leaves, and why (held, scheduled for later, or owed nothing).
 * Returns how many are held: the rerun's record counts them, as a run's does. */
static long say_left_behind(PGconn *db, const char *batch)
{
    long held = 0;
    PGresult *w = db_batch_items_not_owed(db, batch);
    for (int i = 0; w && i < PQntuples(w); i++) {
        const char *n = db_str(w, i, "items"), *why = db_str(w, i, "why");
        bool one = strcmp(n, "1") == 0;
        if (strcmp(why, "held") == 0) {
            held += atol(n);
            log_info("rerun: %s of its items %s held by hold %s", n, one ? "is" : "are",
                     db_str(w, i, "hold_id"));
            log_hint("'lethe explain ITEM_ID' lists every hold on an item; the first run once none "
                     "keeps %s batches %s", one ? "it" : "them", one ? "it" : "them");
        } else if (strcmp(why, "scheduled") == 0) {
            log_info("rerun: %s of its items %s not due before %s (%s)", n, one ? "is" : "are",
                     db_str(w, i, "due_at"), db_str(w, i, "rule"));
        } else {
            log_info("rerun: %s of its items owe%s nothing any more (a request withdrawn, or "
                     "its rule disabled)", n, one ? "s" : "");
        }
    }
    PQclear(w);
    return held;
}

/* SPEC §3: a hold does not recall a batch already emitted, and a rerun hands its items to the
 * deleter again: whoever reruns it must know what a hold placed since covers, as whoever places
 * the hold is told (hold place). Counted item by item: an operator's act, not every run's (a run
 * names the holds only: cycle.c). */
static void warn_held(PGconn *db, const char *batch)
{
    PGresult *h = dbcycle_batch_items_held(db, batch);
    for (int i = 0; h && i < PQntuples(h); i++) {
        const char *n = db_str(h, i, "items");
        bool one = strcmp(n, "1") == 0;
        log_warn("rerun: %s of its items %s held by hold %s, which does not recall a batch already "
                 "emitted: %s in it, and go%s to its deleter", n, one ? "is" : "are",
                 db_str(h, i, "hold_id"), one ? "it stays" : "they stay", one ? "es" : "");
    }
    if (h && PQntuples(h) > 0)
        log_hint("each such purge is recorded with the hold ('hold in effect at purge'); "
                 "'lethe explain ITEM_ID' lists an item's holds");
    PQclear(h);
}

int job_rerun(struct lethe_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{"operator", required_argument, 0, 'o'},
                                         {"tenant", required_argument, 0, 't'},
                                         {0, 0, 0, 0}};
    const char *operator_name = NULL;
    char tenant[UUID_TEXT_LEN] = "", batch[UUID_TEXT_LEN];
    optind = 1;
    int c;
    while ((c = cli_getopt(ctx, argc, argv, "", opts)) != -1) {
        if (c == 'o')
            operator_name = optarg; /* cli_getopt refused a blank one */
        else if (c == 't') {
            if (!cli_id(ctx, "--tenant", optarg, tenant))
                return EXIT_USAGE;
        } else
            return EXIT_USAGE;
    }
    if (optind >= argc)
        return cli_usage(ctx, "rerun: which batch? give BATCH_ID");
    if (optind + 1 < argc)
        return cli_usage(ctx, "rerun: unexpected argument '%s'", argv[optind + 1]);
    if (!cli_id(ctx, "BATCH_ID", argv[optind], batch))
        return EXIT_USAGE;
    if (!operator_resolve(ctx, &operator_name))
        return EXIT_USAGE;
    /* The anchor file is written once the rerun's work is committed: judged before. */
    if (ctx->parse_only && !config_check_run_files(&ctx->cfg, NULL, true))
        return EXIT_USAGE;
    if (ctx->parse_only)
        return EXIT_DONE;
    PGconn *db = ctx->db;
    PGresult *r = dbcycle_batch_of(db, batch, tenant[0] ? tenant : NULL);
    if (!r)
        return EXIT_RUNTIME;
    if (PQntuples(r) == 0) {
        PQclear(r);
        log_error("rerun: unknown batch %s%s%s", batch, tenant[0] ? " for tenant " : "", tenant);
        log_hint(tenant[0] ? "no batch of that id holds an item of that tenant; 'lethe batches "
                             "--tenant T' lists the tenant's batches"
                           : "'lethe batches --state open' and 'lethe batches --state failed' list "
                             "them");
        return EXIT_USAGE;
    }
    char state[32], location[64];
    struct run_life l;
    memset(&l, 0, sizeof l);
    bool acknowledged = strcmp(db_get(r, 0, "state"), "acknowledged") == 0;
    PQclear(r);
    if (!acknowledged) {
        int rc = cycle_check_executors(ctx, false);
        if (rc == EXIT_DONE)
            rc = cycle_lock(ctx, 0, 0);
        if (rc != EXIT_DONE)
            return rc;
        /* The batch as it stands once the lock is held: an ack may have closed it meanwhile. */
        if (!(r = dbcycle_batch_of(db, batch, tenant[0] ? tenant : NULL)))
            return EXIT_RUNTIME;
        snprintf(state, sizeof state, "%s", db_get(r, 0, "state"));
        snprintf(location, sizeof location, "%s", db_get(r, 0, "location"));
        snprintf(l.as_of, sizeof l.as_of, "%s", db_get(r, 0, "now"));
        PQclear(r);
        acknowledged = strcmp(state, "acknowledged") == 0;
    }
    if (acknowledged) {
        log_error("rerun: batch %s is acknowledged; there is nothing to rerun", batch);
        log_hint("'lethe batches --state acknowledged' lists it; 'lethe explain ITEM_ID', for an "
                 "item of its manifest, shows when that item was purged");
        return EXIT_USAGE;
    }
    if (strcmp(state, "open") == 0)
        warn_held(db, batch);
    int rc = anchor_check_before_write(db, ctx->cfg.anchor_file, "rerun", 0);
    if (rc != EXIT_DONE)
        return rc;
    if (!dbaudit_key_check(db, &ctx->audit_key, true, "rerun"))
        return EXIT_RUNTIME;
    cycle_trap_signals(ctx);
    /* A rerun is a run: the same record, run_started, run_finished and checkpoint. */
    l.operator_name = operator_name;
    /* A run of one batch, not over the catalog: status --check does not take it for one. */
    l.trigger = "rerun";
    if (!run_life_begin(ctx, &l))
        return EXIT_RUNTIME;
    struct run_counts *cnt = &l.c;

    char new_batch[UUID_TEXT_LEN] = "";
    bool failed = strcmp(state, "failed") == 0;
    /* A failed batch's items go again only while still due: what was withdrawn (a request
     * cancelled) or disabled since the batch failed is derived first, committed, as a run
     * would. */
    if ((failed && !cycle_derive_all(ctx, &l, cnt)) || !db_begin(db) || !dbaudit_stage_open(db)) {
        db_rollback(db);
        run_life_fail(&l, "rerun failed: %s", db_last_message());
        goto finish;
    }
    if (failed && !cycle_hold_fence(db, ctx->command, &l)) {
        db_rollback(db);
        goto finish;
    }
    if (failed) {
        r = dbcycle_emit_again(db, ctx->session_id, batch);
        if (!r) {
            run_life_fail(&l, "rerun failed: %s", db_last_message());
            db_rollback(db);
            goto finish;
        }
        if (cycle_stopping()) {
            PQclear(r);
            db_rollback(db);
            run_life_interrupt(&l, "while batching the failed batch's items again; no batch was emitted");
            goto finish;
        }
        if (PQntuples(r) > 0) {
            snprintf(new_batch, sizeof new_batch, "%s", db_get(r, 0, "batch_id"));
            cnt->batches = 1;
            cnt->due = db_get_long(r, 0, "items");
            if (!dbcycle_run_emitted(db, ctx->session_id, cnt->batches, cnt->due)) {
                PQclear(r);
                run_life_fail(&l, "rerun failed: %s", db_last_message());
                db_rollback(db);
                goto finish;
            }
        }
        PQclear(r);
    }
    const char *ap[] = {ctx->session_id, operator_name, batch, location,
                        new_batch[0] ? new_batch : NULL, state};
    if (!dbcycle_stage_rerun(db, ap)) {
        run_life_fail(&l, "rerun failed: %s", db_last_message());
        db_rollback(db);
        goto finish;
    }
    if (!dbaudit_commit(db)) {
        run_life_fail(&l, "rerun failed: %s", db_last_message());
        goto finish;
    }
    const char *target = strcmp(state, "open") == 0 ? batch : new_batch[0] ? new_batch : NULL;
    enum drive_outcome d = DRIVE_ACKNOWLEDGED;
    char why[512] = "";
    if (target) {
        if (target == batch)
            cnt->redriven = 1;
        d = cycle_drive_batch(ctx, target, location, operator_name, cnt, why, sizeof why);
        if (d == DRIVE_ERROR)
            run_life_fail(&l, "%s", why);
        else if (d == DRIVE_STOPPED)
            run_life_interrupt(&l, "before the executor started; the batch stays open");
    }
    /* an open repurge batch's items were purged before: those deleted again are named, as a
     * run names them (it said "0 purged" and nothing of them) */
    char re[48] = "";
    if (cnt->repurged)
        snprintf(re, sizeof re, ", %ld repurged", cnt->repurged);
    if (target == batch)
        printf("rerun: batch %s re-driven: %ld purged%s, %ld failed\n", batch, cnt->purged, re,
               cnt->failed);
    else if (target) {
        printf("rerun: failed batch %s: still-due items put in new batch %s: %ld purged, %ld failed\n",
               batch, new_batch, cnt->purged, cnt->failed);
        cnt->held += say_left_behind(db, batch);
    }
    else {
        printf("rerun: failed batch %s: none of its items is due any more; no new batch\n", batch);
        /* Say where they went: at 3 a.m. "not due" reads as "lost". */
        PGresult *w = db_batch_items_elsewhere(db, batch);
        for (int i = 0; w && i < PQntuples(w); i++) {
            const char *n = db_str(w, i, "items"), *other = db_str(w, i, "batch_id");
            bool open = strcmp(db_str(w, i, "state"), "open") == 0;
            log_info("rerun: %s of its items %s in %sbatch %s", n,
                     strcmp(n, "1") == 0 ? (open ? "is" : "was purged") : (open ? "are" : "were purged"),
                     open ? "open " : "", other);
            if (open)
                log_hint("'lethe rerun %s' drives that batch now", other);
        }
        PQclear(w);
        cnt->held += say_left_behind(db, batch);
    }
    /* A failed repurge is not due to any run: said, or "nothing is due" reads as "nothing is
     * left" while status --check pages about the objects still stored. */
    long rep = target == batch ? 0 : dbcycle_batch_repurges_failed(db, batch);
    if (rep > 0) {
        log_warn("rerun: %ld of its items %s repurge%s that failed, which no run or rerun batches "
                 "again", rep, rep == 1 ? "is a" : "are", rep == 1 ? "" : "s");
        log_hint("'lethe reconcile' or 'lethe replay', whichever made %s, batches %s again; "
                 "'lethe status --check' counts %s until then", rep == 1 ? "it" : "them",
                 rep == 1 ? "it" : "them", rep == 1 ? "it" : "them");
    }
    /* A stop request that reached the executor is why it failed: the rerun ends interrupted, as
     * a run does (SPEC §4), at the safe point below. */
    if (d == DRIVE_WHOLE_FAILED && !cycle_stopping())
        run_life_fail(&l, "the executor failed the batch as a whole");
finish:
    if (cycle_stopping())
        run_life_interrupt(&l, "while the batch was driven; its receipts are recorded");
    if (!run_life_end(ctx, &l))
        return EXIT_RUNTIME;
    return strcmp(l.outcome, "succeeded") == 0 ? EXIT_DONE : EXIT_RUNTIME;
}
