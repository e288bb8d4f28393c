/* The one writer of every file lethe creates (manifests, exports, metrics): a temporary made
 * with O_CREAT|O_EXCL|O_NOFOLLOW next to the target, fsynced, renamed over it, and the
 * directory fsynced, so a file appears whole or not at all and never through a planted link.
 * The directory is opened once and every step is taken in it (openat, renameat). */
#ifndef LETHE_ATOMICFILE_H
#define LETHE_ATOMICFILE_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/types.h>

/* afile_open flags. AFILE_THROUGH is SPEC §6's rule for `-o FILE`: "-" is standard output,
 * a device or FIFO is written through (never replaced), a symlink or a directory is refused. */
#define AFILE_THROUGH 1u
/* A regular file replaced keeps its permission bits and its group, and a new one gets MODE
 * exactly, whatever the umask: for a file another user reads (the metrics, read by a node
 * exporter). */
#define AFILE_MODE_FOR_READERS 2u

enum afile_status { AFILE_OK = 0, AFILE_FAILED = -1, AFILE_REFUSED = -2 };

struct afile {
    char *path;           /* the target */
    char *tmp;            /* the temporary renamed over it; NULL when written through */
    FILE *f;              /* where to write */
    bool std;             /* f is stdout */
    int dirfd;            /* the directory both are in, held open; -1 when written through */
    int lockfd;           /* the temporary, flocked until it is renamed or removed; or -1 */
    const char *name;     /* the target's name in it (in path) */
    const char *tmp_name; /* the temporary's (in tmp) */
};

/* Opens PATH for writing (MODE before the umask). WHAT prefixes messages ("export", "spool").
 * AFILE_REFUSED: the target is a symlink, a directory or something else that must not be
 * replaced (a usage error); AFILE_FAILED: the system said no. Both have printed why. With
 * AFILE_THROUGH, a regular file replaced keeps its permission bits and its group. */
enum afile_status afile_open(struct afile *a, const char *path, mode_t mode, unsigned flags,
                             const char *what);
/* afile_open for PATH, whose directory the caller holds open as DIRFD (it may have opened it
 * with O_NOFOLLOW, so that a link planted in its place afterwards changes nothing): the
 * temporary is made, renamed and fsynced in that directory, whatever its name leads to by
 * then. DIRFD stays the caller's. No AFILE_THROUGH. */
enum afile_status afile_open_in(struct afile *a, int dirfd, const char *path, mode_t mode,
                                const char *what);
/* Whether PATH is a symlink, a directory or another thing -o must not write to (SPEC §6), or a
 * file (new, or regular and replaced) whose directory cannot take the temporary written next to
 * it, said with a hint: for a command to judge its -o before it connects. "-" passes. */
bool afile_refused(const char *path, const char *what);
/* Whether F, opened from PATH to read WHAT ("an export", ...) from (NULL: the open failed, and
 * errno says why), is refused: said as COMMAND's error, without a hint. Standard input passes;
 * a regular file or a FIFO (the end of a pipe) passes, a directory or a device does not (/dev/zero
 * was read forever, its one line growing in memory: an outside tryout's finding). */
bool afile_input_refused(FILE *f, const char *path, const char *command, const char *what);
/* Why no file can be created in DIR (missing, not a directory, not writable), in WHY, or NULL. */
const char *afile_dir_refuses(const char *dir, char *why, size_t cap);
/* Flushes and makes the data durable, and closes it. False after printing why; the temporary
 * is then gone. */
bool afile_finish(struct afile *a, const char *what);
/* Renames the finished temporary over the target and fsyncs the directory. */
bool afile_install(struct afile *a, const char *what);
/* afile_finish, then afile_install. */
bool afile_commit(struct afile *a, const char *what);
/* Removes temporaries of PATH that a killed writer left behind (".<name>.<16 hex>.tmp" next to
 * it). A writer holds an flock on its temporary until it is renamed: a locked one is left. afile_open
 * sweeps before it writes. */
void afile_sweep(const char *path);
/* afile_sweep in the directory held open as DIR_FD, for the target named NAME there. */
void afile_sweep_in(int dir_fd, const char *name);
/* Closes and removes the temporary: the target is left as it was. */
void afile_abandon(struct afile *a);

#endif
