/* Check suite for engine/executor.c with real /bin/sh processes: receipts parsed and the rest
 * ignored, the command run whole, the exit status and the timeout, whatever the executor does
 * with its pipes. */
#include <check.h>
#include <string.h>
#include <time.h>

#include "executor.h"
#include "log.h"
#include "suite.h"

#define A "11111111-1111-4111-8111-111111111111"
#define B "22222222-2222-4222-8222-222222222222"
#define C "33333333-3333-4333-8333-333333333333"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(parses_receipts_and_ignores_the_rest)
{
    struct exec_result r;
    const char *cmd = "printf 'deleted " A "\\nabsent " B "\\r\\nfailed " C " disk\\001 full\\n"
                      "deleted nope\\nhello\\ndeleted " C " extra\\n\\377\\n'; true";
    ck_assert(executor_run(cmd, "/dev/null", "b", "EU", 10, NULL, &r));
    ck_assert(r.ok);
    ck_assert_int_eq(r.n_acked, 2);
    ck_assert_str_eq(r.acked[0].item_id, A);
    ck_assert_str_eq(r.acked[1].item_id, B);
    ck_assert_int_eq(r.n_failed, 1);
    ck_assert_str_eq(r.failed[0].item_id, C);
    ck_assert_str_eq(r.failed[0].reason, "disk\\x01 full");
    ck_assert_int_eq(r.ignored, 4);
    exec_result_free(&r);
}
END_TEST

/* As README says a deleter may write them: a tab between word and id, blanks after the id, an
 * id in upper case, an empty line; the words themselves in lower case only. */
START_TEST(receipts_as_the_readme_says_they_may_be_written)
{
    struct exec_result r;
    const char *cmd = "printf 'deleted\\t" A " \\t\\n\\nabsent  22222222-2222-4222-8222-22222222222A\\n"
                      "DELETED " C "\\n'; true";
    ck_assert(executor_run(cmd, "/dev/null", "b", "EU", 10, NULL, &r));
    ck_assert(r.ok);
    ck_assert_int_eq(r.n_acked, 2);
    ck_assert_str_eq(r.acked[0].item_id, A);
    ck_assert_str_eq(r.acked[1].item_id, "22222222-2222-4222-8222-22222222222a");
    ck_assert_int_eq(r.n_failed, 0);
    ck_assert_int_eq(r.ignored, 1);
    exec_result_free(&r);
}
END_TEST

START_TEST(runs_the_command_whole_with_the_manifest_last)
{
    struct exec_result r;
    ck_assert(executor_run("echo deleted " A "; echo \"deleted $LETHE_BATCH_ID\" # ", "x", B, "EU",
                           10, NULL, &r));
    /* the trailing comment swallows the appended argument: the command ran as written */
    ck_assert_int_eq(r.n_acked, 2);
    ck_assert_str_eq(r.acked[1].item_id, B);
    exec_result_free(&r);
    ck_assert(executor_run("true; echo deleted", C, "b", "EU", 10, NULL, &r));
    ck_assert_int_eq(r.n_acked, 1);
    ck_assert_str_eq(r.acked[0].item_id, C);
    exec_result_free(&r);
}
END_TEST

/* A deleter stuck repeating a receipt, or printing ids of nothing in its batch: each item's
 * receipt is kept once per kind, the rest counted and dropped, so memory follows the batch. */
START_TEST(receipts_kept_once_per_item_of_the_batch)
{
    struct exec_items items = {0};
    ck_assert(exec_items_add(&items, B));
    ck_assert(exec_items_add(&items, A));
    ck_assert(exec_items_add(&items, B));
    exec_items_seal(&items);
    ck_assert_uint_eq(items.n, 2);
    struct exec_result r;
    const char *cmd = "i=0; while [ $i -lt 20000 ]; do echo deleted " A "; i=$((i+1)); done;"
                      " echo failed " A " gone; echo failed " A " again;"
                      " echo deleted " C "; echo absent " C "; echo absent " B "; true";
    ck_assert(executor_run(cmd, "m", "b", "EU", 30, &items, &r));
    ck_assert_int_eq(r.n_acked, 2); /* A once, B once */
    ck_assert_str_eq(r.acked[0].item_id, A);
    ck_assert_str_eq(r.acked[1].item_id, B);
    ck_assert_int_eq(r.n_failed, 1); /* A's first failed receipt: the contradiction is kept */
    ck_assert_str_eq(r.failed[0].reason, "gone");
    ck_assert_int_eq(r.repeated, 19999 + 1);
    ck_assert_int_eq(r.foreign, 2);
    ck_assert_int_eq(r.ignored, 0);
    exec_result_free(&r);
    exec_items_free(&items);
}
END_TEST

START_TEST(exit_status_keeps_earlier_receipts)
{
    struct exec_result r;
    ck_assert(executor_run("echo deleted " A "; exit 3", "m", "b", "EU", 10, NULL, &r));
    ck_assert(!r.ok);
    ck_assert_int_eq(r.exit_code, 3);
    ck_assert_str_eq(r.detail, "exit status 3");
    ck_assert_int_eq(r.n_acked, 1);
    exec_result_free(&r);
}
END_TEST

START_TEST(timeout_holds_with_closed_pipes)
{
    struct exec_result r;
    double t0 = now_s();
    ck_assert(executor_run("echo absent " A "; exec >&- 2>&-; sleep 20; true", "m", "b", "EU", 1, NULL, &r));
    ck_assert(now_s() - t0 < 5);
    ck_assert(r.timed_out);
    ck_assert(!r.ok);
    ck_assert_str_eq(r.detail, "timed out after 1s");
    ck_assert_int_eq(r.n_acked, 1);
    exec_result_free(&r);
    t0 = now_s();
    ck_assert(executor_run("sleep 20 & exit 0", "m", "b", "EU", 1, NULL, &r));
    ck_assert(now_s() - t0 < 5);
    ck_assert(r.timed_out);
    exec_result_free(&r);
}
END_TEST

/* A deleter on another platform may begin its stdout with a UTF-8 byte order mark: its first
 * receipt still counts (it was ignored as a line that is no receipt), also as a last line cut
 * short by the kill; a mark anywhere else is no receipt. */
START_TEST(byte_order_mark_before_the_first_receipt)
{
    struct exec_result r;
    ck_assert(executor_run("printf '\\357\\273\\277deleted " A "\\r\\n"
                           "\\357\\273\\277deleted " B "\\n'; true", "m", "b", "EU", 10, NULL, &r));
    ck_assert_int_eq(r.n_acked, 1);
    ck_assert_str_eq(r.acked[0].item_id, A);
    ck_assert_int_eq(r.ignored, 1);
    exec_result_free(&r);
    ck_assert(executor_run("printf '\\357\\273\\277absent " C "'; sleep 20; true", "m", "b", "EU", 1,
                           NULL, &r));
    ck_assert(r.timed_out);
    ck_assert_int_eq(r.n_acked, 1);
    ck_assert_str_eq(r.acked[0].item_id, C);
    ck_assert_int_eq(r.ignored, 0);
    exec_result_free(&r);
}
END_TEST

int main(void)
{
    log_set_verbosity(-1);
    Suite *s = suite_create("executor");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, parses_receipts_and_ignores_the_rest);
    tcase_add_test(tc, receipts_as_the_readme_says_they_may_be_written);
    tcase_add_test(tc, runs_the_command_whole_with_the_manifest_last);
    tcase_add_test(tc, receipts_kept_once_per_item_of_the_batch);
    tcase_add_test(tc, exit_status_keeps_earlier_receipts);
    tcase_add_test(tc, timeout_holds_with_closed_pipes);
    tcase_add_test(tc, byte_order_mark_before_the_first_receipt);
    return run_suite(s, tc);
}
