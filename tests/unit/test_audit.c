/* Check suite for engine/audit.c: the canonical form and its escaping, SHA-256 and HMAC
 * known answers, and the chain hash. Expected values come from Python's json, hashlib and
 * hmac (and RFC 4231), not from this code. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "ids.h"
#include "suite.h"

static struct audit_value val(const char *s) { return (struct audit_value){s, s ? strlen(s) : 0}; }

static void set(struct audit_record *r, enum audit_member m, const char *s) { r->v[m] = val(s); }

/* The record the Python reference computed: strings needing every kind of escape. */
static struct audit_record sample(void)
{
    struct audit_record r = {0};
    set(&r, AM_SEQ, "7");
    set(&r, AM_AT, "2026-11-28T13:25:39.123456Z");
    set(&r, AM_KIND, "item_purged");
    set(&r, AM_TENANT_ID, "3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f");
    set(&r, AM_RULE, "deletion_request");
    set(&r, AM_REFERENCE, "T-1 \"q\"\\\n\x01\xc3\xa9");
    set(&r, AM_ON_TIME, "false");
    set(&r, AM_COUNT, "0");
    set(&r, AM_PREV_HASH, AUDIT_ZERO_HASH);
    return r;
}

static const char sample_canonical[] =
    "{\"seq\":7,\"at\":\"2026-11-28T13:25:39.123456Z\",\"kind\":\"item_purged\","
    "\"tenant_id\":\"3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f\",\"run_id\":null,\"batch_id\":null,"
    "\"item_id\":null,\"rule\":\"deletion_request\",\"reference\":\"T-1 \\\"q\\\"\\\\\\n\\u0001\xc3\xa9\","
    "\"triggered_at\":null,\"deadline_at\":null,\"purged_at\":null,\"on_time\":false,"
    "\"location\":null,\"hold_id\":null,\"subject_hmac\":null,\"operator\":null,\"count\":0,"
    "\"detail\":null,\"prev_hash\":\"" AUDIT_ZERO_HASH "\"}";

START_TEST(json_string_escapes_minimally)
{
    struct audit_buf b = {0};
    const char in[] = "a\"b\\c/\b\f\n\r\t\x01\x1f\x7f \xc3\xa9\xe2\x80\xa8";
    audit_json_string(&b, in, sizeof in - 1);
    ck_assert_str_eq(b.data, "\"a\\\"b\\\\c/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f \xc3\xa9\xe2\x80\xa8\"");
    audit_buf_reset(&b);
    audit_json_string(&b, "", 0);
    ck_assert_str_eq(b.data, "\"\"");
    ck_assert(!b.failed);
    audit_buf_free(&b);
}
END_TEST

START_TEST(json_string_keeps_embedded_nul_escaped)
{
    struct audit_buf b = {0};
    audit_json_string(&b, "a\0b", 3);
    ck_assert_str_eq(b.data, "\"a\\u0000b\"");
    audit_buf_free(&b);
}
END_TEST

START_TEST(canonical_matches_reference)
{
    struct audit_record r = sample();
    struct audit_buf b = {0};
    const char *why = NULL;
    ck_assert_msg(audit_canonical(&r, &b, &why), "refused: %s", why);
    ck_assert_str_eq(b.data, sample_canonical);
    ck_assert_uint_eq(b.len, strlen(sample_canonical));
    audit_buf_free(&b);
}
END_TEST

START_TEST(canonical_ignores_hash_member)
{
    struct audit_record r = sample();
    set(&r, AM_HASH, "whatever");
    struct audit_buf b = {0};
    const char *why;
    ck_assert(audit_canonical(&r, &b, &why));
    ck_assert_str_eq(b.data, sample_canonical);
    audit_buf_free(&b);
}
END_TEST

START_TEST(canonical_refuses_bad_values)
{
    struct audit_buf b = {0};
    const char *why;
    struct audit_record r = sample();
    set(&r, AM_SEQ, NULL);
    ck_assert(!audit_canonical(&r, &b, &why));
    ck_assert_str_eq(why, "member \"seq\" is null");
    r = sample();
    set(&r, AM_TENANT_ID, NULL);
    ck_assert(!audit_canonical(&r, &b, &why));
    ck_assert_str_eq(why, "member \"tenant_id\" is null");
    const char *bad_ints[] = {"007", "-0", "1.5", "", "+1", " 1", "12345678901234567890", "-", NULL};
    for (int i = 0; bad_ints[i]; i++) {
        r = sample();
        set(&r, AM_COUNT, bad_ints[i]);
        ck_assert_msg(!audit_canonical(&r, &b, &why), "accepted count \"%s\"", bad_ints[i]);
        ck_assert_str_eq(why, "member \"count\" is not an integer");
    }
    r = sample();
    set(&r, AM_COUNT, "-12");
    ck_assert(audit_canonical(&r, &b, &why));
    const char *bad_bools[] = {"t", "yes", "TRUE", "1", NULL};
    for (int i = 0; bad_bools[i]; i++) {
        r = sample();
        set(&r, AM_ON_TIME, bad_bools[i]);
        ck_assert(!audit_canonical(&r, &b, &why));
        ck_assert_str_eq(why, "member \"on_time\" is neither true nor false");
    }
    audit_buf_free(&b);
}
END_TEST

/* What the audit's checks bound (sql/0003_audit.sql): verify refuses a record outside them. */
START_TEST(record_form_is_what_the_audit_holds)
{
    struct audit_record r = sample();
    const char *why = NULL;
    ck_assert_msg(audit_record_form(&r, &why), "refused: %s", why);
    set(&r, AM_KIND, "item_unpurged");
    ck_assert(!audit_record_form(&r, &why));
    ck_assert_str_eq(why, "its kind is not one lethe writes");
    set(&r, AM_KIND, "checkpoint"); /* the engine chain's, on a tenant's */
    ck_assert(!audit_record_form(&r, &why));
    ck_assert_str_eq(why, "its kind is the engine chain's, on a tenant's chain");
    set(&r, AM_TENANT_ID, NIL_UUID);
    ck_assert(audit_record_form(&r, &why));
    set(&r, AM_KIND, "item_purged"); /* a tenant's, on the engine chain */
    ck_assert(!audit_record_form(&r, &why));
    r = sample();
    set(&r, AM_RUN_ID, "3F2B8C1E-5D4A-4E7B-9C0D-1A2B3C4D5E6F");
    ck_assert(!audit_record_form(&r, &why));
    set(&r, AM_RUN_ID, "3f2b8c1e5d4a4e7b9c0d1a2b3c4d5e6f");
    ck_assert(!audit_record_form(&r, &why));
    r = sample();
    set(&r, AM_REFERENCE, "");
    ck_assert(!audit_record_form(&r, &why));
    r = sample();
    set(&r, AM_SUBJECT_HMAC, "ab");
    ck_assert(!audit_record_form(&r, &why));
    set(&r, AM_SUBJECT_HMAC, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
    ck_assert(audit_record_form(&r, &why));
}
END_TEST

START_TEST(times_on_the_calendar)
{
    ck_assert(audit_time_text("2024-02-29T23:59:59.999999Z"));
    ck_assert(audit_time_text("2000-02-29T00:00:00.000000Z"));
    ck_assert(audit_time_text("0001-01-01T00:00:00.000000Z"));
    ck_assert(!audit_time_text("2026-12-07T23:26:61.000000Z"));
    ck_assert(!audit_time_text("2026-12-07T24:00:00.000000Z"));
    ck_assert(!audit_time_text("2026-12-07T23:60:00.000000Z"));
    ck_assert(!audit_time_text("2026-02-29T00:00:00.000000Z"));
    ck_assert(!audit_time_text("1900-02-29T00:00:00.000000Z"));
    ck_assert(!audit_time_text("2026-04-31T00:00:00.000000Z"));
    ck_assert(!audit_time_text("2026-13-01T00:00:00.000000Z"));
    ck_assert(!audit_time_text("2026-00-01T00:00:00.000000Z"));
    ck_assert(!audit_time_text("0000-01-01T00:00:00.000000Z"));
}
END_TEST

START_TEST(members_and_csv_header_agree)
{
    char joined[512] = "";
    for (int m = 0; m < AUDIT_MEMBERS; m++) {
        if (m)
            strcat(joined, ",");
        strcat(joined, audit_member_names[m]);
    }
    ck_assert_str_eq(audit_csv_header(), joined);
    ck_assert_int_eq(audit_member_type(AM_SEQ), AUDIT_JSON_INT);
    ck_assert_int_eq(audit_member_type(AM_COUNT), AUDIT_JSON_INT);
    ck_assert_int_eq(audit_member_type(AM_ON_TIME), AUDIT_JSON_BOOL);
    ck_assert_int_eq(audit_member_type(AM_AT), AUDIT_JSON_STRING);
    ck_assert(audit_member_required(AM_PREV_HASH) && !audit_member_required(AM_RUN_ID));
}
END_TEST

START_TEST(sha256_known_answers)
{
    char out[AUDIT_HEX_LEN];
    audit_sha256_hex("", 0, out);
    ck_assert_str_eq(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    audit_sha256_hex("abc", 3, out);
    ck_assert_str_eq(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
END_TEST

START_TEST(chain_hash_known_answer)
{
    char out[AUDIT_HEX_LEN], direct[AUDIT_HEX_LEN];
    audit_chain_hash(AUDIT_ZERO_HASH, sample_canonical, strlen(sample_canonical), out);
    ck_assert_str_eq(out, "c522abd9aa080e74a746bc8c6ad43c73ca480df581afe9cc7c860a7587097b48");
    /* The same bytes hashed in one piece. */
    char joined[1024];
    snprintf(joined, sizeof joined, "%s\n%s", AUDIT_ZERO_HASH, sample_canonical);
    audit_sha256_hex(joined, strlen(joined), direct);
    ck_assert_str_eq(out, direct);
}
END_TEST

START_TEST(jsonl_line_is_canonical_plus_hash)
{
    struct audit_record r = sample();
    set(&r, AM_HASH, "c522abd9aa080e74a746bc8c6ad43c73ca480df581afe9cc7c860a7587097b48");
    struct audit_buf b = {0};
    const char *why;
    ck_assert(audit_jsonl_line(&r, &b, &why));
    char want[2048];
    snprintf(want, sizeof want, "%.*s,\"hash\":\"%s\"}\n", (int)strlen(sample_canonical) - 1,
             sample_canonical, r.v[AM_HASH].text);
    ck_assert_str_eq(b.data, want);
    set(&r, AM_HASH, NULL);
    ck_assert(!audit_jsonl_line(&r, &b, &why));
    audit_buf_free(&b);
}
END_TEST

START_TEST(csv_row_quotes_only_when_needed)
{
    struct audit_record r = sample();
    set(&r, AM_DETAIL, "two\nlines, \"quoted\"");
    set(&r, AM_HASH, "h");
    struct audit_buf b = {0};
    audit_csv_row(&r, &b);
    ck_assert_str_eq(b.data, "7,2026-11-28T13:25:39.123456Z,item_purged,"
                             "3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f,,,,deletion_request,"
                             "\"T-1 \"\"q\"\"\\\n\x01\xc3\xa9\",,,,false,,,,,0,"
                             "\"two\nlines, \"\"quoted\"\"\"," AUDIT_ZERO_HASH ",h\n");
    audit_buf_free(&b);
}
END_TEST

START_TEST(csv_row_guards_what_a_spreadsheet_would_run)
{
    struct audit_record r = sample();
    set(&r, AM_REFERENCE, "=1+1");
    set(&r, AM_OPERATOR, "'ops");
    set(&r, AM_DETAIL, "-2, \"x\"");
    set(&r, AM_LOCATION, "plain=text");
    set(&r, AM_HASH, "h");
    struct audit_buf b = {0};
    audit_csv_row(&r, &b);
    ck_assert_str_eq(b.data, "7,2026-11-28T13:25:39.123456Z,item_purged,"
                             "3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f,,,,deletion_request,"
                             "\"'=1+1\",,,,false,plain=text,,,\"''ops\",0,"
                             "\"'-2, \"\"x\"\"\"," AUDIT_ZERO_HASH ",h\n");
    audit_buf_free(&b);
    /* integers and booleans are never guarded; every text that starts so is */
    ck_assert(!audit_csv_guarded(AM_COUNT, "-1", 2));
    ck_assert(!audit_csv_guarded(AM_ON_TIME, "false", 5));
    const char *starts[] = {"=", "+", "-", "@", "\t", "\r", "'"};
    for (size_t i = 0; i < sizeof starts / sizeof *starts; i++)
        ck_assert(audit_csv_guarded(AM_REFERENCE, starts[i], 1));
    ck_assert(!audit_csv_guarded(AM_REFERENCE, "a=", 2));
}
END_TEST

START_TEST(times_format_like_postgres)
{
    static const struct {
        long long us;
        const char *text;
    } cases[] = {
        {0, "1970-01-01T00:00:00.000000Z"},
        {1795872339123456LL, "2026-11-28T13:25:39.123456Z"},
        {951868799999999LL, "2000-02-29T23:59:59.999999Z"},
        {-999999LL, "1969-12-31T23:59:59.000001Z"},
        {-62135596800000000LL, "0001-01-01T00:00:00.000000Z"},
        {253402300799999999LL, "9999-12-31T23:59:59.999999Z"},
        {1709164800500000LL, "2024-02-29T00:00:00.500000Z"},
    };
    char out[AUDIT_TIME_LEN];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        audit_format_time(cases[i].us, out);
        ck_assert_str_eq(out, cases[i].text);
    }
}
END_TEST

static bool hmac(const void *key, size_t len, const char *subject, char out[AUDIT_HEX_LEN])
{
    unsigned char copy[64];
    memcpy(copy, key, len);
    struct audit_key k = {copy, len};
    return audit_hmac_subject(&k, subject, out);
}

START_TEST(hmac_known_answers)
{
    char out[AUDIT_HEX_LEN];
    /* RFC 4231 test case 2 */
    ck_assert(hmac("Jefe", 4, "what do ya want for nothing?", out));
    ck_assert_str_eq(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    /* RFC 4231 test case 1: twenty 0x0b bytes */
    unsigned char k[20];
    memset(k, 0x0b, sizeof k);
    ck_assert(hmac(k, sizeof k, "Hi There", out));
    ck_assert_str_eq(out, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    /* The raw bytes are the key: a trailing newline is part of it. */
    ck_assert(hmac("key\n", 4, "user_a@example.com", out));
    ck_assert_str_eq(out, "0e82e5face6cbfb31dcda2420ce244b1be5d7c40ab8b029a8d6720c5d25a72f4");
}
END_TEST

START_TEST(one_key_hmacs_many)
{
    /* One key in memory, many HMACs (a batch's locators): the same answers every time. */
    char out[AUDIT_HEX_LEN];
    struct audit_key key = {(unsigned char *)strdup("Jefe"), 4};
    const char *data = "what do ya want for nothing?";
    for (int i = 0; i < 3; i++) {
        ck_assert(audit_hmac_hex(&key, data, strlen(data), out));
        ck_assert_str_eq(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
    /* Locators may hold any bytes but NUL; the length given is what is hashed. */
    ck_assert(audit_hmac_hex(&key, "what do ya want for nothing?!", 28, out));
    ck_assert_str_eq(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    audit_key_free(&key);
}
END_TEST

START_TEST(one_mac_many_messages)
{
    /* The key set up once (a batch's locators): the known answers, each message alone. */
    char out[AUDIT_HEX_LEN];
    struct audit_key key = {(unsigned char *)strdup("Jefe"), 4};
    struct audit_mac *m = audit_mac_new(&key);
    ck_assert_ptr_nonnull(m);
    for (int i = 0; i < 3; i++) {
        ck_assert(audit_mac_hex(m, "what do ya want for nothing?", 28, out));
        ck_assert_str_eq(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        ck_assert(audit_mac_hex(m, "", 0, out));
        ck_assert_str_eq(out, "923598ca6d64af2a5dba79dcd021a8a0fe5c5f557519adaaf0ad532d4506dd30");
    }
    audit_mac_free(m);
    audit_key_free(&key);
    /* RFC 4231 test case 6: a key longer than SHA-256's block. */
    unsigned char big[131];
    memset(big, 0xaa, sizeof big);
    struct audit_key longkey = {big, sizeof big};
    m = audit_mac_new(&longkey);
    ck_assert_ptr_nonnull(m);
    const char *t6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    ck_assert(audit_mac_hex(m, t6, strlen(t6), out));
    ck_assert_str_eq(out, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    audit_mac_free(m);
    audit_mac_free(NULL); /* harmless */
}
END_TEST

START_TEST(hmac_refuses_no_key)
{
    char out[AUDIT_HEX_LEN];
    /* The refusal prints its error; keep the suite's output to Check's summary. */
    fflush(stderr);
    int saved = dup(STDERR_FILENO), null = open("/dev/null", O_WRONLY);
    dup2(null, STDERR_FILENO);
    struct audit_key none = {0};
    bool empty = audit_hmac_subject(&none, "user_a", out);
    bool null_key = audit_hmac_subject(NULL, "user_a", out);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(null);
    ck_assert(!empty);
    ck_assert(!null_key);
}
END_TEST

START_TEST(key_free_wipes_and_empties)
{
    struct audit_key k = {(unsigned char *)strdup("secret"), 6};
    audit_key_free(&k);
    ck_assert_ptr_null(k.bytes);
    ck_assert_int_eq(k.len, 0);
    audit_key_free(&k); /* twice is harmless */
}
END_TEST

int main(void)
{
    Suite *s = suite_create("audit");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, json_string_escapes_minimally);
    tcase_add_test(tc, json_string_keeps_embedded_nul_escaped);
    tcase_add_test(tc, canonical_matches_reference);
    tcase_add_test(tc, canonical_ignores_hash_member);
    tcase_add_test(tc, canonical_refuses_bad_values);
    tcase_add_test(tc, members_and_csv_header_agree);
    tcase_add_test(tc, record_form_is_what_the_audit_holds);
    tcase_add_test(tc, times_on_the_calendar);
    tcase_add_test(tc, jsonl_line_is_canonical_plus_hash);
    tcase_add_test(tc, csv_row_quotes_only_when_needed);
    tcase_add_test(tc, csv_row_guards_what_a_spreadsheet_would_run);
    tcase_add_test(tc, times_format_like_postgres);
    tcase_add_test(tc, sha256_known_answers);
    tcase_add_test(tc, chain_hash_known_answer);
    tcase_add_test(tc, hmac_known_answers);
    tcase_add_test(tc, one_key_hmacs_many);
    tcase_add_test(tc, one_mac_many_messages);
    tcase_add_test(tc, hmac_refuses_no_key);
    tcase_add_test(tc, key_free_wipes_and_empties);
    return run_suite(s, tc);
}
