/* lethe explain ITEM_ID: why one item is, or is not, due. Shows every obligation covering it
 * (through its ancestors too, withdrawn ones included), the governing rule, its holds, its
 * state and batches, from lethe.obligations_of, lethe.holds_of and lethe.item_status, all at
 * one instant. Reads only; an item id found in no tenant, or in two without --tenant, exits 2.
 *
 * --json writes one object whose keys are stable (new keys may be added, none renamed):
 *   tenant_id, item_id, workspace_id, kind, customer_data, location, owner_id, shared,
 *   parent_id, created_at, as_of,
 *   state, rule, reference, due_at, deadline_at, purged_at, batch_id, attempts, hold_id
 *       (as lethe.item_status gives them: a purged or in-flight item keeps what it was
 *       batched under),
 *   governing: {rule, obligation_id, event_id, reference, triggered_at, due_at, deadline_at}
 *       or null (the active obligation with the earliest deadline, SPEC §3 ties),
 *   obligations: [{rule, obligation_id, event_id, reference, scope, scope_id, via_item_id,
 *       triggered_at, due_at, deadline_at, active, withdrawn, withdrawn_at, withdrawn_by,
 *       governing, expanded_at, in_effect}]  (obligation_id 0 and scope "copy": the per-item
 *       rules; in_effect: its trigger has come, which a future-dated event's has not;
 *       via_item_id: the ancestor the obligation reached it through, null for the item itself;
 *       withdrawn: withdrawn by as_of; withdrawn_by: the withdrawing event),
 *   holds: [{hold_id, scope, scope_id, reason, reference, placed_at, released_at, active,
 *       blocking, via_item_id}]  (every hold on the item or an ancestor, released ones too),
 *   batches: [{batch_id, batch_state, outcome, rule, reference, due_at, deadline_at,
 *       created_at, closed_at, purged_at, reason, run_id, location}]  (oldest first),
 *   unconsumed_events: events of the tenant that no run has consumed yet (not reflected),
 *   unconsumed_item: whether the item itself is not consumed by a run yet.
 * Times are UTC ISO 8601 with microseconds and Z; absent values are null. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "db.h"
#include "dbstatus.h"
#include "exitcode.h"
#include "jobs.h"
#include "log.h"
#include "text.h"

struct explain {
    PGresult *item, *obligations, *holds, *batches;
};

/* Column numbers of the queries in engine/dbstatus.c. */
enum { I_TENANT, I_ITEM, I_WORKSPACE, I_KIND, I_CUSTOMER, I_LOCATION, I_OWNER, I_SHARED,
       I_PARENT, I_CREATED, I_AS_OF, I_STATE, I_RULE, I_DUE, I_DEADLINE, I_PURGED, I_BATCH,
       I_ATTEMPTS, I_HOLD, I_REFERENCE, I_UNCONSUMED_EVENTS, I_UNCONSUMED_ITEM, I_OPTED_OUT };
enum { O_RULE, O_ID, O_EVENT, O_REFERENCE, O_TRIGGERED, O_DUE, O_DEADLINE, O_WITHDRAWN,
       O_WITHDRAWN_AT, O_WITHDRAWN_BY, O_ACTIVE, O_VIA, O_GOVERNING, O_SCOPE, O_SCOPE_ID,
       O_EXPANDED, O_IN_EFFECT };
enum { H_ID, H_SCOPE, H_SCOPE_ID, H_REASON, H_REFERENCE, H_PLACED, H_RELEASED, H_ACTIVE, H_VIA,
       H_BLOCKING };
enum { B_ID, B_STATE, B_OUTCOME, B_RULE, B_REFERENCE, B_DUE, B_DEADLINE, B_CREATED, B_CLOSED,
       B_PURGED, B_REASON, B_RUN, B_LOCATION };

static bool yes(const PGresult *res, int row, int col)
{
    const char *v = db_value(res, row, col);
    return v && strcmp(v, "t") == 0;
}

static const char *or_dash(const char *s) { return s ? s : "-"; }

static int governing_row(const struct explain *e)
{
    for (int r = 0; r < PQntuples(e->obligations); r++)
        if (yes(e->obligations, r, O_GOVERNING))
            return r;
    return -1;
}

/* ---- JSON -------------------------------------------------------------------------------- */

struct field {
    const char *key;
    int col;
    char type; /* 's' string, 'n' number, 'b' boolean */
};

static void json_fields(FILE *out, const PGresult *res, int row, const struct field *f, int n,
                        const char *indent)
{
    for (int i = 0; i < n; i++) {
        fprintf(out, "%s%s", i ? ",\n" : "", indent);
        json_string(out, f[i].key);
        fputs(": ", out);
        if (f[i].type == 'n')
            json_number(out, res, row, f[i].col);
        else if (f[i].type == 'b')
            json_bool(out, res, row, f[i].col);
        else
            json_text(out, res, row, f[i].col);
    }
}

static void json_list(FILE *out, const char *key, const PGresult *res, const struct field *f,
                      int n)
{
    fprintf(out, ",\n  \"%s\": [", key);
    for (int r = 0; r < PQntuples(res); r++) {
        fprintf(out, "%s\n    {\n", r ? "," : "");
        json_fields(out, res, r, f, n, "      ");
        fputs("\n    }", out);
    }
    fputs(PQntuples(res) ? "\n  ]" : "]", out);
}

static void print_json(const struct explain *e)
{
    static const struct field item[] = {
        {"tenant_id", I_TENANT, 's'},     {"item_id", I_ITEM, 's'},
        {"workspace_id", I_WORKSPACE, 's'}, {"kind", I_KIND, 's'},
        {"customer_data", I_CUSTOMER, 'b'}, {"location", I_LOCATION, 's'},
        {"owner_id", I_OWNER, 's'},       {"shared", I_SHARED, 'b'},
        {"parent_id", I_PARENT, 's'},     {"created_at", I_CREATED, 's'},
        {"as_of", I_AS_OF, 's'},          {"state", I_STATE, 's'},
        {"rule", I_RULE, 's'},            {"reference", I_REFERENCE, 's'},
        {"due_at", I_DUE, 's'},           {"deadline_at", I_DEADLINE, 's'},
        {"purged_at", I_PURGED, 's'},     {"batch_id", I_BATCH, 's'},
        {"attempts", I_ATTEMPTS, 'n'},    {"hold_id", I_HOLD, 's'}};
    static const struct field governing[] = {
        {"rule", O_RULE, 's'},           {"obligation_id", O_ID, 'n'},
        {"event_id", O_EVENT, 'n'},      {"reference", O_REFERENCE, 's'},
        {"triggered_at", O_TRIGGERED, 's'}, {"due_at", O_DUE, 's'},
        {"deadline_at", O_DEADLINE, 's'}};
    static const struct field obligation[] = {
        {"rule", O_RULE, 's'},           {"obligation_id", O_ID, 'n'},
        {"event_id", O_EVENT, 'n'},      {"reference", O_REFERENCE, 's'},
        {"scope", O_SCOPE, 's'},         {"scope_id", O_SCOPE_ID, 's'},
        {"via_item_id", O_VIA, 's'},     {"triggered_at", O_TRIGGERED, 's'},
        {"due_at", O_DUE, 's'},          {"deadline_at", O_DEADLINE, 's'},
        {"active", O_ACTIVE, 'b'},       {"withdrawn", O_WITHDRAWN, 'b'},
        {"withdrawn_at", O_WITHDRAWN_AT, 's'}, {"withdrawn_by", O_WITHDRAWN_BY, 'n'},
        {"governing", O_GOVERNING, 'b'}, {"expanded_at", O_EXPANDED, 's'},
        {"in_effect", O_IN_EFFECT, 'b'}};
    static const struct field hold[] = {
        {"hold_id", H_ID, 's'},         {"scope", H_SCOPE, 's'},
        {"scope_id", H_SCOPE_ID, 's'},  {"reason", H_REASON, 's'},
        {"reference", H_REFERENCE, 's'}, {"placed_at", H_PLACED, 's'},
        {"released_at", H_RELEASED, 's'}, {"active", H_ACTIVE, 'b'},
        {"blocking", H_BLOCKING, 'b'},  {"via_item_id", H_VIA, 's'}};
    static const struct field batch[] = {
        {"batch_id", B_ID, 's'},        {"batch_state", B_STATE, 's'},
        {"outcome", B_OUTCOME, 's'},    {"rule", B_RULE, 's'},
        {"reference", B_REFERENCE, 's'}, {"due_at", B_DUE, 's'},
        {"deadline_at", B_DEADLINE, 's'}, {"created_at", B_CREATED, 's'},
        {"closed_at", B_CLOSED, 's'},   {"purged_at", B_PURGED, 's'},
        {"reason", B_REASON, 's'},      {"run_id", B_RUN, 's'},
        {"location", B_LOCATION, 's'}};
#define N(a) ((int)(sizeof a / sizeof a[0]))
    fputs("{\n", stdout);
    json_fields(stdout, e->item, 0, item, N(item), "  ");
    int g = governing_row(e);
    fputs(",\n  \"governing\": ", stdout);
    if (g < 0) {
        fputs("null", stdout);
    } else {
        fputs("{\n", stdout);
        json_fields(stdout, e->obligations, g, governing, N(governing), "    ");
        fputs("\n  }", stdout);
    }
    json_list(stdout, "obligations", e->obligations, obligation, N(obligation));
    json_list(stdout, "holds", e->holds, hold, N(hold));
    json_list(stdout, "batches", e->batches, batch, N(batch));
    printf(",\n  \"unconsumed_events\": %s", PQgetvalue(e->item, 0, I_UNCONSUMED_EVENTS));
    printf(",\n  \"unconsumed_item\": %s\n}\n",
           yes(e->item, 0, I_UNCONSUMED_ITEM) ? "true" : "false");
#undef N
}

/* ---- for a person ------------------------------------------------------------------------- */

/* One sentence: why the item is in its state. */
static void print_why(const struct explain *e)
{
    const PGresult *it = e->item;
    const char *state = PQgetvalue(it, 0, I_STATE);
    const char *rule = or_dash(db_value(it, 0, I_RULE));
    const char *due = or_dash(db_value(it, 0, I_DUE));
    const char *deadline = or_dash(db_value(it, 0, I_DEADLINE));
    const char *batch = or_dash(db_value(it, 0, I_BATCH));
    const char *as_of = PQgetvalue(it, 0, I_AS_OF);
    bool past = db_value(it, 0, I_DEADLINE) && strcmp(deadline, as_of) < 0;
    printf("why        ");
    if (strcmp(state, "purged") == 0) {
        const char *purged = db_value(it, 0, I_PURGED);
        if (purged)
            printf("purged at %s in batch %s under %s (deadline %s): %s\n", purged, batch, rule,
                   deadline, strcmp(purged, deadline) <= 0 ? "on time" : "after the deadline");
        else
            printf("tombstoned without a purge record\n");
    } else if (strcmp(state, "in_flight") == 0) {
        printf("handed to the deleter in open batch %s under %s (deadline %s%s); withdrawals and"
               " holds no longer recall it\n",
               batch, rule, deadline, past ? ", passed" : "");
    } else if (strcmp(state, "held") == 0) {
        printf("due since %s under %s, but hold %s keeps it (deadline %s%s)\n", due, rule,
               or_dash(db_value(it, 0, I_HOLD)), deadline,
               past ? ", passed: reported as held, not late" : "");
    } else if (strcmp(state, "due") == 0) {
        printf("due since %s under %s (deadline %s%s); the next run batches it\n", due, rule,
               deadline, past ? ", passed" : "");
    } else if (strcmp(state, "scheduled") == 0) {
        printf("not due until %s under %s (deadline %s)\n", due, rule, deadline);
    } else if (!yes(it, 0, I_CUSTOMER)) {
        printf("a %s is not Customer Data: no rule ever applies to it (C7)\n",
               PQgetvalue(it, 0, I_KIND));
    } else if (PQntuples(e->obligations) > 0) {
        printf("no active obligation (each one is withdrawn or its rule disabled): kept while the"
               " subscription is active (C1)\n");
    } else {
        printf("no obligation covers it: kept while the subscription is active (C1)\n");
    }
}

static void print_obligation(const PGresult *o, int r)
{
    printf("  %s%s%s\n", PQgetvalue(o, r, O_RULE), yes(o, r, O_GOVERNING) ? " (governing)" : "",
           yes(o, r, O_ACTIVE) ? "" : " (not active)");
    const char *scope = PQgetvalue(o, r, O_SCOPE);
    if (strcmp(scope, "copy") == 0) {
        printf("    per item, from the creation of %s\n",
               db_value(o, r, O_VIA) ? "its ancestor below" : "the item itself");
    } else {
        printf("    event %s", PQgetvalue(o, r, O_EVENT));
        if (db_value(o, r, O_REFERENCE))
            printf(", reference \"%s\"", text_shown(PQgetvalue(o, r, O_REFERENCE)));
        if (strcmp(scope, "tenant") == 0)
            printf(", scope the whole tenant\n");
        else
            printf(", scope %s %s\n", scope, PQgetvalue(o, r, O_SCOPE_ID));
    }
    if (db_value(o, r, O_VIA))
        printf("    via       ancestor %s (a copy follows its source)\n", PQgetvalue(o, r, O_VIA));
    printf("    triggered %s%s\n", PQgetvalue(o, r, O_TRIGGERED),
           yes(o, r, O_IN_EFFECT) ? "" : " (future-dated: not in effect yet)");
    printf("    due       %s\n", PQgetvalue(o, r, O_DUE));
    printf("    deadline  %s\n", PQgetvalue(o, r, O_DEADLINE));
    if (db_value(o, r, O_WITHDRAWN_AT))
        printf("    withdrawn %s%s%s%s\n", PQgetvalue(o, r, O_WITHDRAWN_AT),
               db_value(o, r, O_WITHDRAWN_BY) ? " by event " : "",
               or_dash(db_value(o, r, O_WITHDRAWN_BY)),
               yes(o, r, O_WITHDRAWN) ? "" : " (not in effect yet)");
}

static void print_hold(const PGresult *h, int r)
{
    printf("  %s %s%s\n", PQgetvalue(h, r, H_ID),
           yes(h, r, H_ACTIVE) ? "active" : db_value(h, r, H_RELEASED) ? "released" : "not yet placed",
           yes(h, r, H_BLOCKING) ? ", keeps the item from being due" : "");
    if (strcmp(PQgetvalue(h, r, H_SCOPE), "tenant") == 0)
        printf("    scope     the whole tenant\n");
    else
        printf("    scope     %s %s\n", PQgetvalue(h, r, H_SCOPE), PQgetvalue(h, r, H_SCOPE_ID));
    if (db_value(h, r, H_VIA))
        printf("    via       ancestor %s\n", PQgetvalue(h, r, H_VIA));
    printf("    reason    %s\n", text_shown(PQgetvalue(h, r, H_REASON)));
    if (db_value(h, r, H_REFERENCE))
        printf("    reference %s\n", text_shown(PQgetvalue(h, r, H_REFERENCE)));
    printf("    placed    %s\n", PQgetvalue(h, r, H_PLACED));
    if (db_value(h, r, H_RELEASED))
        printf("    released  %s\n", PQgetvalue(h, r, H_RELEASED));
}

static void print_batch(const PGresult *b, int r)
{
    const char *outcome = db_value(b, r, B_OUTCOME);
    printf("  %s %s, item %s\n", PQgetvalue(b, r, B_ID), PQgetvalue(b, r, B_STATE),
           outcome ? outcome : "in flight");
    printf("    rule      %s, deadline %s\n", PQgetvalue(b, r, B_RULE), PQgetvalue(b, r, B_DEADLINE));
    printf("    created   %s by run %s, location %s\n", PQgetvalue(b, r, B_CREATED),
           PQgetvalue(b, r, B_RUN), PQgetvalue(b, r, B_LOCATION));
    if (db_value(b, r, B_PURGED))
        printf("    purged    %s\n", PQgetvalue(b, r, B_PURGED));
    else if (db_value(b, r, B_CLOSED))
        printf("    closed    %s\n", PQgetvalue(b, r, B_CLOSED));
    if (db_value(b, r, B_REASON))
        printf("    reason    %s\n", PQgetvalue(b, r, B_REASON));
}

static void print_text(const struct explain *e)
{
    const PGresult *it = e->item;
    printf("item       %s\n", PQgetvalue(it, 0, I_ITEM));
    printf("tenant     %s\n", PQgetvalue(it, 0, I_TENANT));
    printf("workspace  %s\n", PQgetvalue(it, 0, I_WORKSPACE));
    printf("kind       %s (%s)\n", PQgetvalue(it, 0, I_KIND),
           yes(it, 0, I_CUSTOMER) ? "Customer Data" : "not Customer Data");
    printf("location   %s\n", PQgetvalue(it, 0, I_LOCATION));
    printf("created    %s\n", PQgetvalue(it, 0, I_CREATED));
    if (yes(it, 0, I_SHARED))
        printf("shared     yes, %s\n", yes(it, 0, I_OPTED_OUT)
                                           ? "made while its tenant or workspace was opted out"
                                           : "under the data-sharing opt-in");
    if (db_value(it, 0, I_PARENT))
        printf("copy of    %s\n", PQgetvalue(it, 0, I_PARENT));
    if (db_value(it, 0, I_OWNER))
        printf("owner      %s\n", text_shown(PQgetvalue(it, 0, I_OWNER)));
    printf("as of      %s\n\n", PQgetvalue(it, 0, I_AS_OF));

    printf("state      %s\n", PQgetvalue(it, 0, I_STATE));
    if (db_value(it, 0, I_RULE)) {
        printf("rule       %s\n", PQgetvalue(it, 0, I_RULE));
        if (db_value(it, 0, I_REFERENCE))
            printf("reference  %s\n", text_shown(PQgetvalue(it, 0, I_REFERENCE)));
        printf("due        %s\n", or_dash(db_value(it, 0, I_DUE)));
        printf("deadline   %s\n", or_dash(db_value(it, 0, I_DEADLINE)));
    }
    if (db_value(it, 0, I_PURGED))
        printf("purged     %s\n", PQgetvalue(it, 0, I_PURGED));
    if (db_value(it, 0, I_BATCH))
        printf("batch      %s\n", PQgetvalue(it, 0, I_BATCH));
    printf("attempts   %s failed\n", PQgetvalue(it, 0, I_ATTEMPTS));
    print_why(e);

    int g = governing_row(e);
    if (g >= 0 && db_value(it, 0, I_RULE) && strcmp(PQgetvalue(e->obligations, g, O_RULE),
                                                     PQgetvalue(it, 0, I_RULE)) != 0)
        printf("governing  %s now (the batch keeps the rule it was made under)\n",
               PQgetvalue(e->obligations, g, O_RULE));

    int n = PQntuples(e->obligations);
    printf("\nobligations (%d)%s\n", n, n ? ":" : ": none");
    for (int r = 0; r < n; r++)
        print_obligation(e->obligations, r);
    int active = 0;
    for (int r = 0; r < PQntuples(e->holds); r++)
        active += yes(e->holds, r, H_ACTIVE);
    n = PQntuples(e->holds);
    printf("\nholds (%d active, %d in all)%s\n", active, n, n ? ":" : ": none");
    for (int r = 0; r < n; r++)
        print_hold(e->holds, r);
    n = PQntuples(e->batches);
    printf("\nbatches (%d)%s\n", n, n ? ":" : ": none");
    for (int r = 0; r < n; r++)
        print_batch(e->batches, r);

    const char *pending = PQgetvalue(it, 0, I_UNCONSUMED_EVENTS);
    if (strcmp(pending, "0") != 0)
        printf("\nnote: %s event%s of this tenant %s not consumed by a run yet and %s not"
               " reflected above\n",
               pending, strcmp(pending, "1") == 0 ? "" : "s",
               strcmp(pending, "1") == 0 ? "is" : "are", strcmp(pending, "1") == 0 ? "is" : "are");
    if (yes(it, 0, I_UNCONSUMED_ITEM))
        printf("%snote: the item itself is not consumed by a run yet\n",
               strcmp(pending, "0") != 0 ? "" : "\n");
}

int job_explain(struct lethe_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"tenant", required_argument, 0, 't'}, {"json", no_argument, 0, 'j'}, {0, 0, 0, 0}};
    char tenant[UUID_TEXT_LEN] = "", item[UUID_TEXT_LEN];
    bool json = false;
    int c;
    optind = 1;
    while ((c = cli_getopt(ctx, argc, argv, "", opts)) != -1) {
        if (c == 't') {
            if (!cli_id(ctx, "--tenant", optarg, tenant))
                return EXIT_USAGE;
        } else if (c == 'j') {
            json = true;
        } else {
            return EXIT_USAGE;
        }
    }
    if (optind >= argc)
        return cli_usage(ctx, "explain: name the item: explain ITEM_ID");
    if (optind + 1 < argc)
        return cli_usage(ctx, "explain: unexpected argument '%s'", argv[optind + 1]);
    if (!cli_id(ctx, "ITEM_ID", argv[optind], item))
        return EXIT_USAGE;

    if (ctx->parse_only)
        return EXIT_DONE;
    int rc = EXIT_RUNTIME;
    struct explain e = {0};
    PGresult *tenants = db_item_tenants(ctx->db, item, tenant[0] ? tenant : NULL);
    if (!tenants)
        return EXIT_RUNTIME;
    if (PQntuples(tenants) == 0) {
        if (tenant[0])
            log_error("explain: no item %s in tenant %s", item, tenant);
        else
            log_error("explain: no item %s", item);
        log_hint("items are the rows of lethe.items; check the id");
        rc = EXIT_USAGE;
        goto cleanup;
    }
    if (PQntuples(tenants) > 1) {
        log_error("explain: item %s exists in more than one tenant", item);
        log_hint("pass --tenant T to say which");
        rc = EXIT_USAGE;
        goto cleanup;
    }
    snprintf(tenant, sizeof tenant, "%s", PQgetvalue(tenants, 0, 0));

    /* One snapshot and one now(), so that every part tells of the same instant. */
    if (!db_exec(ctx->db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL))
        goto cleanup;
    e.item = db_explain_item(ctx->db, tenant, item);
    if (e.item)
        e.obligations = db_explain_obligations(ctx->db, tenant, item);
    if (e.obligations)
        e.holds = db_explain_holds(ctx->db, tenant, item);
    if (e.holds)
        e.batches = db_explain_batches(ctx->db, tenant, item);
    db_rollback(ctx->db);
    if (!e.batches)
        goto cleanup;
    if (json)
        print_json(&e);
    else
        print_text(&e);
    rc = EXIT_DONE;
cleanup:
    PQclear(tenants);
    PQclear(e.item);
    PQclear(e.obligations);
    PQclear(e.holds);
    PQclear(e.batches);
    return rc;
}
