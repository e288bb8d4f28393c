/* lethe migrate: create or upgrade the schema from the migrations embedded in the binary.
 * Idempotent; takes no run lock (it has an advisory lock of its own). */
#include <stdio.h>

#include "cli.h"
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
    int applied;
    int rc = db_migrate(ctx->db, &applied);
    if (rc != EXIT_DONE)
        return rc;
    if (applied)
        printf("migrate: applied %d migration%s, schema at version %d\n", applied,
               applied == 1 ? "" : "s", db_latest_version());
    else
        printf("migrate: schema already at version %d, nothing to do\n", db_latest_version());
    int gaps = db_citus_gaps(ctx->db);
    if (gaps > 0) {
        log_warn("migrate: on this Citus layout the database does not make %d of its checks "
                 "(triggers and a unique index Citus refuses)", gaps);
        log_hint("they are listed in lethe.citus_gaps; see README, 'Outgrowing one server'");
    }
    return EXIT_DONE;
}
