/* Check suite for anchor_parse (engine/anchor.c). A line as lethe writes it is read by a cursor
 * that knows only that shape; anything else goes to jansson. The model here: the same JSON
 * value printed by jansson with indentation (which that cursor never reads) must parse to the
 * same line, and a text jansson refuses must be refused. Compared on lines as written, on
 * thousands of damaged copies of one, and on a line naming 5,000 chains. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anchor.h"
#include "suite.h"

#define ONE_HEAD                                                                                   \
    "{\"chain\":\"00000000-0000-0000-0000-000000000000\",\"seq\":2,\"hash\":"                        \
    "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}"

static const char *const written[] = {
    /* a run's line with the heads' own times and "since" */
    "{\"run_id\":\"3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f\",\"at\":\"2026-12-06T07:10:30.000000Z\","
    "\"heads\":[{\"chain\":\"00000000-0000-0000-0000-000000000000\",\"seq\":17,\"hash\":"
    "\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"at\":"
    "\"2026-12-06T07:10:29.123456Z\"},{\"chain\":\"123e4567-e89b-12d3-a456-426614174000\","
    "\"seq\":1,\"hash\":\"fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210\","
    "\"at\":\"2026-12-06T07:10:29.000001Z\"}],\"since\":\"2026-12-06T06:10:30.000000Z\"}",
    /* an older line: no times of the heads, no "since" */
    "{\"run_id\":\"3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f\",\"at\":\"2026-01-01T00:00:00.000000Z\","
    "\"heads\":[{\"chain\":\"00000000-0000-0000-0000-000000000000\",\"seq\":123456789012345678,"
    "\"hash\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}]}",
    /* "since" empty: the line counts from the start of the log */
    "{\"run_id\":\"3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f\",\"at\":\"2026-01-01T00:00:00.000000Z\","
    "\"heads\":[{\"chain\":\"00000000-0000-0000-0000-000000000000\",\"seq\":2,"
    "\"hash\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}],"
    "\"since\":\"\"}",
    /* "fenced" after "since": when the run found no audit writer in flight */
    "{\"run_id\":\"3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f\",\"at\":\"2026-12-08T00:00:01.000000Z\","
    "\"heads\":[" ONE_HEAD "],\"since\":\"2026-12-07T23:00:00.000000Z\","
    "\"fenced\":\"2026-12-08T00:00:00.990000Z\"}",
};

/* The model's reading: TEXT as jansson loads it, printed again with indentation. NULL when
 * jansson refuses TEXT. */
static char *reprinted(const char *text, size_t len)
{
    json_error_t e;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
    if (!o)
        return NULL;
    char *s = json_dumps(o, JSON_INDENT(1) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    ck_assert_ptr_nonnull(s);
    /* never the shape the cursor reads */
    ck_assert(!json_is_object(o) || json_object_size(o) == 0 || strchr(s, '\n'));
    json_decref(o);
    return s;
}

static void assert_same_line(const struct anchor_line *a, const struct anchor_line *b,
                             const char *what)
{
    ck_assert_msg(strcmp(a->run_id, b->run_id) == 0, "run_id differs: %s", what);
    ck_assert_msg(strcmp(a->at, b->at) == 0, "at differs: %s", what);
    ck_assert_msg(a->has_since == b->has_since && strcmp(a->since, b->since) == 0,
                  "since differs: %s", what);
    ck_assert_msg(strcmp(a->fenced, b->fenced) == 0, "fenced differs: %s", what);
    ck_assert_msg(a->n_heads == b->n_heads, "%zu heads against %zu: %s", a->n_heads, b->n_heads,
                  what);
    for (size_t i = 0; i < a->n_heads; i++) {
        const struct anchor_head *x = &a->heads[i], *y = &b->heads[i];
        ck_assert_msg(strcmp(x->chain, y->chain) == 0 && x->seq == y->seq &&
                          strcmp(x->hash, y->hash) == 0 && strcmp(x->at, y->at) == 0,
                      "head %zu differs: %s", i, what);
    }
}

/* TEXT parsed by anchor_parse and by the model: refused by both, or read the same. */
static bool agrees(const char *text, size_t len)
{
    struct anchor_line got, model;
    const char *why = NULL;
    bool ok = anchor_parse(text, len, &got, &why);
    char *again = reprinted(text, len);
    if (!again) {
        ck_assert_msg(!ok, "accepted what jansson refuses: %.*s", (int)len, text);
        return false;
    }
    const char *why2 = NULL;
    bool ok2 = anchor_parse(again, strlen(again), &model, &why2);
    ck_assert_msg(ok == ok2, "%s as written, %s as jansson prints it: %.*s",
                  ok ? "accepted" : "refused", ok2 ? "accepted" : "refused", (int)len, text);
    if (ok) {
        assert_same_line(&got, &model, text);
        anchor_line_free(&got);
        anchor_line_free(&model);
    } else {
        ck_assert_ptr_nonnull(why);
        ck_assert_ptr_nonnull(why2);
    }
    free(again);
    return ok;
}

START_TEST(lines_as_written)
{
    for (size_t i = 0; i < sizeof written / sizeof written[0]; i++)
        ck_assert_msg(agrees(written[i], strlen(written[i])), "refused: %s", written[i]);
    struct anchor_line l;
    const char *why;
    ck_assert(anchor_parse(written[0], strlen(written[0]), &l, &why));
    ck_assert_uint_eq(l.n_heads, 2);
    ck_assert_str_eq(l.run_id, "3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f");
    ck_assert_str_eq(l.heads[1].chain, "123e4567-e89b-12d3-a456-426614174000");
    ck_assert_int_eq(l.heads[0].seq, 17);
    ck_assert_str_eq(l.heads[1].at, "2026-12-06T07:10:29.000001Z");
    ck_assert(l.has_since);
    ck_assert_str_eq(l.since, "2026-12-06T06:10:30.000000Z");
    anchor_line_free(&l);
    ck_assert(anchor_parse(written[1], strlen(written[1]), &l, &why));
    ck_assert(!l.has_since);
    ck_assert_int_eq(l.heads[0].seq, 123456789012345678LL);
    ck_assert_str_eq(l.heads[0].at, "");
    ck_assert_str_eq(l.fenced, "");
    anchor_line_free(&l);
    ck_assert(anchor_parse(written[3], strlen(written[3]), &l, &why));
    ck_assert_str_eq(l.since, "2026-12-07T23:00:00.000000Z");
    ck_assert_str_eq(l.fenced, "2026-12-08T00:00:00.990000Z");
    anchor_line_free(&l);
    /* "fenced" without "since", or not a time: not a line lethe writes */
    static const char *const bad[] = {
        "{\"run_id\":\"3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f\",\"at\":\"2026-12-08T00:00:01.000000Z\","
        "\"heads\":[" ONE_HEAD "],\"fenced\":\"2026-12-08T00:00:00.990000Z\"}",
        "{\"run_id\":\"3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f\",\"at\":\"2026-12-08T00:00:01.000000Z\","
        "\"heads\":[" ONE_HEAD "],\"since\":\"\",\"fenced\":\"yesterday\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!anchor_parse(bad[i], strlen(bad[i]), &l, &why), "accepted: %s", bad[i]);
}
END_TEST

/* Lines that look like lethe's and are not: each refused, or read as jansson reads it. */
START_TEST(near_misses)
{
    const char *const lines[] = {
        /* upper-case ids are ids (normalised); upper-case hex is not a hash */
        "{\"run_id\":\"3F2B8C1E-5D4A-4E7B-9C0D-1A2B3C4D5E6F\",\"at\":\"2026-01-01T00:00:00.000000Z\","
        "\"heads\":[" ONE_HEAD "]}",
        "{\"run_id\":\"3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f\",\"at\":\"2026-01-01T00:00:00.000000Z\","
        "\"heads\":[{\"chain\":\"00000000-0000-0000-0000-000000000000\",\"seq\":2,"
        "\"hash\":\"0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\"}]}",
        /* seq 0, negative, a leading zero, a fraction, past 18 digits, past 2^63 */
        "{\"run_id\":\"3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f\",\"at\":\"2026-01-01T00:00:00.000000Z\","
        "\"heads\":[{\"chain\":\"00000000-0000-0000-0000-000000000000\",\"seq\":0,"
        "\"hash\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}]}",
        "{\"run_id\":\"3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f\",\"at\":\"2026-01-01T00:00:00.000000Z\","
        "\"heads\":[{\"chain\":\"00000000-0000-0000-0000-000000000000\",\"seq\":-3,"
        "\"hash\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}]}",
        "{\"run_id\":\"3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f\",\"at\":\"2026-01-01T00:00:00.000000Z\","
        "\"heads\":[{\"chain\":\"00000000-0000-0000-0000-000000000000\",\"seq\":07,"
        "\"hash\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}]}",
        "{\"run_id\":\"3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f\",\"at\":\"2026-01-01T00:00:00.000000Z\","
        "\"heads\":[{\"chain\":\"00000000-0000-0000-0000-000000000000\",\"seq\":7.0,"
        "\"hash\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}]}",
        "{\"run_id\":\"3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f\",\"at\":\"2026-01-01T00:00:00.000000Z\","
        "\"heads\":[{\"chain\":\"00000000-0000-0000-0000-000000000000\",\"seq\":1234567890123456789,"
        "\"hash\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}]}",
        "{\"run_id\":\"3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f\",\"at\":\"2026-01-01T00:00:00.000000Z\","
        "\"heads\":[{\"chain\":\"00000000-0000-0000-0000-000000000000\",\"seq\":92233720368547758070,"
        "\"hash\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}]}",
        /* a key twice, a key more, keys in another order, an escape, a trailing space */
        "{\"run_id\":\"3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f\",\"at\":\"2026-01-01T00:00:00.000000Z\","
        "\"heads\":[{\"chain\":\"00000000-0000-0000-0000-000000000000\",\"seq\":2,"
        "\"hash\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\","
        "\"at\":\"2026-01-01T00:00:00.000000Z\",\"at\":\"2026-01-01T00:00:00.000000Z\"}]}",
        "{\"run_id\":\"3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f\",\"at\":\"2026-01-01T00:00:00.000000Z\","
        "\"heads\":[{\"chain\":\"00000000-0000-0000-0000-000000000000\",\"seq\":2,"
        "\"hash\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\","
        "\"note\":\"x\"}]}",
        "{\"at\":\"2026-01-01T00:00:00.000000Z\",\"run_id\":\"3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f\","
        "\"heads\":[" ONE_HEAD "]}",
        "{\"run_id\":\"3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6\\u0066\",\"at\":"
        "\"2026-01-01T00:00:00.000000Z\",\"heads\":[" ONE_HEAD "]}",
        "{\"run_id\":\"3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f\",\"at\":\"2026-01-01T00:00:00.000000Z\","
        "\"heads\":[" ONE_HEAD "]} ",
        /* no head: anchor_append writes none such, and one taken as the newest line vouched for
         * nothing, silencing the check of the line before it */
        "{\"run_id\":\"3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f\",\"at\":\"2026-01-01T00:00:00.000000Z\","
        "\"heads\":[]}",
        "{\"run_id\":\"3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f\",\"at\":\"2026-01-01T00:00:00.000000Z\","
        "\"heads\":[],\"since\":\"\"}",
        /* a time without its microseconds, a "since" that is not a time, trailing garbage */
        "{\"run_id\":\"3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f\",\"at\":\"2026-01-01T00:00:00Z\","
        "\"heads\":[" ONE_HEAD "]}",
        "{\"run_id\":\"3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f\",\"at\":\"2026-01-01T00:00:00.000000Z\","
        "\"heads\":[" ONE_HEAD "],\"since\":\"yesterday\"}",
        "{\"run_id\":\"3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f\",\"at\":\"2026-01-01T00:00:00.000000Z\","
        "\"heads\":[" ONE_HEAD "]}}",
        "",
    };
    int accepted = 0;
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
        accepted += agrees(lines[i], strlen(lines[i]));
    /* the upper-case id, the 19-digit seq, the key more, the other order, the escape, the
     * trailing space */
    ck_assert_int_eq(accepted, 6);
}
END_TEST

/* Every damaged copy of a line as written (a byte changed, dropped or doubled, thousands of
 * times from a fixed seed): refused by both, or read the same. */
START_TEST(damaged_lines)
{
    static const char alphabet[] = "\"\\,:{}[]0179afgAF-TZ. \n\t\x01\x80";
    unsigned long long state = 0x9e3779b97f4a7c15ULL;
    int accepted = 0, tried = 0;
    char buf[1024];
    for (size_t w = 0; w < sizeof written / sizeof written[0]; w++) {
        const char *line = written[w];
        size_t len = strlen(line);
        ck_assert_uint_lt(len + 2, sizeof buf);
        for (int k = 0; k < 6000; k++) {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            size_t at = (size_t)(state >> 33) % len;
            char c = alphabet[(state >> 20) % (sizeof alphabet - 1)];
            size_t n = 0;
            switch ((state >> 12) % 3) {
            case 0: /* changed */
                memcpy(buf, line, len);
                buf[at] = c;
                n = len;
                break;
            case 1: /* dropped */
                memcpy(buf, line, at);
                memcpy(buf + at, line + at + 1, len - at - 1);
                n = len - 1;
                break;
            default: /* doubled */
                memcpy(buf, line, at + 1);
                memcpy(buf + at + 1, line + at, len - at);
                n = len + 1;
            }
            accepted += agrees(buf, n);
            tried++;
        }
    }
    /* Some damage leaves a line that still reads (a digit of a hash changed): both kinds seen. */
    ck_assert_int_gt(accepted, 0);
    ck_assert_int_lt(accepted, tried);
}
END_TEST

/* A cycle that touched every tenant: its line names every chain. */
START_TEST(a_line_of_many_chains)
{
    enum { N = 5000 };
    size_t cap = 200 + (size_t)N * 200, used = 0;
    char *line = malloc(cap);
    ck_assert_ptr_nonnull(line);
    used += (size_t)snprintf(line + used, cap - used,
                             "{\"run_id\":\"3f2b8c1e-5d4a-4e7b-9c0d-1a2b3c4d5e6f\","
                             "\"at\":\"2026-12-06T07:10:30.000000Z\",\"heads\":[");
    for (int i = 0; i < N; i++)
        used += (size_t)snprintf(line + used, cap - used,
                                 "%s{\"chain\":\"%08x-0000-4000-8000-%012x\",\"seq\":%d,\"hash\":"
                                 "\"%064x\",\"at\":\"2026-12-06T07:10:29.%06dZ\"}",
                                 i ? "," : "", i, i * 7, i + 1, i * 31, i % 1000000);
    used += (size_t)snprintf(line + used, cap - used, "],\"since\":\"\"}");
    ck_assert(agrees(line, used));
    struct anchor_line l;
    const char *why;
    ck_assert(anchor_parse(line, used, &l, &why));
    ck_assert_uint_eq(l.n_heads, N);
    ck_assert_int_eq(l.heads[N - 1].seq, N);
    ck_assert_str_eq(l.heads[N - 1].chain, "00001387-0000-4000-8000-0000000088b1");
    anchor_line_free(&l);
    free(line);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("anchor");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, lines_as_written);
    tcase_add_test(tc, near_misses);
    tcase_add_test(tc, damaged_lines);
    tcase_add_test(tc, a_line_of_many_chains);
    return run_suite(s, tc);
}
