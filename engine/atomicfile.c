/* Atomic, link-safe file creation (SPEC §4 step 6, §6 `-o`). Nothing here knows what the bytes
 * are; it must never open a path that an attacker could have planted as a symlink. */
#define _GNU_SOURCE
#include "atomicfile.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static char *dir_of(const char *path)
{
    char *copy = strdup(path);
    char *d = copy ? strdup(dirname(copy)) : NULL;
    free(copy);
    return d;
}

static void reset(struct afile *a)
{
    free(a->path);
    free(a->tmp);
    if (a->dirfd >= 0)
        close(a->dirfd);
    if (a->lockfd >= 0)
        close(a->lockfd);
    a->path = a->tmp = NULL;
    a->lockfd = -1;
    a->name = a->tmp_name = NULL;
    a->dirfd = -1;
    a->f = NULL;
    a->std = false;
}

/* The last component of PATH, in PATH. */
static const char *name_in(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* A temporary name no one can guess, so a link planted in a shared directory is never the
 * name we open; O_EXCL|O_NOFOLLOW would refuse it anyway, and we try another. Made in the
 * directory held open (a->dirfd); a->tmp names it for messages. */
static int open_temp(struct afile *a, mode_t mode)
{
    char *dir = dir_of(a->path);
    int fd = -1;
    if (!dir) {
        errno = ENOMEM;
        goto cleanup;
    }
    size_t n = strlen(dir) + strlen(a->name) + 32;
    a->tmp = malloc(n);
    if (!a->tmp) {
        errno = ENOMEM;
        goto cleanup;
    }
    a->tmp_name = a->tmp + strlen(dir) + 1;
    for (int attempt = 0; attempt < 16 && fd < 0; attempt++) {
        unsigned char r[8];
        if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
            goto cleanup;
        snprintf(a->tmp, n, "%s/.%s.%02x%02x%02x%02x%02x%02x%02x%02x.tmp", dir, a->name, r[0],
                 r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
        fd = openat(a->dirfd, a->tmp_name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                    mode);
        if (fd < 0 && errno != EEXIST)
            break;
        /* Locked while it lives (afile_sweep_in leaves a locked temporary alone). A sweep that
         * came between its creation and the lock has removed it: then another name. */
        struct stat st;
        if (fd >= 0 &&
            (flock(fd, LOCK_EX | LOCK_NB) != 0 || fstat(fd, &st) != 0 || st.st_nlink == 0)) {
            close(fd);
            fd = -1;
            errno = EEXIST;
        }
    }
cleanup:
    if (fd < 0) {
        int err = errno;
        free(a->tmp);
        a->tmp = NULL;
        a->tmp_name = NULL;
        errno = err;
    }
    free(dir);
    return fd;
}

/* 0 when a file can be created in DIR, else why not (an errno). The directory is opened for
 * reading too (the temporary is made, renamed and fsynced in it, and a dead writer's is swept
 * from it): one that can be written but not listed would pass a check of write access alone and
 * fail after connecting. */
static int dir_error(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return errno;
    if (!S_ISDIR(st.st_mode))
        return ENOTDIR;
    return access(dir, R_OK | W_OK | X_OK) != 0 ? errno : 0;
}

const char *afile_dir_refuses(const char *dir, char *why, size_t cap)
{
    int err = dir_error(dir);
    struct stat st;
    if (!err)
        return NULL;
    if (stat(dir, &st) != 0)
        snprintf(why, cap, "its directory '%s': %s", dir, strerror(err));
    else if (err == ENOTDIR)
        snprintf(why, cap, "'%s' is not a directory", dir);
    else
        snprintf(why, cap, "no file can be created in its directory '%s': %s", dir, strerror(err));
    return why;
}

/* Why no file can be created next to PATH, said as afile_open says it when the system refuses. */
static void create_failed(const char *what, const char *path, int err)
{
    log_error("%s: cannot create a file next to '%s': %s", what, path, strerror(err));
    char *copy = strdup(path);
    struct stat dst;
    bool no_dir = copy && (err == ENOENT || err == ENOTDIR) && stat(dirname(copy), &dst) != 0;
    free(copy);
    if (no_dir)
        log_hint("the directory of '%s' does not exist: create it first, or name a file in "
                 "one that does", path);
    else if (err == EROFS)
        log_hint("the directory of '%s' is on a read-only file system (under systemd's "
                 "ProtectSystem=strict, add it to ReadWritePaths= with a drop-in)", path);
    else if (err == EACCES || err == EPERM)
        log_hint("the file is written next to '%s' under a temporary name, then renamed "
                 "into place: its directory must be readable and writable by the user running "
                 "lethe",
                 path);
}

/* A regular file, or a new one, is written to a temporary next to it: its directory must take
 * one. Judged before a command connects, as a mistake in its options is, and said as the
 * failure itself would be. */
static bool dir_refused(const char *path, const char *what)
{
    char *dir = dir_of(path);
    int err = dir ? dir_error(dir) : ENOMEM;
    free(dir);
    if (err)
        create_failed(what, path, err);
    return err != 0;
}

bool afile_input_refused(FILE *f, const char *path, const char *command, const char *what)
{
    if (!f) {
        log_error("%s: cannot read '%s': %s", command, path, strerror(errno));
        return true;
    }
    struct stat st;
    if (f == stdin || fstat(fileno(f), &st) != 0 || S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode))
        return false;
    log_error("%s: cannot read '%s': it is %s, not %s", command, path,
              S_ISDIR(st.st_mode)    ? "a directory"
              : S_ISCHR(st.st_mode)  ? "a character device"
              : S_ISBLK(st.st_mode)  ? "a block device"
              : S_ISSOCK(st.st_mode) ? "a socket"
                                     : "no regular file",
              what);
    return true;
}

bool afile_refused(const char *path, const char *what)
{
    struct stat st;
    if (strcmp(path, "-") == 0)
        return false;
    if (lstat(path, &st) != 0)
        return dir_refused(path, what);
    if (S_ISLNK(st.st_mode) || S_ISDIR(st.st_mode)) {
        log_error("%s: '%s' is a %s; refusing to write there", what, path,
                  S_ISLNK(st.st_mode) ? "symbolic link" : "directory");
        log_hint("name a regular file (it is replaced whole), a device, a FIFO or '-'");
        return true;
    }
    if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode) &&
        !S_ISFIFO(st.st_mode)) {
        log_error("%s: '%s' is not a regular file, a device or a FIFO; refusing to replace it",
                  what, path);
        return true;
    }
    return S_ISREG(st.st_mode) && dir_refused(path, what);
}

/* The temporary, opened for writing in a->dirfd; KEEP_MODE, when not 0, the permissions of the
 * file it replaces. A caller passes them with S_IFREG set, so that a file with no permission
 * bits at all (mode 0000) still reads as "keep", not as "nothing to keep": only the low 12 bits
 * are applied. */
static enum afile_status open_in_dir(struct afile *a, mode_t mode, mode_t keep_mode,
                                     gid_t keep_gid, const char *what)
{
    int fd = open_temp(a, mode);
    if (fd < 0) {
        int err = errno;
        create_failed(what, a->path, err);
        reset(a);
        return AFILE_FAILED;
    }
    /* A file named with -o that is replaced keeps its permissions (an export kept 0600 stays
     * 0600), as the umask alone would not have them; so does the metrics file, which a new one
     * gets as asked (AFILE_MODE_FOR_READERS). */
    if (keep_mode && fchmod(fd, keep_mode & 07777) != 0) {
        log_error("%s: cannot give '%s' the permissions of '%s': %s", what, a->tmp, a->path,
                  strerror(errno));
        close(fd);
        unlinkat(a->dirfd, a->tmp_name, 0);
        reset(a);
        return AFILE_FAILED;
    }
    /* And its group: a metrics file given to the node exporter's group (0640) stays readable
     * by it. Only a group lethe's user is in can be given; another is said, not fatal. */
    struct stat made;
    if (keep_gid != (gid_t)-1 && fchown(fd, (uid_t)-1, keep_gid) != 0)
        log_warn("%s: '%s' belonged to group %ld, which lethe's user (not a member of it) cannot "
                 "give the file that replaces it: it has group %ld now",
                 what, a->path, (long)keep_gid,
                 fstat(fd, &made) == 0 ? (long)made.st_gid : (long)getegid());
    /* The lock outlives the stream, which afile_finish closes before afile_install renames. */
    a->lockfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    a->f = a->lockfd >= 0 ? fdopen(fd, "w") : NULL;
    if (!a->f) {
        log_error("%s: cannot write '%s': %s", what, a->tmp, strerror(errno));
        close(fd);
        unlinkat(a->dirfd, a->tmp_name, 0);
        reset(a);
        return AFILE_FAILED;
    }
    return AFILE_OK;
}

enum afile_status afile_open_in(struct afile *a, int dirfd, const char *path, mode_t mode,
                                const char *what)
{
    memset(a, 0, sizeof *a);
    a->dirfd = a->lockfd = -1;
    a->path = strdup(path);
    if (!a->path) {
        log_error("%s: out of memory", what);
        return AFILE_FAILED;
    }
    a->name = name_in(a->path);
    a->dirfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    if (a->dirfd < 0) {
        create_failed(what, path, errno);
        reset(a);
        return AFILE_FAILED;
    }
    return open_in_dir(a, mode, 0, (gid_t)-1, what);
}

enum afile_status afile_open(struct afile *a, const char *path, mode_t mode, unsigned flags,
                             const char *what)
{
    memset(a, 0, sizeof *a);
    a->dirfd = a->lockfd = -1;
    if ((flags & AFILE_THROUGH) && strcmp(path, "-") == 0) {
        a->f = stdout;
        a->std = true;
        return AFILE_OK;
    }
    a->path = strdup(path);
    if (!a->path) {
        log_error("%s: out of memory", what);
        return AFILE_FAILED;
    }
    struct stat st;
    bool exists = lstat(path, &st) == 0;
    if (exists && (flags & AFILE_THROUGH)) {
        if (afile_refused(path, what)) {
            reset(a);
            return AFILE_REFUSED;
        }
        if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISFIFO(st.st_mode)) {
            /* Written through: a device or a pipe is never replaced by a file. */
            int fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
            struct stat now;
            if (fd < 0 || fstat(fd, &now) != 0 || (now.st_mode & S_IFMT) != (st.st_mode & S_IFMT) ||
                !(a->f = fdopen(fd, "w"))) {
                log_error("%s: cannot write '%s': %s", what, path, strerror(errno ? errno : EIO));
                if (fd >= 0)
                    close(fd);
                reset(a);
                return AFILE_FAILED;
            }
            return AFILE_OK;
        }
    }
    /* The directory, opened once: the temporary is made, renamed and fsynced in it. */
    char *dir = dir_of(path);
    a->dirfd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    int err = dir ? errno : ENOMEM;
    free(dir);
    if (a->dirfd < 0) {
        create_failed(what, path, err);
        reset(a);
        return AFILE_FAILED;
    }
    a->name = name_in(a->path);
    /* What a writer killed before its rename left here (a temporary still locked is another
     * writer's, alive). */
    afile_sweep_in(a->dirfd, a->name);
    bool keep = exists && (flags & (AFILE_THROUGH | AFILE_MODE_FOR_READERS)) && S_ISREG(st.st_mode);
    mode_t exact = keep ? (st.st_mode & 07777) | S_IFREG
                   : flags & AFILE_MODE_FOR_READERS ? (mode & 07777) | S_IFREG : 0;
    return open_in_dir(a, mode, exact, keep ? st.st_gid : (gid_t)-1, what);
}

bool afile_finish(struct afile *a, const char *what)
{
    if (a->std) {
        if (fflush(stdout) != 0 || ferror(stdout)) {
            log_error("%s: cannot write to standard output: %s", what, strerror(errno));
            return false;
        }
        return true;
    }
    bool ok = fflush(a->f) == 0 && !ferror(a->f);
    /* A device or a FIFO may not take fsync (EINVAL): its bytes are already handed over. */
    if (ok && fsync(fileno(a->f)) != 0 && (a->tmp || (errno != EINVAL && errno != EROFS)))
        ok = false;
    int err = errno ? errno : EIO;
    if (fclose(a->f) != 0 && ok) {
        ok = false;
        err = errno;
    }
    a->f = NULL;
    if (!ok) {
        log_error("%s: cannot write '%s': %s", what, a->path, strerror(err));
        afile_abandon(a);
    }
    return ok;
}

bool afile_install(struct afile *a, const char *what)
{
    bool ok = true;
    if (a->tmp) {
        if (renameat(a->dirfd, a->tmp_name, a->dirfd, a->name) != 0) {
            log_error("%s: cannot rename '%s' to '%s': %s", what, a->tmp, a->path, strerror(errno));
            afile_abandon(a);
            return false;
        }
        if (fsync(a->dirfd) != 0) {
            int err = errno;
            char *dir = dir_of(a->path);
            log_error("%s: cannot fsync '%s': %s", what, dir ? dir : a->path, strerror(err));
            free(dir);
            ok = false;
        }
    }
    reset(a);
    return ok;
}

bool afile_commit(struct afile *a, const char *what)
{
    return afile_finish(a, what) && afile_install(a, what);
}

void afile_sweep(const char *path)
{
    char *dir = dir_of(path);
    int fd = dir ? open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
    if (fd >= 0) {
        afile_sweep_in(fd, name_in(path));
        close(fd);
    }
    free(dir);
}

void afile_sweep_in(int dir_fd, const char *base)
{
    int fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        return;
    }
    rewinddir(d); /* the copy shares its offset with DIR_FD */
    size_t bl = strlen(base);
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        size_t l = strlen(n);
        if (l != bl + 22 || n[0] != '.' || strncmp(n + 1, base, bl) != 0 || n[bl + 1] != '.' ||
            strcmp(n + l - 4, ".tmp") != 0)
            continue;
        bool hex = true;
        for (size_t i = bl + 2; i < bl + 18 && hex; i++)
            hex = (n[i] >= '0' && n[i] <= '9') || (n[i] >= 'a' && n[i] <= 'f');
        if (!hex)
            continue;
        /* A regular temporary whose writer lives is locked by it (open_temp); one that cannot
         * be opened to tell is left alone. Anything else with such a name (a planted link, a
         * FIFO) is no writer's and is not opened; unlinkat removes a link itself, never what it
         * points at. */
        struct stat st;
        if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        int tfd = S_ISREG(st.st_mode)
                      ? openat(dirfd(d), n, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
                      : -1;
        bool dead = !S_ISREG(st.st_mode) || (tfd >= 0 && flock(tfd, LOCK_EX | LOCK_NB) == 0);
        if (dead && unlinkat(dirfd(d), n, 0) == 0)
            log_debug("removed '%s', left by a writer that died", n);
        if (tfd >= 0)
            close(tfd);
    }
    closedir(d);
}

void afile_abandon(struct afile *a)
{
    /* Never opened (a caller's "= {0}"): its descriptors are not ours to close. */
    if (!a->path && !a->f)
        return;
    if (a->f && !a->std)
        fclose(a->f);
    a->f = NULL;
    if (a->tmp)
        unlinkat(a->dirfd, a->tmp_name, 0);
    reset(a);
}
