/* Executor processes: spawn the command whole through /bin/sh in a process group of its own,
 * read receipts from stdout, pass stderr through to the log as it is, and kill the group at the
 * timeout whatever it does with its pipes. A guard process kills the group if lethe dies first,
 * so an executor never outlives the run that started it. Output is bytes, never trusted: a line
 * that is not a receipt is logged cleaned and bounded, and ignored. */
#define _GNU_SOURCE
#include "executor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "text.h"

#define TAIL_MAX 2000
#define LINE_MAX_BYTES 8192
#define SHOWN_MAX 240   /* how much of an ignored line the log shows */
#define REASON_MAX 200  /* how much of a failed receipt's reason is kept */

struct linebuf {
    char buf[LINE_MAX_BYTES + 1]; /* + its terminating NUL, written in place */
    size_t len;
    bool skipping; /* inside an overlong line: discard up to its newline */
    size_t skipped; /* how much of it was discarded so far */
    bool cut;      /* the group was killed past its time: a last stdout line without its
                    * newline may have been cut off by the kill (receipt_whole) */
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool exec_result_add(struct exec_result *r, const char *item_id, const char *reason)
{
    struct exec_receipt **list = reason ? &r->failed : &r->acked;
    int *n = reason ? &r->n_failed : &r->n_acked;
    /* Grow by doubling: a batch of 10,000 items makes 14 allocations, not 10,000. */
    if ((*n & (*n - 1)) == 0) {
        size_t cap = *n ? (size_t)*n * 2 : 16;
        struct exec_receipt *grown = realloc(*list, cap * sizeof *grown);
        if (!grown)
            return false;
        *list = grown;
    }
    struct exec_receipt *e = &(*list)[*n];
    snprintf(e->item_id, sizeof e->item_id, "%s", item_id);
    e->reason = NULL;
    if (reason && !(e->reason = strdup(reason)))
        return false;
    (*n)++;
    return true;
}

bool exec_items_add(struct exec_items *s, const char *item_id)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        char(*grown)[UUID_TEXT_LEN] = realloc(s->ids, cap * sizeof *grown);
        if (!grown)
            return false;
        s->ids = grown;
        s->cap = cap;
    }
    snprintf(s->ids[s->n++], UUID_TEXT_LEN, "%s", item_id);
    return true;
}

static int id_cmp(const void *a, const void *b) { return strcmp(a, b); }

bool exec_items_seal(struct exec_items *s)
{
    if (s->n)
        qsort(s->ids, s->n, sizeof *s->ids, id_cmp);
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++)
        if (k == 0 || strcmp(s->ids[k - 1], s->ids[i]) != 0)
            memmove(s->ids[k++], s->ids[i], UUID_TEXT_LEN);
    s->n = k;
    free(s->seen);
    s->seen = calloc(s->n ? s->n : 1, 1);
    return s->seen != NULL;
}

void exec_items_free(struct exec_items *s)
{
    free(s->ids);
    free(s->seen);
    memset(s, 0, sizeof *s);
}

/* Whether a receipt for ITEM_ID of this kind is to be kept: one of the batch's items, not
 * given before. Counts the ones dropped. */
static bool receipt_wanted(struct exec_result *r, const char *item_id, bool fail)
{
    struct exec_items *s = r->items;
    if (!s)
        return true;
    char(*hit)[UUID_TEXT_LEN] = s->seen ? bsearch(item_id, s->ids, s->n, sizeof *s->ids, id_cmp) : NULL;
    if (!hit) {
        r->foreign++;
        return false;
    }
    unsigned char bit = fail ? 2 : 1;
    unsigned char *seen = &s->seen[hit - s->ids];
    if (*seen & bit) {
        r->repeated++;
        return false;
    }
    *seen |= bit;
    return true;
}

/* Stdout lines that are not receipts shown per batch; the rest are counted (the total is said
 * when the batch ends), so that a deleter printing its progress there cannot bury lethe's own
 * lines in the log (an outside tryout: 50 MB of it made 3.8 million log lines in one run). */
#define STDOUT_SHOWN_MAX 100
#define FOREIGN_SHOWN_MAX 10

static bool stdout_shown(const struct exec_result *r)
{
    if (r->ignored < STDOUT_SHOWN_MAX)
        return true;
    if (r->ignored == STDOUT_SHOWN_MAX)
        log_warn("executor: %s: more than %d lines of its stdout are not receipts: the rest are "
                 "counted, not shown (a deleter's own log belongs on stderr)", r->where,
                 STDOUT_SHOWN_MAX);
    return false;
}

static void ignore_line(struct exec_result *r, const char *why, const char *line, size_t n)
{
    if (stdout_shown(r)) {
        char shown[SHOWN_MAX + 4];
        text_clean(line, n, shown, sizeof shown);
        log_warn("executor: %s: ignoring %s: %s", r->where, why, shown);
    }
    r->ignored++;
}

/* The length of a UTF-8 byte order mark at the start of the executor's stdout (a deleter on
 * another platform may write one before its first receipt), else 0. As reconcile's inventory. */
static size_t stdout_bom(const struct exec_result *r, const char *line, size_t n)
{
    return !r->stdout_begun && n >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
}

/* One line of stdout: a receipt, or something to log and ignore. */
static void on_stdout_line(struct exec_result *r, char *line, size_t n)
{
    size_t bom = stdout_bom(r, line, n);
    line += bom;
    n -= bom;
    r->stdout_begun = true;
    if (n && line[n - 1] == '\r')
        line[--n] = '\0';
    if (n == 0)
        return;
    if (memchr(line, '\0', n)) { /* valid UTF-8, but no receipt holds one */
        ignore_line(r, "a line with a NUL byte in it", line, n);
        return;
    }
    if (!text_valid_utf8(line, n)) {
        ignore_line(r, "a line that is not valid UTF-8", line, n);
        return;
    }
    const char *word = line;
    size_t wlen = strcspn(word, " \t");
    bool del = wlen == 7 && memcmp(word, "deleted", 7) == 0;
    bool abs = wlen == 6 && memcmp(word, "absent", 6) == 0;
    bool fail = wlen == 6 && memcmp(word, "failed", 6) == 0;
    if (!del && !abs && !fail) {
        if (stdout_shown(r)) {
            char shown[SHOWN_MAX + 4];
            /* Not the deleter's stderr, nor a receipt: said so, with its batch, as "DELETED
             * ID" or " deleted ID" read like a deletion among its stderr's lines (an outside
             * tryout). */
            log_info("executor: %s: stdout, not a receipt: %s", r->where,
                     text_clean(line, n, shown, sizeof shown));
        }
        r->ignored++;
        return;
    }
    const char *id = word + wlen;
    id += strspn(id, " \t");
    size_t idlen = strcspn(id, " \t");
    char idbuf[64], parsed[UUID_TEXT_LEN];
    if (idlen == 0 || idlen >= sizeof idbuf) {
        ignore_line(r, "a receipt with no item id", line, n);
        return;
    }
    memcpy(idbuf, id, idlen);
    idbuf[idlen] = '\0';
    if (!id_parse(idbuf, parsed)) {
        ignore_line(r, "a receipt with a malformed item id", line, n);
        return;
    }
    const char *rest = id + idlen;
    rest += strspn(rest, " \t");
    if (!fail && *rest) {
        ignore_line(r, "a receipt with trailing words", line, n);
        return;
    }
    long foreign = r->foreign;
    if (!receipt_wanted(r, parsed, fail)) {
        /* SPEC §4: logged (sanitised, bounded) and ignored. The first few are shown, so that
         * an operator sees which ids the deleter claimed; the run says how many in all. */
        if (r->foreign > foreign && r->foreign <= FOREIGN_SHOWN_MAX) {
            char shown[SHOWN_MAX + 4];
            log_warn("executor: %s: ignoring a receipt for an item not in the batch: %s%s",
                     r->where, text_clean(line, n, shown, sizeof shown),
                     r->foreign == FOREIGN_SHOWN_MAX ? " (the rest such are counted, not shown)" : "");
        }
        return;
    }
    char reason[REASON_MAX + 4];
    if (fail)
        text_clean(*rest ? rest : "no reason given", strlen(*rest ? rest : "no reason given"),
                   reason, sizeof reason);
    if (!exec_result_add(r, parsed, fail ? reason : NULL))
        log_error("executor: out of memory recording a receipt");
}

static void append_tail(struct exec_result *r, const char *line, size_t n)
{
    char clean[TAIL_MAX];
    text_clean(line, n, clean, sizeof clean);
    size_t have = r->stderr_tail ? strlen(r->stderr_tail) : 0;
    size_t add = strlen(clean) + 1;
    while (have + add > TAIL_MAX && have) {
        /* drop the oldest line */
        char *nl = strchr(r->stderr_tail, '\n');
        size_t cut = nl ? (size_t)(nl - r->stderr_tail) + 1 : have;
        memmove(r->stderr_tail, r->stderr_tail + cut, have - cut + 1);
        have -= cut;
        r->tail_dropped++;
    }
    char *grown = realloc(r->stderr_tail, have + add + 1);
    if (!grown)
        return;
    r->stderr_tail = grown;
    memcpy(r->stderr_tail + have, clean, add - 1);
    r->stderr_tail[have + add - 1] = '\n';
    r->stderr_tail[have + add] = '\0';
}

/* Whether LINE (not NUL-terminated) is a receipt word and a whole item id: a last line without
 * its newline after a kill is taken when it is, since it was written whole before the kill,
 * and otherwise not ("deleted 85a7cd09-" was cut in the middle of its id). */
static bool receipt_whole(const char *line, size_t n)
{
    char buf[128], parsed[UUID_TEXT_LEN];
    size_t w = 0;
    while (w < n && line[w] != ' ' && line[w] != '\t')
        w++;
    bool word = (w == 7 && memcmp(line, "deleted", 7) == 0) ||
                (w == 6 && (memcmp(line, "absent", 6) == 0 || memcmp(line, "failed", 6) == 0));
    size_t i = w;
    while (i < n && (line[i] == ' ' || line[i] == '\t'))
        i++;
    size_t j = i;
    while (j < n && line[j] != ' ' && line[j] != '\t' && line[j] != '\r')
        j++;
    if (!word || j == i || j - i >= sizeof buf)
        return false;
    memcpy(buf, line + i, j - i);
    buf[j - i] = '\0';
    return id_parse(buf, parsed);
}

/* Whether the last stdout line [START, END), without its newline after a kill, is a whole
 * receipt (after the byte order mark, when it is the first line). */
static bool last_line_whole(const struct exec_result *r, const char *start, const char *end)
{
    size_t n = (size_t)(end - start), bom = stdout_bom(r, start, n);
    return receipt_whole(start + bom, n - bom);
}

/* A stderr line goes to the log as the executor wrote it. A NUL byte cannot be in a log line:
 * it is shown as \0, and the rest of the line after it still goes (it used to end there). */
static void pass_stderr(struct exec_result *r, const char *line, size_t n)
{
    if (!memchr(line, '\0', n)) {
        log_passthrough("executor: ", line);
    } else {
        char *shown = malloc(2 * n + 1);
        if (!shown) {
            log_passthrough("executor: ", line);
        } else {
            size_t w = 0;
            for (size_t i = 0; i < n; i++) {
                if (line[i] == '\0') {
                    shown[w++] = '\\';
                    shown[w++] = '0';
                } else {
                    shown[w++] = line[i];
                }
            }
            shown[w] = '\0';
            log_passthrough("executor: ", shown);
            free(shown);
        }
    }
    append_tail(r, line, n);
}

static void on_line(struct exec_result *r, bool is_stdout, char *line, size_t n)
{
    if (is_stdout)
        on_stdout_line(r, line, n);
    else
        pass_stderr(r, line, n);
}

static void warn_cut(const struct exec_result *r, size_t skipped)
{
    log_warn("executor: %s: a stderr line longer than %d bytes: its first %d were passed "
             "through, the %zu bytes after them were not", r->where, LINE_MAX_BYTES,
             LINE_MAX_BYTES, skipped);
}

/* Splits what arrived into lines; a final partial line waits for more (or for EOF). A line
 * longer than the buffer is not a receipt: on stdout it is ignored and shown in part; on stderr
 * its first LINE_MAX_BYTES go to the log as they are, and the rest is discarded and counted
 * (memory stays flat whatever an executor writes; journald itself splits lines of 48K). */
static void drain(struct linebuf *lb, bool is_stdout, struct exec_result *r, bool eof)
{
    char *start = lb->buf;
    char *end = lb->buf + lb->len;
    for (;;) {
        char *nl = memchr(start, '\n', (size_t)(end - start));
        if (lb->skipping) {
            if (!nl) {
                lb->skipped += (size_t)(end - start);
                start = end;
                if (eof && !is_stdout)
                    warn_cut(r, lb->skipped);
                break;
            }
            lb->skipped += (size_t)(nl - start);
            if (!is_stdout)
                warn_cut(r, lb->skipped);
            lb->skipping = false;
            start = nl + 1;
            continue;
        }
        if (nl) {
            *nl = '\0';
            on_line(r, is_stdout, start, (size_t)(nl - start));
            start = nl + 1;
            continue;
        }
        if (start == lb->buf && lb->len == LINE_MAX_BYTES) {
            if (is_stdout) {
                ignore_line(r, "an overlong line", start, SHOWN_MAX);
            } else {
                start[LINE_MAX_BYTES] = '\0';
                pass_stderr(r, start, LINE_MAX_BYTES);
            }
            lb->skipping = true;
            lb->skipped = 0;
            start = end;
        } else if (eof && start < end && lb->cut && is_stdout && !last_line_whole(r, start, end)) {
            log_warn("executor: %s: its last stdout line, cut off by the kill, was ignored (%zu "
                     "bytes)", r->where, (size_t)(end - start));
            start = end;
        } else if (eof && start < end) {
            /* the last line, without its newline: NUL-terminate it in place */
            size_t n = (size_t)(end - start);
            start[n] = '\0';
            on_line(r, is_stdout, start, n);
            start = end;
        }
        break;
    }
    lb->len = (size_t)(end - start);
    memmove(lb->buf, start, lb->len);
}

/* The guard: outside the executor's group (a timeout never kills it) and outside lethe's,
 * ignoring the signals a terminal or systemd sends to lethe, it waits on a pipe only lethe writes. A byte means the
 * executor was dealt with; end of file means lethe died, and it kills the group. */
static pid_t start_guard(pid_t group, int *life_w)
{
    int life[2];
    if (pipe2(life, O_CLOEXEC) != 0)
        return -1;
    pid_t g = fork();
    if (g < 0) {
        close(life[0]);
        close(life[1]);
        return -1;
    }
    if (g == 0) {
        /* A group of its own: a signal to lethe's whole group (a shell's job control, GNU
         * timeout, kill -- -PGID) must not take the guard with lethe, or nothing is left to
         * kill the executor's group. */
        setpgid(0, 0);
        /* Named apart from lethe in ps and killall: killing the guard with lethe (pkill -9
         * lethe matches both) leaves the group to systemd's cgroup, or to no one (README). */
        prctl(PR_SET_NAME, "lethe-guard");
        signal(SIGINT, SIG_IGN);
        signal(SIGTERM, SIG_IGN);
        signal(SIGHUP, SIG_IGN);
        signal(SIGPIPE, SIG_IGN);
        close(life[1]);
        /* Hold nothing of lethe's: not its database socket, not the executor's pipes. */
        if (life[0] != 3) {
            dup2(life[0], 3);
            close(life[0]);
        }
        close_range(4, ~0U, 0);
        char c;
        ssize_t n;
        while ((n = read(3, &c, 1)) < 0 && errno == EINTR)
            ;
        if (n <= 0)
            kill(-group, SIGKILL);
        _exit(0);
    }
    setpgid(g, g);
    close(life[0]);
    *life_w = life[1];
    return g;
}

/* Reads what the executor's pipes hold: each read as the main loop makes it, until both are at
 * end of file, nothing arrives for wait_ms, or the clock passes until_ms. */
static void read_pipes(struct pollfd *fds, int *open_fds, struct linebuf *lb,
                       struct exec_result *out, int wait_ms, long long until_ms)
{
    while (lb && *open_fds > 0 && now_ms() < until_ms) {
        int pr = poll(fds, 2, wait_ms);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            return;
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read(fds[i].fd, lb[i].buf + lb[i].len, LINE_MAX_BYTES - lb[i].len);
            if (n > 0) {
                lb[i].len += (size_t)n;
                drain(&lb[i], i == 0, out, false);
            } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
                drain(&lb[i], i == 0, out, true);
                close(fds[i].fd);
                fds[i].fd = -1;
                (*open_fds)--;
            }
        }
    }
}

/* How long the pipes are read for after the deadline: what the group wrote before it (or before
 * it was killed) is in the pipes' buffers and is read at once; only a process that left the
 * group and holds a pipe open keeps it from its end of file. */
#define LAST_READ_MS 2000

static bool leader_exited(pid_t pid)
{
    /* WNOWAIT: the leader stays a zombie, so its group id cannot be reused before the group
     * is killed below. */
    siginfo_t info;
    memset(&info, 0, sizeof info);
    return waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid;
}

static bool run_in_group(const char *command, const char *manifest, const char *batch_id,
                         const char *location, long timeout_seconds, struct exec_items *items,
                         struct exec_result *out)
{
    memset(out, 0, sizeof *out);
    char loc[32];
    snprintf(out->where, sizeof out->where, "batch %.36s (%s)", batch_id ? batch_id : "?",
             text_clean(location ? location : "?", strlen(location ? location : "?"), loc,
                        sizeof loc));
    out->items = items;
    out->exit_code = -1;
    snprintf(out->detail, sizeof out->detail, "could not start");
    int outp[2] = {-1, -1}, errp[2] = {-1, -1}, go[2] = {-1, -1};
    if (pipe2(outp, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0 || pipe2(go, O_CLOEXEC) != 0) {
        log_error("executor: cannot create pipes: %s", strerror(errno));
        goto fail_fds;
    }
    /* The command runs whole, exactly as written; the manifest path is one more argument of
     * its last simple command. Trailing white space would make "$1" a command of its own. */
    size_t clen = strlen(command);
    while (clen && (command[clen - 1] == ' ' || command[clen - 1] == '\t' ||
                    command[clen - 1] == '\n' || command[clen - 1] == '\r'))
        clen--;
    char script[4200];
    if (clen > sizeof script - 8) {
        log_error("executor: command too long");
        goto fail_fds;
    }
    snprintf(script, sizeof script, "%.*s \"$1\"", (int)clen, command);
    fflush(NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        log_error("executor: cannot fork: %s", strerror(errno));
        goto fail_fds;
    }
    if (pid == 0) {
        setpgid(0, 0);
        /* The shell itself dies with lethe; the guard takes care of the rest of the group. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        /* Nothing runs before the guard is up: a lethe killed between this fork and the
         * guard's would leave the command's own children running with no one to kill them. */
        close(go[1]);
        char c;
        ssize_t n;
        while ((n = read(go[0], &c, 1)) < 0 && errno == EINTR)
            ;
        if (n != 1)
            _exit(127);
        dup2(outp[1], STDOUT_FILENO);
        dup2(errp[1], STDERR_FILENO);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            close(devnull);
        }
        /* Nothing open but its standard streams: not the database's socket, the log, the
         * locks, nor whatever lethe itself was started with (a pipe of its caller's). */
        close_range(3, ~0U, 0);
        /* The deleter needs no database: the password libpq may have taken from the
         * environment is not handed to it. */
        unsetenv("PGPASSWORD");
        setenv("LETHE_BATCH_ID", batch_id, 1);
        setenv("LETHE_LOCATION", location, 1);
        signal(SIGPIPE, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        execl("/bin/sh", "sh", "-c", script, "lethe-executor", manifest, (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid);
    close(outp[1]);
    close(errp[1]);
    int life_w = -1;
    pid_t guard = start_guard(pid, &life_w);
    if (guard < 0)
        log_warn("executor: cannot start its guard: %s", strerror(errno));
    (void)!write(go[1], "x", 1);
    close(go[0]);
    close(go[1]);

    struct linebuf *lb = calloc(2, sizeof *lb);
    /* A pidfd wakes the loop the moment the leader exits; without one (an old kernel) the
     * leader's exit is polled in short slices once its pipes are closed. */
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    struct pollfd fds[3] = {{outp[0], POLLIN, 0}, {errp[0], POLLIN, 0}, {pidfd, POLLIN, 0}};
    long long deadline = now_ms() + timeout_seconds * 1000LL;
    bool exited = false;
    int open_fds = 2;
    while (lb && (open_fds > 0 || !exited)) {
        long long left = deadline - now_ms();
        if (left <= 0) {
            /* lethe itself can be late to look (stopped, or its stderr slow to take the
             * executor's lines): an executor that has exited and closed its pipes by now did
             * not run past its time, and all it wrote is still in the pipes. */
            exited = exited || leader_exited(pid);
            if (exited)
                read_pipes(fds, &open_fds, lb, out, 0, now_ms() + LAST_READ_MS);
            out->timed_out = open_fds > 0 || !exited;
            out->left_behind = exited && open_fds > 0;
            break;
        }
        /* With its pipes closed, the leader's exit is polled: nothing else wakes us. */
        int cap = open_fds || pidfd >= 0 ? 1000 : 50;
        if (exited && pidfd >= 0)
            fds[2].fd = -1; /* it stays readable: only the pipes matter now */
        int pr = poll(fds, 3, left > cap ? cap : (int)left);
        if (pr < 0 && errno != EINTR)
            break;
        if (pr > 0)
            read_pipes(fds, &open_fds, lb, out, 0, deadline);
        if (!exited && leader_exited(pid))
            exited = true;
    }
    /* Nothing of the group outlives the batch: a background child that kept the pipes open or
     * a leader past its time. What it wrote before it was killed still counts (SPEC §4: a
     * receipt arriving before a timeout): the pipes are read to their end after the kill. */
    kill(-pid, SIGKILL);
    if (lb && out->timed_out)
        lb[0].cut = lb[1].cut = true;
    read_pipes(fds, &open_fds, lb, out, 100, now_ms() + LAST_READ_MS);
    for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0) {
            if (lb)
                drain(&lb[i], i == 0, out, true);
            close(fds[i].fd);
        }
    if (pidfd >= 0)
        close(pidfd);
    free(lb);
    if (guard > 0) {
        (void)!write(life_w, "x", 1);
        close(life_w);
        while (waitpid(guard, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (out->timed_out) {
        snprintf(out->detail, sizeof out->detail, "timed out after %lds", timeout_seconds);
        return true;
    }
    if (WIFEXITED(status)) {
        out->exit_code = WEXITSTATUS(status);
        out->ok = out->exit_code == 0;
        if (out->ok)
            out->detail[0] = '\0';
        else
            snprintf(out->detail, sizeof out->detail, "exit status %d", out->exit_code);
    } else if (WIFSIGNALED(status)) {
        snprintf(out->detail, sizeof out->detail, "killed by signal %d", WTERMSIG(status));
    }
    return true;
fail_fds:
    for (int i = 0; i < 2; i++) {
        if (outp[i] >= 0)
            close(outp[i]);
        if (errp[i] >= 0)
            close(errp[i]);
        if (go[i] >= 0)
            close(go[i]);
    }
    return false;
}

/* Everything logged while the executor runs (its stderr, the lines it printed that are not
 * receipts) carries the batch id in the journal. */
bool executor_run(const char *command, const char *manifest, const char *batch_id,
                  const char *location, long timeout_seconds, struct exec_items *items,
                  struct exec_result *out)
{
    log_set_batch(batch_id);
    bool started = run_in_group(command, manifest, batch_id, location, timeout_seconds, items, out);
    log_set_batch(NULL);
    return started;
}

void exec_result_free(struct exec_result *r)
{
    for (int i = 0; i < r->n_acked; i++)
        free(r->acked[i].reason);
    for (int i = 0; i < r->n_failed; i++)
        free(r->failed[i].reason);
    free(r->acked);
    free(r->failed);
    free(r->stderr_tail);
    memset(r, 0, sizeof *r);
}
