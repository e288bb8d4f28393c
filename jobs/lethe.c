/* main(): global options, the command table, and the set-up each command asks for (config,
 * database). Adding a command means one file in jobs/, one row here and one test file. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cycle.h"
#include "db.h"
#include "exitcode.h"
#include "jobs.h"
#include "log.h"

#ifndef LETHE_VERSION
#define LETHE_VERSION "0.1.0"
#endif

/* NEEDS_AUDIT_KEY: the command computes HMACs with audit.key_file (subject ids at derivation,
 * locators handed to a deleter, subjects of requests and holds in their audit records), so it
 * reads the key and exits 2 when it cannot. The others never
 * open it: the database owner runs migrate without the right to read the lethe user's key.
 * CREATES_SCHEMA: the command makes the schema, so it is not checked for at start. */
enum {
    NEEDS_CONFIG = 1,
    NEEDS_DB = 2 | NEEDS_CONFIG,
    NEEDS_AUDIT_KEY = 4 | NEEDS_CONFIG,
    CREATES_SCHEMA = 8,
};

struct command {
    const char *name;
    int (*fn)(struct lethe_ctx *, int, char **);
    int flags;
    const char *usage;
    const char *summary;
    const char *details;
};

static const struct command commands[] = {
    {"migrate", job_migrate, NEEDS_DB | CREATES_SCHEMA, "migrate",
     "create or upgrade the schema (idempotent)",
     "Applies the migrations embedded in the binary, in order, in one transaction under an\n"
     "advisory lock. Running it again is a no-op.\n"},
    {"run", job_run, NEEDS_DB | NEEDS_AUDIT_KEY,
     "run [--as-of TS] [--dry-run [--items]] [--shard K/N] [--operator NAME] [--metrics-file F]"
     " [--json]",
     "one periodic cycle: derive obligations, batch due items, run executors",
     "  --as-of TS         evaluate at TS instead of now (a future TS needs --dry-run)\n"
     "  --dry-run          take no lock, write nothing, print the plan\n"
     "  --items            with --dry-run: list every item of the plan\n"
     "  --json             the summary (or the plan) as one JSON object on stdout\n"
     "  --shard K/N        work only on tenants whose shard is K of N\n"
     "  --operator NAME    mark the run as an operator's\n"
     "  --metrics-file F   write Prometheus textfile metrics to F atomically\n"},
    {"status", job_status, NEEDS_DB,
     "status [--json] [--check]\n       lethe status --reference REF --tenant T [--json]",
     "due, in flight, overdue, held, failing, next deadlines, last run; or one request",
     "  --json            machine-readable output\n"
     "  --check           exit 4 when an item is overdue (or past a disabled rule's deadline),\n"
     "                    a copy shared while opted out is not purged, an item failed 3 times\n"
     "                    or more, a repurge failed, no run succeeded within the lookahead, a\n"
     "                    deleter program or an executor.locations geo refuses every run, a\n"
     "                    request or hold a restore took is not recorded again, or the audit\n"
     "                    is behind the anchor file (audit.anchor_file) or short of records a\n"
     "                    replay left out\n"
     "  --reference REF   one deletion request instead: the items it covers, purged (on time or\n"
     "                    late), in flight, pending with the nearest deadline, held\n"
     "  --tenant T        the request's tenant (required with --reference)\n"},
    {"explain", job_explain, NEEDS_DB, "explain ITEM_ID [--tenant T] [--json]",
     "obligations, governing rule, holds, state and batch of one item",
     "  --tenant T   the item's tenant (needed when the id exists in two tenants)\n"
     "  --json       machine-readable output\n"},
    {"ack", job_ack, NEEDS_DB | NEEDS_AUDIT_KEY, "ack BATCH_ID [--failed ITEM_ID[:REASON]]... [--tenant T] [--operator NAME]",
     "acknowledge a batch (idempotent); --failed names items that were not deleted",
     "  --failed ITEM_ID[:REASON]   an item the deleter could not delete (repeatable)\n"
     "  --tenant T                  the batch's tenant, when the id is ambiguous\n"
     "  --operator NAME             who acknowledged (recorded in the audit; default $SUDO_USER,\n"
     "                              else the login name)\n"},
    {"rerun", job_rerun, NEEDS_DB | NEEDS_AUDIT_KEY, "rerun BATCH_ID [--tenant T] [--operator NAME]",
     "re-drive an open batch, or re-batch a failed batch's items at once",
     "  --tenant T        a tenant with items in the batch (checked)\n"
     "  --operator NAME   who asked for the rerun (recorded in the audit; default $SUDO_USER,\n"
     "                    else the login name)\n"},
    {"request", job_request, NEEDS_DB | NEEDS_AUDIT_KEY,
     "request --tenant T [--workspace W | --subject S | --item I] --reference REF "
     "[--operator NAME]",
     "record a deletion request",
     "  --tenant T        the tenant (required)\n"
     "  --workspace W     only this workspace\n"
     "  --subject S       only this data subject's items (a GDPR request)\n"
     "  --item I          only this item\n"
     "  --reference REF   the ticket or request id (required); a second request with the\n"
     "                    same tenant and reference records nothing\n"
     "  --operator NAME   who recorded it (audited; default $SUDO_USER, else the login name)\n"},
    {"hold", job_hold, NEEDS_DB | NEEDS_AUDIT_KEY,
     "hold place --tenant T [--workspace W | --subject S | --item I] --reason TEXT "
     "[--reference REF] [--operator NAME]\n"
     "       lethe hold release HOLD_ID [--tenant T] [--operator NAME]\n"
     "       lethe hold list [--tenant T] [--active] [--json]",
     "place, release or list holds",
     "  place               put items (and their copies) beyond purging until released;\n"
     "                      prints the new hold's id\n"
     "    --tenant T        the tenant (required)\n"
     "    --workspace W     only this workspace\n"
     "    --subject S       only this data subject's items\n"
     "    --item I          only this item\n"
     "    --reason TEXT     why the items must be kept (required)\n"
     "    --reference REF   the case or ticket it belongs to\n"
     "    --operator NAME   who placed it (audited; default $SUDO_USER, else the login name)\n"
     "  release HOLD_ID     end a hold; its items become due again if they are. Releasing a\n"
     "                      released hold changes nothing and exits 0\n"
     "    --tenant T        the hold's tenant (checked)\n"
     "    --operator NAME   who released it (audited; default as for place)\n"
     "  list                every hold, oldest first, with who placed and released it\n"
     "    --tenant T        only this tenant's\n"
     "    --active          only holds not released\n"
     "    --json            machine-readable output\n"},
    {"batches", job_batches, NEEDS_DB,
     "batches [--state open|failed|acknowledged] [--tenant T] [--limit N] [--json]",
     "list batches: ids, location, items, attempts, age, the executor's stored stderr",
     "  --state S   only batches in state S: open, failed or acknowledged\n"
     "  --tenant T  only batches holding items of tenant T\n"
     "  --limit N   the newest N (default 100; 0 for all)\n"
     "  --json      machine-readable output\n"},
    {"export", job_export, NEEDS_DB,
     "export [--from TS] [--to TS] [--tenant T] [--format jsonl|csv] [--summary] [-o FILE]\n"
     "       lethe export --summary [--from TS] [--to TS] [--tenant T] [--format jsonl|csv|text|html] [-o FILE]",
     "write audit records for auditors",
     "  --from TS, --to TS   records whose time is in [from, to); default everything\n"
     "  --tenant T           exactly that tenant's chain\n"
     "  --format F           jsonl (default) or csv; with --summary also text, for a person,\n"
     "                       or html, one self-contained page with charts\n"
     "  --summary            only the compliance summary, per rule and overall (jsonl by\n"
     "                       default, like the records)\n"
     "  -o FILE              replace FILE whole (a device, a FIFO or - is written through;\n"
     "                       a symlink or a directory is refused)\n"},
    {"verify", job_verify, 0, "verify FILE [--anchors FILE] [--expect-head TENANT=HASH]...",
     "check an export's hash chains and header offline",
     "  --anchors FILE              every head anchored in the export's window must be in it\n"
     "  --expect-head TENANT=HASH   the chain must hold a record with HASH (detects a cut tail)\n"},
    {"replay", job_replay, NEEDS_DB, "replay EXPORT... [--anchors FILE] [--operator NAME]",
     "heal a restored database from its exports",
     "Verifies each JSON Lines export as 'lethe verify' does, then, under the run lock and in\n"
     "one transaction: appends again, verbatim, the records that continue a chain from the\n"
     "database's head, and puts every item that a replayed item_purged record proves deleted,\n"
     "but whose catalog row is live again, into a repurge batch for the next run (audited\n"
     "item_repurged, naming that record's hash). A chain whose head diverged from the exports\n"
     "is named and left alone. Running it again changes nothing. Needs the role\n"
     "lethe_restorer, which nobody holds day to day: a DBA grants it for the restore and\n"
     "revokes it after.\n"
     "  --anchors FILE    the anchor file: each export is verified against it too, and replay\n"
     "                    exits 0 only once the database holds every head its newest line\n"
     "                    names\n"
     "  --operator NAME   who replayed (recorded in the audit; default $SUDO_USER, else the\n"
     "                    login name)\n"
     "exit: 0 healed (or nothing to do), 1 without lethe_restorer (nothing replayed), 4 an\n"
     "export does not verify, a chain was refused, or the database is still behind the anchor\n"},
    {"reconcile", job_reconcile, NEEDS_DB | NEEDS_AUDIT_KEY,
     "reconcile --location GEO INVENTORY [--orphans FILE] [--format lines|s3-csv|auto]\n"
     "                       [--operator NAME]",
     "find purged objects that still exist in storage and purge them again",
     "Reads a storage inventory of GEO ('-' is stdin) and puts every object whose locator HMAC\n"
     "matches a purged item into a repurge batch for the next run (audited item_repurged,\n"
     "reason reconcile). Needs audit.key_file.\n"
     "  --location GEO    the storage the inventory lists (required)\n"
     "  --orphans FILE    also write the inventory lines that name no catalog item; they are\n"
     "                    never deleted\n"
     "  --format F        lines: one locator per line (fs-delete --inventory); s3-csv: an S3\n"
     "                    Inventory CSV, locator s3://BUCKET/KEY with the key URL-decoded;\n"
     "                    auto (default): s3-csv when the first line starts with a quote\n"
     "  --operator NAME   who reconciled (recorded in the audit; default $SUDO_USER, else the\n"
     "                    login name)\n"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

/* The group role (deploy/roles.sql) whose privileges a command needs, for the hint that
 * follows a permission error. */
static const char *needed_role(const char *command)
{
    /* replay is the operator's work; its verbatim append also needs lethe_restorer, which
     * replay asks for itself before anything else (jobs/replay.c) */
    static const char *const operator_commands[] = {"request", "hold", "replay"};
    if (strcmp(command, "migrate") == 0)
        return NULL;
    if (strcmp(command, "export") == 0)
        return "lethe_auditor";
    for (size_t i = 0; i < sizeof operator_commands / sizeof operator_commands[0]; i++)
        if (strcmp(command, operator_commands[i]) == 0)
            return "lethe_operator";
    return "lethe_engine";
}

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
            "usage: lethe [--config FILE] [--db CONNINFO] [-h HOST] [-p PORT] [-U USER]\n"
            "             [-d DBNAME] [-v|-q] COMMAND [ARGS]\n"
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
            "  -h, --host HOST   the server's host or socket directory, over the conninfo's\n"
            "  -p, --port PORT   the server's port, over the conninfo's\n"
            "  -U, --username U  the database user, over the conninfo's\n"
            "  -d, --dbname DB   the database name (or a whole conninfo), over the conninfo's\n"
            "  -v, --verbose     more detail\n"
            "  -q, --quiet       errors only, no progress\n"
            "  -?, --help        this text\n"
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

static int answer_written(const char *what);

/* Whether A is --help, or a prefix of it that no other option of the command starts with
 * (long options may be abbreviated: --he is --help for status, which has no other --he...). */
static bool asks_for_help(const struct command *c, const char *a)
{
    size_t n = strlen(a);
    if (n < 3 || n > 6 || strncmp(a, "--help", n) != 0)
        return false;
    const char *texts[] = {c->usage, c->details};
    for (size_t t = 0; n < 6 && t < 2; t++)
        for (const char *p = strstr(texts[t], a); p; p = strstr(p + 1, a))
            if (strncmp(p, "--help", 6) != 0 || isalnum((unsigned char)p[6]) || p[6] == '-')
                return false;
    return true;
}

static int help(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        print_overview(stdout);
        return answer_written("help");
    }
    if (argc > 2) {
        log_error("help: unexpected argument '%s'", argv[2]);
        log_hint("'lethe help COMMAND' takes one command");
        return EXIT_USAGE;
    }
    if (!find_command(argv[1])) {
        log_error("help: unknown command '%s'", argv[1]);
        log_hint("see 'lethe help' for the list of commands");
        return EXIT_USAGE;
    }
    cli_print_help(argv[1]);
    return answer_written("help");
}

/* README: an option that takes a value, given twice, is refused, the options before the
 * command too (`lethe --db A --db B run` took B, silently); so is an empty value (`--db=`). */
static bool set_once(const char **slot, const char *value, const char *name)
{
    if (value[strspn(value, " \t\n")] == '\0') { /* --db= fell back to libpq's environment */
        log_error("option '%s' needs a value", name);
        log_hint("see 'lethe --help'");
        return false;
    }
    if (*slot) {
        log_error("option '%s' is given twice; give it once", name);
        log_hint("see 'lethe --help'");
        return false;
    }
    *slot = value;
    return true;
}

/* psql's -h, -p, -U and -d (also --host, --port, --username, --dbname, as "-hVALUE" or
 * "--host=VALUE" too): 1 when argv[*i] is one of them (*i moves past its value), 0 when not,
 * -1 after printing that its value is missing or empty. */
static int conn_option(int argc, char **argv, int *i, struct lethe_ctx *ctx)
{
    static const struct {
        char s;
        const char *l;
        size_t off;
    } opts[] = {{'h', "--host", offsetof(struct lethe_ctx, db_host)},
                {'p', "--port", offsetof(struct lethe_ctx, db_port)},
                {'U', "--username", offsetof(struct lethe_ctx, db_user)},
                {'d', "--dbname", offsetof(struct lethe_ctx, db_name)}};
    const char *a = argv[*i];
    for (size_t k = 0; k < sizeof opts / sizeof opts[0]; k++) {
        char shortname[3] = {'-', opts[k].s, '\0'};
        const char *value = NULL, *shown;
        size_t ll = strlen(opts[k].l);
        bool attached;
        if (a[0] == '-' && a[1] == opts[k].s) {
            attached = a[2] != '\0';
            value = a + 2;
            shown = shortname;
        } else if (strncmp(a, opts[k].l, ll) == 0 && (a[ll] == '\0' || a[ll] == '=')) {
            attached = a[ll] == '=';
            value = a + ll + attached;
            shown = opts[k].l;
        } else {
            continue;
        }
        if (!attached) {
            if (*i + 1 >= argc) {
                log_error("option '%s' needs a value", shown);
                log_hint("see 'lethe --help'");
                return -1;
            }
            value = argv[++*i];
        }
        if (value[strspn(value, " \t\n")] == '\0') { /* blank: libpq's environment, silently */
            log_error("option '%s' needs a value", shown);
            log_hint("see 'lethe --help'");
            return -1;
        }
        return set_once((const char **)((char *)ctx + opts[k].off), value, opts[k].l) ? 1 : -1;
    }
    return 0;
}

/* What a command printed is its answer: a status, a plan, a summary or a version that could not
 * be written (a full disk, a closed pipe) is a failure, not a silent success. EXIT_DONE, or
 * EXIT_RUNTIME after saying so. */
static int answer_written(const char *what)
{
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout))
        return EXIT_DONE;
    log_error("%s: cannot write to standard output: %s", what, errno ? strerror(errno) : "write error");
    return EXIT_RUNTIME;
}

/* README: "Long options may be abbreviated to any unambiguous prefix", the options before the
 * command included (--conf is --config). Returns the option's full spelling (with its
 * "=VALUE" kept) in BUF, ARG itself when it is not a long option or is spelled out, or NULL
 * after saying that the prefix is ambiguous. */
static const char *global_long_option(const char *arg, char *buf, size_t len)
{
    static const char *const names[] = {"--config", "--db",       "--verbose",  "--quiet",
                                        "--help",   "--version",  "--host",     "--port",
                                        "--username", "--dbname"};
    if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0')
        return arg;
    const char *eq = strchr(arg, '=');
    size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
    const char *found = NULL;
    char which[160] = "";
    int matches = 0;
    for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
        if (strlen(names[k]) == n && strncmp(names[k], arg, n) == 0)
            return arg; /* spelled out: --db is --db, not a prefix of --dbname */
        if (strncmp(names[k], arg, n) == 0) {
            size_t w = strlen(which);
            snprintf(which + w, sizeof which - w, "%s'%s'", matches ? " or " : "", names[k]);
            found = names[k];
            matches++;
        }
    }
    if (matches == 0)
        return arg;
    if (matches > 1) {
        log_error("option '%.*s' is ambiguous: %s", (int)n, arg, which);
        log_hint("see 'lethe --help'");
        return NULL;
    }
    if ((size_t)snprintf(buf, len, "%s%s", found, eq ? eq : "") >= len)
        return arg;
    return buf;
}

int main(int argc, char **argv)
{
    struct lethe_ctx ctx = {0};
    int i = 1, rc;
    /* A reader gone (lethe status --check | head -1, a monitor that closed its end): every
     * command ends with an exit code of SPEC §6's table, not killed by SIGPIPE (141). A write
     * fails instead: an answer not written is exit 1 (answer_written), a verdict (verify's 4,
     * status --check's 4) is kept. Executors get SIGPIPE back (executor.c). */
    signal(SIGPIPE, SIG_IGN);
    for (; i < argc && argv[i][0] == '-'; i++) {
        char full[4096];
        const char *a = global_long_option(argv[i], full, sizeof full);
        if (!a)
            return EXIT_USAGE;
        if (a == full) {
            /* argv keeps the full spelling, so that what reads it later reads one name; a
             * value given with '=' lives on in the copy. */
            argv[i] = strdup(full);
            if (!argv[i]) {
                log_error("out of memory");
                return EXIT_RUNTIME;
            }
            a = argv[i];
        }
        if (strcmp(a, "--config") == 0 || strcmp(a, "--db") == 0) {
            if (i + 1 >= argc) {
                log_error("option '%s' needs a value", a);
                log_hint("see 'lethe --help'");
                return EXIT_USAGE;
            }
            i++;
            if (!set_once(a[2] == 'c' ? &ctx.config_file : &ctx.db_override, argv[i], a))
                return EXIT_USAGE;
        } else if (strncmp(a, "--config=", 9) == 0) {
            if (!set_once(&ctx.config_file, a + 9, "--config"))
                return EXIT_USAGE;
        } else if (strncmp(a, "--db=", 5) == 0) {
            if (!set_once(&ctx.db_override, a + 5, "--db"))
                return EXIT_USAGE;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            ctx.verbosity++;
        } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
            ctx.verbosity = -1;
        } else if ((rc = conn_option(argc, argv, &i, &ctx)) != 0) {
            if (rc < 0)
                return EXIT_USAGE;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-?") == 0) {
            print_overview(stdout);
            return answer_written("--help");
        } else if (strcmp(a, "--version") == 0) {
            if (i + 1 < argc) {
                log_error("--version: unexpected argument '%s'", argv[i + 1]);
                log_hint("'lethe --version' takes nothing after it");
                return EXIT_USAGE;
            }
            printf("lethe %s\n", LETHE_VERSION);
            return answer_written("--version");
        } else {
            log_error("unknown option '%s'", a);
            log_hint("see 'lethe --help'");
            return EXIT_USAGE;
        }
    }
    log_set_verbosity(ctx.verbosity);
    /* The connection's values are text like every other option's (README: "Every option value
     * on the command line must be UTF-8 text"); -h may name a socket directory, a file name. */
    const struct {
        const char *name, *value;
    } texts[] = {{"db", ctx.db_override},
                 {"port", ctx.db_port},
                 {"username", ctx.db_user},
                 {"dbname", ctx.db_name}};
    for (size_t k = 0; k < sizeof texts / sizeof texts[0]; k++)
        if (texts[k].value && !cli_text_ok(NULL, texts[k].name, texts[k].value))
            return EXIT_USAGE;
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
        if (asks_for_help(cmd, argv[j]) || strcmp(argv[j], "-?") == 0) {
            char what[64];
            snprintf(what, sizeof what, "%s --help", cmd->name);
            cli_print_help(cmd->name);
            return answer_written(what);
        }
        if (strcmp(argv[j], "--") == 0)
            break;
    }
    id_generate(ctx.session_id);
    rc = EXIT_DONE;
    /* A run or rerun stopped before it begins exits 1, as SPEC §6 says of an interrupted run,
     * not killed (143): until it installs its own handlers, which stop it at a safe point. So do
     * reconcile and replay until they commit (they then finish, and their anchor line is written
     * without waiting for records committed late). */
    if (strcmp(cmd->name, "run") == 0 || strcmp(cmd->name, "rerun") == 0 ||
        strcmp(cmd->name, "reconcile") == 0 || strcmp(cmd->name, "replay") == 0)
        cycle_trap_signals_early(cmd->name);
    /* migrate with --db reads nothing else from a config: not even the default file, which the
     * package installs readable by the lethe group alone, while the README's install migrates
     * as the postgres user ('sudo -u postgres lethe --db dbname=lethe migrate'). */
    bool config_unused = (cmd->flags & CREATES_SCHEMA) && ctx.db_override && !ctx.config_file;
    if (config_unused)
        config_defaults(&ctx.cfg);
    else if ((cmd->flags & NEEDS_CONFIG) && !config_load(&ctx.cfg, ctx.config_file)) {
        /* -d names the database only: the config's conninfo still gives the rest. */
        if ((cmd->flags & CREATES_SCHEMA) && !ctx.config_file)
            log_hint("migrate needs nothing else from the config: 'lethe --db CONNINFO migrate' "
                     "(e.g. --db dbname=lethe) does not read it");
        rc = EXIT_USAGE;
        goto cleanup;
    }
    /* The command's options and arguments are judged before the database is connected: a
     * mistyped option is a usage error (2) even while the database is down. */
    if ((cmd->flags & NEEDS_DB) == NEEDS_DB) {
        ctx.parse_only = true;
        rc = cmd->fn(&ctx, argc - i, argv + i);
        ctx.parse_only = false;
        if (rc != EXIT_DONE)
            goto cleanup;
    }
    /* 'hold list' only reads: it computes no HMAC, so a reader who may not read the key can
     * still list the holds (as status, batches and explain need no key). */
    bool hold_list = strcmp(cmd->name, "hold") == 0 && i + 1 < argc && strcmp(argv[i + 1], "list") == 0;
    if ((cmd->flags & NEEDS_AUDIT_KEY) == NEEDS_AUDIT_KEY && !hold_list &&
        !config_read_audit_key(&ctx.cfg, &ctx.audit_key)) {
        rc = EXIT_USAGE;
        goto cleanup;
    }
    if ((cmd->flags & NEEDS_DB) == NEEDS_DB) {
        if ((rc = db_connect(&ctx)) != EXIT_DONE)
            goto cleanup;
        db_set_needed_role(hold_list ? "lethe_engine" : needed_role(cmd->name),
                           hold_list ? "hold list" : cmd->name);
        int schema = cmd->flags & CREATES_SCHEMA ? 1 : db_check_schema(ctx.db);
        if (schema != 1) {
            rc = schema < 0 ? EXIT_RUNTIME : schema == 2 ? EXIT_LOCKED : EXIT_USAGE;
            goto cleanup;
        }
    }
    rc = cmd->fn(&ctx, argc - i, argv + i);
    if (rc == EXIT_DONE)
        rc = answer_written(cmd->name);
cleanup:
    cycle_metrics_after(rc);
    db_disconnect(&ctx);
    audit_key_free(&ctx.audit_key);
    config_free(&ctx.cfg);
    return rc;
}
