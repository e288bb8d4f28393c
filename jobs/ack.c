/* lethe ack: acknowledge a batch by hand (deployments without an executor). Validates every
 * id before changing anything; an unknown batch or an item outside it changes nothing. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "anchor.h"
#include "cli.h"
#include "config.h"
#include "cycle.h"
#include "db.h"
#include "dbaudit.h"
#include "dbcycle.h"
#include "executor.h"
#include "exitcode.h"
#include "jobs.h"
#include "log.h"
#include "manifest.h"
#include "operator.h"
#include "text.h"

/* The late acknowledgement of failed repurge batch BATCH: every failed repurge of it that no
 * repurge batch took again since recorded done on its word, in one transaction with its record
 * (sql/0113); those taken again are left to their batch. --failed is refused here (a partial
 * one would leave no record of which repurges it settled). */
static int ack_repurges_late(struct lethe_ctx *ctx, const char *batch, const struct exec_result *er,
                             const char *operator_name)
{
    if (er->n_failed > 0) {
        log_error("ack: batch %s is a repurge batch that failed: a late acknowledgement of it "
                  "records every repurge of it that failed done, and names none failed; nothing "
                  "was changed", batch);
        log_hint("acknowledge it without --failed if its deleter deleted them all; otherwise "
                 "'lethe reconcile --location GEO INVENTORY' with a fresh inventory puts an object "
                 "still stored in a repurge batch again (after a restore, 'lethe replay' does)");
        return EXIT_USAGE;
    }
    /* Under the run lock: a replay or reconcile batching them again meanwhile took its locator
     * from a catalog row this tombstones (an outside tryout's finding). */
    int rc = cycle_lock(ctx, 0, 0);
    if (rc != EXIT_DONE)
        return rc;
    if ((rc = anchor_check_before_write(ctx->db, ctx->cfg.anchor_file, "ack", 0)) != EXIT_DONE)
        return rc;
    PGconn *db = ctx->db;
    PGresult *r = NULL;
    rc = EXIT_RUNTIME;
    if (!db_begin(db))
        return rc;
    if (!dbaudit_stage_open(db) || !dbcycle_batch_ack_lock(db, batch, false) ||
        !(r = dbcycle_repurge_ack_late(db, batch, operator_name))) {
        db_rollback(db);
        goto done;
    }
    long settled = db_get_long(r, 0, "settled"), declared = db_get_long(r, 0, "declared"),
         rebatched = db_get_long(r, 0, "rebatched");
    char which[160] = "";
    const char *into_state = db_str(r, 0, "into_state");
    /* The repurge's state in it: pending (the batch open), done, or failed (a late ack of
     * that batch settles it). */
    if (db_str(r, 0, "into")[0])
        snprintf(which, sizeof which, " (batch %s, %s)", db_str(r, 0, "into"),
                 strcmp(into_state, "pending") == 0 ? "open, which settles them"
                 : strcmp(into_state, "failed") == 0 ? "failed: acknowledge it late if its deleter "
                                                       "deleted them"
                                                     : "which settled them");
    if (!dbaudit_commit(db))
        goto done;
    rc = EXIT_DONE;
    /* Those a repurge batch took again since are that batch's to settle: said, with it when it
     * is still open. */
    char again[256] = "";
    if (settled > 0 && rebatched > 0)
        snprintf(again, sizeof again, "; %ld other%s %s put in a repurge batch again since%s",
                 rebatched, rebatched == 1 ? "" : "s", rebatched == 1 ? "was" : "were", which);
    if (settled == 0 && rebatched > 0)
        printf("ack: batch %s failed, and its %ld failed repurge%s %s put in a repurge batch "
               "again since%s; nothing left to acknowledge, nothing changed\n", batch, rebatched,
               rebatched == 1 ? "" : "s", rebatched == 1 ? "was" : "were", which);
    else if (settled == 0)
        printf("ack: batch %s failed, and none of its repurges is failed; nothing changed\n", batch);
    else
        printf("ack: batch %s acknowledged late: 0 purged, %ld repurged, 0 failed%s\n", batch,
               settled, again);
    if (settled == 0)
        goto done;
    /* As a late ack of any batch warns of failures someone declared: recorded done anyway. */
    log_warn("ack: %ld repurge%s of failed batch %s %s recorded done on this acknowledgement's "
             "word%s", settled, settled == 1 ? "" : "s", batch, settled == 1 ? "is" : "are",
             declared == 0 ? ""
             : declared == settled ? (settled == 1 ? ", though a receipt had said it failed"
                                                   : ", though receipts had said they failed")
                                   : ", though receipts had said some of them failed");
    log_hint("if the objects were not deleted, 'lethe reconcile --location GEO INVENTORY' "
             "finds them in the storage's inventory");
done:
    PQclear(r);
    return rc;
}

int job_ack(struct lethe_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{"failed", required_argument, 0, 'f'},
                                         {"operator", required_argument, 0, 'o'},
                                         {"tenant", required_argument, 0, 't'},
                                         {0, 0, 0, 0}};
    struct exec_result er;
    memset(&er, 0, sizeof er);
    er.ok = true;
    const char *operator_name = NULL;
    char tenant[UUID_TEXT_LEN] = "", batch[UUID_TEXT_LEN];
    int rc = EXIT_USAGE;
    PGresult *in_open = NULL, *declared = NULL, *failed_ids = NULL;
    optind = 1;
    int c;
    while ((c = cli_getopt(ctx, argc, argv, "", opts)) != -1) {
        if (c == 'f') {
            char idtext[64], id[UUID_TEXT_LEN], reason[204];
            const char *colon = strchr(optarg, ':');
            size_t n = colon ? (size_t)(colon - optarg) : strlen(optarg);
            snprintf(idtext, sizeof idtext, "%.*s", (int)(n < 63 ? n : 63), optarg);
            if (!cli_id(ctx, "--failed", idtext, id))
                goto cleanup;
            /* Two reasons for one item: one would be dropped without a word. */
            for (int i = 0; i < er.n_failed; i++)
                if (strcmp(er.failed[i].item_id, id) == 0) {
                    rc = cli_usage(ctx, "ack: --failed names item %s twice; give it once, with "
                                   "one reason", id);
                    goto cleanup;
                }
            const char *why = colon && colon[1] ? colon + 1 : "failed (ack)";
            if (!exec_result_add(&er, id, text_clean(why, strlen(why), reason, sizeof reason)))
                goto cleanup;
        } else if (c == 'o') {
            operator_name = optarg;
        } else if (c == 't') {
            if (!cli_id(ctx, "--tenant", optarg, tenant))
                goto cleanup;
        } else {
            goto cleanup;
        }
    }
    if (optind >= argc) {
        rc = cli_usage(ctx, "ack: which batch? give BATCH_ID");
        goto cleanup;
    }
    if (optind + 1 < argc) {
        rc = cli_usage(ctx, "ack: unexpected argument '%s'", argv[optind + 1]);
        goto cleanup;
    }
    if (!cli_id(ctx, "BATCH_ID", argv[optind], batch))
        goto cleanup;
    /* An acknowledgement by hand is an operator's act: its records name who made it. */
    if (!operator_resolve(ctx, &operator_name)) {
        rc = EXIT_USAGE;
        goto cleanup;
    }
    if (ctx->parse_only) {
        rc = EXIT_DONE;
        goto cleanup;
    }

    /* Held from before the batch's state is read to the end: another ack of the same batch
     * (an operator's, a run's) waits, and this one reads what that one left. Two operators
     * acking at once both read it open: the one that came second recorded failed items as
     * purged without the warning that says so. */
    if (!dbcycle_batch_ack_lock(ctx->db, batch, true)) {
        rc = EXIT_RUNTIME;
        goto cleanup;
    }
    PGresult *r = dbcycle_batch_of(ctx->db, batch, tenant[0] ? tenant : NULL);
    if (!r) {
        rc = EXIT_RUNTIME;
        goto cleanup;
    }
    if (PQntuples(r) == 0) {
        log_error("ack: unknown batch %s%s%s", batch, tenant[0] ? " for tenant " : "", tenant);
        /* A restored database lacks the batches emitted after its backup: said, with the way
         * on (it sent the operator to the batches in flight alone). */
        char behind[2048];
        if (ctx->cfg.anchor_file && access(ctx->cfg.anchor_file, R_OK) == 0 &&
            anchor_behind(ctx->db, ctx->cfg.anchor_file, behind, sizeof behind, ANCHOR_WARN_ONLY) > 0)
            log_hint("%s: a batch emitted after the backup this database was restored from is not "
                     "in it, and its items are live here again; run 'lethe replay EXPORT...' with "
                     "the exports written since, and the next run batches those still due (their "
                     "deleter finds them absent)", behind);
        else
            log_hint("'lethe batches --state open' lists the batches in flight");
        PQclear(r);
        goto cleanup;
    }
    bool already = strcmp(db_get(r, 0, "state"), "acknowledged") == 0;
    bool was_failed = strcmp(db_get(r, 0, "state"), "failed") == 0;
    /* An open batch no deleter was ever handed (0 attempts), whose manifest is not in the
     * spool, while its location has a deleter: the run that made it stopped before it wrote
     * the manifest (an outside tryout killed one, ran the deleter over the spool by hand and
     * acknowledged every open batch: 710 purges recorded, their files still on disk). Said,
     * before its purges are recorded on this acknowledgement's word. */
    char never_handed[600] = "";
    char mpath[4096];
    struct stat mst;
    if (!already && !was_failed && atol(db_str(r, 0, "attempts")) == 0 &&
        config_executor_for(&ctx->cfg, db_str(r, 0, "location")) && ctx->cfg.spool_dir &&
        manifest_path(ctx->cfg.spool_dir, db_str(r, 0, "location"), batch, mpath, sizeof mpath) &&
        !(stat(mpath, &mst) == 0 && S_ISREG(mst.st_mode)))
        snprintf(never_handed, sizeof never_handed,
                 "ack: batch %s (%s item%s, %s) was never handed to its deleter (0 attempts) and "
                 "its manifest is not in the spool: its items are recorded purged on this "
                 "acknowledgement's word alone", batch, db_str(r, 0, "items"),
                 strcmp(db_str(r, 0, "items"), "1") == 0 ? "" : "s", db_str(r, 0, "location"));
    PQclear(r);
    enum drive_outcome out;
    for (int i = 0; i < er.n_failed; i++) {
        int found = dbcycle_batch_has_item(ctx->db, batch, er.failed[i].item_id);
        if (found < 0) {
            rc = EXIT_RUNTIME;
            goto cleanup;
        }
        if (!found) {
            log_error("ack: item %s is not in batch %s; nothing was changed", er.failed[i].item_id,
                      batch);
            log_hint("name only items listed in the batch's manifest");
            goto cleanup;
        }
    }
    if (already) {
        /* A failure reported for an item already acknowledged contradicts a deletion on record:
         * the record stands (an ack is idempotent, SPEC §4), but the contradiction is not dropped
         * in silence, since the object may still be in storage. */
        if (er.n_failed > 0)
            cycle_warn_failed_after_purge("ack: ", batch, "acknowledged already", er.n_failed);
        /* Closed with no item purged in it: a late acknowledgement of another batch purged them
         * all (sql/0079). */
        int purged_in = dbcycle_batch_purged_any(ctx->db, batch);
        if (purged_in < 0) {
            rc = EXIT_RUNTIME;
            goto cleanup;
        }
        printf("ack: batch %s was already acknowledged%s; nothing changed\n", batch,
               purged_in ? "" : ": its items had been purged through another batch");
        rc = EXIT_DONE;
        goto cleanup;
    }
    /* A failed repurge batch (reconcile's or replay's: items purged before whose objects were
     * found again): ack_batch settles no repurge after the failure (it leaves a repurge's items
     * out of what it purges), yet closed the batch acknowledged, its audit record saying so,
     * the repurge still failed (an outside tryout's finding). Its failed repurges are settled
     * on this acknowledgement's word instead (sql/0113). */
    if (was_failed) {
        long long reps = dbcycle_batch_repurges(ctx->db, batch);
        if (reps < 0) {
            rc = EXIT_RUNTIME;
            goto cleanup;
        }
        if (reps > 0) {
            rc = ack_repurges_late(ctx, batch, &er, operator_name);
            goto cleanup;
        }
    }
    /* A failed batch whose failed items have all been purged since, through batches emitted
     * after it: a late acknowledgement has nothing left to purge. It changes nothing (the
     * batch stays failed, as its deleter reported, and no record is added) and says so. */
    if (was_failed && er.n_failed == 0) {
        PGresult *g = dbcycle_batch_failed_purged_since(ctx->db, batch);
        if (!g) {
            rc = EXIT_RUNTIME;
            goto cleanup;
        }
        long failed = db_get_long(g, 0, "failed"), purged = db_get_long(g, 0, "purged");
        long batches = db_get_long(g, 0, "batches");
        if (failed > 0 && purged == failed) {
            char more[48] = "";
            if (batches > 1)
                snprintf(more, sizeof more, " and %ld other%s", batches - 1, batches == 2 ? "" : "s");
            printf("ack: batch %s failed, and its %ld failed item%s %s been purged since, through "
                   "batch %s%s; nothing left to acknowledge, nothing changed\n", batch, failed,
                   failed == 1 ? "" : "s", failed == 1 ? "has" : "have", db_str(g, 0, "through"),
                   more);
            PQclear(g);
            rc = EXIT_DONE;
            goto cleanup;
        }
        PQclear(g);
    }
    /* After what only reads (an unknown batch or item is still exit 2, an acknowledged batch
     * still exit 0), before the first write. */
    if ((rc = anchor_check_before_write(ctx->db, ctx->cfg.anchor_file, "ack", 0)) != EXIT_DONE)
        goto cleanup;
    /* Read before the ack, which marks those rows superseded, and purges the failed ones. */
    if (was_failed && (!(in_open = dbcycle_batch_failed_in_open(ctx->db, batch)) ||
                       !(declared = dbcycle_batch_failed_by_deleter(ctx->db, batch)) ||
                       !(failed_ids = dbcycle_batch_failed_ids(ctx->db, batch)))) {
        rc = EXIT_RUNTIME;
        goto cleanup;
    }
    if (never_handed[0]) {
        log_warn("%s", never_handed);
        log_hint("'lethe rerun %s' writes its manifest and hands it to the deleter, as the next "
                 "run does; acknowledge by hand only what was deleted", batch);
    }
    struct run_counts counts = {0};
    if ((out = cycle_record_ack(ctx, batch, &er, operator_name, true, &counts, NULL)) == DRIVE_ERROR) {
        rc = EXIT_RUNTIME;
        goto cleanup;
    }
    /* Nothing settled here, yet the batch is acknowledged: by an acknowledgement that took
     * the batch first (its items are purged in it), or now, because another batch purged all
     * its items. */
    int purged_here = 0;
    if (counts.purged == 0 && counts.failed == 0 && out == DRIVE_ACKNOWLEDGED &&
        (purged_here = dbcycle_batch_purged_any(ctx->db, batch)) < 0) {
        rc = EXIT_RUNTIME;
        goto cleanup;
    }
    /* Failed by an earlier acknowledgement, named with --failed again: still failed, with the
     * first reason given, and not counted here. Said, or "0 failed" read as none left. */
    long still = out != DRIVE_ACKNOWLEDGED && (counts.purged || counts.failed)
                     ? dbcycle_batch_still_failed(ctx->db, batch)
                     : 0;
    if (still < 0) {
        rc = EXIT_RUNTIME;
        goto cleanup;
    }
    /* A failed repurge is batched again by reconcile or replay, never by a run (as the run's
     * warning says): "due again at the next run" was said of them too (an outside tryout). A
     * repurge batch holds repurges alone. */
    long rep_failed = out != DRIVE_ACKNOWLEDGED && counts.failed > 0
                          ? dbcycle_batch_repurges_failed(ctx->db, batch)
                          : 0;
    const char *again = rep_failed > 0 ? "its failed repurges are batched again by 'lethe "
                                         "reconcile' or 'lethe replay', never by a run"
                                       : "its failed items are due again at the next run";
    /* A repurge batch's acknowledgement purges nothing anew: it says what it deleted again. */
    char re[48] = "";
    if (counts.repurged)
        snprintf(re, sizeof re, ", %ld repurged", counts.repurged);
    if (counts.repurged && counts.purged == 0 && counts.failed == 0)
        printf("ack: batch %s acknowledged: 0 purged%s, 0 failed\n", batch, re);
    else if (counts.purged == 0 && counts.failed == 0 && out == DRIVE_ACKNOWLEDGED && purged_here)
        printf("ack: batch %s was already acknowledged; nothing changed\n", batch);
    else if (counts.purged == 0 && counts.failed == 0 && out == DRIVE_ACKNOWLEDGED)
        printf("ack: batch %s acknowledged: 0 purged, 0 failed; its items had been purged"
               " through another batch\n", batch);
    else if (counts.purged == 0 && counts.failed == 0)
        printf("ack: batch %s: this acknowledgement was recorded already; nothing changed\n", batch);
    else if (out != DRIVE_ACKNOWLEDGED && still > counts.failed)
        printf("ack: batch %s closed failed: %ld purged, %ld failed, %ld failed before and still "
               "failed (with the reason given first); %s\n", batch, counts.purged, counts.failed,
               still - counts.failed, again);
    else if (out != DRIVE_ACKNOWLEDGED)
        /* The batch ends failed, not acknowledged (SPEC §4), whether this acknowledgement failed
         * items or an earlier one did (it said "acknowledged"). */
        printf("ack: batch %s closed failed: %ld purged%s, %ld failed; %s\n", batch,
               counts.purged, re, counts.failed, again);
    else
        printf("ack: batch %s acknowledged: %ld purged%s, %ld failed\n", batch, counts.purged,
               re, counts.failed);
    /* A late acknowledgement of a failed batch counts (SPEC §4: the deletion happened), even of
     * an item a hold placed since keeps: said, since a hand-made ack may be a mistake. */
    if (was_failed && counts.purged > 0) {
        const char *ids = db_str(failed_ids, 0, "ids");
        PGresult *h = dbcycle_batch_purged_under_hold(ctx->db, batch, ids);
        if (h && db_get_long(h, 0, "items") > 0) {
            long n = db_get_long(h, 0, "items"), holds = db_get_long(h, 0, "holds");
            char more[48] = "";
            if (holds > 1)
                snprintf(more, sizeof more, " and %ld other%s", holds - 1, holds == 2 ? "" : "s");
            log_warn("ack: %ld item%s of failed batch %s %s held when acknowledged (hold %s%s): "
                     "recorded as purged, as the deletion its deleter made",
                     n, n == 1 ? "" : "s", batch, n == 1 ? "was" : "were",
                     db_str(h, 0, "hold_id"), more);
        }
        bool held = h && db_get_long(h, 0, "items") > 0;
        PQclear(h);
        h = dbcycle_batch_purged_withdrawn(ctx->db, batch, ids);
        if (h && db_get_long(h, 0, "items") > 0) {
            long n = db_get_long(h, 0, "items");
            log_warn("ack: %ld item%s of failed batch %s owed nothing when acknowledged (the %s "
                     "%s batched under was withdrawn at %s): recorded as purged, as the deletion "
                     "its deleter made", n, n == 1 ? "" : "s", batch, db_str(h, 0, "rule"),
                     n == 1 ? "it was" : "they were", db_str(h, 0, "withdrawn_at"));
        }
        bool withdrawn = h && db_get_long(h, 0, "items") > 0;
        PQclear(h);
        /* Its items were batched again since it failed: the open batch would have deleted them,
         * and now hands them to no deleter. */
        /* Those this acknowledgement purged: not those it failed (--failed). */
        long n = in_open && db_get_long(in_open, 0, "items") > 0
                     ? dbcycle_batch_purged_among(ctx->db, batch, db_str(in_open, 0, "ids"))
                     : 0;
        if (n < 0) {
            rc = EXIT_RUNTIME;
            goto cleanup;
        }
        bool reopened = n > 0;
        if (reopened) {
            /* Left with no item, that batch was closed with this one (sql/0079). */
            char now[16] = "";
            if (dbcycle_batch_state(ctx->db, db_str(in_open, 0, "open_batch"), false, now,
                                    sizeof now) < 0) {
                rc = EXIT_RUNTIME;
                goto cleanup;
            }
            log_warn("ack: %ld item%s of failed batch %s %s in open batch %s too, emitted since "
                     "it failed: recorded as purged now, so that batch hands %s to no deleter%s",
                     n, n == 1 ? "" : "s", batch, n == 1 ? "was" : "were",
                     db_str(in_open, 0, "open_batch"), n == 1 ? "it" : "them",
                     strcmp(now, "open") == 0 ? ""
                     : strcmp(now, "acknowledged") == 0
                         ? "; left with no other item, it is closed as acknowledged"
                         /* Another ack closed it between this one's reading and its record. */
                         : "; another acknowledgement has closed that batch failed meanwhile "
                           "('lethe batches --state failed' says why)");
        }
        /* A failure someone declared (a deleter's receipt "failed ID REASON", an earlier ack's
         * --failed), now recorded as a deletion on this acknowledgement's word: said, with the
         * first reason. */
        PGresult *dp = declared ? dbcycle_batch_declared_purged(ctx->db, batch,
                                                                db_str(declared, 0, "ids"),
                                                                db_str(declared, 0, "reasons"))
                                : NULL;
        if (declared && !dp) {
            rc = EXIT_RUNTIME;
            goto cleanup;
        }
        long d = dp ? db_get_long(dp, 0, "n") : 0;
        if (d > 0)
            log_warn("ack: %ld item%s of failed batch %s had a failure reported for %s (item %s: "
                     "%s%s): recorded as purged on this acknowledgement's word",
                     d, d == 1 ? "" : "s", batch, d == 1 ? "it" : "them",
                     db_str(dp, 0, "first_item"), text_shown(db_str(dp, 0, "first_reason")),
                     d > 1 ? ", and others" : "");
        PQclear(dp);
        if (held || withdrawn || reopened || d > 0)
            log_hint("if the objects were not deleted, 'lethe reconcile --location GEO INVENTORY' "
                     "finds them in the storage's inventory%s",
                     held ? "; 'lethe explain ITEM_ID' names the hold" : "");
    }
    rc = EXIT_DONE;
cleanup:
    PQclear(in_open);
    PQclear(failed_ids);
    PQclear(declared);
    exec_result_free(&er);
    return rc;
}
