/* Check suite for engine/db.c's result readers: columns are found by name, SQL null reads as
 * NULL, "" or false as each reader says, and a column the statement does not return aborts
 * (a reordered or renamed SELECT fails loudly instead of printing the wrong value). The
 * results are built with libpq's own result constructors; statements are tested against a
 * real server in tests/integration. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "suite.h"

/* A result with columns (state, items, held) and two rows: ("due", "7", "t") and all nulls. */
static PGresult *result(void)
{
    PGresult *r = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    ck_assert_ptr_nonnull(r);
    PGresAttDesc cols[3] = {{.name = "state", .format = 0, .typid = 25, .typlen = -1},
                            {.name = "items", .format = 0, .typid = 20, .typlen = 8},
                            {.name = "held", .format = 0, .typid = 16, .typlen = 1}};
    ck_assert_int_eq(PQsetResultAttrs(r, 3, cols), 1);
    ck_assert_int_eq(PQsetvalue(r, 0, 0, "due", 3), 1);
    ck_assert_int_eq(PQsetvalue(r, 0, 1, "7", 1), 1);
    ck_assert_int_eq(PQsetvalue(r, 0, 2, "t", 1), 1);
    for (int c = 0; c < 3; c++)
        ck_assert_int_eq(PQsetvalue(r, 1, c, NULL, -1), 1);
    return r;
}

START_TEST(columns_are_read_by_name_in_any_order)
{
    PGresult *r = result();
    ck_assert_int_eq(db_col(r, "held"), 2);
    ck_assert_int_eq(db_col(r, "state"), 0);
    ck_assert_str_eq(db_get(r, 0, "state"), "due");
    ck_assert_str_eq(db_str(r, 0, "items"), "7");
    ck_assert_int_eq(db_get_long(r, 0, "items"), 7);
    ck_assert(db_true(r, 0, "held"));
    PQclear(r);
}
END_TEST

START_TEST(null_reads_as_each_reader_says)
{
    PGresult *r = result();
    ck_assert_ptr_null(db_get(r, 1, "state"));
    ck_assert_str_eq(db_str(r, 1, "state"), "");
    ck_assert_int_eq(db_get_long(r, 1, "items"), 0);
    ck_assert(!db_true(r, 1, "held"));
    PQclear(r);
}
END_TEST

START_TEST(a_missing_column_aborts)
{
    PGresult *r = result();
    db_str(r, 0, "deadline");   /* the statement returns no such column */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("db");
    TCase *tc = tcase_create("results");
    tcase_add_test(tc, columns_are_read_by_name_in_any_order);
    tcase_add_test(tc, null_reads_as_each_reader_says);
    tcase_add_test_raise_signal(tc, a_missing_column_aborts, SIGABRT);
    return run_suite(s, tc);
}
