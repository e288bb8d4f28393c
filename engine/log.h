/* Diagnostics to stderr: git-style "error:"/"hint:" lines on a terminal, one line per event
 * with a <N> syslog priority under systemd. Never used for data, which goes to stdout. */
#ifndef LETHE_LOG_H
#define LETHE_LOG_H

#include <stdbool.h>

enum log_level { LOG_ERR = 3, LOG_WARN = 4, LOG_NOTE = 5, LOG_INFO = 6, LOG_DEBUG = 7 };

/* -q = -1, default 0, -v = 1 or more. */
void log_set_verbosity(int v);
int log_verbosity(void);
/* The run id, once known, is put in every line written under systemd. */
void log_set_run_id(const char *run_id);
bool log_to_journal(void);
bool log_is_tty(void);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Passes an executor's own line through as it is, at warning priority. */
void log_passthrough(const char *prefix, const char *line);

/* Progress for long phases: only on a terminal, never under -q or systemd. */
struct progress;
struct progress *progress_new(const char *what, long total);
void progress_update(struct progress *p, long done);
void progress_free(struct progress *p);

#endif
