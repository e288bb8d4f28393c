/* The tenant and scope an operator names on the command line (--tenant, and at most one of
 * --workspace, --subject, --item), shared by request and hold place: parsing, and the check
 * that what is named exists. Never prints a subject id. */
#ifndef LETHE_SCOPE_H
#define LETHE_SCOPE_H

#include <getopt.h>

#include "ctx.h"
#include "ids.h"

/* The scope an operator names: the whole tenant, or one workspace, data subject or item. */
enum scope_kind { SCOPE_TENANT, SCOPE_WORKSPACE, SCOPE_SUBJECT, SCOPE_ITEM };

struct scope {
    enum scope_kind kind;
    const char *value; /* the workspace id, subject id or item id; NULL for the tenant */
};

struct scope_args {
    const char *what; /* the command as the user typed it, for messages: "hold place" */
    char tenant[UUID_TEXT_LEN];
    char id[UUID_TEXT_LEN];
    struct scope scope;
};

#define SCOPE_LONG_OPTIONS                                                                         \
    {"tenant", required_argument, 0, 't'}, {"workspace", required_argument, 0, 'w'},              \
        {"subject", required_argument, 0, 's'}, {"item", required_argument, 0, 'i'}

/* Handles option c when it is one of the scope options: 1 handled, 0 not one of them, -1 a
 * usage error (already printed). */
int scope_option(const struct lethe_ctx *ctx, struct scope_args *a, int c, const char *value);
/* After parsing (and a check that --tenant was given): the tenant exists, and a workspace or item named is in
 * it (a subject cannot be checked: a request or hold may come before the subject's data).
 * Returns EXIT_DONE, or the exit code after printing why. */
int scope_check(struct lethe_ctx *ctx, const struct scope_args *a);
/* A subject scope's id in TEXT (a --reference or an operator's name, which the audit records
 * in clear), ASCII case ignored: EXIT_USAGE after saying so (OPTION names it, never the id), else
 * EXIT_DONE. SPEC §5: a subject appears in the audit only as its HMAC. */
int scope_subject_not_in(const struct lethe_ctx *ctx, const struct scope_args *a,
                         const char *option, const char *text);
const char *scope_label(enum scope_kind kind);

#endif
