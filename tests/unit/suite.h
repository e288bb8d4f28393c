/* What every Check suite's main() shares: run the suite, print Check's summary line, and exit
 * non-zero when a test failed. */
#ifndef LETHE_TEST_SUITE_H
#define LETHE_TEST_SUITE_H

#include <check.h>
#include <stdlib.h>

static inline int run_suite(Suite *s, TCase *tc)
{
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
