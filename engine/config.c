/* Configuration loading and validation. Every message names the file, the line, the setting
 * and the value, and gives a hint; nothing here connects anywhere or exits. */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static const char *const rule_names[RULE_COUNT] = {
    "subject_request", "deletion_request", "sharing_opt_out", "capacity_deleted",
    "shared_retention",
};

const char *rule_name(enum rule_id r) { return rule_names[r]; }

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
    cfg->rules[RULE_DELETION_REQUEST].deadline = (struct duration){30 * 86400, 0};
    cfg->rules[RULE_SUBJECT_REQUEST].deadline = (struct duration){0, 1};
    cfg->rules[RULE_CAPACITY_DELETED].deadline = (struct duration){180 * 86400, 0};
    cfg->rules[RULE_SHARING_OPT_OUT].deadline = (struct duration){30 * 86400, 0};
    cfg->rules[RULE_SHARED_RETENTION].deadline = (struct duration){90 * 86400, 0};
    cfg->rules[RULE_SHARED_RETENTION].grace = (struct duration){90 * 86400, 0};
}

void config_free(struct lethe_config *cfg)
{
    free(cfg->path);
    free(cfg->conninfo);
    free(cfg->spool_dir);
    free(cfg->executor_command);
    free(cfg->audit_key_file);
    free(cfg->anchor_file);
    for (int i = 0; i < cfg->n_locations; i++) {
        free(cfg->locations[i].geo);
        free(cfg->locations[i].command);
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

struct loader {
    const char *file;
    struct lethe_config *cfg;
};

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

static void value_of(const config_setting_t *s, char *buf, size_t len)
{
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_STRING:
        snprintf(buf, len, "\"%s\"", config_setting_get_string(s));
        break;
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        snprintf(buf, len, "%lld", config_setting_get_int64(s));
        break;
    case CONFIG_TYPE_FLOAT:
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

static bool fail(const struct loader *ld, const config_setting_t *s, const char *what,
                 const char *hint)
{
    char path[256], value[512];
    path_of(s, path, sizeof path);
    value_of(s, value, sizeof value);
    log_error("config: '%s' line %d: '%s': %s %s", ld->file, config_setting_source_line(s), path,
              what, value);
    if (hint)
        log_hint("%s", hint);
    return false;
}

/* ---- typed getters ------------------------------------------------------------------ */

static bool get_string(const struct loader *ld, const config_setting_t *s, char **out,
                       const char *hint)
{
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return fail(ld, s, "expected a string, got", hint);
    const char *v = config_setting_get_string(s);
    if (!*v)
        return fail(ld, s, "must not be empty, got", hint);
    free(*out);
    *out = strdup(v);
    return true;
}

static bool get_duration(const struct loader *ld, const config_setting_t *s, struct duration *out,
                         bool positive)
{
    char hint[128];
    const char *leaf = config_setting_name(s);
    if (config_setting_type(s) == CONFIG_TYPE_INT || config_setting_type(s) == CONFIG_TYPE_INT64) {
        long long n = config_setting_get_int64(s);
        if (n < 0)
            return fail(ld, s, "bad duration",
                        "a duration is a non-negative integer and a unit (s, m, h, d, w or mo), "
                        "e.g. \"30d\"");
        snprintf(hint, sizeof hint, "durations take a unit, e.g. \"%lldd\"", n);
        return fail(ld, s, "bad duration", hint);
    }
    if (config_setting_type(s) != CONFIG_TYPE_STRING)
        return fail(ld, s, "bad duration",
                    "a duration is a quoted integer and a unit (s, m, h, d, w or mo), e.g. \"30d\"");
    const char *v = config_setting_get_string(s);
    struct duration d;
    if (!duration_parse(v, &d)) {
        char *end;
        long long n = strtoll(v, &end, 10);
        if (*v && *end == '\0' && n >= 0) {
            snprintf(hint, sizeof hint, "durations take a unit, e.g. \"%lldd\"", n);
            return fail(ld, s, "bad duration", hint);
        }
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
    log_error("config: '%s' line %d: '%s': unknown setting", ld->file,
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
            if (!get_string(ld, s, &ld->cfg->spool_dir,
                            "directory is an absolute path, e.g. \"/var/lib/lethe/spool\""))
                return false;
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
        } else if (strcmp(n, "timeout") == 0) {
            if (!get_duration(ld, s, &cfg->executor_timeout, true))
                return false;
        } else if (strcmp(n, "locations") == 0) {
            if (!need_group(ld, s, "locations is a group of GEO = \"command\"; entries"))
                return false;
            for (int j = 0; j < config_setting_length(s); j++) {
                config_setting_t *l = config_setting_get_elem(s, (unsigned)j);
                if (!valid_geo(config_setting_name(l)))
                    return fail(ld, l, "is not a geo name (upper-case letters, digits, _), got",
                                "name a geo as the catalog does, e.g. EU = \"/usr/libexec/lethe/eu-delete\";");
                if (cfg->n_locations >= MAX_LOCATIONS)
                    return fail(ld, l, "too many locations, got", "at most 64 geos");
                struct location_executor *le = &cfg->locations[cfg->n_locations];
                le->geo = strdup(config_setting_name(l));
                le->command = NULL;
                cfg->n_locations++;
                if (!get_string(ld, l, &le->command,
                                "each location names its deleter, e.g. "
                                "EU = \"/usr/libexec/lethe/eu-delete\";"))
                    return false;
            }
        } else {
            return unknown(ld, s, "command, timeout, locations");
        }
    }
    return true;
}

/* Opened rather than access()ed: access() answers for the real uid, says yes to a
 * directory, and an empty key would make every subject's HMAC guessable. */
static bool key_file_usable(const struct loader *ld, const config_setting_t *s, const char *path)
{
    char what[300], hint[1200];
    snprintf(hint, sizeof hint,
             "create it with 'head -c 32 /dev/urandom > %s' and make it readable by the lethe "
             "user, or remove the setting",
             path);
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not hang us */
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(what, sizeof what, "cannot read the key file (%s):", strerror(errno));
        if (fd >= 0)
            close(fd);
        return fail(ld, s, what, hint);
    }
    close(fd);
    if (S_ISDIR(st.st_mode)) {
        snprintf(what, sizeof what, "cannot read the key file (%s):", strerror(EISDIR));
        return fail(ld, s, what,
                    "key_file names the file that holds the HMAC key, e.g. \"/etc/lethe/audit.key\"");
    }
    if (S_ISREG(st.st_mode) && st.st_size == 0)
        return fail(ld, s, "the key file is empty:", hint);
    return true;
}

static bool load_audit(const struct loader *ld, const config_setting_t *g)
{
    for (int i = 0; i < config_setting_length(g); i++) {
        config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
        if (strcmp(config_setting_name(s), "key_file") == 0) {
            if (!get_string(ld, s, &ld->cfg->audit_key_file,
                            "key_file is the path of the HMAC key, e.g. \"/etc/lethe/audit.key\""))
                return false;
            if (!key_file_usable(ld, s, ld->cfg->audit_key_file))
                return false;
        } else if (strcmp(config_setting_name(s), "anchor_file") == 0) {
            if (!get_string(ld, s, &ld->cfg->anchor_file,
                            "anchor_file is the path of the anchor file, e.g. "
                            "\"/var/lib/lethe/anchors.jsonl\""))
                return false;
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
            long long v = config_setting_get_int64(s);
            if (v < 1)
                return fail(ld, s, "must be 1 or more, got",
                            "a batch holds at least one item, e.g. max_items = 10000;");
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
        } else {
            return unknown(ld, s, "lookahead");
        }
    }
    return true;
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
    {"rules", load_rules},
};

bool config_load(struct lethe_config *cfg, const char *file)
{
    config_defaults(cfg);
    if (!file) {
        if (access(DEFAULT_CONFIG_FILE, F_OK) != 0)
            return true;
        file = DEFAULT_CONFIG_FILE;
    }
    cfg->path = strdup(file);
    struct loader ld = {cfg->path, cfg};
    config_t lc;
    config_init(&lc);
    bool ok = false;
    FILE *f = fopen(file, "r");
    if (!f) {
        log_error("config: '%s': cannot open: %s", file, strerror(errno));
        log_hint("pass an existing file with --config, or leave it out to use the defaults");
        goto cleanup;
    }
    /* libconfig's scanner exits the whole process when read() fails, as it does on a
     * directory, so refuse one before handing it the stream. */
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        log_error("config: '%s': cannot read: %s", file, strerror(EISDIR));
        log_hint("pass an existing file with --config, or leave it out to use the defaults");
        goto cleanup;
    }
    if (config_read(&lc, f) != CONFIG_TRUE) {
        const char *text = config_error_text(&lc);
        if (!text || strcmp(text, "syntax error") == 0)
            log_error("config: '%s' line %d: syntax error", file, config_error_line(&lc));
        else
            log_error("config: '%s' line %d: syntax error: %s", file, config_error_line(&lc), text);
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
            unknown(&ld, s, "database, spool, executor, audit, batch, schedule, rules");
            goto cleanup;
        }
        char hint[128];
        snprintf(hint, sizeof hint, "write %s as a group: %s: { ... };", sections[k].name,
                 sections[k].name);
        if (!need_group(&ld, s, hint) || !sections[k].load(&ld, s))
            goto cleanup;
    }
    ok = true;
cleanup:
    if (f)
        fclose(f);
    config_destroy(&lc);
    return ok;
}
