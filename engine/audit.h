/* The audit record as the outside world sees it: its members in canonical order, the canonical
 * JSON form that is hashed, SHA-256 chain hashes and the subject HMAC (libcrypto). No SQL here:
 * engine/dbaudit.c is the database side; both must agree with sql/0003_audit.sql. */
#ifndef LETHE_AUDIT_H
#define LETHE_AUDIT_H

#include <stdbool.h>
#include <stddef.h>

#define AUDIT_HEX_LEN 65 /* 64 lower-case hex digits and the NUL */
#define AUDIT_ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"

/* The members in canonical order: the column order of lethe.audit, of JSON Lines and of CSV. */
enum audit_member {
    AM_SEQ,
    AM_AT,
    AM_KIND,
    AM_TENANT_ID,
    AM_RUN_ID,
    AM_BATCH_ID,
    AM_ITEM_ID,
    AM_RULE,
    AM_REFERENCE,
    AM_TRIGGERED_AT,
    AM_DEADLINE_AT,
    AM_PURGED_AT,
    AM_ON_TIME,
    AM_LOCATION,
    AM_HOLD_ID,
    AM_SUBJECT_HMAC,
    AM_OPERATOR,
    AM_COUNT,
    AM_DETAIL,
    AM_PREV_HASH,
    AM_HASH,
    AUDIT_MEMBERS
};

/* How a member is written in JSON: integers as digits, booleans as literals, the rest (times,
 * uuids, text, hashes) as strings. */
enum audit_json_type { AUDIT_JSON_INT, AUDIT_JSON_BOOL, AUDIT_JSON_STRING };

extern const char *const audit_member_names[AUDIT_MEMBERS];
enum audit_json_type audit_member_type(enum audit_member m);
/* seq, at, kind, tenant_id, prev_hash and hash are never null. */
bool audit_member_required(enum audit_member m);
/* "seq,at,kind,...,prev_hash,hash": the CSV header row, without line end. */
const char *audit_csv_header(void);
/* A text value that a spreadsheet would take for a formula (it starts with = + - @, a tab or a
 * carriage return), or that starts with ', is written in CSV quoted with a ' before it; a
 * reader drops a text field's leading '. */
bool audit_csv_guarded(enum audit_member m, const char *text, size_t len);

/* A growable byte buffer. Zero-initialise it. An allocation failure sets `failed`, after which
 * appends do nothing; check it once at the end. */
struct audit_buf {
    char *data;
    size_t len, cap;
    bool failed;
};
void audit_buf_append(struct audit_buf *b, const void *p, size_t n);
void audit_buf_puts(struct audit_buf *b, const char *s);
void audit_buf_reset(struct audit_buf *b);
void audit_buf_free(struct audit_buf *b);

/* YYYY-MM-DDTHH:MM:SS.ffffffZ exactly, as lethe writes every time of the audit: records and
 * anchor lines are compared by their times as text. */
bool audit_time_text(const char *s);


/* One member's value: digits for integers, "true"/"false" for booleans, the text itself
 * otherwise. text == NULL is JSON null. */
struct audit_value {
    const char *text;
    size_t len;
};
struct audit_record {
    struct audit_value v[AUDIT_MEMBERS];
};

/* Whether R is a record lethe can have written, as the audit's own checks bound it: a kind it
 * writes, on the chain it belongs to (the engine chain's kinds on the nil tenant's only), uuids in
 * lower case, no empty text, a subject HMAC of 64 lower-case hex digits. False with *WHY. */
bool audit_record_form(const struct audit_record *r, const char **why);

/* Appends S as a JSON string, escaped minimally: ", \ and control characters only. */
void audit_json_string(struct audit_buf *b, const char *s, size_t len);
/* Replaces OUT's content with the canonical form of R (every member but hash). Returns false
 * and sets *why when a value does not fit its member (a required member is null, an integer
 * is not in canonical digits, a boolean is neither true nor false). */
bool audit_canonical(const struct audit_record *r, struct audit_buf *out, const char **why);

/* An export_before line of a JSON Lines export (format 2): this prefix, the record before a
 * chain's first in the window as its own line would be, and "}". Not a record of the window:
 * verify checks it is the one before, and older than the window; replay skips it. */
#define AUDIT_BEFORE_PREFIX "{\"kind\":\"export_before\",\"record\":"

/* Appends R's JSON Lines line: the canonical form with its hash member, and a newline. */
bool audit_jsonl_line(const struct audit_record *r, struct audit_buf *out, const char **why);
/* Appends R as one CSV row with its line end: fields in member order, null as an empty field,
 * quoted (RFC 4180) only when they hold a comma, a quote or a line break. */
void audit_csv_row(const struct audit_record *r, struct audit_buf *out);
/* "2026-11-28T13:25:39.123456Z" from microseconds since the Unix epoch, for years 1 to 9999
 * (the log refuses times outside them). */
#define AUDIT_TIME_LEN 28
void audit_format_time(long long unix_us, char out[AUDIT_TIME_LEN]);

/* The N bytes of MD as 2N lower-case hex digits and a NUL. */
void audit_hex(const unsigned char *md, unsigned n, char *out);
/* Lower-case hex SHA-256 of DATA. */
void audit_sha256_hex(const void *data, size_t len, char out[AUDIT_HEX_LEN]);
/* A record's hash: SHA-256 of prev_hash, "\n", canonical. */
void audit_chain_hash(const char *prev_hash, const char *canonical, size_t len,
                      char out[AUDIT_HEX_LEN]);
/* The audit key: the raw bytes of audit.key_file (a trailing newline is part of the key),
 * read once by the commands that need it (config_read_audit_key). len == 0: no key. */
struct audit_key {
    unsigned char *bytes;
    size_t len;
};
/* Wipes the bytes, frees them and leaves an empty key. */
void audit_key_free(struct audit_key *key);
/* HMAC-SHA256(key, subject) in lower-case hex. Prints the error and returns false without a
 * key or when libcrypto fails. */
bool audit_hmac_subject(const struct audit_key *key, const char *subject, char out[AUDIT_HEX_LEN]);

/* Lower-case hex HMAC-SHA256(key, data). Prints the error and returns false without a key or
 * when libcrypto fails. */
bool audit_hmac_hex(const struct audit_key *key, const void *data, size_t len,
                    char out[AUDIT_HEX_LEN]);

/* HMAC-SHA256 of many messages under one key, which is set up once (one HMAC() call per
 * message sets it up again each time: a third of a second for a batch run's 121,000 locators).
 * audit_mac_new prints the error and returns NULL without a key or when libcrypto fails;
 * audit_mac_hex gives what audit_hmac_hex gives. */
struct audit_mac;
struct audit_mac *audit_mac_new(const struct audit_key *key);
bool audit_mac_hex(struct audit_mac *m, const void *data, size_t len, char out[AUDIT_HEX_LEN]);
void audit_mac_free(struct audit_mac *m);

#endif
