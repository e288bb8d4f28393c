/* Check suite for engine/text.c: which bytes are valid UTF-8, and how text from outside is
 * cleaned (control characters and invalid bytes escaped, bounded at a character boundary). */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "suite.h"
#include "text.h"

START_TEST(validates_utf8)
{
    ck_assert(text_valid_utf8("plain ascii", 11));
    ck_assert(text_valid_utf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14));
    ck_assert(text_valid_utf8("", 0));
    ck_assert(!text_valid_utf8("\xff", 1));
    ck_assert(!text_valid_utf8("\xc3\x28", 2));         /* bad continuation */
    ck_assert(!text_valid_utf8("\xc0\xaf", 2));         /* overlong '/' */
    ck_assert(!text_valid_utf8("\xe0\x80\xaf", 3));     /* overlong, three bytes */
    ck_assert(!text_valid_utf8("\xed\xa0\x80", 3));     /* a surrogate */
    ck_assert(!text_valid_utf8("\xf4\x90\x80\x80", 4)); /* past U+10FFFF */
    ck_assert(!text_valid_utf8("\xe2\x82", 2));         /* cut short */
    ck_assert(!text_valid_utf8("a\0b", 3));             /* NUL */
}
END_TEST

START_TEST(cleans_control_and_invalid_bytes)
{
    char out[64];
    ck_assert_str_eq(text_clean("disk \xc3\xa9 ok", 10, out, sizeof out), "disk \xc3\xa9 ok");
    ck_assert_str_eq(text_clean("a\tb\x07" "c\x7f", 6, out, sizeof out), "a\\x09b\\x07c\\x7F");
    ck_assert_str_eq(text_clean("\xff\xfe x", 4, out, sizeof out), "\\xFF\\xFE x");
    ck_assert_str_eq(text_clean("\xc3\x28", 2, out, sizeof out), "\\xC3(");
    ck_assert_str_eq(text_clean("a\0b", 3, out, sizeof out), "a\\x00b");
    ck_assert(text_valid_utf8(out, strlen(out)));
}
END_TEST

START_TEST(bounds_at_a_character_boundary)
{
    char out[8];
    ck_assert_str_eq(text_clean("abcdefghij", 10, out, sizeof out), "abcd...");
    /* "é" is two bytes: never cut in the middle of it */
    ck_assert_str_eq(text_clean("abc\xc3\xa9\xc3\xa9\xc3\xa9", 9, out, sizeof out), "abc...");
    ck_assert_str_eq(text_clean("\x01\x02\x03", 3, out, sizeof out), "\\x01...");
    ck_assert_str_eq(text_clean("abcdefg", 7, out, sizeof out), "abcdefg");
    char tiny[2];
    ck_assert_str_eq(text_clean("abc", 3, tiny, sizeof tiny), "");
}
END_TEST

START_TEST(shows_eight_values_in_one_printf)
{
    const char *v[9];
    char in[9][8];
    for (int i = 0; i < 9; i++) {
        snprintf(in[i], sizeof in[i], "n\n%d", i);
        v[i] = text_shown(in[i]);
    }
    /* the first eight stay valid together; the ninth takes the first's buffer */
    for (int i = 1; i < 8; i++) {
        char want[8];
        snprintf(want, sizeof want, "n\\x0A%d", i);
        ck_assert_str_eq(v[i], want);
    }
    ck_assert_str_eq(v[8], "n\\x0A8");
    ck_assert_str_eq(text_shown(NULL), "");
    char big[2000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ck_assert_uint_eq(strlen(text_shown(big)), 511);
}
END_TEST

START_TEST(shows_bidirectional_controls_escaped)
{
    /* "invoice-\u202Efdp.exe" would show as "invoice-exe.pdf" */
    ck_assert_str_eq(text_shown("invoice-\xe2\x80\xae" "fdp.exe"), "invoice-\\u202Efdp.exe");
    ck_assert_str_eq(text_shown("a\xe2\x80\x8e" "b\xe2\x80\x8f" "c\xd8\x9c" "d"),
                     "a\\u200Eb\\u200Fc\\u061Cd");
    ck_assert_str_eq(text_shown("\xe2\x81\xa6x\xe2\x81\xa9\xe2\x80\xaa"), "\\u2066x\\u2069\\u202A");
    /* neighbours of them, and every other script, stay as they are */
    ck_assert_str_eq(text_shown("\xe2\x80\x90\xe2\x81\xa5\xd8\x9b \xe6\x9d\xb1"),
                     "\xe2\x80\x90\xe2\x81\xa5\xd8\x9b \xe6\x9d\xb1");
    /* what is stored (an executor's stderr) keeps them: only a person's terminal is guarded */
    char out[32];
    ck_assert_str_eq(text_clean("x\xe2\x80\xae", 4, out, sizeof out), "x\xe2\x80\xae");
}
END_TEST

START_TEST(escapes_c1_controls_and_line_separators)
{
    /* U+009B is an 8-bit CSI ("\u009B2J" clears some terminals), U+0085 a line break, and
     * U+2028 and U+2029 line and paragraph breaks: a tenant's name could forge a line with them */
    ck_assert_str_eq(text_shown("a\xc2\x9b" "2J\xc2\x85" "b\xe2\x80\xa8" "c\xe2\x80\xa9"),
                     "a\\u009B2J\\u0085b\\u2028c\\u2029");
    char out[32];
    ck_assert_str_eq(text_clean("x\xc2\x80y\xe2\x80\xa8", 7, out, sizeof out), "x\\u0080y\\u2028");
    /* their neighbours are letters and punctuation, kept */
    ck_assert_str_eq(text_shown("\xc2\xa0\xc2\xa9\xe2\x80\xa7\xe2\x80\xaf"),
                     "\xc2\xa0\xc2\xa9\xe2\x80\xa7\xe2\x80\xaf");
}
END_TEST

/* As libpq reads a port when it connects (a list; empty for the default; 1 to 65535). */
START_TEST(judges_ports_as_libpq_takes_them)
{
    const char *good[] = {"5432", "", " 05432 ", "5432,5433", ",", "1", "65535", "0000065535"};
    const char *bad[] = {"abc", "0", "000", "65536", "5432x", "5432,abc", "-1", "99999999999999999999",
                         "password=s3cret"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        ck_assert_msg(text_port_valid(good[i]), "'%s' is a port", good[i]);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        ck_assert_msg(!text_port_valid(bad[i]), "'%s' is not a port", bad[i]);
}
END_TEST

/* Blank in any script, as the catalog's checks say (sql/0086); control characters of every kind. */
START_TEST(says_a_conninfo_message_without_its_values)
{
    char out[256];
    /* libpq's own messages, as PQconninfoParse gives them */
    ck_assert_str_eq(text_conninfo_said("invalid connection option \"passwrd\"\n",
                                        "dbname=lethe passwrd=s3cret", out, sizeof out),
                     "invalid connection option \"passwrd\"");
    ck_assert_str_eq(text_conninfo_said("missing \"=\" after \"Hun%ter2\" in connection info string\n",
                                        "dbname=lethe Hun%ter2", out, sizeof out),
                     "missing \"=\" after \"...\" in connection info string");
    /* a quoted part that is no word, after the same words, stays hidden */
    ck_assert_str_eq(text_conninfo_said("invalid connection option \"s3cr=t\"\n", "x", out, sizeof out),
                     "invalid connection option \"...\"");
    ck_assert_str_eq(text_conninfo_said("invalid sslmode value: \"verify\"\n", "x", out, sizeof out),
                     "invalid sslmode value: \"...\"");
    /* a value libpq judges as it connects: the keyword named, the value not */
    ck_assert_str_eq(text_conninfo_said("invalid integer value \"s3cret\" for connection option "
                                        "\"connect_timeout\"\n", "x", out, sizeof out),
                     "invalid integer value \"...\" for connection option \"connect_timeout\"");
}
END_TEST

START_TEST(judges_blank_and_control_text)
{
    const char *blank[] = {"", " ", "\t\n", "\xc2\xa0", "\xe2\x80\x8b", "\xe3\x80\x80 \xef\xbb\xbf",
                           "\xe2\x80\xa8", "\xc2\x85",
                           /* drawn by no font: U+3164, U+115F, U+2800, U+2066, U+061C, U+00AD, U+E0020, U+1D173 */
                           "\xe3\x85\xa4", "\xe1\x85\x9f", "\xe2\xa0\x80", "\xe2\x81\xa6", "\xd8\x9c",
                           "\xc2\xad", "\xf3\xa0\x80\xa0", "\xf0\x9d\x85\xb3"};
    const char *not_blank[] = {"a", " a ", "\xe2\x80\x8b" "x", "\xc3\xa9", "\xe2\x80\x90", "\xff",
                               "\xe2\xa0\x81" /* U+2801, a Braille dot */, "\xe3\x85\xa5" /* U+3165 */};
    for (size_t i = 0; i < sizeof blank / sizeof *blank; i++)
        ck_assert_msg(text_blank(blank[i]), "blank #%zu", i);
    for (size_t i = 0; i < sizeof not_blank / sizeof *not_blank; i++)
        ck_assert_msg(!text_blank(not_blank[i]), "not blank #%zu", i);
    const char *control[] = {"a\nb", "\x01", "a\x7f", "\xc2\x9b", "a\xe2\x80\xa8", "\xe2\x80\xa9", "\t"};
    const char *plain[] = {"user_a", "J\xc3\xbcrgen", "\xc2\xa0", "a b", "\xe2\x80\x8b"};
    for (size_t i = 0; i < sizeof control / sizeof *control; i++)
        ck_assert_msg(text_has_control(control[i]), "control #%zu", i);
    for (size_t i = 0; i < sizeof plain / sizeof *plain; i++)
        ck_assert_msg(!text_has_control(plain[i]), "no control #%zu", i);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("text");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, validates_utf8);
    tcase_add_test(tc, cleans_control_and_invalid_bytes);
    tcase_add_test(tc, bounds_at_a_character_boundary);
    tcase_add_test(tc, shows_eight_values_in_one_printf);
    tcase_add_test(tc, shows_bidirectional_controls_escaped);
    tcase_add_test(tc, escapes_c1_controls_and_line_separators);
    tcase_add_test(tc, judges_ports_as_libpq_takes_them);
    tcase_add_test(tc, judges_blank_and_control_text);
    tcase_add_test(tc, says_a_conninfo_message_without_its_values);
    return run_suite(s, tc);
}
