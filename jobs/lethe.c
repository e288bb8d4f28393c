/* main(): global options, the command table, and the set-up each command asks for (config,
 * database). Adding a command means one file in jobs/, one row here and one test file. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "db.h"
#include "exitcode.h"
#include "jobs.h"
#include "log.h"

#ifndef LETHE_VERSION
#define LETHE_VERSION "0.1.0"
#endif

enum { NEEDS_CONFIG = 1, NEEDS_DB = 2 | NEEDS_CONFIG };

struct command {
    const char *name;
    int (*fn)(struct lethe_ctx *, int, char **);
    int flags;
    const char *usage;
    const char *summary;
    const char *details;
};

static const struct command commands[] = {
    {"migrate", job_migrate, NEEDS_DB, "migrate", "create or upgrade the schema (idempotent)",
     "Applies the migrations embedded in the binary, in order, in one transaction under an\n"
     "advisory lock. Running it again is a no-op.\n"},
    {"run", job_run, NEEDS_DB,
     "run [--as-of TS] [--dry-run] [--shard K/N] [--operator NAME] [--metrics-file F]",
     "one periodic cycle: derive obligations, batch due items, run executors",
     "  --as-of TS         evaluate at TS instead of now (a future TS needs --dry-run)\n"
     "  --dry-run          take no lock, write nothing, print the plan\n"
     "  --shard K/N        work only on tenants whose shard is K of N\n"
     "  --operator NAME    mark the run as an operator's\n"
     "  --metrics-file F   write Prometheus textfile metrics to F atomically\n"},
    {"status", job_status, NEEDS_DB, "status [--json] [--check]",
     "due, in flight, overdue, held, failing, next deadlines, last run",
     "  --json    machine-readable output\n"
     "  --check   exit 4 when an item is overdue, an item failed 3 times or more, or no run\n"
     "            succeeded within the lookahead\n"},
    {"explain", job_explain, NEEDS_DB, "explain ITEM_ID [--tenant T] [--json]",
     "obligations, governing rule, holds, state and batch of one item",
     "  --tenant T   the item's tenant (needed when the id exists in two tenants)\n"
     "  --json       machine-readable output\n"},
    {"ack", job_ack, NEEDS_DB, "ack BATCH_ID [--failed ITEM_ID[:REASON]]... [--tenant T] [--operator NAME]",
     "acknowledge a batch (idempotent); --failed names items that were not deleted",
     "  --failed ITEM_ID[:REASON]   an item the deleter could not delete (repeatable)\n"
     "  --tenant T                  the batch's tenant, when the id is ambiguous\n"
     "  --operator NAME             who acknowledged\n"},
    {"rerun", job_rerun, NEEDS_DB, "rerun BATCH_ID [--tenant T] [--operator NAME]",
     "re-drive an open batch, or re-batch a failed batch's items at once",
     "  --tenant T        a tenant with items in the batch (checked)\n"
     "  --operator NAME   who asked for the rerun (recorded in the audit; default $SUDO_USER\n"
     "                    or $USER)\n"},
    {"request", job_request, NEEDS_DB,
     "request --tenant T [--workspace W | --subject S | --item I] --reference REF "
     "[--operator NAME]",
     "record a deletion request",
     "  --tenant T        the tenant (required)\n"
     "  --workspace W     only this workspace\n"
     "  --subject S       only this data subject's items (a GDPR request)\n"
     "  --item I          only this item\n"
     "  --reference REF   the ticket or request id (required)\n"
     "  --operator NAME   who recorded it\n"},
    {"hold", job_hold, NEEDS_DB,
     "hold place --tenant T [--workspace W | --subject S | --item I] --reason TEXT "
     "[--reference REF]\n       lethe hold release HOLD_ID [--tenant T]",
     "place or release a hold",
     "  place     put items (and their copies) beyond purging until released\n"
     "  release   end a hold; its items become due again if they are\n"},
    {"export", job_export, NEEDS_DB,
     "export [--from TS] [--to TS] [--tenant T] [--format jsonl|csv|html] [--summary] "
     "[-o FILE]",
     "write audit records for auditors",
     "  --from TS, --to TS   records whose time is in [from, to); default everything\n"
     "  --tenant T           exactly that tenant's chain\n"
     "  --format F           jsonl (default) or csv; with --summary also html, one\n"
     "                       self-contained page with charts\n"
     "  --summary            only the compliance summary, per rule and overall\n"
     "  -o FILE              write to FILE atomically instead of stdout\n"},
    {"verify", job_verify, 0, "verify FILE [--expect-head TENANT=HASH]...",
     "check an export's hash chains offline",
     "  --expect-head TENANT=HASH   the chain must end at HASH (detects a cut tail)\n"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void print_overview(FILE *out)
{
    fprintf(out,
            "usage: lethe [--config FILE] [--db CONNINFO] [-v|-q] COMMAND [ARGS]\n"
            "\n"
            "lethe computes when each catalog item must be purged, emits purge batches to the\n"
            "deleters that own the storage, and keeps a hash-chained audit trail.\n"
            "\n"
            "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "  %-9s %s\n", "help", "help [COMMAND]: this text, or one command's");
    fprintf(out,
            "\n"
            "options:\n"
            "  --config FILE     config file (default /etc/lethe/lethe.conf when it exists)\n"
            "  --db CONNINFO     libpq connection string (default database.conninfo, then PG*)\n"
            "  -v, --verbose     more detail\n"
            "  -q, --quiet       errors only, no progress\n"
            "  --help            this text\n"
            "  --version         the version\n"
            "\n"
            "exit codes: 0 done, 1 runtime failure, 2 usage or configuration error,\n"
            "            3 run lock held, 4 a check failed\n");
}

void cli_print_help(const char *name)
{
    const struct command *c = find_command(name);
    if (!c)
        return;
    printf("usage: lethe %s\n\n%s\n\n%s", c->usage, c->summary, c->details);
}

static int help(int argc, char **argv)
{
    if (argc < 2) {
        print_overview(stdout);
        return EXIT_DONE;
    }
    if (!find_command(argv[1])) {
        log_error("help: unknown command '%s'", argv[1]);
        log_hint("see 'lethe help' for the list of commands");
        return EXIT_USAGE;
    }
    cli_print_help(argv[1]);
    return EXIT_DONE;
}

int main(int argc, char **argv)
{
    struct lethe_ctx ctx = {0};
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--config") == 0 || strcmp(a, "--db") == 0) {
            if (i + 1 >= argc) {
                log_error("option '%s' needs a value", a);
                log_hint("see 'lethe --help'");
                return EXIT_USAGE;
            }
            if (a[2] == 'c')
                ctx.config_file = argv[++i];
            else
                ctx.db_override = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            ctx.config_file = a + 9;
        } else if (strncmp(a, "--db=", 5) == 0) {
            ctx.db_override = a + 5;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            ctx.verbosity++;
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            ctx.verbosity = -1;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            print_overview(stdout);
            return EXIT_DONE;
        } else if (strcmp(a, "--version") == 0) {
            printf("lethe %s\n", LETHE_VERSION);
            return EXIT_DONE;
        } else {
            log_error("unknown option '%s'", a);
            log_hint("see 'lethe --help'");
            return EXIT_USAGE;
        }
    }
    log_set_verbosity(ctx.verbosity);
    if (i >= argc) {
        log_error("no command given");
        print_overview(stderr);
        return EXIT_USAGE;
    }
    ctx.command = argv[i];
    if (strcmp(ctx.command, "help") == 0)
        return help(argc - i, argv + i);
    const struct command *cmd = find_command(ctx.command);
    if (!cmd) {
        log_error("unknown command '%s'", ctx.command);
        log_hint("see 'lethe help' for the list of commands");
        return EXIT_USAGE;
    }
    for (int j = i + 1; j < argc; j++) {
        if (strcmp(argv[j], "--help") == 0) {
            cli_print_help(cmd->name);
            return EXIT_DONE;
        }
        if (strcmp(argv[j], "--") == 0)
            break;
    }
    id_generate(ctx.session_id);
    int rc = EXIT_DONE;
    if ((cmd->flags & NEEDS_CONFIG) && !config_load(&ctx.cfg, ctx.config_file)) {
        rc = EXIT_USAGE;
        goto cleanup;
    }
    if ((cmd->flags & NEEDS_DB) == NEEDS_DB && !db_connect(&ctx)) {
        rc = EXIT_RUNTIME;
        goto cleanup;
    }
    rc = cmd->fn(&ctx, argc - i, argv + i);
cleanup:
    db_disconnect(&ctx);
    config_free(&ctx.cfg);
    return rc;
}
