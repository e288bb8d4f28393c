/* Anchors (SPEC §5, §7): after each committed run, one JSON line with the heads of the chains
 * it appended to is appended to audit.anchor_file, which can be shipped out of the database's
 * reach. A run and `status --check` compare the newest line with the database; `verify
 * --anchors` compares every line with an export. This file never changes a line once written. */
#ifndef LETHE_ANCHOR_H
#define LETHE_ANCHOR_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "audit.h"
#include "config.h"
#include "ids.h"

struct anchor_head {
    char chain[UUID_TEXT_LEN];
    long long seq;
    char hash[AUDIT_HEX_LEN];
    char at[AUDIT_TIME_LEN]; /* the head record's own time; "" in lines written before it was kept */
};

/* {"run_id":"<uuid>","at":"<UTC ISO 8601, µs, Z>","heads":[{"chain":"<uuid>","seq":N,"hash":"<hex>","at":"<time>"},...]} */
struct anchor_line {
    char run_id[UUID_TEXT_LEN];
    char at[AUDIT_TIME_LEN];
    /* "since": the line names every chain with a record stamped from this time on ("" from the
     * start of the log), as of its run's heads; lines written while the run's role could not
     * record lines, or before lethe wrote it, have none (has_since false). */
    char since[AUDIT_TIME_LEN];
    bool has_since;
    /* "fenced" (with "since" only): the database's clock when the run found no audit writer in
     * flight, before it took the heads: every record stamped from "since" until then is named
     * (its chain's head at or past it). "" in lines without it (written before lethe wrote it). */
    char fenced[AUDIT_TIME_LEN];
    struct anchor_head *heads;
    size_t n_heads;
    char digest[AUDIT_HEX_LEN]; /* SHA-256 of the newest line as read (anchor_read_newest) */
    long long offset;           /* where that line starts in the file; -1 when not known */
};

/* Whether PATH names the anchor file ANCHOR_FILE (the same file, or the same path when neither
 * exists yet). A file lethe writes with -o, --orphans or --metrics-file must not replace it:
 * the anchor file is the evidence that outlives the database. False for "-" and a NULL. */
bool anchor_file_named(const char *path, const char *anchor_file);
/* Whether PATH (a file WHAT, a command, writes for OPTION) names a file lethe keeps and must
 * not replace: the anchor file, the audit key, or the config or a file it @includes; says so
 * when it does. */
bool lethe_file_refused(const char *what, const char *option, const char *path,
                        const struct lethe_config *cfg);

/* Parses one line (without its newline). False with *WHY set when it is not an anchor line. */
bool anchor_parse(const char *text, size_t len, struct anchor_line *out, const char **why);
void anchor_line_free(struct anchor_line *l);

/* The file exists, but a run cannot use it: not a regular file, unreadable for another reason
 * than permissions, or its newest line is not an anchor line. Every run refuses to work until
 * it is restored, so status --check fails on it; a file that this user may not read does not
 * stop status --check (another user may run it). */
#define ANCHOR_UNUSABLE (-2)
/* The file's lines could not be read for want of memory (an address-space limit): nothing is
 * known of them, so every run refuses as for ANCHOR_UNUSABLE, but the file is not at fault. */
#define ANCHOR_NO_MEMORY (-3)
/* The file's newest line was read, but the database could not be asked whether it holds the
 * line's heads (the statement failed: its error printed). Nothing is known either way, so it is
 * a runtime failure for every caller, status --check included (exit 1), never a pass. */
#define ANCHOR_NOT_COMPARED (-4)
/* Whether WHY, as anchor_parse gave it, says that memory ran out rather than what the line is. */
bool anchor_why_out_of_memory(const char *why);

/* Whether TEXT, LEN bytes after the file's last newline that are not an anchor line, begin with
 * a whole anchor line followed by other bytes. No crash leaves that (a torn append is a prefix of
 * one line): it is a line edited by hand or a tool, and evidence, not to be cut off as torn.
 * *LINE_LEN: the length of the anchor line. */
bool anchor_glued(const char *text, size_t len, size_t *line_len);

/* The newest complete line of FILE: 1 and *OUT filled, 0 when there is no file or no line
 * yet, -1 (permission denied), ANCHOR_UNUSABLE or ANCHOR_NO_MEMORY after printing the error. A torn last line
 * (a crash while appending) is skipped. */
int anchor_read_newest(const char *file, struct anchor_line *out);
/* Adds to L (FILE's newest line, as anchor_read_newest read it) the heads of the lines before it
 * that the database never recorded (lethe.anchor_lines), back to the newest one it did: each
 * chain at the highest seq any of them names. A line names only the chains of its run and the
 * run before it, so after a restore the newest line alone left every chain the runs since the
 * backup touched before those two unchecked: replay said caught up with one tenant's export
 * missing, and the next run forked that tenant's chain for good. A line the database recorded
 * (nearly always the newest: then nothing is read) ends the walk; one it cannot have recorded
 * (torn, not an anchor line) is passed over. True, or false after saying why (the check then
 * compares the newest line alone). */
bool anchor_add_unrecorded(PGconn *db, const char *file, struct anchor_line *l);
/* What a check compares the database with: FILE's newest line (anchor_read_newest, same
 * returns) and the heads of the lines before it the database never recorded
 * (anchor_add_unrecorded). */
int anchor_read_evidence(PGconn *db, const char *file, struct anchor_line *out);

/* What every line of FILE vouches for: per chain (sorted), the highest seq any line names, in
 * OUT (*N of them, the seq and chain filled, malloc'd); and in FROM the time from which every
 * record is named by a line (the "since" of the first line of the newest run of lines that
 * have one, each counting from before the line before it was written; "" for the start of the
 * log); *BOUNDED false when the newest line has none (then nothing may be judged unvouched). A torn last line is skipped. False
 * after printing why (unreadable, or a line that is not an anchor line). */
bool anchor_read_reach(const char *file, struct anchor_head **out, size_t *n,
                       char from[AUDIT_TIME_LEN], bool *bounded);

/* After RUN_ID committed: appends its heads (every chain appended to since the run started,
 * and the engine chain's checkpoint record of the run) to FILE as one line, fsynced, and logs
 * them, once every record stamped before then has committed (the writers' fence, waited for as
 * COMMAND's wait, up to ANCHOR_FENCE_WAIT seconds or a stop request: then without "since", and
 * not recorded, so that the next line counts from an earlier run). False after printing the
 * error. */
#define ANCHOR_FENCE_WAIT 10
#define ANCHOR_FENCE_WAIT_TEXT "10 s"
bool anchor_append(PGconn *db, const char *file, const char *run_id, const char *command);

/* The heads of L that the database does not hold as anchored, one row each: chain, anchored
 * seq, the database's seq for the chain (null: the chain is absent), and why in words. NULL
 * after printing the error. */
PGresult *anchor_missing(PGconn *db, const struct anchor_line *l);

/* The newest line names the engine chain at a seq where the database holds another record:
 * every database's engine chain is its own, so the file is another database's (two databases
 * configured with one anchor file), or this audit was rewritten after the line was written.
 * Either way lethe replay cannot bring the database to the line. */
#define ANCHOR_DIVERGED 2

/* What anchor_behind says besides its answer. ANCHOR_WARN_ONLY: a file that cannot be read is
 * a warning (the caller goes on without it), not an error. The other way round, lines the
 * database recorded as appended to FILE after its newest one (sql/0057) were lost with the file:
 * ANCHOR_SAY_LACKING warns when the file lacks some, ANCHOR_SAY_MISSING when it is missing or
 * empty (which only the host that writes it can tell). Said with the way back; the work goes on. */
#define ANCHOR_WARN_ONLY 1u
#define ANCHOR_SAY_LACKING 2u
#define ANCHOR_SAY_MISSING 4u
/* ANCHOR_NOTE_GAPS (a run): lines found missing are noted in the database, so that every run and
 * status say so again until they are back, and settled once they are (sql/0081). */
#define ANCHOR_NOTE_GAPS 8u

/* Compares the newest line of FILE with the database. 0: every anchored head is there (or
 * there is no anchor file); 1: the audit is behind, and MSG says which chains; ANCHOR_DIVERGED
 * (see above), MSG as for 1; -1: an error, printed; ANCHOR_UNUSABLE: the file cannot be used
 * (see above), printed; ANCHOR_NO_MEMORY: its lines could not be read (see above), printed;
 * ANCHOR_NOT_COMPARED: the database could not be asked (see above), printed. FLAGS: ANCHOR_*
 * above. */
int anchor_behind(PGconn *db, const char *file, char *msg, size_t cap, unsigned flags);

/* Before any command appends to the audit (run, rerun, ack, request, hold place and release,
 * reconcile): EXIT_DONE, or EXIT_CHECK_FAILED with the error and the replay hint printed, or
 * EXIT_RUNTIME. A record appended to a chain the anchor file is ahead of takes a seq the file
 * names already: the chain diverges from the exports, replay can no longer heal it, and every
 * run after refuses. WHAT names the command in the message; FLAGS as for anchor_behind (a run,
 * which appends the next line, says a file behind its database; a dry run, which writes
 * nothing, refuses as the run would but goes on without a file it cannot read:
 * ANCHOR_WARN_ONLY). */
int anchor_check_before_write(PGconn *db, const char *file, const char *what, unsigned flags);
/* The same, for a command that appends to CHAIN alone (a tenant's: hold place, request): a
 * record a replay left out on another chain (sql/0111) does not hold it back. The anchor file
 * is compared whole, as for every writer. */
int anchor_check_before_write_to(PGconn *db, const char *file, const char *what, unsigned flags,
                                 const char *chain);
/* For a command that only reads what the catalog holds of requests and holds (status
 * --reference, hold list): a warning, with the replay hint, when the audit is behind FILE (a
 * restored database, whose catalog lacks what was recorded since the backup). Nothing when it
 * is not, or when FILE cannot be read (said as a warning). */
void anchor_warn_if_behind(PGconn *db, const char *file, const char *what);

#endif
