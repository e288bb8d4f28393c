/* The anchor file: append one line per committed run, read the newest line back. The file is
 * a log that grows for ever and may be appended to by several shards' runs at once, so it is
 * appended to (O_APPEND, one write under flock, fsync) rather than copied and renamed, which
 * would cost a copy of the whole history per run and lose a line to a concurrent rename. */
#define _GNU_SOURCE
#include "anchor.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "cycle.h"
#include "db.h"
#include "dbaudit.h"
#include "dbrestore.h"
#include "exitcode.h"
#include "log.h"
#include "operator.h"
#include "timefmt.h"

static bool hex64(const char *s)
{
    if (strlen(s) != 64)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

/* Why a line could not be read when memory ran out: not a verdict on the line. A check that
 * took it for "not an anchor line" went on with the line before it, and a run wrote after a
 * database behind its newest line (a process under an address-space limit). */
static const char why_oom[] = "out of memory";

bool anchor_why_out_of_memory(const char *why) { return why == why_oom; }

void anchor_line_free(struct anchor_line *l)
{
    free(l->heads);
    l->heads = NULL;
    l->n_heads = 0;
}

/* The line as anchor_append writes it, read without building a JSON tree: after a cycle that
 * touched every tenant the newest line names every chain (3,335 heads at 1M items, 33,334 at
 * 10M), and jansson took 11 ms to parse the 1M one, a tenth of a status. A cursor over TEXT
 * that knows only that shape: its keys in that order, strings without escapes, integers without
 * sign or leading zero, nothing between the tokens. Anything else (valid JSON written by another
 * hand, or no JSON) returns false with OUT untouched, and jansson decides: this reads a subset
 * of what it accepts, to the same values, checked by the same functions. */
struct cursor {
    const char *p, *end;
};

static bool take(struct cursor *c, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0)
        return false;
    c->p += n;
    return true;
}

/* A string's contents up to its closing quote, into BUF (CAP with its NUL). */
static bool take_string(struct cursor *c, char *buf, size_t cap)
{
    size_t n = 0;
    for (; c->p < c->end && *c->p != '"'; c->p++) {
        unsigned char ch = (unsigned char)*c->p;
        if (ch < 0x20 || ch >= 0x7f || ch == '\\' || n + 1 >= cap)
            return false;
        buf[n++] = (char)ch;
    }
    buf[n] = '\0';
    return take(c, "\"");
}

static bool take_seq(struct cursor *c, long long *v)
{
    int digits = 0;
    long long x = 0;
    if (c->p >= c->end || *c->p < '1' || *c->p > '9')
        return false;
    for (; c->p < c->end && *c->p >= '0' && *c->p <= '9' && digits < 18; c->p++, digits++)
        x = x * 10 + (*c->p - '0');
    *v = x;
    return c->p < c->end && !(*c->p >= '0' && *c->p <= '9');
}

static bool parse_as_written(const char *text, size_t len, struct anchor_line *out)
{
    struct cursor c = {text, text + len};
    char s[AUDIT_HEX_LEN + 2];
    struct anchor_line l = {0};
    size_t cap = 0;
    if (!take(&c, "{\"run_id\":\"") || !take_string(&c, s, sizeof s) || !id_parse(s, l.run_id) ||
        !take(&c, ",\"at\":\"") || !take_string(&c, s, sizeof s) || !audit_time_text(s) ||
        !take(&c, ",\"heads\":["))
        return false;
    memcpy(l.at, s, AUDIT_TIME_LEN); /* audit_time_text: 27 characters */
    bool ok = false;
    for (bool first = true; !take(&c, "]"); first = false) {
        if (!first && !take(&c, ","))
            goto cleanup;
        if (l.n_heads == cap) {
            size_t c2 = cap ? cap * 2 : 64;
            struct anchor_head *g = realloc(l.heads, c2 * sizeof *g);
            if (!g)
                goto cleanup;
            l.heads = g;
            cap = c2;
        }
        struct anchor_head *h = &l.heads[l.n_heads];
        memset(h, 0, sizeof *h);
        if (!take(&c, "{\"chain\":\"") || !take_string(&c, s, sizeof s) || !id_parse(s, h->chain) ||
            !take(&c, ",\"seq\":") || !take_seq(&c, &h->seq) || !take(&c, ",\"hash\":\"") ||
            !take_string(&c, s, sizeof s) || !hex64(s))
            goto cleanup;
        memcpy(h->hash, s, AUDIT_HEX_LEN);
        if (take(&c, ",\"at\":\"")) {
            if (!take_string(&c, s, sizeof s) || !audit_time_text(s))
                goto cleanup;
            memcpy(h->at, s, AUDIT_TIME_LEN);
        }
        if (!take(&c, "}"))
            goto cleanup;
        l.n_heads++;
    }
    if (take(&c, ",\"since\":\"")) {
        if (!take_string(&c, s, sizeof s) || (s[0] && !audit_time_text(s)))
            goto cleanup;
        if (s[0])
            memcpy(l.since, s, AUDIT_TIME_LEN);
        l.has_since = true;
        if (take(&c, ",\"fenced\":\"")) {
            if (!take_string(&c, s, sizeof s) || !audit_time_text(s))
                goto cleanup;
            memcpy(l.fenced, s, AUDIT_TIME_LEN);
        }
    }
    if (!take(&c, "}") || c.p != c.end || l.n_heads == 0)
        goto cleanup;
    *out = l;
    ok = true;
cleanup:
    if (!ok)
        free(l.heads);
    return ok;
}

bool anchor_parse(const char *text, size_t len, struct anchor_line *out, const char **why)
{
    memset(out, 0, sizeof *out);
    out->offset = -1;
    if (parse_as_written(text, len, out)) {
        out->offset = -1;
        return true;
    }
    json_error_t e;
    errno = 0; /* jansson does not always say that an allocation failed; malloc does */
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
    bool oom = !o && (json_error_code(&e) == json_error_out_of_memory || errno == ENOMEM);
    json_t *run = json_object_get(o, "run_id"), *at = json_object_get(o, "at"),
           *heads = json_object_get(o, "heads");
    bool ok = false;
    /* JSON allows a key twice and any number; lethe writes neither. */
    *why = oom                                                    ? why_oom
           : !o && json_error_code(&e) == json_error_duplicate_key ? "a line with a key twice (lethe writes each key once)"
           : !o && json_error_code(&e) == json_error_numeric_overflow
               ? "a line with a number too large for 64 bits"
               : "not valid JSON";
    if (!o)
        goto cleanup;
    *why = "not an anchor line (run_id, at, heads)";
    if (!json_is_object(o) || !json_is_string(run) || !json_is_string(at) ||
        !json_is_array(heads) || !id_parse(json_string_value(run), out->run_id) ||
        !audit_time_text(json_string_value(at)))
        goto cleanup;
    snprintf(out->at, sizeof out->at, "%s", json_string_value(at));
    json_t *since = json_object_get(o, "since");
    *why = "not an anchor line (since is not a time)";
    if (since && (!json_is_string(since) || (json_string_length(since) &&
                                             !audit_time_text(json_string_value(since)))))
        goto cleanup;
    out->has_since = since != NULL;
    if (since)
        snprintf(out->since, sizeof out->since, "%s", json_string_value(since));
    json_t *fenced = json_object_get(o, "fenced");
    *why = "not an anchor line (fenced is not a time, or comes without since)";
    if (fenced && (!since || !json_is_string(fenced) || !audit_time_text(json_string_value(fenced))))
        goto cleanup;
    if (fenced)
        snprintf(out->fenced, sizeof out->fenced, "%s", json_string_value(fenced));
    out->n_heads = json_array_size(heads);
    /* anchor_append writes no line without a head: one that names none vouches for nothing,
     * and taken as the newest it silenced the check of the line before it. */
    *why = "not an anchor line (it names no chain head)";
    if (out->n_heads == 0)
        goto cleanup;
    out->heads = calloc(out->n_heads, sizeof *out->heads);
    *why = why_oom;
    if (!out->heads)
        goto cleanup;
    *why = "not an anchor line (a head is not {\"chain\":UUID,\"seq\":N,\"hash\":HEX})";
    for (size_t i = 0; i < out->n_heads; i++) {
        json_t *h = json_array_get(heads, i), *c = json_object_get(h, "chain"),
               *s = json_object_get(h, "seq"), *x = json_object_get(h, "hash"),
               *w = json_object_get(h, "at");
        if (!json_is_string(c) || !json_is_integer(s) || !json_is_string(x) ||
            !id_parse(json_string_value(c), out->heads[i].chain) || json_integer_value(s) < 1 ||
            !hex64(json_string_value(x)) ||
            (w && (!json_is_string(w) || !audit_time_text(json_string_value(w)))))
            goto cleanup;
        if (w)
            snprintf(out->heads[i].at, sizeof out->heads[i].at, "%s", json_string_value(w));
        out->heads[i].seq = json_integer_value(s);
        memcpy(out->heads[i].hash, json_string_value(x), AUDIT_HEX_LEN);
    }
    ok = true;
cleanup:
    json_decref(o);
    if (!ok)
        anchor_line_free(out);
    return ok;
}

static bool tail_is_anchor_line(int fd, off_t start, off_t size, size_t *line_len);

bool anchor_glued(const char *text, size_t len, size_t *line_len)
{
    /* jansson reads the first JSON value and says where it ended; the cursor (or jansson) then
     * judges those bytes as any line. */
    json_error_t err;
    json_t *v = json_loadb(text, len, JSON_DISABLE_EOF_CHECK, &err);
    if (!v)
        return false;
    json_decref(v);
    size_t used = err.position > 0 ? (size_t)err.position : 0;
    if (used == 0 || used >= len)
        return false;
    struct anchor_line l;
    const char *why;
    if (!anchor_parse(text, used, &l, &why))
        return false;
    anchor_line_free(&l);
    *line_len = used;
    return true;
}

/* The bytes of FD after its last newline (up to SIZE): into *START, false when none. */
static bool tail_start(int fd, off_t size, off_t *start)
{
    char c;
    if (size == 0 || pread(fd, &c, 1, size - 1) != 1 || c == '\n')
        return false;
    off_t pos = size;
    *start = 0;
    while (pos > 0) {
        char piece[8192];
        size_t n = pos > (off_t)sizeof piece ? sizeof piece : (size_t)pos;
        pos -= (off_t)n;
        if (pread(fd, piece, n, pos) != (ssize_t)n)
            return false;
        for (size_t i = n; i-- > 0;)
            if (piece[i] == '\n') {
                *start = pos + (off_t)i + 1;
                return true;
            }
    }
    return true;
}

/* The last complete line of FD (size SIZE), read backwards in pieces: the file only grows. */
static char *last_line(int fd, off_t size, size_t *len, off_t *at)
{
    /* A whole anchor line lacking only its newline is the newest line, as verify counts it and
     * as the next run keeps it (cut_torn_tail adds the newline): the check compares it too. */
    off_t tail;
    size_t l;
    if (tail_start(fd, size, &tail) && tail_is_anchor_line(fd, tail, size, &l)) {
        char *line = malloc(l + 1);
        if (line && pread(fd, line, l, tail) == (ssize_t)l) {
            line[l] = '\0';
            *len = l;
            *at = tail;
            return line;
        }
        free(line);
        return NULL;
    }
    char *buf = NULL;
    off_t pos = size, end = -1;
    /* Find the newline that ends the last complete line; anything after it is torn. */
    while (pos > 0) {
        char piece[8192];
        size_t n = pos > (off_t)sizeof piece ? sizeof piece : (size_t)pos;
        pos -= (off_t)n;
        if (pread(fd, piece, n, pos) != (ssize_t)n) {
            free(buf);
            return NULL;
        }
        for (size_t i = n; i-- > 0;) {
            if (piece[i] != '\n')
                continue;
            if (end < 0) {
                end = pos + (off_t)i;
                continue;
            }
            /* the line is (pos + i, end) */
            size_t l = (size_t)(end - (pos + (off_t)i) - 1);
            char *line = malloc(l + 1);
            if (line && pread(fd, line, l, pos + (off_t)i + 1) == (ssize_t)l) {
                line[l] = '\0';
                *len = l;
                *at = pos + (off_t)i + 1;
                free(buf);
                return line;
            }
            free(line);
            free(buf);
            return NULL;
        }
    }
    if (end < 0) {
        *len = 0;
        errno = 0;
        return NULL;
    }
    char *line = malloc((size_t)end + 1);
    if (line && pread(fd, line, (size_t)end, 0) == (ssize_t)end) {
        line[end] = '\0';
        *len = (size_t)end;
        *at = 0;
        return line;
    }
    free(line);
    return NULL;
}

typedef void complain_fn(const char *fmt, ...);

static int read_newest(const char *file, struct anchor_line *out, complain_fn *complain);

/* The newest line of FILE that is an anchor line, into OUT with its digest, and its number in
 * *VALID_NO (0: none); *LINES counts the file's complete lines. Reads the whole file: only when
 * the newest line is not an anchor line. False when the file cannot be read. */
static bool newest_valid_line(const char *file, struct anchor_line *out, long *valid_no, long *lines,
                              bool *oom)
{
    memset(out, 0, sizeof *out);
    *valid_no = *lines = 0;
    *oom = false;
    FILE *f = fopen(file, "re");
    if (!f)
        return false;
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, f)) >= 0) {
        if (got == 0 || line[got - 1] != '\n')
            break; /* torn: not a line yet */
        (*lines)++;
        size_t len = (size_t)got - 1;
        struct anchor_line l;
        const char *why;
        if (len == 0)
            continue;
        if (!anchor_parse(line, len, &l, &why)) {
            if (why != why_oom)
                continue;
            *oom = true;
            break;
        }
        anchor_line_free(out);
        *out = l;
        audit_sha256_hex(line, len, out->digest);
        *valid_no = *lines;
    }
    bool ok = !ferror(f) && !*oom;
    free(line);
    fclose(f);
    return ok;
}

int anchor_read_newest(const char *file, struct anchor_line *out)
{
    return read_newest(file, out, log_error);
}

/* COMPLAIN reports what keeps the file from being read: an error where it stops the work, a
 * warning where the caller goes on without it (status). The line is always parsed and every
 * head of it compared: the database's record of the line (lethe.anchor_lines) is the
 * database's own word, which is what the check must not take (see anchor_behind). */
static int read_newest(const char *file, struct anchor_line *out, complain_fn *complain)
{
    memset(out, 0, sizeof *out);
    out->offset = -1;
    int fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        int err = errno;
        complain("anchor: cannot read '%s': %s", file, strerror(err));
        return err == EACCES || err == EPERM ? -1 : ANCHOR_UNUSABLE;
    }
    struct stat st;
    int rc = ANCHOR_UNUSABLE;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        complain("anchor: '%s' is not a regular file", file);
        goto cleanup;
    }
    size_t len = 0;
    off_t line_at_offset = -1;
    errno = 0;
    char *line = last_line(fd, st.st_size, &len, &line_at_offset);
    if (!line) {
        if (errno) {
            complain("anchor: cannot read '%s': %s", file, strerror(errno));
            goto cleanup;
        }
        rc = 0;
        goto cleanup;
    }
    char digest[AUDIT_HEX_LEN];
    audit_sha256_hex(line, len, digest);
    const char *why;
    bool parsed = anchor_parse(line, len, out, &why), oom = !parsed && why == why_oom;
    bool scanned = false;
    long valid_no = 0, lines = 0;
    if (!parsed && !oom)
        scanned = newest_valid_line(file, out, &valid_no, &lines, &oom);
    /* A line not read for want of memory says nothing of the line: no line before it is taken
     * (below) while one after it could not be read. */
    if (oom) {
        anchor_line_free(out);
        memset(out, 0, sizeof *out);
        complain("anchor: '%s': its lines could not be read: out of memory (the newest is %zu "
                 "bytes)", file, len);
        log_hint("the check compares every head of the newest line with the audit; give lethe "
                 "the memory to read it (an address-space limit: ulimit -v, systemd's MemoryMax)");
        rc = ANCHOR_NO_MEMORY;
    } else if (!parsed) {
        /* A line that is not lethe's (written by hand, a tool, damage) must not stop every purge
         * (it did: every run exited 1): the check takes the newest anchor line before it, and
         * says so at every run until a run's own line follows; verify --anchors names it. */
        /* An empty line (or a lone CR) is skipped without a word, as verify skips it. */
        bool blank = len == 0 || (len == 1 && line[0] == '\r');
        if (scanned && valid_no > 0) {
            out->offset = -1; /* a line before the newest: the walk reads from the end */
            if (!blank) {
                log_warn("anchor: '%s': its newest line (line %ld) is %s; the check takes line "
                         "%ld before it (run %s)", file, lines, why, valid_no, out->run_id);
                log_hint("that line is not one lethe wrote: remove it from the file (keep a copy "
                         "for whoever looks into it); runs append after it meanwhile, and 'lethe "
                         "verify --anchors' refuses the file while it holds the line");
            }
            rc = 1;
        } else if (valid_no == 0 && lines > 0) {
            /* No anchor line at all (garbage, a comment written at install): as an empty file,
             * which a missing one is too, said; the runs go on and append after it. */
            anchor_line_free(out);
            memset(out, 0, sizeof *out);
            log_warn("anchor: '%s' holds no anchor line: its newest (line %ld) is %s; taken as "
                     "empty", file, lines, why);
            log_hint("the anchor file holds one line per run, as lethe writes it: restore it from "
                     "the copy shipped elsewhere, keeping a copy of this one for whoever looks "
                     "into it");
            rc = 0;
        } else {
            anchor_line_free(out);
            memset(out, 0, sizeof *out);
            complain("anchor: '%s': the newest line is %s", file, why);
            log_hint("the anchor file holds one line per run, as lethe writes it; restore it from "
                     "the copy shipped elsewhere");
        }
    } else {
        memcpy(out->digest, digest, sizeof digest);
        out->offset = line_at_offset;
        rc = 1;
    }
    free(line);
cleanup:
    close(fd);
    return rc;
}

static int head_cmp(const void *a, const void *b)
{
    const struct anchor_head *x = a, *y = b;
    int c = strcmp(x->chain, y->chain);
    return c ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

/* Sorts HEADS (*N) by chain and seq and keeps each chain's highest. */
static void heads_highest(struct anchor_head *heads, size_t *n)
{
    if (*n)
        qsort(heads, *n, sizeof *heads, head_cmp);
    size_t k = 0;
    for (size_t i = 0; i < *n; i++) {
        if (k && strcmp(heads[k - 1].chain, heads[i].chain) == 0)
            k--;
        heads[k++] = heads[i];
    }
    *n = k;
}

/* The start of the complete line of FD that ends with the newline at END - 1, into *START:
 * read backwards in pieces. False when the file cannot be read. */
static bool line_start(int fd, off_t end, off_t *start)
{
    off_t pos = end - 1; /* the newline */
    *start = 0;
    while (pos > 0) {
        char piece[8192];
        size_t n = pos > (off_t)sizeof piece ? sizeof piece : (size_t)pos;
        if (pread(fd, piece, n, pos - (off_t)n) != (ssize_t)n)
            return false;
        size_t i = n;
        while (i > 0 && piece[i - 1] != '\n')
            i--;
        if (i > 0) {
            *start = pos - (off_t)n + (off_t)i;
            return true;
        }
        pos -= (off_t)n;
    }
    return true;
}

/* That line's bytes (without the newline, NUL-terminated), *LEN long, its start in *START; NULL
 * when it cannot be read. */
static char *line_ending_at(int fd, off_t end, off_t *start, size_t *len)
{
    if (!line_start(fd, end, start))
        return NULL;
    *len = (size_t)(end - 1 - *start);
    char *line = malloc(*len + 1);
    if (line && pread(fd, line, *len, *start) != (ssize_t)*len) {
        free(line);
        return NULL;
    }
    if (line)
        line[*len] = '\0';
    return line;
}

/* The "at" of the line of FD that ends with the newline at END - 1, its start in *START, into
 * AT: from the line's first bytes when it begins as lethe writes it (so a line of thousands of
 * heads is not read whole), else from the line parsed. False when the line is not an anchor
 * line (or cannot be read). */
static bool line_at(int fd, off_t end, off_t *start, char at[AUDIT_TIME_LEN])
{
    static const char head[] = "{\"run_id\":\"", mid[] = "\",\"at\":\"";
    const size_t h = sizeof head - 1, m = sizeof mid - 1, u = UUID_TEXT_LEN - 1,
                 t = AUDIT_TIME_LEN - 1, want = h + u + m + t + 1;
    if (!line_start(fd, end, start))
        return false;
    size_t len = (size_t)(end - 1 - *start);
    char prefix[128];
    if (len > want && want <= sizeof prefix && pread(fd, prefix, want, *start) == (ssize_t)want &&
        memcmp(prefix, head, h) == 0 && memcmp(prefix + h + u, mid, m) == 0 &&
        prefix[want - 1] == '"') {
        memcpy(at, prefix + h + u + m, t);
        at[t] = '\0';
        return true;
    }
    off_t s0;
    char *text = line_ending_at(fd, end, &s0, &len);
    struct anchor_line o;
    const char *why;
    bool ok = text && anchor_parse(text, len, &o, &why);
    if (ok) {
        snprintf(at, AUDIT_TIME_LEN, "%s", o.at);
        anchor_line_free(&o);
    }
    free(text);
    return ok;
}

/* Whether a line stamped AT_BEFORE comes before one stamped AT in time too. Shard runs that
 * append at once may leave two lines out of order: the walk then reads a line further back,
 * which costs a read and nothing else. */
static bool in_order(const char *at_before, const char *at)
{
    lethe_time a, b;
    return !time_parse(at_before, &a) || !time_parse(at, &b) || a <= b;
}

int anchor_read_evidence(PGconn *db, const char *file, struct anchor_line *out)
{
    int got = anchor_read_newest(file, out);
    if (got > 0)
        (void)anchor_add_unrecorded(db, file, out);
    return got;
}

bool anchor_add_unrecorded(PGconn *db, const char *file, struct anchor_line *l)
{
    if (!file || !l->heads)
        return true;
    int fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        log_warn("anchor: cannot read '%s' for the lines before its newest: %s", file,
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        return false;
    }
    off_t end = st.st_size, start;
    bool recorded_seen = false;
    char recorded_at[AUDIT_TIME_LEN] = "";
    if (l->offset >= 0 && l->offset <= (long long)end) {
        /* The newest line, read already: whether the database recorded it, then the lines
         * before it. */
        int known = dbaudit_anchor_line_recorded(db, l->digest);
        if (known < 0) {
            close(fd);
            return false;
        }
        end = (off_t)l->offset;
        recorded_seen = known > 0;
        snprintf(recorded_at, sizeof recorded_at, "%s", l->at);
    } else {
        char c;
        /* A torn tail is no line the database recorded, nor one to compare. */
        if (end > 0 && (pread(fd, &c, 1, end - 1) != 1 || c != '\n') && !tail_start(fd, end, &end))
            end = 0;
    }
    size_t have = l->n_heads, cap = have * 2 + 1024;
    struct anchor_head *all = malloc(cap * sizeof *all);
    bool ok = all != NULL;
    if (ok)
        memcpy(all, l->heads, have * sizeof *all);
    long lines = 0;
    /* A recorded line ends the walk once the line before it is seen to be in time order with
     * it: a copy of an old (recorded) line appended after the lines since the backup (two
     * copies of the file joined, a line copied by hand) is later in the file than lines newer
     * than it, and does not end it. Nearly always the newest line is recorded, and only the
     * start of the line before it is read. */
    while (ok && end > 0) {
        if (recorded_seen) {
            char at[AUDIT_TIME_LEN];
            off_t s0;
            if (!line_at(fd, end, &s0, at)) {
                end = s0; /* not an anchor line (or empty): passed over */
                if (s0 == 0)
                    break;
                continue;
            }
            if (in_order(at, recorded_at))
                break; /* the database's own line, in its place */
            recorded_seen = false; /* a copy out of its place: read on */
        }
        size_t len;
        char *text = line_ending_at(fd, end, &start, &len);
        if (!text) {
            log_warn("anchor: cannot read '%s' for the lines before its newest: %s", file,
                     errno ? strerror(errno) : "out of memory");
            ok = false;
            break;
        }
        end = start;
        struct anchor_line o;
        const char *why;
        char digest[AUDIT_HEX_LEN];
        audit_sha256_hex(text, len, digest);
        bool parsed = len > 0 && anchor_parse(text, len, &o, &why);
        free(text);
        if (!parsed)
            continue; /* not lethe's: said by the newest line's check and by verify */
        int known = dbaudit_anchor_line_recorded(db, digest);
        if (known != 0) {
            snprintf(recorded_at, sizeof recorded_at, "%s", o.at);
            anchor_line_free(&o);
            recorded_seen = known > 0;
            ok = known > 0;
            continue;
        }
        lines++;
        if (have + o.n_heads > cap) {
            heads_highest(all, &have);
            if (have + o.n_heads > cap) {
                size_t c2 = (have + o.n_heads) * 2;
                struct anchor_head *g = realloc(all, c2 * sizeof *g);
                if (!g) {
                    anchor_line_free(&o);
                    log_warn("anchor: out of memory reading the lines before the newest of '%s'", file);
                    ok = false;
                    break;
                }
                all = g;
                cap = c2;
            }
        }
        memcpy(all + have, o.heads, o.n_heads * sizeof *all);
        have += o.n_heads;
        anchor_line_free(&o);
    }
    close(fd);
    if (!ok || lines == 0) {
        free(all);
        return ok;
    }
    heads_highest(all, &have);
    free(l->heads);
    l->heads = all;
    l->n_heads = have;
    log_debug("anchor: %ld line%s of '%s' not recorded by the database: their heads compared too",
              lines, lines == 1 ? "" : "s", file);
    return true;
}

bool anchor_read_reach(const char *file, struct anchor_head **out, size_t *n,
                       char from[AUDIT_TIME_LEN], bool *bounded)
{
    *out = NULL;
    *n = 0;
    from[0] = '\0';
    *bounded = false;
    char prev_at[AUDIT_TIME_LEN] = "";
    FILE *f = fopen(file, "r");
    if (!f) {
        log_error("anchor: cannot read '%s': %s", file, strerror(errno));
        return false;
    }
    char *line = NULL;
    size_t cap = 0, have = 0;
    ssize_t got;
    long no = 0;
    bool ok = true;
    struct anchor_head *all = NULL;
    while (ok && (got = getline(&line, &cap, f)) >= 0) {
        no++;
        bool complete = got > 0 && line[got - 1] == '\n';
        size_t len = (size_t)got - complete;
        if (len == 0)
            continue;
        struct anchor_line l;
        const char *why;
        size_t glued;
        if (!anchor_parse(line, len, &l, &why)) {
            if (!complete && !anchor_glued(line, len, &glued))
                break; /* torn while appending: no evidence */
            log_error("anchor: '%s' line %ld: %s", file, no, why);
            if (!anchor_why_out_of_memory(why)) /* then nothing is wrong with the line */
                log_hint("the anchor file holds one line per run, as lethe writes it");
            ok = false;
            break;
        }
        if (*n + l.n_heads > have) {
            size_t c2 = (*n + l.n_heads) * 2 + 16;
            struct anchor_head *g = realloc(all, c2 * sizeof *g);
            if (!g) {
                log_error("anchor: out of memory");
                anchor_line_free(&l);
                ok = false;
                break;
            }
            all = g;
            have = c2;
        }
        memcpy(all + *n, l.heads, l.n_heads * sizeof *all);
        *n += l.n_heads;
        /* From the first line of the newest unbroken run of lines with it: a line without it
         * (a run that did not wait for late commits, an older lethe's, a role's that could not
         * record lines) bounds nothing, nor do the lines before it; nor do those before a line
         * that counts from a run that began after the line before it was written (a line
         * missing from the file). The lines after either count from before it, each from where
         * the one before it did, so every record since the first of them is named. (Once
         * broken, nothing was bounded again: one run that did not wait switched the check off
         * for the file's life, an outside tryout's finding.) */
        if (!l.has_since) {
            *bounded = false;
        } else if (!*bounded || strcmp(l.since, prev_at) > 0) {
            snprintf(from, AUDIT_TIME_LEN, "%s", l.since);
            *bounded = true;
        }
        snprintf(prev_at, sizeof prev_at, "%s", l.at);
        anchor_line_free(&l);
    }
    if (ok && ferror(f)) {
        log_error("anchor: cannot read '%s': %s", file, strerror(errno));
        ok = false;
    }
    free(line);
    fclose(f);
    if (!ok) {
        free(all);
        *n = 0;
        return false;
    }
    /* Sorted by chain and seq: the last of each chain is its highest. */
    heads_highest(all, n);
    *out = all;
    return true;
}

/* A crash halfway through a write can leave a torn last line; it was never fsynced whole,
 * so it is no evidence: cut it off before appending. Called under the lock. */
/* Whether the bytes of FD from START to SIZE are a whole anchor line, only its newline missing
 * (removed by an editor, or the one byte a crash kept out), or begin with one that other bytes
 * were glued to (anchor_glued): evidence as readers take it, the anchor line *LINE_LEN bytes. */
static bool tail_is_anchor_line(int fd, off_t start, off_t size, size_t *line_len)
{
    size_t len = (size_t)(size - start);
    char *text = malloc(len + 1);
    struct anchor_line l;
    const char *why;
    bool read = text && pread(fd, text, len, start) == (ssize_t)len;
    bool whole = read && anchor_parse(text, len, &l, &why);
    if (whole) {
        anchor_line_free(&l);
        *line_len = len;
    } else if (read && anchor_glued(text, len, line_len)) {
        whole = true;
    }
    free(text);
    return whole;
}

static bool cut_torn_tail(int fd, const char *file)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return false;
    if (st.st_size == 0)
        return true;
    char c;
    if (pread(fd, &c, 1, st.st_size - 1) != 1)
        return false;
    if (c == '\n')
        return true;
    off_t start;
    if (!tail_start(fd, st.st_size, &start))
        return false;
    /* A whole line without its newline is kept (verify counts it): cutting it lost a run's
     * evidence to a file saved without a final newline. So is one with bytes glued after it,
     * which no crash leaves: the newline ends them, and the line they make is not lethe's
     * (verify --anchors refuses the file, naming it, until the bytes are taken off). */
    size_t whole;
    if (tail_is_anchor_line(fd, start, st.st_size, &whole)) {
        if (whole == (size_t)(st.st_size - start))
            log_warn("anchor: '%s' ended in a whole anchor line without its newline; the newline "
                     "was added", file);
        else {
            log_warn("anchor: '%s' ended in an anchor line with %lld bytes after it that lethe "
                     "does not write, and no newline; kept, the newline added",
                     file, (long long)(st.st_size - start) - (long long)whole);
            log_hint("take those bytes off the end of that line (keep a copy of the file for "
                     "whoever looks into it): 'lethe verify --anchors' refuses the file meanwhile");
        }
        return write(fd, "\n", 1) == 1;
    }
    if (start > 0)
        log_warn("anchor: '%s' ended in an incomplete line (a crash while appending); it was cut "
                 "off", file);
    else
        log_warn("anchor: '%s' held only an incomplete line; it was cut off", file);
    return ftruncate(fd, start) == 0;
}

static bool append_line(const char *file, const char *line, size_t len)
{
    char *copy = strdup(file), *dir = copy ? dirname(copy) : NULL;
    bool ok = false, created = false;
    int fd = -1;
    if (!dir) {
        log_error("anchor: out of memory");
        goto cleanup;
    }
    if (mkdir(dir, 0750) == 0)
        log_info("anchor: created '%s'", dir);
    fd = open(file, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0);
    if (fd < 0 && errno == ENOENT) {
        fd = open(file, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);
        created = fd >= 0;
        if (fd < 0 && errno == EEXIST)
            fd = open(file, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0);
    }
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        log_error("anchor: cannot append to '%s': %s", file, strerror(errno));
        log_hint("audit.anchor_file names a file in a directory the lethe user can write");
        goto cleanup;
    }
    if (!S_ISREG(st.st_mode)) {
        log_error("anchor: '%s' is not a regular file", file);
        goto cleanup;
    }
    if (flock(fd, LOCK_EX) != 0 || !cut_torn_tail(fd, file)) {
        log_error("anchor: cannot append to '%s': %s", file, strerror(errno));
        goto cleanup;
    }
    off_t before = lseek(fd, 0, SEEK_END);
    ssize_t w = write(fd, line, len);
    if (w != (ssize_t)len) {
        int err = w < 0 ? errno : ENOSPC;
        if (before >= 0 && ftruncate(fd, before) != 0)
            log_warn("anchor: cannot cut off the incomplete line: %s", strerror(errno));
        log_error("anchor: cannot append to '%s': %s", file, strerror(err));
        goto cleanup;
    }
    if (fsync(fd) != 0) {
        log_error("anchor: cannot fsync '%s': %s", file, strerror(errno));
        goto cleanup;
    }
    if (created) {
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0 || fsync(dfd) != 0) {
            log_error("anchor: cannot fsync '%s': %s", dir, strerror(errno));
            if (dfd >= 0)
                close(dfd);
            goto cleanup;
        }
        close(dfd);
    }
    ok = true;
cleanup:
    if (fd >= 0)
        close(fd); /* releases the lock */
    free(copy);
    return ok;
}

bool anchor_append(PGconn *db, const char *file, const char *run_id, const char *command)
{
    /* A record stamped before the heads are taken but committed after them (its writer's commit
     * held up by a synchronous standby that is down) was named by no line: stamped before this
     * run began, no later line counted it as made since (sql/0108_writers_fence.sql). Waited
     * for, up to ANCHOR_FENCE_WAIT: unbounded, one writer held up (or writers overlapping
     * without end) held the run, its run lock and every run after it (an outside tryout's
     * finding). Past it, or on a stop request, the line names what has committed, without a
     * "since" (it does not name every chain appended to since then), and is not recorded: the
     * next run's line counts from the last recorded one's run, before the record, and names it. */
    const struct fence_words w = {
        .command = command,
        .first = "a record is being appended to the audit in another session (a request, a "
                 "hold, an acknowledgement, another shard's run); waiting for it to commit, so "
                 "that the run's anchor line names it",
        .what = "a record being appended to commit",
        .lock = "the writers' fence, advisory lock " WRITERS_FENCE_CLASS ", 0, shared",
        .hint = "see pg_locks (classid " WRITERS_FENCE_CLASS ") and pg_stat_activity"};
    int fenced = cycle_fence_wait(db, dbaudit_writers_fence_try, &w, ANCHOR_FENCE_WAIT);
    if (fenced < 0) {
        log_error("anchor: %s", db_last_message());
        return false;
    }
    if (fenced != 1)
        log_warn("anchor: %s: run %s's line names what has committed, and the next run's line "
                 "what commits later (it counts from an earlier run)",
                 fenced ? "a record being appended in another session did not commit within "
                          ANCHOR_FENCE_WAIT_TEXT
                        : "a stop was requested while waiting for a record being appended in "
                          "another session to commit",
                 run_id);
    /* Asked once: it decides which heads are anchored and whether the line is recorded. */
    int may = dbaudit_may_record_anchor_line(db);
    if (may < 0)
        return false;
    PGresult *r = dbaudit_anchor_heads(db, run_id, may > 0);
    if (!r)
        return false;
    int n = PQntuples(r);
    struct audit_buf b = {0};
    char at[AUDIT_TIME_LEN] = "";
    audit_buf_puts(&b, "{\"run_id\":\"");
    audit_buf_puts(&b, run_id);
    audit_buf_puts(&b, "\",\"at\":\"");
    if (n)
        snprintf(at, sizeof at, "%s", db_str(r, 0, "at"));
    audit_buf_puts(&b, at);
    audit_buf_puts(&b, "\",\"heads\":[");
    for (int i = 0; i < n; i++) {
        char head[240];
        const char *head_at = db_get(r, i, "head_at");
        snprintf(head, sizeof head, "%s{\"chain\":\"%s\",\"seq\":%s,\"hash\":\"%s\"%s%s%s}",
                 i ? "," : "", db_str(r, i, "chain"), db_str(r, i, "seq"), db_str(r, i, "hash"),
                 head_at ? ",\"at\":\"" : "", head_at ? head_at : "", head_at ? "\"" : "");
        audit_buf_puts(&b, head);
    }
    audit_buf_puts(&b, "]");
    /* Only a run that counts from the last recorded line names every chain appended to since:
     * its line says from when, and a verifier may judge a record past every head unvouched. */
    if (n && may > 0 && fenced == 1) {
        audit_buf_puts(&b, ",\"since\":\"");
        audit_buf_puts(&b, db_str(r, 0, "since"));
        audit_buf_puts(&b, "\"");
        /* And when the fence found no writer in flight: every record stamped before then had
         * committed when the heads were taken, so one past every head named, stamped between
         * "since" and then, was added after the fact (verify judges it at once; with the hour's
         * margin alone, a forgery stamped within the hour before the newest line passed). */
        const char *fence_at = dbaudit_writers_fence_clock();
        /* Not while records a replay left out wait to be appended: genuine, past every head,
         * stamped before the fence (the line without it is judged with the hour's margin). No
         * writer that ends in a line runs then (run, reconcile and a replay that batches refuse
         * or wait): a guard, should one. */
        if (audit_time_text(fence_at) && dbaudit_withheld_pending(db) == 0) {
            audit_buf_puts(&b, ",\"fenced\":\"");
            audit_buf_puts(&b, fence_at);
            audit_buf_puts(&b, "\"");
        }
    }
    audit_buf_puts(&b, "}\n");
    bool ok = false;
    if (!n) {
        log_error("anchor: run %s has no checkpoint to anchor", run_id);
    } else if (b.failed) {
        log_error("anchor: out of memory");
    } else if (append_line(file, b.data, b.len)) {
        ok = true;
        /* After the fsync: the database records the line only when its audit holds every head
         * of it (0021), a check of the line just written. Checks no longer take the record for
         * the heads (anchor_behind): they compare every head of the newest line. */
        b.data[b.len - 1] = '\0'; /* the line without its newline, as readers hash it */
        int recorded = may && fenced == 1 ? dbaudit_anchor_line_record(db, b.data, run_id) : 1;
        b.data[b.len - 1] = '\n';
        /* A failed query (a lost connection) says nothing of the heads: said as what it is. */
        if (recorded < 0)
            log_warn("anchor: the line of run %s is in the file, but could not be recorded in the "
                     "database: %s; the next run's line covers it", run_id, db_last_message());
        else if (!recorded)
            log_warn("anchor: the line of run %s was not recorded in the database: the audit "
                     "did not hold every head it names", run_id);
        for (int i = 0; i < n; i++)
            if (i < 20 || log_verbosity() > 0)
                log_info("anchor: chain %s seq %s hash %s", db_str(r, i, "chain"),
                         db_str(r, i, "seq"), db_str(r, i, "hash"));
        if (n > 20 && log_verbosity() <= 0)
            log_info("anchor: and %d more chains (-v lists them; '%s' has them all)", n - 20,
                     file);
    }
    audit_buf_free(&b);
    PQclear(r);
    return ok;
}

/* One-dimensional arrays in PostgreSQL's binary form (array_recv): a header naming the
 * element type and the length, then each element as its length and its bytes, integers in
 * network order. Sent so, thousands of heads cost the server no parsing: their text form took
 * 4-6 ms of a status at 1M items (3,335 heads), a quarter of the check's server time. */
struct wire {
    unsigned char *p;
    size_t len;
};

static void put32(struct wire *w, uint32_t v)
{
    for (int i = 3; i >= 0; i--)
        w->p[w->len++] = (unsigned char)(v >> (i * 8));
}

static void put64(struct wire *w, uint64_t v)
{
    put32(w, (uint32_t)(v >> 32));
    put32(w, (uint32_t)v);
}

static bool array_start(struct wire *w, size_t n, size_t element, uint32_t type)
{
    w->len = 0;
    w->p = malloc(20 + n * (4 + element));
    if (!w->p)
        return false;
    put32(w, n ? 1 : 0); /* dimensions: an empty array has none */
    put32(w, 0);         /* no nulls */
    put32(w, type);
    if (n) {
        put32(w, (uint32_t)n);
        put32(w, 1); /* lower bound */
    }
    return true;
}

PGresult *anchor_missing(PGconn *db, const struct anchor_line *l)
{
    /* Every value was parsed (uuid, integer, hex) by anchor_parse. */
    size_t n = l->n_heads;
    struct wire chains = {0}, seqs = {0}, hashes = {0};
    PGresult *r = NULL;
    if (n > INT32_MAX / 128 || !array_start(&chains, n, 16, 2950) ||
        !array_start(&seqs, n, 8, 20) || !array_start(&hashes, n, AUDIT_HEX_LEN - 1, 25)) {
        log_error("anchor: out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < n; i++) {
        uuid_t u;
        if (uuid_parse(l->heads[i].chain, u) != 0) {
            log_error("anchor: chain '%s' is not a uuid", l->heads[i].chain);
            goto cleanup;
        }
        put32(&chains, 16);
        memcpy(chains.p + chains.len, u, 16);
        chains.len += 16;
        put32(&seqs, 8);
        put64(&seqs, (uint64_t)l->heads[i].seq);
        put32(&hashes, AUDIT_HEX_LEN - 1);
        memcpy(hashes.p + hashes.len, l->heads[i].hash, AUDIT_HEX_LEN - 1);
        hashes.len += AUDIT_HEX_LEN - 1;
    }
    r = dbaudit_missing_heads(db, (const char *)chains.p, (const char *)seqs.p,
                              (const char *)hashes.p,
                              (const int[]){(int)chains.len, (int)seqs.len, (int)hashes.len});
cleanup:
    free(chains.p);
    free(seqs.p);
    free(hashes.p);
    return r;
}

/* The other way round: a file behind its database. Lines the database recorded as appended to
 * FILE after its newest one (DIGEST, NULL when the file is missing or empty) were lost with the
 * file: rolled back to an older copy, cut, or removed. The work goes on (the file is evidence
 * for later, and a run that refused would stop every purge for it); it is said, with the way
 * back. */
static const char restore_hint[] =
    "restore it from the copy shipped elsewhere (the lines it lacks are there), then append what "
    "was written to it since; runs go on meanwhile";

/* Lines found missing from FILE by earlier runs (sql/0081), not found again: each is looked for
 * in the file (one pass, only while some are open). Those still missing are said again, with
 * their number; those back are settled by a run (NOTE), each on its own, so that a file put back
 * in part still says what it lacks. */
static int digest_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void say_gaps_open(PGconn *db, const char *file, bool note)
{
    PGresult *r = dbaudit_anchor_gaps_open(db);
    int n = r ? PQntuples(r) : 0;
    if (n == 0) {
        PQclear(r);
        return;
    }
    const char **sorted = malloc((size_t)n * sizeof *sorted);
    bool *back = calloc((size_t)n, sizeof *back);
    char *settle = malloc((size_t)n * (AUDIT_HEX_LEN + 1) + 3);
    FILE *f = sorted && back && settle ? fopen(file, "re") : NULL;
    if (!f) {
        log_warn("anchor: cannot look in '%s' for the lines found missing from it: %s", file,
                 sorted && back && settle ? strerror(errno) : "out of memory");
        goto cleanup;
    }
    for (int i = 0; i < n; i++)
        sorted[i] = db_str(r, i, "lacking_digest");
    qsort(sorted, (size_t)n, sizeof *sorted, digest_cmp);
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, f)) > 0) {
        if (line[got - 1] != '\n')
            break; /* torn */
        char digest[AUDIT_HEX_LEN];
        const char *key = digest;
        audit_sha256_hex(line, (size_t)got - 1, digest);
        const char **hit = bsearch(&key, sorted, (size_t)n, sizeof *sorted, digest_cmp);
        if (hit)
            back[hit - sorted] = true;
    }
    free(line);
    fclose(f);
    long long missing = 0, found = 0;
    const char *since = NULL, *newest_run = NULL;
    size_t used = 0;
    settle[used++] = '{';
    for (int i = 0; i < n; i++) {
        const char *d = db_str(r, i, "lacking_digest");
        const char **at = bsearch(&d, sorted, (size_t)n, sizeof *sorted, digest_cmp);
        if (back[at - sorted]) {
            used += (size_t)sprintf(settle + used, "%s%s", found++ ? "," : "", d);
            continue;
        }
        missing++;
        if (!since || strcmp(db_str(r, i, "found_at"), since) < 0)
            since = db_str(r, i, "found_at");
        newest_run = db_str(r, i, "lacking_run"); /* in the order recorded: the last is newest */
    }
    settle[used++] = '}';
    settle[used] = '\0';
    if (found && note && dbaudit_anchor_gap_settle(db, settle))
        log_info("anchor: '%s' holds again %lld line%s found missing from it", file, found,
                 found == 1 ? "" : "s");
    if (missing) {
        log_warn("anchor: '%s' still lacks %lld line%s that the database recorded as appended to "
                 "it, found missing since %s (the newest by run %s)",
                 file, missing, missing == 1 ? "" : "s", since, newest_run);
        log_hint("%s", restore_hint);
    }
cleanup:
    free(sorted);
    free(back);
    free(settle);
    PQclear(r);
}

static void say_file_behind(PGconn *db, const char *file, const char *digest, unsigned flags)
{
    if (digest)
        say_gaps_open(db, file, flags & ANCHOR_NOTE_GAPS);
    PGresult *r = dbaudit_anchor_lines_after(db, digest);
    if (!r || PQntuples(r) == 0) {
        PQclear(r);
        return;
    }
    long long n = db_get_long(r, 0, "lines");
    if (digest)
        log_warn("anchor: '%s' lacks %lld line%s that the database recorded as appended to it "
                 "after its newest one (the newest by run %s, recorded at %s): the file was "
                 "rolled back, cut or replaced",
                 file, n, n == 1 ? "" : "s", db_str(r, 0, "newest_run"), db_str(r, 0, "newest_at"));
    else
        log_warn("anchor: '%s' is missing or empty, but the database recorded %lld line%s "
                 "appended to it (the newest by run %s, recorded at %s): the file was removed, "
                 "emptied or moved",
                 file, n, n == 1 ? "" : "s", db_str(r, 0, "newest_run"), db_str(r, 0, "newest_at"));
    log_hint("%s", restore_hint);
    /* A mistyped audit.anchor_file reads the same: a file that was never there. */
    if (!digest)
        log_hint("or audit.anchor_file names another file than the one the runs appended to (a "
                 "mistyped path, a new config): name that one");
    PQclear(r);
    if ((flags & ANCHOR_NOTE_GAPS) && !dbaudit_anchor_gap_note(db, digest))
        log_warn("anchor: the lines '%s' lacks could not be noted: only this run says so", file);
}

int anchor_behind(PGconn *db, const char *file, char *msg, size_t cap, unsigned flags)
{
    bool warn_only = flags & ANCHOR_WARN_ONLY;
    struct anchor_line l;
    /* Every head of the newest line, each probed in the audit (SPEC §7: any anchored head
     * missing). sql/0021 let a line the database had recorded stand for its heads, probing only
     * its newest one, the engine chain's checkpoint: sound against a restore (the copy lacks the
     * record, or the audit restored alone lacks that head), but a superuser who cut one tenant's
     * anchored records and left the engine chain alone went unseen, by the check and by every
     * run after it, whose lines no longer name that chain. Whatever the database says about
     * itself can be rewritten with it; only the file's heads are evidence. The cost is one probe
     * per head of the newest line: one or a few after an idle run, every chain a large cycle
     * touched after such a cycle and the run that follows (3,335 at 1M items: 2 ms to parse the
     * line, 1 ms for the server to read the heads, 13-17 ms to look them up). */
    int got = read_newest(file, &l, warn_only ? log_warn : log_error);
    if (got == 0 && file && (flags & ANCHOR_SAY_MISSING))
        say_file_behind(db, file, NULL, flags);
    if (got <= 0)
        return got;
    /* and of the lines before it the database never recorded (after a restore, every line
     * since the backup) */
    (void)anchor_add_unrecorded(db, file, &l);
    int rc = ANCHOR_NOT_COMPARED;
    PGresult *r = anchor_missing(db, &l);
    if (!r)
        goto cleanup;
    rc = PQntuples(r) > 0;
    for (int i = 0; i < PQntuples(r); i++)
        if (strcmp(db_str(r, i, "chain"), NIL_UUID) == 0 && db_get(r, i, "head_seq") &&
            db_get_long(r, i, "head_seq") >= db_get_long(r, i, "anchored_seq"))
            rc = ANCHOR_DIVERGED;
    size_t used = 0;
    if (rc == ANCHOR_DIVERGED)
        used = (size_t)snprintf(msg, cap, "the audit diverges from its anchor file '%s' (run %s, %s):",
                                file, l.run_id, l.at);
    else if (rc)
        used = (size_t)snprintf(msg, cap, "the audit is behind its anchor file '%s' (run %s, %s):",
                                file, l.run_id, l.at);
    /* A line names the engine chain twice (the run's first record, its checkpoint): each
     * chain is said once, at its highest anchored seq. */
    for (int i = 0; i < PQntuples(r) && used < cap; i++) {
        if (i && strcmp(db_str(r, i, "chain"), db_str(r, i - 1, "chain")) == 0)
            continue;
        used += (size_t)snprintf(msg + used, cap - used, "%s chain %s anchored at seq %s, %s",
                                 i ? ";" : "", db_str(r, i, "chain"),
                                 db_str(r, i, "anchored_seq"), db_str(r, i, "why"));
    }
    PQclear(r);
    if (rc == 0 && (flags & ANCHOR_SAY_LACKING))
        say_file_behind(db, file, l.digest, flags);
cleanup:
    anchor_line_free(&l);
    return rc;
}

/* A chain short of a record a replay left out (sql/0111): a writer would take its seq, and the
 * export holding it would never continue this chain again. The database refuses the append too;
 * this says which chains and what to do before anything is written. */
static int withheld_refused(PGconn *db, const char *what, unsigned flags, const char *chain)
{
    bool warn_only = flags & ANCHOR_WARN_ONLY;
    PGresult *r = dbrestore_withheld_open(db, chain);
    if (!r)
        return warn_only ? EXIT_DONE : EXIT_RUNTIME;
    int n = PQntuples(r);
    for (int i = 0; i < n; i++) {
        char said[512];
        dbrestore_withheld_said(r, i, said, sizeof said);
        (warn_only ? log_warn : log_error)("%s: %s", what, said);
    }
    PQclear(r);
    if (n == 0)
        return EXIT_DONE;
    log_hint("%s%s", RESTORE_WITHHELD_HINT, warn_only ? "" : "; nothing was written");
    return warn_only ? EXIT_DONE : EXIT_CHECK_FAILED;
}

int anchor_check_before_write(PGconn *db, const char *file, const char *what, unsigned flags)
{
    return anchor_check_before_write_to(db, file, what, flags, NULL);
}

int anchor_check_before_write_to(PGconn *db, const char *file, const char *what, unsigned flags,
                                 const char *chain)
{
    char msg[2048];
    int behind = anchor_behind(db, file, msg, sizeof msg, flags);
    if (behind < 0 && (flags & ANCHOR_WARN_ONLY))
        return EXIT_DONE; /* said as a warning; the caller goes on without the file */
    if (behind < 0 && file && access(file, F_OK) == 0 && access(file, R_OK) != 0) {
        /* The file's owner is the service user that appends to it, whatever its name. */
        struct stat st;
        char owner[64] = "", who[160] = "the file's owner";
        if (stat(file, &st) == 0 && user_name(st.st_uid, owner, sizeof owner))
            snprintf(who, sizeof who, "%s, the file's owner (sudo -u %s lethe ...)", owner, owner);
        log_hint("%s reads the anchor file before it writes the audit, to refuse a restored "
                 "database: run it as %s, or give this user read access to '%s'; nothing was "
                 "written",
                 what, who, file);
    }
    if (behind < 0)
        return EXIT_RUNTIME;
    if (behind == 0)
        return withheld_refused(db, what, flags, chain);
    log_error("%s: %s", what, msg);
    if (behind == ANCHOR_DIVERGED)
        log_hint("every database's engine chain is its own: the anchor file is another "
                 "database's (give each database its own audit.anchor_file), or this audit was "
                 "rewritten after that line, which 'lethe replay' cannot undo; nothing was written");
    else
        log_hint("the database was restored to an earlier state: run 'lethe replay EXPORT...' "
                 "with the exports written since, then try again; if this is not the database "
                 "the anchor file belongs to, point --db or database.conninfo at that one (every "
                 "database needs its own audit.anchor_file); nothing was written");
    return EXIT_CHECK_FAILED;
}

void anchor_warn_if_behind(PGconn *db, const char *file, const char *what)
{
    char msg[2048];
    /* A reader who may not read the file (an operator's login) hears nothing of it here. */
    if (!file || access(file, R_OK) != 0 ||
        anchor_behind(db, file, msg, sizeof msg, ANCHOR_WARN_ONLY) <= 0)
        return;
    log_warn("%s: %s: the catalog may lack the requests and holds recorded since the backup, "
             "and hold as active the holds released since", what, msg);
    log_hint("run 'lethe replay EXPORT...' with the exports written since (it names every request "
             "and hold a restore took); the writers refuse until then");
}

/* Whether the directories that would hold A and B are one (by device and inode) and the names
 * in them the same: two spellings of a file not made yet ("../var/x" and "/srv/var/x"). */
static bool same_place(const char *a, const char *b)
{
    char *ca = strdup(a), *cb = strdup(b), *na = strdup(a), *nb = strdup(b);
    bool same = false;
    if (ca && cb && na && nb) {
        struct stat da, db;
        const char *ba = basename(na), *bb = basename(nb);
        if (stat(dirname(ca), &da) == 0 && stat(dirname(cb), &db) == 0)
            same = da.st_dev == db.st_dev && da.st_ino == db.st_ino && strcmp(ba, bb) == 0;
        else
            same = strcmp(a, b) == 0;
    }
    free(ca);
    free(cb);
    free(na);
    free(nb);
    return same;
}

bool anchor_file_named(const char *path, const char *anchor_file)
{
    if (!path || !anchor_file || strcmp(path, "-") == 0)
        return false;
    struct stat a, b;
    bool has_a = stat(path, &a) == 0, has_b = stat(anchor_file, &b) == 0;
    if (has_a && has_b)
        return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
    /* Neither there yet (the anchor file before the first run, a key not made yet): the same
     * file if they would be made in the same place, whatever the spelling. */
    return !has_a && !has_b && same_place(path, anchor_file);
}

bool lethe_file_refused(const char *what, const char *option, const char *path,
                        const struct lethe_config *cfg)
{
    if (anchor_file_named(path, cfg->anchor_file)) {
        log_error("%s: %s '%s' is the anchor file (audit.anchor_file); refusing to replace it",
                  what, option, path);
        log_hint("the anchor file is the evidence the exports are checked against; write to "
                 "another file");
        return true;
    }
    /* The audit key: replaced, every locator_hmac and subject HMAC lethe computes after would
     * match nothing before it (reconcile, requests by subject). The config and the files it
     * @includes: the next run would read an export as its settings. */
    const char *own[] = {cfg->audit_key_file, cfg->path,         cfg->audit_key_conf,
                         cfg->anchor_conf,    cfg->executor_conf, cfg->metrics_conf};
    const char *names[] = {"the audit key (audit.key_file)", "the config file",
                           "a config file", "a config file", "a config file", "a config file"};
    for (size_t i = 0; i < sizeof own / sizeof *own; i++) {
        if (!own[i] || !anchor_file_named(path, own[i]))
            continue;
        log_error("%s: %s '%s' is %s; refusing to replace it", what, option, path, names[i]);
        log_hint("write to another file");
        return true;
    }
    for (int i = 0; i < cfg->n_includes; i++) {
        if (!anchor_file_named(path, cfg->includes[i]))
            continue;
        log_error("%s: %s '%s' is a config file (one '%s' @includes); refusing to replace it",
                  what, option, path, cfg->path ? cfg->path : "the config");
        log_hint("write to another file");
        return true;
    }
    return false;
}
