/* lethe run: options only; the cycle itself is engine/cycle.c. */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anchor.h"
#include "cli.h"
#include "cycle.h"
#include "exitcode.h"
#include "jobs.h"

/* K/N in plain decimal digits (no sign, no blank: systemd's %I and a typo alike are taken as
 * written), with 0 <= K < N. A number too large for an int is read as INT_MAX, so that any N
 * above LETHE_SHARD_BUCKETS reaches the caller, which refuses it with its own reason. */
static bool parse_shard(const char *s, int *k, int *n)
{
    long v[2] = {0, 0};
    for (int part = 0; part < 2; part++) {
        if (!isdigit((unsigned char)*s))
            return false;
        for (; isdigit((unsigned char)*s); s++)
            v[part] = v[part] > INT_MAX / 10 ? INT_MAX : v[part] * 10 + (*s - '0');
        if (*s != (part == 0 ? '/' : '\0'))
            return false;
        s++;
    }
    if (v[1] < 1 || v[0] >= v[1])
        return false;
    *k = (int)(v[0] > INT_MAX ? INT_MAX : v[0]);
    *n = (int)(v[1] > INT_MAX ? INT_MAX : v[1]);
    return true;
}

int job_run(struct lethe_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"as-of", required_argument, 0, 'a'},    {"dry-run", no_argument, 0, 'n'},
        {"shard", required_argument, 0, 's'},    {"operator", required_argument, 0, 'o'},
        {"metrics-file", required_argument, 0, 'm'}, {"json", no_argument, 0, 'j'},
        {"items", no_argument, 0, 'i'},          {0, 0, 0, 0}};
    struct run_opts o;
    memset(&o, 0, sizeof o);
    optind = 1;
    int c;
    while ((c = cli_getopt(ctx, argc, argv, "", opts)) != -1) {
        switch (c) {
        case 'a':
            if (!cli_time(ctx, "--as-of", optarg, o.as_of))
                return EXIT_USAGE;
            break;
        case 'n':
            o.dry_run = true;
            break;
        case 's':
            if (!parse_shard(optarg, &o.shard_k, &o.shard_n))
                return cli_usage(ctx, "run: --shard: malformed shard \"%s\" (expected K/N with 0 <= K < N <= %d)",
                                 optarg, LETHE_SHARD_BUCKETS);
            /* A tenant's shard is its bucket modulo N (sql/0027_shard_placement.sql): with more
             * shards than buckets, the shards from LETHE_SHARD_BUCKETS on would hold no tenant. */
            if (o.shard_n > LETHE_SHARD_BUCKETS)
                return cli_usage(ctx,
                                 "run: --shard %s: N is at most %d: tenants are hashed into %d buckets "
                                 "(Citus's shards), and shard K/N is the buckets equal to K modulo N",
                                 optarg, LETHE_SHARD_BUCKETS, LETHE_SHARD_BUCKETS);
            break;
        case 'o':
            o.operator_name = optarg; /* cli_getopt refuses a blank one */
            break;
        case 'm':
            /* `-o -` writes to standard output; metrics never do: a run merges its series with
             * the other shards' in the file, and a file named "-" in the working directory was
             * what `--metrics-file -` made. */
            if (strcmp(optarg, "-") == 0)
                return cli_usage(ctx, "run: --metrics-file -: the metrics are written to a file, "
                                      "never to standard output (each run keeps the other shards' "
                                      "series the file holds); name the node exporter's textfile, "
                                      "e.g. --metrics-file /var/lib/prometheus/node-exporter/lethe.prom");
            o.metrics_file = optarg;
            break;
        case 'j':
            o.json = true;
            break;
        case 'i':
            o.items = true;
            break;
        default:
            return EXIT_USAGE;
        }
    }
    if (optind < argc)
        return cli_usage(ctx, "run: unexpected argument '%s'", argv[optind]);
    if (o.items && !o.dry_run)
        return cli_usage(ctx, "run: --items lists a dry run's plan; add --dry-run");
    if (lethe_file_refused("run", o.metrics_file ? "--metrics-file" : "metrics.file",
                           o.metrics_file ? o.metrics_file : ctx->cfg.metrics_file, &ctx->cfg))
        return EXIT_USAGE;
    /* Before anything is done: these are written only once the run's work is committed. The
     * metrics file first: from then on a run that fails, however early, says so in it, a
     * deleter program gone or a spool that is no directory included (they left "1" there, and
     * every hourly run refused to start: an outside tryout's finding). */
    if (ctx->parse_only && !o.dry_run) {
        if (!config_check_metrics_file(&ctx->cfg, o.metrics_file))
            return EXIT_USAGE;
        cycle_metrics_arm(o.metrics_file ? o.metrics_file : ctx->cfg.metrics_file, o.shard_k,
                          o.shard_n);
        if (!config_check_run_files(&ctx->cfg, o.metrics_file, true))
            return EXIT_USAGE;
    }
    if (ctx->parse_only)
        return EXIT_DONE;
    return cycle_run(ctx, &o);
}
