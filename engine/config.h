/* The configuration file (SPEC §6): libconfig syntax, every key optional, unknown keys refused.
 * Holds the built-in defaults; knows nothing of the database. */
#ifndef LETHE_CONFIG_H
#define LETHE_CONFIG_H

#include <stdbool.h>

#include "audit.h"
#include "duration.h"

#define DEFAULT_CONFIG_FILE "/etc/lethe/lethe.conf"
#define MAX_LOCATIONS 64

/* The configurable rules, in SPEC §3's tie-break order (shared_while_opted_out is not
 * configurable: it is a violation, due and late the instant it happens). */
enum rule_id {
    RULE_SUBJECT_REQUEST,
    RULE_DELETION_REQUEST,
    RULE_SHARING_OPT_OUT,
    RULE_CAPACITY_DELETED,
    RULE_SHARED_RETENTION,
    RULE_COUNT
};

struct rule_config {
    const char *name;
    struct duration deadline;
    struct duration grace;
    bool enabled;
};

struct location_executor {
    char *geo;
    char *command;
    int line;   /* where the key stands in the config file, for errors found later */
    char *file; /* the file that holds it: the main one or one it @includes */
};

/* How many files a config may @include, nested ones counted. */
#define LETHE_MAX_INCLUDES 16

struct lethe_config {
    char *path; /* the file read, or NULL when running on defaults */
    char *conninfo;
    int conninfo_line;   /* where the config names it (0: not given), for errors found later */
    char *conninfo_conf; /* the config file that names it (NULL: path) */
    int lookahead_line;   /* where the config names schedule.lookahead (0: the default) */
    char *lookahead_conf; /* the config file that names it (NULL: path) */
    char *spool_dir;
    int spool_line;    /* where the config names it (0: the default), for messages */
    char *spool_conf;  /* the config file that names it (NULL: path) */
    struct duration spool_keep;
    char *executor_command;
    int executor_line;   /* where the config names it, for errors found later */
    char *executor_conf; /* the config file that names it (NULL: path) */
    struct duration executor_timeout;
    struct location_executor locations[MAX_LOCATIONS];
    int n_locations;
    char *audit_key_file;
    int audit_key_line; /* where the config names it, for messages */
    char *audit_key_conf; /* the config file that names it (an @include'd one, or NULL: path) */
    char *anchor_file; /* audit.anchor_file: where each committed run appends its heads */
    int anchor_line;    /* where the config names it (0: the default), for messages */
    char *anchor_conf;  /* the config file that names it (NULL: path) */
    char *metrics_file; /* metrics.file: Prometheus textfile metrics of each run; --metrics-file wins */
    int metrics_line;
    char *metrics_conf;
    char *includes[LETHE_MAX_INCLUDES]; /* every file the config @includes, as read */
    int n_includes;
    long long batch_max_items;
    struct duration lookahead;
    struct rule_config rules[RULE_COUNT];
};

void config_defaults(struct lethe_config *cfg);
/* Reads FILE (or the default file when it exists and FILE is NULL). On error prints the
 * message and hint and returns false: the caller exits 2. */
bool config_load(struct lethe_config *cfg, const char *file);
void config_free(struct lethe_config *cfg);
/* Reads audit.key_file into KEY (empty when none is configured), for the commands that use
 * it. Refuses a missing, unreadable, empty or non-regular file with a config error (the
 * caller exits 2); warns when users other than its owner can read it. */
bool config_read_audit_key(const struct lethe_config *cfg, struct audit_key *key);
/* The deleter programs of executor.command and executor.locations: false after saying (as an
 * error, or a warning when WARN_ONLY) which one is no executable file, naming the file, line and
 * setting, with the hint; the check config_check_run_files() makes first. */
bool config_check_executors(const struct lethe_config *cfg, bool warn_only);
/* What a run needs before it does anything: the executors it may start (a command whose first
 * word is a path names an executable file: a missing one failed every batch with the shell's
 * status 127, run after run), and the files it writes after its work is committed: the anchor
 * file (appended to, created with its directory when missing) and the metrics file
 * (METRICS_OPTION, from --metrics-file, else metrics.file: replaced through a temporary in its
 * directory). Found only at the end, a run purged and then exited 1 with no anchor line.
 * Refuses with a config error naming the file, line and setting (the caller exits 2). */
bool config_check_run_files(const struct lethe_config *cfg, const char *metrics_option,
                            bool anchor);
/* The metrics file's part of that check alone: a run judges it first, so that a refusal of
 * anything else (a deleter program gone, the spool not a directory) sets lethe_run_success to
 * 0 in it. */
bool config_check_metrics_file(const struct lethe_config *cfg, const char *metrics_option);
const char *rule_name(enum rule_id r);
/* The executor for a location: its override, else executor.command, else NULL. */
const char *config_executor_for(const struct lethe_config *cfg, const char *location);

#endif
