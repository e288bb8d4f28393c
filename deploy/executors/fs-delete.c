/* fs-delete: a lethe executor (SPEC §4) for a store kept in one directory tree. It deletes the
 * file that each manifest item's file:// locator names and never touches anything outside its
 * root: not through "..", not through a symlinked directory, not through a final symlink.
 *
 * usage: fs-delete [--root DIR] MANIFEST
 *        fs-delete --inventory ROOT
 *   The root is --root, else $LETHE_FS_ROOT. LETHE_BATCH_ID and LETHE_LOCATION, when set (lethe
 *   sets both), must match the manifest's header, or nothing is deleted.
 *   --inventory prints the store's inventory for lethe reconcile (SPEC §7) and deletes nothing:
 *   one locator per line for every file (and symlink) under ROOT, in the form below, with ROOT
 *   as given (made absolute); symlinked directories are not followed.
 *
 * Locators. "file://" (or "file://localhost") followed by an absolute path, percent-escapes
 * decoded (RFC 8089); "?" and "#" are part of the path. Anything else is a failed item. The
 * inventory writes "file://" and the absolute path with "%", control characters and DEL
 * percent-escaped and every other byte as it is; reconcile matches locators byte for byte, so
 * a catalog whose locators are written that way is recognised.
 *
 * What counts as inside the root. The locator's parent directory is resolved with realpath(3)
 * and must be the realpath of the root or lie below it; the directories are then opened one by
 * one from the root with O_NOFOLLOW, so a symlink swapped in after the check is refused too.
 * The last component is never followed: if it is a symlink, the link itself is removed (it lives
 * inside the root, and it is the object the catalog names) and its target, inside or outside
 * the root, is left alone. A directory is never removed. When the parent directory does not
 * exist the file cannot exist either: such an item counts as deleted if the path, normalised
 * lexically, lies under the root as given or its realpath, and is refused otherwise.
 *
 * Output. stdout carries one receipt per item (SPEC §4), as soon as the item is dealt with:
 * "deleted <item_id>", "absent <item_id>" (it was already gone) or "failed <item_id> <reason>";
 * reasons are short, one line, and never contain the locator. stdout is flushed after every
 * receipt, so a deletion already done still counts if fs-delete is killed later. stderr gets
 * one summary line and fatal errors.
 *
 * Exit codes: 0 the manifest was processed (some items may have failed); 1 the manifest cannot
 * be read or is malformed, does not match LETHE_BATCH_ID/LETHE_LOCATION, or the failure report
 * could not be written (lethe must then not take silence for success); 2 a usage error, no
 * root, or a root that is not a usable directory. On 1 and 2 nothing has been deleted, except
 * when writing the report fails midway. --inventory exits 0 when it listed the whole store, 1
 * when a directory could not be read or the list not written, 2 without a usable root. */
#define _GNU_SOURCE /* O_PATH */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

enum { EXIT_DONE = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

/* The members SPEC §4 promises on every item line; a line without one is not a lethe manifest. */
static const char *const item_members[] = {"item_id", "tenant_id",   "workspace_id", "kind",
                                           "locator", "rule",        "deadline_at"};
static const char *const header_members[] = {"batch_id", "run_id", "location", "created_at"};

struct root {
    char real[PATH_MAX];  /* realpath of the root */
    char given[PATH_MAX]; /* the root as given, made absolute and normalised lexically */
    int fd;               /* O_PATH descriptor of real */
};

struct counts {
    long deleted, missing, failed;
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: fs-delete [--root DIR] MANIFEST\n"
            "       fs-delete --inventory ROOT\n"
            "\n"
            "Deletes the files named by a lethe manifest's file:// locators, inside DIR only.\n"
            "Prints one receipt per item: 'deleted <item_id>', 'absent <item_id>' or\n"
            "'failed <item_id> <reason>'.\n"
            "\n"
            "  --root DIR   the store's root (default $LETHE_FS_ROOT)\n"
            "  --inventory ROOT\n"
            "               print one locator per line for every file under ROOT (for\n"
            "               'lethe reconcile'); deletes nothing\n"
            "  --help       this text\n"
            "\n"
            "exit codes: 0 manifest processed, 1 bad manifest or report not written,\n"
            "            2 usage error or unusable root\n");
}

static bool is_uuid(const char *s)
{
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
            return false;
    }
    return s[36] == '\0';
}

static bool under(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* Collapses "//", "." and ".." of an absolute path in place, as text, without the file system
 * ("/.." stays "/"). Used only where the path does not exist. */
static void normalise(char *path)
{
    /* The result is written over the input; it never gets ahead of the reading position,
     * since each kept component was preceded by at least one '/'. */
    size_t len = 0;
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        const char *c = p;
        while (*p && *p != '/')
            p++;
        size_t n = (size_t)(p - c);
        if (n == 0 || (n == 1 && c[0] == '.'))
            continue;
        if (n == 2 && c[0] == '.' && c[1] == '.') {
            while (len > 0 && path[len - 1] != '/')
                len--;
            if (len > 0)
                len--;
            continue;
        }
        path[len++] = '/';
        memmove(path + len, c, n);
        len += n;
    }
    if (len == 0)
        path[len++] = '/';
    path[len] = '\0';
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Turns a locator into an absolute path in OUT; returns NULL or the reason it cannot. */
static const char *locator_path(const char *loc, size_t loc_len, char *out)
{
    if (loc_len != strlen(loc))
        return "locator contains a NUL byte";
    if (strncasecmp(loc, "file://", 7) != 0)
        return "not a file:// locator";
    const char *p = loc + 7;
    if (strncasecmp(p, "localhost/", 10) == 0)
        p += 9;
    if (*p != '/')
        return "not a local absolute file:// path";
    size_t n = 0;
    for (; *p; p++) {
        int c = (unsigned char)*p;
        if (c == '%') {
            int hi = hexval((unsigned char)p[1]), lo = hi < 0 ? -1 : hexval((unsigned char)p[2]);
            if (hi < 0 || lo < 0)
                return "bad percent-escape in locator";
            c = hi * 16 + lo;
            if (c == 0)
                return "locator contains a NUL byte";
            p += 2;
        }
        if (n + 1 >= PATH_MAX)
            return "path too long";
        out[n++] = (char)c;
    }
    out[n] = '\0';
    return NULL;
}

enum outcome { DELETED, MISSING, FAILED };

/* Deletes PATH if it lies inside the root. On FAILED, REASON holds why. */
static enum outcome delete_path(const struct root *root, char *path, char *reason, size_t rlen)
{
    char *slash = strrchr(path, '/');
    const char *base = slash + 1;
    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
        snprintf(reason, rlen, "locator names a directory");
        return FAILED;
    }
    char dir[PATH_MAX], real[PATH_MAX];
    if (slash == path)
        strcpy(dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    if (!realpath(dir, real)) {
        if (errno == ENOENT || errno == ENOTDIR) {
            normalise(path);
            if (under(path, root->real) || under(path, root->given))
                return MISSING;
            snprintf(reason, rlen, "outside the root");
            return FAILED;
        }
        snprintf(reason, rlen, "cannot resolve the directory: %s", strerror(errno));
        return FAILED;
    }
    if (!under(real, root->real)) {
        snprintf(reason, rlen, "outside the root");
        return FAILED;
    }

    /* realpath and the deletion are two steps; walking down from the root without following
     * any symlink makes sure the directory we delete in is still the one we checked. */
    enum outcome result = FAILED;
    int fd = dup(root->fd);
    if (fd < 0) {
        snprintf(reason, rlen, "cannot open the root: %s", strerror(errno));
        return FAILED;
    }
    char *rest = real + strlen(root->real);
    for (char *save = NULL, *comp = strtok_r(rest, "/", &save); comp;
         comp = strtok_r(NULL, "/", &save)) {
        int next = openat(fd, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0) {
            if (errno == ENOENT)
                result = MISSING;
            else if (errno == ELOOP || errno == ENOTDIR)
                snprintf(reason, rlen, "path changed during deletion");
            else
                snprintf(reason, rlen, "cannot open the directory: %s", strerror(errno));
            goto cleanup;
        }
        close(fd);
        fd = next;
    }
    struct stat st;
    if (fstatat(fd, base, &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno == ENOENT)
            result = MISSING;
        else
            snprintf(reason, rlen, "cannot stat: %s", strerror(errno));
        goto cleanup;
    }
    if (S_ISDIR(st.st_mode)) {
        snprintf(reason, rlen, "is a directory");
        goto cleanup;
    }
    if (unlinkat(fd, base, 0) == 0)
        result = DELETED;
    else if (errno == ENOENT)
        result = MISSING;
    else if (errno == EISDIR)
        snprintf(reason, rlen, "is a directory");
    else
        snprintf(reason, rlen, "cannot delete: %s", strerror(errno));
cleanup:
    close(fd);
    return result;
}

static bool open_root(const char *given, struct root *root)
{
    if (!given || !*given) {
        fprintf(stderr, "fs-delete: error: no root given\n"
                        "hint: pass --root DIR or set LETHE_FS_ROOT\n");
        return false;
    }
    if (!realpath(given, root->real)) {
        fprintf(stderr, "fs-delete: error: cannot use root '%s': %s\n", given, strerror(errno));
        return false;
    }
    if (strcmp(root->real, "/") == 0) {
        fprintf(stderr, "fs-delete: error: refusing '/' as the root\n"
                        "hint: name the store's own directory\n");
        return false;
    }
    root->fd = open(root->real, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root->fd < 0) {
        fprintf(stderr, "fs-delete: error: cannot use root '%s': %s\n", given, strerror(errno));
        return false;
    }
    if (given[0] == '/') {
        snprintf(root->given, sizeof root->given, "%s", given);
    } else {
        char cwd[PATH_MAX];
        if (!getcwd(cwd, sizeof cwd) ||
            snprintf(root->given, sizeof root->given, "%s/%s", cwd, given) >=
                (int)sizeof root->given)
            snprintf(root->given, sizeof root->given, "%s", root->real);
    }
    normalise(root->given);
    if (strcmp(root->given, "/") == 0)
        snprintf(root->given, sizeof root->given, "%s", root->real);
    return true;
}

static void bad_line(const char *file, long line, const char *what)
{
    fprintf(stderr, "fs-delete: error: '%s' line %ld: %s\n", file, line, what);
}

static json_t *parse_line(const char *file, long line, const char *text, size_t len)
{
    json_error_t err;
    json_t *v = json_loadb(text, len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &err);
    if (!v) {
        char what[300];
        snprintf(what, sizeof what, "not JSON: %s", err.text);
        bad_line(file, line, what);
        return NULL;
    }
    if (!json_is_object(v)) {
        bad_line(file, line, "not a JSON object");
        json_decref(v);
        return NULL;
    }
    return v;
}

static bool check_env(const char *file, const char *var, const json_t *header, const char *member)
{
    const char *want = getenv(var);
    const char *have = json_string_value(json_object_get(header, member));
    if (!want || strcmp(want, have) == 0)
        return true;
    fprintf(stderr, "fs-delete: error: '%s' is for %s '%s', but %s is '%s'\n", file, member, have,
            var, want);
    return false;
}

static bool check_header(const char *file, const json_t *h, long long *items)
{
    for (size_t i = 0; i < sizeof header_members / sizeof *header_members; i++) {
        if (!json_is_string(json_object_get(h, header_members[i]))) {
            char what[100];
            snprintf(what, sizeof what, "header has no string \"%s\"", header_members[i]);
            bad_line(file, 1, what);
            return false;
        }
    }
    const json_t *n = json_object_get(h, "items");
    if (!json_is_integer(n) || json_integer_value(n) < 0) {
        bad_line(file, 1, "header has no item count \"items\"");
        return false;
    }
    *items = json_integer_value(n);
    return check_env(file, "LETHE_BATCH_ID", h, "batch_id") &&
           check_env(file, "LETHE_LOCATION", h, "location");
}

static bool check_item(const char *file, long line, const json_t *item)
{
    for (size_t i = 0; i < sizeof item_members / sizeof *item_members; i++) {
        if (!json_object_get(item, item_members[i])) {
            char what[100];
            snprintf(what, sizeof what, "item has no \"%s\"", item_members[i]);
            bad_line(file, line, what);
            return false;
        }
    }
    const char *id = json_string_value(json_object_get(item, "item_id"));
    if (!id || !is_uuid(id)) {
        bad_line(file, line, "item_id is not a UUID");
        return false;
    }
    return true;
}

/* The whole manifest is checked before anything is deleted, so a truncated or foreign file
 * fails the batch without having half-run it. Each line is parsed again in the second pass;
 * that keeps memory flat however large the batch. */
static bool check_manifest(FILE *f, const char *file)
{
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    long line = 0;
    long long want = -1;
    bool ok = false;
    while ((len = getline(&buf, &cap, f)) >= 0) {
        line++;
        json_t *v = parse_line(file, line, buf, (size_t)len);
        if (!v)
            goto cleanup;
        bool good = line == 1 ? check_header(file, v, &want) : check_item(file, line, v);
        json_decref(v);
        if (!good)
            goto cleanup;
    }
    if (ferror(f)) {
        fprintf(stderr, "fs-delete: error: cannot read '%s': %s\n", file, strerror(errno));
        goto cleanup;
    }
    if (line == 0) {
        fprintf(stderr, "fs-delete: error: '%s' is empty\n", file);
        goto cleanup;
    }
    if (line - 1 != want) {
        fprintf(stderr, "fs-delete: error: '%s': the header announces %lld items, found %ld\n",
                file, want, line - 1);
        goto cleanup;
    }
    ok = true;
cleanup:
    free(buf);
    return ok;
}

static void report_failed(const char *id, char *reason, struct counts *c)
{
    for (char *p = reason; *p; p++)
        if (iscntrl((unsigned char)*p))
            *p = ' ';
    printf("failed %s %s\n", id, reason);
    fflush(stdout);
    c->failed++;
}

static void receipt(const char *word, const char *id)
{
    printf("%s %s\n", word, id);
    fflush(stdout);
}

static bool process_manifest(FILE *f, const char *file, const struct root *root, struct counts *c)
{
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    long line = 0;
    bool ok = false;
    while ((len = getline(&buf, &cap, f)) >= 0) {
        if (++line == 1)
            continue;
        json_t *item = parse_line(file, line, buf, (size_t)len);
        if (!item)
            goto cleanup; /* the file changed since it was checked */
        const char *id = json_string_value(json_object_get(item, "item_id"));
        const json_t *loc = json_object_get(item, "locator");
        char path[PATH_MAX], reason[256];
        const char *why = json_is_string(loc)
                              ? locator_path(json_string_value(loc), json_string_length(loc), path)
                              : "locator is not a string";
        if (why) {
            snprintf(reason, sizeof reason, "%s", why);
            report_failed(id, reason, c);
        } else {
            switch (delete_path(root, path, reason, sizeof reason)) {
            case DELETED:
                receipt("deleted", id);
                c->deleted++;
                break;
            case MISSING:
                receipt("absent", id);
                c->missing++;
                break;
            case FAILED:
                report_failed(id, reason, c);
                break;
            }
        }
        json_decref(item);
        if (ferror(stdout))
            break;
    }
    ok = !ferror(f);
    if (!ok)
        fprintf(stderr, "fs-delete: error: cannot read '%s': %s\n", file, strerror(errno));
cleanup:
    free(buf);
    return ok;
}

/* ---- --inventory ---- */

static const char *inventory_prefix; /* the root as given, absolute */
static size_t inventory_skip;        /* length of the path nftw was given */
static bool inventory_failed;

static int inventory_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (type == FTW_DNR || type == FTW_NS) {
        fprintf(stderr, "fs-delete: error: cannot read '%s': %s\n", path, strerror(errno));
        inventory_failed = true;
        return 0;
    }
    if (type != FTW_F && type != FTW_SL && type != FTW_SLN)
        return 0;
    if (type == FTW_F && !S_ISREG(st->st_mode))
        return 0;
    static const char hex[] = "0123456789ABCDEF";
    fputs("file://", stdout);
    for (const char *p = inventory_prefix; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '%' || c < 0x20 || c == 0x7f)
            printf("%%%c%c", hex[c >> 4], hex[c & 15]);
        else
            putchar(c);
    }
    for (const char *p = path + inventory_skip; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '%' || c < 0x20 || c == 0x7f)
            printf("%%%c%c", hex[c >> 4], hex[c & 15]);
        else
            putchar(c);
    }
    putchar('\n');
    return ferror(stdout) ? 1 : 0;
}

/* Prints the inventory of ROOT; returns an exit code. */
static int inventory(const char *given)
{
    struct root root = {.fd = -1};
    if (!open_root(given, &root))
        return EXIT_USAGE;
    close(root.fd);
    inventory_prefix = strcmp(root.given, "/") == 0 ? "" : root.given;
    inventory_skip = strlen(root.real);
    int rc = nftw(root.real, inventory_entry, 32, FTW_PHYS);
    if (rc != 0 || fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "fs-delete: error: cannot write the inventory: %s\n", strerror(errno));
        return EXIT_RUNTIME;
    }
    return inventory_failed ? EXIT_RUNTIME : EXIT_DONE;
}

int main(int argc, char **argv)
{
    const char *root_arg = getenv("LETHE_FS_ROOT");
    const char *manifest = NULL;
    bool options = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (options && strcmp(a, "--") == 0) {
            options = false;
        } else if (options && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
            usage(stdout);
            /* A help that could not be written is not an answer (a full disk, a closed pipe). */
            if (fflush(stdout) != 0 || ferror(stdout)) {
                fprintf(stderr, "fs-delete: error: cannot write the help: %s\n", strerror(errno));
                return EXIT_RUNTIME;
            }
            return EXIT_DONE;
        } else if (options && strcmp(a, "--root") == 0) {
            if (++i >= argc) {
                fprintf(stderr, "fs-delete: error: option '--root' needs a value\n");
                return EXIT_USAGE;
            }
            root_arg = argv[i];
        } else if (options && strncmp(a, "--root=", 7) == 0) {
            root_arg = a + 7;
        } else if (options && strcmp(a, "--inventory") == 0) {
            if (++i >= argc || i + 1 < argc) {
                fprintf(stderr, "fs-delete: error: --inventory takes one ROOT and nothing else\n");
                return EXIT_USAGE;
            }
            return inventory(argv[i]);
        } else if (options && a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "fs-delete: error: unknown option '%s'\n", a);
            usage(stderr);
            return EXIT_USAGE;
        } else if (manifest) {
            fprintf(stderr, "fs-delete: error: more than one manifest given\n");
            usage(stderr);
            return EXIT_USAGE;
        } else {
            manifest = a;
        }
    }
    if (!manifest) {
        fprintf(stderr, "fs-delete: error: no manifest given\n");
        usage(stderr);
        return EXIT_USAGE;
    }

    struct root root = {.fd = -1};
    if (!open_root(root_arg, &root))
        return EXIT_USAGE;

    int rc = EXIT_RUNTIME;
    struct counts c = {0};
    FILE *f = fopen(manifest, "r");
    if (!f) {
        fprintf(stderr, "fs-delete: error: cannot open '%s': %s\n", manifest, strerror(errno));
        goto cleanup;
    }
    if (!check_manifest(f, manifest))
        goto cleanup;
    rewind(f);
    if (!process_manifest(f, manifest, &root, &c))
        goto cleanup;
    /* Silence on stdout acknowledges every item, so a report that was not fully written must
     * fail the whole batch. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "fs-delete: error: cannot write the failure report: %s\n",
                strerror(errno));
        goto cleanup;
    }
    fprintf(stderr, "fs-delete: %ld deleted, %ld already gone, %ld failed\n", c.deleted,
            c.missing, c.failed);
    rc = EXIT_DONE;
cleanup:
    if (f)
        fclose(f);
    close(root.fd);
    return rc;
}
