/* Check suite for engine/config.c: the built-in defaults of SPEC §6, every setting read from a
 * real file, the executor chosen per location, and the exact two-line message of each error. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "suite.h"

#define DAY (24LL * 3600)

static char dir[64];
static char conf[128];

static void setup(void)
{
    /* Under systemd the log adds a priority prefix; these tests compare the terminal form. */
    unsetenv("JOURNAL_STREAM");
    snprintf(dir, sizeof dir, "/tmp/lethe-test-config.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(conf, sizeof conf, "%s/lethe.conf", dir);
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

/* Sends stderr to a file until end_capture() puts it back and returns what was written. */
static int saved_stderr = -1, capture_fd = -1;

static void begin_capture(void)
{
    char errpath[128];
    snprintf(errpath, sizeof errpath, "%s/stderr", dir);
    fflush(stderr);
    saved_stderr = dup(STDERR_FILENO);
    capture_fd = open(errpath, O_CREAT | O_TRUNC | O_RDWR, 0600);
    ck_assert_int_ge(capture_fd, 0);
    dup2(capture_fd, STDERR_FILENO);
}

static void end_capture(char *err, size_t errlen)
{
    fflush(stderr);
    dup2(saved_stderr, STDERR_FILENO);
    close(saved_stderr);
    ssize_t n = pread(capture_fd, err, errlen - 1, 0);
    close(capture_fd);
    err[n > 0 ? n : 0] = '\0';
}

/* Loads TEXT as the config file; returns config_load's answer and what it wrote to stderr. */
static bool load_text(struct lethe_config *cfg, const char *text, char *err, size_t errlen)
{
    write_file(conf, text);
    begin_capture();
    bool ok = config_load(cfg, conf);
    end_capture(err, errlen);
    return ok;
}

/* Loads a config naming KEY_PATH as audit.key_file (on line 2), then reads the key. */
static bool read_key(struct lethe_config *cfg, struct audit_key *key, const char *key_path,
                     char *err, size_t errlen)
{
    char text[512];
    snprintf(text, sizeof text, "audit: {\n  key_file = \"%s\";\n};\n", key_path);
    ck_assert_msg(load_text(cfg, text, err, errlen), "refused: %s", err);
    ck_assert_str_eq(err, "");
    begin_capture();
    bool ok = config_read_audit_key(cfg, key);
    end_capture(err, errlen);
    return ok;
}

static void ck_duration(struct duration d, long long seconds, int months)
{
    ck_assert_int_eq(d.seconds, seconds);
    ck_assert_int_eq(d.months, months);
}

START_TEST(defaults_are_the_spec)
{
    struct lethe_config cfg;
    config_defaults(&cfg);
    ck_assert_ptr_null(cfg.path);
    ck_assert_ptr_null(cfg.conninfo);          /* libpq's environment decides */
    ck_assert_ptr_null(cfg.executor_command);  /* no executor */
    ck_assert_int_eq(cfg.n_locations, 0);
    ck_assert_ptr_null(cfg.audit_key_file);    /* no audit key */
    ck_assert_str_eq(cfg.spool_dir, "/var/lib/lethe/spool");
    ck_assert_str_eq(cfg.anchor_file, "/var/lib/lethe/anchors.jsonl");
    ck_duration(cfg.spool_keep, 7 * DAY, 0);
    ck_duration(cfg.executor_timeout, 15 * 60, 0);
    ck_assert_int_eq(cfg.batch_max_items, 10000);
    ck_duration(cfg.lookahead, 2 * DAY, 0);
    /* SPEC §1: deadlines 30d, 1mo, 180d, 30d, 90d; only shared_retention has a grace (90d). */
    ck_duration(cfg.rules[RULE_DELETION_REQUEST].deadline, 30 * DAY, 0);
    ck_duration(cfg.rules[RULE_SUBJECT_REQUEST].deadline, 0, 1);
    ck_duration(cfg.rules[RULE_CAPACITY_DELETED].deadline, 180 * DAY, 0);
    ck_duration(cfg.rules[RULE_SHARING_OPT_OUT].deadline, 30 * DAY, 0);
    ck_duration(cfg.rules[RULE_SHARED_RETENTION].deadline, 90 * DAY, 0);
    ck_duration(cfg.rules[RULE_SHARED_RETENTION].grace, 90 * DAY, 0);
    for (int r = 0; r < RULE_COUNT; r++) {
        ck_assert_msg(cfg.rules[r].enabled, "%s is disabled by default", rule_name(r));
        ck_assert_str_eq(cfg.rules[r].name, rule_name(r));
        if (r != RULE_SHARED_RETENTION)
            ck_assert_msg(duration_is_zero(&cfg.rules[r].grace), "%s has a grace", rule_name(r));
    }
    config_free(&cfg);
}
END_TEST

START_TEST(rule_names_in_tie_break_order)
{
    /* SPEC §3's tie order, after shared_while_opted_out (which is not configurable). */
    ck_assert_str_eq(rule_name(RULE_SUBJECT_REQUEST), "subject_request");
    ck_assert_str_eq(rule_name(RULE_DELETION_REQUEST), "deletion_request");
    ck_assert_str_eq(rule_name(RULE_SHARING_OPT_OUT), "sharing_opt_out");
    ck_assert_str_eq(rule_name(RULE_CAPACITY_DELETED), "capacity_deleted");
    ck_assert_str_eq(rule_name(RULE_SHARED_RETENTION), "shared_retention");
}
END_TEST

START_TEST(no_file_and_no_default_file_means_defaults)
{
    if (access(DEFAULT_CONFIG_FILE, F_OK) == 0)
        return; /* this machine has a real config; the case cannot be set up here */
    struct lethe_config cfg;
    ck_assert(config_load(&cfg, NULL));
    ck_assert_ptr_null(cfg.path);
    ck_assert_int_eq(cfg.batch_max_items, 10000);
    ck_assert_ptr_null(cfg.executor_command);
    config_free(&cfg);
}
END_TEST

START_TEST(an_empty_file_means_defaults)
{
    struct lethe_config cfg;
    char err[1024];
    ck_assert(load_text(&cfg, "# only a comment\n", err, sizeof err));
    ck_assert_str_eq(err, "");
    ck_assert_str_eq(cfg.path, conf);
    ck_assert_int_eq(cfg.batch_max_items, 10000);
    ck_duration(cfg.lookahead, 2 * DAY, 0);
    ck_duration(cfg.rules[RULE_SUBJECT_REQUEST].deadline, 0, 1);
    config_free(&cfg);
}
END_TEST

START_TEST(reads_the_full_example)
{
    char key[160], text[2048];
    snprintf(key, sizeof key, "%s/audit.key", dir);
    write_file(key, "0123456789abcdef0123456789abcdef");
    snprintf(text, sizeof text,
             "database: { conninfo = \"host=/run/postgresql dbname=lethe\"; };\n"
             "spool:    { directory = \"/var/lib/lethe/spool\"; keep = \"7d\"; };\n"
             "executor: {\n"
             "  command = \"/usr/libexec/lethe/fs-delete\";\n"
             "  timeout = \"15m\";\n"
             "  locations: { EU = \"/usr/libexec/lethe/eu-delete\"; };\n"
             "};\n"
             "audit:    { key_file = \"%s\"; anchor_file = \"/srv/lethe/anchors.jsonl\"; };\n"
             "batch:    { max_items = 10000; };\n"
             "schedule: { lookahead = \"2d\"; };\n"
             "rules: {\n"
             "  deletion_request: { deadline = \"30d\";  grace = \"0d\"; };\n"
             "  subject_request:  { deadline = \"1mo\"; };\n"
             "  capacity_deleted: { deadline = \"180d\"; grace = \"0d\"; };\n"
             "  sharing_opt_out:  { deadline = \"30d\"; };\n"
             "  shared_retention: { deadline = \"90d\";  grace = \"90d\"; };\n"
             "};\n",
             key);
    struct lethe_config cfg;
    char err[1024];
    ck_assert_msg(load_text(&cfg, text, err, sizeof err), "refused: %s", err);
    ck_assert_str_eq(err, "");
    ck_assert_str_eq(cfg.conninfo, "host=/run/postgresql dbname=lethe");
    ck_assert_str_eq(cfg.spool_dir, "/var/lib/lethe/spool");
    ck_duration(cfg.spool_keep, 7 * DAY, 0);
    ck_assert_str_eq(cfg.executor_command, "/usr/libexec/lethe/fs-delete");
    ck_duration(cfg.executor_timeout, 15 * 60, 0);
    ck_assert_int_eq(cfg.n_locations, 1);
    ck_assert_str_eq(cfg.locations[0].geo, "EU");
    ck_assert_str_eq(cfg.locations[0].command, "/usr/libexec/lethe/eu-delete");
    ck_assert_str_eq(cfg.audit_key_file, key);
    ck_assert_str_eq(cfg.anchor_file, "/srv/lethe/anchors.jsonl");
    ck_assert_int_eq(cfg.batch_max_items, 10000);
    ck_duration(cfg.lookahead, 2 * DAY, 0);
    ck_duration(cfg.rules[RULE_DELETION_REQUEST].deadline, 30 * DAY, 0);
    ck_duration(cfg.rules[RULE_SUBJECT_REQUEST].deadline, 0, 1);
    ck_duration(cfg.rules[RULE_CAPACITY_DELETED].deadline, 180 * DAY, 0);
    ck_duration(cfg.rules[RULE_SHARING_OPT_OUT].deadline, 30 * DAY, 0);
    ck_duration(cfg.rules[RULE_SHARED_RETENTION].deadline, 90 * DAY, 0);
    ck_duration(cfg.rules[RULE_SHARED_RETENTION].grace, 90 * DAY, 0);
    config_free(&cfg);
}
END_TEST

START_TEST(reads_every_setting)
{
    char key[160], text[2048];
    snprintf(key, sizeof key, "%s/k", dir);
    write_file(key, "k");
    snprintf(text, sizeof text,
             "database: { conninfo = \"service=lethe\"; };\n"
             "spool: { directory = \"/srv/spool\"; keep = \"36h\"; };\n"
             "executor: { command = \"/bin/del\"; timeout = \"90s\";\n"
             "  locations: { US = \"/bin/us-del\"; ANZ = \"/bin/anz-del\"; EU_2 = \"/bin/eu2\"; }; };\n"
             "audit: { key_file = \"%s\"; };\n"
             "batch: { max_items = 250; };\n"
             "schedule: { lookahead = \"6h\"; };\n"
             "rules: {\n"
             "  deletion_request: { deadline = \"2w\"; grace = \"12h\"; enabled = false; };\n"
             "  subject_request: { deadline = \"3w\"; grace = \"1d\"; };\n"
             "  capacity_deleted: { grace = \"45m\"; };\n"
             "  sharing_opt_out: { enabled = true; deadline = \"10d\"; };\n"
             "  shared_retention: { grace = \"0s\"; };\n"
             "};\n",
             key);
    struct lethe_config cfg;
    char err[1024];
    ck_assert_msg(load_text(&cfg, text, err, sizeof err), "refused: %s", err);
    ck_assert_str_eq(cfg.conninfo, "service=lethe");
    ck_assert_str_eq(cfg.spool_dir, "/srv/spool");
    ck_duration(cfg.spool_keep, 36 * 3600, 0);
    ck_assert_str_eq(cfg.executor_command, "/bin/del");
    ck_duration(cfg.executor_timeout, 90, 0);
    ck_assert_int_eq(cfg.n_locations, 3);
    ck_assert_str_eq(cfg.audit_key_file, key);
    ck_assert_int_eq(cfg.batch_max_items, 250);
    ck_duration(cfg.lookahead, 6 * 3600, 0);
    const struct rule_config *r = cfg.rules;
    ck_duration(r[RULE_DELETION_REQUEST].deadline, 14 * DAY, 0);
    ck_duration(r[RULE_DELETION_REQUEST].grace, 12 * 3600, 0);
    ck_assert(!r[RULE_DELETION_REQUEST].enabled);
    ck_duration(r[RULE_SUBJECT_REQUEST].deadline, 21 * DAY, 0);
    ck_duration(r[RULE_SUBJECT_REQUEST].grace, DAY, 0);
    ck_assert(r[RULE_SUBJECT_REQUEST].enabled);
    /* A rule that sets only its grace keeps its default deadline, and the other way round. */
    ck_duration(r[RULE_CAPACITY_DELETED].deadline, 180 * DAY, 0);
    ck_duration(r[RULE_CAPACITY_DELETED].grace, 45 * 60, 0);
    ck_duration(r[RULE_SHARING_OPT_OUT].deadline, 10 * DAY, 0);
    ck_assert(r[RULE_SHARING_OPT_OUT].enabled);
    ck_duration(r[RULE_SHARED_RETENTION].deadline, 90 * DAY, 0);
    ck_duration(r[RULE_SHARED_RETENTION].grace, 0, 0);
    config_free(&cfg);
}
END_TEST

START_TEST(executor_for_a_location)
{
    struct lethe_config cfg;
    char err[1024];
    ck_assert(load_text(&cfg,
                        "executor: { command = \"/bin/all\";\n"
                        "  locations: { EU = \"/bin/eu\"; UK = \"/bin/uk\"; }; };\n",
                        err, sizeof err));
    ck_assert_str_eq(config_executor_for(&cfg, "EU"), "/bin/eu");
    ck_assert_str_eq(config_executor_for(&cfg, "UK"), "/bin/uk");
    ck_assert_str_eq(config_executor_for(&cfg, "US"), "/bin/all"); /* no override: the default */
    ck_assert_str_eq(config_executor_for(&cfg, "eu"), "/bin/all"); /* geos are case-sensitive */
    config_free(&cfg);

    /* Overrides only: other geos have no executor, so their batches wait for lethe ack. */
    ck_assert(load_text(&cfg, "executor: { locations: { EU = \"/bin/eu\"; }; };\n", err, sizeof err));
    ck_assert_str_eq(config_executor_for(&cfg, "EU"), "/bin/eu");
    ck_assert_ptr_null(config_executor_for(&cfg, "US"));
    config_free(&cfg);

    config_defaults(&cfg);
    ck_assert_ptr_null(config_executor_for(&cfg, "EU"));
    config_free(&cfg);
}
END_TEST

/* Each case: the file, and stderr with %1$s standing for the file's path. */
static const struct {
    const char *text;
    const char *expect;
} errors[] = {
    {"batch: { max_items = 10; };\nschedule: { lookahead = \"2d\"; }\nrules: { subject_request: { deadline = \"1mo\" ; } ; ; };\n",
     "error: config: '%1$s' line 3 (setting 'deadline'): syntax error\n"
     "hint: settings look like 'name = value;' inside 'group: { ... };', strings in double quotes\n"},
    {"\n\nretention = \"30d\";\n",
     "error: config: '%1$s' line 3: 'retention': unknown setting\n"
     "hint: known settings here: database, spool, executor, audit, batch, schedule, metrics, rules\n"},
    {"rules: {\n  subject_request: {\n    deadline = \"1mo\";\n    graces = \"1d\";\n  };\n};\n",
     "error: config: '%1$s' line 4: 'rules.subject_request.graces': unknown setting\n"
     "hint: known settings here: deadline, grace, enabled\n"},
    {"spool: { path = \"/tmp\"; };\n",
     "error: config: '%1$s' line 1: 'spool.path': unknown setting\n"
     "hint: known settings here: directory, keep\n"},
    {"audit: { key = \"x\"; };\n",
     "error: config: '%1$s' line 1: 'audit.key': unknown setting\n"
     "hint: known settings here: key_file, anchor_file\n"},
    {"batch: { size = 5; };\n",
     "error: config: '%1$s' line 1: 'batch.size': unknown setting\n"
     "hint: known settings here: max_items\n"},
    {"schedule: { interval = \"1h\"; };\n",
     "error: config: '%1$s' line 1: 'schedule.interval': unknown setting\n"
     "hint: known settings here: lookahead\n"},
    {"rules = \"none\";\n",
     "error: config: '%1$s' line 1: 'rules': expected a group, got \"none\"\n"
     "hint: write rules as a group: rules: { ... };\n"},
    {"batch: { max_items = true; };\n",
     "error: config: '%1$s' line 1: 'batch.max_items': expected an integer, got true\n"
     "hint: max_items is a whole number, e.g. max_items = 10000;\n"},
    {"batch: { max_items = 0; };\n",
     "error: config: '%1$s' line 1: 'batch.max_items': must be 1 or more, got 0\n"
     "hint: a batch holds at least one item, e.g. max_items = 10000;\n"},
    {"spool: { directory = [\"/a\", \"/b\"]; };\n",
     "error: config: '%1$s' line 1: 'spool.directory': expected a string, got a list\n"
     "hint: directory is an absolute path, e.g. \"/var/lib/lethe/spool\"\n"},
    {"executor: { locations: { EU = 5; }; };\n",
     "error: config: '%1$s' line 1: 'executor.locations.EU': expected a string, got 5\n"
     "hint: each location names its deleter, e.g. EU = \"/usr/libexec/lethe/eu-delete\";\n"},
    {"rules: { capacity_deleted: { deadline = \"180\"; }; };\n",
     "error: config: '%1$s' line 1: 'rules.capacity_deleted.deadline': bad duration \"180\"\n"
     "hint: durations take a unit, e.g. \"180d\"\n"},
    {"rules: { capacity_deleted: { deadline = 180; }; };\n",
     "error: config: '%1$s' line 1: 'rules.capacity_deleted.deadline': bad duration 180\n"
     "hint: durations take a unit, e.g. \"180d\"\n"},
    {"schedule: { lookahead = -2; };\n",
     "error: config: '%1$s' line 1: 'schedule.lookahead': bad duration -2\n"
     "hint: a duration is a non-negative integer and a unit (s, m, h, d, w or mo), e.g. \"30d\"\n"},
    {"schedule: { lookahead = 2.5; };\n",
     "error: config: '%1$s' line 1: 'schedule.lookahead': bad duration 2.5\n"
     "hint: a duration is a quoted integer and a unit (s, m, h, d, w or mo), e.g. \"30d\"\n"},
    {"schedule: { lookahead = \"2days\"; };\n",
     "error: config: '%1$s' line 1: 'schedule.lookahead': bad duration \"2days\"\n"
     "hint: a duration is a non-negative integer and a unit (s, m, h, d, w or mo), e.g. \"30d\"\n"},
    {"schedule: { lookahead = \"0mo\"; };\n",
     "error: config: '%1$s' line 1: 'schedule.lookahead': must be positive, got \"0mo\"\n"
     "hint: 'lookahead' must be longer than zero, e.g. \"2d\"\n"},
    {"executor: { timeout = \"0h\"; };\n",
     "error: config: '%1$s' line 1: 'executor.timeout': must be positive, got \"0h\"\n"
     "hint: 'timeout' must be longer than zero, e.g. \"15m\"\n"},
    {"rules: { shared_retention: { enabled = \"no\"; }; };\n",
     "error: config: '%1$s' line 1: 'rules.shared_retention.enabled': expected true or false, got \"no\"\n"
     "hint: write enabled = true; or enabled = false;\n"},
    /* libconfig keeps the low 32 bits of these (4294967297 reads as 1): the literal decides. */
    {"batch: { max_items = 4294967297; };\n",
     "error: config: '%1$s' line 1: 'batch.max_items': must be 2147483647 or less, got 4294967297\n"
     "hint: max_items is a whole number from 1 to 2147483647, e.g. max_items = 10000;\n"},
    {"batch: { max_items = 2147483648; };\n",
     "error: config: '%1$s' line 1: 'batch.max_items': must be 2147483647 or less, got 2147483648\n"
     "hint: max_items is a whole number from 1 to 2147483647, e.g. max_items = 10000;\n"},
    {"batch: { max_items = 4294967297L; };\n",
     "error: config: '%1$s' line 1: 'batch.max_items': must be 2147483647 or less, got 4294967297L\n"
     "hint: max_items is a whole number from 1 to 2147483647, e.g. max_items = 10000;\n"},
    {"batch: { max_items = 0x100000001; };\n",
     "error: config: '%1$s' line 1: 'batch.max_items': must be 2147483647 or less, got 0x100000001\n"
     "hint: max_items is a whole number from 1 to 2147483647, e.g. max_items = 10000;\n"},
    {"batch: { max_items = 99999999999999999999; };\n",
     "error: config: '%1$s' line 1: 'batch.max_items': must be 2147483647 or less, got 99999999999999999999\n"
     "hint: max_items is a whole number from 1 to 2147483647, e.g. max_items = 10000;\n"},
    {"batch: { max_items = -4294967295; };\n",
     "error: config: '%1$s' line 1: 'batch.max_items': must be 1 or more, got -4294967295\n"
     "hint: a batch holds at least one item, e.g. max_items = 10000;\n"},
    {"# a comment: max_items = 5;\nbatch:\n{\n  max_items /* items */\n    # each\n    =\n    4294967296 ;\n};\n",
     "error: config: '%1$s' line 4: 'batch.max_items': must be 2147483647 or less, got 4294967296\n"
     "hint: max_items is a whole number from 1 to 2147483647, e.g. max_items = 10000;\n"},
    {"database: { conninfo = \"application_name='max_items = 5'\"; }; batch: { max_items = 4294967296; };\n",
     "error: config: '%1$s' line 1: 'batch.max_items': must be 2147483647 or less, got 4294967296\n"
     "hint: max_items is a whole number from 1 to 2147483647, e.g. max_items = 10000;\n"},
    {"batch = 4294967297;\n",
     "error: config: '%1$s' line 1: 'batch': expected a group, got 4294967297\n"
     "hint: write batch as a group: batch: { ... };\n"},
    {"spool: { keep = 4294967297; };\n",
     "error: config: '%1$s' line 1: 'spool.keep': bad duration 4294967297\n"
     "hint: durations take a unit, e.g. \"4294967297d\"\n"},
    {"spool: { keep = \"365251d\"; };\n",
     "error: config: '%1$s' line 1: 'spool.keep': out of range, got \"365251d\"\n"
     "hint: a duration is at most 1000 years, e.g. \"365250d\" or \"12000mo\"\n"},
    {"rules: { subject_request: { deadline = \"12001mo\"; }; };\n",
     "error: config: '%1$s' line 1: 'rules.subject_request.deadline': out of range, got \"12001mo\"\n"
     "hint: a duration is at most 1000 years, e.g. \"365250d\" or \"12000mo\"\n"},
    {"executor: { timeout = \"99999999999999999999s\"; };\n",
     "error: config: '%1$s' line 1: 'executor.timeout': out of range, got \"99999999999999999999s\"\n"
     "hint: a duration is at most 1000 years, e.g. \"365250d\" or \"12000mo\"\n"},
    {"schedule: { lookahead = \"99999999999999999999\"; };\n",
     "error: config: '%1$s' line 1: 'schedule.lookahead': bad duration \"99999999999999999999\"\n"
     "hint: a duration is a non-negative integer and a unit (s, m, h, d, w or mo), e.g. \"30d\"\n"},
};

START_TEST(each_error_names_file_line_setting_and_value)
{
    struct lethe_config cfg;
    char err[2048], expect[2048];
    ck_assert(!load_text(&cfg, errors[_i].text, err, sizeof err));
    snprintf(expect, sizeof expect, errors[_i].expect, conf);
    ck_assert_str_eq(err, expect);
    config_free(&cfg);
}
END_TEST

START_TEST(integers_in_range_are_read_as_written)
{
    struct lethe_config cfg;
    char err[1024];
    ck_assert_msg(load_text(&cfg, "batch: { max_items = 2147483647; };\n", err, sizeof err), "%s", err);
    ck_assert_int_eq(cfg.batch_max_items, 2147483647);
    config_free(&cfg);
    ck_assert_msg(load_text(&cfg, "batch: { max_items = 5000L; };\n", err, sizeof err), "%s", err);
    ck_assert_int_eq(cfg.batch_max_items, 5000);
    config_free(&cfg);
    ck_assert_msg(load_text(&cfg, "batch: { max_items = 0x10; };\n", err, sizeof err), "%s", err);
    ck_assert_int_eq(cfg.batch_max_items, 16);
    config_free(&cfg);
    ck_assert_msg(load_text(&cfg, "spool: { keep = \"365250d\"; };\n", err, sizeof err), "%s", err);
    ck_duration(cfg.spool_keep, 365250 * DAY, 0);
    config_free(&cfg);
}
END_TEST

/* The key is read by the commands that use it, not by config_load: a config naming a key its
 * user cannot read still loads (migrate as the database owner). */
START_TEST(the_key_file_is_named_at_load_and_read_on_demand)
{
    struct lethe_config cfg;
    struct audit_key key;
    char err[2048], expect[2048], path[160];
    const char *create = "hint: create it with 'head -c 32 /dev/urandom > %s' and make it readable "
                         "by the lethe user, or remove the setting\n";
    char hint[512];

    snprintf(path, sizeof path, "%s/none.key", dir);
    ck_assert(!read_key(&cfg, &key, path, err, sizeof err));
    snprintf(hint, sizeof hint, create, path);
    snprintf(expect, sizeof expect,
             "error: config: '%s' line 2: 'audit.key_file': cannot read the key file (No such file "
             "or directory): \"%s\"\n%s",
             conf, path, hint);
    ck_assert_str_eq(err, expect);
    ck_assert_ptr_null(key.bytes);
    config_free(&cfg);

    ck_assert(!read_key(&cfg, &key, dir, err, sizeof err));
    snprintf(expect, sizeof expect,
             "error: config: '%s' line 2: 'audit.key_file': cannot read the key file (Is a "
             "directory): \"%s\"\n"
             "hint: key_file names the file that holds the HMAC key, e.g. \"/etc/lethe/audit.key\"\n",
             conf, dir);
    ck_assert_str_eq(err, expect);
    config_free(&cfg);

    snprintf(path, sizeof path, "%s/empty.key", dir);
    write_file(path, "");
    chmod(path, 0600);
    ck_assert(!read_key(&cfg, &key, path, err, sizeof err));
    snprintf(hint, sizeof hint, create, path);
    snprintf(expect, sizeof expect,
             "error: config: '%s' line 2: 'audit.key_file': the key file is empty: \"%s\"\n%s",
             conf, path, hint);
    ck_assert_str_eq(err, expect);
    config_free(&cfg);

    /* A FIFO is refused at once, not waited on (waiting would trip Check's timeout). */
    snprintf(path, sizeof path, "%s/fifo.key", dir);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    ck_assert(!read_key(&cfg, &key, path, err, sizeof err));
    snprintf(expect, sizeof expect,
             "error: config: '%s' line 2: 'audit.key_file': the key file is not a regular file (a "
             "FIFO): \"%s\"\n"
             "hint: key_file names the file that holds the HMAC key, e.g. \"/etc/lethe/audit.key\"\n",
             conf, path);
    ck_assert_str_eq(err, expect);
    config_free(&cfg);

    /* A private key of 32 bytes is read as raw bytes, silently. */
    static const char key32[] = "0123456789abcdef0123456789abcde\n";
    snprintf(path, sizeof path, "%s/good.key", dir);
    write_file(path, key32);
    chmod(path, 0600);
    ck_assert(read_key(&cfg, &key, path, err, sizeof err));
    ck_assert_str_eq(err, "");
    ck_assert_int_eq(key.len, 32);
    ck_assert(memcmp(key.bytes, key32, 32) == 0);
    audit_key_free(&key);
    config_free(&cfg);

    /* One of a few bytes is read too (a key in use stays), with a warning. */
    snprintf(path, sizeof path, "%s/short.key", dir);
    write_file(path, "key\n");
    chmod(path, 0600);
    ck_assert(read_key(&cfg, &key, path, err, sizeof err));
    ck_assert_int_eq(key.len, 4);
    ck_assert(memcmp(key.bytes, "key\n", 4) == 0);
    ck_assert_ptr_nonnull(strstr(err, "'audit.key_file': the key file holds only 4 bytes:"));
    audit_key_free(&key);
    config_free(&cfg);
    snprintf(path, sizeof path, "%s/good.key", dir);

    /* One that others can read is used, with a warning. Owned by root, a group may read it. */
    chmod(path, 0644);
    ck_assert(read_key(&cfg, &key, path, err, sizeof err));
    ck_assert_int_eq(key.len, 32);
    snprintf(expect, sizeof expect,
             "warning: config: '%s' line 2: 'audit.key_file': the key file can be read or changed "
             "by other users (mode 0644): \"%s\"\n"
             "hint: chmod 0600 %s, owned by the user lethe runs as (or 0640 owned by root and the "
             "lethe group)\n",
             conf, path, path);
    ck_assert_str_eq(err, expect);
    audit_key_free(&key);
    config_free(&cfg);
    chmod(path, 0640);
    ck_assert(read_key(&cfg, &key, path, err, sizeof err));
    if (geteuid() == 0)
        ck_assert_str_eq(err, "");
    else
        ck_assert_ptr_nonnull(strstr(err, "(mode 0640)"));
    audit_key_free(&key);
    config_free(&cfg);

    /* Without key_file there is no key, and nothing to read. */
    ck_assert(load_text(&cfg, "batch: { max_items = 5; };\n", err, sizeof err));
    key.bytes = (unsigned char *)"junk";
    ck_assert(config_read_audit_key(&cfg, &key));
    ck_assert_ptr_null(key.bytes);
    ck_assert_int_eq(key.len, 0);
    config_free(&cfg);
}
END_TEST

START_TEST(a_missing_or_directory_config_file)
{
    struct lethe_config cfg;
    char path[160];
    snprintf(path, sizeof path, "%s/absent.conf", dir);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, STDERR_FILENO);
    bool missing = config_load(&cfg, path);
    config_free(&cfg);
    /* A directory must be refused here: libconfig's scanner would exit the process. */
    bool directory = config_load(&cfg, dir);
    config_free(&cfg);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(devnull);
    ck_assert(!missing);
    ck_assert(!directory);
}
END_TEST

/* A FIFO, a device or a NUL byte: refused at once with the file named, never waited on
 * (waiting for a FIFO's writer would trip Check's timeout). */
START_TEST(a_config_that_is_not_a_regular_text_file)
{
    struct lethe_config cfg;
    char err[1024], expect[1024], fifo[160];
    snprintf(fifo, sizeof fifo, "%s/fifo.conf", dir);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    begin_capture();
    bool ok = config_load(&cfg, fifo);
    end_capture(err, sizeof err);
    ck_assert(!ok);
    snprintf(expect, sizeof expect,
             "error: config: '%s': not a regular file (a FIFO)\n"
             "hint: --config takes a regular file, not a pipe, a socket or a device\n",
             fifo);
    ck_assert_str_eq(err, expect);
    config_free(&cfg);

    begin_capture();
    ok = config_load(&cfg, "/dev/null");
    end_capture(err, sizeof err);
    ck_assert(!ok);
    ck_assert_str_eq(err, "error: config: '/dev/null': not a regular file (a character device)\n"
                          "hint: --config takes a regular file, not a pipe, a socket or a device\n");
    config_free(&cfg);

    FILE *f = fopen(conf, "w");
    ck_assert_ptr_nonnull(f);
    fwrite("batch: { max_items = 5; };\n# \0 and more\n", 1, 41, f);
    fclose(f);
    begin_capture();
    ok = config_load(&cfg, conf);
    end_capture(err, sizeof err);
    ck_assert(!ok);
    snprintf(expect, sizeof expect,
             "error: config: '%s' line 2: a NUL byte: not a text file\n"
             "hint: settings look like 'name = value;' inside 'group: { ... };', strings in double "
             "quotes\n",
             conf);
    ck_assert_str_eq(err, expect);
    config_free(&cfg);
}
END_TEST

START_TEST(too_many_locations)
{
    char text[8192];
    size_t used = (size_t)snprintf(text, sizeof text, "executor: { locations: {\n");
    for (int i = 0; i <= MAX_LOCATIONS; i++)
        used += (size_t)snprintf(text + used, sizeof text - used, "  G%d = \"/bin/g%d\";\n", i, i);
    snprintf(text + used, sizeof text - used, "}; };\n");
    struct lethe_config cfg;
    char err[1024], expect[1024];
    ck_assert(!load_text(&cfg, text, err, sizeof err));
    snprintf(expect, sizeof expect,
             "error: config: '%s' line %d: 'executor.locations.G%d': too many locations, got "
             "\"/bin/g%d\"\nhint: at most 64 geos\n",
             conf, MAX_LOCATIONS + 2, MAX_LOCATIONS, MAX_LOCATIONS);
    ck_assert_str_eq(err, expect);
    ck_assert_int_eq(cfg.n_locations, MAX_LOCATIONS);
    config_free(&cfg);
}
END_TEST

START_TEST(a_failure_part_way_leaves_a_freeable_config)
{
    struct lethe_config cfg;
    char err[1024];
    /* The location's slot is taken before its command is read and refused. */
    ck_assert(!load_text(&cfg,
                         "database: { conninfo = \"dbname=a\"; };\n"
                         "executor: { command = \"/bin/x\"; locations: { EU = \"/bin/eu\"; US = 1; }; };\n",
                         err, sizeof err));
    ck_assert_int_eq(cfg.n_locations, 2);
    ck_assert_ptr_null(cfg.locations[1].command);
    config_free(&cfg);
    ck_assert_ptr_null(cfg.conninfo);
    ck_assert_int_eq(cfg.n_locations, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, defaults_are_the_spec);
    tcase_add_test(tc, rule_names_in_tie_break_order);
    tcase_add_test(tc, no_file_and_no_default_file_means_defaults);
    tcase_add_test(tc, an_empty_file_means_defaults);
    tcase_add_test(tc, reads_the_full_example);
    tcase_add_test(tc, reads_every_setting);
    tcase_add_test(tc, executor_for_a_location);
    tcase_add_loop_test(tc, each_error_names_file_line_setting_and_value, 0,
                        (int)(sizeof errors / sizeof errors[0]));
    tcase_add_test(tc, integers_in_range_are_read_as_written);
    tcase_add_test(tc, the_key_file_is_named_at_load_and_read_on_demand);
    tcase_add_test(tc, a_config_that_is_not_a_regular_text_file);
    tcase_add_test(tc, a_missing_or_directory_config_file);
    tcase_add_test(tc, too_many_locations);
    tcase_add_test(tc, a_failure_part_way_leaves_a_freeable_config);
    return run_suite(s, tc);
}
