/* Option-parsing helpers shared by the jobs. They print; they never exit. */
#include "cli.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "exitcode.h"
#include "log.h"

int cli_usage(const struct lethe_ctx *ctx, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_error("%s", msg);
    log_hint("see 'lethe help %s'", ctx->command);
    return EXIT_USAGE;
}

int cli_getopt(const struct lethe_ctx *ctx, int argc, char **argv, const char *shortopts,
               const struct option *longopts)
{
    char spec[64];
    snprintf(spec, sizeof spec, ":%s", shortopts);
    opterr = 0;
    int c = getopt_long(argc, argv, spec, longopts, NULL);
    if (c == '?') {
        if (optopt)
            cli_usage(ctx, "%s: unknown option '-%c'", ctx->command, optopt);
        else
            cli_usage(ctx, "%s: unknown option '%s'", ctx->command, argv[optind - 1]);
    } else if (c == ':') {
        cli_usage(ctx, "%s: option '%s' needs a value", ctx->command, argv[optind - 1]);
        c = '?';
    }
    return c;
}

bool cli_id(const struct lethe_ctx *ctx, const char *option, const char *value,
            char out[UUID_TEXT_LEN])
{
    if (id_parse(value, out))
        return true;
    log_error("%s: %s: malformed id \"%s\"", ctx->command, option, value);
    log_hint("ids are UUIDs, e.g. 3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f");
    return false;
}

bool cli_time(const struct lethe_ctx *ctx, const char *option, const char *value,
              char out[TIME_TEXT_LEN])
{
    lethe_time t;
    if (time_parse(value, &t)) {
        time_format(t, out);
        return true;
    }
    log_error("%s: %s: malformed time \"%s\"", ctx->command, option, value);
    log_hint("times are ISO 8601, UTC unless an offset is given, e.g. 2026-11-28T03:00:00Z");
    return false;
}
