/* lethe verify: checks an export's hash chains offline, with no database and no config. Every
 * record's hash is taken over its canonical form (engine/audit.c), so it trusts nothing but the
 * file; memory grows with the number of chains, never with the records.
 *
 * Speed: a JSON Lines record exactly as lethe writes it is read by a strict scanner of its own,
 * in place, with no allocation (fast_record), and hashed as it stands, since such a line is
 * the canonical form but for its hash member; any other line goes through jansson and the
 * canonical form is rebuilt from the parsed fields, which gives the same verdict, only slower.
 * The header's chain claims, as lethe writes them, are read by a scanner too (fast_claims) and
 * the rest of the header by jansson. SHA-256 runs in one context, reused. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "anchor.h"
#include "atomicfile.h"
#include "audit.h"
#include "cli.h"
#include "exitcode.h"
#include "ids.h"
#include "jobs.h"
#include "log.h"
#include "text.h"
#include "timefmt.h"

/* The margin verify allows two clocks, and a writer that stamped its records before a run took
 * its heads and committed them after: an hour, wherever records, heads and lines are compared. */
#define CLOCK_MARGIN ((lethe_time)3600 * 1000000)
/* From a line's "since" to its "fenced": every record stamped then is named by the line (the
 * writer's stamp and the fence are read from one clock, the database's, taken to run forward: a
 * margin here would leave a forger that much room before every line, and a run's last records
 * are stamped milliseconds before its fence). Merged, sorted by from. */
struct fenced_span {
    char from[TIME_TEXT_LEN], to[TIME_TEXT_LEN];
    long line; /* the line that vouches for the end of it */
};

struct chain {
    char *tenant; /* NULL: a free slot */
    long long first_seq, seq;
    char hash[AUDIT_HEX_LEN];
    long line; /* where its latest record starts */
    bool left; /* another chain's records came after this one's */
};

struct expected {
    char tenant[UUID_TEXT_LEN];
    char hash[AUDIT_HEX_LEN];
    bool found;
};

/* What the JSON Lines header claims, checked against the records. */
struct claim {
    char chain[UUID_TEXT_LEN];
    long long first, last, records;
};

/* One anchored head (chain, seq, hash) of the anchor file's line LINE. */
struct anchor_ref {
    struct anchor_head h;
    char at[AUDIT_TIME_LEN];
    char run_id[UUID_TEXT_LEN];
    long line;
    bool found;
};

/* A chain named by the checkpoints of runs whose start the export holds: the first head and the
 * last head they name. Each run's checkpoint holds the head of every chain the run touched, read
 * under the engine chain's lock (sql/0055), so the heads named along the engine chain only move
 * forward; with the chain's records contiguous, the first and the last being there puts every
 * head named between them there too. */
struct named {
    char chain[UUID_TEXT_LEN]; /* "": a free slot */
    char first[AUDIT_HEX_LEN], last[AUDIT_HEX_LEN];
    char first_run[UUID_TEXT_LEN], last_run[UUID_TEXT_LEN];
    long first_line, last_line; /* the checkpoints' lines */
    bool first_found, last_found;
};

/* A run of the anchor file, and whether the export holds the engine record that starts it. */
struct anchor_run {
    char run_id[UUID_TEXT_LEN];
    bool started;
};

struct verifier {
    struct chain *slots;
    size_t cap, n_chains, windows;
    struct chain *current;
    char last_at[AUDIT_TIME_LEN]; /* the at of the current chain's latest record */
    long long records;
    long long unguarded; /* CSV text fields a spreadsheet would run, without the ' lethe writes */
    bool from_start;     /* the JSON Lines header says the export has no --from */
    char *header_tenant; /* the header says the export is this tenant's chain */
    bool header;         /* a JSON Lines header was read */
    int format;          /* its format: 1, or 2 with export_before lines */
    bool format1_windows; /* replay's reading: a format 1 window's chains taken as given */
    struct {             /* an export_before line read, whose chain's first record comes next */
        bool set;
        char tenant[UUID_TEXT_LEN];
        long long seq;
        char hash[AUDIT_HEX_LEN];
        long line;
    } before;
    char from[TIME_TEXT_LEN], to[TIME_TEXT_LEN]; /* its window; "" = unbounded */
    char future[TIME_TEXT_LEN]; /* an hour after this machine's clock: no record is as late */
    char exported_at[TIME_TEXT_LEN];             /* every record is older */
    long long claimed_records;
    struct claim *claims; /* sorted by chain */
    size_t n_claims;
    struct anchor_ref *refs; /* sorted by chain, seq */
    size_t n_refs;
    struct anchor_run *runs; /* sorted by run id */
    size_t n_runs;
    char vouch_from[AUDIT_TIME_LEN];     /* the lines name every chain appended to since */
    bool vouch_bounded;                  /* ... a time they say (see vouched()) */
    long gap_line;                       /* a line whose since lies after the line before's at */
    char gap_since[AUDIT_TIME_LEN], gap_prev_at[AUDIT_TIME_LEN];
    char newest_line_at[AUDIT_TIME_LEN]; /* its newest line's at, and that line's number */
    long newest_line;
    char vouch_before[TIME_TEXT_LEN]; /* an hour before the newest line: see vouched() */
    struct fenced_span *spans;        /* the lines' since-to-fenced spans, in file order */
    size_t n_spans;
    struct fenced_span *merged;       /* the same, merged and sorted: see vouched() */
    size_t n_merged;
    char reach_chain[UUID_TEXT_LEN];  /* the chain whose highest anchored seq was read last */
    long long reach_seq;              /* ... and that seq (a chain's records come together) */
    long long unvouched;               /* records newer than every head of their chain anchored */
    char unvouched_first[256];         /* the first of them, for the warning */
    struct expected *expect;
    int n_expect;
    struct named *named; /* open addressing, at most half full */
    size_t named_cap, n_named;
    struct named *current_named; /* the current chain's, or NULL */
    char (*started)[UUID_TEXT_LEN]; /* runs whose run_started or operator_rerun the export holds */
    size_t n_started, started_cap;
    struct audit_buf canon;
    EVP_MD_CTX *md_ctx; /* reused for every record */
    EVP_MD *md;
    long line;
    char why[1024];
};

static void fail(struct verifier *v, const char *tenant, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(struct verifier *v, const char *tenant, const char *fmt, ...)
{
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (tenant)
        snprintf(v->why, sizeof v->why, "line %ld: tenant %s: %s", v->line, tenant, msg);
    else
        snprintf(v->why, sizeof v->why, "line %ld: %s", v->line, msg);
}

/* The verdict of a failed check, said once. It quotes what the file holds (a tenant id, a
 * field): shown as text_shown shows it, so that a file cannot move the cursor or write a line
 * of its own ("verify: ok") over the verdict. */
static void verdict_failed(const struct verifier *v)
{
    char shown[4 * sizeof v->why];
    printf("verify: %s\n", text_shown_n(v->why, strlen(v->why), shown, sizeof shown));
}

/* A record that starts a run: run_started, or operator_rerun for a rerun. */
static bool run_start_record(const struct audit_record *r)
{
    const char *kind = r->v[AM_KIND].text;
    return strcmp(kind, "run_started") == 0 || strcmp(kind, "operator_rerun") == 0;
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

/* Open addressing, kept at most half full. */
static struct chain *chain_slot(struct chain *slots, size_t cap, const char *tenant)
{
    size_t i = fnv1a(tenant) & (cap - 1);
    while (slots[i].tenant && strcmp(slots[i].tenant, tenant) != 0)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static struct chain *chain_get(struct verifier *v, const char *tenant, bool *created)
{
    *created = false;
    if (v->current && strcmp(v->current->tenant, tenant) == 0)
        return v->current; /* a chain's records are contiguous: the usual case */
    if (v->cap) {
        struct chain *c = chain_slot(v->slots, v->cap, tenant);
        if (c->tenant)
            return c;
    }
    if (2 * (v->n_chains + 1) > v->cap) {
        size_t cap = v->cap ? 2 * v->cap : 64;
        struct chain *grown = calloc(cap, sizeof *grown);
        if (!grown)
            return NULL;
        const char *cur = v->current ? v->current->tenant : NULL;
        for (size_t i = 0; i < v->cap; i++)
            if (v->slots[i].tenant)
                *chain_slot(grown, cap, v->slots[i].tenant) = v->slots[i];
        free(v->slots);
        v->slots = grown;
        v->cap = cap;
        v->current = cur ? chain_slot(v->slots, v->cap, cur) : NULL;
    }
    struct chain *c = chain_slot(v->slots, v->cap, tenant);
    c->tenant = strdup(tenant);
    if (!c->tenant)
        return NULL;
    v->n_chains++;
    *created = true;
    return c;
}

static int by_tenant(const void *a, const void *b)
{
    return strcmp((*(const struct chain *const *)a)->tenant, (*(const struct chain *const *)b)->tenant);
}

/* -v: each chain's head, in the export's order (by tenant id), not the hash table's. */
static void print_heads(const struct verifier *v)
{
    const struct chain **order = malloc((v->n_chains ? v->n_chains : 1) * sizeof *order);
    size_t n = 0;
    for (size_t i = 0; order && i < v->cap && n < v->n_chains; i++)
        if (v->slots[i].tenant)
            order[n++] = &v->slots[i];
    if (order)
        qsort(order, n, sizeof *order, by_tenant);
    for (size_t i = 0; i < n; i++)
        printf("chain %s seq %lld..%lld head %s\n", order[i]->tenant, order[i]->first_seq,
               order[i]->seq, order[i]->hash);
    free(order);
}

static struct named *named_slot(struct named *slots, size_t cap, const char *chain)
{
    size_t i = fnv1a(chain) & (cap - 1);
    while (slots[i].chain[0] && strcmp(slots[i].chain, chain) != 0)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static struct named *named_find(const struct verifier *v, const char *chain)
{
    if (!v->n_named)
        return NULL;
    struct named *n = named_slot(v->named, v->named_cap, chain);
    return n->chain[0] ? n : NULL;
}

/* Takes the heads a checkpoint names: its detail is "CHAIN=HASH CHAIN=HASH ...", the engine
 * chain's own first (the record before it, which its link proves). False when out of memory. */
static bool named_take(struct verifier *v, const char *detail, const char *run_id)
{
    for (const char *p = detail; p && *p;) {
        const char *sp = strchr(p, ' ');
        size_t len = sp ? (size_t)(sp - p) : strlen(p);
        const char *tok = p;
        p = sp ? sp + 1 : NULL;
        if (len != UUID_TEXT_LEN - 1 + 1 + AUDIT_HEX_LEN - 1 || tok[UUID_TEXT_LEN - 1] != '=')
            continue; /* not a head: hashed with the record all the same */
        char chain[UUID_TEXT_LEN];
        memcpy(chain, tok, UUID_TEXT_LEN - 1);
        chain[UUID_TEXT_LEN - 1] = '\0';
        if (strcmp(chain, NIL_UUID) == 0)
            continue;
        if (2 * (v->n_named + 1) > v->named_cap) {
            size_t cap = v->named_cap ? 2 * v->named_cap : 64;
            struct named *grown = calloc(cap, sizeof *grown);
            if (!grown)
                return false;
            for (size_t i = 0; i < v->named_cap; i++)
                if (v->named[i].chain[0])
                    *named_slot(grown, cap, v->named[i].chain) = v->named[i];
            free(v->named);
            v->named = grown;
            v->named_cap = cap;
        }
        struct named *n = named_slot(v->named, v->named_cap, chain);
        const char *hash = tok + UUID_TEXT_LEN;
        if (!n->chain[0]) {
            memcpy(n->chain, chain, UUID_TEXT_LEN);
            memcpy(n->first, hash, AUDIT_HEX_LEN - 1);
            n->first[AUDIT_HEX_LEN - 1] = '\0';
            snprintf(n->first_run, sizeof n->first_run, "%s", run_id);
            n->first_line = v->line;
            v->n_named++;
        }
        memcpy(n->last, hash, AUDIT_HEX_LEN - 1);
        n->last[AUDIT_HEX_LEN - 1] = '\0';
        snprintf(n->last_run, sizeof n->last_run, "%s", run_id);
        n->last_line = v->line;
    }
    return true;
}

/* Whether the export holds the start record of run RUN_ID (searched from the newest: a run's
 * checkpoint comes soon after its start). */
static bool run_started_here(const struct verifier *v, const char *run_id)
{
    for (size_t i = v->n_started; i-- > 0;)
        if (strcmp(v->started[i], run_id) == 0)
            return true;
    return false;
}

/* The engine chain's records that name what else the export must hold: a run's start, and
 * the checkpoint of a run that started inside it. */
static bool engine_record(struct verifier *v, const struct audit_record *r)
{
    const char *run_id = r->v[AM_RUN_ID].text;
    if (!run_id || strlen(run_id) != UUID_TEXT_LEN - 1)
        return true;
    if (run_start_record(r)) {
        if (v->n_started == v->started_cap) {
            size_t cap = v->started_cap ? 2 * v->started_cap : 64;
            char(*grown)[UUID_TEXT_LEN] = realloc(v->started, cap * sizeof *grown);
            if (!grown)
                return false;
            v->started = grown;
            v->started_cap = cap;
        }
        memcpy(v->started[v->n_started++], run_id, UUID_TEXT_LEN);
    } else if (strcmp(r->v[AM_KIND].text, "checkpoint") == 0 && run_started_here(v, run_id)) {
        return named_take(v, r->v[AM_DETAIL].text, run_id);
    }
    return true;
}

/* The chain hash of PREV (LEN bytes) and the canonical form made of CANON (N bytes) and TAIL
 * (a NUL-terminated string, possibly empty), as audit_chain_hash takes it, in the verifier's
 * one context and without copying a canonical form the line already holds. */
static void chain_hash(struct verifier *v, const char *prev, size_t len, const char *canon,
                       size_t n, const char *tail, char out[AUDIT_HEX_LEN])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdn = 0;
    if (!EVP_DigestInit_ex2(v->md_ctx, v->md, NULL) || !EVP_DigestUpdate(v->md_ctx, prev, len) ||
        !EVP_DigestUpdate(v->md_ctx, "\n", 1) || !EVP_DigestUpdate(v->md_ctx, canon, n) ||
        !EVP_DigestUpdate(v->md_ctx, tail, strlen(tail)) ||
        !EVP_DigestFinal_ex(v->md_ctx, md, &mdn) || mdn != 32) {
        out[0] = '\0'; /* only a broken libcrypto gets here: matches no record's hash */
        return;
    }
    audit_hex(md, mdn, out);
}

static int ref_cmp(const void *a, const void *b)
{
    const struct anchor_ref *x = a, *y = b;
    int c = strcmp(x->h.chain, y->h.chain);
    return c ? c : (x->h.seq > y->h.seq) - (x->h.seq < y->h.seq);
}

static int span_cmp(const void *a, const void *b)
{
    return strcmp(((const struct fenced_span *)a)->from, ((const struct fenced_span *)b)->from);
}

static int run_cmp(const void *a, const void *b)
{
    return strcmp(((const struct anchor_run *)a)->run_id, ((const struct anchor_run *)b)->run_id);
}

static int claim_cmp(const void *a, const void *b)
{
    return strcmp(((const struct claim *)a)->chain, ((const struct claim *)b)->chain);
}

static struct claim *claim_find(struct verifier *v, const char *chain)
{
    struct claim key;
    snprintf(key.chain, sizeof key.chain, "%s", chain);
    return v->n_claims ? bsearch(&key, v->claims, v->n_claims, sizeof key, claim_cmp) : NULL;
}

/* The first anchored head at (CHAIN, SEQ), or NULL. */
static struct anchor_ref *ref_first(struct verifier *v, const char *chain, long long seq)
{
    size_t lo = 0, hi = v->n_refs;
    struct anchor_ref key;
    snprintf(key.h.chain, sizeof key.h.chain, "%s", chain);
    key.h.seq = seq;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (ref_cmp(&v->refs[mid], &key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < v->n_refs && ref_cmp(&v->refs[lo], &key) == 0 ? &v->refs[lo] : NULL;
}

/* The highest seq the anchor file names for CHAIN, or 0. */
static long long ref_max_seq(const struct verifier *v, const char *chain)
{
    size_t lo = 0, hi = v->n_refs;
    while (lo < hi) { /* the first ref past CHAIN */
        size_t mid = (lo + hi) / 2;
        if (strcmp(v->refs[mid].h.chain, chain) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && strcmp(v->refs[lo - 1].h.chain, chain) == 0 ? v->refs[lo - 1].h.seq : 0;
}

/* Whether an anchor vouches for record SEQ of CHAIN stamped at AT, or may not yet. Each run's line
 * names every chain with a record stamped since the start of the run before it whose line was
 * recorded (engine/dbaudit.c, dbaudit_anchor_heads): no head falls between two lines. So a record
 * past every head of its chain that the anchor file names was stamped after the newest line's
 * run took its heads, and is newer than that line; one that the newest line has outlived by more
 * than an hour (a margin for a writer that stamped its records before that run began and
 * committed them after it took its heads) was added after the fact: with such a record, a
 * forged item_purged re-hashed onto the end of a chain verified against the anchors, and
 * `lethe replay` appended it to a healthy audit. Only a line that says from when it names every
 * chain (its "since", written by a run that counts from the last recorded line) is taken so,
 * from the first such line on, when every line after it says so too: an anchor file begun
 * later, lines written before lethe kept "since" or by a role that could not record lines,
 * leave records they never named, and those are not judged. Records within the hour are
 * counted, and said. */
/* The newest line whose span (from its "since" to its "fenced") holds AT, or NULL. Looked up
 * in the merged spans; the line itself only when one holds it (a failure). */
static const struct fenced_span *span_holding(const struct verifier *v, const char *at)
{
    size_t lo = 0, hi = v->n_merged;
    while (lo < hi) { /* the first merged span from after AT */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(v->merged[mid].from, at) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0 || strcmp(at, v->merged[lo - 1].to) >= 0)
        return NULL;
    for (size_t i = v->n_spans; i-- > 0;)
        if (strcmp(v->spans[i].from, at) <= 0 && strcmp(at, v->spans[i].to) < 0)
            return &v->spans[i];
    return NULL;
}

static bool vouched(struct verifier *v, const char *tenant, long long seq, const char *at)
{
    if (!v->n_refs || (!v->n_merged && (!v->vouch_bounded || strcmp(at, v->vouch_from) <= 0)))
        return true;
    if (strcmp(v->reach_chain, tenant) != 0) {
        snprintf(v->reach_chain, sizeof v->reach_chain, "%s", tenant);
        v->reach_seq = ref_max_seq(v, tenant);
    }
    long long anchored = v->reach_seq;
    if (seq <= anchored)
        return true;
    char named[64] = "names it nowhere";
    if (anchored)
        snprintf(named, sizeof named, "names it up to seq %lld", anchored);
    /* A line that says when its run found no writer in flight ("fenced") names every chain with
     * a record stamped from its "since" until then: one past every head, stamped then, is not
     * the audit's (an outside auditor's tryout: a chain invented and stamped minutes before the
     * newest line verified, exit 0, within the hour's margin below). */
    /* A tenant's chain only: a line names the engine chain at its own run's checkpoint, not at
     * its head (an ack's record, or another shard's run's, stamped after the checkpoint and
     * before the fence is the next line's to name). */
    const struct fenced_span *sp =
        strcmp(tenant, NIL_UUID) != 0 ? span_holding(v, at) : NULL;
    if (sp) {
        fail(v, tenant,
             "seq %lld at %s is anchored by no line: the anchor file %s, yet its line %ld names "
             "every chain with a record stamped from %s until %s, when its run found no record "
             "being appended (the record was added after the fact, or the anchor file is not "
             "this audit's)",
             seq, at, named, sp->line, sp->from[0] ? sp->from : "the start of the log", sp->to);
        return false;
    }
    if (!v->vouch_bounded || strcmp(at, v->vouch_from) <= 0)
        return true;
    if (strcmp(at, v->vouch_before) < 0) {
        fail(v, tenant,
             "seq %lld at %s is anchored by no line: the anchor file %s, yet its newest line (line "
             "%ld, %s) came more than an hour after it, and each run anchors every chain appended "
             "to since the run before it (the record was added after the fact, or the anchor "
             "file is not this audit's)",
             seq, at, named, v->newest_line, v->newest_line_at);
        return false;
    }
    if (!v->unvouched++)
        snprintf(v->unvouched_first, sizeof v->unvouched_first, "chain %s seq %lld at %s", tenant,
                 seq, at);
    return true;
}

/* Anchors, expected heads and the header's window, for one record that checked out. */
static bool check_claims(struct verifier *v, const struct audit_record *r, const char *tenant,
                         long long seq, const char *hash)
{
    const char *at = r->v[AM_AT].text;
    if (v->from[0] && strcmp(at, v->from) < 0) {
        fail(v, tenant, "seq %lld at %s lies before the header's from %s (the header was edited)",
             seq, at, v->from);
        return false;
    }
    if (v->to[0] && strcmp(at, v->to) >= 0) {
        fail(v, tenant, "seq %lld at %s is not before the header's to %s (the header was edited)",
             seq, at, v->to);
        return false;
    }
    if (v->exported_at[0] && strcmp(at, v->exported_at) >= 0) {
        fail(v, tenant, "seq %lld at %s is not before the header's exported_at %s (the header "
                        "was edited)", seq, at, v->exported_at);
        return false;
    }
    /* No run has written a record stamped later than now; a record forged onto a chain's end
     * and dated far ahead would otherwise stay newer than every anchor line for good, and only
     * ever be said, never failed (the hour is a margin for the clocks of two machines). */
    if (strcmp(at, v->future) > 0) {
        fail(v, tenant, "seq %lld at %s is later than this machine's clock by more than an hour: "
                        "no run can have written it yet (the record was forged, or a clock is "
                        "wrong)", seq, at);
        return false;
    }
    struct anchor_ref *end = v->refs + v->n_refs;
    for (struct anchor_ref *a = ref_first(v, tenant, seq);
         a && a < end && a->h.seq == seq && strcmp(a->h.chain, tenant) == 0; a++) {
        if (strcmp(a->h.hash, hash) != 0) {
            fail(v, tenant,
                 "seq %lld is not the record anchored on line %ld of the anchor file (run %s): "
                 "its hash differs (the record was forged or replaced)",
                 seq, a->line, a->run_id);
            return false;
        }
        a->found = true;
    }
    if (!vouched(v, tenant, seq, at))
        return false;
    if (v->n_runs && strcmp(tenant, NIL_UUID) == 0 && r->v[AM_RUN_ID].text && run_start_record(r)) {
        struct anchor_run key;
        snprintf(key.run_id, sizeof key.run_id, "%s", r->v[AM_RUN_ID].text);
        struct anchor_run *run = bsearch(&key, v->runs, v->n_runs, sizeof key, run_cmp);
        if (run)
            run->started = true;
    }
    for (int i = 0; i < v->n_expect; i++)
        if (strcmp(v->expect[i].tenant, tenant) == 0 && strcmp(v->expect[i].hash, hash) == 0)
            v->expect[i].found = true;
    struct named *n = v->current_named;
    if (n) {
        n->first_found |= strcmp(n->first, hash) == 0;
        n->last_found |= strcmp(n->last, hash) == 0;
    }
    if (!v->header_tenant && strcmp(tenant, NIL_UUID) == 0 && !engine_record(v, r)) {
        fail(v, tenant, "out of memory");
        return false;
    }
    return true;
}

static bool fast_record(struct verifier *v, char *s, size_t len, struct audit_record *r,
                        char hashed[AUDIT_HEX_LEN]);
static struct chain *chain_find(struct verifier *v, const char *tenant);

/* SPEC §5: a chain's removed first records are caught. In a format 2 export of a window, a
 * chain that starts after seq 1 is preceded by its export_before line: the record before its
 * first, whose hash is the first's prev_hash, stamped before the window. Cut the chain's first
 * records in the window, and the record before the first left is one of them, stamped inside
 * it; no other record has its hash. Called with each record (CREATED: its chain's first). */
static bool check_before(struct verifier *v, const char *tenant, bool created, long long seq,
                         const char *prev_hash)
{
    if (v->before.set) {
        v->before.set = false;
        if (!created || strcmp(v->before.tenant, tenant) != 0) {
            fail(v, tenant, "the export_before line on line %ld names chain %s, but this record, "
                            "after it, is not that chain's first (lines were moved or removed)",
                 v->before.line, v->before.tenant);
            return false;
        }
        if (seq != v->before.seq + 1 || strcmp(prev_hash, v->before.hash) != 0) {
            fail(v, tenant, "the chain starts at seq %lld, but the export_before line on line %ld "
                            "gives seq %lld%s (its first records in the window were removed)",
                 seq, v->before.line, v->before.seq,
                 seq == v->before.seq + 1 ? ", whose hash is not this record's prev_hash" : "");
            return false;
        }
        return true;
    }
    if (created && seq != 1 && v->format >= 2 && v->from[0]) {
        fail(v, tenant, "the chain starts at seq %lld inside the window, but no export_before line "
                        "before it gives the record before (the chain's first records in the "
                        "window were removed, or that line was)",
             seq);
        return false;
    }
    /* A format 1 window has no such line: nothing shows its chains' first records are all
     * there, and the header that says "format 1" is not hashed (an outside tryout edited a
     * format 2 export back to 1, cut a purge record, and it verified). replay reads it still:
     * what it appends must continue the database's own chain. */
    if (created && seq != 1 && v->format == 1 && v->from[0] && !v->format1_windows) {
        fail(v, tenant, "a format 1 export (a lethe before 2026-12-07, or a header edited to say "
                        "so) starts the chain at seq %lld inside its window without the record "
                        "before it: nothing shows that the chain's first records in the window "
                        "are all there; export the window again (format 2) and verify that",
             seq);
        return false;
    }
    return true;
}

/* An export_before line's record R (HASHED: its chain hash worked out): in a format 2 export
 * of a window, hashing to its hash, of a chain not read yet whose claim starts at the next seq,
 * and stamped before the window. Kept for the record that must follow it (check_before). */
static bool accept_before(struct verifier *v, const struct audit_record *r, const char *hashed)
{
    if (v->format < 2 || !v->from[0]) {
        fail(v, NULL, "an export_before line in %s: lethe writes them only in a format 2 export "
                      "of a window (the line was added, or the header edited)",
             v->format < 2 ? "a format 1 export" : "an export without a window start");
        return false;
    }
    if (v->before.set) {
        fail(v, NULL, "a second export_before line after the one on line %ld, with no record "
                      "between (the chain's records were removed)", v->before.line);
        return false;
    }
    if (!r->v[AM_TENANT_ID].text || !r->v[AM_AT].text || !r->v[AM_SEQ].text) {
        fail(v, NULL, "the export_before line's record lacks its seq, at or tenant_id");
        return false;
    }
    char tenant[UUID_TEXT_LEN], at[AUDIT_TIME_LEN];
    snprintf(tenant, sizeof tenant, "%.*s", (int)r->v[AM_TENANT_ID].len, r->v[AM_TENANT_ID].text);
    snprintf(at, sizeof at, "%.*s", (int)r->v[AM_AT].len, r->v[AM_AT].text);
    if (r->v[AM_HASH].len != 64 || memcmp(hashed, r->v[AM_HASH].text, 64) != 0) {
        fail(v, tenant, "hash mismatch in the export_before line's record (it was changed)");
        return false;
    }
    long long seq = strtoll(r->v[AM_SEQ].text, NULL, 10);
    if (strlen(at) != AUDIT_TIME_LEN - 1 || strcmp(at, v->from) >= 0) {
        fail(v, tenant, "the export_before line's record (seq %lld) is stamped %s, inside the "
                        "window, which starts at %s: it is the window's, so the chain's records "
                        "after it in the window were removed",
             seq, at, v->from);
        return false;
    }
    const struct claim *cl = claim_find(v, tenant);
    if (chain_find(v, tenant) || !cl || cl->first != seq + 1) {
        fail(v, tenant, "an export_before line of seq %lld, but %s (lines were moved, or the "
                        "header edited)",
             seq, chain_find(v, tenant) ? "the chain's records came before it"
                  : !cl                 ? "the header claims no such chain"
                                        : "the header claims the chain starts elsewhere");
        return false;
    }
    v->before.set = true;
    snprintf(v->before.tenant, sizeof v->before.tenant, "%s", tenant);
    v->before.seq = seq;
    memcpy(v->before.hash, r->v[AM_HASH].text, 64);
    v->before.hash[64] = '\0';
    v->before.line = v->line;
    return true;
}

/* Checks one record against its chain and its own hash. */
/* Checks record R. HASHED is its chain hash when the line was found to be its canonical form
 * already (fast_record), or NULL: the canonical form is then rebuilt from R's values. */
static bool check_record(struct verifier *v, const struct audit_record *r, const char *hashed)
{
    const char *why;
    if (!hashed && !audit_canonical(r, &v->canon, &why)) {
        fail(v, NULL, "not an audit record: %s", why);
        return false;
    }
    const struct audit_value *t = &r->v[AM_TENANT_ID];
    if (strlen(t->text) != t->len) {
        fail(v, NULL, "not an audit record: tenant_id holds a NUL byte");
        return false;
    }
    const char *tenant = t->text;
    if (v->header_tenant && strcmp(tenant, v->header_tenant) != 0) {
        fail(v, tenant, "a record of another tenant in an export of tenant %s", v->header_tenant);
        return false;
    }
    long long seq = strtoll(r->v[AM_SEQ].text, NULL, 10);
    const struct audit_value *prev = &r->v[AM_PREV_HASH], *hash = &r->v[AM_HASH];
    bool created;
    struct chain *c = chain_get(v, tenant, &created);
    if (!c) {
        fail(v, tenant, "out of memory");
        return false;
    }
    if (!check_before(v, tenant, created, seq, r->v[AM_PREV_HASH].text))
        return false;
    if (c != v->current) {
        if (!created) {
            fail(v, tenant,
                 "the chain's records resume after other chains' records (records were moved)");
            return false;
        }
        /* lethe writes the chains in tenant_id order: the engine chain (the nil UUID) first,
         * so that its checkpoints are read before the chains they name. */
        if (v->current && strcmp(tenant, v->current->tenant) < 0) {
            fail(v, tenant, "the chain comes after chain %s's, but an export holds its chains in "
                            "tenant_id order (chains were moved)", v->current->tenant);
            return false;
        }
        if (v->current)
            v->current->left = true;
        v->current = c;
        v->current_named = named_find(v, tenant);
    }
    if (created) {
        if (seq == 1 && strcmp(prev->text, AUDIT_ZERO_HASH) != 0) {
            fail(v, tenant, "seq 1 has a prev_hash other than 64 zeros (the chain's start was "
                            "changed)");
            return false;
        }
        if (seq != 1 && v->from_start) {
            fail(v, tenant,
                 "the export starts at the beginning of the log, but this chain starts at seq "
                 "%lld (records before it were removed)",
                 seq);
            return false;
        }
        if (seq < 1) {
            fail(v, tenant, "seq %lld is not positive", seq);
            return false;
        }
        if (v->header && !claim_find(v, tenant)) {
            fail(v, tenant, "the chain is not among the header's chains (the header was edited)");
            return false;
        }
        c->first_seq = seq;
        if (seq != 1)
            v->windows++;
    } else if (seq > c->seq + 1) {
        fail(v, tenant,
             "seq %lld follows seq %lld of line %ld (records are missing or out of order)", seq,
             c->seq, c->line);
        return false;
    } else if (seq <= c->seq) {
        fail(v, tenant, "seq %lld follows seq %lld of line %ld (records were moved or repeated)",
             seq, c->seq, c->line);
        return false;
    } else if (strcmp(prev->text, c->hash) != 0) {
        fail(v, tenant,
             "prev_hash is not the hash of seq %lld on line %ld (the chain was broken)", c->seq,
             c->line);
        return false;
    }
    char computed[AUDIT_HEX_LEN];
    if (hashed)
        memcpy(computed, hashed, AUDIT_HEX_LEN);
    else
        chain_hash(v, prev->text, strlen(prev->text), v->canon.data, v->canon.len, "", computed);
    /* computed is 64 lower-case hex digits (or empty, when hashing failed): equal to it, the
     * record's hash is one too. */
    if (hash->len != 64 || memcmp(computed, hash->text, 64) != 0) {
        fail(v, tenant, "hash mismatch at seq %lld (the record was changed)", seq);
        return false;
    }
    /* What the audit's own checks refuse, a record re-hashed with it verified all the same (an
     * outside tryout: an unknown kind, an upper-case uuid, an empty reference, a run_started on
     * a tenant's chain): "ok" would vouch for a file lethe cannot have written. */
    const char *bad;
    if (!audit_record_form(r, &bad)) {
        fail(v, tenant, "seq %lld: %s (no audit holds such a record: it was forged)", seq, bad);
        return false;
    }
    /* Times are of one form (SPEC §3: UTC, microseconds, Z), which the comparisons below and
     * the anchors' rely on: "2026-12-04T11:40:00.000000-23:00", hashed as written, compared
     * as text before a time 23 hours earlier, and passed the check of records from the future. */
    static const enum audit_member times[] = {AM_AT, AM_TRIGGERED_AT, AM_DEADLINE_AT, AM_PURGED_AT};
    static const char *const time_names[] = {"at", "triggered_at", "deadline_at", "purged_at"};
    for (size_t i = 0; i < sizeof times / sizeof times[0]; i++)
        if (r->v[times[i]].text && !audit_time_text(r->v[times[i]].text)) {
            fail(v, tenant, "seq %lld: its %s is not a time as lethe writes it (UTC, six "
                            "fractional digits and Z; the record was forged)", seq, time_names[i]);
            return false;
        }
    /* SPEC §5: `at` is taken while the chain head is locked, so it never goes backwards
     * along a chain (the times are all of one fixed-width form, so they compare as text). A
     * chain's records are contiguous, so the record before is the verifier's last one. */
    const char *at = r->v[AM_AT].text;
    if (!created && strcmp(at, v->last_at) < 0) {
        fail(v, tenant, "seq %lld at %s is earlier than seq %lld at %s on line %ld (the chain's time "
                        "went backwards: a record was re-dated)",
             seq, at, c->seq, v->last_at, c->line);
        return false;
    }
    size_t at_len = r->v[AM_AT].len < sizeof v->last_at ? r->v[AM_AT].len : sizeof v->last_at - 1;
    memcpy(v->last_at, at, at_len);
    v->last_at[at_len] = '\0';
    c->seq = seq;
    memcpy(c->hash, computed, AUDIT_HEX_LEN);
    c->line = v->line;
    v->records++;
    return check_claims(v, r, tenant, seq, computed);
}

/* ---- JSON Lines ---- */

/* A window bound of the header (null when MAY_BE_NULL), or its exported_at: a time in the one
 * form lethe writes (UTC, six fractional digits, Z), as the records' are; another form the
 * Python model read otherwise (a lower-case z, seven digits). */
static bool header_time(struct verifier *v, json_t *o, const char *name, bool may_be_null,
                        char out[TIME_TEXT_LEN])
{
    json_t *t = json_object_get(o, name);
    out[0] = '\0';
    if (!t) {
        fail(v, NULL, "the export header has no \"%s\" (the header was edited)", name);
        return false;
    }
    if (json_is_null(t) && may_be_null)
        return true;
    if (!json_is_string(t) || !audit_time_text(json_string_value(t))) {
        fail(v, NULL, "the export header's \"%s\" is not a time as lethe writes it (UTC, six "
                      "fractional digits and Z; the header was edited)", name);
        return false;
    }
    snprintf(out, TIME_TEXT_LEN, "%s", json_string_value(t));
    return true;
}

/* The end of the canonical integer at P (an optional minus, no leading zero, no -0, at most
 * 18 characters, so that it fits a long long), or NULL when there is none there. */
static const char *plain_int_end(const char *p, const char *end)
{
    const char *start = p;
    if (p < end && *p == '-')
        p++;
    if (p == end || *p < '0' || *p > '9' || (*p == '0' && p > start))
        return NULL;
    if (*p == '0')
        p++;
    else
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    if (p - start > 18 || (p < end && *p >= '0' && *p <= '9'))
        return NULL;
    return p;
}

/* The header's chains as lethe writes them, read without jansson (whose objects for a header
 * of 33,000 chains took 0.35 s and 30 MB): the line must end with the array, and every element
 * must be {"chain":"...","first_seq":N,"last_seq":N,"records":N} with plain strings and
 * integers of at most 18 digits. Returns the number of claims read into v->claims (sorted and
 * checked by the caller), and sets *array to where the array starts; returns -1, with nothing
 * allocated, for any other header, which jansson then reads whole. */
static long fast_claims(struct verifier *v, const char *s, size_t len, size_t *array)
{
    static const char key[] = ",\"chains\":[";
    const char *end = s + len, *p = NULL;
    for (const char *q = s; q + sizeof key - 1 <= end; q++)
        if (*q == ',' && memcmp(q, key, sizeof key - 1) == 0) {
            if (p)
                return -1; /* twice: jansson says which */
            p = q;
        }
    if (!p || len < 2 || memcmp(end - 2, "]}", 2) != 0)
        return -1;
    *array = (size_t)(p - s) + sizeof key - 2; /* the '[' */
    p += sizeof key - 1;
    end -= 2; /* the closing ']' */
    size_t cap = 0, n = 0;
    struct claim *claims = NULL;
    static const char *const names[] = {"{\"chain\":\"", "\",\"first_seq\":", ",\"last_seq\":",
                                        ",\"records\":"};
    while (p < end) {
        if (n && *p++ != ',')
            goto other;
        if (n == cap) {
            cap = cap ? 2 * cap : 1024;
            struct claim *grown = realloc(claims, cap * sizeof *grown);
            if (!grown)
                goto other;
            claims = grown;
        }
        struct claim *c = &claims[n];
        long long *ints[] = {NULL, &c->first, &c->last, &c->records};
        for (int f = 0; f < 4; f++) {
            size_t nl = strlen(names[f]);
            if ((size_t)(end - p) < nl || memcmp(p, names[f], nl) != 0)
                goto other;
            p += nl;
            if (f == 0) {
                const char *q = memchr(p, '"', (size_t)(end - p));
                char id[UUID_TEXT_LEN + 1];
                if (!q || (size_t)(q - p) >= sizeof id)
                    goto other;
                memcpy(id, p, (size_t)(q - p));
                id[q - p] = '\0';
                if (!id_parse(id, c->chain) || strcmp(id, c->chain) != 0)
                    goto other;
                p = q;
                continue;
            }
            const char *start = p;
            if (!(p = plain_int_end(p, end)))
                goto other;
            *ints[f] = strtoll(start, NULL, 10);
        }
        if (p == end || *p++ != '}')
            goto other;
        n++;
    }
    v->claims = claims;
    v->n_claims = n;
    return (long)n;
other:
    free(claims);
    return -1;
}

static bool json_header(struct verifier *v, json_t *o)
{
    json_t *format = json_object_get(o, "format");
    if (!json_is_integer(format) || json_integer_value(format) < 1 || json_integer_value(format) > 2) {
        fail(v, NULL, "the export header is not format 1 or 2, the formats this lethe reads");
        return false;
    }
    v->header = true;
    v->format = (int)json_integer_value(format);
    json_t *from = json_object_get(o, "from");
    v->from_start = from && json_is_null(from);
    if (!header_time(v, o, "from", true, v->from) || !header_time(v, o, "to", true, v->to) ||
        !header_time(v, o, "exported_at", false, v->exported_at))
        return false;
    json_t *tenant = json_object_get(o, "tenant_id");
    if (tenant && !json_is_null(tenant)) {
        if (!json_is_string(tenant)) {
            fail(v, NULL, "the export header's tenant_id is not a string");
            return false;
        }
        v->header_tenant = strdup(json_string_value(tenant));
        if (!v->header_tenant) {
            fail(v, NULL, "out of memory");
            return false;
        }
    }
    /* The claims: how many records, and each chain's first and last seq. */
    json_t *records = json_object_get(o, "records"), *chains = json_object_get(o, "chains");
    if (!json_is_integer(records) || !json_is_array(chains)) {
        fail(v, NULL, "the export header makes no claims (records, chains): it was edited, or "
                      "an older lethe wrote it");
        return false;
    }
    v->claimed_records = json_integer_value(records);
    if (!v->claims) { /* not read by fast_claims */
        v->n_claims = json_array_size(chains);
        v->claims = calloc(v->n_claims ? v->n_claims : 1, sizeof *v->claims);
        if (!v->claims) {
            fail(v, NULL, "out of memory");
            return false;
        }
    }
    for (size_t i = 0; i < json_array_size(chains); i++) {
        json_t *c = json_array_get(chains, i), *id = json_object_get(c, "chain"),
               *first = json_object_get(c, "first_seq"), *last = json_object_get(c, "last_seq"),
               *n = json_object_get(c, "records");
        struct claim *cl = &v->claims[i];
        /* a chain is named as its records name it: a uuid in lower case */
        if (!json_is_string(id) || !id_parse(json_string_value(id), cl->chain) ||
            strcmp(json_string_value(id), cl->chain) != 0 ||
            !json_is_integer(first) || !json_is_integer(last) || !json_is_integer(n)) {
            fail(v, NULL, "the export header's chain %zu is not {chain, first_seq, last_seq, "
                          "records}", i + 1);
            return false;
        }
        cl->first = json_integer_value(first);
        cl->last = json_integer_value(last);
        cl->records = json_integer_value(n);
    }
    qsort(v->claims, v->n_claims, sizeof *v->claims, claim_cmp);
    for (size_t i = 1; i < v->n_claims; i++)
        if (strcmp(v->claims[i - 1].chain, v->claims[i].chain) == 0) {
            fail(v, NULL, "the export header names chain %s twice", v->claims[i].chain);
            return false;
        }
    return true;
}

/* The header, its chains read by fast_claims and the rest by jansson (the line with an empty
 * array in their place); NULL, nothing kept, when it is not such a header: jansson then reads
 * the line whole and gives the verdict. */
static json_t *fast_header(struct verifier *v, const char *s, size_t len)
{
    size_t at;
    if (fast_claims(v, s, len, &at) < 0)
        return NULL;
    struct audit_buf b = {0};
    audit_buf_append(&b, s, at);
    audit_buf_puts(&b, "[]}");
    json_t *o = b.failed ? NULL : json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, NULL);
    audit_buf_free(&b);
    json_t *kind = json_object_get(o, "kind"), *chains = json_object_get(o, "chains");
    if (!json_is_object(o) || !json_is_string(kind) ||
        strcmp(json_string_value(kind), "export_header") != 0 || !json_is_array(chains) ||
        json_array_size(chains) != 0) {
        json_decref(o);
        free(v->claims);
        v->claims = NULL;
        v->n_claims = 0;
        return NULL;
    }
    return o;
}

/* Fills R from the JSON object O (its integers' text in INTS), as check_record reads a record;
 * false after saying why it is not an audit record. */
static bool json_to_record(struct verifier *v, json_t *o, struct audit_record *rp,
                           char ints[AUDIT_MEMBERS][24])
{
    struct audit_record r = {0};
    if (json_object_size(o) != AUDIT_MEMBERS) {
        const char *key;
        json_t *val;
        json_object_foreach(o, key, val) {
            bool known = false;
            for (int m = 0; m < AUDIT_MEMBERS && !known; m++)
                known = strcmp(key, audit_member_names[m]) == 0;
            if (!known) {
                fail(v, NULL, "not an audit record: unexpected member \"%s\"", key);
                return false;
            }
        }
    }
    for (int m = 0; m < AUDIT_MEMBERS; m++) {
        const char *name = audit_member_names[m];
        json_t *val = json_object_get(o, name);
        if (!val) {
            fail(v, NULL, "not an audit record: member \"%s\" is missing", name);
            return false;
        }
        if (json_is_null(val))
            continue;
        switch (audit_member_type(m)) {
        case AUDIT_JSON_INT:
            if (!json_is_integer(val)) {
                fail(v, NULL, "not an audit record: member \"%s\" is not an integer", name);
                return false;
            }
            snprintf(ints[m], sizeof ints[m], "%" JSON_INTEGER_FORMAT, json_integer_value(val));
            r.v[m].text = ints[m];
            r.v[m].len = strlen(ints[m]);
            break;
        case AUDIT_JSON_BOOL:
            if (!json_is_boolean(val)) {
                fail(v, NULL, "not an audit record: member \"%s\" is not true or false", name);
                return false;
            }
            r.v[m].text = json_is_true(val) ? "true" : "false";
            r.v[m].len = strlen(r.v[m].text);
            break;
        case AUDIT_JSON_STRING:
            if (!json_is_string(val)) {
                fail(v, NULL, "not an audit record: member \"%s\" is not a string", name);
                return false;
            }
            r.v[m].text = json_string_value(val);
            r.v[m].len = json_string_length(val);
            break;
        }
    }
    if (!r.v[AM_HASH].text) {
        fail(v, NULL, "not an audit record: member \"hash\" is null");
        return false;
    }
    *rp = r;
    return true;
}

static bool json_record(struct verifier *v, json_t *o)
{
    struct audit_record r;
    char ints[AUDIT_MEMBERS][24];
    return json_to_record(v, o, &r, ints) && check_record(v, &r, NULL);
}

/* An export_before line read by jansson (not as lethe writes it, e.g. re-indented): its record
 * made canonical and hashed, then judged as any (accept_before). */
static bool json_before(struct verifier *v, json_t *o)
{
    json_t *rec = json_object_get(o, "record");
    if (json_object_size(o) != 2 || !json_is_object(rec)) {
        fail(v, NULL, "an export_before line is {\"kind\":\"export_before\",\"record\":{...}}, "
                      "and this one is not (the line was edited)");
        return false;
    }
    struct audit_record r;
    char ints[AUDIT_MEMBERS][24], hashed[AUDIT_HEX_LEN];
    const char *why;
    if (!json_to_record(v, rec, &r, ints))
        return false;
    if (!audit_canonical(&r, &v->canon, &why)) {
        fail(v, NULL, "not an audit record: %s", why);
        return false;
    }
    const struct audit_value *prev = &r.v[AM_PREV_HASH];
    chain_hash(v, prev->text, prev->len, v->canon.data, v->canon.len, "", hashed);
    return accept_before(v, &r, hashed);
}

/* The closing quote of the JSON string whose text starts at P, when every byte before it is
 * printable ASCII other than a backslash (so the string needs no escape and reads as it is
 * written); NULL otherwise. Eight bytes at a time: lethe's strings are ids, times and hashes. */
static char *plain_string_end(char *p, const char *end)
{
    const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;
    char *q = memchr(p, '"', (size_t)(end - p));
    if (!q)
        return NULL;
    size_t n = (size_t)(q - p), i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w, bs, del;
        memcpy(&w, p + i, 8);
        bs = w ^ (ones * '\\');
        del = w ^ (ones * 0x7f);
        /* a byte of 0x80 or more; below 0x20; a backslash; 0x7f (exact tests for "any") */
        if ((w & high) || ((w - ones * 0x20) & ~w & high) || ((bs - ones) & ~bs & high) ||
            ((del - ones) & ~del & high))
            return NULL;
    }
    for (; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\\' || c < 0x20 || c >= 0x7f)
            return NULL;
    }
    return q;
}

/* A record as lethe writes it: every member in the documented order, no whitespace, strings of
 * printable ASCII without escapes, integers in canonical form (at most 18 digits), true, false
 * or null, the required members not null. Such a line is the record's canonical form with its
 * hash member inserted, so its chain hash is taken over the line itself, into HASHED. Fills r
 * with slices of the line, NUL-terminated in place, and returns true. Returns false, the line
 * untouched, for anything else: jansson then reads it and gives the verdict. */
static bool fast_record(struct verifier *v, char *s, size_t len, struct audit_record *r,
                        char hashed[AUDIT_HEX_LEN])
{
    /* Each member's opening, with the comma before it: {"seq": ,"at": ... ,"hash": */
    static char key[AUDIT_MEMBERS][24];
    static size_t key_len[AUDIT_MEMBERS];
    char *ends[AUDIT_MEMBERS];
    char *p = s, *end = s + len;
    if (!key_len[0])
        for (int m = 0; m < AUDIT_MEMBERS; m++)
            key_len[m] = (size_t)snprintf(key[m], sizeof key[m], "%s\"%s\":", m ? "," : "{",
                                          audit_member_names[m]);
    for (int m = 0; m < AUDIT_MEMBERS; m++) {
        if ((size_t)(end - p) < key_len[m] || memcmp(p, key[m], key_len[m]) != 0)
            return false;
        p += key_len[m];
        char *start = p;
        if (end - p >= 4 && memcmp(p, "null", 4) == 0) {
            if (audit_member_required(m))
                return false;
            r->v[m].text = NULL;
            r->v[m].len = 0;
            ends[m] = NULL;
            p += 4;
            continue;
        }
        switch (audit_member_type(m)) {
        case AUDIT_JSON_INT:
            if (!(p = (char *)plain_int_end(p, end)))
                return false;
            break;
        case AUDIT_JSON_BOOL:
            if (end - p >= 4 && memcmp(p, "true", 4) == 0)
                p += 4;
            else if (end - p >= 5 && memcmp(p, "false", 5) == 0)
                p += 5;
            else
                return false;
            break;
        case AUDIT_JSON_STRING:
            if (p == end || *p++ != '"')
                return false;
            start = p;
            if (!(p = plain_string_end(p, end)))
                return false;
            break;
        }
        r->v[m].text = start;
        r->v[m].len = (size_t)(p - start);
        ends[m] = p;
        if (audit_member_type(m) == AUDIT_JSON_STRING)
            p++; /* the closing quote */
    }
    if (p == end || *p++ != '}' || p != end)
        return false;
    /* The canonical form: the line up to prev_hash's closing quote, then the closing brace. */
    const struct audit_value *prev = &r->v[AM_PREV_HASH];
    chain_hash(v, prev->text, prev->len, s, (size_t)(ends[AM_PREV_HASH] + 1 - s), "}", hashed);
    for (int m = 0; m < AUDIT_MEMBERS; m++)
        if (ends[m])
            *ends[m] = '\0';
    return true;
}

/* Returns EXIT_DONE, EXIT_CHECK_FAILED or EXIT_RUNTIME (a read error). */
static int verify_jsonl(struct verifier *v, FILE *f, char **line, size_t *cap, ssize_t n)
{
    for (; n >= 0; n = getline(line, cap, f)) {
        v->line++;
        size_t len = (size_t)n;
        if (len && (*line)[len - 1] == '\n')
            len--;
        struct audit_record fast;
        char hashed[AUDIT_HEX_LEN];
        /* An export_before line as lethe writes it: its record read in place, as a record's. */
        const size_t plen = strlen(AUDIT_BEFORE_PREFIX);
        if (v->line > 1 && len > plen + 1 && memcmp(*line, AUDIT_BEFORE_PREFIX, plen) == 0 &&
            (*line)[len - 1] == '}' && fast_record(v, *line + plen, len - plen - 1, &fast, hashed)) {
            if (!accept_before(v, &fast, hashed))
                return EXIT_CHECK_FAILED;
            continue;
        }
        if (v->line > 1 && fast_record(v, *line, len, &fast, hashed)) {
            if (!check_record(v, &fast, hashed))
                return EXIT_CHECK_FAILED;
            continue;
        }
        if (strspn(*line, " \t\r") == len) {
            /* jansson's "'[' or '{' expected near end of file" says nothing of where it came from */
            fail(v, NULL, "an empty line: an export has none (a record was emptied, or a blank line "
                          "was added, as some editors do at the end of a file)");
            return EXIT_CHECK_FAILED;
        }
        /* What an editor or a spreadsheet makes of a file, said as such: jansson names only the
         * byte it stopped at (an invisible byte-order mark, a quote). */
        if (v->line == 1 && len >= 3 && memcmp(*line, "\xef\xbb\xbf", 3) == 0) {
            fail(v, NULL, "the file starts with a UTF-8 byte-order mark, which lethe never writes "
                          "(an editor added it): not the export as written");
            return EXIT_CHECK_FAILED;
        }
        if (v->line == 1 && len >= 6 && memcmp(*line, "\"seq\",", 6) == 0) {
            fail(v, NULL, "a CSV header with its names quoted: lethe writes them bare, so this is "
                          "a CSV export re-saved by another program (verify the file lethe wrote)");
            return EXIT_CHECK_FAILED;
        }
        if (v->line == 1 && (*line)[strspn(*line, " \t")] != '{') {
            fail(v, NULL, "the first line is neither the CSV header lethe writes nor a JSON Lines "
                          "export's header: a CSV export whose header line was removed, or not an "
                          "export");
            return EXIT_CHECK_FAILED;
        }
        json_error_t e;
        json_t *o = v->line == 1 ? fast_header(v, *line, len) : NULL;
        if (!o)
            o = json_loadb(*line, len, JSON_REJECT_DUPLICATES, &e);
        if (!o) {
            /* JSON allows both; lethe never writes either, so the line was made by hand. */
            if (json_error_code(&e) == json_error_duplicate_key)
                fail(v, NULL, "a key twice in one line (%s): lethe writes each key once, so the "
                              "line was edited",
                     e.text);
            else if (json_error_code(&e) == json_error_numeric_overflow)
                fail(v, NULL, "a number too large for 64 bits (%s): lethe writes none, so the line was edited",
                     e.text);
            else
                fail(v, NULL, "not valid JSON: %s", e.text);
            return EXIT_CHECK_FAILED;
        }
        bool ok;
        json_t *kind = json_object_get(o, "kind");
        if (!json_is_object(o)) {
            fail(v, NULL, "not a JSON object");
            ok = false;
        } else if (v->line == 1 && json_is_string(kind) &&
                   strcmp(json_string_value(kind), "export_header") == 0) {
            ok = json_header(v, o);
        } else if (v->line == 1) {
            fail(v, NULL, "the export has no header (its first line is not the export_header): "
                          "it was removed, or this is not an export");
            ok = false;
        } else if (json_is_string(kind) && strcmp(json_string_value(kind), "export_header") == 0) {
            fail(v, NULL, "a second export header: two exports were joined into one file (verify "
                          "each on its own)");
            ok = false;
        } else if (json_is_string(kind) && strcmp(json_string_value(kind), "export_before") == 0 &&
                   json_object_get(o, "record")) {
            ok = json_before(v, o);
        } else {
            ok = json_record(v, o);
        }
        json_decref(o);
        if (!ok)
            return EXIT_CHECK_FAILED;
    }
    if (ferror(f))
        return EXIT_RUNTIME;
    if (v->before.set) {
        v->line = v->before.line;
        fail(v, v->before.tenant, "an export_before line followed by no record of its chain (the "
                                  "chain's records were removed)");
        return EXIT_CHECK_FAILED;
    }
    return EXIT_DONE;
}

/* ---- CSV (RFC 4180, as PostgreSQL's COPY writes it) ---- */

struct csv_record {
    struct audit_buf text; /* the fields, each NUL-terminated */
    size_t start[AUDIT_MEMBERS + 1];
    size_t n_fields;
};

/* Reads one record, which may span lines inside quotes. Returns 1, 0 at the end, -1 when the
 * CSV is malformed (v->why set) and -2 on a read error. */
static int csv_read(struct verifier *v, FILE *f, char **line, size_t *cap, struct csv_record *r)
{
    ssize_t n = getline(line, cap, f);
    if (n < 0)
        return ferror(f) ? -2 : 0;
    v->line++;
    long first_line = v->line;
    audit_buf_reset(&r->text);
    r->n_fields = 0;
    bool quoted = false, field_open = true, after_quote = false;
    size_t field_start = 0;
    for (;;) {
        const char *s = *line;
        for (ssize_t i = 0; i < n; i++) {
            char ch = s[i];
            if (quoted) {
                if (ch == '"') {
                    if (i + 1 < n && s[i + 1] == '"') {
                        audit_buf_append(&r->text, "\"", 1);
                        i++;
                    } else {
                        quoted = false;
                        after_quote = true;
                    }
                } else {
                    audit_buf_append(&r->text, &ch, 1);
                }
                continue;
            }
            bool end = ch == '\n' || (ch == '\r' && i + 1 < n && s[i + 1] == '\n');
            if (ch == ',' || end) {
                if (r->n_fields < AUDIT_MEMBERS + 1)
                    r->start[r->n_fields] = field_start;
                r->n_fields++;
                audit_buf_append(&r->text, "", 1);
                field_start = r->text.len;
                after_quote = false;
                field_open = !end;
                if (end) {
                    v->line = first_line;
                    return r->text.failed ? (fail(v, NULL, "out of memory"), -1) : 1;
                }
                continue;
            }
            if (after_quote) {
                v->line = first_line;
                fail(v, NULL, "malformed CSV: text after a closing quote in field %zu",
                     r->n_fields + 1);
                return -1;
            }
            if (ch == '"') {
                if (r->text.len != field_start) {
                    v->line = first_line;
                    fail(v, NULL, "malformed CSV: a quote inside unquoted field %zu",
                         r->n_fields + 1);
                    return -1;
                }
                quoted = true;
                continue;
            }
            audit_buf_append(&r->text, &ch, 1);
        }
        if (!quoted)
            break; /* the last line of the file, without a line end */
        n = getline(line, cap, f);
        if (n < 0) {
            if (ferror(f))
                return -2;
            v->line = first_line;
            fail(v, NULL, "malformed CSV: a quoted field is never closed");
            return -1;
        }
        v->line++;
    }
    if (field_open) {
        if (r->n_fields < AUDIT_MEMBERS + 1)
            r->start[r->n_fields] = field_start;
        r->n_fields++;
        audit_buf_append(&r->text, "", 1);
    }
    v->line = first_line;
    return r->text.failed ? (fail(v, NULL, "out of memory"), -1) : 1;
}

/* Typed columns back into the record: empty is null (the log stores no empty strings). */
static bool csv_record(struct verifier *v, const struct csv_record *c)
{
    struct audit_record r = {0};
    char ints[AUDIT_MEMBERS][24];
    if (c->n_fields != AUDIT_MEMBERS) {
        fail(v, NULL, "not an audit record: %zu fields, expected %d", c->n_fields,
             AUDIT_MEMBERS);
        return false;
    }
    for (int m = 0; m < AUDIT_MEMBERS; m++) {
        const char *s = c->text.data + c->start[m];
        size_t len = (m + 1 < AUDIT_MEMBERS ? c->start[m + 1] : c->text.len) - c->start[m] - 1;
        if (len == 0)
            continue;
        if (audit_member_type(m) == AUDIT_JSON_STRING && s[0] == '\'') {
            s++;  /* the guard audit_csv_row puts before a text a spreadsheet would run */
            len--;
            /* and only there: a ' added before any other text changes what a reader of the
             * CSV sees (a kind "'item_purged" counted apart) while the hash still holds. */
            if (!audit_csv_guarded((enum audit_member)m, s, len)) {
                fail(v, NULL, "field \"%s\" starts with a ' that lethe does not write: it puts one "
                              "only before a text starting with =, +, -, @, a tab, a CR or a '",
                     audit_member_names[m]);
                return false;
            }
        } else if (audit_csv_guarded((enum audit_member)m, s, len)) {
            v->unguarded++;
        }
        if (audit_member_type(m) == AUDIT_JSON_INT) {
            size_t i = s[0] == '-';
            bool digits = i < len && len - i <= 19;
            for (size_t k = i; k < len && digits; k++)
                digits = s[k] >= '0' && s[k] <= '9';
            errno = 0;
            long long x = digits ? strtoll(s, NULL, 10) : 0;
            if (!digits || errno) {
                fail(v, NULL, "not an audit record: field \"%s\" is not an integer",
                     audit_member_names[m]);
                return false;
            }
            snprintf(ints[m], sizeof ints[m], "%lld", x);
            s = ints[m];
            len = strlen(s);
        }
        r.v[m].text = s;
        r.v[m].len = len;
    }
    if (!r.v[AM_HASH].text) {
        fail(v, NULL, "not an audit record: field \"hash\" is empty");
        return false;
    }
    return check_record(v, &r, NULL);
}

static int verify_csv(struct verifier *v, FILE *f, char **line, size_t *cap)
{
    struct csv_record r = {0};
    int rc = EXIT_DONE, got;
    while ((got = csv_read(v, f, line, cap, &r)) == 1) {
        if (!csv_record(v, &r)) {
            rc = EXIT_CHECK_FAILED;
            break;
        }
    }
    if (got == -1)
        rc = EXIT_CHECK_FAILED;
    else if (got == -2)
        rc = EXIT_RUNTIME;
    audit_buf_free(&r.text);
    return rc;
}

/* ---- after the last record: the header's claims, anchors, expected heads ---- */

static struct chain *chain_find(struct verifier *v, const char *tenant)
{
    struct chain *c = v->cap ? chain_slot(v->slots, v->cap, tenant) : NULL;
    return c && c->tenant ? c : NULL;
}

/* SPEC §5: a checkpoint holds the head of every chain its run touched. A run that started
 * inside the export touched those chains inside it, and its checkpoint, inside it too, came
 * after them: each head it names is the export's to hold. So a chain removed whole, or cut
 * before a head a checkpoint names, fails without the anchor file; given the engine chain's
 * head (--expect-head), every checkpoint up to it is there to name them. */
static bool check_named(struct verifier *v)
{
    for (size_t i = 0; i < v->named_cap; i++) {
        const struct named *n = &v->named[i];
        if (!n->chain[0] || (n->first_found && n->last_found))
            continue;
        bool last = n->first_found;
        const struct chain *c = chain_find(v, n->chain);
        char holds[160];
        if (c)
            snprintf(holds, sizeof holds, "its chain ends at seq %lld on line %ld and holds no such "
                     "record (records were cut off, or replaced)", c->seq, c->line);
        else
            snprintf(holds, sizeof holds, "the export holds no record of it (a chain was removed)");
        snprintf(v->why, sizeof v->why,
                 "line %ld: the checkpoint of run %s names the head %.12s... of chain %s, but %s",
                 last ? n->last_line : n->first_line, last ? n->last_run : n->first_run,
                 last ? n->last : n->first, n->chain, holds);
        return false;
    }
    return true;
}

static bool check_counts(struct verifier *v)
{
    v->line = 1;
    for (size_t i = 0; i < v->n_claims; i++) {
        const struct claim *cl = &v->claims[i];
        struct chain *c = chain_find(v, cl->chain);
        if (!c) {
            fail(v, cl->chain, "the header claims this chain, the file holds none of its records "
                               "(a chain was removed)");
            return false;
        }
        if (c->first_seq != cl->first || c->seq != cl->last || cl->records != cl->last - cl->first + 1) {
            fail(v, cl->chain, "the header claims seq %lld..%lld (%lld records), the file holds "
                               "seq %lld..%lld",
                 cl->first, cl->last, cl->records, c->first_seq, c->seq);
            return false;
        }
    }
    if (v->claimed_records != v->records) {
        fail(v, NULL, "the header claims %lld records, the file holds %lld (records were added "
                      "or removed, or the header was edited)",
             v->claimed_records, v->records);
        return false;
    }
    return true;
}

/* How long before an export's snapshot a record stamped then has committed, but for a commit
 * held up (check_anchors says so when that may be why). */
#define SETTLED_SECONDS 60

/* SPEC §5: every anchored head that falls in the export's window must be there with its hash.
 * A head that gives its own time falls in the window when that time does (see below). A head of
 * an older line, without its time, is judged by its line's: heads of a line written before the
 * window, or after it, are not the export's to hold; a run that began before --from may have
 * moved a chain's head before it:
 * when the export holds the engine chain, a run whose start record is not in it is known to
 * straddle the window. */
static bool check_anchors(struct verifier *v, const char *path)
{
    bool engine_chain = chain_find(v, NIL_UUID) != NULL;
    /* The window ends at --to. Only an open-ended export ends at its snapshot: a line written
     * after it anchors what such an export cannot hold. An export whose --to lies after its
     * exported_at (taken before its window ended) claims the whole window all the same, and
     * exported_at is only the header's word: moved back before a run whose records were cut
     * off, it would excuse their anchors. The anchors then show the window is not all there. */
    const char *end = v->to[0] ? v->to : v->exported_at;
    for (size_t i = 0; i < v->n_refs; i++) {
        const struct anchor_ref *a = &v->refs[i];
        if (a->found || (v->header_tenant && strcmp(a->h.chain, v->header_tenant) != 0))
            continue;
        /* A head that gives its own time falls in the window when that time does, whenever
         * its line was written: a head recorded before the window (an ack, a hold or a request
         * between the last run before --from and --from, anchored by the first run after it) is
         * not the export's, and one recorded inside it is, even when the line that names it came
         * after --to (an ack or a request after the window's last run, a run that straddles
         * --to). Its record committed before its line was written: a line written before the
         * export was taken names a record the export saw. One written after may name a record
         * committed after the export's snapshot, which is not the export's to hold. */
        bool timed = a->h.at[0] != '\0';
        const char *when = timed ? a->h.at : a->at;
        if ((v->from[0] && strcmp(when, v->from) < 0) || (end[0] && strcmp(when, end) >= 0))
            continue;
        /* But a record is stamped as it is written, just before its transaction commits: one
         * stamped a minute or more before the snapshot was in it (the same minute export warns
         * of for a --to just past). Else the records written after the last run before an
         * export (an ack, a hold, a request) could be cut from it, its claims edited to match,
         * and every later line excused. A commit held up longer (a synchronous standby down)
         * fails an honest export here; the message says so, and the window exported again
         * verifies. */
        lethe_time head_t, exported_t;
        bool settled = timed && v->exported_at[0] && time_parse(a->h.at, &head_t) &&
                       time_parse(v->exported_at, &exported_t) &&
                       head_t < exported_t - SETTLED_SECONDS * 1000000LL;
        /* Only for an open-ended export, which is judged up to its exported_at anyway: for a
         * window with a --to, the header's exported_at, which no hash covers, would choose what
         * is excused. Moved to just after --to, it excused every head of the window's last
         * minute, and a tail cut there verified (an outside tryout's finding). An honest export
         * taken within that minute whose record committed after it fails, and is told to export
         * the window again (export warns of a --to less than a minute ago). */
        if (!v->to[0] && timed && !settled && end[0] && strcmp(a->at, end) >= 0 &&
            v->exported_at[0] && strcmp(a->at, v->exported_at) >= 0)
            continue;
        const struct chain *c = chain_find(v, a->h.chain);
        char where[300];
        snprintf(where, sizeof where, "anchors line %ld: chain %s is anchored at seq %lld (run %s, %s)",
                 a->line, a->h.chain, a->h.seq, a->run_id, a->at);
        if (!settled && v->exported_at[0] && strcmp(a->at, v->exported_at) >= 0 &&
            (!v->to[0] || strcmp(v->exported_at, v->to) < 0)) {
            snprintf(v->why, sizeof v->why,
                     "%s, inside the export's window, which ends at %s, but after its exported_at "
                     "%s: the export does not hold its whole window (it was taken before the "
                     "window ended, or its tail was cut off and its exported_at moved back)",
                     where, v->to, v->exported_at);
            return false;
        }
        /* Required only because it was stamped a minute before the snapshot: also said. */
        const char *late = !v->exported_at[0] || strcmp(a->at, v->exported_at) < 0 ? ""
                           : settled ? ", or that record committed more than a minute after it "
                                       "was stamped, after the export was taken: export the "
                                       "window again and verify that"
                                     : ", or that record committed after the export was taken, "
                                       "within a minute of the window's end: export the window "
                                       "again and verify that";
        if (c && a->h.seq > c->seq) {
            snprintf(v->why, sizeof v->why, "%s, but the export's chain ends at seq %lld on line %ld "
                     "(its tail was cut off%s)", where, c->seq, c->line, late);
            return false;
        }
        struct anchor_run key;
        snprintf(key.run_id, sizeof key.run_id, "%s", a->run_id);
        const struct anchor_run *run = bsearch(&key, v->runs, v->n_runs, sizeof key, run_cmp);
        bool straddles = v->from[0] && engine_chain && run && !run->started;
        /* A one-tenant export cannot tell such a run apart: it holds no engine chain. A head
         * with its own time needs neither guess. */
        if (!timed && (straddles || (v->header_tenant && v->from[0])))
            continue;
        if (!c) {
            snprintf(v->why, sizeof v->why, "%s, but the export holds no record of it (a chain was "
                     "removed%s)", where, late);
            return false;
        }
        snprintf(v->why, sizeof v->why, "%s, but the export's chain starts at seq %lld (its first "
                 "records were removed)", where, c->first_seq);
        return false;
    }
    (void)path;
    /* A chain's first records in the window are proven by its export_before line (format 2;
     * check_before), not guessed from which run's line anchors what: that guess took a hold
     * placed before a window and a request inside it, both before the window's first run, for
     * removed records of the run. A format 1 window that starts a chain after seq 1 is refused
     * (replay reads it: what it appends must continue the database's own chain). */
    return true;
}

static bool check_expected(struct verifier *v)
{
    for (int i = 0; i < v->n_expect; i++) {
        const struct expected *e = &v->expect[i];
        if (e->found)
            continue;
        const struct chain *c = chain_find(v, e->tenant);
        if (!c)
            snprintf(v->why, sizeof v->why,
                     "tenant %s: no records in the file, but --expect-head names it", e->tenant);
        else
            snprintf(v->why, sizeof v->why,
                     "line %ld: tenant %s: the chain ends here at seq %lld and holds no record "
                     "with the expected head %.12s... (records after it are missing, or the head "
                     "is wrong)",
                     c->line, c->tenant, c->seq, e->hash);
        return false;
    }
    return true;
}

/* Reads every line of the anchor file. A torn last line (a crash while appending) is skipped;
 * any other line that is not an anchor line fails the check (exit 4), named. */
static int load_anchors(struct verifier *v, const char *path)
{
    FILE *f = fopen(path, "r");
    if (afile_input_refused(f, path, "verify", "an anchor file")) {
        log_hint("--anchors takes the file named by audit.anchor_file, or a copy of it");
        if (f)
            fclose(f);
        return EXIT_USAGE;
    }
    char *line = NULL;
    size_t cap = 0, refs_cap = 0, spans_cap = 0;
    ssize_t n;
    long no = 0;
    int rc = EXIT_DONE;
    char prev_at[AUDIT_TIME_LEN] = "";
    while ((n = getline(&line, &cap, f)) >= 0) {
        no++;
        bool complete = n > 0 && line[n - 1] == '\n';
        size_t len = (size_t)n - complete;
        if (len && line[len - 1] == '\r')
            len--;
        if (len == 0)
            continue;
        struct anchor_line l;
        const char *why;
        size_t glued;
        if (!anchor_parse(line, len, &l, &why)) {
            if (!complete && anchor_glued(line, len, &glued)) {
                /* Not torn: no crash leaves a whole line with bytes after it. */
                printf("verify: anchor file '%s' line %ld is an anchor line with %zu bytes after "
                       "it (and no newline): it is not a line lethe wrote\n",
                       path, no, len - glued);
                log_hint("take those bytes off the end of that line, then verify again");
                rc = EXIT_CHECK_FAILED;
                break;
            }
            if (!complete) {
                log_warn("verify: '%s' line %ld is incomplete (a crash while appending); skipped",
                         path, no);
                break;
            }
            if (anchor_why_out_of_memory(why)) {
                /* Nothing is known of the line: no verdict on it. */
                log_error("verify: anchor file '%s' line %ld could not be read: out of memory",
                          path, no);
                rc = EXIT_RUNTIME;
                break;
            }
            /* Evidence that is not what lethe wrote: a check that failed, naming the line
             * (SPEC §5), not a usage error. */
            printf("verify: anchor file '%s' line %ld is %s: it is not a line lethe wrote\n", path,
                   no, why);
            log_hint("the anchor file holds one line per run, as lethe writes it: look into that "
                     "line, then verify against a copy of the file without it, or against the "
                     "copy shipped elsewhere");
            rc = EXIT_CHECK_FAILED;
            break;
        }
        /* A run takes its heads, then writes its line: a head stamped after the line (beyond
         * the hour's margin for a clock set back) was moved forward, or the database's clock
         * was, and every record after it misdated (an export of the real window then holds
         * none of them, and verifies empty). */
        char bound[TIME_TEXT_LEN] = "";
        lethe_time line_at;
        if (time_parse(l.at, &line_at))
            time_format(line_at + CLOCK_MARGIN, bound);
        for (size_t i = 0; bound[0] && i < l.n_heads; i++)
            if (l.heads[i].at[0] && strcmp(l.heads[i].at, bound) > 0) {
                printf("verify: anchor file '%s' line %ld: chain %s seq %lld is stamped at %s, "
                       "more than an hour after the line itself (%s): no run writes such a line "
                       "(the chain's head was moved forward, or the database's clock)\n",
                       path, no, l.heads[i].chain, l.heads[i].seq, l.heads[i].at, l.at);
                rc = EXIT_CHECK_FAILED;
            }
        if (rc != EXIT_DONE) {
            anchor_line_free(&l);
            break;
        }
        if (v->n_refs + l.n_heads > refs_cap) {
            size_t c2 = (v->n_refs + l.n_heads) * 2 + 16;
            struct anchor_ref *g = realloc(v->refs, c2 * sizeof *g);
            struct anchor_run *r = realloc(v->runs, (size_t)(no + 1) * sizeof *r);
            if (g)
                v->refs = g;
            if (r)
                v->runs = r;
            if (!g || !r) {
                anchor_line_free(&l);
                log_error("verify: out of memory");
                rc = EXIT_RUNTIME;
                break;
            }
            refs_cap = c2;
        } else {
            struct anchor_run *r = realloc(v->runs, (size_t)(no + 1) * sizeof *r);
            if (!r) {
                anchor_line_free(&l);
                log_error("verify: out of memory");
                rc = EXIT_RUNTIME;
                break;
            }
            v->runs = r;
        }
        for (size_t i = 0; i < l.n_heads; i++) {
            struct anchor_ref *a = &v->refs[v->n_refs++];
            a->h = l.heads[i];
            memcpy(a->at, l.at, sizeof a->at);
            memcpy(a->run_id, l.run_id, sizeof a->run_id);
            a->line = no;
            a->found = false;
        }
        memcpy(v->runs[v->n_runs].run_id, l.run_id, sizeof l.run_id);
        v->runs[v->n_runs++].started = false;
        /* As anchor_read_reach() judges it: from the first line of the newest run of lines with
         * "since", each counting from before the line before it was written (a line without it
         * bounds nothing, nor do the lines before it, nor those before a line missing). */
        if (!l.has_since) {
            v->vouch_bounded = false;
        } else if (!v->vouch_bounded || strcmp(l.since, prev_at) > 0) {
            snprintf(v->vouch_from, sizeof v->vouch_from, "%s", l.since);
            v->vouch_bounded = true;
        }
        /* Its span, from "since" to "fenced" (see vouched()): a claim of its own line's, which
         * holds whatever the lines around it say (a line without "since", one missing). */
        lethe_time fence_t;
        if (l.fenced[0] && time_parse(l.fenced, &fence_t)) {
            if (v->n_spans == spans_cap) {
                size_t c2 = spans_cap ? spans_cap * 2 : 64;
                struct fenced_span *g = realloc(v->spans, c2 * sizeof *g);
                if (!g) {
                    anchor_line_free(&l);
                    log_error("verify: out of memory");
                    rc = EXIT_RUNTIME;
                    break;
                }
                v->spans = g;
                spans_cap = c2;
            }
            struct fenced_span *sp = &v->spans[v->n_spans++];
            snprintf(sp->from, sizeof sp->from, "%s", l.since);
            time_format(fence_t, sp->to);
            sp->line = no;
        }
        if (l.has_since && prev_at[0] && strcmp(l.since, prev_at) > 0 && !v->gap_line) {
            v->gap_line = no;
            snprintf(v->gap_since, sizeof v->gap_since, "%s", l.since);
            snprintf(v->gap_prev_at, sizeof v->gap_prev_at, "%s", prev_at);
        }
        snprintf(prev_at, sizeof prev_at, "%s", l.at);
        if (l.at[0] && strcmp(l.at, v->newest_line_at) > 0) {
            snprintf(v->newest_line_at, sizeof v->newest_line_at, "%s", l.at);
            v->newest_line = no;
        }
        anchor_line_free(&l);
    }
    if (rc == EXIT_DONE && ferror(f)) {
        log_error("verify: cannot read '%s': %s", path, strerror(errno));
        rc = EXIT_RUNTIME;
    }
    free(line);
    fclose(f);
    /* An empty file anchors nothing: right for a database no run has ended on yet, and a false
     * assurance for anything else, so it is said. */
    if (rc == EXIT_DONE && v->n_runs == 0)
        log_warn("verify: '%s' holds no anchor line: nothing in the export was checked against it",
                 path);
    /* A line names every chain appended to since the start of the run before it whose line was
     * recorded: one that counts from after the line before it in the file came after a line
     * the file no longer holds. Verify checks against the lines it has; said, since the file is
     * the evidence. */
    if (rc == EXIT_DONE && v->gap_line)
        log_warn("verify: '%s' line %ld names the chains appended to since %s, after line %ld "
                 "(%s): a line written between them is not in the file (lines were removed, or "
                 "a run wrote to another anchor file); records past the missing line's heads "
                 "are not judged",
                 path, v->gap_line, v->gap_since, v->gap_line - 1, v->gap_prev_at);
    if (v->n_refs)
        qsort(v->refs, v->n_refs, sizeof *v->refs, ref_cmp);
    /* The spans sorted by their start and merged where they meet, for span_holding(). */
    if (v->n_spans && (v->merged = malloc(v->n_spans * sizeof *v->merged)) != NULL) {
        memcpy(v->merged, v->spans, v->n_spans * sizeof *v->merged);
        qsort(v->merged, v->n_spans, sizeof *v->merged, span_cmp);
        size_t k = 0;
        for (size_t i = 1; i < v->n_spans; i++) {
            if (strcmp(v->merged[i].from, v->merged[k].to) <= 0) {
                if (strcmp(v->merged[i].to, v->merged[k].to) > 0)
                    memcpy(v->merged[k].to, v->merged[i].to, sizeof v->merged[k].to);
            } else {
                v->merged[++k] = v->merged[i];
            }
        }
        v->n_merged = k + 1;
    } else if (v->n_spans) {
        log_error("verify: out of memory");
        rc = EXIT_RUNTIME;
    }
    lethe_time newest;
    if (v->newest_line_at[0] && time_parse(v->newest_line_at, &newest)) {
        time_format(newest - CLOCK_MARGIN, v->vouch_before);
    }
    if (v->n_runs)
        qsort(v->runs, v->n_runs, sizeof *v->runs, run_cmp);
    return rc;
}

/* ---- the command ---- */

static int parse_expect(const struct lethe_ctx *ctx, const char *arg, struct expected *e)
{
    const char *eq = strchr(arg, '=');
    if (!eq)
        return cli_usage(ctx, "verify: --expect-head \"%s\": expected TENANT=HASH", arg);
    char tenant[64];
    snprintf(tenant, sizeof tenant, "%.*s", (int)(eq - arg < 63 ? eq - arg : 63), arg);
    if (!cli_id(ctx, "--expect-head", tenant, e->tenant))
        return EXIT_USAGE;
    const char *h = eq + 1;
    size_t len = strlen(h);
    bool ok = len == 64;
    for (size_t i = 0; ok && i < len; i++) {
        char ch = h[i];
        if (ch >= 'A' && ch <= 'F')
            ch = (char)(ch - 'A' + 'a');
        ok = (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
        e->hash[i] = ch;
    }
    if (!ok) {
        log_error("verify: --expect-head: malformed hash \"%s\"", h);
        log_hint("a head is the 64 hex digits of a chain's last hash, as a checkpoint logs it");
        return EXIT_USAGE;
    }
    e->hash[64] = '\0';
    return EXIT_DONE;
}

static bool format1_windows;

void verify_take_format1_windows(bool take) { format1_windows = take; }

int job_verify(struct lethe_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{"expect-head", required_argument, NULL, 'e'},
                                         {"anchors", required_argument, NULL, 'a'},
                                         {NULL, 0, NULL, 0}};
    const char *anchors = NULL;
    struct expected *expect = NULL;
    int n_expect = 0, c, rc = EXIT_USAGE;
    struct verifier v = {.format1_windows = format1_windows};
    time_format(time_now() + CLOCK_MARGIN, v.future);
    FILE *f = NULL;
    char *line = NULL;
    size_t cap = 0;
    const char *path = NULL;
    optind = 1;
    while ((c = cli_getopt(ctx, argc, argv, "", opts)) != -1) {
        if (c == 'a') {
            anchors = optarg;
            continue;
        }
        if (c != 'e')
            goto cleanup;
        struct expected *grown = realloc(expect, (size_t)(n_expect + 1) * sizeof *grown);
        if (!grown) {
            log_error("verify: out of memory");
            rc = EXIT_RUNTIME;
            goto cleanup;
        }
        expect = grown;
        memset(&expect[n_expect], 0, sizeof expect[n_expect]); /* found starts false */
        if (parse_expect(ctx, optarg, &expect[n_expect]) != EXIT_DONE)
            goto cleanup;
        n_expect++;
    }
    if (optind >= argc) {
        rc = cli_usage(ctx, "verify: no file given");
        goto cleanup;
    }
    if (optind + 1 < argc) {
        rc = cli_usage(ctx, "verify: unexpected argument '%s'", argv[optind + 1]);
        goto cleanup;
    }
    path = argv[optind];
    v.expect = expect;
    v.n_expect = n_expect;
    if (anchors && (rc = load_anchors(&v, anchors)) != EXIT_DONE)
        goto cleanup;
    /* A file that cannot be opened is a wrong argument (2); one that stops reading halfway
     * is a runtime failure (1); only a file that reads and does not check out is 4. */
    f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (afile_input_refused(f, path, "verify", "an export")) {
        log_hint("verify takes the file that 'lethe export' wrote");
        rc = EXIT_USAGE;
        goto cleanup;
    }
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    v.md = EVP_MD_fetch(NULL, "SHA256", NULL);
    v.md_ctx = v.md ? EVP_MD_CTX_new() : NULL;
    if (!v.md_ctx) {
        log_error("verify: SHA-256 is not available from libcrypto");
        rc = EXIT_RUNTIME;
        goto cleanup;
    }
    ssize_t n = getline(&line, &cap, f);
    if (n < 0) {
        if (ferror(f)) {
            log_error("verify: cannot read '%s': %s", path, strerror(errno));
            rc = EXIT_RUNTIME;
        } else {
            printf("verify: '%s' is empty: not an export\n", path);
            rc = EXIT_CHECK_FAILED;
        }
        goto cleanup;
    }
    size_t hl = strlen(audit_csv_header());
    bool csv = (size_t)n >= hl && memcmp(line, audit_csv_header(), hl) == 0 &&
               (line[hl] == '\n' || (line[hl] == '\r' && line[hl + 1] == '\n') || line[hl] == '\0');
    if (csv && anchors) {
        log_error("verify: --anchors needs a JSON Lines export: a CSV export does not state its "
                  "window");
        log_hint("export with --format jsonl (the default) for evidence that is checked against "
                 "anchors");
        rc = EXIT_USAGE;
        goto cleanup;
    }
    if (csv) {
        v.line = 1;
        rc = verify_csv(&v, f, &line, &cap);
    } else {
        rc = verify_jsonl(&v, f, &line, &cap, n);
    }
    if (rc == EXIT_RUNTIME) {
        log_error("verify: cannot read '%s': %s", path, strerror(errno));
        goto cleanup;
    }
    if (rc == EXIT_CHECK_FAILED) {
        verdict_failed(&v);
        goto cleanup;
    }
    /* The values are what the hashes vouch for; a field whose guard was taken out still holds
     * its value, but the file is no longer safe to open in a spreadsheet. */
    if (v.unguarded)
        log_warn("verify: %lld field%s of '%s' start%s with =, +, -, @, a tab or a carriage return "
                 "without the ' that lethe writes before them: a spreadsheet would run %s as "
                 "formula%s; lethe did not write this file so (export it again before opening it)",
                 v.unguarded, v.unguarded == 1 ? "" : "s", path, v.unguarded == 1 ? "s" : "",
                 v.unguarded == 1 ? "it" : "them", v.unguarded == 1 ? "" : "s");
    /* A CSV export has no header: nothing in it says how many records or chains it should hold,
     * so rows cut from a chain's end, or a chain removed whole, leave a consistent file. */
    if (csv && !n_expect)
        log_warn("verify: '%s' is a CSV export, which states neither its window nor its counts: "
                 "rows cut from a chain's end, or a whole chain removed, still verify; give "
                 "--expect-head TENANT=HASH for the heads you hold, or verify the JSON Lines "
                 "export with --anchors", path);
    /* Not failures (nothing in the file contradicts itself), but what an auditor should know:
     * an export that vouches for nothing, and a header that says it was written later than now. */
    /* A format 1 export (a lethe before export_before lines) of a window: a chain's first
     * records in it, removed, are caught only when an anchored head lay among them. */
    if (v.format == 1 && v.from[0] && v.windows > 0 && v.format1_windows)
        log_warn("verify: '%s' is a format 1 export: %zu chain%s start%s after seq 1 without the "
                 "record before the window, so first records removed from %s are caught only "
                 "where an anchored head lay among them; export the window again (format 2) to "
                 "check that too", path, v.windows, v.windows == 1 ? "" : "s",
                 v.windows == 1 ? "s" : "", v.windows == 1 ? "it" : "them");
    if (v.records == 0)
        log_warn("verify: '%s' holds no record: nothing in it was checked (an export of a tenant "
                 "or a window with none, or every record removed with the header edited to match)",
                 path);
    lethe_time exported;
    if (v.exported_at[0] && time_parse(v.exported_at, &exported) &&
        exported > time_now() + (lethe_time)300 * 1000000)
        log_warn("verify: the header says the export was taken at %s, later than now by this "
                 "machine's clock: the header was edited, or a clock is wrong", v.exported_at);
    /* An export whose window had not ended when it was taken (its --to after its exported_at)
     * holds nothing written after the snapshot, and nothing in the file can say whether the log
     * had such records: the verdict below names the window all the same, so this is said. */
    bool unfinished = !csv && v.header && v.to[0] && v.exported_at[0] &&
                      strcmp(v.to, v.exported_at) > 0;
    if (unfinished) {
        log_warn("verify: the export's window ends at %s, after the export was taken (%s): it "
                 "holds no record written after that, and nothing in it shows whether there was "
                 "one", v.to, v.exported_at);
        log_hint("verify it with --anchors and an anchor file written after %s (a line of a "
                 "later run shows what the window lacks), or export the window again once it "
                 "has ended", v.to);
    }
    if (v.unvouched)
        log_warn("verify: %lld record%s (the first: %s) %s newer than every head of %s chain "
                 "that '%s' names: no anchor vouches for %s yet (the next run's line will)",
                 v.unvouched, v.unvouched == 1 ? "" : "s", v.unvouched_first,
                 v.unvouched == 1 ? "is" : "are", v.unvouched == 1 ? "its" : "their", anchors,
                 v.unvouched == 1 ? "it" : "them");
    if ((!csv && !check_counts(&v)) || !check_named(&v) || !check_anchors(&v, anchors) ||
        !check_expected(&v)) {
        verdict_failed(&v);
        rc = EXIT_CHECK_FAILED;
        goto cleanup;
    }
    if (ctx->verbosity > 0)
        print_heads(&v);
    printf("verify: ok: %lld records in %zu chains (%zu from seq 1, %zu windows)", v.records,
           v.n_chains, v.n_chains - v.windows, v.windows);
    if (n_expect)
        printf(", %d expected head%s matched", n_expect, n_expect == 1 ? "" : "s");
    if (anchors) {
        size_t found = 0;
        for (size_t i = 0; i < v.n_refs; i++)
            found += v.refs[i].found;
        printf(", %zu anchored head%s found", found, found == 1 ? "" : "s");
    }
    /* What was vouched for: the header's window (and tenant) are the export's own word, which
     * no hash covers, so a file cut down to an earlier or narrower window, its header edited to
     * match, verifies as that window. The verdict names it, for the auditor to compare with the
     * export asked for (a month, a tenant). An open-ended export ends at its exported_at. */
    if (!csv && v.header) {
        if (v.header_tenant)
            printf("; records of tenant %s", v.header_tenant);
        else
            printf("; records");
        printf(" from %s", v.from[0] ? v.from : "the start of the log");
        if (unfinished)
            printf(" until %s, but taken at %s, before that", v.to, v.exported_at);
        else if (v.to[0])
            printf(" until %s", v.to);
        else
            printf(" until its export at %s", v.exported_at[0] ? v.exported_at : "an unknown time");
    }
    printf("\n");
    rc = EXIT_DONE;
cleanup:
    if (f && f != stdin)
        fclose(f);
    free(line);
    free(expect);
    for (size_t i = 0; i < v.cap; i++)
        free(v.slots[i].tenant);
    free(v.slots);
    free(v.header_tenant);
    free(v.claims);
    free(v.refs);
    free(v.runs);
    free(v.spans);
    free(v.merged);
    free(v.named);
    free(v.started);
    audit_buf_free(&v.canon);
    EVP_MD_CTX_free(v.md_ctx);
    EVP_MD_free(v.md);
    return rc;
}
