/* Diagnostics to stderr. Messages follow git's guidelines: lowercase, no final full stop.
 * Must not print customer content, locators or subject ids: callers pass counts and ids only. */
#define _POSIX_C_SOURCE 200809L
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int verbosity;
static char run_id[64];

void log_set_verbosity(int v) { verbosity = v; }
int log_verbosity(void) { return verbosity; }

void log_set_run_id(const char *id)
{
    snprintf(run_id, sizeof run_id, "%s", id ? id : "");
}

bool log_to_journal(void)
{
    const char *j = getenv("JOURNAL_STREAM");
    return j && *j;
}

bool log_is_tty(void) { return isatty(STDERR_FILENO) == 1; }

static void vemit(int prio, const char *label, const char *fmt, va_list ap)
{
    char msg[4096];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (log_to_journal()) {
        if (run_id[0])
            fprintf(stderr, "<%d>%s%s [run %s]\n", prio, label, msg, run_id);
        else
            fprintf(stderr, "<%d>%s%s\n", prio, label, msg);
    } else {
        fprintf(stderr, "%s%s\n", label, msg);
    }
    fflush(stderr);
}

#define EMIT(prio, label)                                                                          \
    do {                                                                                           \
        va_list ap;                                                                                \
        va_start(ap, fmt);                                                                         \
        vemit(prio, label, fmt, ap);                                                               \
        va_end(ap);                                                                                \
    } while (0)

void log_error(const char *fmt, ...) { EMIT(LOG_ERR, "error: "); }
void log_hint(const char *fmt, ...) { EMIT(LOG_ERR, "hint: "); }
void log_warn(const char *fmt, ...) { EMIT(LOG_WARN, "warning: "); }

void log_info(const char *fmt, ...)
{
    if (verbosity < 0)
        return;
    EMIT(LOG_INFO, "");
}

void log_debug(const char *fmt, ...)
{
    if (verbosity < 1)
        return;
    EMIT(LOG_DEBUG, "debug: ");
}

void log_passthrough(const char *prefix, const char *line)
{
    if (log_to_journal())
        fprintf(stderr, "<%d>%s%s%s%s%s\n", LOG_WARN, prefix, line, run_id[0] ? " [run " : "",
                run_id, run_id[0] ? "]" : "");
    else
        fprintf(stderr, "%s%s\n", prefix, line);
    fflush(stderr);
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
}

void progress_free(struct progress *p)
{
    if (!p)
        return;
    if (p->shown)
        fputs("\n", stderr);
    free(p);
}
