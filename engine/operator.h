/* Who is at the keyboard: the name recorded as the operator of a hold, a release or a request
 * when --operator is not given. Never the literal "operator": an audit record must name a
 * person or an account. */
#ifndef LETHE_OPERATOR_H
#define LETHE_OPERATOR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* $SUDO_USER (the person behind sudo), else the account of the effective uid
 * (getpwuid(geteuid())), else $USER; NULL when none is known. The string is static. */
const char *operator_default(void);

struct lethe_ctx;
/* The operator a command records: *NAME when given (--operator), else operator_default(). False
 * after a usage error naming ctx->command (the caller exits 2) when no name is known. A
 * $SUDO_USER no --operator could be (a control character, invalid UTF-8, blank) is passed over
 * for the next source with a warning, once: it was passed over for "root" without a word. */
bool operator_resolve(const struct lethe_ctx *ctx, const char **name);

/* The account name of UID (the password database) into OUT; false, OUT empty, when none. */
bool user_name(uid_t uid, char *out, size_t cap);

#endif
