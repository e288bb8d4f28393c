/* What `lethe run` prints for scripts (--json) and the items of a dry run's plan (--items).
 * The cycle (engine/cycle.c) computes; this only writes. */
#ifndef LETHE_REPORT_H
#define LETHE_REPORT_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>

#include "cycle.h"

/* The run's summary as one JSON object on one line:
 * {run_id, outcome, as_of, shard, new_events, new_items, obligations, withdrawn, expanded,
 *  redriven, due, batches, purged, failed, held, seconds}. */
void report_run_json(FILE *out, const char *run_id, const char *outcome, const char *as_of,
                     const char *shard, const struct run_counts *c, double seconds);

/* A dry run's plan as one JSON object. PLAN holds the rows (kind, key, due, held) of the
 * dry run's summary query, kind being "total", "location", "rule" or "tenant":
 * {as_of, dry_run: true, new_events, new_items, obligations, withdrawn, due, held,
 *  batch_max_items, by_location: [{location, due, batches, held}], by_rule: [{rule, due, held}],
 *  by_tenant: [{tenant_id, due, held}], items: [ITEM] (only with items)}
 * where ITEM is {tenant_id, item_id, location, state ("due" or "held"), rule, reference,
 * due_at, deadline_at, hold_id}, streamed from the dry run's temporary table plan. */
bool report_plan_json(PGconn *db, FILE *out, const char *as_of, const struct run_counts *c,
                      long max_items, const PGresult *plan, bool items);
/* The items of the plan for a person, one line each, after the text plan. */
bool report_plan_items_text(PGconn *db, FILE *out);

/* An age for a person: "3d 4h", "2h 5m", "4m 10s", "12s" (negative counts as 0). */
void report_age(long long seconds, char *out, size_t n);

#endif
