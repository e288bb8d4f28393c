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

/* Whether OPTION is one of NAMES (NULL-terminated). */
static bool listed(const char *option, const char *const *names)
{
    for (; option && *names; names++)
        if (strcmp(option, *names) == 0)
            return true;
    return false;
}

/* Options whose values are file names: bytes the file system takes as they are, not text. */
static bool names_a_file(const char *option)
{
    static const char *const files[] = {"metrics-file", "output", "anchors", NULL};
    return listed(option, files);
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

static bool names_an_id(const char *option)
{
    static const char *const ids[] = {"reference", "subject", "operator", NULL};
    return listed(option, ids);
}

static bool value_ok(const struct lethe_ctx *ctx, const char *option, const char *value)
{
    if (!names_a_file(option) && !cli_text_ok(ctx->command, option, value))
        return false;
    /* Spaces alone name nothing: a reference or reason of "   " was recorded as given. (An
     * empty one is each command's to refuse, as a missing one; a blank subject, scope.c's.) */
    if (*value && text_blank(value) &&
        (strcmp(option, "reference") == 0 || strcmp(option, "reason") == 0)) {
        log_error("%s: --%s is blank", ctx->command, option);
        log_hint("--%s takes %s", option,
                 strcmp(option, "reason") == 0 ? "the reason in words, e.g. --reason "
                                                 "'litigation hold, case 42'"
                                               : "a ticket or request id, e.g. --reference "
                                                 "TICKET-1234");
        return false;
    }
    if (names_an_id(option) && strlen(value) > CLI_ID_MAX_BYTES) {
        /* The value itself is not echoed: it may be a subject id. */
        log_error("%s: --%s is %zu bytes long; at most %d are allowed", ctx->command, option,
                  strlen(value), CLI_ID_MAX_BYTES);
        log_hint("%s",
                 strcmp(option, "operator") == 0
                     ? "--operator names the person or account acting, e.g. --operator user_a; "
                       "give a name, not a text"
                 : strcmp(option, "subject") == 0
                     ? "--subject names a subject by its id in the catalog; give that id, not "
                       "a text"
                     : "--reference names a ticket or a request, e.g. --reference TICKET-1234; "
                       "give its id, not a text");
        return false;
    }
    /* Blank in any script (U+00A0, U+200B: invisible in every listing and in the audit) is no
     * name; nor is one with a line break or a control character in it, which forged a line of
     * a plain-text listing. */
    if (strcmp(option, "operator") == 0 && text_blank(value)) {
        cli_usage(ctx, "%s: --operator needs a name", ctx->command);
        return false;
    }
    if (strcmp(option, "operator") == 0 && text_has_control(value)) {
        cli_usage(ctx, "%s: --operator is a name, with no line break or control character in it",
                  ctx->command);
        return false;
    }
    return true;
}

/* Whether the option LONGOPTS[IDX], which takes a value, was given before in this parse. Only
 * --failed (one item each) and --expect-head (one head each) are given as often as needed;
 * any other given twice was taken as its last value, silently (`request --reference X1
 * --reference X2` recorded X2). */
static unsigned long long given; /* the options with a value seen in this parse, by index */

static bool given_twice(const struct option *longopts, int idx)
{
    const char *name = longopts[idx].name;
    if (idx >= 64 || strcmp(name, "failed") == 0 || strcmp(name, "expect-head") == 0)
        return false;
    bool twice = given & (1ULL << idx);
    given |= 1ULL << idx;
    return twice;
}

/* Whether ARG (as given, "--db=X" or "-hX" too) is an option of lethe itself, which a command
 * does not take: given after the command, it is worth saying where it goes. */
static bool global_option(const char *arg)
{
    static const char *const longs[] = {"--config", "--db", "--host", "--port", "--username",
                                        "--dbname", "--verbose", "--quiet", NULL};
    if (strncmp(arg, "--", 2) == 0) {
        size_t n = strcspn(arg, "=");
        for (const char *const *l = longs; *l; l++)
            if (strlen(*l) == n && strncmp(arg, *l, n) == 0)
                return true;
        return false;
    }
    return arg[0] == '-' && arg[1] && strchr("hpUdvq", arg[1]);
}

int cli_getopt(const struct lethe_ctx *ctx, int argc, char **argv, const char *shortopts,
               const struct option *longopts)
{
    char spec[64];
    if (optind <= 1) /* a parse begins (each job sets optind = 1 first) */
        given = 0;
    snprintf(spec, sizeof spec, ":%s", shortopts);
    opterr = 0;
    int idx = -1;
    int c = getopt_long(argc, argv, spec, longopts, &idx);
    if (c == '?') {
        const char *arg = optind > 0 ? argv[optind - 1] : "";
        const char *eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
        if (optopt && eq) /* a known long option given a value it does not take: --json=1 */
            cli_usage(ctx, "%s: option '%.*s' takes no value", ctx->command, (int)(eq - arg), arg);
        else if (global_option(arg)) {
            /* lethe status --config FILE: the options of lethe itself come first */
            log_error("%s: unknown option '%s'", ctx->command, arg);
            int n = eq ? (int)(eq - arg) : (int)strlen(arg);
            log_hint("'%.*s' is an option of lethe itself: it goes before the command ('lethe "
                     "%.*s ... %s ...'); see 'lethe --help'",
                     n, arg, n, arg, ctx->command);
        } else if (optopt)
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
        else if (idx >= 0 && given_twice(longopts, idx)) {
            cli_usage(ctx, "%s: --%s is given twice; give it once", ctx->command,
                      longopts[idx].name);
            c = '?';
        }
    }
    return c;
}

bool cli_id(const struct lethe_ctx *ctx, const char *option, const char *value,
            char out[UUID_TEXT_LEN])
{
    if (id_parse(value, out))
        return true;
    /* Shown as text_shown shows it: escaped, and cut at 511 bytes (a 10 KB argument was
     * echoed whole, control characters and all). */
    log_error("%s: %s: malformed id \"%s\"", ctx->command, option, text_shown(value));
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
    const char *problem = time_parse_problem(value);
    if (problem)
        log_error("%s: %s: time \"%s\" %s", ctx->command, option, text_shown(value), problem);
    else
        log_error("%s: %s: malformed time \"%s\"", ctx->command, option, text_shown(value));
    log_hint("times are ISO 8601, UTC unless an offset is given, e.g. 2026-11-28T03:00:00Z");
    return false;
}
