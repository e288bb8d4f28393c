/* run --json and the dry run's --items: formatting only. The items are streamed row by row
 * (db_plan_items), so a plan of millions of items costs flat memory. Never prints a locator
 * or a subject. */
#include "report.h"

#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "dbstatus.h"
#include "text.h"

void report_age(long long s, char *out, size_t n)
{
    if (s < 0)
        s = 0;
    if (s >= 86400)
        snprintf(out, n, "%lldd %lldh", s / 86400, s % 86400 / 3600);
    else if (s >= 3600)
        snprintf(out, n, "%lldh %lldm", s / 3600, s % 3600 / 60);
    else if (s >= 60)
        snprintf(out, n, "%lldm %llds", s / 60, s % 60);
    else
        snprintf(out, n, "%llds", s);
}

void report_run_json(FILE *out, const char *run_id, const char *outcome, const char *as_of,
                     const char *shard, const struct run_counts *c, double seconds)
{
    fputs("{\"run_id\": ", out);
    json_string(out, run_id);
    fputs(", \"outcome\": ", out);
    json_string(out, outcome);
    fputs(", \"as_of\": ", out);
    json_string(out, as_of);
    fputs(", \"shard\": ", out);
    json_string(out, shard && *shard ? shard : NULL);
    fprintf(out,
            ", \"new_events\": %ld, \"new_items\": %ld, \"obligations\": %ld, \"withdrawn\": %ld,"
            " \"expanded\": %ld, \"redriven\": %ld, \"due\": %ld, \"batches\": %ld,"
            " \"purged\": %ld, \"repurged\": %ld, \"failed\": %ld, \"failed_batches\": %ld,"
            " \"held\": %ld, \"left_open\": %ld, \"left_open_items\": %ld, \"seconds\": %.3f}\n",
            c->events, c->items, c->obligations, c->withdrawn, c->expanded, c->redriven, c->due,
            c->batches, c->purged, c->repurged, c->failed, c->failed_batches, c->held, c->left_open,
            c->left_open_items, seconds);
}

static void plan_section(FILE *out, const PGresult *plan, const char *kind, const char *key,
                         long max_items)
{
    int n = 0;
    fprintf(out, ",\n  \"by_%s\": [", kind);
    for (int row = 0; row < PQntuples(plan); row++) {
        if (strcmp(db_str(plan, row, "kind"), kind) != 0)
            continue;
        long due = db_get_long(plan, row, "due");
        fprintf(out, "%s\n    {\"%s\": ", n++ ? "," : "", key);
        json_text(out, plan, row, db_col(plan, "name"));
        fprintf(out, ", \"due\": %ld", due);
        if (max_items > 0)
            fprintf(out, ", \"batches\": %ld", (due + max_items - 1) / max_items);
        fprintf(out, ", \"held\": %s}", db_str(plan, row, "held"));
    }
    fputs(n ? "\n  ]" : "]", out);
}

struct items_out {
    FILE *out;
    bool json;
    long n;
};

static bool item_row(void *arg, const PGresult *r, int row)
{
    static const char *const keys[] = {"tenant_id", "item_id", "location", "state", "rule",
                                       "reference", "due_at", "deadline_at", "hold_id"};
    struct items_out *o = arg;
    if (o->json) {
        fputs(o->n++ ? ",\n    {" : "\n    {", o->out);
        for (int k = 0; k < 9; k++) {
            fprintf(o->out, "%s\"%s\": ", k ? ", " : "", keys[k]);
            json_text(o->out, r, row, db_col(r, keys[k]));
        }
        fputs("}", o->out);
    } else {
        o->n++;
        fprintf(o->out, "  %s %-4s %-22s deadline %s item %s tenant %s", db_str(r, row, "state"),
                db_str(r, row, "location"), db_str(r, row, "rule"), db_str(r, row, "deadline_at"),
                db_str(r, row, "item_id"), db_str(r, row, "tenant_id"));
        if (db_get(r, row, "reference"))
            fprintf(o->out, " reference \"%s\"", text_shown(db_get(r, row, "reference")));
        if (db_get(r, row, "hold_id"))
            fprintf(o->out, " hold %s", db_get(r, row, "hold_id"));
        fputc('\n', o->out);
    }
    return !ferror(o->out);
}

bool report_plan_json(PGconn *db, FILE *out, const char *as_of, const struct run_counts *c,
                      long max_items, const PGresult *plan, bool items)
{
    long due = 0, held = 0;
    for (int row = 0; row < PQntuples(plan); row++)
        if (strcmp(db_str(plan, row, "kind"), "total") == 0) {
            due = db_get_long(plan, row, "due");
            held = db_get_long(plan, row, "held");
        }
    fputs("{\n  \"as_of\": ", out);
    json_string(out, as_of);
    fprintf(out,
            ", \"dry_run\": true,\n  \"new_events\": %ld, \"new_items\": %ld, \"obligations\": %ld,"
            " \"withdrawn\": %ld,\n  \"due\": %ld, \"held\": %ld, \"batch_max_items\": %ld",
            c->events, c->items, c->obligations, c->withdrawn, due, held, max_items);
    plan_section(out, plan, "location", "location", max_items);
    plan_section(out, plan, "rule", "rule", 0);
    plan_section(out, plan, "tenant", "tenant_id", 0);
    if (items) {
        struct items_out o = {out, true, 0};
        fputs(",\n  \"items\": [", out);
        if (!db_plan_items(db, item_row, &o))
            return false;
        fputs(o.n ? "\n  ]" : "]", out);
    }
    fputs("\n}\n", out);
    return !ferror(out);
}

bool report_plan_items_text(PGconn *db, FILE *out)
{
    struct items_out o = {out, false, 0};
    fputs("items:\n", out);
    return db_plan_items(db, item_row, &o);
}
