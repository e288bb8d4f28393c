/* The compliance summary as one self-contained HTML page for auditors: inline CSS and SVG
 * charts, no script, nothing loaded from anywhere. Its numbers are the summary's own
 * (dbaudit_summary), marked with data- attributes so that a test can read them back. It
 * writes only what the audit log and item_status hold: never content, locators or subjects. */
#ifndef LETHE_REPORT_HTML_H
#define LETHE_REPORT_HTML_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "dbaudit.h"

/* Chains listed by name, with their heads, in the page and its verify command. */
#define REPORT_HEADS_SHOWN 20

struct report_rule {
    const char *rule; /* "all" for the overall row */
    long long purged, on_time, late, held, violations, pending, overdue, violations_pending;
    const char *max_late_seconds; /* NULL: none late */
    const char *nearest;          /* NULL: nothing pending */
};

struct report_bucket {
    const char *label;
    long long late, held;
};

/* One bar of the pending chart: overdue, violations not purged yet, held past the deadline, a
 * week (its Monday), later, or no deadline. */
enum report_bar_kind { BAR_OVERDUE, BAR_VIOLATION, BAR_HELD, BAR_WEEK, BAR_LATER, BAR_NONE };
struct report_bar {
    enum report_bar_kind kind;
    char week[11];     /* YYYY-MM-DD, for BAR_WEEK */
    long long *items;  /* per rule, indexed like report.rules */
    long long total;
};

struct report_head {
    const char *tenant;
    long long first_seq, last_seq;
    const char *hash;
};

struct report {
    const char *from, *to, *tenant; /* the window; NULL: unbounded, every tenant */
    const char *generated;          /* the snapshot's time */
    const char *verify_to;          /* the --to that reproduces the snapshot's records */
    long long records, chains;
    bool pending_known;
    struct report_rule *rules; /* the rules, then "all" last */
    size_t n_rules;            /* including "all" */
    struct report_bucket *buckets;
    size_t n_buckets;
    struct report_bar *bars;
    size_t n_bars;
    struct report_head *heads;
    size_t n_heads;
};

/* Writes the page for R. Returns false when writing failed. Pure: no database. */
bool report_html_render(FILE *out, const struct report *r);

/* Queries what the page needs beyond the summary (the lateness distribution, the chain heads)
 * in the export's transaction, and writes the page. SUMMARY is dbaudit_summary's result with
 * its weeks. Returns false after printing the error. */
bool report_html_write(FILE *out, PGconn *db, const struct audit_filter *f, PGresult *summary,
                       bool pending_known, const char *generated, const char *records,
                       const char *chains);

/* Writes S with & < > " ' escaped, for text and attribute values alike. */
void report_html_escape(FILE *out, const char *s);

#endif
