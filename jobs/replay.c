/* lethe replay: heals a database restored from a backup with its exports (SPEC §7). Each export
 * is checked first by lethe verify's own code; then, in one transaction under the run lock,
 * the records that continue a chain from the database's head are appended again verbatim, and
 * the items their item_purged records prove deleted, but that are live again, go into repurge
 * batches for the next run. A chain the database has diverged from is named and left alone. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "audit.h"
#include "anchor.h"
#include "cli.h"
#include "cycle.h"
#include "db.h"
#include "dbaudit.h"
#include "dbrestore.h"
#include "exitcode.h"
#include "ids.h"
#include "jobs.h"
#include "log.h"
#include "text.h"
#include "operator.h"

/* An export is read twice (verify, then the load), so it must be a file, not a stream; and
 * only JSON Lines carries each record exactly as it was hashed. */
static int check_export(const char *path)
{
    struct stat st;
    FILE *f = strcmp(path, "-") == 0 ? NULL : fopen(path, "r");
    if (!f || fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        log_error("replay: '%s' is not a readable export file", path);
        log_hint("replay takes the JSON Lines files that 'lethe export' wrote");
        if (f)
            fclose(f);
        return EXIT_USAGE;
    }
    char head[8] = "";
    size_t n = fread(head, 1, 4, f);
    fclose(f);
    if (n == 4 && memcmp(head, "seq,", 4) == 0) {
        log_error("replay: '%s' is a CSV export", path);
        log_hint("replay takes JSON Lines exports ('lethe export --format jsonl', the default)");
        return EXIT_USAGE;
    }
    return EXIT_DONE;
}

/* Streams one export's lines into replay_lines. */
static bool load_export(struct copy_in *c, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        log_error("replay: cannot read '%s': %s", path, strerror(errno));
        return false;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) >= 0) {
        size_t len = (size_t)n;
        if (len && line[len - 1] == '\n')
            len--;
        if (len && line[len - 1] == '\r')  /* a copy that went through CRLF, as verify reads it */
            len--;
        /* The record before a window (export format 2) is verify's to check, not replay's to
         * append: it is not the export's (SPEC §5), and the chain before the window is the
         * database's own. */
        if (len && !(len > strlen(AUDIT_BEFORE_PREFIX) &&
                     memcmp(line, AUDIT_BEFORE_PREFIX, strlen(AUDIT_BEFORE_PREFIX)) == 0))
            copy_in_field(c, line, len, true);
    }
    bool ok = !ferror(f);
    if (!ok)
        log_error("replay: cannot read '%s': %s", path, strerror(errno));
    free(line);
    fclose(f);
    return ok;
}

static void refused(const char *tenant, const char *outcome, const char *seq)
{
    if (strcmp(outcome, "diverged") == 0)
        log_error("replay: chain %s diverged at seq %s: the database holds another record "
                  "there; left alone", tenant, seq);
    else if (strcmp(outcome, "conflict") == 0)
        log_error("replay: chain %s: the exports disagree at seq %s; left alone", tenant, seq);
    else
        log_error("replay: chain %s: no export holds the record after seq %s; replayed up to it, "
                  "the rest left alone", tenant, seq);
}

/* The verbatim append is lethe_restorer's, a right nobody holds day to day (deploy/roles.sql):
 * the database cannot tell a replayed record from a forged one. Asked before anything is
 * verified, locked or written, so that a role without it learns the procedure, not a failed
 * query; exit 1, as for every statement PostgreSQL refuses for lack of privilege. */
static int may_replay(PGconn *db)
{
    int may = db_may_execute(db, "lethe.audit_append_verbatim(text[])");
    if (may < 0)
        return EXIT_RUNTIME;
    if (may)
        return EXIT_DONE;
    const char *user = PQuser(db);
    log_error("replay: role '%s' may not append exported records to the audit; nothing was "
              "replayed", user);
    log_hint("'lethe replay' needs the privileges of lethe_restorer, which nobody holds day to "
             "day: for the restore a DBA grants it (GRANT lethe_restorer TO %s), you replay, and "
             "the DBA revokes it after (REVOKE lethe_restorer FROM %s); deploy/roles.sql creates "
             "the role", user, user);
    return EXIT_RUNTIME;
}

/* Only what an anchor vouches for is appended. A record re-hashed onto the end of a chain past
 * every head the anchor file names verifies (within the hour after the newest line, as verify
 * says: see vouched() in jobs/verify.c), and once appended it could never be taken back: so the
 * records past the highest seq that any line names for their chain, stamped since the time
 * from which the lines name every chain appended to (their "since"), at seqs the database does
 * not hold, are left out, and said; *DROPPED counts them. After a restore they are usually the
 * genuine tail written after the newest line (an ack, a hold, a request after the last run),
 * which no anchor yet vouches for: the caller batches nothing and exits 4 then. */
static bool keep_vouched(PGconn *db, const char *path, long long *dropped)
{
    struct anchor_head *reach = NULL;
    size_t n = 0;
    char from[AUDIT_TIME_LEN];
    bool bounded;
    if (!anchor_read_reach(path, &reach, &n, from, &bounded))
        return false;
    if (n == 0 || !bounded) { /* no line, or lines that do not say from when they name all */
        free(reach);
        return true;
    }
    char *chains = malloc(n * 38 + 3), *seqs = malloc(n * 21 + 3);
    PGresult *r = NULL;
    bool ok = false;
    if (!chains || !seqs) {
        log_error("replay: out of memory");
        goto cleanup;
    }
    size_t a = 0, q = 0;
    chains[a++] = seqs[q++] = '{';
    for (size_t i = 0; i < n; i++) {
        a += (size_t)sprintf(chains + a, "%s%s", i ? "," : "", reach[i].chain);
        q += (size_t)sprintf(seqs + q, "%s%lld", i ? "," : "", reach[i].seq);
    }
    strcpy(chains + a, "}");
    strcpy(seqs + q, "}");
    if (!(r = dbrestore_replay_keep_vouched(db, chains, seqs, from[0] ? from : "-infinity")))
        goto cleanup;
    /* Only records at seqs the database lacks are left out (one it holds is kept, for
     * replay_chains to find present, or diverged), each counted once. */
    for (int i = 0; i < PQntuples(r); i++)
        *dropped += strtoll(db_str(r, i, "dropped"), NULL, 10);
    for (int i = 0; i < PQntuples(r); i++)
        log_warn("replay: chain %s: %s record%s after seq %s %s anchored by no line of '%s'; "
                 "not replayed (an anchor vouches for a record once a run after it has ended)",
                 db_str(r, i, "tenant_id"), db_str(r, i, "dropped"),
                 strcmp(db_str(r, i, "dropped"), "1") == 0 ? "" : "s", db_str(r, i, "after_seq"),
                 strcmp(db_str(r, i, "dropped"), "1") == 0 ? "is" : "are", path);
    ok = true;
cleanup:
    PQclear(r);
    free(chains);
    free(seqs);
    free(reach);
    return ok;
}

/* 1 when the database (in this transaction) lacks a head the newest anchor line names: given
 * (--anchors), else audit.anchor_file's when it can be read; 0 when it does not or no line is
 * known; -1 on error. */
static int replay_behind_anchor(struct lethe_ctx *ctx, PGconn *db, const struct anchor_line *given)
{
    struct anchor_line own = {0};
    const struct anchor_line *a = given;
    if (!a) {
        const char *path = ctx->cfg.anchor_file;
        if (!path || !*path || access(path, R_OK) != 0)
            return 0;
        if (anchor_read_evidence(db, path, &own) < 0) {
            log_warn("replay: the anchor file '%s' could not be read; the repurges are judged "
                     "without it", path);
            anchor_line_free(&own);
            return 0;
        }
        a = &own;
    }
    int behind = 0;
    if (a->n_heads) {
        PGresult *r = anchor_missing(db, a);
        behind = r ? PQntuples(r) > 0 : -1;
        PQclear(r);
    }
    anchor_line_free(&own);
    return behind;
}

/* Exit 0 only once the database holds every head the newest anchor names (SPEC §7). */
static int check_anchor(PGconn *db, const char *path, const struct anchor_line *a)
{
    if (a->n_heads == 0)
        return EXIT_DONE;
    PGresult *r = anchor_missing(db, a);
    if (!r)
        return EXIT_RUNTIME;
    int missing = PQntuples(r);
    for (int i = 0; i < missing; i++)
        log_error("replay: the database is still behind its anchor: chain %s %s seq %s",
                  db_str(r, i, "chain"),
                  !db_get(r, i, "head_seq") ||
                          db_get_long(r, i, "head_seq") < db_get_long(r, i, "anchored_seq")
                      ? "has no record at"
                      : "holds another record at",
                  db_str(r, i, "anchored_seq"));
    PQclear(r);
    if (missing) {
        log_hint("replay the exports that hold those records too; until then the audit is behind "
                 "'%s'", path);
        return EXIT_CHECK_FAILED;
    }
    printf("replay: caught up with the anchor of run %s (%zu head%s)\n", a->run_id, a->n_heads,
           a->n_heads == 1 ? "" : "s");
    return EXIT_DONE;
}

int job_replay(struct lethe_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{"operator", required_argument, 0, 'o'},
                                         {"anchors", required_argument, 0, 'a'},
                                         {0, 0, 0, 0}};
    const char *operator_name = NULL, *anchors_path = NULL;
    optind = 1;
    int c;
    while ((c = cli_getopt(ctx, argc, argv, "", opts)) != -1) {
        if (c == 'o')
            operator_name = optarg;
        else if (c == 'a')
            anchors_path = optarg;
        else
            return EXIT_USAGE;
    }
    if (optind >= argc)
        return cli_usage(ctx, "replay: no export given");
    if (!operator_resolve(ctx, &operator_name))
        return EXIT_USAGE;
    int first = optind;
    for (int i = first; i < argc; i++) {
        int rc = check_export(argv[i]);
        if (rc != EXIT_DONE)
            return rc;
    }
    if (ctx->parse_only)
        return EXIT_DONE;
    struct anchor_line anchor = {0};
    if (anchors_path) {
        /* --anchors names a file that must be there: no file is a usage error here. */
        if (access(anchors_path, R_OK) != 0) {
            log_error("replay: cannot read the anchor file '%s': %s", anchors_path, strerror(errno));
            log_hint("--anchors names the file of audit.anchor_file, or a copy shipped from it");
            return EXIT_USAGE;
        }
        if (anchor_read_evidence(ctx->db, anchors_path, &anchor) < 0)
            return EXIT_USAGE;
    }
    int rc = may_replay(ctx->db);
    if (rc != EXIT_DONE)
        goto done;
    /* Without --anchors the exports are checked on their own: a forged chain re-hashed to look
     * whole passes that check (the configured anchor file is not taken by default: after a
     * restore it also anchors the heads of a chain that has diverged since, which replay must
     * refuse by name while it heals the others, SPEC §7). */
    if (!anchors_path) {
        log_warn("replay: the exports are checked on their own: a forged chain re-hashed to look "
                 "whole is caught only against the anchor file");
        log_hint("pass --anchors FILE (audit.anchor_file, or a copy shipped off the host)");
    }
    /* The same check as 'lethe verify FILE' (with --anchors FILE when given: a forged chain
     * re-hashed to look whole verifies on its own, but not against the anchors, and its records,
     * once appended, could never be taken back): nothing is replayed from an export that fails.
     * But a format 1 window (a lethe before export_before lines) is read with the chains' first
     * records taken as given, as before: what replay appends must continue the database's own
     * chains, so a cut there is refused as a chain that does not continue. */
    for (int i = first; i < argc; i++) {
        char *vargv[] = {"verify", argv[i], "--anchors", (char *)anchors_path, NULL};
        verify_take_format1_windows(true);
        rc = job_verify(ctx, anchors_path ? 4 : 2, vargv);
        verify_take_format1_windows(false);
        if (rc != EXIT_DONE) {
            log_error("replay: '%s' does not verify; nothing was replayed", argv[i]);
            log_hint("replay only what 'lethe verify' accepts; fetch the export again from where "
                     "it was shipped");
            goto done;
        }
    }

    PGconn *db = ctx->db;
    rc = cycle_lock(ctx, 0, 0);
    if (rc != EXIT_DONE)
        goto done;
    log_set_run_id(ctx->session_id);
    rc = EXIT_RUNTIME;
    PGresult *chains = NULL, *batches = NULL, *ended = NULL, *withheld = NULL, *contra = NULL;
    struct copy_in copy;
    if (!db_begin(db) || !dbaudit_stage_open(db) || !dbrestore_replay_load(db, &copy))
        goto fail;
    bool loaded = true;
    for (int i = first; i < argc && loaded; i++)
        loaded = load_export(&copy, argv[i]);
    if (!copy_in_end(&copy) || !loaded)
        goto fail;
    /* Before anything else is judged: a record at a seq an earlier replay noted as left out
     * must be the one noted (with --anchors or without: without, any export verifies that is
     * re-hashed whole, and its record would have taken the genuine one's seq for good: an
     * outside tryout's finding). */
    if (!(contra = dbrestore_replay_against_notes(db)))
        goto fail;
    long long unvouched = 0;
    if (anchors_path && !keep_vouched(db, anchors_path, &unvouched))
        goto fail;
    if (!(chains = dbrestore_replay_chains(db)) || !(ended = dbrestore_replay_runs_ended(db)))
        goto fail;
    /* Every database's engine chain begins with its first run. An export whose engine chain
     * begins with another record is another database's: its tenant chains, appended here,
     * could never be taken back. Nothing is replayed from such a set of exports. */
    for (int i = 0; i < PQntuples(chains); i++)
        if (strcmp(db_str(chains, i, "tenant_id"), NIL_UUID) == 0 &&
            strcmp(db_str(chains, i, "outcome"), "diverged") == 0 &&
            strcmp(db_str(chains, i, "seq"), "1") == 0) {
            db_rollback(db);
            log_error("replay: the exports' engine chain begins with another record than this "
                      "database's: they are another database's exports; nothing was replayed");
            log_hint("check --db and the files; a database restored from a backup older than "
                     "its first run takes 'lethe export --tenant T' exports, which hold no "
                     "engine chain");
            rc = EXIT_CHECK_FAILED;
            goto cleanup;
        }
    /* The proofs of items not in the catalog first, then the items live again: a row a
     * producer commits meanwhile is absent from the first statement's snapshot (a proof, for
     * the run that takes it in) or present in the second's (a repurge). Taken the other way
     * round, a row committed between the two was in neither, and purged a second time. */
    long long absent = dbrestore_replay_absent_proofs(db);
    if (absent < 0)
        goto fail;
    long long candidates = dbrestore_replay_candidates(db);
    if (candidates < 0)
        goto fail;
    /* A repurge takes the next seqs of the engine chain and of its items' chains. Written before
     * every chain has caught up, those seqs would be the ones a later export holds: the chain
     * forked for good, healed by no replay. So repurges wait while a chain is short of its
     * exports (gap), the exports disagree (conflict), the engine chain diverged, or the database
     * is still behind the anchor file (--anchors, else audit.anchor_file). */
    const char *waiting = NULL;
    for (int i = 0; i < PQntuples(chains) && !waiting; i++) {
        const char *outcome = db_str(chains, i, "outcome");
        if (strcmp(outcome, "gap") == 0 || strcmp(outcome, "conflict") == 0 ||
            (strcmp(outcome, "diverged") == 0 && strcmp(db_str(chains, i, "tenant_id"), NIL_UUID) == 0))
            waiting = "a chain has not caught up with its exports";
    }
    /* Left out, they are still the records at those seqs: a repurge (or the next run) would
     * take the seqs, and the exports holding them would never verify again. After a restore they
     * are genuine records made after the last run (an ack, a hold, a request), exported before
     * the restore (an outside tryout's finding: replay exited 0, an item proven purged stayed
     * live, and the export failed verify for good). */
    if (unvouched)
        waiting = "records past every anchor were left out";
    /* and so are they while an earlier replay's are not appended yet (sql/0111): the seqs they
     * hold are taken by nobody, a repurge included */
    if (!(withheld = dbrestore_withheld_open(db, NULL)))
        goto fail;
    if (PQntuples(withheld) && !waiting)
        waiting = "records a replay left out (past every anchor) are not appended yet";
    if (!waiting && candidates > 0) {
        int behind = replay_behind_anchor(ctx, db, anchors_path ? &anchor : NULL);
        if (behind < 0)
            goto fail;
        if (behind)
            waiting = "the audit is still behind its anchor file";
    }
    long n_batches = 0;
    if (candidates > 0 && !waiting) {
        if (!dbrestore_run_begin(db, ctx->session_id, operator_name, "replay") ||
            !(batches = dbrestore_repurge_emit(db, ctx->session_id, operator_name,
                                               ctx->cfg.batch_max_items)))
            goto fail;
        n_batches = PQntuples(batches);
        if (!dbrestore_run_end(db, ctx->session_id, n_batches, (long)candidates))
            goto fail;
    }
    long long closed = dbrestore_replay_close_batches(db);
    if (closed < 0)
        goto fail;
    long long late = dbrestore_replay_repurges_late(db);
    if (late < 0)
        goto fail;
    cycle_trap_signals_committed(ctx);
    if (!dbaudit_commit(db))
        goto fail;
    if (candidates > 0 && !waiting)
        dbrestore_run_anchored(db, ctx->cfg.anchor_file, ctx->session_id, "replay");

    long long appended = 0;
    long healed = 0, present = 0, n_refused = 0, n_diverged = 0;
    /* A chain left alone from a seq a note holds (dbrestore_replay_against_notes) is refused,
     * whatever replay_chains made of the records before it (it was called present, and the
     * summary said 0 refused: an outside tryout's finding). */
    n_refused = PQntuples(contra);
    for (int i = 0; i < PQntuples(chains); i++) {
        const char *tenant = db_str(chains, i, "tenant_id"), *outcome = db_str(chains, i, "outcome");
        long long records = strtoll(db_str(chains, i, "records"), NULL, 10);
        appended += records;
        bool contradicted = false;
        for (int k = 0; k < PQntuples(contra) && !contradicted; k++)
            contradicted = strcmp(db_str(contra, k, "tenant_id"), tenant) == 0;
        if (contradicted) { /* appended to up to that seq, refused from it */
            healed += records > 0;
            if (records)
                log_info("replay: chain %s: %lld record%s appended, up to seq %s", tenant, records,
                         records == 1 ? "" : "s", db_str(chains, i, "seq"));
        } else if (strcmp(outcome, "replayed") == 0) {
            healed++;
            log_info("replay: chain %s: %lld record%s appended, up to seq %s", tenant, records,
                     records == 1 ? "" : "s", db_str(chains, i, "seq"));
        } else if (strcmp(outcome, "present") == 0) {
            present++;
        } else {
            n_refused++;
            n_diverged++;
            refused(tenant, outcome, db_str(chains, i, "seq"));
        }
    }
    if (closed > 0)
        log_info("replay: %lld batch%s open in the backup and closed after it %s closed as %s "
                 "record%s", closed, closed == 1 ? "" : "es", closed == 1 ? "is" : "are",
                 closed == 1 ? "its" : "their", closed == 1 ? " says" : "s say");
    if (late > 0)
        log_info("replay: %lld repurge batch%s failed in the backup and acknowledged late after "
                 "it: %s repurges recorded done as %s record%s", late, late == 1 ? "" : "es",
                 late == 1 ? "its" : "their", late == 1 ? "its" : "their",
                 late == 1 ? " says" : "s say");
    /* A backup taken while a run ran holds it running; its end is among the records. */
    for (int i = 0; i < PQntuples(ended); i++)
        log_info("replay: run %s was under way when the backup was taken; ended as its replayed "
                 "record says: %s", db_str(ended, i, "run_id"), db_str(ended, i, "outcome"));
    for (int i = 0; batches && i < n_batches; i++)
        log_info("replay: batch %s (%s): %s item%s purged before the restore, to purge again",
                 db_str(batches, i, "batch_id"), db_str(batches, i, "location"),
                 db_str(batches, i, "items"), strcmp(db_str(batches, i, "items"), "1") == 0 ? "" : "s");
    printf("replay: %lld record%s appended to %ld chain%s, %ld chain%s already present, "
           "%ld refused; %lld item%s live again ",
           appended, appended == 1 ? "" : "s", healed, healed == 1 ? "" : "s", present,
           present == 1 ? "" : "s", n_refused, candidates, candidates == 1 ? "" : "s");
    if (waiting && candidates > 0)
        printf("not batched yet: %s\n", waiting);
    else
        printf("put in %ld repurge batch%s\n", n_batches, n_batches == 1 ? "" : "es");
    if (n_batches)
        log_hint("the next 'lethe run' hands the repurge batches to their deleters");
    /* Items written after the backup and purged after it: no catalog row holds them, and
     * their producers send them again (sql/0099). */
    if (absent > 0)
        log_info("replay: %lld item%s the audit proves purged %s not in the restored catalog: "
                 "sent again by a producer, %s purged again as a repurge, never twice",
                 absent, absent == 1 ? "" : "s", absent == 1 ? "is" : "are",
                 absent == 1 ? "it is" : "each is");
    rc = EXIT_DONE;
    if (waiting && candidates > 0 && !unvouched && PQntuples(withheld) == 0) {
        log_hint("replay the missing exports too (any order): the replay that catches every chain "
                 "up puts them in repurge batches; writing them now would take seqs those "
                 "exports hold");
        rc = EXIT_CHECK_FAILED;
    }
    if (unvouched)
        log_error("replay: %lld record%s past every anchored head %s left out: until %s "
                  "appended, nothing is put in a repurge batch, and runs and every other writer "
                  "refuse to take %s seqs", unvouched, unvouched == 1 ? "" : "s",
                  unvouched == 1 ? "was" : "were", unvouched == 1 ? "it is" : "they are",
                  unvouched == 1 ? "its" : "their");
    else /* an earlier replay's, still not appended */
        for (int i = 0; i < PQntuples(withheld); i++) {
            char said[512];
            dbrestore_withheld_said(withheld, i, said, sizeof said);
            log_error("replay: %s", said);
        }
    for (int i = 0; i < PQntuples(contra); i++)
        log_error("replay: chain %s: the exports' record at seq %s (hash %s) is not the one a "
                  "replay left out there (hash %s): the chain is left alone from that seq",
                  db_str(contra, i, "tenant_id"), db_str(contra, i, "seq"),
                  db_str(contra, i, "exported"), db_str(contra, i, "noted"));
    if (PQntuples(contra)) {
        log_hint("one of the two is not genuine: keep both exports for the auditor; replay the "
                 "one that holds the noted record, or, if that one is the forgery, have the "
                 "database's owner delete its note from lethe.replay_withheld (README, "
                 "\"Anchors\") and replay again");
        rc = EXIT_CHECK_FAILED;
    }
    if (unvouched || PQntuples(withheld)) {
        log_hint("records made after the last run and exported before the restore are vouched "
                 "for by no anchor line yet; %s", RESTORE_WITHHELD_HINT);
        rc = EXIT_CHECK_FAILED;
    }
    if (n_diverged) {
        log_hint("a refused chain holds records written after the restore, or its exports do not "
                 "reach its head; keep 'lethe export --tenant T' of it for the auditor, with the "
                 "export, and replay any missing export");
        rc = EXIT_CHECK_FAILED;
    }
    /* Purges come back through the repurges; requests and holds recorded through lethe are in
     * the audit too, but replay cannot write them back (a request's subject is only an HMAC
     * there): each one the catalog lost is named, for the operator to record again. */
    PGresult *lost = dbrestore_catalog_behind_audit(db, NULL);
    /* Noted for status, which names them until they are recorded again (sql/0105). */
    if (!lost || !dbrestore_lost_note(db, lost)) {
        PQclear(lost);
        rc = EXIT_RUNTIME;
        goto cleanup;
    }
    for (int i = 0; i < PQntuples(lost); i++) {
        char said[1024];
        dbrestore_lost_said(lost, i, said, sizeof said);
        log_error("replay: %s", said);
    }
    if (PQntuples(lost)) {
        log_hint("a restore brings back the catalog as it was at the backup: requests and holds "
                 "recorded after it are in the audit only; the commitments run from them once "
                 "they are recorded again");
        rc = EXIT_CHECK_FAILED;
    }
    PQclear(lost);
    /* SPEC §7: exit 0 once the database has caught up with every anchor: those of --anchors,
     * else of audit.anchor_file when it can be read (the file every run checks, and would
     * refuse to run behind). */
    const char *own_path = ctx->cfg.anchor_file;
    if (!anchors_path && own_path && *own_path && access(own_path, R_OK) == 0) {
        if (anchor_read_evidence(db, own_path, &anchor) < 0)
            log_warn("replay: the anchor file '%s' could not be read; whether the database has "
                     "caught up with it is not known", own_path);
        else
            anchors_path = own_path;
    }
    if (anchors_path) {
        int arc = check_anchor(db, anchors_path, &anchor);
        if (arc != EXIT_DONE && rc == EXIT_DONE)
            rc = arc;
    }
    goto cleanup;
fail:
    db_rollback(db);
    log_error("replay: nothing was replayed");
cleanup:
    PQclear(chains);
    PQclear(ended);
    PQclear(withheld);
    PQclear(contra);
    PQclear(batches);
done:
    anchor_line_free(&anchor);
    return rc;
}
