/* Check suite for engine/config.c: the built-in defaults of SPEC §6, every setting read from a
 * real file, the executor chosen per location, and the exact two-line message of each error. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* Loads TEXT as the config file; returns config_load's answer and what it wrote to stderr. */
static bool load_text(struct lethe_config *cfg, const char *text, char *err, size_t errlen)
{
    write_file(conf, text);
    char errpath[128];
    snprintf(errpath, sizeof errpath, "%s/stderr", dir);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    int fd = open(errpath, O_CREAT | O_TRUNC | O_RDWR, 0600);
    ck_assert_int_ge(fd, 0);
    dup2(fd, STDERR_FILENO);
    bool ok = config_load(cfg, conf);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    ssize_t n = pread(fd, err, errlen - 1, 0);
    close(fd);
    err[n > 0 ? n : 0] = '\0';
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
             "  subject_request: { deadline = \"2mo\"; grace = \"1d\"; };\n"
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
    ck_duration(r[RULE_SUBJECT_REQUEST].deadline, 0, 2);
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
     "error: config: '%1$s' line 3: syntax error\n"
     "hint: settings look like 'name = value;' inside 'group: { ... };', strings in double quotes\n"},
    {"\n\nretention = \"30d\";\n",
     "error: config: '%1$s' line 3: 'retention': unknown setting\n"
     "hint: known settings here: database, spool, executor, audit, batch, schedule, rules\n"},
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

START_TEST(file_errors)
{
    struct lethe_config cfg;
    char err[2048], expect[2048], text[512], path[160];

    snprintf(path, sizeof path, "%s/none.key", dir);
    snprintf(text, sizeof text, "audit: {\n  key_file = \"%s\";\n};\n", path);
    ck_assert(!load_text(&cfg, text, err, sizeof err));
    snprintf(expect, sizeof expect,
             "error: config: '%s' line 2: 'audit.key_file': cannot read the key file (No such file "
             "or directory): \"%s\"\n"
             "hint: create it with 'head -c 32 /dev/urandom > %s' and make it readable by the "
             "lethe user, or remove the setting\n",
             conf, path, path);
    ck_assert_str_eq(err, expect);
    config_free(&cfg);

    snprintf(text, sizeof text, "audit: { key_file = \"%s\"; };\n", dir);
    ck_assert(!load_text(&cfg, text, err, sizeof err));
    snprintf(expect, sizeof expect,
             "error: config: '%s' line 1: 'audit.key_file': cannot read the key file (Is a "
             "directory): \"%s\"\n"
             "hint: key_file names the file that holds the HMAC key, e.g. \"/etc/lethe/audit.key\"\n",
             conf, dir);
    ck_assert_str_eq(err, expect);
    config_free(&cfg);

    snprintf(path, sizeof path, "%s/empty.key", dir);
    write_file(path, "");
    snprintf(text, sizeof text, "audit: { key_file = \"%s\"; };\n", path);
    ck_assert(!load_text(&cfg, text, err, sizeof err));
    snprintf(expect, sizeof expect,
             "error: config: '%s' line 1: 'audit.key_file': the key file is empty: \"%s\"\n"
             "hint: create it with 'head -c 32 /dev/urandom > %s' and make it readable by the "
             "lethe user, or remove the setting\n",
             conf, path, path);
    ck_assert_str_eq(err, expect);
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
    tcase_add_test(tc, file_errors);
    tcase_add_test(tc, a_missing_or_directory_config_file);
    tcase_add_test(tc, too_many_locations);
    tcase_add_test(tc, a_failure_part_way_leaves_a_freeable_config);
    return run_suite(s, tc);
}
