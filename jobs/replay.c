/* lethe replay: heals a database restored from a backup with its exports (SPEC §7). Each export
 * is checked first by lethe verify's own code; then, in one transaction under the run lock,
 * the records that continue a chain from the database's head are appended again verbatim, and
 * the items their item_purged records prove deleted, but that are live again, go into repurge
 * batches for the next run. A chain the database has diverged from is named and left alone. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "audit.h"
#include "cli.h"
#include "cycle.h"
#include "db.h"
#include "dbaudit.h"
#include "dbrestore.h"
#include "exitcode.h"
#include "ids.h"
#include "jobs.h"
#include "log.h"
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
        if (len)
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

/* The newest line of the anchor file ({"run_id":..,"at":..,"heads":[{"chain","seq","hash"}..]}),
 * as three array literals in step for dbrestore_missing_heads(). An empty file anchors
 * nothing. Returns an exit code. */
struct anchor {
    char run_id[64];
    int n;
    struct audit_buf chains, seqs, hashes;
};

static bool is_hash(const char *h)
{
    if (!h || strlen(h) != 64)
        return false;
    for (const char *c = h; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return false;
    return true;
}

static int read_anchor(const char *path, struct anchor *a)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        log_error("replay: cannot read the anchor file '%s': %s", path, strerror(errno));
        log_hint("--anchors names the file of audit.anchor_file, or a copy shipped from it");
        return EXIT_USAGE;
    }
    char *line = NULL, *last = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) >= 0) {
        if (n > 0 && line[n - 1] == '\n')
            line[--n] = '\0';
        if (n > 0) {
            free(last);
            last = strdup(line);
        }
    }
    fclose(f);
    free(line);
    int rc = EXIT_DONE;
    audit_buf_puts(&a->chains, "{");
    audit_buf_puts(&a->seqs, "{");
    audit_buf_puts(&a->hashes, "{");
    if (last) {
        json_error_t e;
        json_t *o = json_loads(last, JSON_REJECT_DUPLICATES, &e);
        json_t *heads = json_object_get(o, "heads");
        const char *run = json_string_value(json_object_get(o, "run_id"));
        snprintf(a->run_id, sizeof a->run_id, "%s", run ? run : "?");
        if (!json_is_array(heads))
            rc = EXIT_USAGE;
        size_t i;
        json_t *h;
        json_array_foreach(heads, i, h) {
            const char *chain = json_string_value(json_object_get(h, "chain"));
            const char *hash = json_string_value(json_object_get(h, "hash"));
            json_t *seq = json_object_get(h, "seq");
            char id[UUID_TEXT_LEN], num[24];
            if (!chain || !id_parse(chain, id) || !is_hash(hash) || !json_is_integer(seq) ||
                json_integer_value(seq) < 1) {
                rc = EXIT_USAGE;
                break;
            }
            snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(seq));
            const char *sep = a->n++ ? "," : "";
            audit_buf_puts(&a->chains, sep);
            audit_buf_puts(&a->chains, id);
            audit_buf_puts(&a->seqs, sep);
            audit_buf_puts(&a->seqs, num);
            audit_buf_puts(&a->hashes, sep);
            audit_buf_puts(&a->hashes, hash);
        }
        json_decref(o);
        if (rc != EXIT_DONE) {
            log_error("replay: the newest line of '%s' is not an anchor", path);
            log_hint("an anchor line is {\"run_id\":..,\"at\":..,\"heads\":[{\"chain\":..,"
                     "\"seq\":..,\"hash\":..},..]}");
        }
    }
    free(last);
    audit_buf_puts(&a->chains, "}");
    audit_buf_puts(&a->seqs, "}");
    audit_buf_puts(&a->hashes, "}");
    if (rc == EXIT_DONE && (a->chains.failed || a->seqs.failed || a->hashes.failed)) {
        log_error("replay: out of memory");
        rc = EXIT_RUNTIME;
    }
    return rc;
}

/* Exit 0 only once the database holds every head the newest anchor names (SPEC §7). */
static int check_anchor(PGconn *db, const char *path, const struct anchor *a)
{
    if (a->n == 0)
        return EXIT_DONE;
    PGresult *r = dbrestore_missing_heads(db, a->chains.data, a->seqs.data, a->hashes.data);
    if (!r)
        return EXIT_RUNTIME;
    int missing = PQntuples(r);
    for (int i = 0; i < missing; i++)
        log_error("replay: the database is still behind its anchor: chain %s %s seq %s",
                  PQgetvalue(r, i, 0),
                  PQgetisnull(r, i, 2) ? "has no record at" : "holds another record at",
                  PQgetvalue(r, i, 1));
    PQclear(r);
    if (missing) {
        log_hint("replay the exports that hold those records too; until then the audit is behind "
                 "'%s'", path);
        return EXIT_CHECK_FAILED;
    }
    printf("replay: caught up with the anchor of run %s (%d head%s)\n", a->run_id, a->n,
           a->n == 1 ? "" : "s");
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
    if (!operator_name && !(operator_name = operator_default()))
        return cli_usage(ctx, "%s: no login name to record as the operator; pass --operator NAME",
                         ctx->command);
    int first = optind;
    for (int i = first; i < argc; i++) {
        int rc = check_export(argv[i]);
        if (rc != EXIT_DONE)
            return rc;
    }
    struct anchor anchor = {0};
    if (anchors_path) {
        int rc = read_anchor(anchors_path, &anchor);
        if (rc != EXIT_DONE) {
            audit_buf_free(&anchor.chains);
            audit_buf_free(&anchor.seqs);
            audit_buf_free(&anchor.hashes);
            return rc;
        }
    }
    /* The same check as 'lethe verify FILE': nothing is replayed from an export that fails. */
    int rc = EXIT_DONE;
    for (int i = first; i < argc; i++) {
        char *vargv[] = {"verify", argv[i], NULL};
        rc = job_verify(ctx, 2, vargv);
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
    PGresult *chains = NULL, *batches = NULL;
    struct copy_in copy;
    if (!db_begin(db) || !dbaudit_stage_open(db) || !dbrestore_replay_load(db, &copy))
        goto fail;
    bool loaded = true;
    for (int i = first; i < argc && loaded; i++)
        loaded = load_export(&copy, argv[i]);
    if (!copy_in_end(&copy) || !loaded)
        goto fail;
    if (!(chains = dbrestore_replay_chains(db)))
        goto fail;
    long long candidates = dbrestore_replay_candidates(db);
    if (candidates < 0)
        goto fail;
    long n_batches = 0;
    if (candidates > 0) {
        if (!dbrestore_run_begin(db, ctx->session_id, operator_name, "replay") ||
            !(batches = dbrestore_repurge_emit(db, ctx->session_id, operator_name,
                                               ctx->cfg.batch_max_items)))
            goto fail;
        n_batches = PQntuples(batches);
        if (!dbrestore_run_end(db, ctx->session_id, n_batches, (long)candidates))
            goto fail;
    }
    if (!dbaudit_commit(db))
        goto fail;

    long long appended = 0;
    long healed = 0, present = 0, n_refused = 0;
    for (int i = 0; i < PQntuples(chains); i++) {
        const char *tenant = PQgetvalue(chains, i, 0), *outcome = PQgetvalue(chains, i, 1);
        long long records = strtoll(PQgetvalue(chains, i, 3), NULL, 10);
        appended += records;
        if (strcmp(outcome, "replayed") == 0) {
            healed++;
            log_info("replay: chain %s: %lld records appended, up to seq %s", tenant, records,
                     PQgetvalue(chains, i, 2));
        } else if (strcmp(outcome, "present") == 0) {
            present++;
        } else {
            n_refused++;
            refused(tenant, outcome, PQgetvalue(chains, i, 2));
        }
    }
    for (int i = 0; batches && i < n_batches; i++)
        log_info("replay: batch %s (%s): %s items purged before the restore, to purge again",
                 PQgetvalue(batches, i, 0), PQgetvalue(batches, i, 1), PQgetvalue(batches, i, 2));
    printf("replay: %lld records appended to %ld chain%s, %ld chain%s already present, "
           "%ld refused; %lld item%s live again put in %ld repurge batch%s\n",
           appended, healed, healed == 1 ? "" : "s", present, present == 1 ? "" : "s", n_refused,
           candidates, candidates == 1 ? "" : "s", n_batches, n_batches == 1 ? "" : "es");
    if (n_batches)
        log_hint("the next 'lethe run' hands the repurge batches to their deleters");
    rc = EXIT_DONE;
    if (n_refused) {
        log_hint("a refused chain holds records written after the restore, or its exports do not "
                 "reach its head; keep 'lethe export --tenant T' of it for the auditor, with the "
                 "export, and replay any missing export");
        rc = EXIT_CHECK_FAILED;
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
    PQclear(batches);
done:
    audit_buf_free(&anchor.chains);
    audit_buf_free(&anchor.seqs);
    audit_buf_free(&anchor.hashes);
    return rc;
}
