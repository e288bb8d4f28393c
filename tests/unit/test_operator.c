/* Check suite for engine/operator.c: who is recorded as the operator when --operator is not
 * given: the person behind sudo, else the account of the effective uid, never a placeholder. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>

#include "operator.h"
#include "suite.h"

START_TEST(sudo_user_first)
{
    setenv("SUDO_USER", "user_c", 1);
    setenv("USER", "someone-else", 1);
    ck_assert_str_eq(operator_default(), "user_c");
}
END_TEST

START_TEST(then_the_effective_account)
{
    unsetenv("SUDO_USER");
    setenv("USER", "someone-else", 1);
    const struct passwd *pw = getpwuid(geteuid());
    ck_assert_ptr_nonnull(pw);
    ck_assert_str_eq(operator_default(), pw->pw_name);
    setenv("SUDO_USER", "", 1); /* empty counts as unset */
    ck_assert_str_eq(operator_default(), pw->pw_name);
}
END_TEST

/* Blanks and bytes that are not UTF-8 name no one: recorded, the first would be a blank operator
 * and the second would fail inside the audited transaction. */
START_TEST(blank_or_garbled_names_no_one)
{
    const struct passwd *pw = getpwuid(geteuid());
    ck_assert_ptr_nonnull(pw);
    setenv("SUDO_USER", "  \t ", 1);
    ck_assert_str_eq(operator_default(), pw->pw_name);
    setenv("SUDO_USER", "\xff\xfe", 1);
    ck_assert_str_eq(operator_default(), pw->pw_name);
    setenv("SUDO_USER", "user_\xc3\xa9", 1); /* UTF-8 beyond ASCII is a name */
    ck_assert_str_eq(operator_default(), "user_\xc3\xa9");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("operator");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, sudo_user_first);
    tcase_add_test(tc, then_the_effective_account);
    tcase_add_test(tc, blank_or_garbled_names_no_one);
    return run_suite(s, tc);
}
