/* Check suite for engine/atomicfile.c: a file appears whole or not at all, a planted link is
 * never followed, and `-o`'s rules: a device or FIFO written through, a symlink or a directory
 * refused. Works in a temporary directory of its own. */
#define _GNU_SOURCE
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomicfile.h"
#include "suite.h"

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/lethe-test-afile.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static char *slurp(const char *path)
{
    static char buf[256];
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static int entries(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.' || (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."));
    closedir(d);
    return n;
}

START_TEST(writes_whole_files_and_leaves_nothing_behind)
{
    char path[128];
    snprintf(path, sizeof path, "%s/out.txt", dir);
    struct afile a;
    ck_assert_int_eq(afile_open(&a, path, 0640, 0, "test"), AFILE_OK);
    fputs("hello\n", a.f);
    ck_assert_int_eq(access(path, F_OK), -1); /* not there until it is whole */
    ck_assert(afile_commit(&a, "test"));
    ck_assert_str_eq(slurp(path), "hello\n");
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0640 & ~umask(022));
    ck_assert_int_eq(entries(), 1);
    /* abandoned: the old file stays as it was, and no temporary is left */
    ck_assert_int_eq(afile_open(&a, path, 0640, 0, "test"), AFILE_OK);
    fputs("half", a.f);
    afile_abandon(&a);
    ck_assert_str_eq(slurp(path), "hello\n");
    ck_assert_int_eq(entries(), 1);
}
END_TEST

START_TEST(replaces_a_planted_link_never_what_it_points_at)
{
    char path[128], victim[128];
    snprintf(path, sizeof path, "%s/manifest.jsonl", dir);
    snprintf(victim, sizeof victim, "%s/victim", dir);
    FILE *v = fopen(victim, "w");
    fputs("precious\n", v);
    fclose(v);
    ck_assert_int_eq(symlink(victim, path), 0);
    struct afile a;
    ck_assert_int_eq(afile_open(&a, path, 0640, 0, "test"), AFILE_OK);
    fputs("manifest\n", a.f);
    ck_assert(afile_commit(&a, "test"));
    struct stat st;
    ck_assert_int_eq(lstat(path, &st), 0);
    ck_assert(S_ISREG(st.st_mode));
    ck_assert_str_eq(slurp(victim), "precious\n");
    ck_assert_str_eq(slurp(path), "manifest\n");
}
END_TEST

START_TEST(sweeps_temporaries_of_a_dead_writer_but_not_their_targets)
{
    char path[128], stale[160], victim[128], other[160];
    snprintf(path, sizeof path, "%s/b.jsonl", dir);
    snprintf(stale, sizeof stale, "%s/.b.jsonl.0123456789abcdef.tmp", dir);
    snprintf(other, sizeof other, "%s/.c.jsonl.0123456789abcdef.tmp", dir);
    snprintf(victim, sizeof victim, "%s/victim", dir);
    FILE *v = fopen(victim, "w");
    fputs("precious\n", v);
    fclose(v);
    ck_assert_int_eq(symlink(victim, stale), 0);
    ck_assert_int_eq(symlink(victim, other), 0);
    afile_sweep(path);
    ck_assert_int_eq(access(stale, F_OK), -1);
    ck_assert_int_eq(faccessat(AT_FDCWD, other, F_OK, AT_SYMLINK_NOFOLLOW), 0);
    ck_assert_str_eq(slurp(victim), "precious\n");
}
END_TEST

START_TEST(a_writer_sweeps_a_dead_writers_temporary_not_a_live_ones)
{
    char path[128], stale[160];
    snprintf(path, sizeof path, "%s/export.jsonl", dir);
    snprintf(stale, sizeof stale, "%s/.export.jsonl.00112233445566ff.tmp", dir);
    FILE *f = fopen(stale, "w"); /* a writer killed before its rename: nobody holds it */
    fputs("half an export", f);
    fclose(f);
    struct afile live, next;
    ck_assert_int_eq(afile_open(&live, path, 0640, AFILE_THROUGH, "test"), AFILE_OK);
    ck_assert_int_eq(access(stale, F_OK), -1);
    ck_assert_int_eq(entries(), 1); /* the live writer's temporary */
    fputs("first\n", live.f);
    ck_assert(afile_finish(&live, "test")); /* closed, not renamed yet: still held */
    ck_assert_int_eq(afile_open(&next, path, 0640, AFILE_THROUGH, "test"), AFILE_OK);
    ck_assert_int_eq(entries(), 2);
    ck_assert(afile_install(&live, "test"));
    ck_assert_str_eq(slurp(path), "first\n");
    fputs("second\n", next.f);
    ck_assert(afile_commit(&next, "test"));
    ck_assert_str_eq(slurp(path), "second\n");
    ck_assert_int_eq(entries(), 1);
    struct afile never = {0}; /* abandoned before it was opened: closes nothing of ours */
    afile_abandon(&never);
    ck_assert_int_ne(fcntl(0, F_GETFD), -1);
}
END_TEST

START_TEST(o_refuses_a_symlink_and_a_directory)
{
    char link[128];
    snprintf(link, sizeof link, "%s/link", dir);
    ck_assert_int_eq(symlink("/etc/passwd", link), 0);
    struct afile a;
    ck_assert_int_eq(afile_open(&a, link, 0666, AFILE_THROUGH, "test"), AFILE_REFUSED);
    ck_assert_int_eq(afile_open(&a, dir, 0666, AFILE_THROUGH, "test"), AFILE_REFUSED);
    ck_assert_int_eq(entries(), 1);
}
END_TEST

START_TEST(o_writes_through_a_fifo_and_a_device)
{
    char fifo[128];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    int r = open(fifo, O_RDONLY | O_NONBLOCK); /* a reader, so the writer does not wait */
    ck_assert_int_ge(r, 0);
    struct afile a;
    ck_assert_int_eq(afile_open(&a, fifo, 0666, AFILE_THROUGH, "test"), AFILE_OK);
    fputs("through\n", a.f);
    ck_assert(afile_commit(&a, "test"));
    char buf[32] = "";
    ck_assert_int_eq(read(r, buf, sizeof buf - 1), 8);
    ck_assert_str_eq(buf, "through\n");
    close(r);
    struct stat st;
    ck_assert_int_eq(lstat(fifo, &st), 0);
    ck_assert(S_ISFIFO(st.st_mode));
    ck_assert_int_eq(afile_open(&a, "/dev/null", 0666, AFILE_THROUGH, "test"), AFILE_OK);
    fputs("nothing\n", a.f);
    ck_assert(afile_commit(&a, "test"));
    ck_assert_int_eq(stat("/dev/null", &st), 0);
    ck_assert(S_ISCHR(st.st_mode));
    ck_assert_int_eq(entries(), 1);
}
END_TEST

int main(void)
{
    umask(022);
    Suite *s = suite_create("atomicfile");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, writes_whole_files_and_leaves_nothing_behind);
    tcase_add_test(tc, replaces_a_planted_link_never_what_it_points_at);
    tcase_add_test(tc, sweeps_temporaries_of_a_dead_writer_but_not_their_targets);
    tcase_add_test(tc, a_writer_sweeps_a_dead_writers_temporary_not_a_live_ones);
    tcase_add_test(tc, o_refuses_a_symlink_and_a_directory);
    tcase_add_test(tc, o_writes_through_a_fifo_and_a_device);
    return run_suite(s, tc);
}
