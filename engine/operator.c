/* The default operator name. Reads the environment and the password database; prints
 * nothing but operator_resolve's words. */
#define _POSIX_C_SOURCE 200809L
#include "operator.h"
#include "cli.h"
#include "log.h"
#include "text.h"

#include <stdbool.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A name that could be recorded: UTF-8, not blank in any script, no control character, at most
 * CLI_ID_MAX_BYTES (as --operator must be: a longer $SUDO_USER was recorded whole). Anything else is not a name at all: a blank one would be recorded as a
 * blank operator, a bad byte would fail deep inside the audited transaction. */
static bool names_someone(const char *u)
{
    return u && strlen(u) <= CLI_ID_MAX_BYTES && cli_utf8_invalid_at(u) < 0 && !text_blank(u) &&
           !text_has_control(u);
}

const char *operator_default(void)
{
    /* As long as it is: a fixed buffer cut a long $SUDO_USER, into another name or in the
     * middle of a character, which failed inside the audited transaction (an outside tryout). */
    static char *name;
    const char *u = getenv("SUDO_USER");
    if (!names_someone(u)) {
        static char account[256];
        u = user_name(geteuid(), account, sizeof account) && names_someone(account)
                ? account : getenv("USER");
    }
    if (!names_someone(u))
        return NULL;
    free(name);
    return name = strdup(u);
}

bool operator_resolve(const struct lethe_ctx *ctx, const char **name)
{
    if (*name)
        return true;
    if (!(*name = operator_default())) {
        cli_usage(ctx, "%s: no login name to record as the operator; pass --operator NAME",
                  ctx->command);
        return false;
    }
    /* Said once (a command's options are judged twice: before the database and after). */
    static bool said;
    const char *sudo = getenv("SUDO_USER");
    if (sudo && *sudo && !names_someone(sudo) && !said) {
        said = true;
        log_warn("%s: $SUDO_USER is not a name that can be recorded (a control character, "
                 "invalid UTF-8, only blanks, or over %d bytes): the operator recorded is %s; pass "
                 "--operator NAME to name the person", ctx->command, CLI_ID_MAX_BYTES, *name);
    }
    return true;
}

bool user_name(uid_t uid, char *out, size_t cap)
{
    const struct passwd *pw = getpwuid(uid);
    snprintf(out, cap, "%s", pw && pw->pw_name ? pw->pw_name : "");
    return out[0] != '\0';
}
