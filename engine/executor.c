/* Executor processes: spawn in a process group of their own, read "failed <id> <reason>"
 * lines from stdout, pass stderr through to the log as it is, and kill the group on timeout.
 * Must not interpret the executor's free text beyond the failed-line format. */
#define _POSIX_C_SOURCE 200809L
#include "executor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define TAIL_MAX 2000

struct linebuf {
    char buf[8192];
    size_t len;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void add_failed(struct exec_result *r, const char *line)
{
    /* "failed <item_id> <reason>" */
    const char *id = line + 7;
    char idbuf[40];
    size_t n = strcspn(id, " \t");
    if (n >= sizeof idbuf) {
        log_warn("executor: ignoring a malformed failed line");
        return;
    }
    memcpy(idbuf, id, n);
    idbuf[n] = '\0';
    struct exec_failed f;
    if (!id_parse(idbuf, f.item_id)) {
        log_warn("executor: ignoring a failed line with a malformed item id");
        return;
    }
    const char *reason = id + n;
    while (*reason == ' ' || *reason == '\t')
        reason++;
    f.reason = strdup(*reason ? reason : "no reason given");
    struct exec_failed *grown = realloc(r->failed, (size_t)(r->n_failed + 1) * sizeof *grown);
    if (!grown || !f.reason) {
        free(f.reason);
        return;
    }
    r->failed = grown;
    r->failed[r->n_failed++] = f;
}

static void append_tail(struct exec_result *r, const char *line)
{
    size_t have = r->stderr_tail ? strlen(r->stderr_tail) : 0;
    size_t add = strlen(line) + 1;
    if (add > TAIL_MAX)
        return;
    while (have + add > TAIL_MAX && have) {
        /* drop the oldest line */
        char *nl = strchr(r->stderr_tail, '\n');
        size_t cut = nl ? (size_t)(nl - r->stderr_tail) + 1 : have;
        memmove(r->stderr_tail, r->stderr_tail + cut, have - cut + 1);
        have -= cut;
    }
    char *grown = realloc(r->stderr_tail, have + add + 1);
    if (!grown)
        return;
    r->stderr_tail = grown;
    memcpy(r->stderr_tail + have, line, add - 1);
    r->stderr_tail[have + add - 1] = '\n';
    r->stderr_tail[have + add] = '\0';
}

/* Splits what arrived into lines; a final partial line waits for more (or for EOF). */
static void drain(struct linebuf *lb, bool is_stdout, struct exec_result *r, bool eof)
{
    char *start = lb->buf;
    char *end = lb->buf + lb->len;
    for (;;) {
        char *nl = memchr(start, '\n', (size_t)(end - start));
        if (!nl && !(eof && start < end) && !(start == lb->buf && lb->len == sizeof lb->buf))
            break;
        char *stop = nl ? nl : end;
        *stop = '\0';
        if (stop > start && stop[-1] == '\r')
            stop[-1] = '\0';
        if (is_stdout) {
            if (strncmp(start, "failed ", 7) == 0)
                add_failed(r, start);
            else if (*start)
                log_debug("executor: %s", start);
        } else {
            log_passthrough("executor: ", start);
            append_tail(r, start);
        }
        start = nl ? nl + 1 : end;
        if (!nl)
            break;
    }
    lb->len = (size_t)(end - start);
    memmove(lb->buf, start, lb->len);
}

bool executor_run(const char *command, const char *manifest, const char *batch_id,
                  const char *location, long timeout_seconds, struct exec_result *out)
{
    memset(out, 0, sizeof *out);
    out->exit_code = -1;
    int outp[2] = {-1, -1}, errp[2] = {-1, -1};
    if (pipe(outp) != 0 || pipe(errp) != 0) {
        snprintf(out->detail, sizeof out->detail, "could not start");
        log_error("executor: cannot create pipes: %s", strerror(errno));
        goto fail_fds;
    }
    char script[4200];
    if ((size_t)snprintf(script, sizeof script, "exec %s \"$1\"", command) >= sizeof script) {
        snprintf(out->detail, sizeof out->detail, "could not start");
        log_error("executor: command too long");
        goto fail_fds;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(out->detail, sizeof out->detail, "could not start");
        log_error("executor: cannot fork: %s", strerror(errno));
        goto fail_fds;
    }
    if (pid == 0) {
        setpgid(0, 0);
        dup2(outp[1], STDOUT_FILENO);
        dup2(errp[1], STDERR_FILENO);
        close(outp[0]);
        close(outp[1]);
        close(errp[0]);
        close(errp[1]);
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0) {
            dup2(devnull, STDIN_FILENO);
            close(devnull);
        }
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
    struct linebuf lo = {.len = 0}, le = {.len = 0};
    struct pollfd fds[2] = {{outp[0], POLLIN, 0}, {errp[0], POLLIN, 0}};
    long long deadline = now_ms() + timeout_seconds * 1000LL;
    int open_fds = 2;
    while (open_fds > 0) {
        long long left = deadline - now_ms();
        if (left <= 0) {
            out->timed_out = true;
            kill(-pid, SIGKILL);
            break;
        }
        int pr = poll(fds, 2, (int)(left > 1000 ? 1000 : left));
        if (pr < 0 && errno != EINTR)
            break;
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            struct linebuf *lb = i == 0 ? &lo : &le;
            ssize_t n = read(fds[i].fd, lb->buf + lb->len, sizeof lb->buf - lb->len);
            if (n > 0) {
                lb->len += (size_t)n;
                drain(lb, i == 0, out, false);
            } else if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
                drain(lb, i == 0, out, true);
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0)
            close(fds[i].fd);
    int status = 0;
    /* The group leader may have exited while a child of it keeps the pipes open; the
     * timeout above has already killed the whole group in that case. */
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (out->timed_out) {
        snprintf(out->detail, sizeof out->detail, "timed out after %lds", timeout_seconds);
        return true;
    }
    kill(-pid, SIGKILL); /* nothing of the group outlives the batch */
    if (WIFEXITED(status)) {
        out->exit_code = WEXITSTATUS(status);
        out->ok = out->exit_code == 0;
        if (!out->ok)
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
    }
    return false;
}

void exec_result_free(struct exec_result *r)
{
    for (int i = 0; i < r->n_failed; i++)
        free(r->failed[i].reason);
    free(r->failed);
    free(r->stderr_tail);
    memset(r, 0, sizeof *r);
}
