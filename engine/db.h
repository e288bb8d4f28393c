/* All SQL access goes through here and the other engine/db*.c files: connection set-up, the
 * three checked helpers, transactions and migrations. Statements take values only as $n
 * parameters; SQL text is built from constants only. */
#ifndef LETHE_DB_H
#define LETHE_DB_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "ctx.h"

/* Opens the session: --db, else database.conninfo, else libpq's environment. Sets
 * application_name lethe/<command>/<session id>, search_path, TimeZone=UTC and
 * client_encoding. Prints the error and returns false on failure. */
bool db_connect(struct lethe_ctx *ctx);
void db_disconnect(struct lethe_ctx *ctx);

/* Runs a statement that returns no rows. */
bool db_exec(PGconn *db, const char *sql, int nparams, const char *const *params);
/* Runs a query; returns the result (the caller clears it) or NULL after printing the error. */
PGresult *db_query(PGconn *db, const char *sql, int nparams, const char *const *params);
/* Like db_query but also insists on exactly one row. */
PGresult *db_query_one_row(PGconn *db, const char *sql, int nparams, const char *const *params);

bool db_begin(PGconn *db);
bool db_commit(PGconn *db);
void db_rollback(PGconn *db);

/* The SQLSTATE of the last failed statement ("" when none), for callers that map errors. */
const char *db_last_sqlstate(void);
/* The server's message of the last failed statement. */
const char *db_last_message(void);
/* When set, db_* helpers do not print failures; the caller reports them itself. */
void db_quiet(bool quiet);

/* Applies the embedded migrations under an advisory lock, records each one's SHA-256 and
 * applies the schema's hardening; idempotent. Returns EXIT_DONE, EXIT_USAGE (an applied
 * migration's text changed: nothing is applied) or EXIT_RUNTIME, after printing why. */
int db_migrate(PGconn *db, int *applied);
/* The version the database is at, or -1 when lethe's schema is absent. */
int db_schema_version(PGconn *db);
int db_latest_version(void);

#endif
