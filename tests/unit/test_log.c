/* Check suite for engine/log.c: what each verbosity lets through (-q is errors only, a hint goes
 * with its message), when stderr counts as systemd's journal stream, and the "<N>" lines that
 * stand in for journal entries when no journald listens. stderr is captured in a temp file. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "suite.h"

static FILE *cap;
static int saved_fd = -1;

static void capture_begin(void)
{
    fflush(stderr);
    cap = tmpfile();
    ck_assert_ptr_nonnull(cap);
    saved_fd = dup(STDERR_FILENO);
    ck_assert_int_ge(saved_fd, 0);
    ck_assert_int_ge(dup2(fileno(cap), STDERR_FILENO), 0);
}

/* JOURNAL_STREAM as systemd would set it for the captured stderr. */
static void journal_stream_is_capture(void)
{
    struct stat st;
    ck_assert_int_eq(fstat(STDERR_FILENO, &st), 0);
    char v[64];
    snprintf(v, sizeof v, "%ju:%ju", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
    setenv("JOURNAL_STREAM", v, 1);
}

static char *capture_end(void)
{
    static char buf[8192];
    fflush(stderr);
    dup2(saved_fd, STDERR_FILENO);
    close(saved_fd);
    rewind(cap);
    size_t n = fread(buf, 1, sizeof buf - 1, cap);
    buf[n] = '\0';
    fclose(cap);
    return buf;
}

static void say_everything(void)
{
    log_error("cannot open '%s'", "x");
    log_hint("check the path");
    log_warn("batch %d failed", 7);
    log_hint("it is due again");
    log_info("run started");
    log_debug("query took %dms", 3);
    log_passthrough("executor: ", "removed 3 objects");
}

START_TEST(default_verbosity)
{
    unsetenv("JOURNAL_STREAM");
    capture_begin();
    say_everything();
    ck_assert_str_eq(capture_end(), "error: cannot open 'x'\n"
                                    "hint: check the path\n"
                                    "warning: batch 7 failed\n"
                                    "hint: it is due again\n"
                                    "run started\n"
                                    "executor: removed 3 objects\n");
}
END_TEST

START_TEST(quiet_is_errors_only)
{
    unsetenv("JOURNAL_STREAM");
    log_set_verbosity(-1);
    capture_begin();
    say_everything();
    log_error("second error");
    log_hint("its hint is shown");
    ck_assert_str_eq(capture_end(), "error: cannot open 'x'\n"
                                    "hint: check the path\n"
                                    "error: second error\n"
                                    "hint: its hint is shown\n");
}
END_TEST

START_TEST(verbose_adds_debug)
{
    unsetenv("JOURNAL_STREAM");
    log_set_verbosity(1);
    capture_begin();
    log_info("a");
    log_debug("b %d", 1);
    ck_assert_str_eq(capture_end(), "a\ndebug: b 1\n");
}
END_TEST

START_TEST(journal_stream_must_name_stderr)
{
    const char *bad[] = {"", "1:1", "garbage", "12:", ":12", "12:34x", "-1:-1", "1:2:3"};
    capture_begin();
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        setenv("JOURNAL_STREAM", bad[i], 1);
        ck_assert_msg(!log_to_journal(), "JOURNAL_STREAM=\"%s\" taken for stderr", bad[i]);
    }
    log_set_run_id("r1");
    log_info("plain");
    journal_stream_is_capture();
    ck_assert(log_to_journal());
    unsetenv("JOURNAL_STREAM");
    ck_assert_str_eq(capture_end(), "plain\n");
}
END_TEST

/* Without a journald to send to (as on a build machine), each entry becomes one line with its
 * syslog priority and the run id, which journald's stream reader would parse. */
START_TEST(falls_back_to_priority_lines)
{
    if (access("/run/systemd/journal/socket", F_OK) == 0) {
        fprintf(stderr, "# skip: a journald listens here; entries would go to it\n");
        return;
    }
    capture_begin();
    journal_stream_is_capture();
    log_warn("before the run");
    log_set_run_id("5b0c");
    log_set_batch("b1");
    log_set_tenant("t1");
    say_everything();
    log_set_verbosity(-1);
    log_warn("hidden");
    log_hint("hidden too");
    log_passthrough("executor: ", "hidden as well");
    log_error("shown");
    unsetenv("JOURNAL_STREAM");
    ck_assert_str_eq(capture_end(), "<4>warning: before the run\n"
                                    "<3>error: cannot open 'x' [run 5b0c]\n"
                                    "<3>hint: check the path [run 5b0c]\n"
                                    "<4>warning: batch 7 failed [run 5b0c]\n"
                                    "<4>hint: it is due again [run 5b0c]\n"
                                    "<6>run started [run 5b0c]\n"
                                    "<6>executor: removed 3 objects [run 5b0c]\n"
                                    "<3>error: shown [run 5b0c]\n");
}
END_TEST

/* The last error is kept for a caller to record (a run's error): its text, not a warning's, and
 * one too long for the buffer cut where a character begins, as the database takes UTF-8 only. */
START_TEST(last_error_is_kept_whole_characters)
{
    unsetenv("JOURNAL_STREAM");
    capture_begin();
    log_clear_last_error();
    ck_assert_str_eq(log_last_error(), "");
    log_error("spool: cannot create '%s': %s", "/x/EU", "Permission denied");
    log_warn("not this");
    ck_assert_str_eq(log_last_error(), "spool: cannot create '/x/EU': Permission denied");
    char big[600];
    memset(big, 'a', 510);
    strcpy(big + 510, "\xc3\xa9tail"); /* a two-byte character across byte 511 */
    log_error("%s", big);
    capture_end();
    ck_assert_uint_eq(strlen(log_last_error()), 510);
    log_clear_last_error();
    ck_assert_str_eq(log_last_error(), "");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, default_verbosity);
    tcase_add_test(tc, quiet_is_errors_only);
    tcase_add_test(tc, verbose_adds_debug);
    tcase_add_test(tc, journal_stream_must_name_stderr);
    tcase_add_test(tc, falls_back_to_priority_lines);
    tcase_add_test(tc, last_error_is_kept_whole_characters);
    return run_suite(s, tc);
}
