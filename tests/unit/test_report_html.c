/* Check suite for engine/report_html.c: escaping, and the page written for a report held in
 * memory: its marked numbers, the heads it lists and the ones it leaves to verify -v, the
 * commands, a database without item_status, and nothing that could load or run anything. */
#define _POSIX_C_SOURCE 200809L
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_html.h"
#include "suite.h"

static char *escaped(const char *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    report_html_escape(f, s);
    fclose(f);
    return buf;
}

START_TEST(escapes_markup_and_quotes)
{
    char *e = escaped("<b class='x'>\"a\" & b</b>");
    ck_assert_str_eq(e, "&lt;b class=&#39;x&#39;&gt;&quot;a&quot; &amp; b&lt;/b&gt;");
    free(e);
    e = escaped("plain é ✓");
    ck_assert_str_eq(e, "plain é ✓");
    free(e);
    e = escaped(NULL);
    ck_assert_str_eq(e, "");
    free(e);
}
END_TEST

static long long weeks0[2] = {3, 0}, weeks1[2] = {1, 2};
static struct report_rule rules[] = {
    {"deletion_request", 1234567, 1234560, 7, 0, 0, 4, 3, 0, "187200.5", "2026-11-01T10:00:00.000000Z"},
    {"<i>odd</i>", 0, 0, 0, 0, 0, 2, 0, 0, NULL, "2026-12-08T00:00:00.000000Z"},
    {"all", 1234567, 1234560, 7, 0, 0, 6, 3, 0, "187200.5", "2026-11-01T10:00:00.000000Z"},
};
static struct report_bucket buckets[] = {{"up to 1 hour", 5, 0}, {"over 30 days", 2, 0}};
static struct report_bar bars[] = {{BAR_OVERDUE, "", weeks0, 3},
                                   {BAR_WEEK, "2026-12-07", weeks1, 3}};
static struct report_head heads[] = {
    {"00000000-0000-0000-0000-000000000000", 1, 9,
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}};

static char *rendered(const struct report *r)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert(report_html_render(f, r));
    fclose(f);
    return buf;
}

static struct report sample(void)
{
    return (struct report){.from = "2026-10-01T00:00:00.000000Z",
                           .to = "2026-11-01T00:00:00.000000Z",
                           .tenant = "a1a1a1a1-0000-4000-8000-000000000001",
                           .generated = "2026-11-30T07:00:00.000000Z",
                           .verify_to = "2026-11-01T00:00:00.000000Z",
                           .records = 1234600,
                           .chains = 25,
                           .pending_known = true,
                           .rules = rules,
                           .n_rules = 3,
                           .buckets = buckets,
                           .n_buckets = 2,
                           .bars = bars,
                           .n_bars = 2,
                           .heads = heads,
                           .n_heads = 1};
}

START_TEST(marks_every_number_and_groups_digits_for_people)
{
    struct report r = sample();
    char *page = rendered(&r);
    ck_assert_ptr_nonnull(strstr(page, "<td data-field=\"purged\" data-value=\"1234567\">1,234,567</td>"));
    ck_assert_ptr_nonnull(strstr(page, "id=\"total-overdue\" data-value=\"3\">3</span>"));
    ck_assert_ptr_nonnull(strstr(page, "data-field=\"max_lateness_seconds\" data-value=\"187200.5\">2d 04:00:01</td>"));
    ck_assert_ptr_nonnull(strstr(page, "data-field=\"nearest_deadline\" data-value=\"2026-11-01T10:00:00.000000Z\">2026-11-01 10:00 UTC</td>"));
    ck_assert_ptr_nonnull(strstr(page, "<g data-bucket=\"up to 1 hour\" data-late=\"5\" data-held=\"0\">"));
    ck_assert_ptr_nonnull(strstr(page, "<g data-week=\"2026-12-07\" data-total=\"3\">"));
    ck_assert_ptr_nonnull(strstr(page, "<span id=\"records\" data-value=\"1234600\">1,234,600</span>"));
    /* a rule's name is text, however it reads */
    ck_assert_ptr_null(strstr(page, "<i>odd"));
    ck_assert_ptr_nonnull(strstr(page, "<tr data-rule=\"&lt;i&gt;odd&lt;/i&gt;\">"));
    free(page);
}
END_TEST

START_TEST(gives_the_commands_and_says_which_heads_it_left_out)
{
    struct report r = sample();
    char *page = rendered(&r);
    ck_assert_ptr_nonnull(strstr(page, "<pre id=\"export-command\">lethe export --from "
                                       "2026-10-01T00:00:00.000000Z --to 2026-11-01T00:00:00.000000Z "
                                       "--tenant a1a1a1a1-0000-4000-8000-000000000001 --format jsonl "
                                       "-o audit.jsonl</pre>"));
    ck_assert_ptr_nonnull(strstr(page, "<pre id=\"verify-command\">lethe verify audit.jsonl \\\n"
                                       "    --expect-head 00000000-0000-0000-0000-000000000000="
                                       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa</pre>"));
    ck_assert_ptr_nonnull(strstr(page, "24 more chains are not listed"));
    ck_assert_ptr_nonnull(strstr(page, "1,234,600 records in 25 chains"));
    /* the window had ended: --to is its own, and the page says nothing about pinning it */
    ck_assert_ptr_null(strstr(page, "had not ended"));
    free(page);
}
END_TEST

START_TEST(loads_and_runs_nothing)
{
    struct report r = sample();
    char *page = rendered(&r);
    static const char *const never[] = {"<script", "<link", "<img", "<iframe", "src=", "href=",
                                        "url(", "@import", "http:", "https:"};
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
        ck_assert_msg(!strstr(page, never[i]), "the page holds %s", never[i]);
    ck_assert_ptr_nonnull(strstr(page, "content=\"default-src 'none'; style-src 'unsafe-inline'\""));
    free(page);
}
END_TEST

START_TEST(without_item_status_shows_no_pending)
{
    struct report r = sample();
    r.pending_known = false;
    r.bars = NULL;
    r.n_bars = 0;
    char *page = rendered(&r);
    ck_assert_ptr_null(strstr(page, "total-pending"));
    ck_assert_ptr_null(strstr(page, "data-field=\"pending\""));
    ck_assert_ptr_nonnull(strstr(page, "no <code>lethe.item_status</code> view"));
    free(page);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("report_html");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, escapes_markup_and_quotes);
    tcase_add_test(tc, marks_every_number_and_groups_digits_for_people);
    tcase_add_test(tc, gives_the_commands_and_says_which_heads_it_left_out);
    tcase_add_test(tc, loads_and_runs_nothing);
    tcase_add_test(tc, without_item_status_shows_no_pending);
    return run_suite(s, tc);
}
