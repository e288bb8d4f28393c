/* lethe batches: the batches the engine emitted, newest first: state, location, items,
 * attempts, age, tenants (with their names) and the executor's stored stderr
 * (lethe.batches.error), which is free text and never audited. Reads only.
 *
 * --json writes {"count": N (all that match), "batches": [BATCH]} where BATCH is
 * {batch_id, state, location, items, attempts, created_at, closed_at, age_seconds, run_id,
 *  rerun_of, shard, tenant_count, tenants: [{tenant_id, name}] (the first 5 by id), error,
 *  failed_items, failure_reasons, manifest} (a failed batch's failed items, and the three most
 *  frequent reasons with their counts: "REASON: N; ..."; 0 and null for the others; an open
 *  batch's manifest as the spool holds it, null when it does not, or when the batch is closed). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "db.h"
#include "dbstatus.h"
#include "exitcode.h"
#include "jobs.h"
#include "log.h"
#include "manifest.h"
#include "report.h"
#include "text.h"

#define DEFAULT_LIMIT 100

static int hex_digit(char c) { return c >= 'a' ? c - 'a' + 10 : c - '0'; }

/* The tenants column: "id hex(name)" lines (a name is a producer's text and may hold
 * anything, newlines included). Calls fn for each, with the name decoded. */
static void each_tenant(const char *list, void (*fn)(const char *id, const char *name, int i))
{
    int i = 0;
    while (list && *list) {
        const char *eol = strchr(list, '\n');
        size_t len = eol ? (size_t)(eol - list) : strlen(list);
        const char *sp = memchr(list, ' ', len);
        size_t id_len = sp ? (size_t)(sp - list) : len, hex_len = sp ? len - id_len - 1 : 0;
        char id[64];
        snprintf(id, sizeof id, "%.*s", (int)id_len, list);
        char *name = malloc(hex_len / 2 + 1);
        if (!name)
            return;
        size_t n = 0;
        for (size_t h = 0; h + 1 < hex_len; h += 2)
            name[n++] = (char)(hex_digit(sp[1 + h]) << 4 | hex_digit(sp[2 + h]));
        name[n] = '\0';
        fn(id, name, i++);
        free(name);
        list = eol ? eol + 1 : NULL;
    }
}

static void tenant_json(const char *id, const char *name, int i)
{
    fputs(i ? ", {\"tenant_id\": " : "{\"tenant_id\": ", stdout);
    json_string(stdout, id);
    fputs(", \"name\": ", stdout);
    json_string(stdout, name);
    fputs("}", stdout);
}

static void tenant_text(const char *id, const char *name, int i)
{
    printf("%s%s (%s)", i ? ", " : "", id, text_shown(name));
}

/* An open batch's manifest in SPOOL, into PATH: true when the spool holds it. A run killed
 * between its emission's commit and its manifests leaves the batch open with none, which only
 * its next run (or `lethe rerun`) writes. */
static bool open_manifest(const PGresult *r, int row, const char *spool, char *path, size_t len)
{
    if (!spool || strcmp(db_str(r, row, "state"), "open") != 0 ||
        !manifest_path(spool, db_str(r, row, "location"), db_str(r, row, "batch_id"), path, len)) {
        path[0] = '\0';
        return false;
    }
    /* A manifest is a regular file: a directory in its place (a spool gone bad) is none. */
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static void print_json(const PGresult *r, const char *spool)
{
    printf("{\"count\": %s, \"batches\": [", PQntuples(r) ? db_str(r, 0, "total") : "0");
    for (int row = 0; row < PQntuples(r); row++) {
        fputs(row ? ",\n  {\"batch_id\": " : "\n  {\"batch_id\": ", stdout);
        json_text(stdout, r, row, db_col(r, "batch_id"));
        fputs(", \"state\": ", stdout);
        json_text(stdout, r, row, db_col(r, "state"));
        fputs(", \"location\": ", stdout);
        json_text(stdout, r, row, db_col(r, "location"));
        printf(", \"items\": %s, \"attempts\": %s, \"created_at\": ", db_str(r, row, "items"),
               db_str(r, row, "attempts"));
        json_text(stdout, r, row, db_col(r, "created_at"));
        fputs(", \"closed_at\": ", stdout);
        json_text(stdout, r, row, db_col(r, "closed_at"));
        printf(", \"age_seconds\": %s, \"run_id\": ", db_str(r, row, "age_seconds"));
        json_text(stdout, r, row, db_col(r, "run_id"));
        fputs(", \"rerun_of\": ", stdout);
        json_text(stdout, r, row, db_col(r, "rerun_of"));
        fputs(", \"shard\": ", stdout);
        json_text(stdout, r, row, db_col(r, "shard"));
        printf(", \"tenant_count\": %s, \"tenants\": [", db_str(r, row, "tenant_count"));
        each_tenant(db_get(r, row, "tenants"), tenant_json);
        fputs("], \"error\": ", stdout);
        json_text(stdout, r, row, db_col(r, "error"));
        printf(", \"failed_items\": %s, \"failure_reasons\": ", db_str(r, row, "failed_items"));
        json_text(stdout, r, row, db_col(r, "failure_reasons"));
        char path[4096];
        fputs(", \"manifest\": ", stdout);
        if (open_manifest(r, row, spool, path, sizeof path))
            json_string(stdout, path);
        else
            fputs("null", stdout);
        fputs("}", stdout);
    }
    fputs(PQntuples(r) ? "\n]}\n" : "]}\n", stdout);
}

static void print_text(const PGresult *r, const char *spool)
{
    long total = PQntuples(r) ? atol(db_str(r, 0, "total")) : 0;
    if (total > PQntuples(r))
        printf("%ld batches; the newest %d shown (--limit 0 shows all)\n", total, PQntuples(r));
    else
        printf("%ld batch%s\n", total, total == 1 ? "" : "es");
    for (int row = 0; row < PQntuples(r); row++) {
        char age[32];
        report_age(atoll(db_str(r, row, "age_seconds")), age, sizeof age);
        const char *items = db_str(r, row, "items"), *attempts = db_str(r, row, "attempts");
        printf("\nbatch %s  %s  %s, %s item%s, %s attempt%s, age %s\n", db_str(r, row, "batch_id"),
               db_str(r, row, "state"), db_str(r, row, "location"), items,
               strcmp(items, "1") == 0 ? "" : "s", attempts, strcmp(attempts, "1") == 0 ? "" : "s",
               age);
        printf("  created:  %s by run %s%s%s\n", db_str(r, row, "created_at"),
               db_str(r, row, "run_id"), db_get(r, row, "shard") ? ", shard " : "",
               db_str(r, row, "shard"));
        if (db_get(r, row, "closed_at"))
            printf("  closed:   %s\n", db_str(r, row, "closed_at"));
        if (db_get(r, row, "rerun_of"))
            printf("  rerun of: %s\n", db_str(r, row, "rerun_of"));
        long n = atol(db_str(r, row, "tenant_count"));
        printf("  %s  ", n == 1 ? "tenant: " : "tenants:");
        each_tenant(db_get(r, row, "tenants"), tenant_text);
        if (n > 5)
            printf(" and %ld more", n - 5);
        putchar('\n');
        char path[4096];
        if (open_manifest(r, row, spool, path, sizeof path))
            printf("  manifest: %s\n", path);
        else if (path[0])
            /* A run whose location's deleter timed out writes the manifests of the batches it
             * leaves open too; a replay's or reconcile's batches are the next run's to write
             * (an outside tryout: the reasons given were not true of them). */
            printf("  manifest: none in the spool (%s): not written yet (a replay or reconcile "
                   "made the batch, its run stopped first, or could not write it: see its log), "
                   "or the spool is another machine's; 'lethe rerun %s' writes it and hands it "
                   "to the deleter, as the next run does\n",
                   path, db_str(r, row, "batch_id"));
        if (db_get(r, row, "failure_reasons")) {
            long more = atol(db_str(r, row, "reason_count")) - 3;
            printf("  failed:   %s of %s item%s: %s", db_str(r, row, "failed_items"), items,
                   strcmp(items, "1") == 0 ? "" : "s",
                   text_shown(db_str(r, row, "failure_reasons")));
            if (more > 0)
                printf("; and %ld other reason%s", more, more == 1 ? "" : "s");
            putchar('\n');
        }
        const char *err = db_get(r, row, "error");
        if (err && *err) {
            printf("  stderr:\n");
            for (const char *line = err; line && *line;) {
                const char *eol = strchr(line, '\n');
                size_t len = eol ? (size_t)(eol - line) : strlen(line);
                char shown[8192]; /* a bidirectional control, stored as it came, is escaped */
                printf("    | %s\n", text_shown_n(line, len, shown, sizeof shown));
                line = eol ? eol + 1 : NULL;
            }
        }
    }
}

int job_batches(struct lethe_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{"state", required_argument, 0, 's'},
                                         {"tenant", required_argument, 0, 't'},
                                         {"limit", required_argument, 0, 'l'},
                                         {"json", no_argument, 0, 'j'},
                                         {0, 0, 0, 0}};
    const char *state = NULL;
    char tenant[UUID_TEXT_LEN] = "";
    long limit = DEFAULT_LIMIT;
    bool json = false;
    int c;
    optind = 1;
    while ((c = cli_getopt(ctx, argc, argv, "", opts)) != -1) {
        switch (c) {
        case 's':
            if (strcmp(optarg, "open") != 0 && strcmp(optarg, "failed") != 0 &&
                strcmp(optarg, "acknowledged") != 0)
                return cli_usage(ctx, "batches: --state: unknown state \"%s\" (open, failed or "
                                      "acknowledged)", optarg);
            state = optarg;
            break;
        case 't':
            if (!cli_id(ctx, "--tenant", optarg, tenant))
                return EXIT_USAGE;
            break;
        case 'l': {
            char *end;
            errno = 0;
            limit = strtol(optarg, &end, 10);
            if (end == optarg || *end || limit < 0 || errno == ERANGE || limit > INT_MAX)
                return cli_usage(ctx, "batches: --limit: not a count from 0 to %d \"%s\"", INT_MAX,
                                 optarg);
            break;
        }
        case 'j':
            json = true;
            break;
        default:
            return EXIT_USAGE;
        }
    }
    if (optind < argc)
        return cli_usage(ctx, "batches: unexpected argument '%s'", argv[optind]);
    if (ctx->parse_only)
        return EXIT_DONE;
    if (tenant[0]) {
        int found = db_tenant_exists(ctx->db, tenant);
        if (found < 0)
            return EXIT_RUNTIME;
        if (!found) {
            log_error("batches: no tenant %s", tenant);
            log_hint("tenants are the rows of lethe.tenants; check the id");
            return EXIT_USAGE;
        }
    }
    PGresult *r = db_batches(ctx->db, state, tenant[0] ? tenant : NULL, limit);
    if (!r)
        return EXIT_RUNTIME;
    if (json)
        print_json(r, ctx->cfg.spool_dir);
    else
        print_text(r, ctx->cfg.spool_dir);
    PQclear(r);
    return EXIT_DONE;
}
