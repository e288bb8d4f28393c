/* Scope options shared by request and hold place. */
#include "scope.h"

#include <stdbool.h>
#include <string.h>

#include "cli.h"
#include "dbstatus.h"
#include "exitcode.h"
#include "log.h"
#include "text.h"

/* A letter or digit, or a byte of a character beyond ASCII (a word goes on through it). */
static bool word_byte(char c)
{
    unsigned char u = (unsigned char)c;
    return (u >= '0' && u <= '9') || ((u | 0x20) >= 'a' && (u | 0x20) <= 'z') || u >= 0x80;
}

/* Whether NEEDLE stands in HAY as a word of its own (not inside a longer run of letters and
 * digits: subject 42 is not in TICKET-1042, bob not in bobby), ASCII letters of either case
 * alike. sql/0114's check on events reads it the same way. */
static bool holds_word(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *h = hay; n && *h; h++) {
        size_t i = 0;
        while (i < n && h[i] &&
               (h[i] == needle[i] ||
                ((unsigned char)(h[i] | 0x20) == (unsigned char)(needle[i] | 0x20) &&
                 (h[i] | 0x20) >= 'a' && (h[i] | 0x20) <= 'z')))
            i++;
        if (i == n && (h == hay || !word_byte(h[-1])) && (!h[n] || !word_byte(h[n])))
            return true;
    }
    return false;
}

int scope_subject_not_in(const struct lethe_ctx *ctx, const struct scope_args *a,
                         const char *option, const char *text)
{
    (void)ctx;
    if (a->scope.kind != SCOPE_SUBJECT || !text || !holds_word(text, a->scope.value))
        return EXIT_DONE;
    log_error("%s: %s holds the subject id: the audit and every export would carry it in clear "
              "next to the subject's HMAC, and tie that HMAC to the person in every record",
              a->what, option);
    if (strcmp(option, "--reference") == 0)
        log_hint("name the ticket, not the person (e.g. --reference DSR-1234): a subject is "
                 "recorded by its HMAC only");
    else
        log_hint("the operator is who records it (--operator NAME, else the login's name), "
                 "never the subject: a subject is recorded by its HMAC only");
    return EXIT_USAGE;
}

const char *scope_label(enum scope_kind kind)
{
    switch (kind) {
    case SCOPE_WORKSPACE:
        return "workspace";
    case SCOPE_SUBJECT:
        return "subject";
    case SCOPE_ITEM:
        return "item";
    default:
        return "the whole tenant";
    }
}

int scope_option(const struct lethe_ctx *ctx, struct scope_args *a, int c, const char *value)
{
    enum scope_kind kind;
    const char *option;
    switch (c) {
    case 't':
        return cli_id(ctx, "--tenant", value, a->tenant) ? 1 : -1;
    case 'w':
        kind = SCOPE_WORKSPACE;
        option = "--workspace";
        break;
    case 's':
        kind = SCOPE_SUBJECT;
        option = "--subject";
        break;
    case 'i':
        kind = SCOPE_ITEM;
        option = "--item";
        break;
    default:
        return 0;
    }
    if (a->scope.kind != SCOPE_TENANT) {
        cli_usage(ctx, "%s: give at most one of --workspace, --subject and --item", a->what);
        return -1;
    }
    if (kind == SCOPE_SUBJECT) {
        if (!*value) {
            cli_usage(ctx, "%s: --subject must not be empty", a->what);
            return -1;
        }
        /* Blanks name no one (a shell variable that held a space), in any script (U+00A0, as
         * the catalog's check says: sql/0086): such a hold or request would cover nothing while
         * its operator took the subject for held or deleted. */
        if (text_blank(value)) {
            cli_usage(ctx, "%s: --subject must not be blank", a->what);
            return -1;
        }
        a->scope.value = value;
    } else {
        if (!cli_id(ctx, option, value, a->id))
            return -1;
        a->scope.value = a->id;
    }
    a->scope.kind = kind;
    return 1;
}

int scope_check(struct lethe_ctx *ctx, const struct scope_args *a)
{
    int found = db_tenant_exists(ctx->db, a->tenant);
    if (found < 0)
        return EXIT_RUNTIME;
    if (!found) {
        log_error("%s: no tenant %s", a->what, a->tenant);
        log_hint("tenants are the rows of lethe.tenants; check the id");
        return EXIT_USAGE;
    }
    if (a->scope.kind == SCOPE_WORKSPACE || a->scope.kind == SCOPE_ITEM) {
        found = a->scope.kind == SCOPE_WORKSPACE
                  ? db_workspace_exists(ctx->db, a->tenant, a->scope.value)
                  : db_item_exists(ctx->db, a->tenant, a->scope.value);
        if (found < 0)
            return EXIT_RUNTIME;
        if (!found) {
            log_error("%s: no %s %s in tenant %s", a->what, scope_label(a->scope.kind),
                      a->scope.value, a->tenant);
            log_hint("check the id, and that it belongs to this tenant");
            return EXIT_USAGE;
        }
    }
    return EXIT_DONE;
}
