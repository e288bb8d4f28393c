/* Small helpers the jobs share for their own options: usage errors that end in a hint, and
 * parsing of ids and times given on the command line. */
#ifndef LETHE_CLI_H
#define LETHE_CLI_H

#include <getopt.h>
#include <stdbool.h>

#include "ctx.h"
#include "ids.h"
#include "timefmt.h"

/* Options that name a request, a ticket, an account or a person: at most CLI_ID_MAX_BYTES, as
 * the database holds them (sql/0041_id_lengths.sql); $SUDO_USER too, as the default operator. */
#define CLI_ID_MAX_BYTES 1024

/* Prints "error: <msg>" and "hint: see 'lethe help <command>'"; returns EXIT_USAGE. */
int cli_usage(const struct lethe_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* getopt_long with the project's messages for unknown options and missing arguments, and the
 * checks every option value gets, whatever the command: text must be valid UTF-8 (file names
 * excepted) and --operator must name someone (not empty, not only spaces). Returns the
 * option, -1 at the end, or '?' after printing the error (the caller exits 2). */
int cli_getopt(const struct lethe_ctx *ctx, int argc, char **argv, const char *shortopts,
               const struct option *longopts);
/* The offset of the first byte of S that is not well-formed UTF-8 (RFC 3629: no overlong
 * forms, no surrogates, nothing beyond U+10FFFF), or -1 when all of it is. */
long cli_utf8_invalid_at(const char *s);

/* VALUE of option --OPTION is UTF-8 text; if not, prints the error (with COMMAND, or as a
 * global option when COMMAND is NULL) and its hint, and returns false. */
bool cli_text_ok(const char *command, const char *option, const char *value);
/* Parse "--tenant", "--item", ... values; print the error and return false when malformed. */
bool cli_id(const struct lethe_ctx *ctx, const char *option, const char *value,
            char out[UUID_TEXT_LEN]);
bool cli_time(const struct lethe_ctx *ctx, const char *option, const char *value,
              char out[TIME_TEXT_LEN]);
/* Help for one command (the command table lives in jobs/lethe.c). */
void cli_print_help(const char *command);

#endif
