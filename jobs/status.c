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
 *               operator, rule, deadline_at, derived, withdrawn_at, withdrawn_by}],
 *   covered, purged: {count, on_time, late, held_past_deadline, max_lateness_seconds},
 *   pending: {count, in_flight, due, scheduled, held, nearest_deadline}, not_due, done, verdict
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
 * item not purged yet failed three times or more, or when the runs that succeeded within
 * lethe.settings.lookahead do not cover every tenant: none over the whole catalog, nor one of
 * every shard K/N of some N (a database that never had a run fails; a stopped shard is
 * named). Each problem is named on stderr; the report itself goes to stdout either way.
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
 *   batches: {open, failed (with an item not purged since), items: [{batch_id, state,
 *             location, items, attempts, created_at, age_seconds}] (open first, oldest first)},
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
#include "report.h"
#include "text.h"

#define LIST_LIMIT 10
#define MAX_PROBLEMS 5

enum { N_NOW, N_LOOK_MONTHS, N_LOOK_SECONDS, N_RECENT_RUN, N_INBOX_EVENTS, N_INBOX_ITEMS,
       N_FAILED_ONCE, N_LAST_RUN, N_LAST_OUTCOME, N_LAST_STARTED, N_LAST_FINISHED };
enum { C_RULE, C_ENABLED, C_SCHEDULED, C_DUE, C_HELD, C_IN_FLIGHT, C_PURGED };
enum { P_TENANT, P_ITEM, P_STATE, P_RULE, P_REFERENCE, P_DUE, P_DEADLINE, P_BATCH, P_HOLD,
       P_LOCATION, P_TENANT_NAME, P_TOTAL };
enum { F_TENANT, F_ITEM, F_FAILURES, F_LAST, F_STATE, F_NAME, F_TOTAL };
enum { R_SHARD, R_FINISHED, R_RUN, R_RECENT };
enum { B_ID, B_STATE, B_LOCATION, B_ITEMS, B_ATTEMPTS, B_CREATED, B_AGE, B_OPEN, B_FAILED };

struct report {
    PGresult *now, *counts, *overdue, *held, *next, *violations, *failing, *runs, *batches;
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

/* The catalog was not covered within the lookahead, although some shard runs succeeded in it:
 * names each shard K/N of those runs' N that did not (a stopped worker leaves its tenants'
 * deadlines at risk). False when no shard run succeeded within the lookahead either. */
static bool stale_shards(struct report *r)
{
    bool named = false;
    for (int row = 0; row < PQntuples(r->runs); row++) {
        int k, n, end = 0;
        const char *shard = PQgetvalue(r->runs, row, R_SHARD);
        if (strcmp(PQgetvalue(r->runs, row, R_RECENT), "t") != 0 ||
            sscanf(shard, "%d/%d%n", &k, &n, &end) != 2 || shard[end] != '\0' || n < 1)
            continue;
        /* The first recent shard of each N speaks for that N. */
        bool seen = false;
        for (int prev = 0; prev < row && !seen; prev++) {
            int pk, pn, pend = 0;
            const char *ps = PQgetvalue(r->runs, prev, R_SHARD);
            seen = strcmp(PQgetvalue(r->runs, prev, R_RECENT), "t") == 0 &&
                   sscanf(ps, "%d/%d%n", &pk, &pn, &pend) == 2 && ps[pend] == '\0' && pn == n;
        }
        if (seen)
            continue;
        for (int want = 0; want < n && r->n_problems < MAX_PROBLEMS; want++) {
            char name[32];
            snprintf(name, sizeof name, "%d/%d", want, n);
            int at = -1;
            for (int x = 0; x < PQntuples(r->runs) && at < 0; x++)
                if (strcmp(PQgetvalue(r->runs, x, R_SHARD), name) == 0)
                    at = x;
            if (at >= 0 && strcmp(PQgetvalue(r->runs, at, R_RECENT), "t") == 0)
                continue;
            if (at < 0)
                problem(r, "no run of shard %s succeeded within the lookahead (%s): none ever did",
                        name, r->lookahead);
            else
                problem(r, "no run of shard %s succeeded within the lookahead (%s): the last one "
                           "finished at %s",
                        name, r->lookahead, PQgetvalue(r->runs, at, R_FINISHED));
            named = true;
        }
    }
    return named;
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
    if (strcmp(PQgetvalue(r->now, 0, N_RECENT_RUN), "t") != 0 && !stale_shards(r)) {
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
                                       "location", "tenant_name"};
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
        fputs(", \"tenant_name\": ", stdout);
        json_text(stdout, r->failing, row, F_NAME);
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
    printf("  \"batches\": {\"open\": %s, \"failed\": %s, \"items\": [",
           PQntuples(r->batches) ? PQgetvalue(r->batches, 0, B_OPEN) : "0",
           PQntuples(r->batches) ? PQgetvalue(r->batches, 0, B_FAILED) : "0");
    for (int row = 0; row < PQntuples(r->batches); row++) {
        printf("%s\n    {\"batch_id\": ", row ? "," : "");
        json_text(stdout, r->batches, row, B_ID);
        fputs(", \"state\": ", stdout);
        json_text(stdout, r->batches, row, B_STATE);
        fputs(", \"location\": ", stdout);
        json_text(stdout, r->batches, row, B_LOCATION);
        printf(", \"items\": %s, \"attempts\": %s, \"created_at\": ",
               PQgetvalue(r->batches, row, B_ITEMS), PQgetvalue(r->batches, row, B_ATTEMPTS));
        json_text(stdout, r->batches, row, B_CREATED);
        printf(", \"age_seconds\": %s}", PQgetvalue(r->batches, row, B_AGE));
    }
    fputs(PQntuples(r->batches) ? "\n  ]},\n" : "]},\n", stdout);
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
        printf("  %s  %-22s %-9s item %s tenant %s (%s)", PQgetvalue(l, row, P_DEADLINE),
               PQgetvalue(l, row, P_RULE), PQgetvalue(l, row, P_STATE),
               PQgetvalue(l, row, P_ITEM), PQgetvalue(l, row, P_TENANT),
               text_shown(PQgetvalue(l, row, P_TENANT_NAME)));
        if (show_hold && db_value(l, row, P_HOLD))
            printf(" hold %s", PQgetvalue(l, row, P_HOLD));
        putchar('\n');
    }
}

/* Open batches, and failed ones whose items are not all purged since: what may need an ack
 * or a rerun. */
static void print_batches(const PGresult *b)
{
    int n = PQntuples(b);
    long open = n ? atol(PQgetvalue(b, 0, B_OPEN)) : 0;
    long failed = n ? atol(PQgetvalue(b, 0, B_FAILED)) : 0;
    printf("\nbatches: %ld open, %ld failed with items not purged since%s\n", open, failed,
           open + failed > n ? " (the first shown)" : "");
    for (int row = 0; row < n; row++) {
        char age[32];
        report_age(atoll(PQgetvalue(b, row, B_AGE)), age, sizeof age);
        const char *items = PQgetvalue(b, row, B_ITEMS), *attempts = PQgetvalue(b, row, B_ATTEMPTS);
        printf("  %-6s %s  %s, %s item%s, %s attempt%s, age %s\n", PQgetvalue(b, row, B_STATE),
               PQgetvalue(b, row, B_ID), PQgetvalue(b, row, B_LOCATION), items,
               strcmp(items, "1") == 0 ? "" : "s", attempts,
               strcmp(attempts, "1") == 0 ? "" : "s", age);
    }
    if (n)
        printf("  'lethe batches' lists every batch; 'lethe ack' or 'lethe rerun' moves one on\n");
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
        printf("  %s failures, the last at %s: tenant %s (%s) item %s (%s)\n",
               PQgetvalue(r->failing, row, F_FAILURES), PQgetvalue(r->failing, row, F_LAST),
               PQgetvalue(r->failing, row, F_TENANT), text_shown(PQgetvalue(r->failing, row, F_NAME)),
               PQgetvalue(r->failing, row, F_ITEM), PQgetvalue(r->failing, row, F_STATE));
    if (strcmp(PQgetvalue(r->now, 0, N_FAILED_ONCE), "0") != 0)
        printf("  'lethe batches --state failed' lists the failed batches with their deleters' "
               "stderr\n");
    print_batches(r->batches);
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

/* ---- one request: status --reference REF --tenant T -------------------------------------- */

enum { Q_EVENT, Q_SCOPE, Q_SCOPE_VALUE, Q_OCCURRED, Q_RECORDED, Q_OPERATOR, Q_RULE, Q_DEADLINE,
       Q_DERIVED, Q_WITHDRAWN, Q_WITHDRAWN_BY, Q_ENABLED, Q_NOW };
enum { I_COVERED, I_PURGED, I_ON_TIME, I_LATE, I_HELD_PAST, I_IN_FLIGHT, I_DUE, I_SCHEDULED,
       I_HELD, I_LIVE, I_NEAREST, I_MAX_LATENESS };

struct request_report {
    const char *tenant, *name, *reference;
    PGresult *events, *items;
    long n[I_NEAREST];
    long pending, withdrawn, derived;
    bool done;
    char verdict[256];
};

static void request_assess(struct request_report *q)
{
    for (int k = 0; k < I_NEAREST; k++)
        q->n[k] = atol(PQgetvalue(q->items, 0, k));
    q->pending = q->n[I_IN_FLIGHT] + q->n[I_DUE] + q->n[I_SCHEDULED] + q->n[I_HELD];
    for (int row = 0; row < PQntuples(q->events); row++) {
        q->withdrawn += db_value(q->events, row, Q_WITHDRAWN) != NULL;
        q->derived += PQgetvalue(q->events, row, Q_DERIVED)[0] == 't';
    }
    long n = PQntuples(q->events), left = q->n[I_COVERED] - q->n[I_PURGED];
    if (q->withdrawn == n) {
        snprintf(q->verdict, sizeof q->verdict,
                 "withdrawn: a cancellation withdrew it; %ld covered item%s purged before stay "
                 "purged", q->n[I_PURGED], q->n[I_PURGED] == 1 ? "" : "s");
    } else if (q->derived < n) {
        snprintf(q->verdict, sizeof q->verdict,
                 "not done: not derived yet; the next 'lethe run' derives it");
    } else if (left == 0) {
        q->done = true;
        /* A purged item of a data subject no longer names its owner, so a subject request
         * whose items were all purged under other rules can show none covered: what is
         * certain is that none is left. */
        if (q->n[I_COVERED] == 0)
            snprintf(q->verdict, sizeof q->verdict, "done: no covered item is left to purge");
        else
            snprintf(q->verdict, sizeof q->verdict, "done: all %ld covered item%s purged",
                     q->n[I_COVERED], q->n[I_COVERED] == 1 ? " is" : "s are");
    } else if (db_value(q->items, 0, I_NEAREST)) {
        snprintf(q->verdict, sizeof q->verdict,
                 "not done: %ld of %ld covered items not purged yet; the nearest deadline is %s",
                 left, q->n[I_COVERED], PQgetvalue(q->items, 0, I_NEAREST));
    } else {
        snprintf(q->verdict, sizeof q->verdict,
                 "not done: %ld of %ld covered items not purged yet, and this request makes "
                 "none of them due", left, q->n[I_COVERED]);
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
    json_text(stdout, q->events, 0, Q_NOW);
    fputs(",\n  \"requests\": [", stdout);
    static const char *const keys[] = {"event_id",   "scope",       "scope_id", "occurred_at",
                                       "recorded_at", "operator",   "rule",     "deadline_at",
                                       "derived",    "withdrawn_at", "withdrawn_by"};
    for (int row = 0; row < PQntuples(q->events); row++) {
        fputs(row ? ",\n    {" : "\n    {", stdout);
        for (int k = 0; k <= Q_WITHDRAWN_BY; k++) {
            printf("%s\"%s\": ", k ? ", " : "", keys[k]);
            if (k == Q_EVENT || k == Q_WITHDRAWN_BY)
                json_number(stdout, q->events, row, k);
            else if (k == Q_DERIVED)
                json_bool(stdout, q->events, row, k);
            else
                json_text(stdout, q->events, row, k);
        }
        fputs("}", stdout);
    }
    printf("\n  ],\n  \"covered\": %ld,\n  \"purged\": {\"count\": %ld, \"on_time\": %ld, "
           "\"late\": %ld, \"held_past_deadline\": %ld, \"max_lateness_seconds\": ",
           q->n[I_COVERED], q->n[I_PURGED], q->n[I_ON_TIME], q->n[I_LATE], q->n[I_HELD_PAST]);
    json_number(stdout, q->items, 0, I_MAX_LATENESS);
    printf("},\n  \"pending\": {\"count\": %ld, \"in_flight\": %ld, \"due\": %ld, "
           "\"scheduled\": %ld, \"held\": %ld, \"nearest_deadline\": ",
           q->pending, q->n[I_IN_FLIGHT], q->n[I_DUE], q->n[I_SCHEDULED], q->n[I_HELD]);
    json_text(stdout, q->items, 0, I_NEAREST);
    printf("},\n  \"not_due\": %ld,\n  \"done\": %s,\n  \"verdict\": ", q->n[I_LIVE],
           q->done ? "true" : "false");
    json_string(stdout, q->verdict);
    fputs("\n}\n", stdout);
}

static void request_text(const struct request_report *q)
{
    printf("request %s of tenant %s (%s) at %s\n", text_shown(q->reference), q->tenant,
           text_shown(q->name),
           PQgetvalue(q->events, 0, Q_NOW));
    for (int row = 0; row < PQntuples(q->events); row++) {
        const char *scope = PQgetvalue(q->events, row, Q_SCOPE);
        printf("\ndeletion request %s: %s, ", PQgetvalue(q->events, row, Q_EVENT),
               PQgetvalue(q->events, row, Q_RULE));
        if (strcmp(scope, "tenant") == 0)
            printf("the whole tenant\n");
        else if (strcmp(scope, "subject") == 0)
            printf("a data subject's items\n");
        else
            printf("%s %s\n", scope, PQgetvalue(q->events, row, Q_SCOPE_VALUE));
        const char *by = db_value(q->events, row, Q_OPERATOR);
        printf("  occurred:  %s%s%s\n", PQgetvalue(q->events, row, Q_OCCURRED),
               by ? ", recorded by " : "", text_shown(by));
        if (PQgetvalue(q->events, row, Q_ENABLED)[0] == 't')
            printf("  deadline:  %s\n", PQgetvalue(q->events, row, Q_DEADLINE));
        else
            printf("  deadline:  none: %s is disabled\n", PQgetvalue(q->events, row, Q_RULE));
        if (db_value(q->events, row, Q_WITHDRAWN))
            printf("  withdrawn: %s by event %s\n", PQgetvalue(q->events, row, Q_WITHDRAWN),
                   PQgetvalue(q->events, row, Q_WITHDRAWN_BY));
        else if (PQgetvalue(q->events, row, Q_DERIVED)[0] != 't')
            printf("  derived:   not yet (the next run derives it)\n");
    }
    printf("\ncovered items: %ld\n", q->n[I_COVERED]);
    printf("  purged:     %ld (on time %ld, late %ld, held past the deadline %ld)\n",
           q->n[I_PURGED], q->n[I_ON_TIME], q->n[I_LATE], q->n[I_HELD_PAST]);
    printf("  in flight:  %ld\n", q->n[I_IN_FLIGHT]);
    printf("  due:        %ld\n", q->n[I_DUE]);
    printf("  scheduled:  %ld\n", q->n[I_SCHEDULED]);
    printf("  held:       %ld\n", q->n[I_HELD]);
    if (q->n[I_LIVE])
        printf("  not due:    %ld (the request was withdrawn, or its rule is disabled)\n",
               q->n[I_LIVE]);
    if (db_value(q->items, 0, I_NEAREST))
        printf("  nearest deadline: %s\n", PQgetvalue(q->items, 0, I_NEAREST));
    printf("\n%s\n", q->verdict);
}

static int request_status(struct lethe_ctx *ctx, const char *tenant, const char *reference,
                          bool json)
{
    struct request_report q = {.tenant = tenant, .reference = reference};
    PGresult *t = NULL;
    int rc = EXIT_RUNTIME;
    /* One snapshot for the request and its items. */
    if (!db_request_begin(ctx->db))
        return EXIT_RUNTIME;
    if (!(t = db_tenant(ctx->db, tenant)))
        goto cleanup;
    if (PQntuples(t) == 0) {
        log_error("status: no tenant %s", tenant);
        log_hint("tenants are the rows of lethe.tenants; check the id");
        rc = EXIT_USAGE;
        goto cleanup;
    }
    q.name = PQgetvalue(t, 0, 0);
    if (!(q.events = db_request_events(ctx->db, tenant, reference)))
        goto cleanup;
    if (PQntuples(q.events) == 0) {
        log_error("status: no deletion request with reference \"%s\" in tenant %s", reference,
                  tenant);
        log_hint("'lethe request --tenant T --reference REF' records one; references are exact");
        rc = EXIT_USAGE;
        goto cleanup;
    }
    if (!(q.items = db_request_items(ctx->db, tenant, reference)))
        goto cleanup;
    request_assess(&q);
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
        !(r.next = db_status_next_deadlines(ctx->db, LIST_LIMIT)) ||
        !(r.violations = db_status_violations(ctx->db, LIST_LIMIT)) ||
        !(r.failing = db_status_failing(ctx->db, LIST_LIMIT)) ||
        !(r.runs = db_status_last_runs(ctx->db)) ||
        !(r.batches = db_status_batches(ctx->db, LIST_LIMIT))) {
        db_status_end(ctx->db);
        goto cleanup;
    }
    db_status_end(ctx->db);
    assess(&r);
    /* SPEC §7: an audit behind its anchor file (a restored database). */
    char behind[2048];
    int b = anchor_behind(ctx->db, ctx->cfg.anchor_file, behind, sizeof behind, true);
    if (b == ANCHOR_DIVERGED)
        problem(&r, "%s; the anchor file is another database's, or this audit was rewritten "
                    "after that line", behind);
    else if (b > 0)
        problem(&r, "%s; run 'lethe replay EXPORT...'", behind);
    else if (b == ANCHOR_UNUSABLE)
        problem(&r, "the anchor file '%s' cannot be used, so every run refuses to work; "
                    "restore it from the copy shipped elsewhere", ctx->cfg.anchor_file);
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
    PQclear(r.batches);
    return rc;
}
