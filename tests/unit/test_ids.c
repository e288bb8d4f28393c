/* Check suite for engine/ids.c: what counts as a UUID on the command line, the lower-case
 * normal form, and generated ids (random, version 4, distinct). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "suite.h"

START_TEST(accepts_and_normalises)
{
    char out[UUID_TEXT_LEN];
    ck_assert(id_parse("3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f", out));
    ck_assert_str_eq(out, "3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f");
    ck_assert(id_parse("3F2B8C1E-5D4A-4E7B-9C0D-1A2B3C4D5E6F", out));
    ck_assert_str_eq(out, "3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f");
    ck_assert(id_parse("3f2B8c1E-5d4A-4e7B-9c0D-1a2B3c4D5e6F", out));
    ck_assert_str_eq(out, "3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f");
    ck_assert(id_parse(NIL_UUID, out));
    ck_assert_str_eq(out, "00000000-0000-0000-0000-000000000000");
    ck_assert(id_parse("ffffffff-ffff-ffff-ffff-ffffffffffff", out));
    ck_assert_str_eq(out, "ffffffff-ffff-ffff-ffff-ffffffffffff");
    /* Any version and variant: producers generate the ids, lethe only reads them. */
    ck_assert(id_parse("123e4567-e89b-12d3-a456-426614174000", out));
    ck_assert_str_eq(out, "123e4567-e89b-12d3-a456-426614174000");
}
END_TEST

START_TEST(refuses_what_is_not_a_uuid)
{
    const char *bad[] = {
        "",
        "3f2b8c1e",
        "3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6",   /* 35 characters */
        "3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f0", /* 37 */
        "3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6g",  /* not hex */
        "3f2b8c1e5d4a4e7b9c0d1a2b3c4d5e6f",      /* no hyphens */
        "3f2b8c1e-5d4a4-e7b-9c0d-1a2b3c4d5e6f",  /* a hyphen out of place */
        "3f2b8c1e-5d4a-4e7b-9c0d_1a2b3c4d5e6f",
        "{3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6}",
        " 3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6",
        "3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6 ",
        "3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6\n",
        "+3f2b8c1-5d4a-4e7b-9c0d-1a2b3c4d5e6f",
        "3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f\n",
    };
    char out[UUID_TEXT_LEN] = "untouched";
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!id_parse(bad[i], out), "accepted \"%s\"", bad[i]);
    ck_assert(!id_parse(NULL, out));
    ck_assert_str_eq(out, "untouched");
}
END_TEST

static int by_text(const void *a, const void *b) { return strcmp(a, b); }

START_TEST(generates_random_v4_ids)
{
    enum { N = 2000 };
    static char ids[N][UUID_TEXT_LEN];
    for (int i = 0; i < N; i++) {
        id_generate(ids[i]);
        ck_assert_uint_eq(strlen(ids[i]), 36);
        ck_assert_msg(ids[i][14] == '4', "not version 4: %s", ids[i]);
        ck_assert_msg(strchr("89ab", ids[i][19]) != NULL, "not the RFC variant: %s", ids[i]);
        char back[UUID_TEXT_LEN];
        ck_assert(id_parse(ids[i], back));
        ck_assert_str_eq(back, ids[i]); /* already lower case, already normal */
    }
    qsort(ids, N, sizeof ids[0], by_text);
    for (int i = 1; i < N; i++)
        ck_assert_str_ne(ids[i - 1], ids[i]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ids");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, accepts_and_normalises);
    tcase_add_test(tc, refuses_what_is_not_a_uuid);
    tcase_add_test(tc, generates_random_v4_ids);
    return run_suite(s, tc);
}
