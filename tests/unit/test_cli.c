/* Check suite for engine/cli.c's UTF-8 check, which every option value passes through:
 * well-formed text of every length is accepted, and each kind of malformed sequence is
 * found at its first byte (RFC 3629's table, as PostgreSQL's UTF8 encoding enforces it). */
#define _POSIX_C_SOURCE 200809L
#include <check.h>

#include "cli.h"
#include "suite.h"

START_TEST(accepts_well_formed_text)
{
    ck_assert_int_eq(cli_utf8_invalid_at(""), -1);
    ck_assert_int_eq(cli_utf8_invalid_at("user_a"), -1);
    ck_assert_int_eq(cli_utf8_invalid_at("Ren\xc3\xa9" "e M\xc3\xbc" "ller"), -1);   /* 2 bytes */
    ck_assert_int_eq(cli_utf8_invalid_at("\xe2\x82\xac 5 \xe6\x9d\xb1\xe4\xba\xac"), -1); /* 3 */
    ck_assert_int_eq(cli_utf8_invalid_at("\xf0\x9f\x94\x92 lock"), -1);       /* 4 bytes */
    ck_assert_int_eq(cli_utf8_invalid_at("\xed\x9f\xbf"), -1);   /* U+D7FF, before surrogates */
    ck_assert_int_eq(cli_utf8_invalid_at("\xee\x80\x80"), -1);   /* U+E000, after them */
    ck_assert_int_eq(cli_utf8_invalid_at("\xf4\x8f\xbf\xbf"), -1); /* U+10FFFF, the last */
}
END_TEST

static const struct {
    const char *text;
    long at;
} bad[] = {
    {"\xff", 0},                    /* never in UTF-8 */
    {"ok\xfe", 2},
    {"caf\xe9", 3},                 /* Latin-1 é */
    {"\x80 lone continuation", 0},
    {"\xc3", 0},                    /* cut short at the end */
    {"\xc3(", 0},                   /* a continuation that is not one */
    {"ab\xe2\x82", 2},              /* three-byte form cut short */
    {"\xf0\x9f\x94", 0},            /* four-byte form cut short */
    {"\xc0\xaf", 0},                /* overlong '/' */
    {"\xc1\xbf", 0},                /* overlong */
    {"\xe0\x80\xaf", 0},            /* overlong, three bytes */
    {"\xf0\x80\x80\xaf", 0},        /* overlong, four bytes */
    {"x\xed\xa0\x80", 1},           /* U+D800, a surrogate */
    {"\xed\xbf\xbf", 0},            /* U+DFFF */
    {"\xf4\x90\x80\x80", 0},        /* U+110000, beyond Unicode */
    {"\xf5\x80\x80\x80", 0},
    {"\xe2\x82\xac\xe2\x28\xa1", 3}, /* a good euro sign, then a bad one */
};

START_TEST(finds_the_first_malformed_byte)
{
    ck_assert_int_eq(cli_utf8_invalid_at(bad[_i].text), bad[_i].at);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, accepts_well_formed_text);
    tcase_add_loop_test(tc, finds_the_first_malformed_byte, 0, (int)(sizeof bad / sizeof bad[0]));
    return run_suite(s, tc);
}
