/* The SQL of SPEC §7 (deletions stay deleted), behind functions named for what they do: the
 * locator HMACs recorded when a batch is handed over, replay of exported records into a
 * restored database, the inventory that reconcile streams in, the repurge batches both emit,
 * and the run record of those two commands. sql/0009_restore.sql does the set-based work. */
#ifndef LETHE_DBRESTORE_H
#define LETHE_DBRESTORE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>

#include "audit.h"

/* HMAC-SHA256(key, locator) of every item a batch hands to its deleter, for
 * lethe.locator_hmacs. manifest_write gathers them from the rows it writes the manifest from
 * (lethe.manifest_rows), and records them before it installs the manifest, so that they are
 * kept from the moment a deleter can see the locators (SPEC §7). Computed here, since the key
 * never enters the database; without a key file nothing is gathered nor recorded. Memory
 * grows with the batch's items (ids and HMACs only; each locator is dropped once hashed). */
struct locator_hmacs {
    struct audit_mac *mac; /* NULL: no key */
    struct audit_buf tenants, items, hmacs;
    long n;
    bool failed;
};
void locator_hmacs_init(struct locator_hmacs *h, const struct audit_key *key);
/* False after printing the error; every later call fails too. */
bool locator_hmacs_add(struct locator_hmacs *h, const char *tenant_id, const char *item_id,
                       const char *locator, size_t len);
/* Records what was gathered for BATCH_ID, whose items are all at LOCATION. False after
 * printing the error (or an earlier one of locator_hmacs_add). */
bool dbrestore_record_locator_hmacs(PGconn *db, struct locator_hmacs *h, const char *location,
                                    const char *batch_id);
void locator_hmacs_free(struct locator_hmacs *h);

/* ---- COPY FROM STDIN, a line at a time ---- */

struct copy_in {
    PGconn *db;
    char *buf;
    size_t len, cap;
    bool failed;
};
/* Starts COPY ... FROM STDIN (text format) with SQL, which is constant text. */
bool copy_in_begin(struct copy_in *c, PGconn *db, const char *sql);
/* Appends one field, escaped for COPY's text format; LAST ends the row. */
void copy_in_field(struct copy_in *c, const char *s, size_t len, bool last);
/* Ends the COPY; false after printing the error (and on any earlier failure). */
bool copy_in_end(struct copy_in *c);

/* ---- replay ---- */

/* In the caller's transaction: creates the temp table replay_lines and starts a COPY into it;
 * feed it one field per line with copy_in_field(c, line, len, true). */
bool dbrestore_replay_load(PGconn *db, struct copy_in *c);
/* Takes out of replay_lines the records no anchor vouches for: past the highest seq that the
 * anchor file names for their chain (CHAINS, SEQS: array literals, one element per chain),
 * stamped after FIRST_AT (from when the lines name every chain appended to), at a seq the
 * database does not hold. One row per chain: tenant_id, after_seq (the seq before the first
 * one taken out), dropped (distinct seqs). Each record taken out is noted in
 * lethe.replay_withheld (sql/0111). NULL after printing the error. */
PGresult *dbrestore_replay_keep_vouched(PGconn *db, const char *chains, const char *seqs,
                                        const char *first_at);
/* Takes out of replay_lines, chain by chain, the records from the first one at a seq a replay
 * noted as left out (lethe.replay_withheld, sql/0111) whose hash is none of those noted there:
 * an export that is not the one whose record was left out, which would take the seq of the
 * genuine record for good. Rows: tenant_id, seq, exported (its hash), noted (the hashes noted
 * there). NULL after printing the error. */
PGresult *dbrestore_replay_against_notes(PGconn *db);
/* The chains short of a record a replay left out (lethe.replay_withheld_open(), sql/0111): no
 * writer appends to them until it is appended. CHAIN alone when not NULL. Rows: tenant_id,
 * first_seq, last_seq, records, noted_at; none nearly always. NULL after printing the error. */
PGresult *dbrestore_withheld_open(PGconn *db, const char *chain);
/* What row I of dbrestore_withheld_open() means, in OUT: "chain T: N records that a replay
 * left out (past every anchored head; seqs A-B, noted at TIME) are not appended, and ...". */
void dbrestore_withheld_said(const PGresult *r, int i, char *out, size_t cap);
/* What to do about them, for every command that names them. */
#define RESTORE_WITHHELD_HINT                                                                      \
    "if they are the ones shipped (records made after the last run: an ack, a hold, a request), "  \
    "replay the exports that hold them again without --anchors, which appends them; if not, keep " \
    "the exports for the auditor and have the database's owner delete their notes from "          \
    "lethe.replay_withheld (README, \"Anchors\")"
/* Appends what continues each chain (lethe.replay_chains()). Rows: tenant, outcome, seq,
 * records. NULL after printing the error. */
PGresult *dbrestore_replay_chains(PGconn *db);
/* The runs the restored catalog holds as still running whose run_finished record the audit holds
 * (replayed: the backup was taken while they ran) are ended as that record says: its outcome,
 * time and counts (lethe.replay_end_runs, sql/0110). Left running, the next run found each dead
 * and recorded a second end. Returns them (run_id, outcome), or NULL on error. */
PGresult *dbrestore_replay_runs_ended(PGconn *db);
/* Closes, as their newest closing record says (acknowledged or failed), the batches open in the
 * catalog that the audit shows closed, once every item of them is settled, failed by a record
 * or a repurge pending in it (lethe.replay_close_batches, sql/0110): after the repurges are
 * emitted. Returns how many, or -1. */
long long dbrestore_replay_close_batches(PGconn *db);
/* Failed repurge batches of the catalog whose newest closing record is a late acknowledgement
 * (lethe.replay_repurges_late, sql/0113): their failed repurges settled as it settled them, the
 * batches acknowledged. After dbrestore_replay_close_batches. Returns how many, or -1. */
long long dbrestore_replay_repurges_late(PGconn *db);
/* Selects the items that replayed records prove purged but that are live again; returns how
 * many, or -1. */
long long dbrestore_replay_absent_proofs(PGconn *db);
long long dbrestore_replay_candidates(PGconn *db);
/* What the audit records of the catalog that the catalog does not hold (a restore brought back
 * the state before them): requests recorded with no deletion_requested event of their
 * reference, holds placed that are not there (by id, or placed again: by item and reference),
 * holds released that are active again. Columns:
 * kind, tenant_id, seq, reference, hold_id, scope ("item I", "workspace W", "subject",
 * "tenant"), subject_hmac (empty when none). ONLY: NULL for every record of the audit, or two
 * array literals (chains, seqs) to look at those records alone. */
PGresult *dbrestore_catalog_behind_audit(PGconn *db, const char *const only[2]);

/* Notes LOST's records (a result of the above) in lethe.restore_lost, for status to name until
 * they are recorded again (sql/0105). False on error (logged). */
bool dbrestore_lost_note(PGconn *db, const PGresult *lost);
/* The noted records the catalog still lacks, as dbrestore_catalog_behind_audit gives them;
 * NULL on error (logged). */
PGresult *dbrestore_lost_still(PGconn *db);
/* The first request_recorded record of REFERENCE in TENANT's chain (column seq), none when the
 * audit records no such request: it reads the tenant's chain, for an error path. NULL on error. */
PGresult *dbrestore_request_in_audit(PGconn *db, const char *tenant, const char *reference);
/* What row I of such a result means and what to do, in OUT: "tenant T: the audit records
 * request 'REF' (seq N, scope S), which the restored catalog does not hold; record it again
 * with ...", the scope as `lethe request` and `lethe hold place` take it (item I, workspace W,
 * subject, tenant) and a hold's reference when it has one. */
void dbrestore_lost_said(const PGresult *lost, int i, char *out, size_t cap);

/* ---- reconcile ---- */

/* How many items of location GEO were purged without their locator's HMAC being recorded (a
 * run without an audit key): reconcile cannot recognise their objects. -1 on error (logged). */
long long dbrestore_reconcile_unmatchable(PGconn *db, const char *geo);
/* True when GEO is in lethe.geos; *ok false after a failed query. */
bool dbrestore_geo_exists(PGconn *db, const char *geo, bool *ok);
/* Creates the temp table inventory and starts a COPY into it; feed it four fields per line:
 * ord, line, locator, locator_hmac. */
bool dbrestore_inventory_load(PGconn *db, struct copy_in *c);
/* Analyzes the loaded inventory, then selects the purged items of GEO it shows still stored;
 * returns how many, or -1. */
long long dbrestore_reconcile_candidates(PGconn *db, const char *geo);
/* The inventory lines that name an item stored in another geo than GEO (live, or purged by
 * its locator HMAC): an inventory given the wrong --location; how many, or -1. */
long long dbrestore_reconcile_other_geos(PGconn *db, const char *geo);
/* The purged items of GEO whose object the inventory shows still stored, already in a repurge
 * batch not yet settled (a reconcile before this one found them): how many, or -1. */
long long dbrestore_reconcile_pending(PGconn *db, const char *geo);
/* The inventory lines that match a purged item of GEO but name a live item's object too (a
 * locator used again), which reconcile leaves alone; how many, or -1. */
long long dbrestore_reconcile_live_named(PGconn *db, const char *geo);
/* Writes to OUT, one per line, the inventory lines no catalog item names, in any geo; returns how
 * many, or -1 after printing the error (a failed write sets *write_failed). */
long long dbrestore_reconcile_orphans(PGconn *db, const char *geo, FILE *out, bool *write_failed);

/* ---- the repurge run ---- */

/* Records the run RUN_ID (an operator's) and stages its run_started record; DETAIL says what
 * it is ("replay", "reconcile EU"). In the caller's transaction. */
bool dbrestore_run_begin(PGconn *db, const char *run_id, const char *operator_name,
                         const char *detail);
/* Puts the selected candidates into new open batches of at most MAX items, staging their
 * item_repurged and batch_emitted records. Rows: batch_id, location, items. */
PGresult *dbrestore_repurge_emit(PGconn *db, const char *run_id, const char *operator_name,
                                 long long max);
/* Finishes the run: its record, run_finished, flush and checkpoint (whose heads it logs).
 * Does not commit. */
bool dbrestore_run_end(PGconn *db, const char *run_id, long batches, long items);
/* After the transaction of dbrestore_run_end() committed: the run's line in the anchor file FILE,
 * as every run writes one (SPEC §5). A failure is said, as a warning: the next run's line
 * anchors these chains too. COMMAND names the command in the message. */
void dbrestore_run_anchored(PGconn *db, const char *file, const char *run_id, const char *command);

#endif
