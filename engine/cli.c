/* Option-parsing helpers shared by the jobs. They print; they never exit. Every option value
 * passes through cli_getopt, so the checks that hold for all commands live there once. */
#include "cli.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "exitcode.h"
#include "log.h"
#include "text.h"

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

long cli_utf8_invalid_at(const char *s) { return text_utf8_invalid_at(s, strlen(s)); }

/* Options whose values are file names: bytes the file system takes as they are, not text. */
static bool names_a_file(const char *option)
{
    static const char *const files[] = {"metrics-file", "output", "anchors"};
    for (size_t i = 0; option && i < sizeof files / sizeof files[0]; i++)
        if (strcmp(option, files[i]) == 0)
            return true;
    return false;
}

static bool blank(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    return *s == '\0';
}

/* What holds for every option value, whatever the command: text is UTF-8 (the database,
 * the audit and the exports are; a bad byte would otherwise fail deep inside a transaction),
 * and an operator has a name. The value itself is never echoed: it may be a subject id. */
bool cli_text_ok(const char *command, const char *option, const char *value)
{
    long bad = cli_utf8_invalid_at(value);
    if (bad < 0)
        return true;
    if (command)
        log_error("%s: --%s: not valid UTF-8 (byte 0x%02x at offset %ld)", command, option,
                  (unsigned char)value[bad], bad);
    else
        log_error("option '--%s': not valid UTF-8 (byte 0x%02x at offset %ld)", option,
                  (unsigned char)value[bad], bad);
    log_hint("option values are UTF-8 text; check the encoding of the terminal or script "
             "that passed it");
    return false;
}

static bool value_ok(const struct lethe_ctx *ctx, const char *option, const char *value)
{
    if (!names_a_file(option) && !cli_text_ok(ctx->command, option, value))
        return false;
    if (strcmp(option, "operator") == 0 && blank(value)) {
        cli_usage(ctx, "%s: --operator needs a name", ctx->command);
        return false;
    }
    return true;
}

int cli_getopt(const struct lethe_ctx *ctx, int argc, char **argv, const char *shortopts,
               const struct option *longopts)
{
    char spec[64];
    snprintf(spec, sizeof spec, ":%s", shortopts);
    opterr = 0;
    int idx = -1;
    int c = getopt_long(argc, argv, spec, longopts, &idx);
    if (c == '?') {
        const char *arg = optind > 0 ? argv[optind - 1] : "";
        const char *eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
        if (optopt && eq) /* a known long option given a value it does not take: --json=1 */
            cli_usage(ctx, "%s: option '%.*s' takes no value", ctx->command, (int)(eq - arg), arg);
        else if (optopt)
            cli_usage(ctx, "%s: unknown option '-%c'", ctx->command, optopt);
        else
            cli_usage(ctx, "%s: unknown option '%s'", ctx->command, argv[optind - 1]);
    } else if (c == ':') {
        cli_usage(ctx, "%s: option '%s' needs a value", ctx->command, argv[optind - 1]);
        c = '?';
    } else if (c != -1 && optarg) {
        /* A short option is known by its long twin's name (-o is --output). */
        for (int i = 0; idx < 0 && longopts[i].name; i++)
            if (longopts[i].flag == NULL && longopts[i].val == c)
                idx = i;
        if (idx >= 0 && !value_ok(ctx, longopts[idx].name, optarg))
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
