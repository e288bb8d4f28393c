/* The compliance summary as one HTML page: the summary's numbers drawn as inline SVG, the
 * lateness distribution, pending items by deadline week, and the chain heads with the exact
 * commands that verify them. No script, no URL, nothing fetched: a Content-Security-Policy
 * forbids it too. Every text that came from the database is escaped. */
#define _POSIX_C_SOURCE 200809L
#include "report_html.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "timefmt.h"

#ifndef LETHE_VERSION
#define LETHE_VERSION "0.1.0"
#endif

#define NIL_UUID "00000000-0000-0000-0000-000000000000"

#define C_ON_TIME "#2e7d32"
#define C_LATE "#c62828"
#define C_HELD "#e08a00"
#define C_VIOLATION "#6a1b9a"

void report_html_escape(FILE *out, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default: fputc(*s, out);
        }
    }
}
#define esc report_html_escape

/* 1234567 as "1,234,567": the page is read by people; the data- attributes keep the digits. */
static void put_count(FILE *out, long long n)
{
    char digits[32], grouped[48];
    int len = snprintf(digits, sizeof digits, "%lld", n < 0 ? -n : n), k = 0;
    if (n < 0)
        grouped[k++] = '-';
    for (int i = 0; i < len; i++) {
        if (i && (len - i) % 3 == 0)
            grouped[k++] = ',';
        grouped[k++] = digits[i];
    }
    grouped[k] = '\0';
    fputs(grouped, out);
}

/* "2026-12-01T10:00:00.000000Z" as "2026-12-01 10:00 UTC". */
static void put_time(FILE *out, const char *t)
{
    if (!t || strlen(t) < 16) {
        esc(out, t ? t : "-");
        return;
    }
    fprintf(out, "%.10s %.5s UTC", t, t + 11);
}

/* T ("YYYY-MM-DDTHH:MM:SS.ffffffZ") whole: "YYYY-MM-DD HH:MM:SS.ffffff UTC". */
static void put_instant(FILE *out, const char *t)
{
    size_t n = t ? strlen(t) : 0;
    if (n < 20 || t[10] != 'T' || t[n - 1] != 'Z') {
        esc(out, t ? t : "-");
        return;
    }
    fprintf(out, "%.10s ", t);
    fwrite(t + 11, 1, n - 12, out);
    fputs(" UTC", out);
}

/* The colour of a rule in the pending chart: the six rules of SPEC §3 keep theirs. */
static const char *rule_colour(const char *rule, size_t index)
{
    static const struct {
        const char *rule, *colour;
    } known[] = {{"deletion_request", "#3b6fb6"}, {"subject_request", "#2a9d8f"},
                 {"capacity_deleted", "#8d6e63"}, {"sharing_opt_out", "#7e57c2"},
                 {"shared_retention", "#b59a00"}, {"shared_while_opted_out", "#d64545"}};
    static const char *const other[] = {"#78909c", "#5c9ead", "#a1887f", "#9e9d24"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(rule, known[i].rule) == 0)
            return known[i].colour;
    return other[index % (sizeof other / sizeof other[0])];
}

/* The smallest 1, 2 or 5 times a power of ten that is at least V. */
static long long nice_step(long long v)
{
    long long p = 1;
    for (;;) {
        if (v <= p)
            return p;
        if (v <= 2 * p)
            return 2 * p;
        if (v <= 5 * p)
            return 5 * p;
        p *= 10;
    }
}

static void page_head(FILE *out, const struct report *r)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "style-src 'unsafe-inline'\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<meta name=\"generator\" content=\"lethe " LETHE_VERSION "\">\n"
          "<title>lethe compliance summary, ",
          out);
    put_time(out, r->generated);
    fputs("</title>\n<style>\n"
          ":root{--ink:#1c2330;--muted:#5d6778;--line:#dfe3ea;--bg:#f3f5f8;--ok:" C_ON_TIME
          ";--late:" C_LATE ";--held:" C_HELD ";--viol:" C_VIOLATION "}\n"
          "*{box-sizing:border-box}\n"
          "body{margin:0;background:var(--bg);color:var(--ink);"
          "font:14px/1.45 'DejaVu Sans','Helvetica Neue',Arial,sans-serif}\n"
          "main{max-width:1100px;margin:0 auto;padding:28px 28px 40px}\n"
          "h1{font-size:24px;margin:0 0 6px}\n"
          "h2{font-size:17px;margin:0 0 4px}\n"
          "p.lead{color:var(--muted);margin:0 0 14px}\n"
          "section{background:#fff;border:1px solid var(--line);border-radius:8px;"
          "padding:18px 22px;margin:0 0 18px}\n"
          "dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:3px 16px;margin:0 0 18px}\n"
          "dl.meta dt{color:var(--muted)}dl.meta dd{margin:0}\n"
          ".cards{display:grid;grid-template-columns:repeat(7,1fr);gap:10px;margin:0 0 18px}\n"
          ".card{background:#fff;border:1px solid var(--line);border-top:4px solid var(--muted);"
          "border-radius:8px;padding:10px 12px}\n"
          ".card .n{display:block;font-size:22px;font-weight:bold;"
          "font-variant-numeric:tabular-nums}\n"
          ".card .l{color:var(--muted);font-size:12px}\n"
          ".card.ok{border-top-color:var(--ok)}.card.late{border-top-color:var(--late)}"
          ".card.held{border-top-color:var(--held)}.card.viol{border-top-color:var(--viol)}"
          ".card.pend{border-top-color:#3b6fb6}\n"
          ".card.alert .n{color:var(--late)}\n"
          "table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums;"
          "margin-top:12px}\n"
          "th,td{padding:5px 8px;border-bottom:1px solid var(--line);text-align:right;"
          "white-space:nowrap}\n"
          "th{font-size:12px;color:var(--muted);font-weight:normal;vertical-align:bottom;"
          "white-space:normal}\n"
          "th:first-child,td:first-child{text-align:left}\n"
          "tr.all td{font-weight:bold;border-top:2px solid var(--ink);border-bottom:none}\n"
          "td.zero{color:#a3abb8}\n"
          "svg{display:block;width:100%;height:auto}\n"
          "svg text{font-family:'DejaVu Sans',Arial,sans-serif;font-size:12px;fill:var(--ink)}\n"
          "svg text.in{fill:#fff;font-size:11px}svg text.muted{fill:var(--muted)}\n"
          ".legend{margin:8px 0 4px;font-size:13px}\n"
          ".legend span{display:inline-block;margin-right:18px}\n"
          ".legend i{display:inline-block;width:12px;height:12px;border-radius:2px;"
          "vertical-align:-1px;margin-right:6px}\n"
          "pre{background:#f2f4f7;border:1px solid var(--line);border-radius:6px;"
          "padding:10px 12px;overflow-x:auto;font-size:12.5px;margin:8px 0}\n"
          "code,.hash,pre{font-family:'DejaVu Sans Mono',monospace}\n"
          ".hash{font-size:12px}td code{font-size:13px}\n"
          "#chain-heads td:last-child,#chain-heads th:last-child{text-align:left;"
          "padding-left:24px}\n"
          "dl.defs{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:0}\n"
          "dl.defs dt{font-weight:bold}dl.defs dd{margin:0;color:var(--muted)}\n"
          "footer{color:var(--muted);font-size:12px}\n"
          "@media print{body{background:#fff}main{padding:0}section{break-inside:avoid}"
          ".cards{grid-template-columns:repeat(4,1fr)}}\n"
          "</style>\n</head>\n<body>\n<main>\n",
          out);
}

static const struct report_rule *overall(const struct report *r)
{
    return &r->rules[r->n_rules - 1];
}

static void card(FILE *out, const char *cls, const char *field, long long n, const char *label)
{
    fprintf(out, "<div class=\"card %s\"><span class=\"n\" id=\"total-%s\" data-value=\"%lld\">",
            cls, field, n);
    put_count(out, n);
    fprintf(out, "</span><span class=\"l\">%s</span></div>\n", label);
}

static void overview(FILE *out, const struct report *r)
{
    const struct report_rule *all = overall(r);
    fputs("<h1>lethe compliance summary</h1>\n<dl class=\"meta\">\n<dt>window</dt><dd id=\"window\">",
          out);
    if (r->from || r->to) {
        /* The bounds to the microsecond, as given: a minute would suggest records before
         * --from in the window. */
        fputs("audit records from ", out);
        if (r->from)
            put_instant(out, r->from);
        else
            fputs("the first record", out);
        fputs(" (inclusive) to ", out);
        if (r->to)
            put_instant(out, r->to);
        else
            fputs("the last record", out);
        fputs(r->to ? " (exclusive)" : " (inclusive)", out);
    } else {
        fputs("every audit record", out);
    }
    fputs("</dd>\n<dt>tenant</dt><dd id=\"tenant\">", out);
    if (r->tenant) {
        fputs("<code>", out);
        esc(out, r->tenant);
        fputs("</code>", out);
    } else {
        fputs("all tenants", out);
    }
    fprintf(out, "</dd>\n<dt>generated</dt><dd id=\"generated\" data-value=\"");
    esc(out, r->generated);
    fputs("\">", out);
    put_time(out, r->generated);
    fprintf(out, " (database time; pending counts are as of then)</dd>\n"
                 "<dt>evidence</dt><dd><span id=\"records\" data-value=\"%lld\">",
            r->records);
    put_count(out, r->records);
    fprintf(out, "</span> audit records in <span id=\"chains\" data-value=\"%lld\">", r->chains);
    put_count(out, r->chains);
    fputs("</span> hash chains; section 4 says how to check them</dd>\n</dl>\n"
          "<div class=\"cards\">\n",
          out);
    card(out, "", "purged", all->purged, "purged");
    card(out, "ok", "on_time", all->on_time, "on time");
    card(out, all->late ? "late alert" : "late", "late", all->late, "late");
    card(out, "held", "held_past_deadline", all->held, "held past deadline");
    card(out, all->violations ? "viol alert" : "viol", "violations", all->violations,
         "violations");
    if (r->pending_known) {
        card(out, "pend", "pending", all->pending, "pending");
        card(out, all->overdue ? "late alert" : "late", "overdue", all->overdue, "overdue");
        if (all->violations_pending)
            card(out, "viol alert", "violations_pending", all->violations_pending,
                 "violations not purged");
    }
    fputs("</div>\n", out);
}

/* A horizontal bar of stacked segments; N segments with their counts, colours and names. */
struct segment {
    long long n;
    const char *colour, *outcome, *label;
};

/* Draws the segments from x = 200 and returns the width drawn. */
static double hbar(FILE *out, double y, double scale, const struct segment *s, int n,
                   const char *attr_name, const char *attr_value)
{
    double x = 200;
    for (int i = 0; i < n; i++) {
        if (!s[i].n)
            continue;
        double w = (double)s[i].n * scale;
        if (w < 2)
            w = 2;
        fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"20\" rx=\"2\" fill=\"%s\" "
                     "data-%s=\"",
                x, y, w, s[i].colour, attr_name);
        esc(out, attr_value);
        fprintf(out, "\" data-outcome=\"%s\" data-count=\"%lld\"><title>", s[i].outcome, s[i].n);
        esc(out, attr_value);
        fputs(": ", out);
        put_count(out, s[i].n);
        fprintf(out, " %s</title></rect>\n", s[i].label);
        char digits[32];
        int len = snprintf(digits, sizeof digits, "%lld", s[i].n);
        if (w >= 8.0 * len + 10)
            fprintf(out, "<text class=\"in\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                    x + w / 2, y + 14.5, digits);
        x += w;
    }
    return x - 200;
}

static void rules_section(FILE *out, const struct report *r)
{
    size_t n = r->n_rules - 1;
    long long max = 1;
    for (size_t i = 0; i < n; i++)
        if (r->rules[i].purged > max)
            max = r->rules[i].purged;
    double scale = 560.0 / (double)max;
    fputs("<section id=\"rules\">\n<h2>1. Purged items by rule</h2>\n"
          "<p class=\"lead\">Each item purged in the window has one <code>item_purged</code> audit "
          "record; its outcome is on time, late, held past its deadline by a hold, or a "
          "violation.</p>\n<div class=\"legend\">"
          "<span><i style=\"background:" C_ON_TIME "\"></i>on time</span>"
          "<span><i style=\"background:" C_LATE "\"></i>late</span>"
          "<span><i style=\"background:" C_HELD "\"></i>held past deadline</span>"
          "<span><i style=\"background:" C_VIOLATION "\"></i>violation</span></div>\n",
          out);
    fprintf(out, "<svg viewBox=\"0 0 1000 %zu\" role=\"img\" aria-label=\"purged items by rule "
                 "and outcome\">\n",
            n * 34 + 6);
    for (size_t i = 0; i < n; i++) {
        const struct report_rule *x = &r->rules[i];
        double y = 6 + (double)i * 34;
        fprintf(out, "<g data-rule=\"");
        esc(out, x->rule);
        fprintf(out, "\">\n<text x=\"190\" y=\"%.1f\" text-anchor=\"end\">", y + 14.5);
        esc(out, x->rule);
        fputs("</text>\n", out);
        fprintf(out, "<line x1=\"200\" x2=\"200\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#c5ccd6\"/>\n",
                y - 4, y + 24);
        struct segment s[] = {{x->on_time, C_ON_TIME, "on_time", "on time"},
                              {x->late, C_LATE, "late", "late"},
                              {x->held, C_HELD, "held_past_deadline", "held past deadline"},
                              {x->violations, C_VIOLATION, "violations", "violations"}};
        double w = hbar(out, y, scale, s, 4, "rule", x->rule);
        if (x->purged) {
            fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" data-total=\"%lld\">", 200 + w + 8, y + 14.5,
                    x->purged);
            put_count(out, x->purged);
            fputs(" purged</text>\n", out);
        } else {
            fprintf(out, "<text class=\"muted\" x=\"208\" y=\"%.1f\" data-total=\"0\">nothing "
                         "purged in this window</text>\n",
                    y + 14.5);
        }
        fputs("</g>\n", out);
    }
    fputs("</svg>\n<table id=\"summary\">\n<thead><tr><th>rule</th><th>purged</th>"
          "<th>on time</th><th>late</th><th>largest lateness</th><th>held past deadline</th>"
          "<th>violations</th>",
          out);
    if (r->pending_known)
        fputs("<th>pending</th><th>overdue</th><th>nearest deadline</th>", out);
    fputs("</tr></thead>\n<tbody>\n", out);
    for (size_t i = 0; i < r->n_rules; i++) {
        const struct report_rule *x = &r->rules[i];
        fprintf(out, "<tr%s data-rule=\"", i == n ? " class=\"all\"" : "");
        esc(out, x->rule);
        fputs("\"><td>", out);
        esc(out, x->rule);
        fputs("</td>", out);
        const struct {
            const char *field;
            long long n;
        } cells[] = {{"purged", x->purged}, {"on_time", x->on_time}, {"late", x->late}};
        for (size_t k = 0; k < 3; k++) {
            fprintf(out, "<td data-field=\"%s\" data-value=\"%lld\"%s>", cells[k].field,
                    cells[k].n, cells[k].n ? "" : " class=\"zero\"");
            put_count(out, cells[k].n);
            fputs("</td>", out);
        }
        char span[48];
        time_format_span(x->max_late_seconds, span, sizeof span);
        fputs("<td data-field=\"max_lateness_seconds\"", out);
        if (x->max_late_seconds) {
            fputs(" data-value=\"", out);
            esc(out, x->max_late_seconds);
            fputs("\"", out);
        } else {
            fputs(" class=\"zero\"", out);
        }
        fprintf(out, ">%s</td>", span);
        const struct {
            const char *field;
            long long n;
        } more[] = {{"held_past_deadline", x->held}, {"violations", x->violations},
                    {"pending", x->pending}, {"overdue", x->overdue}};
        for (size_t k = 0; k < (r->pending_known ? 4u : 2u); k++) {
            fprintf(out, "<td data-field=\"%s\" data-value=\"%lld\"%s>", more[k].field, more[k].n,
                    more[k].n ? "" : " class=\"zero\"");
            put_count(out, more[k].n);
            fputs("</td>", out);
        }
        if (r->pending_known) {
            fputs("<td data-field=\"nearest_deadline\"", out);
            if (x->nearest) {
                fputs(" data-value=\"", out);
                esc(out, x->nearest);
                fputs("\">", out);
                put_time(out, x->nearest);
            } else {
                fputs(" class=\"zero\">-", out);
            }
            fputs("</td>", out);
        }
        fputs("</tr>\n", out);
    }
    fputs("</tbody>\n</table>\n", out);
    if (!r->pending_known)
        fputs("<p class=\"lead\">This database has no <code>lethe.item_status</code> view: "
              "pending items are not shown.</p>\n",
              out);
    fputs("</section>\n", out);
}

static void lateness_section(FILE *out, const struct report *r)
{
    long long max = 1, late = 0, held = 0;
    for (size_t i = 0; i < r->n_buckets; i++) {
        long long t = r->buckets[i].late + r->buckets[i].held;
        if (t > max)
            max = t;
        late += r->buckets[i].late;
        held += r->buckets[i].held;
    }
    double scale = 560.0 / (double)max;
    fputs("<section id=\"lateness\">\n<h2>2. How late: items purged after their deadline</h2>\n"
          "<p class=\"lead\">By <code>purged_at &minus; deadline_at</code>. Violations are not "
          "here: a shared copy made while opted out is a violation however soon it is "
          "purged.</p>\n<div class=\"legend\">"
          "<span><i style=\"background:" C_LATE "\"></i>late</span>"
          "<span><i style=\"background:" C_HELD "\"></i>held past deadline</span></div>\n",
          out);
    fprintf(out, "<svg viewBox=\"0 0 1000 %zu\" role=\"img\" aria-label=\"lateness "
                 "distribution\">\n",
            r->n_buckets * 34 + 6);
    for (size_t i = 0; i < r->n_buckets; i++) {
        const struct report_bucket *b = &r->buckets[i];
        double y = 6 + (double)i * 34;
        fputs("<g data-bucket=\"", out);
        esc(out, b->label);
        fprintf(out, "\" data-late=\"%lld\" data-held=\"%lld\">\n", b->late, b->held);
        fprintf(out, "<text x=\"190\" y=\"%.1f\" text-anchor=\"end\">", y + 14.5);
        esc(out, b->label);
        fputs("</text>\n", out);
        fprintf(out, "<line x1=\"200\" x2=\"200\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#c5ccd6\"/>\n",
                y - 4, y + 24);
        struct segment s[] = {{b->late, C_LATE, "late", "late"},
                              {b->held, C_HELD, "held_past_deadline", "held past deadline"}};
        double w = hbar(out, y, scale, s, 2, "bucket", b->label);
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\"%s>", 200 + w + 8, y + 14.5,
                b->late + b->held ? "" : " class=\"muted\"");
        if (b->late + b->held == 0) {
            fputs("none", out);
        } else {
            put_count(out, b->late);
            fputs(" late", out);
            if (b->held) {
                fputs(", ", out);
                put_count(out, b->held);
                fputs(" held", out);
            }
        }
        fputs("</text>\n</g>\n", out);
    }
    fputs("</svg>\n<p class=\"lead\">In all ", out);
    put_count(out, late);
    fputs(" late and ", out);
    put_count(out, held);
    fputs(" held past deadline, as in section 1.</p>\n</section>\n", out);
}

static const char *const month_names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

static void bar_label(FILE *out, const struct report_bar *b, double x, double y, bool rotate,
                      bool show_year)
{
    const char *cls = b->kind == BAR_OVERDUE ? " style=\"fill:" C_LATE ";font-weight:bold\"" : "";
    if (rotate)
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\" transform=\"rotate(-45 %.1f "
                     "%.1f)\"%s>",
                x + 4, y, x + 4, y, cls);
    else
        fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\"%s>", x, y, cls);
    switch (b->kind) {
    case BAR_OVERDUE: fputs("overdue", out); break;
    case BAR_VIOLATION: fputs("violations", out); break;
    case BAR_HELD: fputs("held past deadline", out); break;
    case BAR_LATER: fputs("later", out); break;
    case BAR_NONE: fputs("no deadline", out); break;
    case BAR_WEEK: {
        int month = atoi(b->week + 5);
        if (rotate)
            fputs(b->week, out);
        else
            fprintf(out, "%d %s", atoi(b->week + 8), month_names[(month + 11) % 12]);
        break;
    }
    }
    fputs("</text>\n", out);
    if (show_year && !rotate && b->kind == BAR_WEEK)
        fprintf(out, "<text class=\"muted\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.4s"
                     "</text>\n",
                x, y + 15, b->week);
}

static void pending_section(FILE *out, const struct report *r)
{
    fputs("<section id=\"pending\">\n<h2>3. Pending items by deadline week</h2>\n", out);
    if (!r->pending_known) {
        fputs("<p class=\"lead\">This database has no <code>lethe.item_status</code> view: "
              "pending items are not shown.</p>\n</section>\n",
              out);
        return;
    }
    size_t n_rules = r->n_rules - 1;
    fprintf(out, "<p class=\"lead\">Items not purged when this page was made (due, scheduled, "
                 "held or in flight), by the week (Monday, UTC) of their deadline; overdue items "
                 "are past it already, and so are those held past it by a hold in effect at it, and "
                 "the violations (shared copies made while opted out) not purged yet. "
                 "Weeks more than %d ahead are under \"later\".</p>\n"
                 "<div class=\"legend\">",
            DBAUDIT_WEEKS_AHEAD);
    long long max = 0;
    for (size_t i = 0; i < r->n_bars; i++)
        if (r->bars[i].total > max)
            max = r->bars[i].total;
    bool any = false;
    for (size_t k = 0; k < n_rules; k++) {
        if (!r->rules[k].pending)
            continue;
        any = true;
        fprintf(out, "<span><i style=\"background:%s\"></i>", rule_colour(r->rules[k].rule, k));
        esc(out, r->rules[k].rule);
        fputs("</span>", out);
    }
    if (!any)
        fputs("<span>nothing pending</span>", out);
    fputs("</div>\n", out);

    long long step = nice_step(max <= 4 ? 1 : (max + 3) / 4);
    long long top = max ? (max + step - 1) / step * step : step;
    bool rotate = r->n_bars > 16;
    const double left = 56, right = 990, ytop = 26, ybottom = 216;
    double slot = (right - left) / (double)(r->n_bars ? r->n_bars : 1);
    double bw = slot * 0.66 < 46 ? slot * 0.66 : 46;
    double scale = (ybottom - ytop) / (double)top;
    fprintf(out, "<svg viewBox=\"0 0 1000 %d\" role=\"img\" aria-label=\"pending items by "
                 "deadline week\">\n",
            rotate ? 300 : 262);
    for (long long v = 0; v <= top; v += step) {
        double y = ybottom - (double)v * scale;
        fprintf(out, "<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n",
                left, right, y, y, v ? "#edf0f4" : "#9aa3b0");
        fprintf(out, "<text class=\"muted\" x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\">", left - 8,
                y + 4);
        put_count(out, v);
        fputs("</text>\n", out);
    }
    for (size_t i = 0; i < r->n_bars; i++) {
        const struct report_bar *b = &r->bars[i];
        double cx = left + slot * ((double)i + 0.5), x = cx - bw / 2, y = ybottom;
        const char *key = b->kind == BAR_WEEK      ? b->week
                          : b->kind == BAR_OVERDUE   ? "overdue"
                          : b->kind == BAR_VIOLATION ? "violation"
                          : b->kind == BAR_HELD      ? "held"
                          : b->kind == BAR_LATER   ? "later"
                                                   : "none";
        if (b->kind == BAR_OVERDUE)
            fprintf(out, "<rect x=\"%.1f\" y=\"%.0f\" width=\"%.1f\" height=\"%.0f\" "
                         "fill=\"#fdecea\"/>\n",
                    cx - slot / 2 + 1, ytop - 14, slot - 2, ybottom - ytop + 14);
        fprintf(out, "<g data-week=\"%s\" data-total=\"%lld\">\n", key, b->total);
        for (size_t k = 0; k < n_rules; k++) {
            if (!b->items[k])
                continue;
            double h = (double)b->items[k] * scale;
            if (h < 1.5)
                h = 1.5;
            y -= h;
            fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" "
                         "data-rule=\"",
                    x, y, bw, h, rule_colour(r->rules[k].rule, k));
            esc(out, r->rules[k].rule);
            fprintf(out, "\" data-count=\"%lld\"><title>", b->items[k]);
            esc(out, r->rules[k].rule);
            fputs(": ", out);
            put_count(out, b->items[k]);
            fprintf(out, " pending%s%s</title></rect>\n", b->kind == BAR_WEEK ? ", week of " : "",
                    b->kind == BAR_WEEK ? b->week : "");
        }
        if (b->total) {
            fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", cx, y - 5);
            put_count(out, b->total);
            fputs("</text>\n", out);
        }
        fputs("</g>\n", out);
        /* The year goes under the first week and under the first week of each new year (bar 0
         * is always the overdue one, so a week has a bar before it). */
        bool show_year = b->kind == BAR_WEEK && (r->bars[i - 1].kind != BAR_WEEK ||
                                                 strncmp(r->bars[i - 1].week, b->week, 4) != 0);
        bar_label(out, b, cx, ybottom + 18, rotate, show_year);
    }
    fputs("</svg>\n</section>\n", out);
}

static void heads_section(FILE *out, const struct report *r)
{
    fputs("<section id=\"heads\">\n<h2>4. Chain heads and how to verify them</h2>\n"
          "<p class=\"lead\">The audit log is hash-chained per tenant (the engine's own records "
          "under the nil uuid). An export of the same window ends each chain at the head below; "
          "<code>lethe verify</code> checks every hash, link and <code>seq</code> offline and "
          "that each chain ends at its expected head. Compare the heads with the checkpoints "
          "lethe logs and appends to its anchor file: a head that matches an anchor kept "
          "elsewhere shows that no record was cut from the chain's end.</p>\n",
          out);
    fputs("<table id=\"chain-heads\">\n<thead><tr><th>chain</th><th>seq in the window</th>"
          "<th>head (hash of the last record)</th></tr></thead>\n<tbody>\n",
          out);
    for (size_t i = 0; i < r->n_heads; i++) {
        const struct report_head *h = &r->heads[i];
        fputs("<tr data-chain=\"", out);
        esc(out, h->tenant);
        fprintf(out, "\" data-first-seq=\"%lld\" data-last-seq=\"%lld\" data-hash=\"",
                h->first_seq, h->last_seq);
        esc(out, h->hash);
        fputs("\"><td><code>", out);
        esc(out, h->tenant);
        fprintf(out, "</code>%s</td><td>", strcmp(h->tenant, NIL_UUID) == 0 ? " (engine)" : "");
        put_count(out, h->first_seq);
        fputs(" &ndash; ", out);
        put_count(out, h->last_seq);
        fputs("</td><td class=\"hash\">", out);
        esc(out, h->hash);
        fputs("</td></tr>\n", out);
    }
    if (!r->n_heads)
        fputs("<tr><td colspan=\"3\">no audit records in this window</td></tr>\n", out);
    fputs("</tbody>\n</table>\n", out);
    if (r->chains > (long long)r->n_heads) {
        fputs("<p class=\"lead\">", out);
        put_count(out, r->chains - (long long)r->n_heads);
        fputs(" more chains are not listed; <code>lethe -v verify audit.jsonl</code> prints "
              "every chain's head to compare with the anchor file.</p>\n",
              out);
    }
    fputs("<p>Export the window (with the same <code>--db</code> and <code>--config</code> as "
          "this page), then verify it:</p>\n<pre id=\"export-command\">lethe export",
          out);
    if (r->from) {
        fputs(" --from ", out);
        esc(out, r->from);
    }
    fputs(" --to ", out);
    esc(out, r->verify_to);
    if (r->tenant) {
        fputs(" --tenant ", out);
        esc(out, r->tenant);
    }
    fputs(" --format jsonl -o audit.jsonl</pre>\n<pre id=\"verify-command\">lethe verify "
          "audit.jsonl",
          out);
    for (size_t i = 0; i < r->n_heads; i++) {
        fputs(" \\\n    --expect-head ", out);
        esc(out, r->heads[i].tenant);
        fputs("=", out);
        esc(out, r->heads[i].hash);
    }
    fputs("</pre>\n<p>It must exit 0 and report <code id=\"verify-verdict\">", out);
    put_count(out, r->records);
    fputs(" records in ", out);
    put_count(out, r->chains);
    fputs(" chains</code>", out);
    if (r->n_heads)
        fputs(", every expected head matched", out);
    fputs(".", out);
    if (!r->to || strcmp(r->to, r->verify_to) != 0)
        fputs(" The window had not ended when this page was made, so <code>--to</code> is the "
              "page's time: the export then holds exactly the records counted here.",
              out);
    fputs("</p>\n</section>\n", out);
}

static void definitions(FILE *out)
{
    fputs("<section id=\"definitions\">\n<h2>What the numbers mean</h2>\n<dl class=\"defs\">\n"
          "<dt>purged</dt><dd>items purged in the window (one <code>item_purged</code> audit "
          "record each)</dd>\n"
          "<dt>on time</dt><dd>purged no later than their deadline</dd>\n"
          "<dt>late</dt><dd>purged after their deadline with no hold in the way; the largest "
          "lateness is the longest <code>purged_at &minus; deadline_at</code>, rounded up</dd>\n"
          "<dt>held past deadline</dt><dd>purged after their deadline because a hold kept them; "
          "counted as held, not late</dd>\n"
          "<dt>violations</dt><dd>shared copies captured while the tenant or workspace had opted "
          "out (rule <code>shared_while_opted_out</code>); a violation however soon it was "
          "purged, never counted as on time or late</dd>\n"
          "<dt>pending</dt><dd>items not purged at the time above: due, scheduled, held or in "
          "flight; the nearest deadline is the earliest of theirs</dd>\n"
          "<dt>overdue</dt><dd>pending items whose deadline has already passed, those a hold "
          "in effect at it keeps aside (held past deadline), and violations aside</dd>\n"
          "<dt>violations not purged</dt><dd>pending shared copies made while opted out, "
          "counted apart from the overdue ones, as <code>lethe status</code> lists them</dd>\n"
          "</dl>\n</section>\n"
          "<footer>Written by lethe " LETHE_VERSION " (<code>lethe export --summary --format "
          "html</code>) from the audit log and <code>lethe.item_status</code>. This page holds no "
          "customer content, locators or subject ids, runs no script and loads nothing.</footer>\n"
          "</main>\n</body>\n</html>\n",
          out);
}

bool report_html_render(FILE *out, const struct report *r)
{
    if (!r->n_rules)
        return false;
    page_head(out, r);
    overview(out, r);
    rules_section(out, r);
    lateness_section(out, r);
    pending_section(out, r);
    heads_section(out, r);
    definitions(out);
    return !ferror(out);
}

/* ---- loading: the summary's rows and two more queries of the same snapshot ---- */

static long long get_ll(const PGresult *res, int row, const char *name)
{
    const char *v = db_get(res, row, name);
    return v ? strtoll(v, NULL, 10) : 0;
}

static const lethe_time week_us = 7LL * 86400 * 1000000;

/* One "BUCKET WEEK ITEMS" of a rule's pending_weeks. */
struct week_cell {
    char bucket[16], week[16];
    long long items;
};

/* Reads the next cell of *P (comma-separated); false at the end or on anything else. */
static bool next_cell(const char **p, struct week_cell *c)
{
    int used = 0;
    if (!*p || !**p ||
        sscanf(*p, "%15s %15s %lld%n", c->bucket, c->week, &c->items, &used) != 3)
        return false;
    *p += used;
    if (**p == ',')
        (*p)++;
    return true;
}

/* Builds the pending chart's bars from the summary's own pending_weeks: overdue, held past
 * the deadline when it holds anything, every week from the current one to the last with a
 * deadline (so that the gaps show), then later and no deadline when they hold anything. */
static bool load_bars(struct report *r, PGresult *summary)
{
    size_t n_rules = r->n_rules - 1;
    const char *this_week = r->n_rules ? db_get(summary, 0, "this_week") : NULL;
    lethe_time first = 0, last = 0, t;
    bool viol = false, held = false, later = false, none = false;
    if (!this_week || !time_parse(this_week, &first))
        return false;
    for (size_t k = 0; k < n_rules; k++) {
        const char *p = db_get(summary, (int)k, "pending_weeks");
        struct week_cell c;
        while (next_cell(&p, &c)) {
            if (strcmp(c.bucket, "week") == 0 && time_parse(c.week, &t) && t > last)
                last = t;
            viol |= strcmp(c.bucket, "violation") == 0;
            held |= strcmp(c.bucket, "held") == 0;
            later |= strcmp(c.bucket, "later") == 0;
            none |= strcmp(c.bucket, "none") == 0;
        }
    }
    size_t n_weeks = last > first ? (size_t)((last - first) / week_us) + 1 : 1;
    /* The bars in order: overdue (0), violations, held, the weeks from w0, later, none. */
    size_t w0 = 1 + viol + held;
    r->n_bars = w0 + n_weeks + later + none;
    r->bars = calloc(r->n_bars, sizeof *r->bars);
    if (!r->bars)
        return false;
    for (size_t b = 0; b < r->n_bars; b++) {
        struct report_bar *bar = &r->bars[b];
        bar->items = calloc(n_rules ? n_rules : 1, sizeof *bar->items);
        if (!bar->items)
            return false;
        if (b == 0) {
            bar->kind = BAR_OVERDUE;
        } else if (viol && b == 1) {
            bar->kind = BAR_VIOLATION;
        } else if (b < w0) {
            bar->kind = BAR_HELD;
        } else if (b < w0 + n_weeks) {
            char text[TIME_TEXT_LEN];
            time_format(first + (lethe_time)(b - w0) * week_us, text);
            bar->kind = BAR_WEEK;
            snprintf(bar->week, sizeof bar->week, "%.10s", text);
        } else if (later && b == w0 + n_weeks) {
            bar->kind = BAR_LATER;
        } else {
            bar->kind = BAR_NONE;
        }
    }
    for (size_t k = 0; k < n_rules; k++) {
        const char *p = db_get(summary, (int)k, "pending_weeks");
        struct week_cell c;
        while (next_cell(&p, &c)) {
            size_t b;
            if (strcmp(c.bucket, "overdue") == 0)
                b = 0;
            else if (strcmp(c.bucket, "violation") == 0)
                b = 1;
            else if (strcmp(c.bucket, "held") == 0)
                b = 1 + viol;
            else if (strcmp(c.bucket, "later") == 0)
                b = w0 + n_weeks;
            else if (strcmp(c.bucket, "none") == 0)
                b = w0 + n_weeks + later;
            else if (strcmp(c.bucket, "week") == 0 && time_parse(c.week, &t) && t >= first)
                b = w0 + (size_t)((t - first) / week_us);
            else
                continue;
            r->bars[b].items[k] += c.items;
            r->bars[b].total += c.items;
        }
    }
    return true;
}

bool report_html_write(FILE *out, PGconn *db, const struct audit_filter *f, PGresult *summary,
                       bool pending_known, const char *generated, const char *records,
                       const char *chains)
{
    bool ok = false;
    struct report r = {.from = f->from, .to = f->to, .tenant = f->tenant,
                       .generated = generated, .verify_to = generated,
                       .records = strtoll(records, NULL, 10), .chains = strtoll(chains, NULL, 10),
                       .pending_known = pending_known};
    PGresult *lateness = NULL, *heads = NULL;
    lethe_time to_t, gen_t;
    if (f->to && time_parse(f->to, &to_t) && time_parse(generated, &gen_t) && to_t <= gen_t)
        r.verify_to = f->to;

    r.n_rules = (size_t)PQntuples(summary);
    r.rules = calloc(r.n_rules ? r.n_rules : 1, sizeof *r.rules);
    if (!r.rules)
        goto oom;
    for (size_t i = 0; i < r.n_rules; i++) {
        int row = (int)i;
        r.rules[i] = (struct report_rule){
            .rule = db_get(summary, row, "rule"),
            .purged = get_ll(summary, row, "purged"),
            .on_time = get_ll(summary, row, "on_time"),
            .late = get_ll(summary, row, "late"),
            .held = get_ll(summary, row, "held_past_deadline"),
            .violations = get_ll(summary, row, "violations"),
            .violations_pending = get_ll(summary, row, "violations_pending"),
            .pending = get_ll(summary, row, "pending"),
            .overdue = get_ll(summary, row, "overdue"),
            .max_late_seconds = db_get(summary, row, "max_lateness_seconds"),
            .nearest = db_get(summary, row, "nearest_deadline"),
        };
    }

    if (!(lateness = dbaudit_lateness(db, f)))
        goto cleanup;
    r.n_buckets = (size_t)PQntuples(lateness);
    r.buckets = calloc(r.n_buckets ? r.n_buckets : 1, sizeof *r.buckets);
    if (!r.buckets)
        goto oom;
    for (size_t i = 0; i < r.n_buckets; i++)
        r.buckets[i] = (struct report_bucket){db_get(lateness, (int)i, "bucket"),
                                              get_ll(lateness, (int)i, "late"),
                                              get_ll(lateness, (int)i, "held_past_deadline")};

    if (pending_known && !load_bars(&r, summary))
        goto oom;

    if (!(heads = dbaudit_chain_heads(db, f, REPORT_HEADS_SHOWN)))
        goto cleanup;
    r.n_heads = (size_t)PQntuples(heads);
    r.heads = calloc(r.n_heads ? r.n_heads : 1, sizeof *r.heads);
    if (!r.heads)
        goto oom;
    for (size_t i = 0; i < r.n_heads; i++)
        r.heads[i] = (struct report_head){db_get(heads, (int)i, "tenant_id"),
                                          get_ll(heads, (int)i, "first_seq"),
                                          get_ll(heads, (int)i, "last_seq"),
                                          db_get(heads, (int)i, "hash")};

    ok = report_html_render(out, &r);
    if (!ok)
        log_error("export: cannot write the report: the output failed");
    goto cleanup;
oom:
    log_error("export: out of memory");
cleanup:
    if (r.bars)
        for (size_t b = 0; b < r.n_bars; b++)
            free(r.bars[b].items);
    free(r.bars);
    free(r.rules);
    free(r.buckets);
    free(r.heads);
    PQclear(lateness);
    PQclear(heads);
    return ok;
}
