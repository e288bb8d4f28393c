/* lethe migrate: create or upgrade the schema from the migrations embedded in the binary.
 * Idempotent. Two migrates exclude each other (an advisory lock of their own); one with
 * something to apply also takes the run lock, so it never changes the schema under a run. */
#include <stdio.h>

#include "cli.h"
#include "cycle.h"
#include "db.h"
#include "exitcode.h"
#include "jobs.h"
#include "log.h"

int job_migrate(struct lethe_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{0, 0, 0, 0}};
    optind = 1;
    int c;
    while ((c = cli_getopt(ctx, argc, argv, "", opts)) != -1)
        return EXIT_USAGE;
    if (optind < argc)
        return cli_usage(ctx, "migrate: unexpected argument '%s'", argv[optind]);
    if (ctx->parse_only)
        return EXIT_DONE;
    int applied, given;
    int rc = db_migrate(ctx->db, &applied, &given);
    if (rc == EXIT_LOCKED) {
        cycle_name_lock_holder(ctx, "migrate: ", 0, 0);
        if (given)
            log_hint("giving the schema's owner the %d object%s a superuser owns there would lock "
                     "%s under it: wait for it to finish (or stop the lethe timers for the "
                     "upgrade), then migrate again; nothing was given or applied",
                     given, given == 1 ? "" : "s", given == 1 ? "it" : "them");
        else
            log_hint("a migration would change the schema under it: wait for it to finish (or stop "
                     "the lethe timers for the upgrade), then migrate again; nothing was applied");
    }
    if (rc != EXIT_DONE)
        return rc;
    if (applied)
        printf("migrate: applied %d migration%s, schema at version %d\n", applied,
               applied == 1 ? "" : "s", db_latest_version());
    else if (given)
        printf("migrate: schema already at version %d, no migration to apply\n",
               db_latest_version());
    else
        printf("migrate: schema already at version %d, nothing to do\n", db_latest_version());
    if (db_citus_guard_shards(ctx->db) < 0) {
        log_error("migrate: the schema is migrated, but its refusals could not be made on every Citus shard");
        log_hint("run 'lethe migrate' again: it makes them where they are missing (lethe.citus_gaps "
                 "lists what is not made meanwhile)");
        return EXIT_RUNTIME;
    }
    int gaps = db_citus_gaps(ctx->db);
    if (gaps > 0) {
        log_warn("migrate: on this Citus layout the database does not make %d of its checks "
                 "(a unique index Citus refuses, or a check a shard cannot make)", gaps);
        log_hint("they are listed in lethe.citus_gaps; see README, 'Outgrowing one server'");
    }
    long across = db_open_batches_across_shards(ctx->db);
    if (across > 0) {
        log_warn("migrate: %ld open %s emitted by shard runs now %s tenants of several shards "
                 "(a tenant's shard is its Citus shard since schema version 27): no shard run "
                 "re-drives %s",
                 across, across == 1 ? "batch" : "batches", across == 1 ? "holds" : "hold",
                 across == 1 ? "it" : "them");
        log_hint("run 'lethe run' once without --shard, which re-drives every open batch (it exits 3 "
                 "while a shard run holds the lock: run it again); 'lethe status' lists them");
    }
    return EXIT_DONE;
}
