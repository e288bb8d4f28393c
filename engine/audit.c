/* The canonical form of an audit record, its chain hash and the subject HMAC. Export writes
 * records with it and verify recomputes them with it; the database hashes the same form in
 * sql/0003_audit.sql (lethe.audit_canonical_head), and the two must never drift apart (the
 * export tests compare them byte for byte). No SQL, no I/O but the key file.
 *
 * The canonical form (SPEC §5), as the README documents it:
 *
 *   canonical = the record as exported in JSON Lines, without its "hash" member:
 *   - one JSON object whose members are, always all present and in this order:
 *       seq, at, kind, tenant_id, run_id, batch_id, item_id, rule, reference, triggered_at,
 *       deadline_at, purged_at, on_time, location, hold_id, subject_hmac, operator, count,
 *       detail, prev_hash
 *   - no whitespace outside strings; UTF-8;
 *   - an absent value is the literal null;
 *   - seq and count are integers in plain decimal digits;
 *   - on_time is the literal true or false;
 *   - every other member is a string:
 *       times are UTC ISO 8601 with exactly six fractional digits and "Z"
 *         (2026-11-28T13:25:39.123456Z);
 *       uuids are lower case with hyphens;
 *       prev_hash and hash are 64 lower-case hex digits;
 *   - strings are escaped minimally: \" and \\, the control characters U+0008, U+000C,
 *     U+000A, U+000D, U+0009 as \b \f \n \r \t, the other control characters below U+0020
 *     as \u00xx with lower-case hex; everything else (including "/", U+007F and non-ASCII) is
 *     written as it is. This is what PostgreSQL's to_json() and Python's
 *     json.dumps(..., ensure_ascii=False, separators=(",", ":")) produce.
 *   hash = lower-case hex SHA-256 of the UTF-8 bytes of prev_hash + "\n" + canonical.
 *   A chain's first record has seq 1 and a prev_hash of 64 zeros; each next record has
 *   seq + 1 and the previous record's hash as prev_hash. A JSON Lines line is the canonical
 *   form with ,"hash":"..." inserted before the closing brace. Stored text is never the empty
 *   string (it is null instead), so an empty CSV field always means null. */
#include "audit.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ids.h"
#include "log.h"

const char *const audit_member_names[AUDIT_MEMBERS] = {
    "seq",       "at",           "kind",        "tenant_id",  "run_id",  "batch_id",
    "item_id",   "rule",         "reference",   "triggered_at", "deadline_at", "purged_at",
    "on_time",   "location",     "hold_id",     "subject_hmac", "operator",    "count",
    "detail",    "prev_hash",    "hash",
};

enum audit_json_type audit_member_type(enum audit_member m)
{
    switch (m) {
    case AM_SEQ:
    case AM_COUNT:
        return AUDIT_JSON_INT;
    case AM_ON_TIME:
        return AUDIT_JSON_BOOL;
    default:
        return AUDIT_JSON_STRING;
    }
}

static int number(const char *s, int n)
{
    int v = 0;
    while (n--)
        v = v * 10 + (*s++ - '0');
    return v;
}

bool audit_time_text(const char *s)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
    if (strlen(s) != sizeof shape - 1)
        return false;
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != shape[i])
            return false;
    /* A time on the calendar: 23:26:61 or February 30 is no time PostgreSQL writes. */
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int year = number(s, 4), month = number(s + 5, 2), day = number(s + 8, 2);
    if (year < 1 || month < 1 || month > 12 || day < 1)
        return false;
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (day > days[month - 1] + (month == 2 && leap))
        return false;
    return number(s + 11, 2) < 24 && number(s + 14, 2) < 60 && number(s + 17, 2) < 60;
}

/* 8-4-4-4-12 lower-case hex digits, as PostgreSQL writes a uuid. */
static bool uuid_text(const char *s, size_t len)
{
    if (len != 36)
        return false;
    for (size_t i = 0; i < len; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return true;
}

static bool in_list(const char *s, size_t len, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(list[i]) == len && memcmp(list[i], s, len) == 0)
            return true;
    return false;
}

bool audit_record_form(const struct audit_record *r, const char **why)
{
    /* sql/0003_audit.sql's checks, every one valid for every row: audit_kind_known,
     * audit_engine_chain_kinds, audit_no_empty_text, audit_subject_hmac_format; and the uuid
     * columns as PostgreSQL writes them. */
    static const char *const kinds[] = {
        "run_started",  "run_finished",    "batch_emitted",        "batch_acknowledged",
        "batch_failed", "item_failed",     "item_purged",          "obligation_withdrawn",
        "hold_blocked", "operator_rerun",  "checkpoint",           "item_repurged",
        "hold_placed",  "hold_released",   "request_recorded"};
    static const char *const engine_kinds[] = {"run_started",        "run_finished",
                                               "operator_rerun",     "batch_emitted",
                                               "batch_acknowledged", "batch_failed",
                                               "checkpoint"};
    static const enum audit_member uuids[] = {AM_TENANT_ID, AM_RUN_ID, AM_BATCH_ID, AM_ITEM_ID,
                                              AM_HOLD_ID};
    static const enum audit_member texts[] = {AM_RULE, AM_REFERENCE, AM_LOCATION, AM_OPERATOR,
                                              AM_DETAIL};
    const struct audit_value *kind = &r->v[AM_KIND], *tenant = &r->v[AM_TENANT_ID];
    if (!kind->text || !in_list(kind->text, kind->len, kinds, sizeof kinds / sizeof kinds[0])) {
        *why = "its kind is not one lethe writes";
        return false;
    }
    for (size_t i = 0; i < sizeof uuids / sizeof uuids[0]; i++) {
        const struct audit_value *u = &r->v[uuids[i]];
        if (u->text && !uuid_text(u->text, u->len)) {
            *why = uuids[i] == AM_TENANT_ID ? "its tenant_id is not a uuid as lethe writes one (lower case)"
                   : uuids[i] == AM_RUN_ID  ? "its run_id is not a uuid as lethe writes one (lower case)"
                   : uuids[i] == AM_BATCH_ID ? "its batch_id is not a uuid as lethe writes one (lower case)"
                   : uuids[i] == AM_ITEM_ID ? "its item_id is not a uuid as lethe writes one (lower case)"
                                            : "its hold_id is not a uuid as lethe writes one (lower case)";
            return false;
        }
    }
    bool engine = tenant->len == 36 && memcmp(tenant->text, NIL_UUID, 36) == 0;
    if (engine != in_list(kind->text, kind->len, engine_kinds,
                          sizeof engine_kinds / sizeof engine_kinds[0])) {
        *why = engine ? "its kind is a tenant's, on the engine chain"
                      : "its kind is the engine chain's, on a tenant's chain";
        return false;
    }
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++)
        if (r->v[texts[i]].text && r->v[texts[i]].len == 0) {
            *why = "a text member is the empty string, which lethe writes as null";
            return false;
        }
    const struct audit_value *mac = &r->v[AM_SUBJECT_HMAC];
    if (mac->text) {
        bool hex = mac->len == 64;
        for (size_t i = 0; hex && i < 64; i++)
            hex = (mac->text[i] >= '0' && mac->text[i] <= '9') ||
                  (mac->text[i] >= 'a' && mac->text[i] <= 'f');
        if (!hex) {
            *why = "its subject_hmac is not 64 lower-case hex digits";
            return false;
        }
    }
    return true;
}

bool audit_member_required(enum audit_member m)
{
    return m == AM_SEQ || m == AM_AT || m == AM_KIND || m == AM_TENANT_ID || m == AM_PREV_HASH ||
           m == AM_HASH;
}

const char *audit_csv_header(void)
{
    return "seq,at,kind,tenant_id,run_id,batch_id,item_id,rule,reference,triggered_at,"
           "deadline_at,purged_at,on_time,location,hold_id,subject_hmac,operator,count,detail,"
           "prev_hash,hash";
}

void audit_buf_append(struct audit_buf *b, const void *p, size_t n)
{
    if (b->failed)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc(b->data, cap);
        if (!grown) {
            b->failed = true;
            return;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void audit_buf_puts(struct audit_buf *b, const char *s) { audit_buf_append(b, s, strlen(s)); }

void audit_buf_reset(struct audit_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void audit_buf_free(struct audit_buf *b)
{
    free(b->data);
    *b = (struct audit_buf){0};
}

void audit_json_string(struct audit_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    audit_buf_append(b, "\"", 1);
    size_t run = 0; /* bytes copied as they are, flushed in one append */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[7];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            if (c < 0x20) {
                memcpy(u, "\\u00", 4);
                u[4] = hex[c >> 4];
                u[5] = hex[c & 15];
                u[6] = '\0';
                esc = u;
            }
        }
        if (!esc) {
            run++;
            continue;
        }
        audit_buf_append(b, s + i - run, run);
        run = 0;
        audit_buf_puts(b, esc);
    }
    audit_buf_append(b, s + len - run, run);
    audit_buf_append(b, "\"", 1);
}

/* Canonical integers: an optional minus, then digits without a leading zero. */
static bool canonical_int(const char *s, size_t len)
{
    size_t i = 0;
    if (i < len && s[i] == '-')
        i++;
    if (i == len || (s[i] == '0' && (len - i > 1 || i > 0)) || len - i > 19)
        return false;
    for (; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

bool audit_canonical(const struct audit_record *r, struct audit_buf *out, const char **why)
{
    static char reason[96];
    audit_buf_reset(out);
    audit_buf_append(out, "{", 1);
    for (int m = 0; m < AM_HASH; m++) {
        const struct audit_value *v = &r->v[m];
        if (m > 0)
            audit_buf_append(out, ",", 1);
        audit_buf_append(out, "\"", 1);
        audit_buf_puts(out, audit_member_names[m]);
        audit_buf_append(out, "\":", 2);
        if (!v->text) {
            if (audit_member_required(m)) {
                snprintf(reason, sizeof reason, "member \"%s\" is null", audit_member_names[m]);
                *why = reason;
                return false;
            }
            audit_buf_append(out, "null", 4);
            continue;
        }
        switch (audit_member_type(m)) {
        case AUDIT_JSON_INT:
            if (!canonical_int(v->text, v->len)) {
                snprintf(reason, sizeof reason, "member \"%s\" is not an integer",
                         audit_member_names[m]);
                *why = reason;
                return false;
            }
            audit_buf_append(out, v->text, v->len);
            break;
        case AUDIT_JSON_BOOL:
            if (!((v->len == 4 && memcmp(v->text, "true", 4) == 0) ||
                  (v->len == 5 && memcmp(v->text, "false", 5) == 0))) {
                snprintf(reason, sizeof reason, "member \"%s\" is neither true nor false",
                         audit_member_names[m]);
                *why = reason;
                return false;
            }
            audit_buf_append(out, v->text, v->len);
            break;
        case AUDIT_JSON_STRING:
            audit_json_string(out, v->text, v->len);
            break;
        }
    }
    audit_buf_append(out, "}", 1);
    if (out->failed) {
        *why = "out of memory";
        return false;
    }
    return true;
}

bool audit_jsonl_line(const struct audit_record *r, struct audit_buf *out, const char **why)
{
    struct audit_buf canon = {0};
    bool ok = audit_canonical(r, &canon, why);
    if (ok && (!r->v[AM_HASH].text || r->v[AM_HASH].len != 64)) {
        *why = "member \"hash\" is not a hash";
        ok = false;
    }
    if (ok) {
        audit_buf_append(out, canon.data, canon.len - 1);
        audit_buf_puts(out, ",\"hash\":\"");
        audit_buf_append(out, r->v[AM_HASH].text, r->v[AM_HASH].len);
        audit_buf_puts(out, "\"}\n");
    }
    audit_buf_free(&canon);
    return ok;
}

bool audit_csv_guarded(enum audit_member m, const char *text, size_t len)
{
    return audit_member_type(m) == AUDIT_JSON_STRING && len > 0 && text[0] != '\0' &&
           strchr("=+-@\t\r'", text[0]) != NULL;
}

void audit_csv_row(const struct audit_record *r, struct audit_buf *out)
{
    for (int m = 0; m < AUDIT_MEMBERS; m++) {
        const struct audit_value *v = &r->v[m];
        if (m)
            audit_buf_append(out, ",", 1);
        if (!v->text)
            continue;
        bool guard = audit_csv_guarded((enum audit_member)m, v->text, v->len);
        bool quote = guard;
        for (size_t i = 0; i < v->len && !quote; i++)
            quote = v->text[i] == ',' || v->text[i] == '"' || v->text[i] == '\n' ||
                    v->text[i] == '\r';
        if (!quote) {
            audit_buf_append(out, v->text, v->len);
            continue;
        }
        audit_buf_append(out, guard ? "\"'" : "\"", guard ? 2 : 1);
        size_t from = 0;
        for (size_t i = 0; i < v->len; i++) {
            if (v->text[i] == '"') {
                audit_buf_append(out, v->text + from, i + 1 - from);
                audit_buf_append(out, "\"", 1);
                from = i + 1;
            }
        }
        audit_buf_append(out, v->text + from, v->len - from);
        audit_buf_append(out, "\"", 1);
    }
    audit_buf_append(out, "\n", 1);
}

static void digits(char *p, long long v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* By hand rather than gmtime_r and snprintf, which cost more than the rest of an exported
 * line. The date is H. Hinnant's civil_from_days (proleptic Gregorian, like PostgreSQL). */
void audit_format_time(long long unix_us, char out[AUDIT_TIME_LEN])
{
    long long secs = unix_us / 1000000, us = unix_us % 1000000;
    if (us < 0) {
        us += 1000000;
        secs--;
    }
    long long days = secs / 86400, sod = secs % 86400;
    if (sod < 0) {
        sod += 86400;
        days--;
    }
    long long z = days + 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    long long doe = z - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long long mp = (5 * doy + 2) / 153;
    long long d = doy - (153 * mp + 2) / 5 + 1;
    long long m = mp < 10 ? mp + 3 : mp - 9;
    long long y = yoe + era * 400 + (m <= 2);
    memcpy(out, "0000-00-00T00:00:00.000000Z", AUDIT_TIME_LEN);
    digits(out, y, 4);
    digits(out + 5, m, 2);
    digits(out + 8, d, 2);
    digits(out + 11, sod / 3600, 2);
    digits(out + 14, sod / 60 % 60, 2);
    digits(out + 17, sod % 60, 2);
    digits(out + 20, us, 6);
}

void audit_hex(const unsigned char *md, unsigned n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[2 * n] = '\0';
}

void audit_sha256_hex(const void *data, size_t len, char out[AUDIT_HEX_LEN])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    if (!EVP_Digest(data, len, md, &n, EVP_sha256(), NULL) || n != 32) {
        /* Only a broken libcrypto gets here; a hash that can never match is the safe answer. */
        memset(out, 'x', 64);
        out[64] = '\0';
        return;
    }
    audit_hex(md, n, out);
}

void audit_chain_hash(const char *prev_hash, const char *canonical, size_t len,
                      char out[AUDIT_HEX_LEN])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    bool ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) &&
              EVP_DigestUpdate(c, prev_hash, strlen(prev_hash)) &&
              EVP_DigestUpdate(c, "\n", 1) && EVP_DigestUpdate(c, canonical, len) &&
              EVP_DigestFinal_ex(c, md, &n) && n == 32;
    EVP_MD_CTX_free(c);
    if (!ok) {
        memset(out, 'x', 64);
        out[64] = '\0';
        return;
    }
    audit_hex(md, n, out);
}

void audit_key_free(struct audit_key *key)
{
    if (key->bytes) {
        OPENSSL_cleanse(key->bytes, key->len);
        free(key->bytes);
    }
    key->bytes = NULL;
    key->len = 0;
}

bool audit_hmac_hex(const struct audit_key *key, const void *data, size_t len,
                    char out[AUDIT_HEX_LEN])
{
    if (!key || key->len == 0) {
        log_error("audit: no audit key to compute an HMAC with");
        return false;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    if (!HMAC(EVP_sha256(), key->bytes, (int)key->len, data, len, md, &n) || n != 32) {
        log_error("audit: HMAC-SHA256 failed");
        return false;
    }
    audit_hex(md, n, out);
    return true;
}

struct audit_mac {
    EVP_MAC *mac;
    EVP_MAC_CTX *ctx;
};

struct audit_mac *audit_mac_new(const struct audit_key *key)
{
    if (!key || key->len == 0) {
        log_error("audit: no audit key to compute an HMAC with");
        return NULL;
    }
    struct audit_mac *m = calloc(1, sizeof *m);
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
                           OSSL_PARAM_construct_end()};
    if (!m || !(m->mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) || !(m->ctx = EVP_MAC_CTX_new(m->mac)) ||
        !EVP_MAC_init(m->ctx, key->bytes, key->len, params)) {
        log_error("audit: HMAC-SHA256 failed");
        audit_mac_free(m);
        return NULL;
    }
    return m;
}

bool audit_mac_hex(struct audit_mac *m, const void *data, size_t len, char out[AUDIT_HEX_LEN])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    size_t n = 0;
    /* A null key starts again from the key's state kept by the first init. */
    if (!EVP_MAC_init(m->ctx, NULL, 0, NULL) || !EVP_MAC_update(m->ctx, data, len) ||
        !EVP_MAC_final(m->ctx, md, &n, sizeof md) || n != 32) {
        log_error("audit: HMAC-SHA256 failed");
        return false;
    }
    audit_hex(md, (unsigned)n, out);
    return true;
}

void audit_mac_free(struct audit_mac *m)
{
    if (!m)
        return;
    EVP_MAC_CTX_free(m->ctx);
    EVP_MAC_free(m->mac);
    free(m);
}

bool audit_hmac_subject(const struct audit_key *key, const char *subject, char out[AUDIT_HEX_LEN])
{
    return audit_hmac_hex(key, subject, strlen(subject), out);
}
