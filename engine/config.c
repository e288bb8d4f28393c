/* Configuration loading and validation. Every message names the file, the line, the setting
 * and the value, and gives a hint; nothing here connects anywhere or exits. */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <libpq-fe.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "log.h"
#include "operator.h"
#include "text.h"

static const char *const rule_names[RULE_COUNT] = {
    "subject_request", "deletion_request", "sharing_opt_out", "capacity_deleted",
    "shared_retention",
};

const char *rule_name(enum rule_id r) { return rule_names[r]; }

/* SPEC §1: the deadline of each rule's commitment, as the published policy gives it. */
static const struct duration commitments[RULE_COUNT] = {
    [RULE_DELETION_REQUEST] = {30 * 86400, 0}, [RULE_SUBJECT_REQUEST] = {0, 1},
    [RULE_CAPACITY_DELETED] = {180 * 86400, 0}, [RULE_SHARING_OPT_OUT] = {30 * 86400, 0},
    [RULE_SHARED_RETENTION] = {90 * 86400, 0},
};

void config_defaults(struct lethe_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->spool_dir = strdup("/var/lib/lethe/spool");
    cfg->anchor_file = strdup("/var/lib/lethe/anchors.jsonl");
    cfg->spool_keep = (struct duration){7 * 86400, 0};
    cfg->executor_timeout = (struct duration){15 * 60, 0};
    cfg->batch_max_items = 10000;
    cfg->lookahead = (struct duration){2 * 86400, 0};
    for (int r = 0; r < RULE_COUNT; r++) {
        cfg->rules[r].name = rule_names[r];
        cfg->rules[r].enabled = true;
    }
    for (int r = 0; r < RULE_COUNT; r++)
        cfg->rules[r].deadline = commitments[r];
    cfg->rules[RULE_SHARED_RETENTION].grace = (struct duration){90 * 86400, 0};
}

void config_free(struct lethe_config *cfg)
{
    free(cfg->path);
    free(cfg->conninfo);
    free(cfg->conninfo_conf);
    free(cfg->lookahead_conf);
    free(cfg->spool_dir);
    free(cfg->executor_command);
    free(cfg->executor_conf);
    free(cfg->audit_key_file);
    free(cfg->audit_key_conf);
    free(cfg->anchor_file);
    free(cfg->metrics_file);
    free(cfg->anchor_conf);
    free(cfg->spool_conf);
    free(cfg->metrics_conf);
    for (int i = 0; i < cfg->n_includes; i++)
        free(cfg->includes[i]);
    for (int i = 0; i < cfg->n_locations; i++) {
        free(cfg->locations[i].geo);
        free(cfg->locations[i].command);
        free(cfg->locations[i].file);
    }
    memset(cfg, 0, sizeof *cfg);
}

const char *config_executor_for(const struct lethe_config *cfg, const char *location)
{
    for (int i = 0; i < cfg->n_locations; i++)
        if (strcmp(cfg->locations[i].geo, location) == 0)
            return cfg->locations[i].command;
    return cfg->executor_command;
}

/* ---- error reporting ---------------------------------------------------------------- */

#define MAX_INCLUDES LETHE_MAX_INCLUDES

struct loader {
    const char *file;
    struct lethe_config *cfg;
    const char *text; /* the file as read, NUL-terminated: integers are judged as written */
    /* the files it @includes, as read, under the names libconfig gives their settings */
    struct included {
        char *path, *text;
    } inc[MAX_INCLUDES];
    int n_inc;
};

/* Line N (from 1) of TEXT, without its newline, at most 200 bytes, in a static buffer. */
static const char *line_of(const char *text, int n)
{
    static char buf[201];
    for (int i = 1; text && i < n; i++) {
        text = strchr(text, '\n');
        if (text)
            text++;
    }
    size_t len = text ? strcspn(text, "\n") : 0;
    if (len > sizeof buf - 1)
        len = sizeof buf - 1;
    memcpy(buf, text ? text : "", len);
    buf[len] = '\0';
    return buf;
}

/* What a syntax error at line N of TEXT is near, for its message: the last setting named on
 * that line (its name only: a value may be a password), or the end of the file. Empty when
 * neither. A name is a setting's where a setting can start (the line's start, after '{', ';',
 * ',' or '('): in 'conninfo = dbname=x password=y' it is conninfo. */
/* The first string that runs over a line end (libconfig reads one across lines, so a '"'
 * missing shows as an error lines later, or at the end of the file): the line it opens on, and
 * *CLOSED the line it ends on (0: never). 0 when there is none. Comments (#, //, slash-star)
 * hold no string. */
static int string_over_lines(const char *text, int *closed)
{
    int line = 1, opened = 0;
    bool crossed = false;
    enum { CODE, STRING, LINE_COMMENT, BLOCK_COMMENT } st = CODE;
    *closed = 0;
    for (const char *p = text; *p; p++) {
        if (*p == '\n') {
            line++;
            crossed |= st == STRING;
        }
        switch (st) {
        case CODE:
            if (*p == '"')
                st = STRING, opened = line, crossed = false;
            else if (*p == '#' || (*p == '/' && p[1] == '/'))
                st = LINE_COMMENT;
            else if (*p == '/' && p[1] == '*')
                st = BLOCK_COMMENT, p++;
            break;
        case STRING:
            if (*p == '\\' && p[1]) {
                p++;
                if (*p == '\n')
                    line++, crossed = true;
            } else if (*p == '"') {
                st = CODE;
                if (crossed) {
                    *closed = line;
                    return opened;
                }
            }
            break;
        case LINE_COMMENT:
            if (*p == '\n')
                st = CODE;
            break;
        case BLOCK_COMMENT:
            if (*p == '*' && p[1] == '/')
                st = CODE, p++;
            break;
        }
    }
    return st == STRING ? opened : 0;
}

static const char *syntax_near(const char *text, int n)
{
    static char buf[128];
    static const char name_chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-*";
    int lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n' || (p[1] == '\0' && *p != '\n');
    int closed, opened = string_over_lines(text, &closed);
    if (opened && opened < n && (!closed || closed == n || n > lines)) {
        if (closed)
            snprintf(buf, sizeof buf, " (the string opened on line %d runs on to line %d: a '\"' "
                                      "missing on line %d?)", opened, closed, opened);
        else
            snprintf(buf, sizeof buf, " at the end of the file (the string opened on line %d is "
                                      "never closed: a '\"' missing?)", opened);
        return buf;
    }
    if (n > lines)
        return " at the end of the file (something left unfinished: a '{', '(' or '[' never "
               "closed, a ';' missing?)";
    const char *l = line_of(text, n), *name = NULL;
    size_t name_len = 0;
    bool quoted = false;
    for (const char *p = l; *p; p++) {
        if (*p == '"' && (p == l || p[-1] != '\\'))
            quoted = !quoted;
        if (quoted || !strchr(name_chars, *p) || (p > l && strchr(name_chars, p[-1])))
            continue;
        size_t len = strspn(p, name_chars);
        const char *after = p + len + strspn(p + len, " \t"), *before = p;
        while (before > l && (before[-1] == ' ' || before[-1] == '\t'))
            before--;
        if ((*after == '=' || *after == ':') && (before == l || strchr("{;,(", before[-1]))) {
            name = p;
            name_len = len > 64 ? 64 : len;
        }
        p += len - 1;
    }
    /* Only a name lethe's config has: in a value left unquoted, a word after a ',' could be a
     * piece of a password. */
    static const char *const known[] = {
        "database", "conninfo", "spool", "directory", "keep", "executor", "command", "timeout",
        "locations", "audit", "key_file", "anchor_file", "batch", "max_items", "schedule",
        "lookahead", "metrics", "file", "rules", "deletion_request", "subject_request",
        "capacity_deleted", "sharing_opt_out", "shared_retention", "deadline", "grace", "enabled"};
    bool is_known = false;
    for (size_t i = 0; name && i < sizeof known / sizeof known[0] && !is_known; i++)
        is_known = strlen(known[i]) == name_len && strncmp(known[i], name, name_len) == 0;
    if (!is_known)
        return "";
    snprintf(buf, sizeof buf, " (setting '%.*s')", (int)name_len, name);
    return buf;
}

/* Where setting S stands (its line and, when an @include'd file holds it, that file), kept for
 * the messages of checks made after the config is read. */
static void remember_where(const config_setting_t *s, int *line, char **conf)
{
    *line = config_setting_source_line(s);
    free(*conf);
    *conf = config_setting_source_file(s) ? strdup(config_setting_source_file(s)) : NULL;
}

/* The file that holds setting S: an @include'd file names itself, the main one is LD's. */
static const char *file_of(const struct loader *ld, const config_setting_t *s)
{
    const char *f = config_setting_source_file(s);
    return f ? f : ld->file;
}

/* ---- integers as written ------------------------------------------------------------ */

/* libconfig 1.5 keeps only the low 32 bits of an integer literal without an L suffix, and
 * says nothing: 4294967297 is read as 1. So every integer setting is judged by its literal as
 * written in the file, found after the setting's name (on the line libconfig gives for it)
 * and its '=' or ':'. */

static bool name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '-' || c == '*';
}

/* Past white space and comments (#, //, and C comments), counting lines. */
static const char *skip_blank(const char *p, int *line)
{
    for (;;) {
        if (*p == '\n') {
            (*line)++;
            p++;
        } else if (isspace((unsigned char)*p)) {
            p++;
        } else if (*p == '#' || (p[0] == '/' && p[1] == '/')) {
            while (*p && *p != '\n')
                p++;
        } else if (p[0] == '/' && p[1] == '*') {
            for (p += 2; *p && !(p[0] == '*' && p[1] == '/'); p++)
                if (*p == '\n')
                    (*line)++;
            p += *p ? 2 : 0;
        } else {
            return p;
        }
    }
}

/* Copies the literal of setting S (a number, as libconfig says) into OUT as written; false when
 * it cannot be found, and the caller falls back on libconfig's value. */
static bool literal_of(const struct loader *ld, const config_setting_t *s, char *out, size_t len)
{
    const char *name = config_setting_name(s);
    int want = config_setting_source_line(s), line = 1;
    const char *src = config_setting_source_file(s), *p = ld->text;
    for (int i = 0; src && i < ld->n_inc; i++)
        if (strcmp(ld->inc[i].path, src) == 0)
            p = ld->inc[i].text, src = NULL;
    if (!p || !name || src)
        return false;
    size_t nlen = strlen(name);
    while (*p) {
        p = skip_blank(p, &line);
        if (*p == '"') {
            for (p++; *p && *p != '"'; p++) {
                if (*p == '\\' && p[1])
                    p++;
                if (*p == '\n')
                    line++;
            }
            p += *p ? 1 : 0;
            continue;
        }
        if (!name_char(*p)) {
            p += *p ? 1 : 0;
            continue;
        }
        const char *w = p;
        while (name_char(*p))
            p++;
        if (line != want || (size_t)(p - w) != nlen || memcmp(w, name, nlen) != 0)
            continue;
        int l = line;
        const char *q = skip_blank(p, &l);
        if (*q != '=' && *q != ':')
            continue;
        q = skip_blank(q + 1, &l);
        size_t n = 0;
        while (n + 1 < len &&
               (isalnum((unsigned char)q[n]) || q[n] == '+' || q[n] == '-' || q[n] == '.'))
            n++;
        if (n == 0)
            return false;
        memcpy(out, q, n);
        out[n] = '\0';
        return true;
    }
    return false;
}

/* The value of an integer literal as libconfig writes them: [+-]digits or [+-]0xhex, then
 * L or LL. A literal beyond 64 bits gives LLONG_MAX or LLONG_MIN: out of any range. */
static bool parse_literal(const char *lit, long long *out)
{
    const char *p = lit;
    bool neg = *p == '-';
    if (*p == '-' || *p == '+')
        p++;
    int base = 10;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
    }
    if (!isxdigit((unsigned char)*p) || (base == 10 && !isdigit((unsigned char)*p)))
        return false;
    errno = 0;
    char *end;
    unsigned long long u = strtoull(p, &end, base);
    if (*end && strcmp(end, "L") != 0 && strcmp(end, "LL") != 0)
        return false;
    if (errno == ERANGE || u > (unsigned long long)LLONG_MAX + neg)
        *out = neg ? LLONG_MIN : LLONG_MAX;
    else
        *out = neg ? (long long)(0 - u) : (long long)u;
    return true;
}

/* An integer setting's true value: its literal's when found, else libconfig's. */
static long long int_value(const struct loader *ld, const config_setting_t *s)
{
    char lit[64];
    long long v;
    if (literal_of(ld, s, lit, sizeof lit) && parse_literal(lit, &v))
        return v;
    return config_setting_get_int64(s);
}

/* ---- error reporting ---------------------------------------------------------------- */

static void path_of(const config_setting_t *s, char *buf, size_t len)
{
    const char *names[16];
    int n = 0;
    for (const config_setting_t *p = s; p && config_setting_name(p) && n < 16;
         p = config_setting_parent(p))
        names[n++] = config_setting_name(p);
    buf[0] = '\0';
    size_t used = 0;
    for (int i = n - 1; i >= 0; i--) {
        int w = snprintf(buf + used, len - used, "%s%s", i == n - 1 ? "" : ".", names[i]);
        if (w < 0 || (size_t)w >= len - used)
            break;
        used += (size_t)w;
    }
}

static void value_of(const struct loader *ld, const config_setting_t *s, char *buf, size_t len)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_STRING:
        /* As text_shown shows it: a line break or an escape in it is no line of lethe's. */
        snprintf(buf, len, "\"%s\"", text_shown(config_setting_get_string(s)));
        break;
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        if (!literal_of(ld, s, buf, len))
            snprintf(buf, len, "%lld", config_setting_get_int64(s));
        break;
    case CONFIG_TYPE_FLOAT: /* as written: 1e3 was shown as 1000, "expected an integer" */
        if (!literal_of(ld, s, buf, len))
            snprintf(buf, len, "%g", config_setting_get_float(s));
        break;
    case CONFIG_TYPE_BOOL:
        snprintf(buf, len, "%s", config_setting_get_bool(s) ? "true" : "false");
        break;
    case CONFIG_TYPE_GROUP:
        snprintf(buf, len, "a group");
        break;
    default:
        snprintf(buf, len, "a list");
        break;
    }
}

/* "config: FILE line N: 'SETTING': WHAT VALUE", then the hint: the one form of every message
 * about a setting, errors and warnings alike. */
static void report(void (*emit)(const char *, ...), const char *file, int line,
                   const char *setting, const char *what, const char *value, const char *hint)
{
    emit("config: '%s' line %d: '%s': %s %s", file, line, setting, what, value);
    if (hint)
        log_hint("%s", hint);
}

static bool fail(const struct loader *ld, const config_setting_t *s, const char *what,
                 const char *hint)
{
    char path[256], value[512];
    path_of(s, path, sizeof path);
    value_of(ld, s, value, sizeof value);
    report(log_error, file_of(ld, s), config_setting_source_line(s), path, what, value, hint);
    return false;
}

/* ---- typed getters ------------------------------------------------------------------ */

static bool get_string(const struct loader *ld, const config_setting_t *s, char **out,
                       const char *hint)
{
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return fail(ld, s, "expected a string, got", hint);
    const char *v = config_setting_get_string(s);
    const char *c = v;
    while (isspace((unsigned char)*c))
        c++;
    if (!*c) /* blank: a command of spaces ran the manifest itself */
        return fail(ld, s, "must not be empty, got", hint);
    free(*out);
    *out = strdup(v);
    return true;
}

/* A path lethe writes to: absolute, since a timer's working directory is not the operator's. */
static bool get_path(const struct loader *ld, const config_setting_t *s, char **out, const char *hint)
{
    if (!get_string(ld, s, out, hint))
        return false;
    if ((*out)[0] != '/')
        return fail(ld, s, "must be an absolute path, got", hint);
    return true;
}

static bool get_duration(const struct loader *ld, const config_setting_t *s, struct duration *out,
                         bool positive)
{
    char hint[128];
    const char *leaf = config_setting_name(s);
    /* The unit a bare number most likely meant: seconds for a deleter's timeout, days else. */
    const char *unit = strcmp(leaf, "timeout") == 0 ? "s" : "d";
    if (config_setting_type(s) == CONFIG_TYPE_INT || config_setting_type(s) == CONFIG_TYPE_INT64) {
        long long n = int_value(ld, s);
        if (n < 0 || n == LLONG_MAX)
            return fail(ld, s, "bad duration",
                        "a duration is a non-negative integer and a unit (s, m, h, d, w or mo), "
                        "e.g. \"30d\"");
        snprintf(hint, sizeof hint, "durations take a unit, e.g. \"%lld%s\"", n, unit);
        return fail(ld, s, "bad duration", hint);
    }
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return fail(ld, s, "bad duration",
                    "a duration is a quoted integer and a unit (s, m, h, d, w or mo), e.g. \"30d\"");
    const char *v = config_setting_get_string(s);
    struct duration d;
    if (!duration_parse(v, &d)) {
        char *end;
        errno = 0;
        long long n = strtoll(v, &end, 10);
        bool digits = isdigit((unsigned char)*v) && errno == 0;
        if (digits && *end == '\0') {
            snprintf(hint, sizeof hint, "durations take a unit, e.g. \"%lld%s\"", n, unit);
            return fail(ld, s, "bad duration", hint);
        }
        /* Digits and a known unit that duration_parse refused: too long for PostgreSQL's
         * intervals and timestamps to hold with room to spare. */
        if (isdigit((unsigned char)*v) &&
            (strcmp(end, "s") == 0 || strcmp(end, "m") == 0 || strcmp(end, "h") == 0 ||
             strcmp(end, "d") == 0 || strcmp(end, "w") == 0 || strcmp(end, "mo") == 0))
            return fail(ld, s, "out of range, got",
                        "a duration is at most 1000 years, e.g. \"365250d\" or \"12000mo\"");
        return fail(ld, s, "bad duration",
                    "a duration is a non-negative integer and a unit (s, m, h, d, w or mo), "
                    "e.g. \"30d\"");
    }
    if (positive && duration_is_zero(&d)) {
        snprintf(hint, sizeof hint, "'%s' must be longer than zero, e.g. \"%s\"", leaf,
                 strcmp(leaf, "timeout") == 0 ? "15m" : "2d");
        return fail(ld, s, "must be positive, got", hint);
    }
    *out = d;
    return true;
}

/* ---- the schema --------------------------------------------------------------------- */

static bool unknown(const struct loader *ld, const config_setting_t *s, const char *known)
{
    char hint[256];
    snprintf(hint, sizeof hint, "known settings here: %s", known);
    char path[256];
    path_of(s, path, sizeof path);
    log_error("config: '%s' line %d: '%s': unknown setting", file_of(ld, s),
              config_setting_source_line(s), path);
    log_hint("%s", hint);
    return false;
}

static bool need_group(const struct loader *ld, const config_setting_t *s, const char *hint)
{
    if (config_setting_type(s) != CONFIG_TYPE_GROUP)
        return fail(ld, s, "expected a group, got", hint);
    return true;
}

static bool load_database(const struct loader *ld, const config_setting_t *g)
{
    for (int i = 0; i < config_setting_length(g); i++) {
        config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        if (strcmp(config_setting_name(s), "conninfo") == 0) {
            if (!get_string(ld, s, &ld->cfg->conninfo,
                            "conninfo is a libpq connection string, e.g. "
                            "\"host=/run/postgresql dbname=lethe\""))
                return false;
            remember_where(s, &ld->cfg->conninfo_line, &ld->cfg->conninfo_conf);
            /* Judged here, where the file and line are known; the value is not shown: it may
             * hold a password. */
            char *why = NULL;
            PQconninfoOption *o = PQconninfoParse(ld->cfg->conninfo, &why);
            if (!o) {
                char what[600], said[512];
                text_conninfo_said(why ? why : "out of memory", ld->cfg->conninfo, said,
                                   sizeof said);
                snprintf(what, sizeof what, "libpq cannot read it (%s):", said);
                report(log_error, file_of(ld, s), config_setting_source_line(s),
                       "database.conninfo", what, "(the value is not shown: it may hold a password)",
                       "conninfo is key=value pairs or a postgresql:// URI, e.g. "
                       "\"host=/run/postgresql dbname=lethe\"");
                PQfreemem(why);
                return false;
            }
            /* A password in a file others can read is anyone's (the key file is judged the
             * same way below); libpq's own ~/.pgpass is refused when it is group- or
             * world-readable. Said at every command, not fatal: a DBA's choice. */
            bool password = false;
            bool bad_port = false;
            for (PQconninfoOption *k = o; k->keyword; k++) {
                password |= strcmp(k->keyword, "password") == 0 && k->val && *k->val;
                /* libpq reads the port only when it connects, where a word there is a runtime
                 * error (exit 1) that names no file. */
                if (strcmp(k->keyword, "port") == 0 && k->val && !text_port_valid(k->val))
                    bad_port = true;
            }
            if (bad_port) {
                /* Not shown either: with "port= password=x" libpq takes the password for it. */
                report(log_error, file_of(ld, s), config_setting_source_line(s),
                       "database.conninfo", "its port is not a port number",
                       "(the value is not shown: it may hold a password)",
                       "port=N, N from 1 to 65535 (or several, comma-separated, one per host)");
                PQconninfoFree(o);
                return false;
            }
            PQconninfoFree(o);
            struct stat fst;
            if (password && stat(file_of(ld, s), &fst) == 0 && (fst.st_mode & S_IROTH)) {
                char what[160], hint[PATH_MAX + 200];
                snprintf(what, sizeof what,
                         "holds a password, and other users can read the file (mode %04o):",
                         (unsigned)(fst.st_mode & 07777));
                snprintf(hint, sizeof hint,
                         "chmod 0640 %s (root:lethe), or keep the password out of the config: in "
                         "the lethe user's ~/.pgpass (mode 0600) or a PGPASSFILE",
                         file_of(ld, s));
                report(log_warn, file_of(ld, s), config_setting_source_line(s),
                       "database.conninfo", what, "(the value is not shown)", hint);
            }
        } else {
            return unknown(ld, s, "conninfo");
        }
    }
    return true;
}

static bool load_spool(const struct loader *ld, const config_setting_t *g)
{
    for (int i = 0; i < config_setting_length(g); i++) {
        config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const char *n = config_setting_name(s);
        if (strcmp(n, "directory") == 0) {
            if (!get_path(ld, s, &ld->cfg->spool_dir,
                            "directory is an absolute path, e.g. \"/var/lib/lethe/spool\""))
                return false;
            remember_where(s, &ld->cfg->spool_line, &ld->cfg->spool_conf);
            /* "/var/lib/lethe/spool/" named its manifests ".../spool//EU/ID.jsonl". */
            char *d = ld->cfg->spool_dir;
            for (size_t n = strlen(d); n > 1 && d[n - 1] == '/'; n--)
                d[n - 1] = '\0';
        } else if (strcmp(n, "keep") == 0) {
            if (!get_duration(ld, s, &ld->cfg->spool_keep, false))
                return false;
        } else {
            return unknown(ld, s, "directory, keep");
        }
    }
    return true;
}

static bool valid_geo(const char *g)
{
    if (!*g || strlen(g) > 32)
        return false;
    for (const char *p = g; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return false;
    return true;
}

/* Why the manifest path lethe appends to COMMAND (`COMMAND "$1"`, run by /bin/sh) would not
 * reach it, or NULL: a comment (#) outside quotes takes the path into the comment, and a
 * trailing ';', '&' or '|' or a line break makes it a command of its own. */
static const char *command_drops_path(const char *command)
{
    char quote = 0;
    const char *p = command, *last = NULL; /* the last character outside quotes and escapes */
    for (; *p; p++) {
        if (quote) {
            if (*p == quote)
                quote = 0;
            else if (quote == '"' && *p == '\\' && p[1])
                p++;
            continue;
        }
        if (*p == '\\' && p[1]) {
            p++;
            last = NULL;
            continue;
        }
        if (*p == '\'' || *p == '"')
            quote = *p;
        else if (*p == '#' && (p == command || strchr(" \t\n;&|(", p[-1]))) {
            /* A comment runs to its line's end: on a line before the last it is harmless. */
            const char *end = strchr(p, '\n');
            if (!end || end[strspn(end, " \t\n")] == '\0')
                return "a comment ('#') would take the manifest path lethe appends into it";
            p = end;
        }
        if (*p != ' ' && *p != '\t' && *p != '\n')
            last = p;
    }
    if (last && strchr(";&|", *last))
        return "a trailing ';', '&' or '|' would make the manifest path lethe appends a command "
               "of its own";
    if (last && strchr("<>", *last))
        return "a trailing '<' or '>' would make the manifest path lethe appends a redirection "
               "(a '>' would overwrite the manifest)";
    return NULL;
}

/* A deleter's command that the manifest path would not reach is refused: its batches would
 * fail at every run, with nothing in the config to say why (an outside tryout wrote
 * "del.sh   # US deleter"). */
static bool command_takes_path(const struct loader *ld, const config_setting_t *s,
                               const char *command)
{
    const char *why = command_drops_path(command);
    if (!why)
        return true;
    char what[200];
    snprintf(what, sizeof what, "%s; got", why);
    bool comment = strncmp(why, "a comment", 9) == 0;
    return fail(ld, s, what,
                comment ? "lethe runs the command as written with the manifest path appended as "
                          "one more argument; move a comment to a line of its own, e.g. "
                          "# US deleter, then command = \"/usr/libexec/lethe/us-delete\";"
                        : "lethe runs the command as written with the manifest path appended as "
                          "one more argument; end it with the deleter and its options, e.g. "
                          "command = \"/usr/libexec/lethe/us-delete --root /srv\";");
}

static bool load_executor(const struct loader *ld, const config_setting_t *g)
{
    struct lethe_config *cfg = ld->cfg;
    for (int i = 0; i < config_setting_length(g); i++) {
        config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        const char *n = config_setting_name(s);
        if (strcmp(n, "command") == 0) {
            if (!get_string(ld, s, &cfg->executor_command,
                            "command is the path of the deleter, e.g. "
                            "\"/usr/libexec/lethe/fs-delete\""))
                return false;
            if (!command_takes_path(ld, s, cfg->executor_command))
                return false;
            remember_where(s, &cfg->executor_line, &cfg->executor_conf);
        } else if (strcmp(n, "timeout") == 0) {
            if (!get_duration(ld, s, &cfg->executor_timeout, true))
                return false;
        } else if (strcmp(n, "locations") == 0) {
            if (!need_group(ld, s, "locations is a group of GEO = \"command\"; entries"))
                return false;
            for (int j = 0; j < config_setting_length(s); j++) {
                config_setting_t *l = config_setting_get_elem(s, (unsigned)j);
                if (!valid_geo(config_setting_name(l)))
                {
                    /* The key is what is wrong: it is quoted, not the command. */
                    char path[256], key[160];
                    path_of(l, path, sizeof path);
                    snprintf(key, sizeof key, "\"%s\"", text_shown(config_setting_name(l)));
                    report(log_error, file_of(ld, l), config_setting_source_line(l), path,
                           "is not a geo name (upper-case letters, digits, _), got the key", key,
                           "name a geo as the catalog does, e.g. EU = \"/usr/libexec/lethe/eu-delete\";");
                    return false;
                }
                if (cfg->n_locations >= MAX_LOCATIONS)
                    return fail(ld, l, "too many locations, got", "at most 64 geos");
                struct location_executor *le = &cfg->locations[cfg->n_locations];
                le->geo = strdup(config_setting_name(l));
                le->command = NULL;
                le->line = config_setting_source_line(l);
                le->file = config_setting_source_file(l) ? strdup(config_setting_source_file(l)) : NULL;
                cfg->n_locations++;
                if (!get_string(ld, l, &le->command,
                                "each location names its deleter, e.g. "
                                "EU = \"/usr/libexec/lethe/eu-delete\";"))
                    return false;
                if (!command_takes_path(ld, l, le->command))
                    return false;
            }
        } else {
            return unknown(ld, s, "command, timeout, locations");
        }
    }
    return true;
}

static bool load_audit(const struct loader *ld, const config_setting_t *g)
{
    for (int i = 0; i < config_setting_length(g); i++) {
        config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        if (strcmp(config_setting_name(s), "key_file") == 0) {
            /* Only named here: the commands that use the key read it (config_read_audit_key),
             * so that one without it (migrate as the database owner) need not read it. */
            /* Absolute, as every path lethe reads or writes: a relative one was read from the
             * directory lethe happened to be started in (a timer's is /). */
            if (!get_path(ld, s, &ld->cfg->audit_key_file,
                          "key_file is the path of the HMAC key, e.g. \"/etc/lethe/audit.key\""))
                return false;
            remember_where(s, &ld->cfg->audit_key_line, &ld->cfg->audit_key_conf);
        } else if (strcmp(config_setting_name(s), "anchor_file") == 0) {
            if (!get_path(ld, s, &ld->cfg->anchor_file,
                            "anchor_file is the path of the anchor file, e.g. "
                            "\"/var/lib/lethe/anchors.jsonl\""))
                return false;
            remember_where(s, &ld->cfg->anchor_line, &ld->cfg->anchor_conf);
        } else {
            return unknown(ld, s, "key_file, anchor_file");
        }
    }
    return true;
}

static bool load_batch(const struct loader *ld, const config_setting_t *g)
{
    for (int i = 0; i < config_setting_length(g); i++) {
        config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        if (strcmp(config_setting_name(s), "max_items") == 0) {
            int t = config_setting_type(s);
            if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
                return fail(ld, s, "expected an integer, got",
                            "max_items is a whole number, e.g. max_items = 10000;");
            long long v = int_value(ld, s);
            if (v < 1)
                return fail(ld, s, "must be 1 or more, got",
                            "a batch holds at least one item, e.g. max_items = 10000;");
            /* The database takes it as an integer (lethe.emit_batches). */
            if (v > INT32_MAX)
                return fail(ld, s, "must be 2147483647 or less, got",
                            "max_items is a whole number from 1 to 2147483647, "
                            "e.g. max_items = 10000;");
            ld->cfg->batch_max_items = v;
        } else {
            return unknown(ld, s, "max_items");
        }
    }
    return true;
}

static bool load_schedule(const struct loader *ld, const config_setting_t *g)
{
    for (int i = 0; i < config_setting_length(g); i++) {
        config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        if (strcmp(config_setting_name(s), "lookahead") == 0) {
            if (!get_duration(ld, s, &ld->cfg->lookahead, true))
                return false;
            remember_where(s, &ld->cfg->lookahead_line, &ld->cfg->lookahead_conf);
        } else {
            return unknown(ld, s, "lookahead");
        }
    }
    return true;
}

static bool load_metrics(const struct loader *ld, const config_setting_t *g)
{
    for (int i = 0; i < config_setting_length(g); i++) {
        config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        if (strcmp(config_setting_name(s), "file") == 0) {
            if (!get_path(ld, s, &ld->cfg->metrics_file,
                            "file is where each run writes its metrics, e.g. "
                            "\"/var/lib/prometheus/node-exporter/lethe.prom\""))
                return false;
            remember_where(s, &ld->cfg->metrics_line, &ld->cfg->metrics_conf);
        } else {
            return unknown(ld, s, "file");
        }
    }
    return true;
}

/* A rule's deadline against its commitment (commitments[]). A deadline may be shortened, never lengthened: a longer one would schedule every pending item
 * past the commitment and record its purge as on time (an outside tryout's "30mo" for "30d").
 * Longer means longer at some instant: a month counts 31 days here and 28 in the commitment,
 * unless both are counted in the same units. */
static bool within_commitment(const struct duration *d, const struct duration *commitment)
{
    const int64_t day = 86400;
    return (d->months <= commitment->months && d->seconds <= commitment->seconds) ||
           d->seconds + (int64_t)d->months * 31 * day <=
               commitment->seconds + (int64_t)commitment->months * 28 * day;
}

static bool load_rules(const struct loader *ld, const config_setting_t *g)
{
    for (int i = 0; i < config_setting_length(g); i++) {
        config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        int r;
        for (r = 0; r < RULE_COUNT; r++)
            if (strcmp(config_setting_name(s), rule_names[r]) == 0)
                break;
        if (r == RULE_COUNT)
            return unknown(ld, s,
                           "deletion_request, subject_request, capacity_deleted, "
                           "sharing_opt_out, shared_retention");
        if (!need_group(ld, s, "each rule is a group, e.g. "
                               "deletion_request: { deadline = \"30d\"; grace = \"0d\"; };"))
            return false;
        struct rule_config *rc = &ld->cfg->rules[r];
        for (int j = 0; j < config_setting_length(s); j++) {
            config_setting_t *k = config_setting_get_elem(s, (unsigned)j);
            const char *n = config_setting_name(k);
            if (strcmp(n, "deadline") == 0) {
                if (!get_duration(ld, k, &rc->deadline, true))
                    return false;
                const struct duration *c = &commitments[r];
                if (!within_commitment(&rc->deadline, c)) {
                    char committed[32], hint[288];
                    duration_format(c, committed, sizeof committed);
                    /* In days, a calendar month is as short as February. */
                    snprintf(hint, sizeof hint,
                             "the published commitment is %s: a deadline may be shortened, "
                             "never lengthened; write deadline = \"%s\" or less%s",
                             committed, committed,
                             c->months && !c->seconds ? " (in days, \"28d\" or less: a month "
                                                        "can be that short)"
                                                      : "");
                    return fail(ld, k, "longer than the commitment it keeps, got", hint);
                }
            } else if (strcmp(n, "grace") == 0) {
                if (!get_duration(ld, k, &rc->grace, false))
                    return false;
            } else if (strcmp(n, "enabled") == 0) {
                if (config_setting_type(k) != CONFIG_TYPE_BOOL)
                    return fail(ld, k, "expected true or false, got",
                                "write enabled = true; or enabled = false;");
                rc->enabled = config_setting_get_bool(k);
            } else {
                return unknown(ld, k, "deadline, grace, enabled");
            }
        }
    }
    return true;
}

static const struct {
    const char *name;
    bool (*load)(const struct loader *, const config_setting_t *);
} sections[] = {
    {"database", load_database}, {"spool", load_spool},   {"executor", load_executor},
    {"audit", load_audit},       {"batch", load_batch},   {"schedule", load_schedule},
    {"metrics", load_metrics},   {"rules", load_rules},
};

/* Config files and keys are small; anything larger is the wrong file. */
#define FILE_MAX_BYTES (1 << 20)

static const char TOO_LARGE[] = "larger than 1 MiB";

static const char *file_kind(mode_t m)
{
    return S_ISFIFO(m) ? "a FIFO" : S_ISCHR(m) ? "a character device" : S_ISBLK(m) ? "a block device"
         : S_ISSOCK(m) ? "a socket" : "an unknown kind";
}

/* Reads a regular file whole (as long as it was when opened), never blocking on a FIFO
 * (opened with O_NONBLOCK, then refused by fstat, as are devices, sockets and directories). Returns 0 and *out (NUL-terminated,
 * *len bytes), or an errno value, or -1 with *kind naming what the file is instead (a FIFO,
 * a device, ...) or TOO_LARGE. */
static int read_small_file(const char *path, char **out, size_t *len, const char **kind,
                           struct stat *st)
{
    *out = NULL;
    *len = 0;
    *kind = NULL;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return errno;
    int rc = 0;
    if (fstat(fd, st) != 0) {
        rc = errno;
        goto cleanup;
    }
    if (S_ISDIR(st->st_mode)) {
        rc = EISDIR;
        goto cleanup;
    }
    if (!S_ISREG(st->st_mode)) {
        *kind = file_kind(st->st_mode);
        rc = -1;
        goto cleanup;
    }
    if (st->st_size > FILE_MAX_BYTES) {
        *kind = TOO_LARGE;
        rc = -1;
        goto cleanup;
    }
    /* As large as fstat says, and no more: a key is never copied and left behind unwiped. */
    size_t size = (size_t)st->st_size;
    char *buf = malloc(size + 1);
    if (!buf) {
        rc = ENOMEM;
        goto cleanup;
    }
    size_t used = 0;
    while (used < size) {
        ssize_t n = read(fd, buf + used, size - used);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = errno;
            free(buf);
            goto cleanup;
        }
        if (n == 0)
            break;
        used += (size_t)n;
    }
    buf[used] = '\0';
    *out = buf;
    *len = used;
cleanup:
    close(fd);
    return rc;
}

/* libconfig opens the files that @include names itself, and its scanner blocks for ever on a
 * FIFO and exits the whole process on a directory. So every file that FILE's TEXT includes
 * (and that they include, as deep as libconfig goes) is opened here first, as the main file
 * is: a regular file of at most 1 MiB without NUL bytes, or a config error naming the file,
 * the line and the path. libconfig then reads what was checked. */
static bool check_includes(struct loader *ld, const char *file, const char *text, int depth)
{
    static const char hint[] = "@include names a regular config file, e.g. "
                               "@include \"/etc/lethe/lethe.conf.d/local.conf\"";
    int line = 1;
    for (const char *p = text; *p; line++) {
        const char *q = p + strspn(p, " \t");
        const char *eol = strchr(p, '\n');
        if (!eol)
            eol = p + strlen(p);
        if (strncmp(q, "@include", 8) == 0 && (q[8] == ' ' || q[8] == '\t')) {
            q += 8 + strspn(q + 8, " \t");
            const char *end = *q == '"' ? memchr(q + 1, '"', (size_t)(eol - q - 1)) : NULL;
            if (!end) {
                p = *eol ? eol + 1 : eol;
                continue; /* not an @include libconfig reads: its syntax error, reported below */
            }
            char *path = strndup(q + 1, (size_t)(end - q - 1));
            char *inc = NULL;
            size_t len;
            const char *kind;
            struct stat st;
            int rc = path ? read_small_file(path, &inc, &len, &kind, &st) : ENOMEM;
            bool ok = false, inner = false;
            if (rc > 0)
                log_error("config: '%s' line %d: '@include': cannot read \"%s\": %s", file, line,
                          path ? path : "", strerror(rc));
            else if (rc < 0)
                log_error("config: '%s' line %d: '@include': \"%s\" is %s, not a regular file of "
                          "settings", file, line, path, kind);
            else if (memchr(inc, '\0', len))
                log_error("config: '%s' line %d: '@include': \"%s\" holds a NUL byte: not a text "
                          "file", file, line, path);
            else if (depth >= 10 || ld->n_inc >= MAX_INCLUDES)
                log_error("config: '%s' line %d: '@include': \"%s\": more than %d includes, or "
                          "nested deeper than 10", file, line, path, MAX_INCLUDES);
            else
                inner = true, ok = check_includes(ld, path, inc, depth + 1);
            if (!ok && !inner && path && path[0] != '/' && rc > 0)
                log_hint("a relative path is read from the directory lethe runs in, not the "
                         "config's (a timer runs it from /): %s", hint);
            else if (!ok && !inner)
                log_hint("%s", hint);
            if (ok && ld->n_inc < MAX_INCLUDES) {
                ld->inc[ld->n_inc].path = path;
                ld->inc[ld->n_inc++].text = inc;
            } else {
                free(inc);
                free(path);
            }
            if (!ok)
                return false;
        }
        p = *eol ? eol + 1 : eol;
    }
    return true;
}

/* A duration in seconds, a month taken as MONTH seconds. */
static int64_t duration_seconds(const struct duration *d, int64_t month)
{
    return d->seconds + (int64_t)d->months * month;
}

/* A lookahead not shorter than the shortest deadline of a rule in force: every item is purged
 * as soon as it is due (due_at = max(t, min(t + grace, deadline - lookahead)), SPEC §3), and
 * `status --check` says that no run succeeded only after a lookahead (an outside tryout took
 * 400d: a stopped timer would have gone unreported for 400 days). Said, not refused: nothing it
 * does breaks a deadline. A month is taken short for the deadlines and long for the lookahead. */
static void lookahead_said(const struct lethe_config *cfg)
{
    int shortest = -1;
    int64_t best = 0;
    for (int r = 0; r < RULE_COUNT; r++) {
        int64_t d = duration_seconds(&cfg->rules[r].deadline, 28 * 86400);
        if (cfg->rules[r].enabled && (shortest < 0 || d < best))
            shortest = r, best = d;
    }
    if (shortest < 0 || duration_seconds(&cfg->lookahead, 31 * 86400) < best)
        return;
    char la[32], dl[32];
    duration_format(&cfg->lookahead, la, sizeof la);
    duration_format(&cfg->rules[shortest].deadline, dl, sizeof dl);
    log_warn("config: '%s' line %d: 'schedule.lookahead' %s is not shorter than the shortest "
             "deadline (%s, %s): every item is purged as soon as it is due, and 'status --check' "
             "says that no run succeeded only %s after the last one did",
             cfg->lookahead_conf ? cfg->lookahead_conf : cfg->path, cfg->lookahead_line, la,
             rule_name((enum rule_id)shortest), dl, la);
    log_hint("the lookahead is the longest the timer may go without a run (default 2d): keep it "
             "well under the shortest deadline");
}

bool config_load(struct lethe_config *cfg, const char *file)
{
    config_defaults(cfg);
    bool by_default = !file;
    if (!file) {
        /* Only a file that is not there leaves the defaults: one that is there but cannot be
         * reached (a directory the user may not search, a symlink to nothing) is an error, or a
         * timer would run on the defaults, rules and executor included, and exit 0. */
        struct stat st;
        if (lstat(DEFAULT_CONFIG_FILE, &st) != 0 && errno == ENOENT) {
            /* Absent, unless /etc/lethe itself is a link to nothing. */
            char dir[] = DEFAULT_CONFIG_FILE;
            *strrchr(dir, '/') = '\0';
            if (!(lstat(dir, &st) == 0 && S_ISLNK(st.st_mode) && stat(dir, &st) != 0))
                return true;
        }
        file = DEFAULT_CONFIG_FILE;
    }
    cfg->path = strdup(file);
    config_t lc;
    config_init(&lc);
    bool ok = false;
    char *text = NULL;
    struct loader ld = {.file = cfg->path, .cfg = cfg};
    size_t len;
    const char *kind;
    struct stat st;
    /* Read here rather than by libconfig: its scanner exits the whole process when read()
     * fails, as it does on a directory, and a FIFO would block forever. */
    int rc = read_small_file(file, &text, &len, &kind, &st);
    if (rc > 0) {
        if (rc == EISDIR)
            log_error("config: '%s': cannot read: %s", file, strerror(rc));
        else
            log_error("config: '%s': cannot open: %s", file, strerror(rc));
        if (rc == EACCES)
            log_hint("give the user lethe runs as read access to it and search access to its "
                     "directory (e.g. chgrp lethe FILE; chmod 0640 FILE)%s",
                     by_default ? "; lethe does not run on its defaults while the file is there. "
                                  "A person's own account outside group lethe (an auditor's, an "
                                  "operator's): the file made readable to all once it holds no "
                                  "password, or a copy of one's own passed with --config "
                                  "(README, \"People's own accounts\")"
                                : "");
        else if (by_default)
            log_hint("the default config file is there but cannot be read%s: make it a readable "
                     "file, or remove it to use the defaults",
                     rc == EISDIR ? "" : " (a symlink to nothing?)");
        else
            log_hint("pass an existing file with --config, or leave it out to use the defaults");
        goto cleanup;
    }
    if (rc < 0) {
        if (kind == TOO_LARGE) {
            log_error("config: '%s': cannot read: %s", file, kind);
            log_hint("a config file is a few lines of settings; is '%s' the right file?", file);
        } else {
            log_error("config: '%s': not a regular file (%s)", file, kind);
            log_hint("--config takes a regular file, not a pipe, a socket or a device");
        }
        goto cleanup;
    }
    /* A NUL would end the text libconfig sees, silently dropping what follows. */
    const char *nul = memchr(text, '\0', len);
    if (nul) {
        int line = 1;
        for (const char *p = text; p < nul; p++)
            line += *p == '\n';
        log_error("config: '%s' line %d: a NUL byte: not a text file", file, line);
        log_hint("settings look like 'name = value;' inside 'group: { ... };', "
                 "strings in double quotes");
        goto cleanup;
    }
    /* A byte order mark (an editor's "UTF-8 with BOM") is a syntax error to libconfig, which
     * named the first setting as its culprit. */
    if (strncmp(text, "\xEF\xBB\xBF", 3) == 0) {
        log_error("config: '%s' line 1: the file begins with a byte order mark (bytes EF BB BF), "
                  "which libconfig cannot read", file);
        log_hint("save it as UTF-8 without a byte order mark, e.g. sed -i '1s/^\\xEF\\xBB\\xBF//' "
                 "'%s'", file);
        goto cleanup;
    }
    ld.text = text;
    if (!check_includes(&ld, file, text, 0))
        goto cleanup;
    if (config_read_string(&lc, text) != CONFIG_TRUE) {
        const char *why = config_error_text(&lc);
        const char *where = config_error_file(&lc) ? config_error_file(&lc) : file;
        const char *near = strcmp(where, file) == 0 ? syntax_near(text, config_error_line(&lc)) : "";
        if (!why || strcmp(why, "syntax error") == 0)
            log_error("config: '%s' line %d%s: syntax error", where, config_error_line(&lc), near);
        else
            log_error("config: '%s' line %d%s: syntax error: %s", where, config_error_line(&lc),
                      near, why);
        if (why && strcmp(why, "duplicate setting name") == 0 && strcmp(where, file) == 0)
            log_hint("a setting is given twice in one group, or a group twice; keep one of them "
                     "(line %d: %s)",
                     config_error_line(&lc), text_shown(line_of(text, config_error_line(&lc))));
        else if (why && strcmp(why, "duplicate setting name") == 0)
            log_hint("a setting is given twice in one group, or a group twice; keep one of them");
        else
            log_hint("settings look like 'name = value;' inside 'group: { ... };', "
                     "strings in double quotes");
        goto cleanup;
    }
    config_setting_t *root = config_root_setting(&lc);
    for (int i = 0; i < config_setting_length(root); i++) {
        config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
        size_t k;
        for (k = 0; k < sizeof sections / sizeof sections[0]; k++)
            if (strcmp(config_setting_name(s), sections[k].name) == 0)
                break;
        if (k == sizeof sections / sizeof sections[0]) {
            unknown(&ld, s, "database, spool, executor, audit, batch, schedule, metrics, rules");
            goto cleanup;
        }
        char hint[128];
        snprintf(hint, sizeof hint, "write %s as a group: %s: { ... };", sections[k].name,
                 sections[k].name);
        if (!need_group(&ld, s, hint) || !sections[k].load(&ld, s))
            goto cleanup;
    }
    if (cfg->lookahead_line > 0)
        lookahead_said(cfg);
    ok = true;
cleanup:
    for (int i = 0; i < ld.n_inc; i++) {
        /* kept: no command writes over a file the config is made of (lethe_file_refused) */
        if (ok && cfg->n_includes < LETHE_MAX_INCLUDES)
            cfg->includes[cfg->n_includes++] = ld.inc[i].path;
        else
            free(ld.inc[i].path);
        free(ld.inc[i].text);
    }
    free(text);
    config_destroy(&lc);
    return ok;
}

bool config_read_audit_key(const struct lethe_config *cfg, struct audit_key *key)
{
    key->bytes = NULL;
    key->len = 0;
    const char *path = cfg->audit_key_file;
    if (!path)
        return true;
    const char *setting = "audit.key_file";
    const char *file = cfg->audit_key_conf ? cfg->audit_key_conf : cfg->path ? cfg->path : "(none)";
    int line = cfg->audit_key_line;
    char value[PATH_MAX + 3], what[300], create[PATH_MAX + 200];
    snprintf(value, sizeof value, "\"%s\"", path);
    snprintf(create, sizeof create,
             "create it with 'head -c 32 /dev/urandom > %s' and make it readable by the lethe "
             "user, or remove the setting",
             path);
    const char *names =
        "key_file names the file that holds the HMAC key, e.g. \"/etc/lethe/audit.key\"";
    char *text = NULL;
    size_t len = 0;
    const char *kind;
    struct stat st;
    int rc = read_small_file(path, &text, &len, &kind, &st);
    if (rc > 0) {
        /* A key that exists and cannot be read is the key the audit's HMACs were made with: a
         * new one (or none) would match none of them (subject requests, reconcile's locators).
         * Only a missing file is to be created. */
        char perms[PATH_MAX + 300];
        snprintf(perms, sizeof perms,
                 "the file exists: give the lethe user read access to it (root:lethe 0640, or "
                 "owned by lethe 0600) and run as that user; do not create a new key or remove "
                 "the setting: the HMACs recorded so far were made with this one");
        snprintf(what, sizeof what, "cannot read the key file (%s):", strerror(rc));
        report(log_error, file, line, setting, what, value,
               rc == EISDIR ? names : rc == ENOENT ? create : perms);
        return false;
    }
    if (rc < 0) {
        if (kind == TOO_LARGE)
            snprintf(what, sizeof what, "the key file is %s:", kind);
        else
            snprintf(what, sizeof what, "the key file is not a regular file (%s):", kind);
        report(log_error, file, line, setting, what, value, names);
        return false;
    }
    if (len == 0) {
        free(text);
        report(log_error, file, line, setting, "the key file is empty:", value, create);
        return false;
    }
    /* As PostgreSQL judges ssl_key_file: private to its owner, or readable by a group too
     * when root owns it (root:lethe 0640). Anyone who can read the key can test guesses of a
     * subject id against the audit's HMACs. */
    mode_t loose = st.st_uid == 0 ? (S_IRWXO | S_IWGRP | S_IXGRP) : (S_IRWXG | S_IRWXO);
    if (st.st_mode & loose) {
        snprintf(what, sizeof what, "the key file can be read or changed by other users (mode %04o):",
                 (unsigned)(st.st_mode & 07777));
        snprintf(create, sizeof create,
                 "chmod 0600 %s, owned by the user lethe runs as (or 0640 owned by root and the "
                 "lethe group)",
                 path);
        report(log_warn, file, line, setting, what, value, create);
    }
    /* RFC 2104: a key shorter than the hash's output weakens the HMAC; a few bytes are a
     * password anyone can search for, and with it test subject ids against the audit. */
    if (len < 32) {
        snprintf(what, sizeof what, "the key file holds only %zu byte%s:", len, len == 1 ? "" : "s");
        snprintf(create, sizeof create,
                 "an HMAC-SHA256 key is 32 random bytes or more ('head -c 32 /dev/urandom > %s' "
                 "for a new install); a key already in use stays until it is rotated: the HMACs "
                 "recorded so far were made with it",
                 path);
        report(log_warn, file, line, setting, what, value, create);
    }
    key->bytes = (unsigned char *)text;
    key->len = len;
    return true;
}

/* ---- the files a run writes after its work ------------------------------------------- */

/* The user lethe runs as, for hints about what that user may write or run. */
static const char *run_user(void)
{
    static char name[64];
    return user_name(geteuid(), name, sizeof name) ? name : "?";
}

/* Why PATH cannot be written as a run writes it, or NULL. APPEND: the anchor file, appended to
 * without following a link, created when missing with its directory (one level, as
 * anchor.c does); else the metrics file, replaced by a temporary made in its directory. */
static const char *path_refuses(const char *path, bool append, char *why, size_t cap,
                                bool *unreadable)
{
    char *copy = strdup(path);
    if (!copy) {
        snprintf(why, cap, "out of memory");
        return why;
    }
    const char *dir = dirname(copy), *bad = NULL;
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            snprintf(why, cap, "it is a directory");
            bad = why;
        } else if (append && S_ISLNK(st.st_mode)) {
            snprintf(why, cap, "it is a symbolic link, which the anchor file is never written through");
            bad = why;
        } else if (append && !S_ISREG(st.st_mode)) {
            snprintf(why, cap, "it is not a regular file");
            bad = why;
        } else if (append) {
            int fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
            int wfd = fd < 0 && errno == EACCES
                          ? open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY)
                          : -1;
            if (wfd >= 0) {
                /* A run reads the anchors back before it appends: write-only is not enough
                 * (it was reported as "Permission denied", as if it could not be written). */
                close(wfd);
                snprintf(why, cap, "it can be appended to, but a run reads its anchors back "
                                   "first");
                *unreadable = true;
                bad = why;
            } else if (fd < 0) {
                snprintf(why, cap, "%s", strerror(errno));
                bad = why;
            } else {
                close(fd);
            }
        } else {
            bad = afile_dir_refuses(dir, why, cap);
        }
    } else if (errno != ENOENT) {
        snprintf(why, cap, "%s", strerror(errno));
        bad = why;
    } else if (!append || stat(dir, &st) == 0) {
        bad = afile_dir_refuses(dir, why, cap);
    } else {
        char *up = strdup(dir);
        bad = up ? afile_dir_refuses(dirname(up), why, cap) : "out of memory";
        free(up);
    }
    free(copy);
    return bad;
}

static bool file_refused(const char *setting, const char *option, const char *path, bool append,
                         const char *conf, int line, const char *hint)
{
    char why[PATH_MAX + 200], what[PATH_MAX + 240], value[PATH_MAX + 3], full[600];
    bool unreadable = false;
    if (!path_refuses(path, append, why, sizeof why, &unreadable))
        return false;
    const char *verb = unreadable ? "cannot be read" : "cannot be written";
    snprintf(full, sizeof full, "%s (lethe runs as user %s); nothing was done", hint, run_user());
    snprintf(value, sizeof value, "\"%s\"", path);
    if (option) {
        log_error("run: %s %s: %s: %s", option, value, verb, why);
        log_hint("%s", full);
    } else if (line > 0 && conf) {
        snprintf(what, sizeof what, "%s (%s):", verb, why);
        report(log_error, conf, line, setting, what, value, full);
    } else {
        log_error("config: '%s' (the default, %s): %s: %s", setting, value, verb, why);
        log_hint("%s", full);
    }
    return true;
}

/* How the shell reads the first word of a command. */
enum first_word {
    WORD_AS_WRITTEN, /* in PROG, quotes and escapes taken away */
    WORD_REWRITTEN,  /* $HOME, ~, a glob, VAR=x, a redirection, or too long: the shell's to judge */
    WORD_UNCLOSED,   /* a quote not closed: the shell refuses the whole command */
};

/* The first word of COMMAND as the shell reads it, into PROG: plain characters, '...', "..."
 * (where a backslash escapes only $, `, " and itself, as in the shell) and backslash escapes. */
static enum first_word first_word(const char *command, char *prog, size_t pcap)
{
    size_t n = 0;
    const char *c = command;
    while (isspace((unsigned char)*c))
        c++;
    while (*c && !isspace((unsigned char)*c)) {
        if (n + 2 >= pcap)
            return WORD_REWRITTEN;
        if (*c == '\'') {
            const char *end = strchr(c + 1, '\'');
            if (!end)
                return WORD_UNCLOSED;
            for (c++; c < end && n + 1 < pcap; c++)
                prog[n++] = *c;
            if (c < end)
                return WORD_REWRITTEN;
            c++;
        } else if (*c == '"') {
            for (c++; *c != '"'; c++) {
                if (!*c)
                    return WORD_UNCLOSED;
                if (*c == '$' || *c == '`' || n + 2 >= pcap)
                    return WORD_REWRITTEN;
                if (*c == '\\' && c[1] && strchr("$`\"\\", c[1]))
                    c++;
                else if (*c == '\\' && c[1] == '\n')
                    return WORD_REWRITTEN;
                prog[n++] = *c;
            }
            c++;
        } else if (*c == '\\') {
            if (!c[1] || c[1] == '\n')
                return WORD_REWRITTEN;
            prog[n++] = c[1];
            c += 2;
        } else if (strchr(";&|<>", *c)) {
            /* an operator ends the word as a blank does ('/x/del;true' runs /x/del); one that
             * begins the command (a redirection first) is the shell's to judge */
            if (n == 0 && c == command + strspn(command, " \t\n"))
                return WORD_REWRITTEN;
            break;
        } else {
            if (strchr("$`*?[~=(){}", *c))
                return WORD_REWRITTEN;
            prog[n++] = *c++;
        }
    }
    prog[n] = '\0';
    return WORD_AS_WRITTEN;
}

/* Why the program COMMAND starts is no executable file, or NULL. Judged when the shell takes its
 * first word as written and it is a path (a '/' in it), quoted or not ('/opt/lethe deleters/x'
 * was left to the shell, and every batch failed with its status 127), and when the shell would
 * refuse the command (a quote not closed) or run nothing (''). A bare name is looked up by the
 * shell in its PATH, and a word the shell rewrites is the shell's to judge. */
static const char *program_refuses(const char *command, char *prog, size_t pcap, char *why,
                                   size_t cap)
{
    enum first_word w = first_word(command, prog, pcap);
    if (w == WORD_UNCLOSED) {
        snprintf(why, cap, "a quote in it is not closed, and the shell refuses the command");
        return why;
    }
    if (w == WORD_REWRITTEN)
        return NULL;
    if (!prog[0]) {
        snprintf(why, cap, "its program is empty (its first word is an empty quote)");
        return why;
    }
    if (!strchr(prog, '/'))
        return NULL;
    struct stat st;
    if (stat(prog, &st) != 0)
        snprintf(why, cap, "its program '%s': %s", prog, strerror(errno));
    else if (S_ISDIR(st.st_mode))
        snprintf(why, cap, "its program '%s' is a directory", prog);
    else if (access(prog, X_OK) != 0)
        snprintf(why, cap, "its program '%s' cannot be executed: %s", prog, strerror(errno));
    else
        return NULL;
    return why;
}

static bool executor_refused(void (*emit)(const char *, ...), const char *setting,
                             const char *command, const char *conf, int line)
{
    char prog[PATH_MAX], why[PATH_MAX + 200], what[PATH_MAX + 240], value[1024];
    if (!program_refuses(command, prog, sizeof prog, why, sizeof why))
        return false;
    char hint[PATH_MAX + 200];
    snprintf(hint, sizeof hint,
             "%s starts the deleter: name an executable file the lethe user (%s) can run, e.g. "
             "\"/usr/libexec/lethe/fs-delete --root /srv/data\"%s",
             setting, run_user(), emit == log_error ? "; nothing was done" : "");
    snprintf(value, sizeof value, "\"%.1000s\"", command);
    snprintf(what, sizeof what, "%s:", why);
    report(emit, conf ? conf : "(none)", line, setting, what, value, hint);
    return true;
}

bool config_check_executors(const struct lethe_config *cfg, bool warn_only)
{
    void (*emit)(const char *, ...) = warn_only ? log_warn : log_error;
    if (cfg->executor_command &&
        executor_refused(emit, "executor.command", cfg->executor_command,
                         cfg->executor_conf ? cfg->executor_conf : cfg->path, cfg->executor_line))
        return false;
    for (int i = 0; i < cfg->n_locations; i++) {
        char setting[64];
        snprintf(setting, sizeof setting, "executor.locations.%s", cfg->locations[i].geo);
        if (executor_refused(emit, setting, cfg->locations[i].command,
                             cfg->locations[i].file ? cfg->locations[i].file : cfg->path,
                             cfg->locations[i].line))
            return false;
    }
    return true;
}

/* Why the spool directory DIR cannot take a run's manifests, or NULL. A run makes it when
 * missing, and its parent too (one level, as the anchor file's: manifest.c), then a directory
 * per location in it, each manifest written to a temporary there and renamed: it must be a
 * directory this user can list, write and search. */
static const char *spool_refuses(const char *dir, char *why, size_t cap)
{
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            snprintf(why, cap, "it is not a directory");
            return why;
        }
        if (access(dir, R_OK | W_OK | X_OK) != 0) {
            snprintf(why, cap, "%s", strerror(errno));
            return why;
        }
        return NULL;
    }
    if (errno != ENOENT) {
        snprintf(why, cap, "%s", strerror(errno));
        return why;
    }
    /* A link to nothing is no directory the run can make: mkdir fails on the link's name. */
    if (lstat(dir, &st) == 0) {
        snprintf(why, cap, "it is a symbolic link to something that does not exist");
        return why;
    }
    char *copy = strdup(dir), *up = copy ? strdup(dirname(copy)) : NULL;
    const char *bad = "out of memory";
    if (up) {
        if (stat(up, &st) == 0 || errno != ENOENT)
            bad = afile_dir_refuses(up, why, cap);
        else if (lstat(up, &st) == 0) {
            /* The parent the run would make is a link to nothing: mkdir fails on its name. */
            snprintf(why, cap, "its directory '%s' is a symbolic link to something that does "
                     "not exist", up);
            bad = why;
        } else
            bad = afile_dir_refuses(dirname(up), why, cap);
    }
    free(copy);
    free(up);
    return bad;
}

bool config_check_run_files(const struct lethe_config *cfg, const char *metrics_option, bool anchor)
{
    if (!config_check_executors(cfg, false))
        return false;
    char why[PATH_MAX + 200];
    if (cfg->spool_dir && spool_refuses(cfg->spool_dir, why, sizeof why)) {
        char what[PATH_MAX + 240], value[PATH_MAX + 3], hint[600];
        snprintf(value, sizeof value, "\"%s\"", cfg->spool_dir);
        snprintf(hint, sizeof hint,
                 "each batch's manifest is written there before its deleter runs: name a "
                 "directory the lethe user can write (lethe runs as user %s); nothing was done",
                 run_user());
        if (cfg->spool_line > 0) {
            snprintf(what, sizeof what, "cannot take the manifests (%s):", why);
            report(log_error, cfg->spool_conf ? cfg->spool_conf : cfg->path, cfg->spool_line,
                   "spool.directory", what, value, hint);
        } else {
            log_error("config: 'spool.directory' (the default, %s): cannot take the manifests: %s",
                      value, why);
            log_hint("%s", hint);
        }
        return false;
    }
    if (anchor && cfg->anchor_file &&
        file_refused("audit.anchor_file", NULL, cfg->anchor_file, true,
                     cfg->anchor_conf ? cfg->anchor_conf : cfg->path, cfg->anchor_line,
                     "audit.anchor_file names a file the lethe user can read and append to, in "
                     "a directory it can write"))
        return false;
    return config_check_metrics_file(cfg, metrics_option);
}

bool config_check_metrics_file(const struct lethe_config *cfg, const char *metrics_option)
{
    const char *metrics = metrics_option ? metrics_option : cfg->metrics_file;
    return !metrics ||
           !file_refused("metrics.file", metrics_option ? "--metrics-file" : NULL, metrics, false,
                         cfg->metrics_conf ? cfg->metrics_conf : cfg->path, cfg->metrics_line,
                         "the metrics file is replaced at each run: its directory must be "
                         "writable by the lethe user");
}
