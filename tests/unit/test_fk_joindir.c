/*  Tests for fk_joindir: the rendezvous directory's writer and reader. An
    entry is written atomically and read back by the others, never by its
    own node; stale entries are ignored by the file system's clock; every
    file that is not a fresh, small, well-formed entry under a valid name
    is skipped; a directory others may write to is refused. */

#include "fk_err.h"
#include "fk_joindir.h"
#include "fk_mem.h"
#include "fk_testdir.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char *s_dir;

static void
s_setup(void)
{
    s_dir = fk_testdir_make("fk_joindir");
}

static void
s_teardown(void)
{
    fk_testdir_remove(&s_dir);
}

TestSuite(fk_joindir, .init = s_setup, .fini = s_teardown);

/*  Write content to <dir>/<file> as a hostile user of the share would. */
static void
s_write(const char *file, const char *content)
{
    char *path = fk_asprintf("%s/%s", s_dir, file);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(content, f);
    fclose(f);
    free(path);
}

/*  Set <dir>/<file>'s mtime to now + offset_ms. */
static void
s_age(const char *file, int64_t offset_ms)
{
    char *path = fk_asprintf("%s/%s", s_dir, file);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 + offset_ms;
    struct timespec times[2] = {{.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000},
                                {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000}};
    cr_assert_eq(utimensat(AT_FDCWD, path, times, AT_SYMLINK_NOFOLLOW), 0, "%s", path);
    free(path);
}

/*  Publish "me" and read the others with max_age_ms; returns the count
    and leaves the entries in *entries_p. */
static size_t
s_read(int64_t max_age_ms, fk_joindir_entry_t **entries_p)
{
    int64_t now = 0;
    cr_assert_eq(fk_joindir_publish(s_dir, "me", "127.0.0.1:7000", &now), 0);
    size_t count = 0;
    cr_assert_eq(fk_joindir_read(s_dir, "me", now, max_age_ms, entries_p, &count), 0);
    return count;
}

Test(fk_joindir, an_entry_is_read_by_the_others_not_by_its_own_node)
{
    int64_t now = 0;
    cr_assert_eq(fk_joindir_publish(s_dir, "a", "10.0.0.1:8521", &now), 0);
    cr_assert_eq(fk_joindir_publish(s_dir, "b", "node-b.cluster:8521", &now), 0);
    fk_joindir_entry_t *entries = NULL;
    size_t count = 0;
    cr_assert_eq(fk_joindir_read(s_dir, "a", now, 60000, &entries, &count), 0);
    cr_assert_eq(count, 1);
    cr_assert_str_eq(entries[0].name, "b");
    cr_assert_str_eq(entries[0].addr, "node-b.cluster:8521");
    fk_joindir_entries_free(&entries, count);
    cr_assert_null(entries);
    cr_assert_eq(fk_joindir_read(s_dir, NULL, now, 60000, &entries, &count), 0);
    cr_assert_eq(count, 2, "sorted by name, both listed");
    cr_assert_str_eq(entries[0].name, "a");
    cr_assert_str_eq(entries[1].name, "b");
    fk_joindir_entries_free(&entries, count);
}

Test(fk_joindir, publishing_again_replaces_the_entry_and_leaves_no_temporary_file)
{
    int64_t now = 0;
    cr_assert_eq(fk_joindir_publish(s_dir, "b", "10.0.0.2:1", &now), 0);
    cr_assert_eq(fk_joindir_publish(s_dir, "b", "10.0.0.2:2", &now), 0);
    fk_joindir_entry_t *entries = NULL;
    size_t count = 0;
    cr_assert_eq(fk_joindir_read(s_dir, "a", now, 60000, &entries, &count), 0);
    cr_assert_eq(count, 1);
    cr_assert_str_eq(entries[0].addr, "10.0.0.2:2");
    fk_joindir_entries_free(&entries, count);
    DIR *d = opendir(s_dir);
    struct dirent *ent;
    size_t files = 0;
    while ((ent = readdir(d)) != NULL) {
        if (strcmp(ent->d_name, ".") != 0 && strcmp(ent->d_name, "..") != 0) {
            cr_expect_str_eq(ent->d_name, "b.json");
            files++;
        }
    }
    closedir(d);
    cr_assert_eq(files, 1);
}

Test(fk_joindir, the_reported_now_is_the_entrys_mtime)
{
    int64_t now = 0;
    struct timespec before;
    clock_gettime(CLOCK_REALTIME, &before);
    cr_assert_eq(fk_joindir_publish(s_dir, "a", "10.0.0.1:1", &now), 0);
    int64_t before_ms = (int64_t)before.tv_sec * 1000 + before.tv_nsec / 1000000;
    /*  A local file system stamps with this host's clock (coarse ticks). */
    cr_assert(now >= before_ms - 50 && now <= before_ms + 5000, "now %lld, before %lld",
              (long long)now, (long long)before_ms);
}

Test(fk_joindir, an_entry_older_than_max_age_is_ignored)
{
    int64_t now = 0;
    cr_assert_eq(fk_joindir_publish(s_dir, "gone", "10.0.0.3:1", &now), 0);
    cr_assert_eq(fk_joindir_publish(s_dir, "live", "10.0.0.4:1", &now), 0);
    s_age("gone.json", -10000);
    fk_joindir_entry_t *entries = NULL;
    size_t count = s_read(5000, &entries);
    cr_assert_eq(count, 1);
    cr_assert_str_eq(entries[0].name, "live");
    fk_joindir_entries_free(&entries, count);
    count = s_read(20000, &entries);
    cr_assert_eq(count, 2, "within a longer max age it counts");
    cr_assert(entries[0].age_ms >= 9000, "its age is reported: %lld",
              (long long)entries[0].age_ms);
    fk_joindir_entries_free(&entries, count);
}

Test(fk_joindir, an_entry_from_far_in_the_future_is_ignored)
{
    int64_t now = 0;
    cr_assert_eq(fk_joindir_publish(s_dir, "future", "10.0.0.3:1", &now), 0);
    s_age("future.json", 3600 * 1000);
    fk_joindir_entry_t *entries = NULL;
    size_t count = s_read(5000, &entries);
    cr_assert_eq(count, 0);
    s_age("future.json", 2000);
    count = s_read(5000, &entries);
    cr_assert_eq(count, 1, "a little ahead (another host's write after ours) counts");
    cr_assert_eq(entries[0].age_ms, 0);
    fk_joindir_entries_free(&entries, count);
}

Test(fk_joindir, hostile_files_are_skipped_and_the_valid_entry_still_read)
{
    int64_t now = 0;
    cr_assert_eq(fk_joindir_publish(s_dir, "good", "10.0.0.9:8521", &now), 0);
    /*  Not JSON, not an object, empty, extra or missing keys, duplicate
        keys, a name that is not the file's, a NUL in the name. */
    s_write("notjson.json", "name=notjson addr=10.0.0.1:1");
    s_write("array.json", "[\"array\", \"10.0.0.1:1\"]");
    s_write("empty.json", "");
    s_write("extra.json", "{\"name\":\"extra\",\"addr\":\"10.0.0.1:1\",\"x\":1}");
    s_write("missing.json", "{\"name\":\"missing\"}");
    s_write("dup.json", "{\"name\":\"dup\",\"addr\":\"10.0.0.1:1\",\"addr\":\"10.0.0.1:2\"}");
    s_write("other.json", "{\"name\":\"good\",\"addr\":\"10.0.0.1:1\"}");
    s_write("nul.json", "{\"name\":\"nul\\u0000x\",\"addr\":\"10.0.0.1:1\"}");
    s_write("trail.json", "{\"name\":\"trail\",\"addr\":\"10.0.0.1:1\"} {}");
    /*  Addresses that are not a plain host:port. */
    s_write("p0.json", "{\"name\":\"p0\",\"addr\":\"10.0.0.1:0\"}");
    s_write("pbig.json", "{\"name\":\"pbig\",\"addr\":\"10.0.0.1:65536\"}");
    s_write("plead.json", "{\"name\":\"plead\",\"addr\":\"10.0.0.1:080\"}");
    s_write("scheme.json", "{\"name\":\"scheme\",\"addr\":\"tcp://10.0.0.1:1\"}");
    s_write("iface.json", "{\"name\":\"iface\",\"addr\":\"eth0;10.0.0.1:1\"}");
    s_write("star.json", "{\"name\":\"star\",\"addr\":\"*:1\"}");
    s_write("noport.json", "{\"name\":\"noport\",\"addr\":\"10.0.0.1\"}");
    s_write("nohost.json", "{\"name\":\"nohost\",\"addr\":\":1\"}");
    s_write("num.json", "{\"name\":\"num\",\"addr\":8521}");
    /*  Too big: a valid entry padded past the limit. */
    char *big = fk_calloc(1, FK_JOINDIR_ENTRY_MAX + 100);
    int n = snprintf(big, FK_JOINDIR_ENTRY_MAX + 100, "{\"name\":\"big\",\"addr\":\"10.0.0.1:1\"}");
    memset(big + n, ' ', FK_JOINDIR_ENTRY_MAX + 50 - (size_t)n);
    s_write("big.json", big);
    free(big);
    /*  Names that are not <valid node name>.json. */
    s_write(".hidden.json", "{\"name\":\".hidden\",\"addr\":\"10.0.0.1:1\"}");
    s_write("sp ace.json", "{\"name\":\"sp ace\",\"addr\":\"10.0.0.1:1\"}");
    s_write("noext", "{\"name\":\"noext\",\"addr\":\"10.0.0.1:1\"}");
    s_write("x.json.tmp", "{\"name\":\"x.json\",\"addr\":\"10.0.0.1:1\"}");
    s_write(".json", "{\"name\":\"\",\"addr\":\"10.0.0.1:1\"}");
    /*  Not regular files: a symlink to a valid entry, a FIFO (which
        would block a reader that opened it without O_NONBLOCK), a
        directory. */
    s_write("target", "{\"name\":\"link\",\"addr\":\"10.0.0.1:1\"}");
    char *path = fk_asprintf("%s/link.json", s_dir);
    cr_assert_eq(symlink("target", path), 0);
    free(path);
    path = fk_asprintf("%s/fifo.json", s_dir);
    cr_assert_eq(mkfifo(path, 0600), 0);
    free(path);
    path = fk_asprintf("%s/sub.json", s_dir);
    cr_assert_eq(mkdir(path, 0700), 0);
    free(path);

    fk_joindir_entry_t *entries = NULL;
    size_t count = s_read(60000, &entries);
    cr_assert_eq(count, 1, "only the valid entry is listed (got %zu, first %s)", count,
                 count ? entries[0].name : "-");
    cr_assert_str_eq(entries[0].name, "good");
    cr_assert_str_eq(entries[0].addr, "10.0.0.9:8521");
    fk_joindir_entries_free(&entries, count);
}

Test(fk_joindir, a_read_returns_at_most_the_peer_limit)
{
    int64_t now = 0;
    for (unsigned i = 0; i < FK_JOINDIR_PEERS_MAX + 40; i++) {
        char name[16];
        snprintf(name, sizeof name, "n%u", i);
        cr_assert_eq(fk_joindir_publish(s_dir, name, "10.0.0.1:1", &now), 0);
    }
    fk_joindir_entry_t *entries = NULL;
    size_t count = 0;
    cr_assert_eq(fk_joindir_read(s_dir, NULL, now, 60000, &entries, &count), 0);
    cr_assert_eq(count, FK_JOINDIR_PEERS_MAX);
    fk_joindir_entries_free(&entries, count);
}

Test(fk_joindir, publish_refuses_bad_names_and_addresses_and_a_planted_symlink)
{
    int64_t now = 0;
    cr_assert_eq(fk_joindir_publish(s_dir, "../x", "10.0.0.1:1", &now), FK_EINVAL_INPUT);
    cr_assert_eq(fk_joindir_publish(s_dir, ".x", "10.0.0.1:1", &now), FK_EINVAL_INPUT);
    cr_assert_eq(fk_joindir_publish(s_dir, "", "10.0.0.1:1", &now), FK_EINVAL_INPUT);
    cr_assert_eq(fk_joindir_publish(s_dir, "x", "10.0.0.1", &now), FK_EINVAL_INPUT);
    cr_assert_eq(fk_joindir_publish(s_dir, "x", "a/b:1", &now), FK_EINVAL_INPUT);
    /*  A symlink at the temporary name is not written through. */
    s_write("victim", "untouched");
    char *path = fk_asprintf("%s/.x.json.tmp", s_dir);
    cr_assert_eq(symlink("victim", path), 0);
    free(path);
    cr_assert_eq(fk_joindir_publish(s_dir, "x", "10.0.0.1:1", &now), -ELOOP);
    path = fk_asprintf("%s/victim", s_dir);
    char buf[32] = {0};
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    cr_assert_not_null(fgets(buf, sizeof buf, f));
    fclose(f);
    free(path);
    cr_assert_str_eq(buf, "untouched");
}

Test(fk_joindir, names_that_can_be_listed)
{
    cr_assert(fk_joindir_name_ok("n0"));
    cr_assert(fk_joindir_name_ok("head-node.cluster_1"));
    cr_assert_not(fk_joindir_name_ok(NULL));
    cr_assert_not(fk_joindir_name_ok(""));
    cr_assert_not(fk_joindir_name_ok(".n"));
    cr_assert_not(fk_joindir_name_ok("a/b"));
    cr_assert_not(fk_joindir_name_ok("a b"));
    char longest[FK_JOINDIR_NAME_MAX + 2];
    memset(longest, 'a', sizeof longest);
    longest[FK_JOINDIR_NAME_MAX] = '\0';
    cr_assert(fk_joindir_name_ok(longest));
    longest[FK_JOINDIR_NAME_MAX] = 'a';
    longest[FK_JOINDIR_NAME_MAX + 1] = '\0';
    cr_assert_not(fk_joindir_name_ok(longest));
}

Test(fk_joindir, remove_deletes_the_entry_and_is_quiet_when_there_is_none)
{
    int64_t now = 0;
    cr_assert_eq(fk_joindir_publish(s_dir, "b", "10.0.0.2:1", &now), 0);
    cr_assert_eq(fk_joindir_remove(s_dir, "b"), 0);
    char *path = fk_asprintf("%s/b.json", s_dir);
    cr_assert_neq(access(path, F_OK), 0);
    free(path);
    cr_assert_eq(fk_joindir_remove(s_dir, "b"), 0);
    cr_assert_eq(fk_joindir_remove(s_dir, "../b"), FK_EINVAL_INPUT);
}

Test(fk_joindir, check_creates_a_missing_dir_private_and_refuses_one_others_may_write)
{
    char why[400];
    char *dir = fk_asprintf("%s/rendezvous", s_dir);
    cr_assert_eq(fk_joindir_check(dir, why, sizeof why), 0, "%s", why);
    struct stat st;
    cr_assert_eq(stat(dir, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0700);
    cr_assert_eq(chmod(dir, 0755), 0);
    cr_assert_eq(fk_joindir_check(dir, why, sizeof why), 0, "readable by others is fine");
    cr_assert_eq(chmod(dir, 0770), 0);
    cr_assert_eq(fk_joindir_check(dir, why, sizeof why), FK_ECONFIG);
    cr_assert(strstr(why, "chmod go-w"), "the fix is named: %s", why);
    cr_assert_eq(chmod(dir, 01777), 0);
    cr_assert_eq(fk_joindir_check(dir, why, sizeof why), FK_ECONFIG, "sticky /tmp-like too");
    free(dir);
    char *file = fk_asprintf("%s/plain", s_dir);
    s_write("plain", "x");
    cr_assert_eq(fk_joindir_check(file, why, sizeof why), FK_ECONFIG);
    free(file);
    char *orphan = fk_asprintf("%s/no/such", s_dir);
    cr_assert_eq(fk_joindir_check(orphan, why, sizeof why), -ENOENT);
    free(orphan);
}
