/* Connection set-up, checked query helpers and migrations. Nothing here knows the rules;
 * queries that serve a capability live in the engine module for that capability. */
#define _POSIX_C_SOURCE 200809L
#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct migration {
    int version;
    const char *name;
    const char *sql;
};
/* Generated from sql/NNNN_*.sql by the Makefile (build/migrations.c). */
extern const struct migration lethe_migrations[];
extern const int lethe_migration_count;

static char last_sqlstate[6];
static char last_message[1024];
static bool quiet;

void db_quiet(bool q) { quiet = q; }
const char *db_last_sqlstate(void) { return last_sqlstate; }
const char *db_last_message(void) { return last_message; }

static void note_failure(PGconn *db, const PGresult *res, const char *sql)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(last_sqlstate, sizeof last_sqlstate, "%s", state ? state : "");
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    snprintf(last_message, sizeof last_message, "%s", primary ? primary : PQerrorMessage(db));
    size_t n = strlen(last_message);
    while (n && (last_message[n - 1] == '\n' || last_message[n - 1] == ' '))
        last_message[--n] = '\0';
    if (!quiet) {
        log_error("query failed: %s", last_message);
        const char *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
        if (hint)
            log_hint("%s", hint);
        log_debug("query was: %s", sql);
    }
}

static PGresult *run(PGconn *db, const char *sql, int nparams, const char *const *params,
                     ExecStatusType want)
{
    /* A failure's message belongs to that statement only: a caller that reports it later
     * never picks up an older one. */
    last_sqlstate[0] = '\0';
    last_message[0] = '\0';
    PGresult *res = nparams || params ? PQexecParams(db, sql, nparams, NULL, params, NULL, NULL, 0)
                                      : PQexec(db, sql);
    if (!res || PQresultStatus(res) != want) {
        note_failure(db, res, sql);
        PQclear(res);
        return NULL;
    }
    return res;
}

bool db_exec(PGconn *db, const char *sql, int nparams, const char *const *params)
{
    PGresult *res = run(db, sql, nparams, params, PGRES_COMMAND_OK);
    if (!res) {
        return false;
    }
    PQclear(res);
    return true;
}

PGresult *db_query(PGconn *db, const char *sql, int nparams, const char *const *params)
{
    return run(db, sql, nparams, params, PGRES_TUPLES_OK);
}

PGresult *db_query_one_row(PGconn *db, const char *sql, int nparams, const char *const *params)
{
    PGresult *res = run(db, sql, nparams, params, PGRES_TUPLES_OK);
    if (res && PQntuples(res) != 1) {
        snprintf(last_message, sizeof last_message, "expected one row, got %d", PQntuples(res));
        if (!quiet)
            log_error("query failed: %s", last_message);
        PQclear(res);
        return NULL;
    }
    return res;
}

/* Set while the transaction has an audit stage open: such a transaction ends only through
 * dbaudit_commit() (flush, then commit) or a rollback, so that no staged record is dropped
 * by a plain COMMIT that forgot to flush. */
static bool audit_staged;

void db_audit_staged(bool staged) { audit_staged = staged; }

int db_col(const PGresult *r, const char *name)
{
    int c = PQfnumber(r, name);
    if (c < 0) {
        /* A statement and its reader disagree: a programming error, never a data error. */
        log_error("internal error: no column \"%s\" in a result", name);
        abort();
    }
    return c;
}

const char *db_get(const PGresult *r, int row, const char *name)
{
    int c = db_col(r, name);
    return PQgetisnull(r, row, c) ? NULL : PQgetvalue(r, row, c);
}

long db_get_long(const PGresult *r, int row, const char *name)
{
    const char *v = db_get(r, row, name);
    return v ? atol(v) : 0;
}

bool db_begin(PGconn *db) { return db_exec(db, "BEGIN", 0, NULL); }

bool db_commit(PGconn *db)
{
    if (audit_staged) {
        log_error("internal error: a transaction that staged audit records was committed without "
                  "flushing them; rolled back");
        db_rollback(db);
        return false;
    }
    return db_exec(db, "COMMIT", 0, NULL);
}

void db_rollback(PGconn *db)
{
    audit_staged = false;
    PGresult *res = PQexec(db, "ROLLBACK");
    PQclear(res);
}

/* Server notices (e.g. "already exists, skipping") are detail, not news. */
static void quiet_notice(void *arg, const char *message)
{
    (void)arg;
    size_t n = strlen(message);
    log_debug("server: %.*s", (int)(n && message[n - 1] == '\n' ? n - 1 : n), message);
}

static bool session_setup(struct lethe_ctx *ctx);

bool db_connect(struct lethe_ctx *ctx)
{
    const char *conninfo = ctx->db_override ? ctx->db_override
                         : ctx->cfg.conninfo ? ctx->cfg.conninfo
                                             : "";
    ctx->db = PQconnectdb(conninfo);
    if (PQstatus(ctx->db) != CONNECTION_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", PQerrorMessage(ctx->db));
        size_t n = strlen(msg);
        while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
            msg[--n] = '\0';
        log_error("cannot connect to the database: %s", msg);
        log_hint("pass --db CONNINFO, set database.conninfo in the config, or set PGHOST and "
                 "PGDATABASE");
        PQfinish(ctx->db);
        ctx->db = NULL;
        return false;
    }
    if (!session_setup(ctx)) {
        db_disconnect(ctx);
        return false;
    }
    return true;
}

bool db_reconnect(struct lethe_ctx *ctx)
{
    if (PQstatus(ctx->db) == CONNECTION_OK)
        return true;
    log_warn("the database connection was lost; reconnecting");
    PQreset(ctx->db);
    if (PQstatus(ctx->db) != CONNECTION_OK) {
        log_error("cannot reconnect to the database");
        return false;
    }
    return session_setup(ctx);
}

/* Everything a session needs, set again after a reconnect: a reset session has lost it. */
static bool session_setup(struct lethe_ctx *ctx)
{
    PQsetNoticeProcessor(ctx->db, quiet_notice, NULL);
    char appname[128];
    snprintf(appname, sizeof appname, "lethe/%s/%s", ctx->command, ctx->session_id);
    const char *params[] = {appname};
    PGresult *res = db_query(ctx->db,
                             "SELECT set_config('application_name', $1, false),"
                             " set_config('search_path', 'lethe, pg_catalog', false),"
                             " set_config('TimeZone', 'UTC', false),"
                             " set_config('client_encoding', 'UTF8', false),"
                             " set_config('statement_timeout', '0', false),"
                             " set_config('DateStyle', 'ISO, YMD', false),"
                             " set_config('IntervalStyle', 'postgres', false)",
                             1, params);
    if (!res)
        return false;
    PQclear(res);
    return true;
}

void db_disconnect(struct lethe_ctx *ctx)
{
    if (ctx->db)
        PQfinish(ctx->db);
    ctx->db = NULL;
}

int db_latest_version(void) { return lethe_migrations[lethe_migration_count - 1].version; }

int db_schema_version(PGconn *db)
{
    PGresult *res = db_query_one_row(db,
                                     "SELECT CASE WHEN to_regclass('lethe.schema_migrations') IS NULL"
                                     " THEN -1 ELSE (SELECT coalesce(max(version), 0)"
                                     " FROM lethe.schema_migrations) END",
                                     0, NULL);
    if (!res)
        return -1;
    int v = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return v;
}

/* One transaction for the whole upgrade, under a transaction-scoped advisory lock, so that
 * two migrates never interleave and a failed one leaves the schema as it was. */
bool db_migrate(PGconn *db, int *applied)
{
    *applied = 0;
    if (!db_begin(db))
        return false;
    PGresult *lock = db_query(db, "SELECT pg_advisory_xact_lock(7283310001)", 0, NULL);
    if (!lock)
        goto fail;
    PQclear(lock);
    if (!db_exec(db,
                 "CREATE SCHEMA IF NOT EXISTS lethe;"
                 "CREATE TABLE IF NOT EXISTS lethe.schema_migrations ("
                 " version integer PRIMARY KEY, name text NOT NULL,"
                 " applied_at timestamptz NOT NULL DEFAULT now())",
                 0, NULL))
        goto fail;
    for (int i = 0; i < lethe_migration_count; i++) {
        const struct migration *m = &lethe_migrations[i];
        char vbuf[16];
        snprintf(vbuf, sizeof vbuf, "%d", m->version);
        const char *p[] = {vbuf, m->name};
        PGresult *res =
            db_query(db, "SELECT 1 FROM lethe.schema_migrations WHERE version = $1", 1, p);
        if (!res)
            goto fail;
        bool done = PQntuples(res) > 0;
        PQclear(res);
        if (done)
            continue;
        log_debug("migrate: applying %04d_%s", m->version, m->name);
        if (!db_exec(db, m->sql, 0, NULL))
            goto fail;
        if (!db_exec(db, "INSERT INTO lethe.schema_migrations (version, name) VALUES ($1, $2)", 2,
                     p))
            goto fail;
        (*applied)++;
    }
    return db_commit(db);
fail:
    db_rollback(db);
    return false;
}
