/* lethe reconcile: finds objects that storage kept after lethe purged their items (a storage
 * restore, a deleter that lied) and puts them into a repurge batch for the next run (SPEC §7).
 * The inventory is streamed into the database (flat memory); each locator is matched through
 * HMAC-SHA256(audit key, locator), the only trace a purged item keeps of it. Lines that no
 * catalog item names are listed with --orphans, for a person: they are never deleted.
 *
 * Inventory formats:
 *   lines    one locator per line, exactly as the catalog holds it (fs-delete --inventory);
 *   s3-csv   an S3 Inventory CSV report: every field quoted, bucket first, key second, other
 *            columns ignored. The key is URL-decoded as S3 Inventory encodes it (%XX escapes,
 *            '+' for a space) and the locator is s3://BUCKET/KEY with the key as stored.
 *   auto     (the default) s3-csv when the first line starts with a quote, else lines.
 * Empty lines are ignored; lines that are not UTF-8 or (CSV) malformed are skipped and counted;
 * messages name their line numbers, never their content, which holds locators. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "anchor.h"
#include "atomicfile.h"
#include "audit.h"
#include "cli.h"
#include "cycle.h"
#include "db.h"
#include "dbaudit.h"
#include "dbrestore.h"
#include "exitcode.h"
#include "jobs.h"
#include "log.h"
#include "operator.h"
#include "text.h"
#include "manifest.h"

enum format { FORMAT_AUTO, FORMAT_LINES, FORMAT_S3_CSV };

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* One quoted CSV field starting at *P (RFC 4180, as S3 Inventory writes every field), its
 * text appended to OUT; *P ends after the field's separator. False when malformed. */
static bool csv_field(const char **p, const char *end, struct audit_buf *out)
{
    const char *s = *p;
    if (s >= end || *s != '"')
        return false;
    for (s++; s < end; s++) {
        if (*s == '"') {
            if (s + 1 < end && s[1] == '"') {
                audit_buf_append(out, "\"", 1);
                s++;
                continue;
            }
            s++;
            if (s < end && *s != ',')
                return false;
            *p = s < end ? s + 1 : s;
            return true;
        }
        audit_buf_append(out, s, 1);
    }
    return false;
}

/* The locator an S3 Inventory row names: s3://bucket/key, the key URL-decoded. */
static bool s3_locator(const char *line, size_t len, struct audit_buf *loc)
{
    struct audit_buf bucket = {0}, key = {0};
    const char *p = line, *end = line + len;
    bool ok = csv_field(&p, end, &bucket) && csv_field(&p, end, &key) && bucket.len > 0 &&
              key.len > 0 && !bucket.failed && !key.failed;
    if (ok) {
        audit_buf_reset(loc);
        audit_buf_puts(loc, "s3://");
        audit_buf_append(loc, bucket.data, bucket.len);
        audit_buf_append(loc, "/", 1);
        for (size_t i = 0; i < key.len && ok; i++) {
            char c = key.data[i];
            if (c == '+') {
                c = ' ';
            } else if (c == '%') {
                int hi = i + 2 < key.len ? hexval((unsigned char)key.data[i + 1]) : -1;
                int lo = hi < 0 ? -1 : hexval((unsigned char)key.data[i + 2]);
                if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                    ok = false;
                    break;
                }
                c = (char)(hi * 16 + lo);
                i += 2;
            }
            audit_buf_append(loc, &c, 1);
        }
        ok = ok && !loc->failed && text_valid_utf8(loc->data, loc->len);
    }
    audit_buf_free(&bucket);
    audit_buf_free(&key);
    return ok;
}

struct load_counts {
    long long lines, loaded, skipped;
};

/* Streams the inventory into the temp table, each line with its locator and the locator's
 * HMAC (the key set up once, as for manifests). */
static bool load_inventory(struct copy_in *c, FILE *f, const char *path, enum format format,
                           const struct audit_key *key, struct load_counts *n)
{
    struct audit_mac *mac_of = audit_mac_new(key);
    if (!mac_of)
        return false;
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    struct audit_buf loc = {0};
    bool ok = true;
    while (ok && (got = getline(&line, &cap, f)) >= 0) {
        n->lines++;
        size_t len = (size_t)got;
        if (len && line[len - 1] == '\n')
            len--;
        if (len && line[len - 1] == '\r')
            len--;
        /* A byte order mark (UTF-8, as spreadsheets and some exporters write it) opens the
         * file, not its first locator: left on, it made the first object an orphan and hid an
         * S3 Inventory CSV from its format's detection. */
        char *text = line;
        if (n->lines == 1 && len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0) {
            text += 3;
            len -= 3;
        }
        if (strspn(text, " \t") >= len)  /* an empty line, or blanks alone: no object */
            continue;
        if (format == FORMAT_AUTO)
            format = text[0] == '"' ? FORMAT_S3_CSV : FORMAT_LINES;
        if (!text_valid_utf8(text, len)) {
            log_warn("reconcile: '%s' line %lld: not UTF-8; skipped", path, n->lines);
            n->skipped++;
            continue;
        }
        const char *locator = text;
        size_t loc_len = len;
        if (format == FORMAT_S3_CSV) {
            if (!s3_locator(text, len, &loc)) {
                log_warn("reconcile: '%s' line %lld: not an S3 Inventory row (\"bucket\",\"key\",...);"
                         " skipped", path, n->lines);
                n->skipped++;
                continue;
            }
            locator = loc.data;
            loc_len = loc.len;
        }
        char mac[AUDIT_HEX_LEN], ord[24];
        if (!audit_mac_hex(mac_of, locator, loc_len, mac)) {
            ok = false;
            break;
        }
        snprintf(ord, sizeof ord, "%lld", n->lines);
        copy_in_field(c, ord, strlen(ord), false);
        copy_in_field(c, text, len, false);
        copy_in_field(c, locator, loc_len, false);
        copy_in_field(c, mac, 64, true);
        n->loaded++;
    }
    if (ok && ferror(f)) {
        log_error("reconcile: cannot read '%s': %s", path, strerror(errno));
        ok = false;
    }
    free(line);
    audit_buf_free(&loc);
    audit_mac_free(mac_of);
    return ok;
}

int job_reconcile(struct lethe_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{"location", required_argument, 0, 'l'},
                                         {"orphans", required_argument, 0, 'r'},
                                         {"format", required_argument, 0, 'f'},
                                         {"operator", required_argument, 0, 'o'},
                                         {0, 0, 0, 0}};
    const char *geo = NULL, *orphans_path = NULL, *operator_name = NULL;
    enum format format = FORMAT_AUTO;
    optind = 1;
    int c;
    while ((c = cli_getopt(ctx, argc, argv, "", opts)) != -1) {
        if (c == 'l')
            geo = optarg;
        else if (c == 'r')
            orphans_path = optarg;
        else if (c == 'o')
            operator_name = optarg;
        else if (c == 'f') {
            if (strcmp(optarg, "lines") == 0)
                format = FORMAT_LINES;
            else if (strcmp(optarg, "s3-csv") == 0)
                format = FORMAT_S3_CSV;
            else if (strcmp(optarg, "auto") == 0)
                format = FORMAT_AUTO;
            else
                return cli_usage(ctx, "reconcile: --format \"%s\": expected lines, s3-csv or auto",
                                 optarg);
        } else
            return EXIT_USAGE;
    }
    if (!geo)
        return cli_usage(ctx, "reconcile: which storage? give --location GEO");
    /* A name no geo can have is known without the database: a usage error, like any other. */
    if (!manifest_valid_location(geo)) {
        log_error("reconcile: unknown location \"%s\"", text_shown(geo));
        log_hint("locations are the geos in lethe.geos, in capitals, e.g. EU");
        return EXIT_USAGE;
    }
    if (optind >= argc)
        return cli_usage(ctx, "reconcile: no inventory given");
    if (optind + 1 < argc)
        return cli_usage(ctx, "reconcile: unexpected argument '%s'", argv[optind + 1]);
    const char *path = argv[optind];
    if (!operator_resolve(ctx, &operator_name))
        return EXIT_USAGE;
    if (lethe_file_refused("reconcile", "--orphans", orphans_path, &ctx->cfg) ||
        (orphans_path && afile_refused(orphans_path, "reconcile")))
        return EXIT_USAGE;
    /* An outside tryout's finding: --orphans naming the inventory (by any name, or as the file
     * read as standard input) replaced it, unsaid. */
    bool from_stdin = strcmp(path, "-") == 0;
    struct stat in_st, out_st;
    if (orphans_path && strcmp(orphans_path, "-") != 0 &&
        (from_stdin ? fstat(STDIN_FILENO, &in_st) : stat(path, &in_st)) == 0 &&
        S_ISREG(in_st.st_mode) && stat(orphans_path, &out_st) == 0 &&
        in_st.st_dev == out_st.st_dev && in_st.st_ino == out_st.st_ino) {
        log_error("reconcile: --orphans '%s' is the inventory it reads%s%s%s; refusing to replace "
                  "it", orphans_path, from_stdin ? " (as standard input" : ", '",
                  from_stdin ? "" : path, from_stdin ? ")" : "'");
        log_hint("write the lines naming no item to another file");
        return EXIT_USAGE;
    }
    if (ctx->parse_only)
        return EXIT_DONE;
    if (!ctx->cfg.audit_key_file) {
        log_error("reconcile: no audit key: purged items keep only HMAC-SHA256(audit key, "
                  "locator), and without the key there is nothing to match an inventory against");
        log_hint("set audit.key_file in the config to the key lethe ran with; items handed to a "
                 "deleter while no key was set cannot be reconciled");
        return EXIT_USAGE;
    }
    PGconn *db = ctx->db;
    bool query_ok = true;
    if (!dbrestore_geo_exists(db, geo, &query_ok)) {
        if (!query_ok)
            return EXIT_RUNTIME;
        log_error("reconcile: unknown location \"%s\"", geo);
        log_hint("locations are the geos in lethe.geos, e.g. EU");
        return EXIT_USAGE;
    }
    FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (afile_input_refused(in, path, "reconcile", "an inventory")) {
        log_hint("give the storage's inventory: one locator per line, or an S3 Inventory CSV");
        if (in && in != stdin)
            fclose(in);
        return EXIT_USAGE;
    }
    const struct audit_key *key = &ctx->audit_key;
    /* --orphans FILE is written as -o is (SPEC §6): a regular file is replaced whole through
     * lethe's one atomic writer, a device, a FIFO or "-" is written through, a symlink or a
     * directory is refused. */
    struct afile orphans = {0};
    PGresult *batches = NULL;
    struct load_counts n = {0};
    struct copy_in copy;
    int rc = EXIT_RUNTIME;
    if (orphans_path) {
        enum afile_status os = afile_open(&orphans, orphans_path, 0640, AFILE_THROUGH, "reconcile");
        if (os != AFILE_OK) {
            rc = os == AFILE_REFUSED ? EXIT_USAGE : EXIT_RUNTIME;
            goto cleanup;
        }
    }
    rc = cycle_lock(ctx, 0, 0);
    if (rc != EXIT_DONE)
        goto cleanup;
    if ((rc = anchor_check_before_write(db, ctx->cfg.anchor_file, "reconcile", 0)) != EXIT_DONE)
        goto cleanup;
    rc = EXIT_RUNTIME;
    if (!dbaudit_key_for_reconcile(db, &ctx->audit_key))
        goto cleanup;
    log_set_run_id(ctx->session_id);
    rc = EXIT_RUNTIME;
    if (!db_begin(db) || !dbaudit_stage_open(db) || !dbrestore_inventory_load(db, &copy))
        goto fail;
    bool loaded = load_inventory(&copy, in, path, format, key, &n);
    if (!copy_in_end(&copy) || !loaded)
        goto fail;
    long long found = dbrestore_reconcile_candidates(db, geo);
    long long live = found < 0 ? -1 : dbrestore_reconcile_live_named(db, geo);
    long long unmatchable = live < 0 ? -1 : dbrestore_reconcile_unmatchable(db, geo);
    long long elsewhere = live < 0 ? -1 : dbrestore_reconcile_other_geos(db, geo);
    long long pending = elsewhere < 0 ? -1 : dbrestore_reconcile_pending(db, geo);
    if (found < 0 || live < 0 || unmatchable < 0 || elsewhere < 0 || pending < 0)
        goto fail;
    long n_batches = 0;
    if (found > 0) {
        char detail[64];
        snprintf(detail, sizeof detail, "reconcile %s", geo);
        if (!dbrestore_run_begin(db, ctx->session_id, operator_name, detail) ||
            !(batches = dbrestore_repurge_emit(db, ctx->session_id, operator_name,
                                               ctx->cfg.batch_max_items)))
            goto fail;
        n_batches = PQntuples(batches);
        if (!dbrestore_run_end(db, ctx->session_id, n_batches, (long)found))
            goto fail;
    }
    long long n_orphans = 0;
    if (orphans.f) {
        bool write_failed;
        n_orphans = dbrestore_reconcile_orphans(db, geo, orphans.f, &write_failed);
        if (n_orphans < 0) {
            if (write_failed)
                log_error("reconcile: cannot write '%s': %s", orphans_path, strerror(errno));
            goto fail;
        }
    }
    cycle_trap_signals_committed(ctx);
    if (!dbaudit_commit(db))
        goto fail;
    if (found > 0)
        dbrestore_run_anchored(db, ctx->cfg.anchor_file, ctx->session_id, "reconcile");
    if (orphans.f && !afile_commit(&orphans, "reconcile")) {
        rc = EXIT_RUNTIME;
        goto cleanup;
    }
    if (elsewhere > 0) {
        log_warn("reconcile: %s: %lld inventory line%s name%s items stored in another geo; "
                 "they are not purged here and are no orphans", geo, elsewhere,
                 elsewhere == 1 ? "" : "s", elsewhere == 1 ? "s" : "");
        log_hint("is '%s' the inventory of %s? give each geo's inventory with its own --location",
                 path, geo);
    }
    if (live > 0)
        log_warn("reconcile: %s: %lld inventory line%s of purged items also name%s a live item's "
                 "object (its locator was used again); left alone",
                 geo, live, live == 1 ? "" : "s", live == 1 ? "s" : "");
    if (unmatchable > 0) {
        /* "0 objects of purged items still stored" would read as nothing left behind. */
        log_warn("reconcile: %s: %lld purged item%s no locator HMAC (purged by a run without "
                 "an audit key): an object of %s still stored is not recognised here",
                 geo, unmatchable, unmatchable == 1 ? " has" : "s have",
                 unmatchable == 1 ? "it" : "theirs");
        log_hint("set audit.key_file for every run; such objects are among the lines no item "
                 "names (--orphans FILE), for a person to look at");
    }
    for (int i = 0; i < n_batches; i++)
        log_info("reconcile: batch %s (%s): %s object%s of purged items, to purge again",
                 db_str(batches, i, "batch_id"), db_str(batches, i, "location"),
                 db_str(batches, i, "items"), strcmp(db_str(batches, i, "items"), "1") == 0 ? "" : "s");
    /* An object already in a repurge batch is still stored all the same: "0 objects still
     * stored" from a second reconcile before the next run would read as nothing left behind. */
    long long stored = found + pending;
    printf("reconcile: %s: %lld inventory line%s, %lld object%s of purged items still stored",
           geo, n.loaded, n.loaded == 1 ? "" : "s", stored, stored == 1 ? "" : "s");
    if (pending)
        printf(" (%lld already in a repurge batch the next run sends)", pending);
    printf(", put in %ld repurge batch%s", n_batches, n_batches == 1 ? "" : "es");
    if (orphans_path)
        printf("; %lld line%s naming no item written to %s", n_orphans, n_orphans == 1 ? "" : "s",
               strcmp(orphans_path, "-") == 0 ? "standard output" : orphans_path);
    if (n.skipped)
        printf("; %lld line%s skipped", n.skipped, n.skipped == 1 ? "" : "s");
    printf("\n");
    if (n_batches || pending)
        log_hint("the next 'lethe run' hands the repurge batches to their deleters");
    rc = EXIT_DONE;
    goto cleanup;
fail:
    db_rollback(db);
    log_error("reconcile: nothing was changed");
cleanup:
    if (orphans.f)
        afile_abandon(&orphans);
    PQclear(batches);
    if (in != stdin)
        fclose(in);
    return rc;
}
