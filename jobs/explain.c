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
 *       governing, expanded_at, in_effect, rule_enabled}]  (obligation_id 0 and scope "copy":
 *       the per-item rules; in_effect: its trigger has come, which a future-dated event's has
 *       not; rule_enabled: false while its rule is disabled in the config;
 *       via_item_id: the ancestor the obligation reached it through, null for the item itself;
 *       withdrawn: withdrawn by as_of; withdrawn_by: the withdrawing event),
 *   holds: [{hold_id, scope, scope_id, reason, reference, placed_at, released_at, active,
 *       blocking, via_item_id}]  (every hold on the item or an ancestor, released ones too),
 *   batches: [{batch_id, batch_state, outcome, rule, reference, due_at, deadline_at,
 *       created_at, closed_at, purged_at, reason, run_id, location}]  (oldest first),
 *   unconsumed_events: events of the tenant that no run has consumed yet (not reflected),
 *   unconsumed_item: whether the item itself is not consumed by a run yet,
 *   purge_record: {seq, rule, reference, on_time, hold_id, detail} of the audit's item_purged
 *       record of a purged item (seq in the tenant's chain), or null (not purged, or no record
 *       found): what an export shows and its summary counts, a violation (rule
 *       shared_while_opted_out) before anything else, then on time, then held past the
 *       deadline (detail "held" or "held; ...": hold_id kept it, reference is the hold's),
 *       else late.
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

/* Read by the column names the queries in engine/dbstatus.c give, which are also the --json
 * keys: a renamed or missing column aborts rather than shows another one's value. */
struct explain {
    PGresult *item, *obligations, *holds, *batches;
    PGresult *purge; /* the audit's record of the purge: a row, or none (not purged, or none found) */
    const struct lethe_config *cfg; /* whether the batch's location has an executor */
};

static const char *or_dash(const char *s) { return s ? s : "-"; }

static int governing_row(const struct explain *e)
{
    for (int r = 0; r < PQntuples(e->obligations); r++)
        if (db_true(e->obligations, r, "governing"))
            return r;
    return -1;
}

/* ---- JSON -------------------------------------------------------------------------------- */

/* A --json key and the column of the same name. */
struct field {
    const char *key;
    char type; /* 's' string, 'n' number, 'b' boolean */
};

static void json_fields(FILE *out, const PGresult *res, int row, const struct field *f, int n,
                        const char *indent)
{
    for (int i = 0; i < n; i++) {
        fprintf(out, "%s%s", i ? ",\n" : "", indent);
        json_string(out, f[i].key);
        fputs(": ", out);
        int col = db_col(res, f[i].key);
        if (f[i].type == 'n')
            json_number(out, res, row, col);
        else if (f[i].type == 'b')
            json_bool(out, res, row, col);
        else
            json_text(out, res, row, col);
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
        {"tenant_id", 's'}, {"item_id", 's'},   {"workspace_id", 's'}, {"kind", 's'},
        {"customer_data", 'b'}, {"location", 's'}, {"owner_id", 's'},  {"shared", 'b'},
        {"parent_id", 's'}, {"created_at", 's'}, {"as_of", 's'},       {"state", 's'},
        {"rule", 's'},      {"reference", 's'}, {"due_at", 's'},       {"deadline_at", 's'},
        {"purged_at", 's'}, {"batch_id", 's'},  {"attempts", 'n'},     {"hold_id", 's'}};
    static const struct field governing[] = {
        {"rule", 's'},         {"obligation_id", 'n'}, {"event_id", 'n'},   {"reference", 's'},
        {"triggered_at", 's'}, {"due_at", 's'},        {"deadline_at", 's'}};
    static const struct field obligation[] = {
        {"rule", 's'},         {"obligation_id", 'n'}, {"event_id", 'n'},     {"reference", 's'},
        {"scope", 's'},        {"scope_id", 's'},      {"via_item_id", 's'},  {"triggered_at", 's'},
        {"due_at", 's'},       {"deadline_at", 's'},   {"active", 'b'},       {"withdrawn", 'b'},
        {"withdrawn_at", 's'}, {"withdrawn_by", 'n'},  {"governing", 'b'},    {"expanded_at", 's'},
        {"in_effect", 'b'},    {"rule_enabled", 'b'}};
    static const struct field hold[] = {
        {"hold_id", 's'},   {"scope", 's'},     {"scope_id", 's'},    {"reason", 's'},
        {"reference", 's'}, {"placed_at", 's'}, {"released_at", 's'}, {"active", 'b'},
        {"blocking", 'b'},  {"via_item_id", 's'}};
    static const struct field batch[] = {
        {"batch_id", 's'},    {"batch_state", 's'}, {"outcome", 's'},   {"rule", 's'},
        {"reference", 's'},   {"due_at", 's'},      {"deadline_at", 's'}, {"created_at", 's'},
        {"closed_at", 's'},   {"purged_at", 's'},   {"reason", 's'},    {"run_id", 's'},
        {"location", 's'}};
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
    printf(",\n  \"unconsumed_events\": %s", db_str(e->item, 0, "unconsumed_events"));
    printf(",\n  \"unconsumed_item\": %s", db_true(e->item, 0, "unconsumed_item") ? "true" : "false");
    static const struct field purge[] = {{"seq", 'n'},     {"rule", 's'},    {"reference", 's'},
                                         {"on_time", 'b'}, {"hold_id", 's'}, {"detail", 's'}};
    fputs(",\n  \"purge_record\": ", stdout);
    if (e->purge && PQntuples(e->purge) > 0) {
        fputs("{\n", stdout);
        json_fields(stdout, e->purge, 0, purge, N(purge), "    ");
        fputs("\n  }\n}\n", stdout);
    } else {
        fputs("null\n}\n", stdout);
    }
#undef N
}

/* ---- for a person ------------------------------------------------------------------------- */

/* How the audit counts the purge, as an export's summary does (PURGED_OUTCOMES in
 * engine/dbaudit.c): from its item_purged record, so that explain and the evidence never
 * disagree. ON_TIME is the purge time against the deadline, for when no record is found. */
static const char *purge_verdict(const struct explain *e, bool on_time)
{
    static char out[160];
    if (!e->purge || PQntuples(e->purge) == 0)
        return on_time ? "on time (no purge record found in the audit)"
                       : "after the deadline (no purge record found in the audit)";
    const char *rule = db_get(e->purge, 0, "rule"), *detail = db_get(e->purge, 0, "detail");
    if (rule && strcmp(rule, "shared_while_opted_out") == 0)
        return "a copy shared while its tenant or workspace was opted out: counted as a violation,"
               " not as late";
    if (db_true(e->purge, 0, "on_time"))
        return "on time";
    if (detail && (strcmp(detail, "held") == 0 || strncmp(detail, "held;", 5) == 0)) {
        snprintf(out, sizeof out, "after the deadline, kept past it by hold %s: counted as held,"
                 " not late", or_dash(db_get(e->purge, 0, "hold_id")));
        return out;
    }
    return "after the deadline: counted as late";
}

/* One sentence: why the item is in its state. */
static void print_why(const struct explain *e)
{
    const PGresult *it = e->item;
    const char *state = db_str(it, 0, "state");
    const char *rule = or_dash(db_get(it, 0, "rule"));
    const char *due = or_dash(db_get(it, 0, "due_at"));
    const char *deadline = or_dash(db_get(it, 0, "deadline_at"));
    const char *batch = or_dash(db_get(it, 0, "batch_id"));
    const char *as_of = db_str(it, 0, "as_of");
    bool past = db_get(it, 0, "deadline_at") && strcmp(deadline, as_of) < 0;
    printf("why        ");
    if (strcmp(state, "purged") == 0) {
        const char *purged = db_get(it, 0, "purged_at");
        if (purged)
            printf("purged at %s in batch %s under %s (deadline %s): %s\n", purged, batch, rule,
                   deadline, purge_verdict(e, strcmp(purged, deadline) <= 0));
        else
            printf("tombstoned without a purge record\n");
    } else if (strcmp(state, "in_flight") == 0) {
        /* A batch not handed over yet (its run stopped first, its location's deleter timed
         * out on another batch, or a replay or reconcile made it) was said to be with the
         * deleter. */
        long attempts = -1;
        const char *location = NULL;
        for (int b = 0; e->batches && b < PQntuples(e->batches); b++)
            if (strcmp(db_str(e->batches, b, "batch_id"), batch) == 0) {
                attempts = db_get_long(e->batches, b, "attempts");
                location = db_get(e->batches, b, "location");
            }
        /* Without an executor the manifest in the spool is the hand-over (SPEC §4). */
        if (attempts == 0 && location && !config_executor_for(e->cfg, location))
            printf("in open batch %s under %s (deadline %s%s), its manifest in the spool for the "
                   "deleter of %s (no executor is configured for it), until 'lethe ack' records "
                   "what was deleted; withdrawals and holds no longer recall it\n",
                   batch, rule, deadline, past ? ", passed" : "", location);
        else if (attempts == 0)
            printf("in open batch %s under %s (deadline %s%s), not handed to its deleter yet: "
                   "the next run hands it over; withdrawals and holds no longer recall it\n",
                   batch, rule, deadline, past ? ", passed" : "");
        else
            printf("handed to the deleter in open batch %s under %s (deadline %s%s); withdrawals "
                   "and holds no longer recall it\n",
                   batch, rule, deadline, past ? ", passed" : "");
    } else if (strcmp(state, "held") == 0) {
        /* Held past the deadline only by a hold in effect at it; one placed since found the
         * item late already, and its purge is recorded late (sql/0083, sql/0089). */
        printf("due since %s under %s, but hold %s keeps it (deadline %s%s)\n", due, rule,
               or_dash(db_get(it, 0, "hold_id")), deadline,
               !past ? ""
               : db_true(it, 0, "held_at_deadline")
                   ? ", passed: reported as held, not late"
                   : ", passed while no hold kept it: overdue, and counted as late when purged");
    } else if (strcmp(state, "due") == 0) {
        printf("due since %s under %s (deadline %s%s); the next run batches it\n", due, rule,
               deadline, past ? ", passed" : "");
    } else if (strcmp(state, "scheduled") == 0) {
        printf("not due until %s under %s (deadline %s)\n", due, rule, deadline);
    } else if (!db_true(it, 0, "customer_data")) {
        printf("a %s is not Customer Data: no rule ever applies to it (C7)\n",
               db_str(it, 0, "kind"));
    } else if (PQntuples(e->obligations) > 0) {
        /* A commitment broken while its rule is off is not "kept": said with the earliest such
         * deadline (status lists these items apart, and --check fails on them). */
        int off = -1;
        for (int r = 0; r < PQntuples(e->obligations); r++)
            if (!db_true(e->obligations, r, "rule_enabled") &&
                db_true(e->obligations, r, "deadline_passed") &&
                !db_true(e->obligations, r, "withdrawn") &&
                (off < 0 || strcmp(db_str(e->obligations, r, "deadline_at"),
                                   db_str(e->obligations, off, "deadline_at")) < 0))
                off = r;
        if (off >= 0)
            printf("no active obligation, but the deadline %s would set (%s) passed while the rule "
                   "is disabled in the config: nothing is due under a rule that is off (enable it: "
                   "rules.%s.enabled)\n",
                   db_str(e->obligations, off, "rule"), db_str(e->obligations, off, "deadline_at"),
                   db_str(e->obligations, off, "rule"));
        else
            printf("no active obligation (each one is withdrawn or its rule disabled): kept while "
                   "the subscription is active (C1)\n");
    } else {
        printf("no obligation covers it: kept while the subscription is active (C1)\n");
    }
}

static void print_obligation(const PGresult *o, int r)
{
    bool off = !db_true(o, r, "rule_enabled");
    printf("  %s%s%s\n", db_str(o, r, "rule"), db_true(o, r, "governing") ? " (governing)" : "",
           db_true(o, r, "active") ? ""
           : off                   ? " (not active: the rule is disabled in the config)"
                                   : " (not active)");
    const char *scope = db_str(o, r, "scope");
    if (strcmp(scope, "copy") == 0) {
        printf("    per item, from the creation of %s\n",
               db_get(o, r, "via_item_id") ? "its ancestor below" : "the item itself");
    } else {
        printf("    event %s", db_str(o, r, "event_id"));
        if (db_get(o, r, "reference"))
            printf(", reference \"%s\"", text_shown(db_str(o, r, "reference")));
        if (strcmp(scope, "tenant") == 0)
            printf(", scope the whole tenant\n");
        else
            printf(", scope %s %s\n", scope, text_shown(db_str(o, r, "scope_id")));
    }
    const char *via = db_get(o, r, "via_item_id");
    if (via)
        printf("    via       ancestor %s (a copy follows its source)\n", via);
    printf("    triggered %s%s\n", db_str(o, r, "triggered_at"),
           db_true(o, r, "in_effect") ? "" : " (future-dated: not in effect yet)");
    printf("    due       %s\n", db_str(o, r, "due_at"));
    printf("    deadline  %s%s\n", db_str(o, r, "deadline_at"),
           off && db_true(o, r, "deadline_passed") && !db_true(o, r, "withdrawn")
               ? " (passed while the rule is off)"
               : "");
    if (db_get(o, r, "withdrawn_at"))
        printf("    withdrawn %s%s%s%s\n", db_str(o, r, "withdrawn_at"),
               db_get(o, r, "withdrawn_by") ? " by event " : "",
               or_dash(db_get(o, r, "withdrawn_by")),
               db_true(o, r, "withdrawn") ? "" : " (not in effect yet)");
}

static void print_hold(const PGresult *h, int r)
{
    const char *released = db_get(h, r, "released_at");
    printf("  %s %s%s\n", db_str(h, r, "hold_id"),
           db_true(h, r, "active") ? "active" : released ? "released" : "not yet placed",
           db_true(h, r, "blocking") ? ", keeps the item from being due" : "");
    if (strcmp(db_str(h, r, "scope"), "tenant") == 0)
        printf("    scope     the whole tenant\n");
    else
        printf("    scope     %s %s\n", db_str(h, r, "scope"),
               text_shown(db_str(h, r, "scope_id")));
    if (db_get(h, r, "via_item_id"))
        printf("    via       ancestor %s\n", db_str(h, r, "via_item_id"));
    printf("    reason    %s\n", text_shown(db_str(h, r, "reason")));
    if (db_get(h, r, "reference"))
        printf("    reference %s\n", text_shown(db_str(h, r, "reference")));
    printf("    placed    %s\n", db_str(h, r, "placed_at"));
    if (released)
        printf("    released  %s\n", released);
}

static void print_batch(const PGresult *b, int r)
{
    const char *outcome = db_get(b, r, "outcome");
    printf("  %s %s, item %s\n", db_str(b, r, "batch_id"), db_str(b, r, "batch_state"),
           outcome ? outcome : "in flight");
    printf("    rule      %s, deadline %s\n", db_str(b, r, "rule"), db_str(b, r, "deadline_at"));
    printf("    created   %s by run %s, location %s\n", db_str(b, r, "created_at"),
           db_str(b, r, "run_id"), db_str(b, r, "location"));
    if (db_get(b, r, "purged_at"))
        printf("    purged    %s\n", db_str(b, r, "purged_at"));
    else if (db_get(b, r, "closed_at"))
        printf("    closed    %s\n", db_str(b, r, "closed_at"));
    if (db_get(b, r, "reason"))
        printf("    reason    %s\n", db_str(b, r, "reason"));
}

static void print_text(const struct explain *e)
{
    const PGresult *it = e->item;
    printf("item       %s\n", db_str(it, 0, "item_id"));
    printf("tenant     %s\n", db_str(it, 0, "tenant_id"));
    printf("workspace  %s\n", db_str(it, 0, "workspace_id"));
    printf("kind       %s (%s)\n", db_str(it, 0, "kind"),
           db_true(it, 0, "customer_data") ? "Customer Data" : "not Customer Data");
    printf("location   %s\n", db_str(it, 0, "location"));
    printf("created    %s\n", db_str(it, 0, "created_at"));
    if (db_true(it, 0, "shared"))
        printf("shared     yes, %s\n", db_true(it, 0, "opted_out")
                                           ? "made while its tenant or workspace was opted out"
                                           : "under the data-sharing opt-in");
    if (db_get(it, 0, "parent_id"))
        printf("copy of    %s\n", db_str(it, 0, "parent_id"));
    if (db_get(it, 0, "owner_id"))
        printf("owner      %s\n", text_shown(db_str(it, 0, "owner_id")));
    printf("as of      %s\n\n", db_str(it, 0, "as_of"));

    printf("state      %s\n", db_str(it, 0, "state"));
    if (db_get(it, 0, "rule")) {
        printf("rule       %s\n", db_str(it, 0, "rule"));
        if (db_get(it, 0, "reference"))
            printf("reference  %s\n", text_shown(db_str(it, 0, "reference")));
        printf("due        %s\n", or_dash(db_get(it, 0, "due_at")));
        printf("deadline   %s\n", or_dash(db_get(it, 0, "deadline_at")));
    }
    if (db_get(it, 0, "purged_at"))
        printf("purged     %s\n", db_str(it, 0, "purged_at"));
    if (db_get(it, 0, "batch_id"))
        printf("batch      %s\n", db_str(it, 0, "batch_id"));
    if (e->purge && PQntuples(e->purge) > 0) {
        printf("record     item_purged, seq %s of the tenant's audit chain", db_str(e->purge, 0, "seq"));
        if (db_get(e->purge, 0, "reference"))
            printf(", reference %s", text_shown(db_str(e->purge, 0, "reference")));
        putchar('\n');
    }
    printf("attempts   %s failed\n", db_str(it, 0, "attempts"));
    print_why(e);

    int g = governing_row(e);
    if (g >= 0 && db_get(it, 0, "rule") &&
        strcmp(db_str(e->obligations, g, "rule"), db_str(it, 0, "rule")) != 0)
        printf("governing  %s now (the batch keeps the rule it was made under)\n",
               db_str(e->obligations, g, "rule"));

    int n = PQntuples(e->obligations);
    printf("\nobligations (%d)%s\n", n, n ? ":" : ": none");
    for (int r = 0; r < n; r++)
        print_obligation(e->obligations, r);
    int active = 0;
    for (int r = 0; r < PQntuples(e->holds); r++)
        active += db_true(e->holds, r, "active");
    n = PQntuples(e->holds);
    printf("\nholds (%d active, %d in all)%s\n", active, n, n ? ":" : ": none");
    for (int r = 0; r < n; r++)
        print_hold(e->holds, r);
    n = PQntuples(e->batches);
    printf("\nbatches (%d)%s\n", n, n ? ":" : ": none");
    for (int r = 0; r < n; r++)
        print_batch(e->batches, r);

    /* A hold placed while the item's batch waited for its deleter did not keep it (SPEC §3: a
     * hold does not recall a batch already emitted); the purge is on record as any other, so
     * the hold in effect at that instant is said here, with when the batch was emitted. */
    const char *purged_at = strcmp(db_str(it, 0, "state"), "purged") == 0 ? db_get(it, 0, "purged_at")
                                                                            : NULL;
    const char *emitted = "-"; /* the batch that purged it */
    for (int b = 0; purged_at && b < PQntuples(e->batches); b++)
        if (db_get(e->batches, b, "purged_at"))
            emitted = db_str(e->batches, b, "created_at");
    for (int r = 0; purged_at && r < PQntuples(e->holds); r++) {
        const char *placed = db_str(e->holds, r, "placed_at"), *released = db_get(e->holds, r, "released_at");
        if (strcmp(placed, purged_at) > 0 || (released && strcmp(released, purged_at) <= 0))
            continue;
        if (strcmp(emitted, placed) < 0)
            printf("\nnote: hold %s (placed %s) was in effect when the item was purged at %s: its "
                   "batch was emitted at %s, before the hold, and a hold does not recall a batch "
                   "already emitted\n",
                   db_str(e->holds, r, "hold_id"), placed, purged_at, emitted);
        else /* a batch recorded again by a replay is dated by its purge, not its emission */
            printf("\nnote: hold %s (placed %s) was in effect, as this catalog holds it, when the "
                   "item was purged at %s; the catalog does not date its batch before the hold "
                   "(a batch recorded again by 'lethe replay' is dated by its purge)\n",
                   db_str(e->holds, r, "hold_id"), placed, purged_at);
    }
    const char *pending = db_str(it, 0, "unconsumed_events");
    if (strcmp(pending, "0") != 0)
        printf("\nnote: %s event%s of this tenant %s not consumed by a run yet and %s not"
               " reflected above\n",
               pending, strcmp(pending, "1") == 0 ? "" : "s",
               strcmp(pending, "1") == 0 ? "is" : "are", strcmp(pending, "1") == 0 ? "is" : "are");
    if (db_true(it, 0, "unconsumed_item"))
        printf("%snote: the item itself is not consumed by a run yet\n",
               strcmp(pending, "0") != 0 ? "" : "\n");
}

/* An item not in the catalog whose purge the audit proves (replay remembered it after a
 * restore): its state is purged, and a row sent again is repurged, not purged twice. */
static void explain_lost(const PGresult *r, const char *item, bool json)
{
    if (json) {
        printf("{\"item_id\": \"%s\", \"tenant_id\": \"%s\", \"in_catalog\": false, "
               "\"state\": \"purged\", \"rule\": ", item, db_str(r, 0, "tenant_id"));
        json_text(stdout, r, 0, db_col(r, "rule"));
        fputs(", \"reference\": ", stdout);
        json_text(stdout, r, 0, db_col(r, "reference"));
        printf(", \"triggered_at\": \"%s\", \"deadline_at\": \"%s\", \"purged_at\": \"%s\", "
               "\"batch_id\": ",
               db_str(r, 0, "triggered_at"), db_str(r, 0, "deadline_at"), db_str(r, 0, "purged_at"));
        json_text(stdout, r, 0, db_col(r, "batch_id"));
        printf(", \"proof_hash\": \"%s\"}\n", db_str(r, 0, "proof_hash"));
        return;
    }
    printf("item       %s (tenant %s)\n", item, db_str(r, 0, "tenant_id"));
    printf("state      purged: not in the catalog, which a restore took back to before the item "
           "was written; the audit proves its purge\n");
    printf("rule       %s%s%s (deadline %s)\n", db_str(r, 0, "rule"),
           PQgetisnull(r, 0, db_col(r, "reference")) ? "" : ", reference ",
           text_shown(db_str(r, 0, "reference")), db_str(r, 0, "deadline_at"));
    printf("purged     at %s in batch %s\n", db_str(r, 0, "purged_at"), db_str(r, 0, "batch_id"));
    printf("record     item_purged, hash %s (lethe replay appended it from an export)\n",
           db_str(r, 0, "proof_hash"));
    printf("why        a row its producer sends again is put in a repurge batch by the next run, "
           "never purged twice\n");
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
    struct explain e = {.cfg = &ctx->cfg};
    PGresult *tenants = db_item_tenants(ctx->db, item, tenant[0] ? tenant : NULL);
    if (!tenants)
        return EXIT_RUNTIME;
    int holders = PQntuples(tenants);
    if (holders == 0) {
        /* A row a restore lost, whose purge replay proved (sql/0099): said as what it is. */
        PGresult *lost = db_item_purged_not_in_catalog(ctx->db, item, tenant[0] ? tenant : NULL);
        holders = lost ? PQntuples(lost) : 0;
        if (holders == 1)
            explain_lost(lost, item, json);
        PQclear(lost);
        if (holders == 1) {
            rc = EXIT_DONE;
            goto cleanup;
        }
    }
    if (holders == 0) {
        if (tenant[0])
            log_error("explain: no item %s in tenant %s", item, tenant);
        else
            log_error("explain: no item %s", item);
        log_hint("items are the rows of lethe.items; check the id");
        rc = EXIT_USAGE;
        goto cleanup;
    }
    if (holders > 1) {
        log_error("explain: item %s exists in more than one tenant", item);
        log_hint("pass --tenant T to say which");
        rc = EXIT_USAGE;
        goto cleanup;
    }
    snprintf(tenant, sizeof tenant, "%s", db_str(tenants, 0, "tenant_id"));

    /* One snapshot and one now(), so that every part tells of the same instant. */
    if (!db_explain_begin(ctx->db, tenant, item))
        goto cleanup;
    e.item = db_explain_item(ctx->db, tenant, item);
    if (e.item)
        e.obligations = db_explain_obligations(ctx->db, tenant, item);
    if (e.obligations)
        e.holds = db_explain_holds(ctx->db, tenant, item);
    if (e.holds)
        e.batches = db_explain_batches(ctx->db, tenant, item);
    for (int b = 0; e.batches && b < PQntuples(e.batches); b++) {
        const char *outcome = db_get(e.batches, b, "outcome");
        if (outcome && strcmp(outcome, "purged") == 0) {
            e.purge = db_explain_purge_record(ctx->db, tenant, item, db_str(e.batches, b, "batch_id"),
                                              db_str(e.batches, b, "run_id"),
                                              db_get(e.batches, b, "purged_at"));
            if (!e.purge) {
                PQclear(e.batches);
                e.batches = NULL;
            }
            break;
        }
    }
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
    PQclear(e.purge);
    return rc;
}
