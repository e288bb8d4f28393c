/* lethe status [--json] [--check]: what is pending across the catalog, what is overdue, held,
 * failing or violated, the nearest deadlines and the last successful runs, all at one instant.
 * Reads only (a temporary table aside), and set-based: its cost follows what is pending and
 * what was batched, never one function call per catalog item.
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
 * pending violations included, since their deadline is the instant they were made), when an
 * item not purged yet failed three times or more, or when no run succeeded, on any shard,
 * within lethe.settings.lookahead (a database that never had a run fails). Each problem is
 * named on stderr; the report itself goes to stdout either way.
 *
 * --json writes one object with stable keys (new keys may be added, none renamed):
 *   as_of, lookahead,
 *   counts: [{rule, enabled, scheduled, due, held, in_flight, purged}] (SPEC §3 order),
 *   totals: {scheduled, due, held, in_flight, purged},
 *   overdue, held_past_deadline: {count, items: [ITEM]},
 *   violations: {pending, purged, items: [ITEM]},
 *   failing: {count (3 failures or more), failed_once (at least one), items:
 *             [{tenant_id, item_id, failures, last_failure_at, state}]},
 *   next_deadlines: [ITEM] (deadline not passed yet, nearest first),
 *   last_successful_runs: [{shard (null for the whole catalog), finished_at, run_id}],
 *   last_run: {run_id, outcome, started_at, finished_at} or null,
 *   unconsumed: {events, items},
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
#include "db.h"
#include "dbstatus.h"
#include "duration.h"
#include "exitcode.h"
#include "jobs.h"
#include "log.h"

#define LIST_LIMIT 10
#define MAX_PROBLEMS 5

enum { N_NOW, N_LOOK_MONTHS, N_LOOK_SECONDS, N_RECENT_RUN, N_INBOX_EVENTS, N_INBOX_ITEMS,
       N_FAILED_ONCE, N_LAST_RUN, N_LAST_OUTCOME, N_LAST_STARTED, N_LAST_FINISHED };
enum { C_RULE, C_ENABLED, C_SCHEDULED, C_DUE, C_HELD, C_IN_FLIGHT, C_PURGED };
enum { P_TENANT, P_ITEM, P_STATE, P_RULE, P_REFERENCE, P_DUE, P_DEADLINE, P_BATCH, P_HOLD,
       P_LOCATION, P_TOTAL };
enum { F_TENANT, F_ITEM, F_FAILURES, F_LAST, F_STATE, F_TOTAL };
enum { R_SHARD, R_FINISHED, R_RUN };

struct report {
    PGresult *now, *counts, *overdue, *held, *next, *violations, *failing, *runs;
    char lookahead[64];
    long totals[5];
    long violations_purged;
    char problems[MAX_PROBLEMS][1024];
    int n_problems;
};

static long total_of(const PGresult *list)
{
    return PQntuples(list) ? atol(PQgetvalue(list, 0, P_TOTAL)) : 0;
}

static const char *plural(long n, const char *one, const char *many) { return n == 1 ? one : many; }

static void problem(struct report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct report *r, const char *fmt, ...)
{
    if (r->n_problems >= MAX_PROBLEMS)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->problems[r->n_problems++], sizeof r->problems[0], fmt, ap);
    va_end(ap);
}

/* The totals and the three --check conditions. */
static void assess(struct report *r)
{
    for (int row = 0; row < PQntuples(r->counts); row++) {
        for (int s = 0; s < 5; s++)
            r->totals[s] += atol(PQgetvalue(r->counts, row, C_SCHEDULED + s));
        if (strcmp(PQgetvalue(r->counts, row, C_RULE), "shared_while_opted_out") == 0)
            r->violations_purged = atol(PQgetvalue(r->counts, row, C_PURGED));
    }
    struct duration d = {atoll(PQgetvalue(r->now, 0, N_LOOK_SECONDS)),
                         atoi(PQgetvalue(r->now, 0, N_LOOK_MONTHS))};
    duration_format(&d, r->lookahead, sizeof r->lookahead);

    long n = total_of(r->overdue);
    if (n)
        problem(r, "%ld %s past the deadline and not purged", n, plural(n, "item is", "items are"));
    n = total_of(r->violations);
    if (n)
        problem(r, "%ld %s while opted out not purged yet (a violation)", n,
                plural(n, "shared copy made", "shared copies made"));
    n = PQntuples(r->failing) ? atol(PQgetvalue(r->failing, 0, F_TOTAL)) : 0;
    if (n)
        problem(r, "%ld %s three times or more and not purged yet", n,
                plural(n, "item failed", "items failed"));
    if (strcmp(PQgetvalue(r->now, 0, N_RECENT_RUN), "t") != 0) {
        int last = -1;
        for (int row = 0; row < PQntuples(r->runs); row++)
            if (last < 0 || strcmp(PQgetvalue(r->runs, row, R_FINISHED),
                                   PQgetvalue(r->runs, last, R_FINISHED)) > 0)
                last = row;
        if (last < 0)
            problem(r, "no run succeeded within the lookahead (%s): none ever did", r->lookahead);
        else
            problem(r, "no run succeeded within the lookahead (%s): the last one finished at %s",
                    r->lookahead, PQgetvalue(r->runs, last, R_FINISHED));
    }
}

/* ---- JSON -------------------------------------------------------------------------------- */

static void json_item(const PGresult *l, int row)
{
    static const char *const keys[] = {"tenant_id", "item_id", "state", "rule", "reference",
                                       "due_at", "deadline_at", "batch_id", "hold_id",
                                       "location"};
    fputs("{", stdout);
    for (int k = 0; k < P_TOTAL; k++) {
        printf("%s\"%s\": ", k ? ", " : "", keys[k]);
        json_text(stdout, l, row, k);
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
    static const char *const states[] = {"scheduled", "due", "held", "in_flight", "purged"};
    fputs("{\n  \"as_of\": ", stdout);
    json_text(stdout, r->now, 0, N_NOW);
    fputs(",\n  \"lookahead\": ", stdout);
    json_string(stdout, r->lookahead);
    fputs(",\n  \"counts\": [", stdout);
    for (int row = 0; row < PQntuples(r->counts); row++) {
        printf("%s\n    {\"rule\": ", row ? "," : "");
        json_text(stdout, r->counts, row, C_RULE);
        fputs(", \"enabled\": ", stdout);
        json_bool(stdout, r->counts, row, C_ENABLED);
        for (int s = 0; s < 5; s++)
            printf(", \"%s\": %s", states[s], PQgetvalue(r->counts, row, C_SCHEDULED + s));
        fputs("}", stdout);
    }
    fputs("\n  ],\n  \"totals\": {", stdout);
    for (int s = 0; s < 5; s++)
        printf("%s\"%s\": %ld", s ? ", " : "", states[s], r->totals[s]);
    printf("},\n  \"overdue\": {\n    \"count\": %ld,\n    \"items\": ", total_of(r->overdue));
    json_items(r->overdue);
    printf("\n  },\n  \"held_past_deadline\": {\n    \"count\": %ld,\n    \"items\": ",
           total_of(r->held));
    json_items(r->held);
    printf("\n  },\n  \"violations\": {\n    \"pending\": %ld,\n    \"purged\": %ld,\n"
           "    \"items\": ",
           total_of(r->violations), r->violations_purged);
    json_items(r->violations);
    printf("\n  },\n  \"failing\": {\n    \"count\": %s,\n    \"failed_once\": %s,\n"
           "    \"items\": [",
           PQntuples(r->failing) ? PQgetvalue(r->failing, 0, F_TOTAL) : "0",
           PQgetvalue(r->now, 0, N_FAILED_ONCE));
    for (int row = 0; row < PQntuples(r->failing); row++) {
        printf("%s\n      {\"tenant_id\": ", row ? "," : "");
        json_text(stdout, r->failing, row, F_TENANT);
        fputs(", \"item_id\": ", stdout);
        json_text(stdout, r->failing, row, F_ITEM);
        printf(", \"failures\": %s, \"last_failure_at\": ", PQgetvalue(r->failing, row, F_FAILURES));
        json_text(stdout, r->failing, row, F_LAST);
        fputs(", \"state\": ", stdout);
        json_text(stdout, r->failing, row, F_STATE);
        fputs("}", stdout);
    }
    fputs(PQntuples(r->failing) ? "\n    ]\n  }" : "]\n  }", stdout);
    fputs(",\n  \"next_deadlines\": ", stdout);
    json_items(r->next);
    fputs(",\n  \"last_successful_runs\": [", stdout);
    for (int row = 0; row < PQntuples(r->runs); row++) {
        const char *shard = PQgetvalue(r->runs, row, R_SHARD);
        printf("%s\n    {\"shard\": ", row ? "," : "");
        json_string(stdout, *shard ? shard : NULL);
        fputs(", \"finished_at\": ", stdout);
        json_text(stdout, r->runs, row, R_FINISHED);
        fputs(", \"run_id\": ", stdout);
        json_text(stdout, r->runs, row, R_RUN);
        fputs("}", stdout);
    }
    fputs(PQntuples(r->runs) ? "\n  ],\n  \"last_run\": " : "],\n  \"last_run\": ", stdout);
    if (db_value(r->now, 0, N_LAST_RUN)) {
        fputs("{\"run_id\": ", stdout);
        json_text(stdout, r->now, 0, N_LAST_RUN);
        fputs(", \"outcome\": ", stdout);
        json_text(stdout, r->now, 0, N_LAST_OUTCOME);
        fputs(", \"started_at\": ", stdout);
        json_text(stdout, r->now, 0, N_LAST_STARTED);
        fputs(", \"finished_at\": ", stdout);
        json_text(stdout, r->now, 0, N_LAST_FINISHED);
        fputs("}", stdout);
    } else {
        fputs("null", stdout);
    }
    printf(",\n  \"unconsumed\": {\"events\": %s, \"items\": %s},\n",
           PQgetvalue(r->now, 0, N_INBOX_EVENTS), PQgetvalue(r->now, 0, N_INBOX_ITEMS));
    printf("  \"check\": {\"ok\": %s, \"problems\": [", r->n_problems ? "false" : "true");
    for (int i = 0; i < r->n_problems; i++) {
        fputs(i ? ", " : "", stdout);
        json_string(stdout, r->problems[i]);
    }
    fputs("]}\n}\n", stdout);
}

/* ---- for a person ------------------------------------------------------------------------- */

static void print_list(const char *title, const PGresult *l, bool show_hold)
{
    long total = total_of(l);
    printf("\n%s: %ld%s\n", title, total, total > PQntuples(l) ? " (the first shown)" : "");
    for (int row = 0; row < PQntuples(l); row++) {
        printf("  %s  %-22s %-9s item %s tenant %s", PQgetvalue(l, row, P_DEADLINE),
               PQgetvalue(l, row, P_RULE), PQgetvalue(l, row, P_STATE),
               PQgetvalue(l, row, P_ITEM), PQgetvalue(l, row, P_TENANT));
        if (show_hold && db_value(l, row, P_HOLD))
            printf(" hold %s", PQgetvalue(l, row, P_HOLD));
        putchar('\n');
    }
}

static void print_text(const struct report *r)
{
    static const char *const states[] = {"scheduled", "due", "held", "in_flight", "purged"};
    printf("status at %s (lookahead %s)\n\n", PQgetvalue(r->now, 0, N_NOW), r->lookahead);
    printf("  %-24s", "rule");
    for (int s = 0; s < 5; s++)
        printf(" %10s", states[s]);
    putchar('\n');
    for (int row = 0; row < PQntuples(r->counts); row++) {
        printf("  %-24s", PQgetvalue(r->counts, row, C_RULE));
        for (int s = 0; s < 5; s++)
            printf(" %10s", PQgetvalue(r->counts, row, C_SCHEDULED + s));
        if (strcmp(PQgetvalue(r->counts, row, C_ENABLED), "t") != 0)
            printf("  (disabled)");
        putchar('\n');
    }
    printf("  %-24s", "total");
    for (int s = 0; s < 5; s++)
        printf(" %10ld", r->totals[s]);
    putchar('\n');

    print_list("overdue (deadline passed, not purged, not held)", r->overdue, false);
    print_list("held past deadline", r->held, true);
    print_list("violations not purged yet (shared copies made while opted out)", r->violations,
               false);
    if (r->violations_purged)
        printf("  and %ld purged\n", r->violations_purged);
    long failing = PQntuples(r->failing) ? atol(PQgetvalue(r->failing, 0, F_TOTAL)) : 0;
    printf("\nfailing (failed three times or more, not purged): %ld; failed at least once: %s\n",
           failing, PQgetvalue(r->now, 0, N_FAILED_ONCE));
    for (int row = 0; row < PQntuples(r->failing); row++)
        printf("  %s failures, the last at %s: tenant %s item %s (%s)\n",
               PQgetvalue(r->failing, row, F_FAILURES), PQgetvalue(r->failing, row, F_LAST),
               PQgetvalue(r->failing, row, F_TENANT), PQgetvalue(r->failing, row, F_ITEM),
               PQgetvalue(r->failing, row, F_STATE));
    print_list("next deadlines", r->next, false);

    printf("\nlast successful run:%s\n", PQntuples(r->runs) ? "" : " none");
    for (int row = 0; row < PQntuples(r->runs); row++) {
        const char *shard = PQgetvalue(r->runs, row, R_SHARD);
        printf("  %-16s %s  run %s\n", *shard ? shard : "whole catalog",
               PQgetvalue(r->runs, row, R_FINISHED), PQgetvalue(r->runs, row, R_RUN));
    }
    if (db_value(r->now, 0, N_LAST_RUN))
        printf("last run: %s %s, started %s\n", PQgetvalue(r->now, 0, N_LAST_RUN),
               PQgetvalue(r->now, 0, N_LAST_OUTCOME), PQgetvalue(r->now, 0, N_LAST_STARTED));
    const char *ev = PQgetvalue(r->now, 0, N_INBOX_EVENTS), *it = PQgetvalue(r->now, 0, N_INBOX_ITEMS);
    if (strcmp(ev, "0") != 0 || strcmp(it, "0") != 0)
        printf("not consumed by a run yet: %s events, %s items\n", ev, it);
    if (r->n_problems == 0)
        printf("\ncheck: ok\n");
    else
        for (int i = 0; i < r->n_problems; i++)
            printf("%scheck: %s\n", i ? "" : "\n", r->problems[i]);
}

int job_status(struct lethe_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, 0, 'j'}, {"check", no_argument, 0, 'c'}, {0, 0, 0, 0}};
    bool json = false, check = false;
    int c;
    optind = 1;
    while ((c = cli_getopt(ctx, argc, argv, "", opts)) != -1) {
        if (c == 'j')
            json = true;
        else if (c == 'c')
            check = true;
        else
            return EXIT_USAGE;
    }
    if (optind < argc)
        return cli_usage(ctx, "status: unexpected argument '%s'", argv[optind]);

    struct report r = {0};
    int rc = EXIT_RUNTIME;
    if (!db_status_begin(ctx->db))
        return EXIT_RUNTIME;
    if (!(r.now = db_status_now(ctx->db)) || !(r.counts = db_status_counts(ctx->db)) ||
        !(r.overdue = db_status_overdue(ctx->db, LIST_LIMIT)) ||
        !(r.held = db_status_held_past_deadline(ctx->db, LIST_LIMIT)) ||
        !(r.next = db_status_next_deadlines(ctx->db, LIST_LIMIT)) ||
        !(r.violations = db_status_violations(ctx->db, LIST_LIMIT)) ||
        !(r.failing = db_status_failing(ctx->db, LIST_LIMIT)) ||
        !(r.runs = db_status_last_runs(ctx->db))) {
        db_status_end(ctx->db);
        goto cleanup;
    }
    db_status_end(ctx->db);
    assess(&r);
    /* SPEC §7: an audit behind its anchor file (a restored database). */
    char behind[2048];
    int b = anchor_behind(ctx->db, ctx->cfg.anchor_file, behind, sizeof behind);
    if (b > 0)
        problem(&r, "%s; run 'lethe replay EXPORT...'", behind);
    else if (b < 0)
        log_warn("status: the anchor file could not be compared with the database");
    if (json)
        print_json(&r);
    else
        print_text(&r);
    rc = EXIT_DONE;
    if (check && r.n_problems) {
        for (int i = 0; i < r.n_problems; i++)
            log_error("status: check failed: %s", r.problems[i]);
        rc = EXIT_CHECK_FAILED;
    }
cleanup:
    PQclear(r.now);
    PQclear(r.counts);
    PQclear(r.overdue);
    PQclear(r.held);
    PQclear(r.next);
    PQclear(r.violations);
    PQclear(r.failing);
    PQclear(r.runs);
    return rc;
}
