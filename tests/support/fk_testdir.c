/*  fk_testdir - fresh temporary directories for tests. */

#include "fk_testdir.h"

#include "fk_mem.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

char *
fk_testdir_make(const char *prefix)
{
    const char *base = getenv("TMPDIR");
    char *path = fk_asprintf("%s/%s.XXXXXX", base && *base ? base : "/tmp", prefix);
    if (!mkdtemp(path)) {
        perror("mkdtemp");
        abort();
    }
    return path;
}

static int
s_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void
fk_testdir_remove(char **path_p)
{
    if (!path_p || !*path_p) {
        return;
    }
    nftw(*path_p, s_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(*path_p);
    *path_p = NULL;
}
