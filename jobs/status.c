/* lethe status [--json] [--check]: what is pending across the catalog, what is overdue, held,
 * failing or violated, the nearest deadlines and the last successful runs, all at one instant.
 * Reads only (a temporary table aside), and set-based: its cost follows what is pending and
 * what was batched, never one function call per catalog item.
 *
 * lethe status --reference REF --tenant T [--json]: one request instead, in one snapshot: its
 * events, and the items it covers by state (db_request_items says what covered means). That
 * costs one evaluation per covered item, which a request's scope bounds. Its --json keys:
 *   tenant_id, tenant_name, reference, as_of,
 *   requests: [{event_id, scope, scope_id (never a subject), occurred_at, recorded_at,
 *               operator, rule, deadline_at, derived, withdrawn_at, withdrawn_by, withdrawn_ahead}],
 *   covered, purged: {count, on_time, late, held_past_deadline, max_lateness_seconds},
 *   pending: {count, in_flight, due, scheduled, held, nearest_deadline}, not_due, released
 *   (of not_due, the items only requests a cancellation withdrew cover: not owed),
 *   tombstoned_unrecorded (tombstoned with no purge record: changed outside lethe),
 *   unconsumed_cancellations (with this reference, not consumed by a run yet, so not
 *   reflected), done, verdict
 *
 * What the counts mean (per rule, the item's governing rule):
 *   scheduled  not purged, not in an open batch, an active obligation not due yet;
 *   due        due now, waiting for the next run to batch it;
 *   held       due now, but an active hold covers it;
 *   in_flight  in an open batch (with the rule it was batched under);
 *   purged     acknowledged purged, ever.
 * Items with no active obligation (live) are not counted: that would read the whole catalog.
 * Events and items producers committed since the last run count from the next run on, except
 * those an expanded obligation or a handed-over parent already covers.
 *
 * --check exits 4 when an item is past its deadline and not purged (held items excepted;
 * pending violations included, since their deadline is the instant they were made; an item past
 * the deadline a disabled rule would set included, sql/0074), when an
 * item not purged yet failed three times or more, when the repurge of an item (lethe replay,
 * lethe reconcile: purged before, its data back in storage) failed with none pending or done
 * since, or when the runs that succeeded within
 * lethe.settings.lookahead do not cover every tenant: none over the whole catalog, nor one of
 * every shard K/N of some N (a database that never had a run fails; a stopped shard is
 * named). Each problem is named on stderr; the report itself goes to stdout either way.
 *
 * --json writes one object with stable keys (new keys may be added, none renamed):
 *   as_of, lookahead,
 *   counts: [{rule, enabled, scheduled, due, held, in_flight, purged}] (SPEC §3 order),
 *   totals: {scheduled, due, held, in_flight, purged},
 *   overdue, held_past_deadline: {count, items: [ITEM]},
 *   disabled_past_deadline: {count (rows), items, list: [{rule, tenant_id, tenant_name,
 *             obligation_id, reference, deadline_at, items}]} (shared_retention's row has no
 *             tenant, obligation or reference),
 *   violations: {pending, purged, items: [ITEM]},
 *   failing: {count (3 failures or more), failed_once (at least one), items:
 *             [{tenant_id, item_id, failures, last_failure_at, state}]},
 *   next_deadlines: [ITEM] (deadline not passed yet, nearest first),
 *   last_successful_runs: [{shard (null for the whole catalog), finished_at, run_id, as_of}],
 *   last_run: {run_id, outcome, started_at, finished_at, process_gone, error} or null,
 *   gone_runs: [{run_id, shard (null for the whole catalog), started_at}] (the other runs
 *             recorded running whose process is gone: a shard worker killed while the other
 *             shards ran on; the next run records each as died),
 *   unconsumed: {events, items},
 *   batches: {open, failed (with an item not purged since), items: [{batch_id, state,
 *             location, items, attempts, created_at, age_seconds}] (open first, oldest first)},
 *   repurges: {pending, failed (items whose repurge failed, none pending or done since)},
 *   purged_late_7d: {late, held_past_deadline (of purges recorded not on time in the last 7
 *             days), max_lateness_seconds, latest_at (of the late ones)},
 *   check: {ok, problems: [text]}
 * where ITEM is {tenant_id, item_id, state, rule, reference, due_at, deadline_at, batch_id,
 * hold_id, location}; every list holds at most 10 entries, earliest deadline first, and the
 * counts beside them are exact. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anchor.h"
#include "cli.h"
#include "cycle.h"
#include "db.h"
#include "dbrestore.h"
#include "dbstatus.h"
#include "duration.h"
#include "exitcode.h"
#include "jobs.h"
#include "log.h"
#include "report.h"
#include "text.h"

#define LIST_LIMIT 10
#define MAX_PROBLEMS 5
/* A list cut short is said to be: at 3 a.m. the five shown read as all there is. */
#define MORE_PROBLEMS_HINT "status lists them as those above are dealt with"

/* The states counted per rule: each is a column of db_status_counts() and a --json key. */
static const char *const states[] = {"scheduled", "due", "held", "in_flight", "purged"};
#define N_STATES ((int)(sizeof states / sizeof *states))

/* Every result is read by the column names engine/dbstatus.c gives, so that a statement and
 * this file cannot drift apart in silence. */
struct report {
    PGresult *now, *counts, *overdue, *held, *next, *violations, *failing, *runs, *batches, *across,
        *disabled, *gone;
    char lookahead[64];
    long totals[N_STATES];
    long violations_purged;
    char problems[MAX_PROBLEMS][1024];
    int n_problems;
    int n_more; /* problems past MAX_PROBLEMS: counted, not kept */
};

static long total_of(const PGresult *list)
{
    return PQntuples(list) ? atol(db_str(list, 0, "total")) : 0;
}

static const char *plural(long n, const char *one, const char *many) { return n == 1 ? one : many; }

static void problem(struct report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct report *r, const char *fmt, ...)
{
    if (r->n_problems >= MAX_PROBLEMS) {
        r->n_more++;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->problems[r->n_problems++], sizeof r->problems[0], fmt, ap);
    va_end(ap);
}

/* ", judging its items as of AS_OF" of the last run ROW of RUNS when its column FLAG is true
 * (a catch-up run, or one whose as_of lies before the lookahead), else "". */
static const char *judged(const PGresult *runs, int row, const char *flag, char *buf, size_t cap)
{
    if (!db_true(runs, row, flag))
        return "";
    snprintf(buf, cap, ", judging its items as of %s", db_str(runs, row, "as_of"));
    return buf;
}

/* The catalog was not covered within the lookahead, although some shard runs succeeded in it:
 * names each shard K/N of those runs' N that did not (a stopped worker leaves its tenants'
 * deadlines at risk). False when no shard run succeeded within the lookahead either. */
static bool stale_shards(struct report *r)
{
    bool named = false;
    for (int row = 0; row < PQntuples(r->runs); row++) {
        int k, n, end = 0;
        const char *shard = db_str(r->runs, row, "shard");
        if (!db_true(r->runs, row, "recent") ||
            sscanf(shard, "%d/%d%n", &k, &n, &end) != 2 || shard[end] != '\0' || n < 1)
            continue;
        /* The first recent shard of each N speaks for that N. */
        bool seen = false;
        for (int prev = 0; prev < row && !seen; prev++) {
            int pk, pn, pend = 0;
            const char *ps = db_str(r->runs, prev, "shard");
            seen = db_true(r->runs, prev, "recent") &&
                   sscanf(ps, "%d/%d%n", &pk, &pn, &pend) == 2 && ps[pend] == '\0' && pn == n;
        }
        if (seen)
            continue;
        for (int want = 0; want < n && r->n_problems < MAX_PROBLEMS; want++) {
            char name[32];
            snprintf(name, sizeof name, "%d/%d", want, n);
            int at = -1;
            for (int x = 0; x < PQntuples(r->runs) && at < 0; x++)
                if (strcmp(db_str(r->runs, x, "shard"), name) == 0)
                    at = x;
            if (at >= 0 && db_true(r->runs, at, "recent"))
                continue;
            char as_of[TIME_TEXT_LEN + 32];
            if (at < 0)
                problem(r, "no run of shard %s succeeded within the lookahead (%s): none ever did",
                        name, r->lookahead);
            else
                problem(r, "no run of shard %s succeeded within the lookahead (%s): the last one "
                           "finished at %s%s",
                        name, r->lookahead, db_str(r->runs, at, "finished_at"),
                        judged(r->runs, at, "stale_as_of", as_of, sizeof as_of));
            named = true;
        }
    }
    return named;
}

/* The run id of the last successful run when it was a shard run, from the last successful run
 * of each shard set (db_status_last_runs; their times are in one fixed-width format); NULL when
 * it ran over every shard, or none ever succeeded. */
static const char *last_shard_run(const PGresult *runs)
{
    int last = -1;
    for (int row = 0; row < PQntuples(runs); row++)
        if (last < 0 || strcmp(db_str(runs, row, "finished_at"), db_str(runs, last, "finished_at")) > 0)
            last = row;
    return last >= 0 && db_str(runs, last, "shard")[0] ? db_str(runs, last, "run_id") : NULL;
}

/* r->across: what warn_across_shards needs, read only when the last successful run was a shard
 * run (left NULL otherwise). False when the query failed. */
static bool read_across(PGconn *db, struct report *r)
{
    const char *run_id = last_shard_run(r->runs);
    return !run_id || (r->across = db_status_across_shards(db, run_id)) != NULL;
}

/* Open batches that only a run without --shard re-drives, while only shard runs run (after N
 * changed, or across the upgrade to schema version 27): their items stay in flight until their
 * deadline passes unless someone runs one. A location without an executor is left out: its open
 * batches wait for 'lethe ack' whatever runs. Said on stderr; --check's conditions are SPEC §6's. */
static void warn_across_shards(const struct lethe_ctx *ctx, const PGresult *across)
{
    if (!across)
        return;
    long n = 0;
    int first = -1;
    for (int row = 0; row < PQntuples(across); row++) {
        if (!config_executor_for(&ctx->cfg, db_str(across, row, "location")))
            continue;
        if (first < 0)
            first = row;
        n++;
    }
    if (!n)
        return;
    log_warn("status: %ld open %s (the oldest %s) %s tenants of several shards of %s: no shard run "
             "re-drives %s",
             n, plural(n, "batch", "batches"), db_str(across, first, "batch_id"), plural(n, "holds", "hold"),
             db_str(across, first, "n"), plural(n, "it", "them"));
    log_hint("run 'lethe run' once without --shard, which re-drives every open batch (it exits 3 "
             "while a shard run holds the lock: run it again)");
}

static bool any_disabled(const PGresult *counts)
{
    for (int row = 0; row < PQntuples(counts); row++)
        if (!db_true(counts, row, "enabled"))
            return true;
    return false;
}

/* The totals and the three --check conditions. */
static void assess(struct report *r)
{
    for (int row = 0; row < PQntuples(r->counts); row++) {
        for (int s = 0; s < N_STATES; s++)
            r->totals[s] += atol(db_str(r->counts, row, states[s]));
        if (strcmp(db_str(r->counts, row, "rule"), "shared_while_opted_out") == 0)
            r->violations_purged = atol(db_str(r->counts, row, "purged"));
    }
    struct duration d = {atoll(db_str(r->now, 0, "lookahead_seconds")),
                         atoi(db_str(r->now, 0, "lookahead_months"))};
    duration_format(&d, r->lookahead, sizeof r->lookahead);

    long n = total_of(r->overdue);
    if (n)
        problem(r, "%ld %s past the deadline and not purged", n, plural(n, "item is", "items are"));
    n = PQntuples(r->disabled) ? atol(db_str(r->disabled, 0, "total_items")) : 0;
    if (n)
        problem(r, "%ld %s past the deadline of a disabled rule (%s) and not purged: nothing is "
                   "due under a rule while it is off",
                n, plural(n, "item is", "items are"), db_str(r->disabled, 0, "rules"));
    n = total_of(r->violations);
    if (n)
        problem(r, "%ld %s while opted out not purged yet (a violation)", n,
                plural(n, "shared copy made", "shared copies made"));
    n = PQntuples(r->failing) ? atol(db_str(r->failing, 0, "total")) : 0;
    if (n)
        problem(r, "%ld %s three times or more and not purged yet", n,
                plural(n, "item failed", "items failed"));
    n = atol(db_str(r->now, 0, "repurges_failed"));
    if (n)
        problem(r, "%ld %s purged before whose repurge failed: %s may still be stored", n,
                plural(n, "item", "items"), n == 1 ? "its data" : "their data");
    if (!db_true(r->now, 0, "recent_run") && !stale_shards(r)) {
        int last = -1;
        char as_of[TIME_TEXT_LEN + 32];
        for (int row = 0; row < PQntuples(r->runs); row++)
            if (last < 0 || strcmp(db_str(r->runs, row, "finished_at"),
                                   db_str(r->runs, last, "finished_at")) > 0)
                last = row;
        if (last < 0)
            problem(r, "no run succeeded within the lookahead (%s): none ever did", r->lookahead);
        else
            problem(r, "no run succeeded within the lookahead (%s): the last one finished at %s%s",
                    r->lookahead, db_str(r->runs, last, "finished_at"),
                    judged(r->runs, last, "stale_as_of", as_of, sizeof as_of));
    }
}

/* ---- JSON -------------------------------------------------------------------------------- */

static void json_item(const PGresult *l, int row)
{
    /* The columns of the lists, named as the keys. */
    static const char *const keys[] = {"tenant_id", "item_id", "state", "rule", "reference",
                                       "due_at", "deadline_at", "batch_id", "hold_id",
                                       "location", "tenant_name"};
    fputs("{", stdout);
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
        printf("%s\"%s\": ", k ? ", " : "", keys[k]);
        json_text(stdout, l, row, db_col(l, keys[k]));
    }
    fputs("}", stdout);
}

static void json_items(const PGresult *l)
{
    fputs("[", stdout);
    for (int row = 0; row < PQntuples(l); row++) {
        printf("%s\n      ", row ? "," : "");
        json_item(l, row);
    }
    fputs(PQntuples(l) ? "\n    ]" : "]", stdout);
}

static void print_json(const struct report *r)
{
    fputs("{\n  \"as_of\": ", stdout);
    json_text(stdout, r->now, 0, db_col(r->now, "now"));
    fputs(",\n  \"lookahead\": ", stdout);
    json_string(stdout, r->lookahead);
    fputs(",\n  \"counts\": [", stdout);
    for (int row = 0; row < PQntuples(r->counts); row++) {
        printf("%s\n    {\"rule\": ", row ? "," : "");
        json_text(stdout, r->counts, row, db_col(r->counts, "rule"));
        fputs(", \"enabled\": ", stdout);
        json_bool(stdout, r->counts, row, db_col(r->counts, "enabled"));
        for (int s = 0; s < N_STATES; s++)
            printf(", \"%s\": %s", states[s], db_str(r->counts, row, states[s]));
        fputs("}", stdout);
    }
    fputs("\n  ],\n  \"totals\": {", stdout);
    for (int s = 0; s < N_STATES; s++)
        printf("%s\"%s\": %ld", s ? ", " : "", states[s], r->totals[s]);
    printf("},\n  \"overdue\": {\n    \"count\": %ld,\n    \"items\": ", total_of(r->overdue));
    json_items(r->overdue);
    printf("\n  },\n  \"held_past_deadline\": {\n    \"count\": %ld,\n    \"items\": ",
           total_of(r->held));
    json_items(r->held);
    printf("\n  },\n  \"disabled_past_deadline\": {\n    \"count\": %ld,\n"
           "    \"items\": %s,\n    \"list\": [",
           total_of(r->disabled),
           PQntuples(r->disabled) ? db_str(r->disabled, 0, "total_items") : "0");
    static const struct {
        const char *key;
        bool number;
    } dkeys[] = {{"rule", false},      {"tenant_id", false},   {"tenant_name", false},
                 {"obligation_id", true}, {"reference", false}, {"deadline_at", false},
                 {"items", true}};
    for (int row = 0; row < PQntuples(r->disabled); row++) {
        printf("%s\n      {", row ? "," : "");
        for (size_t k = 0; k < sizeof dkeys / sizeof *dkeys; k++) {
            printf("%s\"%s\": ", k ? ", " : "", dkeys[k].key);
            int col = db_col(r->disabled, dkeys[k].key);
            if (dkeys[k].number)
                json_number(stdout, r->disabled, row, col);
            else
                json_text(stdout, r->disabled, row, col);
        }
        fputs("}", stdout);
    }
    fputs(PQntuples(r->disabled) ? "\n    ]" : "]", stdout);
    printf("\n  },\n  \"violations\": {\n    \"pending\": %ld,\n    \"purged\": %ld,\n"
           "    \"items\": ",
           total_of(r->violations), r->violations_purged);
    json_items(r->violations);
    printf("\n  },\n  \"failing\": {\n    \"count\": %s,\n    \"failed_once\": %s,\n"
           "    \"items\": [",
           PQntuples(r->failing) ? db_str(r->failing, 0, "total") : "0",
           db_str(r->now, 0, "failed_once"));
    for (int row = 0; row < PQntuples(r->failing); row++) {
        printf("%s\n      {\"tenant_id\": ", row ? "," : "");
        json_text(stdout, r->failing, row, db_col(r->failing, "tenant_id"));
        fputs(", \"item_id\": ", stdout);
        json_text(stdout, r->failing, row, db_col(r->failing, "item_id"));
        printf(", \"failures\": %s, \"last_failure_at\": ", db_str(r->failing, row, "failures"));
        json_text(stdout, r->failing, row, db_col(r->failing, "last_failure_at"));
        fputs(", \"state\": ", stdout);
        json_text(stdout, r->failing, row, db_col(r->failing, "state"));
        fputs(", \"tenant_name\": ", stdout);
        json_text(stdout, r->failing, row, db_col(r->failing, "tenant_name"));
        fputs("}", stdout);
    }
    fputs(PQntuples(r->failing) ? "\n    ]\n  }" : "]\n  }", stdout);
    fputs(",\n  \"next_deadlines\": ", stdout);
    json_items(r->next);
    fputs(",\n  \"last_successful_runs\": [", stdout);
    for (int row = 0; row < PQntuples(r->runs); row++) {
        const char *shard = db_str(r->runs, row, "shard");
        printf("%s\n    {\"shard\": ", row ? "," : "");
        json_string(stdout, *shard ? shard : NULL);
        fputs(", \"finished_at\": ", stdout);
        json_text(stdout, r->runs, row, db_col(r->runs, "finished_at"));
        fputs(", \"run_id\": ", stdout);
        json_text(stdout, r->runs, row, db_col(r->runs, "run_id"));
        fputs(", \"as_of\": ", stdout);
        json_text(stdout, r->runs, row, db_col(r->runs, "as_of"));
        fputs("}", stdout);
    }
    fputs(PQntuples(r->runs) ? "\n  ],\n  \"last_run\": " : "],\n  \"last_run\": ", stdout);
    if (db_get(r->now, 0, "last_run_id")) {
        fputs("{\"run_id\": ", stdout);
        json_text(stdout, r->now, 0, db_col(r->now, "last_run_id"));
        fputs(", \"outcome\": ", stdout);
        json_text(stdout, r->now, 0, db_col(r->now, "last_outcome"));
        fputs(", \"started_at\": ", stdout);
        json_text(stdout, r->now, 0, db_col(r->now, "last_started_at"));
        fputs(", \"finished_at\": ", stdout);
        json_text(stdout, r->now, 0, db_col(r->now, "last_finished_at"));
        fprintf(stdout, ", \"process_gone\": %s, \"error\": ",
                db_true(r->now, 0, "last_run_gone") ? "true" : "false");
        json_text(stdout, r->now, 0, db_col(r->now, "last_error"));
        fputs("}", stdout);
    } else {
        fputs("null", stdout);
    }
    fputs(",\n  \"gone_runs\": [", stdout);
    for (int row = 0; row < PQntuples(r->gone); row++) {
        fputs(row ? ", {\"run_id\": " : "{\"run_id\": ", stdout);
        json_text(stdout, r->gone, row, db_col(r->gone, "run_id"));
        const char *shard = db_str(r->gone, row, "shard");
        fputs(", \"shard\": ", stdout);
        json_string(stdout, *shard ? shard : NULL);
        fputs(", \"started_at\": ", stdout);
        json_text(stdout, r->gone, row, db_col(r->gone, "started_at"));
        fputs("}", stdout);
    }
    fputs("]", stdout);
    printf(",\n  \"unconsumed\": {\"events\": %s, \"items\": %s},\n",
           db_str(r->now, 0, "inbox_events"), db_str(r->now, 0, "inbox_items"));
    printf("  \"batches\": {\"open\": %s, \"failed\": %s, \"items\": [",
           PQntuples(r->batches) ? db_str(r->batches, 0, "open_batches") : "0",
           PQntuples(r->batches) ? db_str(r->batches, 0, "failed_batches") : "0");
    for (int row = 0; row < PQntuples(r->batches); row++) {
        printf("%s\n    {\"batch_id\": ", row ? "," : "");
        json_text(stdout, r->batches, row, db_col(r->batches, "batch_id"));
        fputs(", \"state\": ", stdout);
        json_text(stdout, r->batches, row, db_col(r->batches, "state"));
        fputs(", \"location\": ", stdout);
        json_text(stdout, r->batches, row, db_col(r->batches, "location"));
        printf(", \"items\": %s, \"attempts\": %s, \"created_at\": ",
               db_str(r->batches, row, "items"), db_str(r->batches, row, "attempts"));
        json_text(stdout, r->batches, row, db_col(r->batches, "created_at"));
        printf(", \"age_seconds\": %s}", db_str(r->batches, row, "age_seconds"));
    }
    fputs(PQntuples(r->batches) ? "\n  ]},\n" : "]},\n", stdout);
    printf("  \"repurges\": {\"pending\": %s, \"failed\": %s},\n",
           db_str(r->now, 0, "repurges_pending"), db_str(r->now, 0, "repurges_failed"));
    printf("  \"purged_late_7d\": {\"late\": %s, \"held_past_deadline\": %s, "
           "\"max_lateness_seconds\": ",
           db_str(r->now, 0, "late_week"), db_str(r->now, 0, "held_week"));
    json_number(stdout, r->now, 0, db_col(r->now, "late_week_max_seconds"));
    fputs(", \"latest_at\": ", stdout);
    json_text(stdout, r->now, 0, db_col(r->now, "late_week_latest"));
    fputs("},\n", stdout);
    printf("  \"check\": {\"ok\": %s, \"problems\": [", r->n_problems ? "false" : "true");
    for (int i = 0; i < r->n_problems; i++) {
        fputs(i ? ", " : "", stdout);
        json_string(stdout, r->problems[i]);
    }
    printf("], \"problems_not_listed\": %d}\n}\n", r->n_more);
}

/* ---- for a person ------------------------------------------------------------------------- */

static void print_list(const char *title, const PGresult *l, bool show_hold)
{
    long total = total_of(l);
    printf("\n%s: %ld%s\n", title, total, total > PQntuples(l) ? " (the first shown)" : "");
    for (int row = 0; row < PQntuples(l); row++) {
        printf("  %s  %-22s %-9s item %s tenant %s (%s)", db_str(l, row, "deadline_at"),
               db_str(l, row, "rule"), db_str(l, row, "state"),
               db_str(l, row, "item_id"), db_str(l, row, "tenant_id"),
               text_shown(db_str(l, row, "tenant_name")));
        if (show_hold && db_get(l, row, "hold_id"))
            printf(" hold %s", db_str(l, row, "hold_id"));
        putchar('\n');
    }
}

/* What a disabled rule leaves past its deadline: said only when there is some. */
static void print_disabled(const PGresult *d)
{
    long rows = total_of(d);
    if (!rows)
        return;
    long items = atol(db_str(d, 0, "total_items"));
    printf("\npast the deadline of a disabled rule (never due while the rule is off; not purged, "
           "not held): %ld item%s%s\n",
           items, items == 1 ? "" : "s", rows > PQntuples(d) ? " (the first shown)" : "");
    for (int row = 0; row < PQntuples(d); row++) {
        const char *n = db_str(d, row, "items");
        printf("  %s  %-22s %s item%s", db_str(d, row, "deadline_at"), db_str(d, row, "rule"), n,
               strcmp(n, "1") == 0 ? "" : "s");
        if (db_get(d, row, "tenant_id"))
            printf(" of obligation %s (reference %s) tenant %s (%s)",
                   db_str(d, row, "obligation_id"), text_shown(db_str(d, row, "reference")),
                   db_str(d, row, "tenant_id"), text_shown(db_str(d, row, "tenant_name")));
        else
            printf(" shared, every tenant");
        putchar('\n');
    }
    printf("  enable the rule in the config (rules.RULE.enabled) and the next run batches them; "
           "a hold keeps items that must stay\n");
}

/* Open batches, and failed ones whose items are not all purged since: what may need an ack
 * or a rerun. */
static void print_batches(const PGresult *b)
{
    int n = PQntuples(b);
    long open = n ? atol(db_str(b, 0, "open_batches")) : 0;
    long failed = n ? atol(db_str(b, 0, "failed_batches")) : 0;
    printf("\nbatches: %ld open, %ld failed with items not purged since%s\n", open, failed,
           open + failed > n ? " (the first shown)" : "");
    for (int row = 0; row < n; row++) {
        char age[32];
        report_age(atoll(db_str(b, row, "age_seconds")), age, sizeof age);
        const char *items = db_str(b, row, "items"), *attempts = db_str(b, row, "attempts");
        printf("  %-6s %s  %s, %s item%s, %s attempt%s, age %s\n", db_str(b, row, "state"),
               db_str(b, row, "batch_id"), db_str(b, row, "location"), items,
               strcmp(items, "1") == 0 ? "" : "s", attempts,
               strcmp(attempts, "1") == 0 ? "" : "s", age);
    }
    if (n)
        printf("  'lethe batches' lists every batch; 'lethe rerun' drives an open one again, or a "
               "failed one's items still due; 'lethe ack' records an open one's deletions\n");
}

static void print_text(const struct report *r)
{
    printf("status at %s (lookahead %s)\n\n", db_str(r->now, 0, "now"), r->lookahead);
    printf("  %-24s", "rule");
    for (int s = 0; s < N_STATES; s++)
        printf(" %10s", states[s]);
    putchar('\n');
    for (int row = 0; row < PQntuples(r->counts); row++) {
        printf("  %-24s", db_str(r->counts, row, "rule"));
        for (int s = 0; s < N_STATES; s++)
            printf(" %10s", db_str(r->counts, row, states[s]));
        if (!db_true(r->counts, row, "enabled"))
            printf("  (disabled)");
        putchar('\n');
    }
    printf("  %-24s", "total");
    for (int s = 0; s < N_STATES; s++)
        printf(" %10ld", r->totals[s]);
    putchar('\n');

    /* An item a hold blocked only after its deadline had passed is overdue, and named with it. */
    print_list("overdue (deadline passed, not purged, not kept past it by a hold)", r->overdue,
               true);
    print_list("held past deadline", r->held, true);
    print_disabled(r->disabled);
    print_list("violations not purged yet (shared copies made while opted out)", r->violations,
               false);
    if (r->violations_purged)
        printf("  and %ld purged\n", r->violations_purged);
    long failing = PQntuples(r->failing) ? atol(db_str(r->failing, 0, "total")) : 0;
    printf("\nfailing (failed three times or more, not purged): %ld; failed at least once: %s\n",
           failing, db_str(r->now, 0, "failed_once"));
    for (int row = 0; row < PQntuples(r->failing); row++)
        printf("  %s failures, the last at %s: tenant %s (%s) item %s (%s)\n",
               db_str(r->failing, row, "failures"), db_str(r->failing, row, "last_failure_at"),
               db_str(r->failing, row, "tenant_id"),
               text_shown(db_str(r->failing, row, "tenant_name")),
               db_str(r->failing, row, "item_id"), db_str(r->failing, row, "state"));
    if (strcmp(db_str(r->now, 0, "failed_once"), "0") != 0)
        printf("  'lethe batches --state failed' lists the failed batches with their deleters' "
               "stderr\n");
    print_batches(r->batches);
    const char *rp = db_str(r->now, 0, "repurges_pending"), *rf = db_str(r->now, 0, "repurges_failed");
    if (strcmp(rp, "0") != 0 || strcmp(rf, "0") != 0) {
        printf("\nrepurges (items purged before whose data came back): %s pending, %s failed\n",
               rp, rf);
        if (strcmp(rf, "0") != 0)
            printf("  a failed repurge is batched again by the next 'lethe replay' of the exports "
                   "or 'lethe reconcile' of the store\n");
    }
    /* After an outage the late purges leave every count above green: said for a week. */
    const char *lw = db_str(r->now, 0, "late_week"), *hw = db_str(r->now, 0, "held_week");
    if (strcmp(lw, "0") != 0)
        printf("\npurged late in the last 7 days: %s item%s, at most %s s past the deadline, the "
               "latest recorded at %s ('lethe export --summary' counts them by rule)\n",
               lw, strcmp(lw, "1") == 0 ? "" : "s", db_str(r->now, 0, "late_week_max_seconds"),
               db_str(r->now, 0, "late_week_latest"));
    if (strcmp(hw, "0") != 0)
        printf("%spurged after their deadline in the last 7 days, held past it by a hold: %s\n",
               strcmp(lw, "0") != 0 ? "" : "\n", hw);
    print_list("next deadlines", r->next, false);

    printf("\nlast successful run:%s\n", PQntuples(r->runs) ? "" : " none");
    for (int row = 0; row < PQntuples(r->runs); row++) {
        const char *shard = db_str(r->runs, row, "shard");
        /* A catch-up run says its as_of: it is listed as the last, yet judged an earlier time. */
        char as_of[TIME_TEXT_LEN + 32];
        printf("  %-16s %s  run %s%s\n", *shard ? shard : "whole catalog",
               db_str(r->runs, row, "finished_at"), db_str(r->runs, row, "run_id"),
               judged(r->runs, row, "catch_up", as_of, sizeof as_of));
    }
    if (db_get(r->now, 0, "last_run_id"))
        printf("last run: %s %s, started %s%s\n", db_str(r->now, 0, "last_run_id"),
               db_str(r->now, 0, "last_outcome"), db_str(r->now, 0, "last_started_at"),
               db_true(r->now, 0, "last_run_gone")
                   ? ", but no run holds the run lock: its process is gone (killed, or its "
                     "session lost); the next run records it as died"
                   : "");
    /* A shard worker killed while the others ran on is not the last run, and its batches wait
     * for the next run of its shard. */
    for (int row = 0; row < PQntuples(r->gone); row++) {
        const char *shard = db_str(r->gone, row, "shard");
        printf("run %s%s%s running, started %s, but no run holds its lock: its process is gone "
               "(killed, or its session lost); the next run records it as died\n",
               db_str(r->gone, row, "run_id"), *shard ? " of shard " : "", shard,
               db_str(r->gone, row, "started_at"));
    }
    /* Why it failed, at 3 a.m., without SQL or the journal. */
    if (db_get(r->now, 0, "last_run_id") && db_get(r->now, 0, "last_error"))
        printf("  error: %s\n", text_shown(db_str(r->now, 0, "last_error")));
    const char *ev = db_str(r->now, 0, "inbox_events"), *it = db_str(r->now, 0, "inbox_items");
    if (strcmp(ev, "0") != 0 || strcmp(it, "0") != 0)
        printf("not consumed by a run yet: %s events, %s items\n", ev, it);
    if (r->n_problems == 0)
        printf("\ncheck: ok\n");
    else
        for (int i = 0; i < r->n_problems; i++)
            printf("%scheck: %s\n", i ? "" : "\n", r->problems[i]);
    if (r->n_more)
        printf("check: and %d more problem%s, not listed: %s\n", r->n_more,
               r->n_more == 1 ? "" : "s", MORE_PROBLEMS_HINT);
}

/* ---- one request: status --reference REF --tenant T -------------------------------------- */

/* What db_request_items() counts, by its columns of the same names. */
struct request_counts {
    long covered, purged, on_time, late, held_past_deadline, in_flight, due, scheduled, held,
        not_due, released, unrecorded, unconsumed_cancellations, past_deadline, past_deadline_held;
};

struct request_report {
    const char *tenant, *name, *reference;
    PGresult *events, *items;
    struct request_counts n;
    long pending, withdrawn, derived;
    bool done;
    char verdict[512];
};

static void request_assess(struct request_report *q)
{
    const PGresult *it = q->items;
    q->n = (struct request_counts){
        .covered = db_get_long(it, 0, "covered"),
        .purged = db_get_long(it, 0, "purged"),
        .on_time = db_get_long(it, 0, "on_time"),
        .late = db_get_long(it, 0, "late"),
        .held_past_deadline = db_get_long(it, 0, "held_past_deadline"),
        .in_flight = db_get_long(it, 0, "in_flight"),
        .due = db_get_long(it, 0, "due"),
        .scheduled = db_get_long(it, 0, "scheduled"),
        .held = db_get_long(it, 0, "held"),
        .not_due = db_get_long(it, 0, "not_due"),
        .released = db_get_long(it, 0, "released"),
        .unrecorded = db_get_long(it, 0, "unrecorded"),
        .past_deadline = db_get_long(it, 0, "past_deadline"),
        .past_deadline_held = db_get_long(it, 0, "past_deadline_held"),
    };
    q->pending = q->n.in_flight + q->n.due + q->n.scheduled + q->n.held;
    for (int row = 0; row < PQntuples(q->events); row++) {
        /* A cancellation dated ahead withdraws the request from its instant only (SPEC §3):
         * until then the request stands, and the verdict is the standing one's. */
        q->withdrawn += db_get(q->events, row, "withdrawn_at") != NULL &&
                        !db_true(q->events, row, "withdrawn_ahead");
        q->derived += db_true(q->events, row, "derived");
    }
    /* Of several requests with one reference, a cancellation withdraws those made before it
     * (SPEC §3): the items only they covered are not due, released, and not owed under the
     * others. Counted as left to purge, the verdict stayed "not done" for good. (An item of a
     * standing request whose rule is disabled is not due either, and still owed.) */
    long released = q->n.released;
    long n = PQntuples(q->events), left = q->n.covered - q->n.purged - released;
    char freed[96] = "";
    if (released > 0)
        snprintf(freed, sizeof freed, "; %ld released when a cancellation withdrew a request",
                 released);
    /* Items past their deadline are said in every verdict that leaves some to purge. */
    char past[160] = "";
    if (q->n.past_deadline > 0)
        snprintf(past, sizeof past, "; %ld %s past the deadline (the earliest %s)",
                 q->n.past_deadline, q->n.past_deadline == 1 ? "is" : "are",
                 db_str(q->items, 0, "nearest_deadline"));
    if (q->withdrawn == n && q->pending > 0) {
        /* An item in an open batch is not withdrawn, and copies of the items it purged follow
         * them, whatever withdrew it (SPEC §3). */
        snprintf(q->verdict, sizeof q->verdict,
                 "withdrawn: a cancellation withdrew it, but %ld covered item%s still to be purged "
                 "under it (in an open batch, or copies of items it purged); %ld covered item%s "
                 "purged%s",
                 q->pending, q->pending == 1 ? " is" : "s are", q->n.purged,
                 q->n.purged == 1 ? " is" : "s are", past);
    } else if (q->withdrawn == n) {
        snprintf(q->verdict, sizeof q->verdict,
                 "withdrawn: a cancellation withdrew it; %ld covered item%s purged stay%s purged",
                 q->n.purged, q->n.purged == 1 ? "" : "s", q->n.purged == 1 ? "s" : "");
    } else if (q->derived < n) {
        snprintf(q->verdict, sizeof q->verdict,
                 "not done: not derived yet; the next 'lethe run' derives it%s", past);
    } else if (q->n.unrecorded > 0) {
        /* Tombstoned in the catalog with no purge recorded: not lethe's work (a superuser's
         * UPDATE), and nothing says the object is gone. */
        snprintf(q->verdict, sizeof q->verdict,
                 "not done: %ld covered item%s tombstoned with no purge record (changed outside "
                 "lethe; 'lethe explain ITEM' names %s)",
                 q->n.unrecorded, q->n.unrecorded == 1 ? " is" : "s are",
                 q->n.unrecorded == 1 ? "it" : "them");
    } else if (left == 0) {
        q->done = true;
        /* A purged item of a data subject no longer names its owner, so a subject request
         * whose items were all purged under other rules can show none covered: what is
         * certain is that none is left. */
        if (q->n.covered == 0)
            snprintf(q->verdict, sizeof q->verdict, "done: no covered item is left to purge");
        else
            snprintf(q->verdict, sizeof q->verdict, "done: all %ld covered item%s%s purged%s",
                     q->n.covered - released, q->n.covered - released == 1 ? "" : "s",
                     released ? q->n.covered - released == 1 ? " still owed is" : " still owed are"
                              : q->n.covered - released == 1 ? " is" : " are",
                     freed);
    } else if (q->n.past_deadline > 0) {
        /* Said instead of "the nearest deadline is T", which at 3 a.m. after an outage reads as
         * ahead. */
        snprintf(q->verdict, sizeof q->verdict,
                 "not done: %ld of %ld covered items not purged yet%s%s", left,
                 q->n.covered - released, past, freed);
    } else if (db_get(q->items, 0, "nearest_deadline")) {
        snprintf(q->verdict, sizeof q->verdict,
                 "not done: %ld of %ld covered items not purged yet; the nearest deadline is %s%s",
                 left, q->n.covered - released, db_str(q->items, 0, "nearest_deadline"), freed);
    } else if (db_get_long(q->items, 0, "past_disabled") > 0) {
        /* Its rule is disabled, and the deadline it would set went by: said, as status says
         * it of a disabled rule's deadlines. */
        long pd = db_get_long(q->items, 0, "past_disabled");
        snprintf(q->verdict, sizeof q->verdict,
                 "not done: %ld of %ld covered items not purged yet, and this request makes "
                 "none of them due: its rule is disabled; %ld %s past the deadline it would set "
                 "(the earliest %s)%s",
                 left, q->n.covered - released, pd, pd == 1 ? "is" : "are",
                 db_str(q->items, 0, "earliest_past_disabled"), freed);
    } else {
        snprintf(q->verdict, sizeof q->verdict,
                 "not done: %ld of %ld covered items not purged yet, and this request makes "
                 "none of them due%s", left, q->n.covered - released, freed);
    }
}

static void request_json(const struct request_report *q)
{
    fputs("{\n  \"tenant_id\": ", stdout);
    json_string(stdout, q->tenant);
    fputs(", \"tenant_name\": ", stdout);
    json_string(stdout, q->name);
    fputs(", \"reference\": ", stdout);
    json_string(stdout, q->reference);
    fputs(",\n  \"as_of\": ", stdout);
    json_text(stdout, q->events, 0, db_col(q->events, "now"));
    fputs(",\n  \"requests\": [", stdout);
    /* The keys, each the column of the same name, and its JSON type. */
    static const struct {
        const char *key;
        char type; /* 's' string, 'n' number, 'b' boolean */
    } keys[] = {{"event_id", 'n'},    {"scope", 's'},        {"scope_id", 's'},
                {"occurred_at", 's'}, {"recorded_at", 's'},  {"operator", 's'},
                {"rule", 's'},        {"deadline_at", 's'},  {"derived", 'b'},
                {"withdrawn_at", 's'}, {"withdrawn_by", 'n'}, {"withdrawn_ahead", 'b'}};
    for (int row = 0; row < PQntuples(q->events); row++) {
        fputs(row ? ",\n    {" : "\n    {", stdout);
        for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
            printf("%s\"%s\": ", k ? ", " : "", keys[k].key);
            int col = db_col(q->events, keys[k].key);
            if (keys[k].type == 'n')
                json_number(stdout, q->events, row, col);
            else if (keys[k].type == 'b')
                json_bool(stdout, q->events, row, col);
            else
                json_text(stdout, q->events, row, col);
        }
        fputs("}", stdout);
    }
    printf("\n  ],\n  \"covered\": %ld,\n  \"purged\": {\"count\": %ld, \"on_time\": %ld, "
           "\"late\": %ld, \"held_past_deadline\": %ld, \"max_lateness_seconds\": ",
           q->n.covered, q->n.purged, q->n.on_time, q->n.late, q->n.held_past_deadline);
    json_number(stdout, q->items, 0, db_col(q->items, "max_lateness_seconds"));
    printf("},\n  \"pending\": {\"count\": %ld, \"in_flight\": %ld, \"due\": %ld, "
           "\"scheduled\": %ld, \"held\": %ld, \"past_deadline\": %ld, "
           "\"past_deadline_held\": %ld, \"nearest_deadline\": ",
           q->pending, q->n.in_flight, q->n.due, q->n.scheduled, q->n.held, q->n.past_deadline,
           q->n.past_deadline_held);
    json_text(stdout, q->items, 0, db_col(q->items, "nearest_deadline"));
    printf("},\n  \"not_due\": %ld,\n  \"released\": %ld,\n  \"tombstoned_unrecorded\": %ld,\n"
           "  \"unconsumed_cancellations\": %ld,\n  \"done\": %s,\n"
           "  \"verdict\": ",
           q->n.not_due, q->n.released, q->n.unrecorded, q->n.unconsumed_cancellations,
           q->done ? "true" : "false");
    json_string(stdout, q->verdict);
    fputs("\n}\n", stdout);
}

static void request_text(const struct request_report *q)
{
    printf("request %s of tenant %s (%s) at %s\n", text_shown(q->reference), q->tenant,
           text_shown(q->name),
           db_str(q->events, 0, "now"));
    for (int row = 0; row < PQntuples(q->events); row++) {
        const char *scope = db_str(q->events, row, "scope");
        printf("\ndeletion request %s: %s, ", db_str(q->events, row, "event_id"),
               db_str(q->events, row, "rule"));
        if (strcmp(scope, "tenant") == 0)
            printf("the whole tenant\n");
        else if (strcmp(scope, "subject") == 0)
            printf("a data subject's items\n");
        else
            printf("%s %s\n", scope, text_shown(db_str(q->events, row, "scope_id")));
        const char *by = db_get(q->events, row, "operator");
        printf("  occurred:  %s%s%s\n", db_str(q->events, row, "occurred_at"),
               by ? ", recorded by " : "", text_shown(by));
        if (db_true(q->events, row, "enabled"))
            printf("  deadline:  %s\n", db_str(q->events, row, "deadline_at"));
        else
            printf("  deadline:  none: %s is disabled\n", db_str(q->events, row, "rule"));
        if (db_get(q->events, row, "withdrawn_at"))
            printf("  withdrawn: %s by event %s%s\n", db_str(q->events, row, "withdrawn_at"),
                   db_str(q->events, row, "withdrawn_by"),
                   db_true(q->events, row, "withdrawn_ahead") ? " (not in effect yet)" : "");
        else if (!db_true(q->events, row, "derived"))
            printf("  derived:   not yet (the next run derives it)\n");
    }
    printf("\ncovered items: %ld\n", q->n.covered);
    printf("  purged:     %ld (on time %ld, late %ld, held past the deadline %ld)\n",
           q->n.purged, q->n.on_time, q->n.late, q->n.held_past_deadline);
    printf("  in flight:  %ld\n", q->n.in_flight);
    printf("  due:        %ld\n", q->n.due);
    printf("  scheduled:  %ld\n", q->n.scheduled);
    printf("  held:       %ld\n", q->n.held);
    if (q->n.unrecorded)
        printf("  tombstoned with no purge record: %ld\n", q->n.unrecorded);
    if (q->n.not_due)
        printf("  not due:    %ld (the request was withdrawn, or its rule is disabled)\n",
               q->n.not_due);
    if (db_get(q->items, 0, "nearest_deadline"))
        printf("  nearest deadline: %s%s\n", db_str(q->items, 0, "nearest_deadline"),
               q->n.past_deadline > 0 ? ", passed" : "");
    if (q->n.past_deadline > 0 && q->n.past_deadline_held > 0)
        printf("  past the deadline: %ld, not purged (%ld of them held)\n", q->n.past_deadline,
               q->n.past_deadline_held);
    else if (q->n.past_deadline > 0)
        printf("  past the deadline: %ld, not purged\n", q->n.past_deadline);
    long can = q->n.unconsumed_cancellations;
    if (can == 1)
        printf("\nnote: a cancellation with this reference is not consumed by a run yet: the "
               "next run takes it into account\n");
    else if (can > 1)
        printf("\nnote: %ld cancellations with this reference are not consumed by a run yet: the "
               "next run takes them into account\n", can);
    printf("\n%s\n", q->verdict);
}

/* How many of TENANT's chain's records a replay left out are not appended yet (sql/0111), or
 * -1 after printing the error. */
static int withheld_on(PGconn *db, const char *tenant)
{
    PGresult *w = dbrestore_withheld_open(db, tenant);
    if (!w)
        return -1;
    int n = PQntuples(w) ? (int)db_get_long(w, 0, "records") : 0;
    PQclear(w);
    return n;
}

/* A request the catalog lacks but the audit records (a restore from before it): said, with
 * what to do, and 1; 0 when the audit does not record it either (nothing said); -1 on error.
 * TENANT_KNOWN: the catalog holds the tenant (else the producer sends it again first). Asked
 * on this error path alone: it reads the tenant's chain. */
static int lost_request(PGconn *db, const char *tenant, const char *reference, bool tenant_known)
{
    PGresult *a = dbrestore_request_in_audit(db, tenant, reference);
    if (!a)
        return -1;
    int found = PQntuples(a) == 1;
    if (found) {
        log_error("status: the catalog holds no deletion request with reference \"%s\" in "
                  "tenant %s%s, but the audit records it (seq %s): a restore took it from the "
                  "catalog, and nothing purges under it until it is recorded again",
                  reference, tenant, tenant_known ? "" : " (nor the tenant)", db_str(a, 0, "seq"));
        log_hint("%srecord it again with 'lethe request --tenant %s --reference %s' and its "
                 "scope: it occurs when the audit first recorded it ('lethe replay' names "
                 "every request and hold a restore took)",
                 tenant_known ? "" : "once the producer has sent the tenant and its items again, ",
                 tenant, reference);
    }
    PQclear(a);
    return found;
}

static int request_status(struct lethe_ctx *ctx, const char *tenant, const char *reference,
                          bool json)
{
    struct request_report q = {.tenant = tenant, .reference = reference};
    PGresult *t = NULL;
    int rc = EXIT_RUNTIME;
    /* A restored database's catalog may lack the request: said before "no such request". */
    anchor_warn_if_behind(ctx->db, ctx->cfg.anchor_file, "status");
    /* One snapshot for the request and its items. */
    if (!db_request_begin(ctx->db))
        return EXIT_RUNTIME;
    if (!(t = db_tenant(ctx->db, tenant)))
        goto cleanup;
    if (PQntuples(t) == 0) {
        /* A tenant written after the backup is gone from a restored catalog, its requests in
         * the audit still (a second outside tryout was told "no tenant"). */
        int lost = lost_request(ctx->db, tenant, reference, false);
        if (lost >= 0)
            rc = lost ? EXIT_CHECK_FAILED : EXIT_USAGE;
        /* nor records of it a replay left out: a tenant written after the backup, and its
         * request, may be among them (it said "no tenant", exit 2: an outside tryout) */
        int held_back = lost == 0 ? withheld_on(ctx->db, tenant) : 0;
        if (lost == 0) {
            log_error("status: no tenant %s", tenant);
            if (held_back > 0) {
                log_hint("a replay left out records of this tenant's chain that are not appended "
                         "yet ('lethe status' names them): the tenant may have been written after "
                         "the backup, and a request of it recorded after the last run may be "
                         "among them; once the producer has sent the tenant again, replay the "
                         "exports that hold them again without --anchors, then ask again");
                rc = EXIT_CHECK_FAILED;
            } else
                log_hint("tenants are the rows of lethe.tenants; check the id");
        }
        if (held_back < 0)
            rc = EXIT_RUNTIME;
        goto cleanup;
    }
    q.name = db_str(t, 0, "name");
    if (!(q.events = db_request_events(ctx->db, tenant, reference)))
        goto cleanup;
    if (PQntuples(q.events) == 0) {
        int lost = lost_request(ctx->db, tenant, reference, true);
        if (lost >= 0)
            rc = lost ? EXIT_CHECK_FAILED : EXIT_USAGE;
        int held_back = lost == 0 ? withheld_on(ctx->db, tenant) : 0;
        if (lost == 0) {
            log_error("status: no deletion request with reference \"%s\" in tenant %s",
                      reference, tenant);
            if (held_back > 0) {
                /* It may be among them: "no such request" sent the operator to record it
                 * again, which the chain refuses (an outside tryout's finding). */
                log_hint("a replay left out records of this tenant's chain that are not appended "
                         "yet ('lethe status' names them): a request recorded after the last "
                         "run may be among them; replay the exports that hold them again "
                         "without --anchors, then ask again");
                rc = EXIT_CHECK_FAILED;
            } else
                log_hint("'lethe request --tenant T --reference REF' records one; references "
                         "are exact");
        }
        if (held_back < 0)
            rc = EXIT_RUNTIME;
        goto cleanup;
    }
    if (!(q.items = db_request_items(ctx->db, tenant, reference)))
        goto cleanup;
    PGresult *u = db_request_unconsumed(ctx->db, tenant, reference);
    if (!u)
        goto cleanup;
    request_assess(&q);
    q.n.unconsumed_cancellations = db_get_long(u, 0, "unconsumed");
    PQclear(u);
    if (json)
        request_json(&q);
    else
        request_text(&q);
    rc = EXIT_DONE;
cleanup:
    db_rollback(ctx->db);
    PQclear(t);
    PQclear(q.events);
    PQclear(q.items);
    return rc;
}

int job_status(struct lethe_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, 0, 'j'},
                                         {"check", no_argument, 0, 'c'},
                                         {"reference", required_argument, 0, 'r'},
                                         {"tenant", required_argument, 0, 't'},
                                         {0, 0, 0, 0}};
    bool json = false, check = false;
    const char *reference = NULL;
    char tenant[UUID_TEXT_LEN] = "";
    int c;
    optind = 1;
    while ((c = cli_getopt(ctx, argc, argv, "", opts)) != -1) {
        if (c == 'j')
            json = true;
        else if (c == 'c')
            check = true;
        else if (c == 'r')
            reference = optarg;
        else if (c == 't') {
            if (!cli_id(ctx, "--tenant", optarg, tenant))
                return EXIT_USAGE;
        } else
            return EXIT_USAGE;
    }
    if (optind < argc)
        return cli_usage(ctx, "status: unexpected argument '%s'", argv[optind]);
    if (reference) {
        if (!*reference)
            return cli_usage(ctx, "status: --reference must not be empty");
        if (!tenant[0])
            return cli_usage(ctx,
                             "status: --reference needs --tenant T (references are per tenant)");
        if (check)
            return cli_usage(ctx, "status: --check is for the whole catalog, not with --reference");
        if (ctx->parse_only)
            return EXIT_DONE;
        return request_status(ctx, tenant, reference, json);
    }
    if (tenant[0])
        return cli_usage(ctx, "status: --tenant goes with --reference");
    if (ctx->parse_only)
        return EXIT_DONE;

    struct report r = {0};
    int rc = EXIT_RUNTIME;
    if (!db_status_begin(ctx->db))
        return EXIT_RUNTIME;
    if (!(r.now = db_status_now(ctx->db)) || !(r.counts = db_status_counts(ctx->db)) ||
        !(r.overdue = db_status_overdue(ctx->db, LIST_LIMIT)) ||
        !(r.held = db_status_held_past_deadline(ctx->db, LIST_LIMIT)) ||
        !(r.disabled = db_status_disabled(ctx->db, LIST_LIMIT, any_disabled(r.counts))) ||
        !(r.next = db_status_next_deadlines(ctx->db, LIST_LIMIT)) ||
        !(r.violations = db_status_violations(ctx->db, LIST_LIMIT)) ||
        !(r.failing = db_status_failing(ctx->db, LIST_LIMIT)) ||
        !(r.runs = db_status_last_runs(ctx->db)) || !(r.gone = db_status_gone_runs(ctx->db)) ||
        !(r.batches = db_status_batches(ctx->db, LIST_LIMIT)) ||
        !read_across(ctx->db, &r)) {
        db_status_end(ctx->db);
        goto cleanup;
    }
    db_status_end(ctx->db);
    assess(&r);
    warn_across_shards(ctx, r.across);
    /* A config every run refuses (exit 2) stops every purge: the hourly check says so now,
     * not once the lookahead has run out. */
    int ex = cycle_check_executors(ctx, true);
    if (ex == EXIT_RUNTIME)
        goto cleanup;
    if (ex != EXIT_DONE)
        problem(&r, "the config's executor.locations names a geo lethe.geos lacks: every run "
                    "with it refuses to start (exit 2)");
    /* So does a deleter program that is no executable file here (every region waits on it). */
    if (!config_check_executors(&ctx->cfg, true))
        problem(&r, "a deleter program of the config cannot be run on this host: every run with "
                    "it refuses to start (exit 2), and no location is purged");
    /* SPEC §7: an audit behind its anchor file (a restored database). */
    char behind[2048];
    /* A missing file is not said here: status may run on a host the file is not on. */
    int b = anchor_behind(ctx->db, ctx->cfg.anchor_file, behind, sizeof behind,
                          ANCHOR_WARN_ONLY | ANCHOR_SAY_LACKING);
    if (b == ANCHOR_DIVERGED)
        problem(&r, "%s; the anchor file is another database's, or this audit was rewritten "
                    "after that line", behind);
    else if (b > 0)
        problem(&r, "%s; run 'lethe replay EXPORT...' (a restored database), or point --db or "
                    "database.conninfo at the database the anchor file belongs to",
                behind);
    else if (b == ANCHOR_UNUSABLE)
        problem(&r, "the anchor file '%s' cannot be used, so every run refuses to work; "
                    "restore it from the copy shipped elsewhere", ctx->cfg.anchor_file);
    else if (b == ANCHOR_NO_MEMORY)
        problem(&r, "the lines of the anchor file '%s' could not be read for want of memory, so "
                    "every run refuses to work; give lethe the memory to read them",
                ctx->cfg.anchor_file);
    else if (b == ANCHOR_NOT_COMPARED) {
        /* The file was read: whether the audit is behind it is unknown, which a check that
         * pages on a restored database must not take for a pass. The report is still shown. */
        log_error("status: the anchor file '%s' could not be compared with the database, so "
                  "whether the audit is behind it is not known", ctx->cfg.anchor_file);
        log_hint("see the error above; status compares the newest anchor line's heads through "
                 "lethe.anchor_heads_missing(): run 'lethe migrate' and deploy/roles.sql if it "
                 "is missing or not granted");
    } else if (b < 0)
        log_warn("status: the anchor file could not be compared with the database");
    /* A catalog behind its audit: what replay named as lost with a restore (requests, holds)
     * and is still not recorded again (sql/0105; an outside tryout saw a request dropped with
     * every check green once replay's output was missed). */
    PGresult *lost = dbrestore_lost_still(ctx->db);
    if (!lost)
        goto cleanup;
    for (int i = 0; i < PQntuples(lost); i++) {
        char said[1024];
        dbrestore_lost_said(lost, i, said, sizeof said);
        problem(&r, "%s", said);
    }
    PQclear(lost);
    /* Records a replay left out that are not appended yet: every writer refuses meanwhile
     * (sql/0111). */
    PGresult *withheld = dbrestore_withheld_open(ctx->db, NULL);
    if (!withheld)
        goto cleanup;
    for (int i = 0; i < PQntuples(withheld); i++) {
        char said[512];
        dbrestore_withheld_said(withheld, i, said, sizeof said);
        problem(&r, "%s; replay the export that holds %s again without --anchors, or see README, "
                    "\"Anchors\"", said,
                strcmp(db_str(withheld, i, "records"), "1") == 0 ? "it" : "them");
    }
    PQclear(withheld);
    if (json)
        print_json(&r);
    else
        print_text(&r);
    rc = b == ANCHOR_NOT_COMPARED ? EXIT_RUNTIME : EXIT_DONE;
    if (check && r.n_problems) {
        for (int i = 0; i < r.n_problems; i++)
            log_error("status: check failed: %s", r.problems[i]);
        if (r.n_more)
            log_error("status: check failed: and %d more problem%s, not listed: %s", r.n_more,
                      r.n_more == 1 ? "" : "s", MORE_PROBLEMS_HINT);
        rc = EXIT_CHECK_FAILED;
    }
cleanup:
    PQclear(r.now);
    PQclear(r.counts);
    PQclear(r.overdue);
    PQclear(r.held);
    PQclear(r.disabled);
    PQclear(r.next);
    PQclear(r.violations);
    PQclear(r.failing);
    PQclear(r.runs);
    PQclear(r.gone);
    PQclear(r.batches);
    PQclear(r.across);
    return rc;
}
