/* Manifest files. The content comes from lethe.manifest_rows(), so that a manifest can be
 * written again byte for byte; this file only moves bytes and makes them durable, and hands
 * each item's locator, as it streams past, to the HMACs recorded with it (dbrestore.h). */
#define _POSIX_C_SOURCE 200809L
#include "manifest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "dbrestore.h"
#include "db.h"
#include "dbcycle.h"
#include "fault.h"
#include "ids.h"
#include "log.h"
#include "operator.h"

bool manifest_valid_location(const char *g)
{
    size_t n = strlen(g);
    if (n == 0 || n > 32 || !(g[0] >= 'A' && g[0] <= 'Z'))
        return false;
    for (const char *p = g; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return false;
    return true;
}

bool manifest_path(const char *spool, const char *location, const char *batch_id, char *path,
                   size_t len)
{
    char id[UUID_TEXT_LEN];
    if (!manifest_valid_location(location) || !id_parse(batch_id, id))
        return false;
    return (size_t)snprintf(path, len, "%s/%s/%s.jsonl", spool, location, id) < len;
}

static bool ensure_dir(const char *dir)
{
    if (mkdir(dir, 0750) == 0 || errno == EEXIST)
        return true;
    log_error("spool: cannot create '%s': %s", dir, strerror(errno));
    log_hint("create the spool directory and make it writable by the lethe user");
    return false;
}

/* A location's directory is lethe's own, made by ensure_dir: a link there was planted (the
 * spool may be writable by a deleter's group), and the manifest, with its locators, would be
 * written wherever it points. The spool itself is the config's, and may be a link. Opened
 * without following a link, and held: the manifest is written in the directory opened, even
 * if a link takes its name a moment later. The descriptor, or -1 after saying why. */
static int own_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0)
        return fd;
    struct stat st;
    if ((errno != ELOOP && errno != ENOTDIR) || lstat(dir, &st) != 0) {
        int err = errno;
        log_error("spool: cannot read '%s': %s", dir, strerror(err));
        /* A run by hand as another user (root) made it theirs, 0750: every run of the service
         * user fails here after. */
        if (err == EACCES && lstat(dir, &st) == 0 && st.st_uid != geteuid()) {
            /* Named as they are on this machine: the service user need not be called lethe. */
            char owner[64], me[64];
            if (user_name(st.st_uid, owner, sizeof owner) && user_name(geteuid(), me, sizeof me))
                log_hint("'%s' belongs to %s, uid %ld (a run by hand as another user made it?): "
                         "give it to %s, the user this run is, e.g. chown -R %s: '%s', and run "
                         "lethe by hand as that user (sudo -u %s lethe run)",
                         dir, owner, (long)st.st_uid, me, me, dir, me);
            else
                log_hint("'%s' belongs to uid %ld (a run by hand as another user made it?): give "
                         "it to uid %ld, the user this run is (chown -R), and run lethe by hand "
                         "as that user",
                         dir, (long)st.st_uid, (long)geteuid());
        }
        return -1;
    }
    log_error("spool: '%s' is %s, not the directory lethe makes for the location's manifests",
              dir, S_ISLNK(st.st_mode) ? "a symbolic link" : "not a directory");
    if (S_ISLNK(st.st_mode))
        log_hint("lethe never writes a manifest through a link planted in the spool: remove it "
                 "(the next run makes the directory and writes the batch's manifest there)");
    else
        log_hint("something else took the location directory's name in the spool: move it "
                 "aside (the next run makes the directory and writes the batch's manifest there)");
    return -1;
}

/* The crash suite's stand-in for someone who may write in the spool, at the worst moment: the
 * location's directory, just opened, is moved aside and a link to LETHE_FAULT_TARGET takes its
 * name (LETHE_FAULT=spool_swap; without the variable, nothing). */
static void fault_swap(const char *dir)
{
    const char *target = getenv("LETHE_FAULT_TARGET");
    char moved[4200];
    if (!fault_active("spool_swap") || !target)
        return;
    snprintf(moved, sizeof moved, "%s.moved", dir);
    if (rename(dir, moved) != 0 || symlink(target, dir) != 0)
        log_warn("spool: fault spool_swap: %s", strerror(errno));
}

bool manifest_write(PGconn *db, const struct audit_key *key, const char *spool,
                    const char *location, const char *batch_id, char *path, size_t len,
                    struct exec_items *items)
{
    char dir[4096];
    if (!manifest_path(spool, location, batch_id, path, len)) {
        log_error("spool: refusing unsafe manifest path for location \"%s\"", location);
        return false;
    }
    snprintf(dir, sizeof dir, "%s/%s", spool, location);
    int dfd;
    /* The spool's parent too, one level, as the anchor file's directory is made: on a new
     * install the default /var/lib/lethe/spool is the first thing lethe writes there. */
    char *copy = strdup(spool), *up = copy ? dirname(copy) : NULL;
    if (up && mkdir(up, 0750) == 0)
        log_info("spool: created '%s'", up);
    free(copy);
    if (!ensure_dir(spool) || !ensure_dir(dir) || (dfd = own_dir(dir)) < 0)
        return false;
    fault_swap(dir);
    bool ok = false, in_query = false;
    struct locator_hmacs hm;
    locator_hmacs_init(&hm, key);
    /* The spool may be writable by others (a deleter's group): the temporary is never a
     * name they could have planted a link at, and it is made in the directory opened. */
    struct afile af;
    afile_sweep_in(dfd, path + strlen(dir) + 1);
    enum afile_status os = afile_open_in(&af, dfd, path, 0640, "spool");
    close(dfd);
    if (os != AFILE_OK) {
        locator_hmacs_free(&hm);
        return false;
    }
    FILE *f = af.f;
    if (!dbcycle_send_manifest_rows(db, batch_id))
        goto cleanup;
    in_query = true;
    bool write_failed = false, query_failed = false, hmac_failed = false;
    int write_errno = 0;
    long lines = 0;
    /* Every row comes in a result of its own, with the same columns: looked up once. */
    int c_line = -1, c_tenant = -1, c_item = -1, c_locator = -1;
    PGresult *res;
    while ((res = PQgetResult(db)) != NULL) {
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_SINGLE_TUPLE && c_line < 0) {
            c_line = db_col(res, "line");
            c_tenant = db_col(res, "tenant_id");
            c_item = db_col(res, "item_id");
            c_locator = db_col(res, "locator");
        }
        if (st == PGRES_SINGLE_TUPLE) {
            if (!write_failed) {
                fputs(PQgetvalue(res, 0, c_line), f);
                fputc('\n', f);
                lines++;
                if (fault_active("enospc") && lines > 1) {
                    errno = ENOSPC;
                    write_failed = true;
                }
                if (ferror(f))
                    write_failed = true;
                /* Kept now: what runs after (libpq, libcrypto) may set errno again. */
                if (write_failed)
                    write_errno = errno ? errno : EIO;
            }
            if (items && !write_failed && !hmac_failed && !PQgetisnull(res, 0, c_item) &&
                !exec_items_add(items, PQgetvalue(res, 0, c_item)))
                hmac_failed = true; /* out of memory, as a failed HMAC is */
            if (!write_failed && !hmac_failed && !PQgetisnull(res, 0, c_locator) &&
                !locator_hmacs_add(&hm, PQgetvalue(res, 0, c_tenant), PQgetvalue(res, 0, c_item),
                                   PQgetvalue(res, 0, c_locator),
                                   (size_t)PQgetlength(res, 0, c_locator)))
                hmac_failed = true;
        } else if (st != PGRES_TUPLES_OK) {
            /* The cause, also for the run's error: a lost connection has no primary field. */
            db_report_failure(db, res);
            query_failed = true;
        }
        PQclear(res);
    }
    in_query = false;
    if (items && !query_failed && !hmac_failed && !exec_items_seal(items)) {
        log_error("spool: out of memory for the batch's item ids");
        goto cleanup;
    }
    if (query_failed || hmac_failed)
        goto cleanup;
    if (lines == 0 && !write_failed) {
        log_error("spool: batch %s is unknown", batch_id);
        goto cleanup;
    }
    if (write_failed) {
        log_error("spool: cannot write '%s': %s", path, strerror(write_errno));
        log_hint("free space in the spool (df %s); nothing was lost, the batch stays open", spool);
        goto cleanup;
    }
    if (!afile_finish(&af, "spool")) {
        log_hint("free space in the spool (df %s); nothing was lost, the batch stays open", spool);
        goto cleanup;
    }
    /* Recorded before the rename: the locators are kept as HMACs from the moment a deleter
     * can see them (SPEC §7). */
    if (!dbrestore_record_locator_hmacs(db, &hm, location, batch_id))
        goto cleanup;
    fault_point("manifest_before_rename");
    ok = afile_install(&af, "spool");
cleanup:
    if (in_query) {
        PGresult *r;
        while ((r = PQgetResult(db)) != NULL)
            PQclear(r);
    }
    if (!ok)
        afile_abandon(&af);
    locator_hmacs_free(&hm);
    return ok;
}

/* The manifests in one location's directory (DIR_FD, lethe's own) whose batch the catalog does
 * not hold, older than keep: removed. A restore takes the batches emitted after the backup
 * from the catalog but not their manifests from the spool, and nothing else ever removed
 * them, with their locators in clear. A manifest is written after its batch is committed, so
 * one without a batch is a restore's (or of another database's, the spool shared by mistake:
 * removed the same way, once as old as keep). Only the names lethe writes (UUID.jsonl) are
 * looked at, and only their ids are sent. Returns how many were removed, or -1. */
static long prune_strays_in(PGconn *db, int dir_fd, const char *dir, const char *keep_interval)
{
    int fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    if (!d) {
        if (fd >= 0)
            close(fd);
        log_warn("spool: cannot read '%s': %s", dir, strerror(errno));
        return -1;
    }
    char *ids = NULL;
    size_t used = 0, cap = 0;
    long found = 0, removed = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        char id[UUID_TEXT_LEN], name[UUID_TEXT_LEN];
        if (strlen(n) != 42 || strcmp(n + 36, ".jsonl") != 0)
            continue;
        memcpy(name, n, 36);
        name[36] = '\0';
        if (!id_parse(name, id) || strcmp(id, name) != 0)
            continue;
        if (used + 40 > cap) {
            char *g = realloc(ids, cap = cap * 2 + 4096);
            if (!g) {
                free(ids);
                closedir(d);
                log_error("out of memory");
                return -1;
            }
            ids = g;
        }
        used += (size_t)sprintf(ids + used, "%c%s", found++ ? ',' : '{', id);
    }
    closedir(d);
    if (!found)
        return 0;
    strcpy(ids + used, "}");
    PGresult *res = dbcycle_batches_unknown(db, ids, keep_interval);
    free(ids);
    if (!res)
        return -1;
    for (int i = 0; i < PQntuples(res); i++) {
        char name[64];
        struct stat st;
        snprintf(name, sizeof name, "%s.jsonl", db_str(res, i, "batch_id"));
        /* lethe writes a manifest as a regular file of one link (a temporary renamed): a link,
         * a FIFO, a directory or a second name of another file is not one of its own. */
        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
            st.st_nlink != 1 || (long long)st.st_mtime >= strtoll(db_str(res, i, "cutoff"), NULL, 10))
            continue;
        if (unlinkat(dir_fd, name, 0) != 0) {
            if (errno != ENOENT) /* else another shard's run took it meanwhile */
                log_warn("spool: cannot remove '%s/%s': %s", dir, name, strerror(errno));
            continue;
        }
        log_info("spool: removed '%s/%s', the manifest of a batch the catalog does not hold "
                 "(emitted after the backup a restore went back to), older than spool.keep",
                 dir, name);
        removed++;
    }
    PQclear(res);
    return removed;
}

/* The strays of every location's directory in the spool. */
static long prune_strays(PGconn *db, const char *spool, const char *keep_interval)
{
    DIR *d = opendir(spool);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    long removed = 0;
    struct dirent *e;
    while ((e = readdir(d)) && removed >= 0) {
        if (!manifest_valid_location(e->d_name))
            continue;
        char dir[4200];
        snprintf(dir, sizeof dir, "%s/%s", spool, e->d_name);
        int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            continue; /* not lethe's directory: writing there says why */
        long n = prune_strays_in(db, fd, dir, keep_interval);
        close(fd);
        removed = n < 0 ? -1 : removed + n;
    }
    closedir(d);
    return removed;
}

long manifest_prune(PGconn *db, const char *spool, const char *keep_interval)
{
    if (prune_strays(db, spool, keep_interval) < 0)
        log_warn("spool: the manifests of batches the catalog does not hold were not all looked at");
    PGresult *res = dbcycle_manifests_to_prune(db, keep_interval);
    if (!res)
        return -1;
    /* Unlink the files, then record them all in one statement: ids as an array literal of
     * UUIDs the database itself returned. */
    int n = PQntuples(res);
    char *ids = malloc((size_t)n * 37 + 3);
    if (!ids) {
        PQclear(res);
        return -1;
    }
    size_t used = 0;
    long removed = 0;
    ids[used++] = '{';
    for (int i = 0; i < n; i++) {
        char path[4200];
        const char *id = db_str(res, i, "batch_id");
        if (!manifest_path(spool, db_str(res, i, "location"), id, path, sizeof path))
            continue;
        if (unlink(path) != 0 && errno != ENOENT) {
            log_warn("spool: cannot remove '%s': %s", path, strerror(errno));
            continue;
        }
        used += (size_t)sprintf(ids + used, "%s%s", removed ? "," : "", id);
        removed++;
    }
    ids[used++] = '}';
    ids[used] = '\0';
    if (removed && !dbcycle_manifests_removed(db, ids))
        removed = -1;
    free(ids);
    PQclear(res);
    return removed;
}
