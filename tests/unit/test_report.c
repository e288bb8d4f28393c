/* Check suite for engine/report.c: run --json's summary line, byte for byte (the plan's JSON
 * needs the database and is tested in tests/integration/governance.sh). */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "suite.h"

static char *summary(const char *shard, const char *outcome)
{
    struct run_counts c = {.events = 3, .items = 4, .obligations = 2, .withdrawn = 1,
                           .expanded = 5, .due = 7, .held = 1, .batches = 2, .purged = 6,
                           .repurged = 8, .failed = 1, .failed_batches = 1, .redriven = 0, .left_open = 2,
                           .left_open_items = 9};
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    report_run_json(f, "3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f", outcome,
                    "2026-11-28T03:00:00.000000Z", shard, &c, 1.23456);
    fclose(f);
    return buf;
}

START_TEST(run_summary_is_one_json_line)
{
    char *s = summary("", "succeeded");
    ck_assert_str_eq(s, "{\"run_id\": \"3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f\", \"outcome\": "
                        "\"succeeded\", \"as_of\": \"2026-11-28T03:00:00.000000Z\", \"shard\": null,"
                        " \"new_events\": 3, \"new_items\": 4, \"obligations\": 2, \"withdrawn\": 1,"
                        " \"expanded\": 5, \"redriven\": 0, \"due\": 7, \"batches\": 2,"
                        " \"purged\": 6, \"repurged\": 8, \"failed\": 1, \"failed_batches\": 1,"
                        " \"held\": 1, \"left_open\": 2, \"left_open_items\": 9, \"seconds\": 1.235}\n");
    free(s);
}
END_TEST

START_TEST(run_summary_names_its_shard)
{
    char *s = summary("1/4", "interrupted");
    ck_assert_ptr_nonnull(strstr(s, "\"outcome\": \"interrupted\""));
    ck_assert_ptr_nonnull(strstr(s, "\"shard\": \"1/4\""));
    free(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("report");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, run_summary_is_one_json_line);
    tcase_add_test(tc, run_summary_names_its_shard);
    return run_suite(s, tc);
}
