/* Diagnostics to stderr, or to systemd's journal with fields. Messages follow git's guidelines:
 * lowercase, no final full stop. Must not print customer content, locators or subject ids:
 * callers pass counts and ids only (an executor's own stderr is its own). */
#define _POSIX_C_SOURCE 200809L
#define SD_JOURNAL_SUPPRESS_LOCATION /* every entry would name this file */
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <time.h>
#include <unistd.h>

static int verbosity;
static char run_id[64], batch_id[64], tenant_id[64];
/* libsystemd's journal socket. sd_journal_send reports success when it is missing ("fail
 * silently if the journal is not available"), so lethe looks for it first. */
#define JOURNAL_SOCKET "/run/systemd/journal/socket"
/* -1 until the first entry; 0 once the socket is missing or a send failed (no journald
 * listening): "<N>" lines from then on, so a run's log does not switch between the two. */
static int journal_reachable = -1;
/* What the last message was, for the hint that follows it. */
static bool last_shown = true;
static int last_prio = LOG_ERR;

void log_set_verbosity(int v) { verbosity = v; }
int log_verbosity(void) { return verbosity; }

static void set_field(char *dst, size_t len, const char *v) { snprintf(dst, len, "%s", v ? v : ""); }
void log_set_run_id(const char *id) { set_field(run_id, sizeof run_id, id); }
void log_set_batch(const char *id) { set_field(batch_id, sizeof batch_id, id); }
void log_set_tenant(const char *id) { set_field(tenant_id, sizeof tenant_id, id); }

bool log_to_journal(void)
{
    const char *j = getenv("JOURNAL_STREAM");
    if (!j || !*j)
        return false;
    char *end;
    errno = 0;
    uintmax_t dev = strtoumax(j, &end, 10);
    if (errno || end == j || *end != ':')
        return false;
    const char *i = end + 1;
    uintmax_t ino = strtoumax(i, &end, 10);
    if (errno || end == i || *end)
        return false;
    struct stat st;
    if (fstat(STDERR_FILENO, &st) != 0)
        return false;
    return (uintmax_t)st.st_dev == dev && (uintmax_t)st.st_ino == ino;
}

bool log_is_tty(void) { return isatty(STDERR_FILENO) == 1; }

/* One journal entry: MESSAGE and PRIORITY, and the context fields that are set. */
static bool journal_send(int prio, const char *message)
{
    if (journal_reachable < 0)
        journal_reachable = access(JOURNAL_SOCKET, F_OK) == 0;
    if (!journal_reachable)
        return false;
    char pr[16], run[80], batch[80], tenant[80];
    size_t len = strlen("MESSAGE=") + strlen(message) + 1;
    char *msg = malloc(len);
    if (!msg)
        return false;
    snprintf(msg, len, "MESSAGE=%s", message);
    snprintf(pr, sizeof pr, "PRIORITY=%d", prio);
    struct iovec iov[6];
    int n = 0;
    iov[n++] = (struct iovec){msg, strlen(msg)};
    iov[n++] = (struct iovec){pr, strlen(pr)};
    iov[n++] = (struct iovec){"SYSLOG_IDENTIFIER=lethe", strlen("SYSLOG_IDENTIFIER=lethe")};
    if (run_id[0]) {
        snprintf(run, sizeof run, "RUN_ID=%s", run_id);
        iov[n++] = (struct iovec){run, strlen(run)};
    }
    if (batch_id[0]) {
        snprintf(batch, sizeof batch, "BATCH_ID=%s", batch_id);
        iov[n++] = (struct iovec){batch, strlen(batch)};
    }
    if (tenant_id[0]) {
        snprintf(tenant, sizeof tenant, "TENANT=%s", tenant_id);
        iov[n++] = (struct iovec){tenant, strlen(tenant)};
    }
    bool sent = sd_journal_sendv(iov, n) >= 0;
    free(msg);
    if (!sent)
        journal_reachable = 0;
    return sent;
}

/* label + text (+ " [run ID]" under systemd): one entry, or one line on stderr. */
/* A progress line is left open on the terminal (it is redrawn with \r); a log line written
 * meanwhile ends it first, instead of being glued to its end. */
static bool progress_open;

static void emit_text(int prio, const char *label, const char *text)
{
    if (progress_open) {
        fputc('\n', stderr);
        progress_open = false;
    }
    if (log_to_journal()) {
        size_t len = strlen(label) + strlen(text) + strlen(run_id) + 16;
        char *line = malloc(len);
        if (line)
            snprintf(line, len, "%s%s%s%s%s", label, text, run_id[0] ? " [run " : "", run_id,
                     run_id[0] ? "]" : "");
        if (line && journal_send(prio, line)) {
            free(line);
            return;
        }
        if (line)
            fprintf(stderr, "<%d>%s\n", prio, line);
        else
            fprintf(stderr, "<%d>%s%s\n", prio, label, text);
        free(line);
    } else {
        fprintf(stderr, "%s%s\n", label, text);
    }
    fflush(stderr);
}

size_t log_format_line(int prio, const char *label, const char *text, char *buf, size_t cap)
{
    int n = log_to_journal()
                ? snprintf(buf, cap, "<%d>%s%s%s%s%s\n", prio, label, text, run_id[0] ? " [run " : "",
                           run_id, run_id[0] ? "]" : "")
                : snprintf(buf, cap, "%s%s\n", label, text);
    return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* The text of the last error, for a caller that records why something failed (log.h). */
static char last_error[512];

const char *log_last_error(void) { return last_error; }
void log_clear_last_error(void) { last_error[0] = '\0'; }

static void vemit(int prio, bool shown, const char *label, const char *fmt, va_list ap)
{
    last_shown = shown;
    last_prio = prio;
    if (!shown)
        return;
    char msg[4096];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (prio == LOG_ERR && strcmp(label, "error: ") == 0) {
        /* Cut, if it must be, where a character begins: the text may be stored (UTF-8). */
        size_t n = strlen(msg);
        if (n >= sizeof last_error) {
            n = sizeof last_error - 1;
            while (n > 0 && ((unsigned char)msg[n] & 0xC0) == 0x80)
                n--;
        }
        memcpy(last_error, msg, n);
        last_error[n] = '\0';
    }
    emit_text(prio, label, msg);
}

#define EMIT(prio, shown, label)                                                                   \
    do {                                                                                           \
        va_list ap;                                                                                \
        va_start(ap, fmt);                                                                         \
        vemit(prio, shown, label, fmt, ap);                                                        \
        va_end(ap);                                                                                \
    } while (0)

void log_error(const char *fmt, ...) { EMIT(LOG_ERR, true, "error: "); }
void log_warn(const char *fmt, ...) { EMIT(LOG_WARN, verbosity >= 0, "warning: "); }
void log_info(const char *fmt, ...) { EMIT(LOG_INFO, verbosity >= 0, ""); }
void log_debug(const char *fmt, ...) { EMIT(LOG_DEBUG, verbosity >= 1, "debug: "); }

void log_hint(const char *fmt, ...)
{
    int prio = last_prio;
    bool shown = last_shown;
    EMIT(prio, shown, "hint: ");
}

void log_passthrough(const char *prefix, const char *line)
{
    last_shown = verbosity >= 0;
    last_prio = LOG_INFO;
    if (last_shown)
        emit_text(LOG_INFO, prefix, line);
}

struct progress {
    char what[64];
    long total;
    struct timespec start, last;
    bool shown;
};

static double secs_between(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

void progress_phase(const char *what)
{
    /* A phase that is one statement has no progress to show, but a person at a terminal should
     * see that it is under way rather than a silent minute. */
    if (verbosity < 0 || log_to_journal() || !log_is_tty())
        return;
    fprintf(stderr, "%s...\n", what);
    fflush(stderr);
}

struct progress *progress_new(const char *what, long total)
{
    if (verbosity < 0 || log_to_journal() || !log_is_tty())
        return NULL;
    struct progress *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    snprintf(p->what, sizeof p->what, "%s", what);
    p->total = total;
    clock_gettime(CLOCK_MONOTONIC, &p->start);
    p->last = p->start;
    return p;
}

void progress_update(struct progress *p, long done)
{
    if (!p)
        return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (secs_between(&p->last, &now) < 0.5 && done < p->total)
        return;
    p->last = now;
    double el = secs_between(&p->start, &now);
    double rate = el > 0 ? (double)done / el : 0;
    if (p->total > 0 && rate > 0)
        fprintf(stderr, "\r%s: %ld/%ld items, %.0f items/s, eta %.0fs   ", p->what, done,
                p->total, rate, (double)(p->total - done) / rate);
    else
        fprintf(stderr, "\r%s: %ld items, %.0f items/s   ", p->what, done, rate);
    p->shown = true;
    progress_open = true;
}

void progress_free(struct progress *p)
{
    if (!p)
        return;
    if (p->shown && progress_open)
        fputs("\n", stderr);
    progress_open = false;
    free(p);
}
