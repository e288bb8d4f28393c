/* lethe batches: the batches the engine emitted, newest first: state, location, items,
 * attempts, age, tenants (with their names) and the executor's stored stderr
 * (lethe.batches.error), which is free text and never audited. Reads only.
 *
 * --json writes {"count": N (all that match), "batches": [BATCH]} where BATCH is
 * {batch_id, state, location, items, attempts, created_at, closed_at, age_seconds, run_id,
 *  rerun_of, shard, tenant_count, tenants: [{tenant_id, name}] (the first 5 by id), error}. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "db.h"
#include "dbstatus.h"
#include "exitcode.h"
#include "jobs.h"
#include "log.h"
#include "report.h"
#include "text.h"

enum { B_ID, B_STATE, B_LOCATION, B_ITEMS, B_ATTEMPTS, B_CREATED, B_CLOSED, B_AGE, B_RUN,
       B_RERUN_OF, B_SHARD, B_ERROR, B_TENANTS, B_N_TENANTS, B_TOTAL };

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

static void print_json(const PGresult *r)
{
    printf("{\"count\": %s, \"batches\": [", PQntuples(r) ? PQgetvalue(r, 0, B_TOTAL) : "0");
    for (int row = 0; row < PQntuples(r); row++) {
        fputs(row ? ",\n  {\"batch_id\": " : "\n  {\"batch_id\": ", stdout);
        json_text(stdout, r, row, B_ID);
        fputs(", \"state\": ", stdout);
        json_text(stdout, r, row, B_STATE);
        fputs(", \"location\": ", stdout);
        json_text(stdout, r, row, B_LOCATION);
        printf(", \"items\": %s, \"attempts\": %s, \"created_at\": ", PQgetvalue(r, row, B_ITEMS),
               PQgetvalue(r, row, B_ATTEMPTS));
        json_text(stdout, r, row, B_CREATED);
        fputs(", \"closed_at\": ", stdout);
        json_text(stdout, r, row, B_CLOSED);
        printf(", \"age_seconds\": %s, \"run_id\": ", PQgetvalue(r, row, B_AGE));
        json_text(stdout, r, row, B_RUN);
        fputs(", \"rerun_of\": ", stdout);
        json_text(stdout, r, row, B_RERUN_OF);
        fputs(", \"shard\": ", stdout);
        json_text(stdout, r, row, B_SHARD);
        printf(", \"tenant_count\": %s, \"tenants\": [", PQgetvalue(r, row, B_N_TENANTS));
        each_tenant(db_value(r, row, B_TENANTS), tenant_json);
        fputs("], \"error\": ", stdout);
        json_text(stdout, r, row, B_ERROR);
        fputs("}", stdout);
    }
    fputs(PQntuples(r) ? "\n]}\n" : "]}\n", stdout);
}

static void print_text(const PGresult *r)
{
    long total = PQntuples(r) ? atol(PQgetvalue(r, 0, B_TOTAL)) : 0;
    if (total > PQntuples(r))
        printf("%ld batches; the newest %d shown (--limit 0 shows all)\n", total, PQntuples(r));
    else
        printf("%ld batch%s\n", total, total == 1 ? "" : "es");
    for (int row = 0; row < PQntuples(r); row++) {
        char age[32];
        report_age(atoll(PQgetvalue(r, row, B_AGE)), age, sizeof age);
        const char *items = PQgetvalue(r, row, B_ITEMS), *attempts = PQgetvalue(r, row, B_ATTEMPTS);
        printf("\nbatch %s  %s  %s, %s item%s, %s attempt%s, age %s\n", PQgetvalue(r, row, B_ID),
               PQgetvalue(r, row, B_STATE), PQgetvalue(r, row, B_LOCATION), items,
               strcmp(items, "1") == 0 ? "" : "s", attempts, strcmp(attempts, "1") == 0 ? "" : "s",
               age);
        printf("  created:  %s by run %s%s%s\n", PQgetvalue(r, row, B_CREATED),
               PQgetvalue(r, row, B_RUN), db_value(r, row, B_SHARD) ? ", shard " : "",
               PQgetvalue(r, row, B_SHARD));
        if (db_value(r, row, B_CLOSED))
            printf("  closed:   %s\n", PQgetvalue(r, row, B_CLOSED));
        if (db_value(r, row, B_RERUN_OF))
            printf("  rerun of: %s\n", PQgetvalue(r, row, B_RERUN_OF));
        long n = atol(PQgetvalue(r, row, B_N_TENANTS));
        printf("  %s  ", n == 1 ? "tenant: " : "tenants:");
        each_tenant(db_value(r, row, B_TENANTS), tenant_text);
        if (n > 5)
            printf(" and %ld more", n - 5);
        putchar('\n');
        const char *err = db_value(r, row, B_ERROR);
        if (err && *err) {
            printf("  stderr:\n");
            for (const char *line = err; line && *line;) {
                const char *eol = strchr(line, '\n');
                int len = eol ? (int)(eol - line) : (int)strlen(line);
                printf("    | %.*s\n", len, line);
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
        print_json(r);
    else
        print_text(r);
    PQclear(r);
    return EXIT_DONE;
}
