/* Connection set-up, checked query helpers and migrations. Nothing here knows the rules;
 * queries that serve a capability live in the engine module for that capability. */
#define _POSIX_C_SOURCE 200809L
#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "exitcode.h"
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

static void note_failure(PGconn *db, const PGresult *res)
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
    }
}

static PGresult *run(PGconn *db, const char *sql, int nparams, const char *const *params,
                     ExecStatusType want)
{
    last_sqlstate[0] = '\0';
    PGresult *res = nparams || params ? PQexecParams(db, sql, nparams, NULL, params, NULL, NULL, 0)
                                      : PQexec(db, sql);
    if (!res || PQresultStatus(res) != want) {
        note_failure(db, res);
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

bool db_begin(PGconn *db) { return db_exec(db, "BEGIN", 0, NULL); }
bool db_commit(PGconn *db) { return db_exec(db, "COMMIT", 0, NULL); }

void db_rollback(PGconn *db)
{
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
    if (!res) {
        db_disconnect(ctx);
        return false;
    }
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
 * two migrates never interleave and a failed one leaves the schema as it was. Migrations are
 * frozen once applied: each one's SHA-256 is recorded, and a text that changed since refuses
 * the whole upgrade before anything is applied. A database migrated before checksums existed
 * has its applied migrations' checksums recorded on first sight. */
int db_migrate(PGconn *db, int *applied)
{
    *applied = 0;
    int rc = EXIT_RUNTIME;
    size_t n = (size_t)lethe_migration_count;
    bool *pending = calloc(n, sizeof *pending);
    char(*sums)[AUDIT_HEX_LEN] = calloc(n, sizeof *sums);
    if (!pending || !sums || !db_begin(db)) {
        free(pending);
        free(sums);
        return EXIT_RUNTIME;
    }
    PGresult *lock = db_query(db, "SELECT pg_advisory_xact_lock(7283310001)", 0, NULL);
    if (!lock)
        goto fail;
    PQclear(lock);
    if (!db_exec(db,
                 "CREATE SCHEMA IF NOT EXISTS lethe;"
                 "CREATE TABLE IF NOT EXISTS lethe.schema_migrations ("
                 " version integer PRIMARY KEY, name text NOT NULL,"
                 " applied_at timestamptz NOT NULL DEFAULT now());"
                 "ALTER TABLE lethe.schema_migrations ADD COLUMN IF NOT EXISTS sha256 text",
                 0, NULL))
        goto fail;
    for (int i = 0; i < lethe_migration_count; i++) {
        const struct migration *m = &lethe_migrations[i];
        char vbuf[16];
        snprintf(vbuf, sizeof vbuf, "%d", m->version);
        audit_sha256_hex(m->sql, strlen(m->sql), sums[i]);
        const char *p[] = {vbuf, sums[i]};
        PGresult *res = db_query(db, "SELECT sha256 FROM lethe.schema_migrations WHERE version = $1",
                                 1, p);
        if (!res)
            goto fail;
        pending[i] = PQntuples(res) == 0;
        bool unknown = !pending[i] && PQgetisnull(res, 0, 0);
        bool changed = !pending[i] && !unknown && strcmp(PQgetvalue(res, 0, 0), sums[i]) != 0;
        if (changed) {
            log_error("migrate: migration %04d_%s was applied with another text (sha256 %.12s..., "
                      "this lethe's is %.12s...)",
                      m->version, m->name, PQgetvalue(res, 0, 0), sums[i]);
            log_hint("a migration never changes once applied: put the change in a new file "
                     "sql/NNNN_description.sql");
            PQclear(res);
            rc = EXIT_USAGE;
            goto fail;
        }
        PQclear(res);
        if (unknown && !db_exec(db, "UPDATE lethe.schema_migrations SET sha256 = $2 WHERE version = $1",
                                2, p))
            goto fail;
    }
    for (int i = 0; i < lethe_migration_count; i++) {
        const struct migration *m = &lethe_migrations[i];
        if (!pending[i])
            continue;
        char vbuf[16];
        snprintf(vbuf, sizeof vbuf, "%d", m->version);
        const char *p[] = {vbuf, m->name, sums[i]};
        log_debug("migrate: applying %04d_%s", m->version, m->name);
        if (!db_exec(db, m->sql, 0, NULL))
            goto fail;
        if (!db_exec(db, "INSERT INTO lethe.schema_migrations (version, name, sha256) VALUES ($1, $2, $3)",
                     3, p))
            goto fail;
        (*applied)++;
    }
    /* The hardening covers every object, those of the migrations just applied included. */
    PGresult *h = db_query_one_row(db, "SELECT to_regprocedure('lethe.harden()') IS NOT NULL", 0, NULL);
    if (!h)
        goto fail;
    bool harden = PQgetvalue(h, 0, 0)[0] == 't';
    PQclear(h);
    if (harden) {
        PGresult *r = db_query(db, "SELECT lethe.harden()", 0, NULL);
        if (!r)
            goto fail;
        PQclear(r);
    }
    rc = db_commit(db) ? EXIT_DONE : EXIT_RUNTIME;
    goto cleanup;
fail:
    db_rollback(db);
cleanup:
    free(pending);
    free(sums);
    return rc;
}
