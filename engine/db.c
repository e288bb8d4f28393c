/* Connection set-up, checked query helpers and migrations. Nothing here knows the rules;
 * queries that serve a capability live in the engine module for that capability. */
#define _POSIX_C_SOURCE 200809L
#include "db.h"

#include <ctype.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit.h"
#include "exitcode.h"
#include "log.h"
#include "text.h"

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
static char quiet_state[6];
static const char *needed_role, *needed_for;
/* Whether the login has the role's privileges: 1, 0, 2 a member that does not inherit them
 * (NOINHERIT), -1 unknown. */
static int needed_role_held = -1;

void db_set_needed_role(const char *role, const char *command)
{
    if (!role || !needed_role || strcmp(role, needed_role) != 0)
        needed_role_held = -1; /* known only for the role db_check_schema() asked about */
    needed_role = role;
    needed_for = command;
}

void db_quiet_for(const char *sqlstate)
{
    snprintf(quiet_state, sizeof quiet_state, "%s", sqlstate ? sqlstate : "");
}
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
    /* Said first, so that neither the log nor runs.error sends anyone to a disk or a table. */
    if (PQstatus(db) == CONNECTION_BAD && strncmp(last_message, "the connection", 14) != 0) {
        static const char lost[] = "the connection to the database was lost: ";
        size_t k = sizeof lost - 1, m = strlen(last_message);
        if (k + m >= sizeof last_message)
            m = sizeof last_message - k - 1;
        memmove(last_message + k, last_message, m);
        memcpy(last_message, lost, k);
        last_message[k + m] = '\0';
        if (m == 0)
            last_message[k - 2] = '\0'; /* no cause given: no colon */
        for (char *c = last_message; *c; c++)
            if (*c == '\n')
                *c = ' ';
    }
    if (!quiet_state[0] || (strcmp(quiet_state, "*") != 0 && strcmp(last_sqlstate, quiet_state) != 0)) {
        log_error("query failed: %s", last_message);
        const char *hint = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_HINT) : NULL;
        if (hint)
            log_hint("%s", hint);
        /* PostgreSQL's own refusal (not one of lethe's triggers, which say why themselves):
         * name the group role that grants what the command needs. */
        else if (needed_role && strcmp(last_sqlstate, "42501") == 0 &&
                 strncmp(last_message, "permission denied", 17) == 0) {
            if (needed_role_held == 2)
                log_hint("'lethe %s' needs the privileges of %s, which %s is a member of but does "
                         "not inherit (NOINHERIT): ALTER ROLE %s INHERIT",
                         needed_for, needed_role, PQuser(db), PQuser(db));
            else if (needed_role_held == 1)
                /* A member already: the role itself lacks the grant, as after a migrate that
                 * added a table or function and no roles.sql since. */
                log_hint("'lethe %s' needs the privileges of %s, which %s holds already: %s lacks "
                         "this grant; run deploy/roles.sql again as a superuser (as after every "
                         "'lethe migrate': it grants what a migration added)",
                         needed_for, needed_role, PQuser(db), needed_role);
            else
                log_hint("'lethe %s' needs the privileges of %s: GRANT %s TO %s (deploy/roles.sql "
                         "creates the roles)",
                         needed_for, needed_role, needed_role, PQuser(db));
        }
        if (sql)
            log_debug("query was: %s", sql);
    }
}

void db_report_failure(PGconn *db, const PGresult *res)
{
    note_failure(db, res, NULL);
}

bool db_send_rows(PGconn *db, const char *sql, int nparams, const char *const *params,
                  int result_format)
{
    last_sqlstate[0] = '\0';
    last_message[0] = '\0';
    if (PQsendQueryParams(db, sql, nparams, NULL, params, NULL, NULL, result_format) &&
        PQsetSingleRowMode(db))
        return true;
    note_failure(db, NULL, sql);
    PGresult *r;
    while ((r = PQgetResult(db)) != NULL) /* a query sent whose mode could not be set */
        PQclear(r);
    return false;
}

/* With LENGTHS, every parameter is in PostgreSQL's binary form, of the types TYPES. */
static PGresult *run_as(PGconn *db, const char *sql, int nparams, const char *const *params,
                        const Oid *types, const int *lengths, ExecStatusType want)
{
    /* A failure's message belongs to that statement only: a caller that reports it later
     * never picks up an older one. */
    last_sqlstate[0] = '\0';
    last_message[0] = '\0';
    int binary[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    if (lengths && nparams > (int)(sizeof binary / sizeof binary[0])) {
        snprintf(last_message, sizeof last_message, "too many binary parameters");
        log_error("query failed: %s", last_message);
        return NULL;
    }
    PGresult *res = lengths ? PQexecParams(db, sql, nparams, types, params, lengths, binary, 0)
                    : nparams || params ? PQexecParams(db, sql, nparams, NULL, params, NULL, NULL, 0)
                                        : PQexec(db, sql);
    /* A statement run for its effect may be a SELECT of a function that returns nothing. */
    ExecStatusType got = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (want == PGRES_COMMAND_OK && got == PGRES_TUPLES_OK)
        got = PGRES_COMMAND_OK;
    if (!res || got != want) {
        note_failure(db, res, sql);
        PQclear(res);
        return NULL;
    }
    return res;
}

static PGresult *run(PGconn *db, const char *sql, int nparams, const char *const *params,
                     ExecStatusType want)
{
    return run_as(db, sql, nparams, params, NULL, NULL, want);
}

PGresult *db_query_binary(PGconn *db, const char *sql, int nparams, const Oid *types,
                          const char *const *values, const int *lengths)
{
    return run_as(db, sql, nparams, values, types, lengths, PGRES_TUPLES_OK);
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

const char *db_str(const PGresult *r, int row, const char *name)
{
    return PQgetvalue(r, row, db_col(r, name));
}

bool db_true(const PGresult *r, int row, const char *name)
{
    return strcmp(PQgetvalue(r, row, db_col(r, name)), "t") == 0;
}

int db_exists(PGconn *db, const char *sql, int nparams, const char *const *params)
{
    PGresult *res = db_query(db, sql, nparams, params);
    if (!res)
        return -1;
    int found = PQntuples(res) > 0;
    PQclear(res);
    return found;
}

long db_get_long(const PGresult *r, int row, const char *name)
{
    const char *v = db_get(r, row, name);
    return v ? atol(v) : 0;
}

bool db_begin(PGconn *db) { return db_exec(db, "BEGIN", 0, NULL); }

bool db_begin_read_committed(PGconn *db)
{
    return db_exec(db, "BEGIN ISOLATION LEVEL READ COMMITTED", 0, NULL);
}

bool db_inbox_fill(PGconn *db)
{
    /* Two statements: PostgreSQL checks the right to call a function when it plans the call,
     * in whichever branch of a CASE it stands. A standby takes no write: it reads the inbox as
     * it is (the readers of sql/0044 count what was committed since). */
    PGresult *r = db_query_one_row(db,
                                   "SELECT has_function_privilege('lethe.inbox_fill()', 'EXECUTE')"
                                   "       AND NOT pg_is_in_recovery() AS may",
                                   0, NULL);
    if (!r)
        return false;
    bool may = db_true(r, 0, "may");
    PQclear(r);
    if (!may) {
        log_debug("inbox: not filled here (no privilege, or a standby); read as it is");
        return true;
    }
    /* Outside a transaction, one of its own, READ COMMITTED whatever the database's default.
     * There, a fill at work in another session (a shard run started at the same time) is
     * waited for, and this one made after it: what that one fills commits first, so this
     * run's look at the inbox sees it. (A run that looked before it committed found the inbox
     * empty and its new events waited for the next run.) Inside a caller's transaction (a
     * dry run, rolled back) it is not waited for. */
    bool own = PQtransactionStatus(db) == PQTRANS_IDLE;
    bool skipped;
    long filled;
    for (int tries = 0;; tries++) {
        if (own && !db_begin_read_committed(db))
            return false;
        r = db_query_one_row(db, "SELECT lethe.inbox_fill() AS filled", 0, NULL);
        if (!r) {
            if (own)
                db_rollback(db);
            return false;
        }
        skipped = db_get(r, 0, "filled") == NULL;
        filled = db_get_long(r, 0, "filled");
        PQclear(r);
        if (own && !db_exec(db, "COMMIT", 0, NULL))
            return false;
        if (!own || !skipped || tries >= 6000) /* 50 ms apart: at most 5 minutes */
            break;
        struct timespec pause = {0, 50 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    if (skipped)
        log_debug("inbox: another session is filling it; what it fills is there for the next look");
    else if (filled)
        log_debug("inbox: %ld new row%s of items and events", filled, filled == 1 ? "" : "s");
    return true;
}

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

/* The keywords and values of the connection: those of the base conninfo (--db, else
 * database.conninfo, else none: libpq's environment), then -d, -h, -p and -U in that order, so
 * that each overrides what the base says. -d may itself be a conninfo string or URI:
 * expand_dbname expands it where it stands, and -h, -p and -U still win over it. */
static PGconn *connect_params(const struct lethe_ctx *ctx, const char *base, char **why)
{
    *why = NULL;
    PQconninfoOption *opts = PQconninfoParse(base, why);
    if (!opts)
        return NULL;
    size_t n = 0;
    for (PQconninfoOption *o = opts; o->keyword; o++)
        n++;
    const char **keys = calloc(n + 5, sizeof *keys), **vals = calloc(n + 5, sizeof *vals);
    PGconn *conn = NULL;
    if (keys && vals) {
        size_t k = 0;
        for (PQconninfoOption *o = opts; o->keyword; o++) {
            if (!o->val || (ctx->db_name && strcmp(o->keyword, "dbname") == 0))
                continue;
            keys[k] = o->keyword;
            vals[k++] = o->val;
        }
        const char *over[][2] = {{"dbname", ctx->db_name},
                                 {"host", ctx->db_host},
                                 {"port", ctx->db_port},
                                 {"user", ctx->db_user}};
        for (size_t i = 0; i < sizeof over / sizeof over[0]; i++) {
            if (!over[i][1])
                continue;
            keys[k] = over[i][0];
            vals[k++] = over[i][1];
        }
        conn = PQconnectdbParams(keys, vals, 1);
    }
    free(keys);
    free(vals);
    PQconninfoFree(opts);
    return conn;
}

/* The connection's cancel request, made once it is open: for a signal handler, which may call
 * PQcancel (libpq: "safe to call from a signal handler") but not make one. */
static PGcancel *volatile cancel_handle;

void db_cancel_from_signal(void)
{
    PGcancel *c = cancel_handle;
    if (c) {
        char err[256];
        (void)PQcancel(c, err, sizeof err);
    }
}

static void cancel_arm(PGconn *db)
{
    PGcancel *old = cancel_handle;
    cancel_handle = NULL;
    if (old)
        PQfreeCancel(old);
    cancel_handle = db ? PQgetCancel(db) : NULL;
}

/* libpq judges some values only as it connects: an sslmode, a gssencmode or a
 * target_session_attrs it does not know, an integer option that is not one, hosts and ports that
 * do not pair. Its message is then about the connection string, not the server: a configuration
 * error (exit 2), as an unknown keyword is (libpq's English: lethe sets no locale). The part
 * after "connection to server ... failed: ", or NULL when the message is about the server. */
static const char *libpq_refused_value(const char *said)
{
    const char *core = said;
    if (strncmp(said, "connection to server", 20) == 0) {
        const char *f = strstr(said, " failed: ");
        core = f ? f + 9 : said;
    }
    if (strncmp(core, "invalid ", 8) == 0 || strncmp(core, "could not match ", 16) == 0 ||
        (strstr(core, " value ") && strstr(core, " invalid when ")))
        return core;
    return NULL;
}

/* The connection string's value libpq refused (CORE, its message): where it came from, its
 * value not shown (it may hold a password: "sslmode= password=x" is sslmode "password=x"). */
static int refused_value(const struct lethe_ctx *ctx, const char *conninfo, const char *core,
                         const char *given)
{
    char shown[1024];
    text_conninfo_said(core, conninfo, shown, sizeof shown);
    /* The keyword libpq names ("invalid sslmode value", "... for connection option "K""):
     * one the connection string does not set came from libpq's environment (PGSSLMODE=bogus
     * was blamed on a database.conninfo that never named sslmode). */
    char key[64] = "";
    const char *opt = strstr(core, "connection option \"");
    if (opt)
        sscanf(opt + 19, "%63[a-z_]", key);
    else
        sscanf(core, "invalid %63[a-z_] value", key);
    bool from_env = false;
    if (key[0] && !given[0] && (ctx->db_override || ctx->cfg.conninfo)) {
        PQconninfoOption *o = PQconninfoParse(conninfo, NULL);
        from_env = o != NULL;
        for (PQconninfoOption *k = o; k && k->keyword; k++)
            if (strcmp(k->keyword, key) == 0 && k->val)
                from_env = false;
        PQconninfoFree(o);
    }
    if (from_env)
        log_error("cannot connect to the database: libpq refuses a value of its environment "
                  "(%s): a PG* variable (PGSSLMODE, PGTARGETSESSIONATTRS, ...) gives %s, which "
                  "%s does not", shown, key, ctx->db_override ? "--db" : "database.conninfo");
    else if (given[0])
        log_error("cannot connect to the database: libpq refuses a value of the connection "
                  "given by %s over %s (%s)",
                  given, ctx->db_override ? "--db" : ctx->cfg.conninfo ? "database.conninfo"
                                                                        : "libpq's environment",
                  shown);
    else if (ctx->db_override)
        log_error("--db: libpq refuses a value in it (%s) (the value is not shown: it may hold a "
                  "password)", shown);
    else if (ctx->cfg.conninfo && ctx->cfg.conninfo_line > 0)
        log_error("config: '%s' line %d: 'database.conninfo': libpq refuses a value in it (%s) "
                  "(the value is not shown: it may hold a password)",
                  ctx->cfg.conninfo_conf ? ctx->cfg.conninfo_conf : ctx->cfg.path,
                  ctx->cfg.conninfo_line, shown);
    else
        log_error("cannot connect to the database: libpq refuses a value of its environment "
                  "(%s): a PG* variable (PGSSLMODE, PGTARGETSESSIONATTRS, ...)", shown);
    log_hint("libpq's documentation lists each keyword's values (\"Parameter Key Words\"), e.g. "
             "sslmode is disable, allow, prefer, require, verify-ca or verify-full");
    return EXIT_USAGE;
}

int db_connect(struct lethe_ctx *ctx)
{
    const char *conninfo = ctx->db_override ? ctx->db_override
                         : ctx->cfg.conninfo ? ctx->cfg.conninfo
                                             : "";
    /* A port libpq would refuse only as it connects (exit 1, its message showing the value,
     * a password with "port= password=x"): a usage error here, the value not shown. The
     * config's own conninfo was judged as it was read. */
    if (ctx->db_port && !text_port_valid(ctx->db_port)) {
        log_error("-p: not a port number");
        log_hint("-p N, N from 1 to 65535 (or several, comma-separated, one per host)");
        return EXIT_USAGE;
    }
    if (ctx->db_override) {
        PQconninfoOption *opts = PQconninfoParse(ctx->db_override, NULL);
        bool bad = false;
        for (PQconninfoOption *o = opts; o && o->keyword; o++)
            bad |= strcmp(o->keyword, "port") == 0 && o->val && !text_port_valid(o->val);
        PQconninfoFree(opts);
        if (bad) {
            log_error("--db: its port is not a port number (the value is not shown: it may hold "
                      "a password)");
            log_hint("port=N, N from 1 to 65535 (or several, comma-separated, one per host)");
            return EXIT_USAGE;
        }
    }
    char *why = NULL;
    ctx->db = connect_params(ctx, conninfo, &why);
    if (!ctx->db) {
        char msg[1024];
        text_conninfo_said(why ? why : "out of memory", conninfo, msg, sizeof msg);
        log_error("cannot connect to the database: bad connection string (%s): %s",
                  ctx->db_override ? "--db" : "database.conninfo", msg);
        log_hint("a conninfo is key=value pairs or a postgresql:// URI, e.g. "
                 "\"host=/run/postgresql dbname=lethe\"");
        int rc = why ? EXIT_USAGE : EXIT_RUNTIME;
        PQfreemem(why);
        return rc;
    }
    if (PQstatus(ctx->db) != CONNECTION_OK) {
        /* -d may be a whole conninfo, which libpq reads only here: a message about reading it
         * (not about the server) is shown as one about the config's is. */
        char msg[1024];
        const char *said = PQerrorMessage(ctx->db);
        if (ctx->db_name && strncmp(said, "connection to server", 20) != 0)
            text_conninfo_said(said, ctx->db_name, msg, sizeof msg);
        else
            snprintf(msg, sizeof msg, "%s", said);
        size_t n = strlen(msg);
        while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
            msg[--n] = '\0';
        /* The options given over the conninfo are named first: a role given with -U that does
         * not exist is the option's, not the config's. */
        char given[64] = "";
        const char *opt[][2] = {{"-d", ctx->db_name}, {"-h", ctx->db_host}, {"-p", ctx->db_port},
                                {"-U", ctx->db_user}};
        for (size_t i = 0; i < sizeof opt / sizeof opt[0]; i++)
            if (opt[i][1])
                snprintf(given + strlen(given), sizeof given - strlen(given), "%s%s",
                         given[0] ? ", " : "", opt[i][0]);
        const char *core = libpq_refused_value(said);
        if (core) {
            int rc = refused_value(ctx, conninfo, core, given);
            PQfinish(ctx->db);
            ctx->db = NULL;
            return rc;
        }
        log_error("cannot connect to the database: %s", msg);
        if (given[0])
            log_hint("check %s given on the command line, then the connection string under them "
                     "(%s), and that the server is up", given,
                     ctx->db_override ? "--db"
                     : ctx->cfg.conninfo ? "database.conninfo"
                                         : "libpq's environment");
        else if (ctx->db_override)
            log_hint("check --db, which this connection came from, and that the server is up");
        else if (ctx->cfg.conninfo)
            log_hint("check database.conninfo in '%s', which this connection came from (or "
                     "pass --db CONNINFO, or -h, -p, -U, -d, over it), and that the server is up",
                     ctx->cfg.path ? ctx->cfg.path : "the config");
        else
            log_hint("pass --db CONNINFO (or -h, -p, -U, -d), set database.conninfo in the config, "
                     "or set PGHOST and PGDATABASE");
        PQfinish(ctx->db);
        ctx->db = NULL;
        return EXIT_RUNTIME;
    }
    if (!session_setup(ctx)) {
        db_disconnect(ctx);
        return EXIT_RUNTIME;
    }
    cancel_arm(ctx->db);
    return EXIT_DONE;
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
    cancel_arm(ctx->db); /* a new backend, with its own key */
    return session_setup(ctx);
}

/* Everything a session needs, set again after a reconnect: a reset session has lost it.
 * JIT is off: lethe's statements are many per-item plans whose estimated cost crosses the JIT
 * threshold on a large catalog, and compiling them cost more than it saved (a tenant-wide
 * request over 100,000 items at 1M: 1.8-3.7 s of 19-21 s; tests/bench/RESULTS.md). It is
 * turned off first, by a statement that is not planned, so that no plan of the session is
 * compiled, this one's included. The session's temporary tables (the seeds of a derivation,
 * the due items of a selection, the staged audit rows) hold a row per item a run handles;
 * temp_buffers is raised from the server's 8 MB so that they stay in the session's memory
 * instead of going through the kernel at every scan (10,000 subject requests at 1M items:
 * 28,000 blocks written and 48,000 read back). It must be set before the session touches a
 * temporary table, and like temp_buffers itself it is a bound, not an allocation. The server
 * looks every 2 s whether lethe is still there while a statement runs: a run killed (SIGKILL)
 * while its statement waited for another session's lock left its backend waiting, holding the
 * run lock, and every run after it exited 3 until that session ended (an outside tryout). */
static bool session_setup(struct lethe_ctx *ctx)
{
    PQsetNoticeProcessor(ctx->db, quiet_notice, NULL);
    if (!db_exec(ctx->db, "SET jit = off", 0, NULL))
        return false;
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
                             " set_config('IntervalStyle', 'postgres', false),"
                             " set_config('temp_buffers', '128MB', false),"
                             " set_config('client_connection_check_interval', '2s', false)",
                             1, params);
    if (!res)
        return false;
    PQclear(res);
    return true;
}

/* The run locks are session locks: released before the command exits, rather than when the
 * server gets round to ending the backend, which can be after the next run (a timer's, an
 * operator's rerun) has tried to take them and been told a finished run holds them. Waits at
 * most UNLOCK_WAIT_MS for the answer: a connection that hangs is closed as it was before, and
 * its locks go with its backend. Only from an idle session (a transaction left open goes with
 * the connection, its locks too). */
#define UNLOCK_WAIT_MS 2000

static void release_session_locks(PGconn *db)
{
    if (PQstatus(db) != CONNECTION_OK || PQtransactionStatus(db) != PQTRANS_IDLE ||
        !PQsendQuery(db, "SELECT pg_advisory_unlock_all()"))
        return;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (!PQconsumeInput(db))
            return;
        if (!PQisBusy(db)) {
            PGresult *r;
            while ((r = PQgetResult(db)) != NULL)
                PQclear(r);
            return;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        long left = UNLOCK_WAIT_MS - ((t1.tv_sec - t0.tv_sec) * 1000 +
                                      (t1.tv_nsec - t0.tv_nsec) / 1000000);
        struct pollfd p = {.fd = PQsocket(db), .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            return;
    }
}

void db_disconnect(struct lethe_ctx *ctx)
{
    cancel_arm(NULL);
    if (ctx->db) {
        release_session_locks(ctx->db);
        PQfinish(ctx->db);
    }
    ctx->db = NULL;
}

int db_latest_version(void) { return lethe_migrations[lethe_migration_count - 1].version; }

/* A count: the statement's one row has a column named n. -1 on error (logged). */
long long db_count(PGconn *db, const char *sql, int n, const char *const *params)
{
    PGresult *res = db_query_one_row(db, sql, n, params);
    if (!res)
        return -1;
    long long v = strtoll(db_str(res, 0, "n"), NULL, 10);
    PQclear(res);
    return v;
}

int db_citus_gaps(PGconn *db)
{
    long long n = db_count(db,
                           "SELECT count(*) AS n FROM lethe.citus_gaps"
                           " WHERE EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')",
                           0, NULL);
    return n < 0 ? 0 : (int)n;
}

/* On Citus, makes the refusals the layout could not keep on the distributed tables on every shard
 * instead (sql/0050), in a transaction of its own after migrate's has committed. The number of
 * nodes guarded (0 on plain PostgreSQL), or -1 on error (logged). */
int db_citus_guard_shards(PGconn *db)
{
    return (int)db_count(db,
                         "SELECT CASE WHEN to_regprocedure('lethe.citus_guard_shards()') IS NULL"
                         "            THEN 0 ELSE lethe.citus_guard_shards() END AS n",
                         0, NULL);
}

/* Open batches emitted by a shard run K/N whose tenants no longer all lie in shard K of N: the
 * placement of sql/0027_shard_placement.sql moved them, and no shard run re-drives such a batch,
 * only a run without --shard. 0 when there is none or the count could not be read. */
long db_open_batches_across_shards(PGconn *db)
{
    long long n = db_count(
        db,
        "SELECT count(*) AS n FROM ("
        "  SELECT b.batch_id FROM lethe.batches b"
        "    JOIN lethe.batch_items bi ON bi.batch_id = b.batch_id"
        "   WHERE b.state = 'open' AND b.shard IS NOT NULL"
        "   GROUP BY b.batch_id, b.shard"
        "  HAVING count(DISTINCT lethe.shard_of(bi.tenant_id,"
        "                                       split_part(b.shard, '/', 2)::integer)) > 1) m",
        0, NULL);
    return n < 0 ? 0 : (long)n;
}

/* Whether a 'lethe migrate' holds its lock in this database now (db_migrate), said as why the
 * schema is not what this binary needs: then the command waits for nothing and exits 3, as one
 * that meets a run does. */
static bool migrate_under_way(PGconn *db, const char *dbname, const char *what)
{
    PGresult *res = db_query_one_row(db, "SELECT pg_try_advisory_xact_lock(7283310001) AS free", 0,
                                     NULL);
    bool busy = res && !db_true(res, 0, "free");
    PQclear(res);
    if (busy) {
        log_error("database '%s' %s: a 'lethe migrate' is applying migrations to it now", dbname,
                  what);
        log_hint("try again once it has finished (it commits them all at once, or none)");
    }
    return busy;
}

int db_check_schema(PGconn *db)
{
    /* Whether the schema is there and readable first: a statement naming a table it cannot
     * see or read fails as a whole, whatever branch of a CASE it sits in. */
    /* And whether the login has the privileges of the role its command needs (NULL when the
     * role does not exist), for the hint after a permission error. */
    const char *role[] = {needed_role};
    PGresult *res = db_query_one_row(
        db,
        "SELECT n.oid IS NOT NULL AS schema, m.oid IS NOT NULL AS migrations,"
        "       coalesce(has_schema_privilege(n.oid, 'USAGE')"
        "                AND has_table_privilege(m.oid, 'SELECT'), false) AS readable,"
        "       current_database() AS dbname,"
        "       (SELECT CASE WHEN pg_has_role(r.oid, 'USAGE') THEN 1"
        "                    WHEN pg_has_role(r.oid, 'MEMBER') THEN 2 ELSE 0 END"
        "          FROM pg_catalog.pg_roles r WHERE r.rolname = $1) AS holds_role"
        "  FROM (SELECT (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = 'lethe') AS oid) n"
        "  LEFT JOIN pg_catalog.pg_class m"
        "    ON m.relnamespace = n.oid AND m.relname = 'schema_migrations'",
        1, role);
    if (!res)
        return -1;
    bool schema = db_true(res, 0, "schema"), table = db_true(res, 0, "migrations"),
         readable = db_true(res, 0, "readable");
    needed_role_held = db_get(res, 0, "holds_role") ? (int)db_get_long(res, 0, "holds_role") : -1;
    char dbname[256];
    snprintf(dbname, sizeof dbname, "%s", db_str(res, 0, "dbname"));
    PQclear(res);
    /* pg_class shows the table to every role: without it the schema was never migrated (made
     * empty beforehand, for its owner), whoever may read it. Unless a migrate is making it now:
     * its transaction shows nothing until it commits, and the lock it holds meanwhile says so. */
    if (!schema || !table) {
        if (migrate_under_way(db, dbname, "has no lethe schema yet"))
            return 2;
        if (schema)
            log_error("database '%s' has a schema lethe with no lethe tables in it: it was never "
                      "migrated", dbname);
        else
            log_error("database '%s' has no lethe schema", dbname);
        log_hint("run 'lethe migrate' first, or check the connection (--db, -d)");
        return 0;
    }
    if (!readable)
        return 1; /* a role that cannot read it is told so by its first statement */
    char versions[16 * 64] = "{";
    size_t u = 1;
    for (int i = 0; i < lethe_migration_count && u < sizeof versions - 16; i++)
        u += (size_t)snprintf(versions + u, sizeof versions - u, "%s%d", i ? "," : "",
                              lethe_migrations[i].version);
    snprintf(versions + u, sizeof versions - u, "}");
    const char *p[] = {versions};
    res = db_query_one_row(db,
                           "SELECT count(*) AS missing,"
                           "       string_agg(v.version::text, ', ' ORDER BY v.version) AS versions"
                           "  FROM unnest($1::integer[]) v(version)"
                           " WHERE NOT EXISTS (SELECT 1 FROM lethe.schema_migrations m"
                           "                    WHERE m.version = v.version)",
                           1, p);
    if (!res)
        return -1;
    int missing = (int)db_get_long(res, 0, "missing");
    if (missing && migrate_under_way(db, dbname, "is behind this lethe")) {
        PQclear(res);
        return 2;
    }
    if (missing)
        log_error("database '%s' is behind this lethe: migration%s %s not applied", dbname,
                  missing == 1 ? "" : "s", db_str(res, 0, "versions"));
    PQclear(res);
    if (missing == 0)
        return 1;
    log_hint("run 'lethe migrate' (as the schema's owner), then deploy/roles.sql again");
    return 0;
}

int db_schema_version(PGconn *db)
{
    PGresult *res = db_query_one_row(db,
                                     "SELECT CASE WHEN to_regclass('lethe.schema_migrations') IS NULL"
                                     " THEN -1 ELSE (SELECT coalesce(max(version), 0)"
                                     " FROM lethe.schema_migrations) END AS version",
                                     0, NULL);
    if (!res)
        return -1;
    int v = (int)db_get_long(res, 0, "version");
    PQclear(res);
    return v;
}

/* The objects of schema lethe that a role other than the schema's owner owns, each with the
 * statement that gives it to the owner. A superuser's migrate made every object it created its
 * own until migrate took the schema's owner (a deployment with a dedicated owner, upgraded by a
 * superuser): the owner's CREATE OR REPLACE of such a function is refused, and every later
 * migrate with it. Sequences and indexes follow their tables, array and row types theirs; an
 * extension's members are the extension's. `give` says which migrate gives to the owner
 * itself: lethe's own (named so by a migration, $1) that a superuser owns, on one server only
 * (`superuser` says which a superuser's migrate would give). Any other object may be a DBA's
 * own (a view that would read the catalog as the owner once given, or a superuser's reading
 * what only a superuser may), and on Citus a shard on the coordinator is a table of the schema too,
 * which only Citus changes: those a DBA gives. */
static const char STRAY_OBJECTS[] =
    "SELECT y.stmt, y.what, y.was, y.owner, y.superuser, y.superuser AND y.may AS give FROM ("
    "SELECT format('ALTER %s %s OWNER TO %I', x.kind, x.name, n.nspowner::regrole::text) AS stmt,"
    "       lower(x.kind) || ' ' || x.name AS what,"
    "       x.owner::regrole::text AS was, n.nspowner::regrole::text AS owner,"
    "       r.rolsuper AND NOT c.citus AND x.bare = ANY ($1::text[]) AS superuser,"
    "       pg_catalog.pg_has_role(x.owner, 'USAGE')"
    "           AND pg_catalog.pg_has_role(n.nspowner, 'MEMBER') AS may,"
    "       x.owner AS owner_oid, x.kind, x.name"
    "  FROM pg_catalog.pg_namespace n"
    "  CROSS JOIN LATERAL ("
    "    SELECT CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'"
    "                          WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE'"
    "                          ELSE 'TABLE' END AS kind,"
    "           format('%I.%I', n.nspname, c.relname) AS name, c.relowner AS owner,"
    "           'pg_catalog.pg_class'::regclass AS cls, c.oid, c.relname::text AS bare"
    "      FROM pg_catalog.pg_class c"
    "     WHERE c.relnamespace = n.oid AND c.relowner <> n.nspowner"
    "       AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')"
    "       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d"
    "                        WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid"
    "                          AND d.refclassid = 'pg_catalog.pg_class'::regclass"
    "                          AND d.deptype IN ('a', 'i'))"
    "    UNION ALL"
    "    SELECT CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE' ELSE 'FUNCTION' END,"
    "           format('%I.%I(%s)', n.nspname, p.proname,"
    "                  pg_catalog.pg_get_function_identity_arguments(p.oid)),"
    "           p.proowner, 'pg_catalog.pg_proc'::regclass, p.oid, p.proname::text"
    "      FROM pg_catalog.pg_proc p"
    "     WHERE p.pronamespace = n.oid AND p.proowner <> n.nspowner"
    "    UNION ALL"
    "    SELECT CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END,"
    "           format('%I.%I', n.nspname, t.typname), t.typowner, 'pg_catalog.pg_type'::regclass,"
    "           t.oid, t.typname::text"
    "      FROM pg_catalog.pg_type t"
    "     WHERE t.typnamespace = n.oid AND t.typowner <> n.nspowner"
    "       AND (t.typtype IN ('d', 'e', 'r')"
    "            OR (t.typtype = 'c' AND (SELECT c.relkind FROM pg_catalog.pg_class c"
    "                                      WHERE c.oid = t.typrelid) = 'c'))"
    "  ) x"
    "  JOIN pg_catalog.pg_roles r ON r.oid = x.owner"
    "  CROSS JOIN (SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus')"
    "                  AS citus) c"
    " WHERE n.nspname = 'lethe'"
    "   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e"
    "                    WHERE e.classid = x.cls AND e.objid = x.oid AND e.deptype = 'e')"
    ") y ORDER BY y.owner_oid, y.kind, y.name";

/* Whether NAME (LEN bytes) is in LIST, "{a,b" (USED bytes, NUL-terminated), already. */
static bool named_already(const char *list, size_t used, const char *name, size_t len)
{
    for (const char *q = list + 1; q < list + used; q += strcspn(q, ",") + 1)
        if (strcspn(q, ",") == len && strncmp(q, name, len) == 0)
            return true;
    return false;
}

/* The names lethe's migrations give objects of schema lethe ("lethe.NAME" in their text), each
 * once, and the table of migrations migrate makes itself, as a text[] literal: what a
 * superuser owns in the schema is given to its owner only if it is lethe's. NULL when out of
 * memory. */
static char *lethe_object_names(void)
{
    size_t cap = 4096, used = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    used = (size_t)snprintf(out, cap, "{schema_migrations");
    for (int i = 0; i < lethe_migration_count; i++) {
        const char *sql = lethe_migrations[i].sql;
        for (const char *p = strstr(sql, "lethe."); p; p = strstr(p, "lethe.")) {
            bool word = p == sql ||
                        !(isalnum((unsigned char)p[-1]) || p[-1] == '_');
            p += 6;
            size_t len = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_");
            if (!word || len == 0 || named_already(out, used, p, len))
                continue;
            if (used + len + 3 > cap) {
                char *grown = realloc(out, cap *= 2);
                if (!grown) {
                    free(out);
                    return NULL;
                }
                out = grown;
            }
            if (used > 1)
                out[used++] = ',';
            memcpy(out + used, p, len);
            used += len;
            out[used] = '\0';
        }
    }
    out[used++] = '}';
    out[used] = '\0';
    return out;
}

static PGresult *stray_objects(PGconn *db)
{
    char *names = lethe_object_names();
    if (!names)
        return NULL;
    PGresult *res = db_query(db, STRAY_OBJECTS, 1, (const char *[]){names});
    free(names);
    return res;
}

/* Up to three of RES's rows, those whose column "give" is GIVE, named, "and N more" after
 * them. */
static void name_some(const PGresult *res, bool give, char *out, size_t cap)
{
    size_t used = 0;
    int named = 0, more = 0;
    out[0] = '\0';
    for (int i = 0; i < PQntuples(res); i++) {
        if (db_true(res, i, "give") != give)
            continue;
        if (named == 3) {
            more++;
            continue;
        }
        if (used < cap)
            used += (size_t)snprintf(out + used, cap - used, "%s%s", named ? ", " : "",
                                     db_get(res, i, "what"));
        named++;
    }
    if (more && used < cap)
        snprintf(out + used, cap - used, " and %d more", more);
}

/* Gives the schema's owner the objects a superuser owns in it, when this role may; GIVEN says
 * how many and which, for the log once the upgrade has committed, and N_GIVEN how many (to give,
 * when the run lock is held). The run lock first: taking a table from another role locks it
 * whole, which a run in progress must not wait on. Returns EXIT_DONE, EXIT_LOCKED (nothing
 * given) or EXIT_RUNTIME. */
static int give_objects_to_owner(PGconn *db, char *given, size_t cap, int *n_given)
{
    given[0] = '\0';
    PGresult *res = stray_objects(db);
    if (!res)
        return EXIT_RUNTIME;
    int n = 0;
    for (int i = 0; i < PQntuples(res); i++)
        n += db_true(res, i, "give");
    *n_given = n;
    int rc = EXIT_DONE;
    if (n) {
        PGresult *l = db_query_one_row(db, "SELECT pg_try_advisory_xact_lock(7283310, 0) AS got", 0, NULL);
        rc = !l ? EXIT_RUNTIME : db_true(l, 0, "got") ? EXIT_DONE : EXIT_LOCKED;
        PQclear(l);
    }
    for (int i = 0; rc == EXIT_DONE && i < PQntuples(res); i++)
        if (db_true(res, i, "give") && !db_exec(db, db_get(res, i, "stmt"), 0, NULL))
            rc = EXIT_RUNTIME;
    if (rc == EXIT_DONE && n) {
        char names[512];
        name_some(res, true, names, sizeof names);
        snprintf(given, cap, "migrate: gave %s, the schema's owner, %d object%s of schema lethe that "
                 "a superuser owned: %s", db_get(res, 0, "owner"), n, n == 1 ? "" : "s", names);
    }
    PQclear(res);
    return rc;
}

/* After a refusal to change an object of schema lethe ("must be owner of ..."): which objects
 * other roles own there, and who may give them to the schema's owner. */
static bool say_stray_objects(PGconn *db)
{
    PGresult *res = stray_objects(db);
    /* Those this migrate gave (a superuser's), until something else failed, are not the cause. */
    int n = 0, su = -1, other = -1, n_su = 0;
    const char *sus[8]; /* the superusers whose objects they are, each once (rows come by owner) */
    for (int i = 0; res && i < PQntuples(res); i++) {
        if (db_true(res, i, "give"))
            continue;
        n++;
        bool super = db_true(res, i, "superuser");
        int *first = super ? &su : &other;
        if (*first < 0)
            *first = i;
        const char *was = db_get(res, i, "was");
        if (super && n_su < 8 && (n_su == 0 || strcmp(was, sus[n_su - 1]) != 0))
            sus[n_su++] = was;
    }
    char su_names[512] = ""; /* "a, b and c" */
    for (int i = 0, used = 0; i < n_su && used < (int)sizeof su_names; i++)
        used += snprintf(su_names + used, sizeof su_names - (size_t)used, "%s%s",
                         i == 0 ? "" : i == n_su - 1 ? " and " : ", ", sus[i]);
    bool said = n > 0;
    if (said) {
        char names[512];
        name_some(res, false, names, sizeof names);
        const char *owner = db_get(res, 0, "owner");
        log_error("migrate: %d object%s of schema lethe %s not its owner's (%s): %s", n,
                  n == 1 ? "" : "s", n == 1 ? "is" : "are", owner, names);
        if (su >= 0)
            log_hint("a superuser's migrate made those of %s before migrate took the schema's owner: "
                     "run 'lethe migrate' as a superuser, which gives them to %s, then "
                     "deploy/roles.sql again", su_names, owner);
        if (other >= 0 && su >= 0)
            log_hint("the others (the first: %s, %s's) a DBA gives to %s if they are lethe's (%s), "
                     "or moves to another schema: lethe's schema holds lethe's objects only",
                     db_get(res, other, "what"), db_get(res, other, "was"), owner,
                     db_get(res, other, "stmt"));
        else if (other >= 0)
            log_hint("a DBA gives %s to %s if %s lethe's (%s%s), or moves %s to another schema: "
                     "lethe's schema holds lethe's objects only", n == 1 ? "it" : "them", owner,
                     n == 1 ? "it is" : "they are", n == 1 ? "" : "the first: ",
                     db_get(res, other, "stmt"), n == 1 ? "it" : "them");
    }
    PQclear(res);
    return said;
}

/* On Citus, the schema of a database that a role other than the one migrating owns (createdb
 * -O) is made for that owner first, in a transaction of its own, by the role migrating (a
 * superuser, as the install runs it). Made in migrate's transaction, by the owner or for it,
 * Citus's making of the owner's role on the workers failed there ("must be superuser to alter
 * superuser roles or change superuser attribute": an outside tryout, README "Not yet on
 * Citus"). The owner's name is an identifier, quoted by the server (%I). On one server, or
 * with the schema there, nothing is done. */
static bool citus_schema_first(PGconn *db)
{
    PGresult *r = db_query(
        db,
        "SELECT format('CREATE SCHEMA IF NOT EXISTS lethe AUTHORIZATION %I', o.rolname) AS stmt"
        "  FROM pg_catalog.pg_database d JOIN pg_catalog.pg_roles o ON o.oid = d.datdba"
        " WHERE d.datname = current_database() AND o.rolname <> current_user"
        "   AND pg_catalog.pg_has_role(o.oid, 'MEMBER')"
        "   AND EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'citus')"
        "   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = 'lethe')",
        0, NULL);
    if (!r)
        return false;
    bool ok = PQntuples(r) == 0 || db_exec(db, db_get(r, 0, "stmt"), 0, NULL);
    PQclear(r);
    return ok;
}

/* One transaction for the whole upgrade, under a transaction-scoped advisory lock, so that
 * two migrates never interleave and a failed one leaves the schema as it was. Migrations are
 * frozen once applied: each one's SHA-256 is recorded, and a text that changed since refuses
 * the whole upgrade before anything is applied. A database migrated before checksums existed
 * has its applied migrations' checksums recorded on first sight. Returns EXIT_LOCKED, having
 * changed nothing, when there is something to apply and the run lock is held. */
int db_migrate(PGconn *db, int *applied, int *given_n)
{
    *applied = 0;
    *given_n = 0;
    int rc = EXIT_RUNTIME;
    size_t n = (size_t)lethe_migration_count;
    int to_apply = 0; /* migrations not applied yet */
    char became[256] = ""; /* the owner migrate took, if another role's */
    bool *pending = calloc(n, sizeof *pending);
    char(*sums)[AUDIT_HEX_LEN] = calloc(n, sizeof *sums);
    if (!pending || !sums || !citus_schema_first(db) || !db_begin(db)) {
        free(pending);
        free(sums);
        return EXIT_RUNTIME;
    }
    PGresult *lock = db_query(db, "SELECT pg_advisory_xact_lock(7283310001)", 0, NULL);
    if (!lock)
        goto fail;
    PQclear(lock);
    char given[768];
    rc = give_objects_to_owner(db, given, sizeof given, given_n);
    if (rc != EXIT_DONE)
        goto fail;
    rc = EXIT_RUNTIME;
    /* The schema is its owner's: a role that is a member of it (a superuser, as the install
     * runs migrate) migrates as that owner, so that no function of lethe's is made as another
     * role, a superuser's definers least of all. The owner is the schema's, or before the
     * first migrate the database's (createdb -O). */
    PGresult *own = db_query_one_row(
        db,
        "SELECT n.nspname IS NOT NULL AS schema, r.rolname AS owner,"
        "       r.rolname <> current_user AND pg_catalog.pg_has_role(r.oid, 'MEMBER') AS become"
        "  FROM pg_catalog.pg_database d"
        "  LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = 'lethe'"
        "  JOIN pg_catalog.pg_roles r ON r.oid = coalesce(n.nspowner, d.datdba)"
        " WHERE d.datname = current_database()",
        0, NULL);
    if (!own)
        goto fail;
    bool has_schema = db_true(own, 0, "schema");
    if (db_true(own, 0, "become")) {
        snprintf(became, sizeof became, "%s", db_get(own, 0, "owner"));
        log_info("migrate: as the %s owner, %s", has_schema ? "schema's" : "database's", became);
    }
    PQclear(own);
    if (*became && !db_exec(db, "SELECT set_config('role', $1, true)", 1, (const char *[]){became}))
        goto fail;
    /* CREATE SCHEMA IF NOT EXISTS wants CREATE on the database even when the schema is there,
     * which the schema's owner may lack (a database a superuser made, or restored into). */
    if (!has_schema && !db_exec(db, "CREATE SCHEMA lethe", 0, NULL))
        goto fail;
    if (!db_exec(db,
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
        to_apply += pending[i];
        const char *recorded = pending[i] ? NULL : db_get(res, 0, "sha256");
        bool unknown = !pending[i] && !recorded;
        bool changed = recorded && strcmp(recorded, sums[i]) != 0;
        if (changed) {
            log_error("migrate: migration %04d_%s was applied with another text (sha256 %.12s..., "
                      "this lethe's is %.12s...)",
                      m->version, m->name, recorded, sums[i]);
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
    /* A migration changes what a run in progress reads (the shard of a tenant, a function's
     * body between two of its statements): with something to apply, migrate takes the run
     * lock as a whole run does, in this transaction, and leaves the schema as it is while a
     * run, rerun, replay or reconcile holds it. A run that starts meanwhile exits 3. */
    if (to_apply) {
        PGresult *l = db_query_one_row(db, "SELECT pg_try_advisory_xact_lock(7283310, 0) AS got", 0, NULL);
        if (!l)
            goto fail;
        bool got = db_true(l, 0, "got");
        PQclear(l);
        if (!got) {
            rc = EXIT_LOCKED;
            goto fail;
        }
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
    /* On a database with the citus extension, lay out what is not laid out yet (sql/0011);
     * on plain PostgreSQL the function does nothing. */
    PGresult *layout = db_query(db,
                                "SELECT lethe.citus_layout() WHERE"
                                " to_regprocedure('lethe.citus_layout()') IS NOT NULL",
                                0, NULL);
    if (!layout)
        goto fail;
    PQclear(layout);
    /* The hardening covers every object, those of the migrations just applied included. */
    PGresult *h = db_query_one_row(db, "SELECT to_regprocedure('lethe.harden()') IS NOT NULL AS harden",
                                   0, NULL);
    if (!h)
        goto fail;
    bool harden = db_true(h, 0, "harden");
    PQclear(h);
    if (harden) {
        PGresult *r = db_query(db, "SELECT lethe.harden()", 0, NULL);
        if (!r)
            goto fail;
        PQclear(r);
    }
    rc = db_commit(db) ? EXIT_DONE : EXIT_RUNTIME;
    if (rc == EXIT_DONE && *given)
        log_info("%s", given);
    /* What migrate checks after the upgrade (the Citus shards' guards and gaps) it reads as the
     * owner too: a member that does not inherit the owner's privileges could not. */
    if (rc == EXIT_DONE && *became &&
        !db_exec(db, "SELECT set_config('role', $1, false)", 1, (const char *[]){became}))
        rc = EXIT_RUNTIME;
    goto cleanup;
fail:
    db_rollback(db);
    /* The schema is changed by its owner only (ALTER TABLE, CREATE OR REPLACE FUNCTION). A role
     * that may not migrate is told who may; the owner (or a member of it) refused an
     * object of the schema is told which objects other roles own there. */
    if (strcmp(db_last_sqlstate(), "42501") == 0) {
        PGresult *o = db_query_one_row(db,
                                       "SELECT coalesce(n.nspowner::regrole::text, '') AS owner,"
                                       "       coalesce(pg_catalog.pg_has_role(n.nspowner, 'MEMBER'), false) AS member"
                                       "  FROM (SELECT 1) x LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = 'lethe'",
                                       0, NULL);
        const char *owner = o ? db_get(o, 0, "owner") : "";
        if (!*owner) {
            log_error("migrate: role '%s' may not create schema lethe", PQuser(db));
            log_hint("run 'lethe migrate' as the role that is to own it, with CREATE on the database");
        } else if (!db_true(o, 0, "member")) {
            log_error("migrate: role '%s' may not change schema lethe, which %s owns", PQuser(db), owner);
            log_hint("run 'lethe migrate' as %s (or a role that is a member of it), then "
                     "deploy/roles.sql again",
                     owner);
        } else {
            say_stray_objects(db);
        }
        PQclear(o);
    }
cleanup:
    free(pending);
    free(sums);
    return rc;
}

/* Whether FN (a regprocedure's text) exists and this role may execute it: a binary may meet a
 * role set up before the function was granted (deploy/roles.sql grants every function). */
int db_may_execute(PGconn *db, const char *fn)
{
    const char *p[] = {fn};
    PGresult *res = db_query_one_row(db,
                                     "SELECT CASE WHEN to_regprocedure($1) IS NULL THEN false"
                                     "            ELSE has_function_privilege($1, 'EXECUTE') END AS may",
                                     1, p);
    if (!res)
        return -1;
    int yes = db_true(res, 0, "may");
    PQclear(res);
    return yes;
}
