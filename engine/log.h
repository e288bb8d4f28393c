/* Diagnostics: git-style "error:"/"hint:" lines on stderr; under systemd, journal entries with
 * fields (RUN_ID, BATCH_ID, TENANT), or "<N>"-prefixed lines when the journal cannot be reached.
 * Never used for data, which goes to stdout. */
#ifndef LETHE_LOG_H
#define LETHE_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_ERR = 3, LOG_WARN = 4, LOG_NOTE = 5, LOG_INFO = 6, LOG_DEBUG = 7 };

/* -q = -1 (errors only), default 0, -v = 1 or more (debug). */
void log_set_verbosity(int v);
int log_verbosity(void);
/* Context put on every entry under systemd: the run id (also at the end of each line), and the
 * batch and tenant being worked on. NULL or "" clears a field. */
void log_set_run_id(const char *run_id);
/* LABEL TEXT as one line of stderr, as a message would be written there (under systemd with
 * its "<PRIO>" prefix and " [run ID]"), into BUF; its length, or 0 when it does not fit. For a
 * line written later where nothing may be formatted (a signal handler). */
size_t log_format_line(int prio, const char *label, const char *text, char *buf, size_t cap);
void log_set_batch(const char *batch_id);
void log_set_tenant(const char *tenant_id);
/* True when stderr is the stream systemd connected to the journal: JOURNAL_STREAM names its
 * device and inode (systemd.exec(5)). A JOURNAL_STREAM inherited by a process whose stderr
 * was redirected elsewhere does not count. */
bool log_to_journal(void);
bool log_is_tty(void);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The text of the last log_error since log_clear_last_error() ("" when none; cut at 511 bytes):
 * a caller that records why something failed (a run's error) says what the log said. */
const char *log_last_error(void);
void log_clear_last_error(void);
/* A hint belongs to the message before it: same priority, and silenced with it under -q. */
void log_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Passes an executor's own stderr line through as it is, at info priority: deleters write
 * their progress there, and a failure is reported by lethe itself, from the receipts. */
void log_passthrough(const char *prefix, const char *line);

/* Progress for long phases: only on a terminal, never under -q or systemd. */
/* On a terminal only: says that a phase with no progress of its own has begun. */
void progress_phase(const char *what);
struct progress;
struct progress *progress_new(const char *what, long total);
void progress_update(struct progress *p, long done);
void progress_free(struct progress *p);

#endif
