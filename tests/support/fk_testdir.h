/*  fk_testdir - fresh temporary directories for tests.

    Every test that touches the disk makes its own directory and removes it
    afterwards, so no test depends on another's leftovers. */

#ifndef FK_TESTDIR_H_INCLUDED
#define FK_TESTDIR_H_INCLUDED

/*  Create a fresh directory under $TMPDIR (or /tmp) named after prefix.
    Returns a fresh path (caller frees); aborts if it cannot be created. */
char *fk_testdir_make(const char *prefix);

/*  Remove a directory tree made by fk_testdir_make and free the path.
    Safe on NULL; sets *path_p to NULL. */
void fk_testdir_remove(char **path_p);

#endif
