/* lethe export: audit records of a window for auditors (JSON Lines or CSV, streamed with COPY
 * so memory stays flat), or only the compliance summary. Reads one snapshot; never writes to
 * the database, except that --summary first brings status's memory of what is scheduled up to
 * date (db_status_remember). With -o the file appears whole or not at all. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "anchor.h"
#include "atomicfile.h"
#include "audit.h"
#include "cli.h"
#include "db.h"
#include "dbaudit.h"
#include "dbstatus.h"
#include "exitcode.h"
#include "jobs.h"
#include "log.h"
#include "report_html.h"

#ifndef LETHE_VERSION
#define LETHE_VERSION "0.1.0"
#endif

enum format { FORMAT_JSONL, FORMAT_CSV, FORMAT_TEXT, FORMAT_HTML };
enum summary_style { SUMMARY_TEXT, SUMMARY_JSONL, SUMMARY_CSV, SUMMARY_HTML };

/* The record before a chain's first in a window, as its export_before line (SPEC §5: a chain's
 * removed first records are caught): the line "{"kind":"export_before","record":" RECORD "}",
 * written just before the chain's first record. */
struct before_line {
    char tenant[UUID_TEXT_LEN];
    size_t len;
};

/* Records are written through a buffer flushed in large pieces: one fwrite per record would
 * cost more than the formatting. */
struct writer {
    FILE *out;
    enum format fmt;
    struct audit_buf buf;
    bool write_failed;
    /* The export_before lines, in chain order as the records, in a temporary file read back
     * in order (a window of every chain has as many: memory stays flat). */
    FILE *spill;
    struct before_line *before;
    size_t n_before, next_before, cap_before;
};

static bool writer_flush(struct writer *w)
{
    if (w->buf.len && fwrite(w->buf.data, 1, w->buf.len, w->out) != w->buf.len)
        w->write_failed = true;
    audit_buf_reset(&w->buf);
    return !w->write_failed;
}

static bool write_record(void *arg, const struct audit_record *r)
{
    struct writer *w = arg;
    const char *why;
    if (w->next_before < w->n_before &&
        strcmp(w->before[w->next_before].tenant, r->v[AM_TENANT_ID].text) == 0) {
        char chunk[4096];
        for (size_t n = w->before[w->next_before++].len, k; n > 0; n -= k) {
            k = n < sizeof chunk ? n : sizeof chunk;
            if (fread(chunk, 1, k, w->spill) != k) {
                log_error("export: cannot read back the records before the window: %s",
                          ferror(w->spill) ? strerror(errno) : "the temporary file was cut");
                return false;
            }
            audit_buf_append(&w->buf, chunk, k);
        }
    }
    if (w->fmt == FORMAT_CSV) {
        audit_csv_row(r, &w->buf);
    } else if (!audit_jsonl_line(r, &w->buf, &why)) {
        log_error("export: tenant %.36s seq %s: %s", r->v[AM_TENANT_ID].text,
                  r->v[AM_SEQ].text ? r->v[AM_SEQ].text : "?", why);
        return false;
    }
    if (w->buf.failed) {
        log_error("export: out of memory");
        return false;
    }
    return w->buf.len < (1 << 18) || writer_flush(w);
}

/* Writes "name":value, value being a JSON string or null. */
static void json_member(struct audit_buf *b, const char *name, const char *value, bool first)
{
    if (!first)
        audit_buf_puts(b, ",");
    audit_json_string(b, name, strlen(name));
    audit_buf_puts(b, ":");
    if (value)
        audit_json_string(b, value, strlen(value));
    else
        audit_buf_puts(b, "null");
}

static void json_raw_member(struct audit_buf *b, const char *name, const char *raw)
{
    audit_buf_puts(b, ",");
    audit_json_string(b, name, strlen(name));
    audit_buf_puts(b, ":");
    audit_buf_puts(b, raw && *raw ? raw : "null");
}

/* Keeps one record before a window as its export_before line. */
static bool keep_before(void *arg, const struct audit_record *r)
{
    struct writer *w = arg;
    struct audit_buf b = {0};
    const char *why;
    audit_buf_puts(&b, AUDIT_BEFORE_PREFIX);
    if (!audit_jsonl_line(r, &b, &why)) {
        log_error("export: tenant %.36s seq %s: %s", r->v[AM_TENANT_ID].text,
                  r->v[AM_SEQ].text ? r->v[AM_SEQ].text : "?", why);
        audit_buf_free(&b);
        return false;
    }
    b.len--; /* the record's newline: the line goes on */
    audit_buf_puts(&b, "}\n");
    struct before_line *more = w->before;
    if (!b.failed && w->n_before == w->cap_before) {
        size_t cap = w->cap_before ? 2 * w->cap_before : 64;
        if ((more = realloc(w->before, cap * sizeof *w->before)))
            w->cap_before = cap;
    }
    if (b.failed || !more) {
        log_error("export: out of memory");
        audit_buf_free(&b);
        return false;
    }
    w->before = more;
    snprintf(more[w->n_before].tenant, UUID_TEXT_LEN, "%.36s", r->v[AM_TENANT_ID].text);
    more[w->n_before++].len = b.len;
    bool ok = fwrite(b.data, 1, b.len, w->spill) == b.len;
    if (!ok)
        log_error("export: cannot keep the records before the window in a temporary file: %s",
                  strerror(errno));
    audit_buf_free(&b);
    return ok;
}

static void free_before(struct writer *w)
{
    if (w->spill)
        fclose(w->spill);
    free(w->before);
}

/* The records before the window's first of each chain that starts after seq 1, in W. */
static bool read_before(PGconn *db, PGresult *chains, struct writer *w)
{
    const int tenant_col = db_col(chains, "tenant_id"), first_col = db_col(chains, "first_seq");
    struct audit_buf ids = {0}, seqs = {0};
    audit_buf_puts(&ids, "{");
    audit_buf_puts(&seqs, "{");
    int n = 0;
    for (int i = 0; i < PQntuples(chains); i++) {
        long long first = atoll(PQgetvalue(chains, i, first_col));
        if (first <= 1)
            continue;
        char seq[32];
        snprintf(seq, sizeof seq, "%s%lld", n ? "," : "", first - 1);
        if (n++)
            audit_buf_puts(&ids, ",");
        audit_buf_puts(&ids, PQgetvalue(chains, i, tenant_col));
        audit_buf_puts(&seqs, seq);
    }
    audit_buf_puts(&ids, "}");
    audit_buf_puts(&seqs, "}");
    bool ok = !ids.failed && !seqs.failed;
    if (!ok)
        log_error("export: out of memory");
    /* tmpfile(): unlinked at once, in TMPDIR or /tmp; it holds audit records only, as the
     * export itself does (SPEC §5: no content, locators or subject ids in clear). */
    if (ok && n > 0 && !(w->spill = tmpfile())) {
        log_error("export: cannot make a temporary file for the records before the window: %s",
                  strerror(errno));
        ok = false;
    }
    ok = ok && (n == 0 || dbaudit_export_before(db, ids.data, seqs.data, keep_before, w));
    if (ok && w->spill && (fflush(w->spill) != 0 || fseek(w->spill, 0, SEEK_SET) != 0)) {
        log_error("export: cannot keep the records before the window in a temporary file: %s",
                  strerror(errno));
        ok = false;
    }
    if (ok && w->n_before != (size_t)n) {
        log_error("export: %d chains start after seq 1 in the window, but the audit gave the "
                  "record before the window of %zu",
                  n, w->n_before);
        ok = false;
    }
    audit_buf_free(&ids);
    audit_buf_free(&seqs);
    return ok;
}

/* The first JSON Lines line: its own kind, so that a verifier knows to skip it, and the
 * export's claims, which a verifier checks against the records: the window ("from" null:
 * every chain must start at seq 1), the tenant ("tenant_id": every record is that tenant's),
 * how many records, and each chain's first and last seq. Read in the export's snapshot, so
 * the claims and the records agree. Format 2: a window's chain that starts after seq 1 is
 * preceded by its export_before line, read here into W. */
static bool write_header(PGconn *db, FILE *out, const struct audit_filter *f,
                         const char *exported_at, struct writer *w)
{
    PGresult *chains = dbaudit_window_chains(db, f);
    if (!chains)
        return false;
    /* One row per chain, so the columns are looked up once. */
    const int tenant_col = db_col(chains, "tenant_id"), first_col = db_col(chains, "first_seq"),
              last_col = db_col(chains, "last_seq"), count_col = db_col(chains, "records");
    long long records = 0;
    for (int i = 0; i < PQntuples(chains); i++)
        records += atoll(PQgetvalue(chains, i, count_col));
    char n[32];
    snprintf(n, sizeof n, "%lld", records);
    struct audit_buf b = {0};
    audit_buf_puts(&b, "{\"kind\":\"export_header\",\"format\":2");
    json_member(&b, "from", f->from, false);
    json_member(&b, "to", f->to, false);
    json_member(&b, "tenant_id", f->tenant, false);
    json_member(&b, "exported_at", exported_at, false);
    json_member(&b, "generator", "lethe " LETHE_VERSION, false);
    json_raw_member(&b, "records", n);
    audit_buf_puts(&b, ",\"chains\":[");
    for (int i = 0; i < PQntuples(chains); i++) {
        char c[200];
        snprintf(c, sizeof c, "%s{\"chain\":\"%s\",\"first_seq\":%s,\"last_seq\":%s,\"records\":%s}",
                 i ? "," : "", PQgetvalue(chains, i, tenant_col), PQgetvalue(chains, i, first_col),
                 PQgetvalue(chains, i, last_col), PQgetvalue(chains, i, count_col));
        audit_buf_puts(&b, c);
    }
    audit_buf_puts(&b, "]}\n");
    bool ok = !f->from || read_before(db, chains, w);
    PQclear(chains);
    ok = ok && !b.failed && fwrite(b.data, 1, b.len, out) == b.len;
    audit_buf_free(&b);
    return ok;
}

/* The columns of dbaudit_summary(), found by name once per result. */
struct summary_cols {
    int rule, purged, on_time, late, max_lateness, held, violations, pending, overdue, nearest,
        violations_pending;
};

static struct summary_cols summary_cols(const PGresult *rows)
{
    return (struct summary_cols){.rule = db_col(rows, "rule"),
                                 .purged = db_col(rows, "purged"),
                                 .on_time = db_col(rows, "on_time"),
                                 .late = db_col(rows, "late"),
                                 .max_lateness = db_col(rows, "max_lateness_seconds"),
                                 .held = db_col(rows, "held_past_deadline"),
                                 .violations = db_col(rows, "violations"),
                                 .pending = db_col(rows, "pending"),
                                 .overdue = db_col(rows, "overdue"),
                                 .nearest = db_col(rows, "nearest_deadline"),
                                 .violations_pending = db_col(rows, "violations_pending")};
}

static void summary_text(FILE *out, PGresult *rows, bool pending_known, const struct audit_filter *f,
                         const char *generated, const char *records, const char *chains)
{
    fprintf(out, "lethe compliance summary\n\n");
    /* [from, to): the first record and the last one, when they bound it, are in it */
    if (f->from || f->to)
        fprintf(out, "  window      audit records from %s (inclusive) to %s (%s)\n",
                f->from ? f->from : "the first record", f->to ? f->to : "the last record",
                f->to ? "exclusive" : "inclusive");
    else
        fprintf(out, "  window      every audit record\n");
    fprintf(out, "  tenant      %s\n", f->tenant ? f->tenant : "all tenants");
    fprintf(out, "  generated   %s (database time; pending counts are as of then)\n", generated);
    fprintf(out, "  evidence    %s audit record%s in %s hash chain%s; `lethe export` with the same\n"
                 "              --from/--to/--tenant writes them, `lethe verify` checks them\n\n",
            records, strcmp(records, "1") == 0 ? "" : "s", chains, strcmp(chains, "1") == 0 ? "" : "s");
#define ROW "%-22s  %7s  %7s  %7s  %16s  %9s  %10s  %7s  %7s  %s\n"
    fprintf(out, ROW, "", "", "", "", "largest", "held past", "", "", "", "nearest");
    fprintf(out, ROW, "rule", "purged", "on time", "late", "lateness", "deadline", "violations",
            "pending", "overdue", "deadline");
    const struct summary_cols c = summary_cols(rows);
    for (int i = 0; i < PQntuples(rows); i++) {
        char late[40];
        time_format_span(PQgetisnull(rows, i, c.max_lateness) ? NULL
                                                              : PQgetvalue(rows, i, c.max_lateness),
                         late, sizeof late);
        const char *rule = PQgetvalue(rows, i, c.rule);
        if (strcmp(rule, "all") == 0)
            fprintf(out, ROW, "", "-------", "-------", "-------", "----------------", "---------",
                    "----------", "-------", "-------", "");
        fprintf(out, ROW, rule, PQgetvalue(rows, i, c.purged), PQgetvalue(rows, i, c.on_time),
                PQgetvalue(rows, i, c.late), late, PQgetvalue(rows, i, c.held),
                PQgetvalue(rows, i, c.violations),
                pending_known ? PQgetvalue(rows, i, c.pending) : "-",
                pending_known ? PQgetvalue(rows, i, c.overdue) : "-",
                pending_known && !PQgetisnull(rows, i, c.nearest) ? PQgetvalue(rows, i, c.nearest)
                                                                  : "-");
    }
#undef ROW
    /* The last row is "all". */
    if (pending_known && PQntuples(rows) > 0)
        fprintf(out, "\n  violations not purged yet: %s (shared copies made while opted out; in pending,\n"
                     "  not in overdue, as `lethe status` lists them apart)\n",
                PQgetvalue(rows, PQntuples(rows) - 1, c.violations_pending));
    fprintf(out,
            "\n"
            "  purged              items purged in the window (one item_purged audit record each)\n"
            "  on time             purged no later than their deadline\n"
            "  late                purged after their deadline with no hold in the way; largest\n"
            "                      lateness is the longest purged_at - deadline_at, rounded up\n"
            "  held past deadline  purged after their deadline because a hold kept them; counted\n"
            "                      as held, not late\n"
            "  violations          shared copies captured while the tenant or workspace had opted\n"
            "                      out (rule shared_while_opted_out), purged in the window; a\n"
            "                      violation however soon it was purged, never counted as on time\n"
            "                      or late\n"
            "  pending             items not purged at the time above: due, scheduled, held or in\n"
            "                      flight; nearest deadline is the earliest of theirs\n"
            "  overdue             pending items whose deadline has already passed, those a\n"
            "                      hold in effect at it keeps aside (held past deadline), and\n"
            "                      violations aside (not purged yet: counted above)\n");
    if (!pending_known)
        fprintf(out, "\n  (this database has no lethe.item_status view: pending is not shown)\n");
}

static void summary_csv(FILE *out, PGresult *rows, bool pending_known)
{
    /* violations_pending last: the columns before it kept their places when it came. */
    fprintf(out, "rule,purged,on_time,late,max_lateness_seconds,held_past_deadline,violations,"
                 "pending,overdue,nearest_deadline,violations_pending\n");
    const struct summary_cols c = summary_cols(rows);
    for (int i = 0; i < PQntuples(rows); i++) {
        fprintf(out, "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n", PQgetvalue(rows, i, c.rule),
                PQgetvalue(rows, i, c.purged), PQgetvalue(rows, i, c.on_time),
                PQgetvalue(rows, i, c.late), PQgetvalue(rows, i, c.max_lateness),
                PQgetvalue(rows, i, c.held), PQgetvalue(rows, i, c.violations),
                pending_known ? PQgetvalue(rows, i, c.pending) : "",
                pending_known ? PQgetvalue(rows, i, c.overdue) : "",
                pending_known ? PQgetvalue(rows, i, c.nearest) : "",
                pending_known ? PQgetvalue(rows, i, c.violations_pending) : "");
    }
}

static bool summary_jsonl(FILE *out, PGresult *rows, bool pending_known,
                          const struct audit_filter *f, const char *generated,
                          const char *records, const char *chains)
{
    struct audit_buf b = {0};
    audit_buf_puts(&b, "{\"kind\":\"summary_header\",\"format\":1");
    json_member(&b, "from", f->from, false);
    json_member(&b, "to", f->to, false);
    json_member(&b, "tenant_id", f->tenant, false);
    json_member(&b, "generated_at", generated, false);
    json_raw_member(&b, "records", records);
    json_raw_member(&b, "chains", chains);
    json_raw_member(&b, "pending_known", pending_known ? "true" : "false");
    audit_buf_puts(&b, "}\n");
    const struct summary_cols c = summary_cols(rows);
    for (int i = 0; i < PQntuples(rows); i++) {
        audit_buf_puts(&b, "{\"kind\":\"summary\"");
        json_member(&b, "rule", PQgetvalue(rows, i, c.rule), false);
        json_raw_member(&b, "purged", PQgetvalue(rows, i, c.purged));
        json_raw_member(&b, "on_time", PQgetvalue(rows, i, c.on_time));
        json_raw_member(&b, "late", PQgetvalue(rows, i, c.late));
        json_raw_member(&b, "max_lateness_seconds", PQgetvalue(rows, i, c.max_lateness));
        json_raw_member(&b, "held_past_deadline", PQgetvalue(rows, i, c.held));
        json_raw_member(&b, "violations", PQgetvalue(rows, i, c.violations));
        json_raw_member(&b, "pending", pending_known ? PQgetvalue(rows, i, c.pending) : NULL);
        json_raw_member(&b, "overdue", pending_known ? PQgetvalue(rows, i, c.overdue) : NULL);
        json_raw_member(&b, "violations_pending",
                        pending_known ? PQgetvalue(rows, i, c.violations_pending) : NULL);
        json_member(&b, "nearest_deadline",
                    pending_known && !PQgetisnull(rows, i, c.nearest)
                        ? PQgetvalue(rows, i, c.nearest)
                        : NULL,
                    false);
        audit_buf_puts(&b, "}\n");
    }
    bool ok = !b.failed && fwrite(b.data, 1, b.len, out) == b.len;
    audit_buf_free(&b);
    return ok;
}

static bool write_summary(struct lethe_ctx *ctx, const struct audit_filter *f,
                          enum summary_style style, const char *generated, FILE *out)
{
    bool ok = false, pending_known = false;
    PGresult *counts = dbaudit_window_counts(ctx->db, f);
    PGresult *rows =
        counts ? dbaudit_summary(ctx->db, f, style == SUMMARY_HTML, &pending_known) : NULL;
    if (!rows)
        goto cleanup;
    const char *records = db_str(counts, 0, "records"), *chains = db_str(counts, 0, "chains");
    switch (style) {
    case SUMMARY_TEXT:
        summary_text(out, rows, pending_known, f, generated, records, chains);
        ok = true;
        break;
    case SUMMARY_CSV:
        summary_csv(out, rows, pending_known);
        ok = true;
        break;
    case SUMMARY_JSONL:
        ok = summary_jsonl(out, rows, pending_known, f, generated, records, chains);
        break;
    case SUMMARY_HTML:
        /* It reports its own errors. */
        if (!report_html_write(out, ctx->db, f, rows, pending_known, generated, records, chains))
            goto cleanup;
        ok = true;
        break;
    }
    if (!ok)
        log_error("export: out of memory");
cleanup:
    PQclear(counts);
    PQclear(rows);
    return ok;
}

int job_export(struct lethe_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        {"from", required_argument, NULL, 'F'},   {"to", required_argument, NULL, 'T'},
        {"tenant", required_argument, NULL, 't'}, {"format", required_argument, NULL, 'f'},
        {"summary", no_argument, NULL, 's'},      {"output", required_argument, NULL, 'o'},
        {NULL, 0, NULL, 0}};
    char from[TIME_TEXT_LEN], to[TIME_TEXT_LEN], tenant[UUID_TEXT_LEN];
    struct audit_filter filter = {0};
    enum format fmt = FORMAT_JSONL;
    bool summary = false;
    const char *path = NULL;
    int c;
    optind = 1;
    while ((c = cli_getopt(ctx, argc, argv, "o:", opts)) != -1) {
        switch (c) {
        case 'F':
            if (!cli_time(ctx, "--from", optarg, from))
                return EXIT_USAGE;
            filter.from = from;
            break;
        case 'T':
            if (!cli_time(ctx, "--to", optarg, to))
                return EXIT_USAGE;
            filter.to = to;
            break;
        case 't':
            if (!cli_id(ctx, "--tenant", optarg, tenant))
                return EXIT_USAGE;
            filter.tenant = tenant;
            log_set_tenant(tenant);
            break;
        case 'f':
            if (strcmp(optarg, "jsonl") == 0)
                fmt = FORMAT_JSONL;
            else if (strcmp(optarg, "csv") == 0)
                fmt = FORMAT_CSV;
            else if (strcmp(optarg, "text") == 0)
                fmt = FORMAT_TEXT;
            else if (strcmp(optarg, "html") == 0)
                fmt = FORMAT_HTML;
            else
                return cli_usage(ctx, "export: --format: unknown format \"%s\" (jsonl or csv; with"
                                      " --summary also text or html)", optarg);
            break;
        case 's':
            summary = true;
            break;
        case 'o':
            if (!*optarg)
                return cli_usage(ctx, "export: -o needs a file name");
            path = optarg;
            break;
        default:
            return EXIT_USAGE;
        }
    }
    if (optind < argc)
        return cli_usage(ctx, "export: unexpected argument '%s'", argv[optind]);
    if (fmt == FORMAT_TEXT && !summary)
        return cli_usage(ctx, "export: --format text is for --summary; records are jsonl or csv");
    if (fmt == FORMAT_HTML && !summary) {
        log_error("export: --format html needs --summary");
        log_hint("the records themselves are exported as jsonl or csv; the HTML page is the "
                 "summary's");
        return EXIT_USAGE;
    }
    if (filter.from && filter.to) {
        lethe_time a, b;
        time_parse(filter.from, &a);
        time_parse(filter.to, &b);
        if (a >= b)
            return cli_usage(ctx, "export: --from %s is not before --to %s", filter.from,
                             filter.to);
    }
    if (lethe_file_refused("export", "-o", path, &ctx->cfg) ||
        (path && afile_refused(path, "export")))
        return EXIT_USAGE;

    if (ctx->parse_only)
        return EXIT_DONE;
    struct afile out = {0};
    char exported_at[TIME_TEXT_LEN];
    bool missing = false;
    /* The summary's pending part reads what status remembers; taking it writes, before the
     * export's own snapshot (sql/0017_status_memory.sql). */
    if (summary && !db_status_remember(ctx->db))
        return EXIT_RUNTIME;
    if (!dbaudit_export_begin(ctx->db, &filter, exported_at, &missing)) {
        if (missing) {
            log_error("export: this database has no audit log");
            log_hint("run 'lethe migrate' first, or check --db");
            return EXIT_USAGE;
        }
        return EXIT_RUNTIME;
    }
    lethe_time to_t, now_t;
    if (filter.to && time_parse(filter.to, &to_t) && time_parse(exported_at, &now_t) &&
        to_t > now_t) {
        log_warn("export: --to %s is in the future; records written after now (%s) belong to "
                 "this window but are not in this export", filter.to, exported_at);
        log_hint("export a window some minutes after it ends, as lethe-export-month does");
    } else if (filter.to && time_parse(filter.to, &to_t) && time_parse(exported_at, &now_t) &&
               to_t > now_t - 60 * 1000000LL) {
        /* `at` is taken before the writer commits: a record stamped just before --to may
         * still be on its way, and the next window (from --to) would not hold it either. */
        log_warn("export: --to is less than a minute ago; records being written now may be "
                 "missing from this window");
        log_hint("export a window some minutes after it ends, as lethe-export-month does");
    }
    /* A tenant the audit has no chain of: a mistyped id, whose empty export would verify as
     * clean evidence of nothing. Refused before anything is written, as hold list and batches
     * refuse a tenant the catalog lacks (the auditor's role reads no catalog table: the chain
     * is what an export is of). A chain with no record in the window is said below. A
     * summary of a tenant with nothing audited yet still says what is pending for it. */
    if (filter.tenant && !summary) {
        int known = dbaudit_chain_exists(ctx->db, filter.tenant);
        if (known <= 0) {
            dbaudit_export_end(ctx->db);
            if (known < 0)
                return EXIT_RUNTIME;
            log_error("export: the audit holds no record of tenant %s", filter.tenant);
            log_hint("a tenant's chain begins with its first request, hold or purge; check the id "
                     "('lethe export' without --tenant holds every chain); nothing was written");
            return EXIT_USAGE;
        }
    } else if (filter.tenant) {
        /* and a summary of it is all zeros, as a mistyped id's would be: written, with a word
         * (it said nothing, exit 0: an outside tryout's finding). */
        int known = dbaudit_chain_exists(ctx->db, filter.tenant);
        if (known < 0) {
            dbaudit_export_end(ctx->db);
            return EXIT_RUNTIME;
        }
        if (!known)
            log_warn("export: the audit holds no record of tenant %s: the summary counts no purge "
                     "of it, and only what the catalog owes under its obligations as pending; "
                     "check the id if you expected records", filter.tenant);
    }
    /* SPEC §6: a regular file is replaced whole; a device, FIFO or "-" is written through;
     * a symlink or a directory is refused. Without -o: standard output. */
    enum afile_status os = afile_open(&out, path ? path : "-", 0666, AFILE_THROUGH, "export");
    if (os != AFILE_OK) {
        dbaudit_export_end(ctx->db);
        return os == AFILE_REFUSED ? EXIT_USAGE : EXIT_RUNTIME;
    }
    long long records = 0;
    bool ok;
    if (summary) {
        /* JSON Lines by default, as for the records themselves (SPEC §5, the docs). */
        enum summary_style style = fmt == FORMAT_TEXT   ? SUMMARY_TEXT
                                   : fmt == FORMAT_CSV  ? SUMMARY_CSV
                                   : fmt == FORMAT_HTML ? SUMMARY_HTML
                                                        : SUMMARY_JSONL;
        ok = write_summary(ctx, &filter, style, exported_at, out.f);
    } else {
        struct writer w = {.out = out.f, .fmt = fmt};
        if (fmt == FORMAT_CSV) {
            audit_buf_puts(&w.buf, audit_csv_header());
            audit_buf_puts(&w.buf, "\n");
            ok = writer_flush(&w);
        } else {
            ok = write_header(ctx->db, out.f, &filter, exported_at, &w);
        }
        ok = ok && dbaudit_export_stream(ctx->db, &filter, write_record, &w, &records);
        ok = ok && writer_flush(&w);
        free_before(&w);
        if (w.write_failed || ferror(out.f))
            log_error("export: cannot write %s: %s", path ? path : "to standard output",
                      strerror(errno));
        audit_buf_free(&w.buf);
    }
    dbaudit_export_end(ctx->db);
    if (!ok) {
        if (out.std)
            fflush(stdout);
        afile_abandon(&out);
        return EXIT_RUNTIME;
    }
    if (!afile_commit(&out, "export"))
        return EXIT_RUNTIME;
    /* An empty export verifies: say so, lest a mistyped --tenant pass for a clean one. */
    if (filter.tenant && !summary && records == 0) {
        log_warn("export: no audit record of tenant %s in this window", filter.tenant);
        log_hint("the tenant's chain holds records outside it; check the window");
    }
    if (path && !summary)
        log_info("export: wrote %lld records to '%s'", records, path);
    else if (path)
        log_info("export: wrote the summary to '%s'", path);
    return EXIT_DONE;
}
