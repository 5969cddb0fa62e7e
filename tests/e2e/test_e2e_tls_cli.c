/*  End-to-end tests of "fakts-node tls ca create" and "tls cert create":
    the real binary, its exit statuses, its messages and the files it
    leaves. No agent is started: the commands need none. (The certificates
    themselves are checked in tests/unit/test_fk_tls_issue.c.) */

#include "fk_mem.h"
#include "fk_testdir.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *s_dir; /* this test's directory, the commands' working directory */

static void
s_setup(void)
{
    s_dir = fk_testdir_make("tls-cli");
}

static void
s_teardown(void)
{
    fk_testdir_remove(&s_dir);
}

TestSuite(e2e_tls_cli, .init = s_setup, .fini = s_teardown);

/*  What one run printed. */
typedef struct {
    int status; /* exit status */
    char *out;  /* stdout, fresh */
    char *err;  /* stderr, fresh */
} s_run_t;

/*  The bytes of path, fresh ("" when it is missing). */
static char *
s_slurp(const char *path)
{
    FILE *file = fopen(path, "r");
    if (file == NULL) {
        return fk_strdup("");
    }
    fk_buf_t buf = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), file)) > 0) {
        fk_buf_add(&buf, chunk, n);
    }
    fclose(file);
    return fk_buf_take(&buf);
}

/*  Run "fakts-node ARGS..." (NULL-terminated) in s_dir, with the
    children's sanitizer options (leaks fail the run), and wait for it. */
static s_run_t
s_run(const char *const *args)
{
    const char *bin = getenv("FK_NODE_BIN");
    cr_assert_not_null(bin, "FK_NODE_BIN is not set");
    char *out_path = fk_asprintf("%s/.stdout", s_dir);
    char *err_path = fk_asprintf("%s/.stderr", s_dir);
    size_t n = 0;
    while (args[n] != NULL) {
        n++;
    }
    char **argv = fk_calloc(n + 2, sizeof(char *));
    argv[0] = fk_strdup(bin);
    for (size_t i = 0; i < n; i++) {
        argv[i + 1] = fk_strdup(args[i]);
    }
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_neq(pid, -1);
    if (pid == 0) {
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        const char *asan = getenv("FK_CHILD_ASAN_OPTIONS");
        if (out == -1 || err == -1 || chdir(s_dir) != 0 || dup2(out, 1) == -1 || dup2(err, 2) == -1
            || (asan != NULL && setenv("ASAN_OPTIONS", asan, 1) != 0)) {
            _exit(127);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status), "fakts-node died of signal %d", WTERMSIG(status));
    s_run_t run = {
        .status = WEXITSTATUS(status), .out = s_slurp(out_path), .err = s_slurp(err_path)};
    unlink(out_path);
    unlink(err_path);
    fk_strv_free(argv, n + 1);
    free(out_path);
    free(err_path);
    return run;
}

static void
s_run_fini(s_run_t *run)
{
    free(run->out);
    free(run->err);
}

/*  Whether <s_dir>/<name> exists, and its permission bits. */
static bool
s_file(const char *name, mode_t *mode_p)
{
    char *path = fk_asprintf("%s/%s", s_dir, name);
    struct stat st;
    bool found = lstat(path, &st) == 0;
    free(path);
    if (found && mode_p != NULL) {
        *mode_p = st.st_mode & 07777;
    }
    return found;
}

Test(e2e_tls_cli, ca_then_cert_in_the_working_directory)
{
    s_run_t run = s_run((const char *[]){"tls", "ca", "create", NULL});
    cr_assert_eq(run.status, 0, "%s", run.err);
    cr_assert_not_null(strstr(run.out, "wrote ./fakts-ca.pem: the CA certificate \"fakts-node CA "),
                       "%s", run.out);
    cr_assert_not_null(strstr(run.out, "wrote ./fakts-ca-key.pem"), "%s", run.out);
    cr_assert_str_eq(run.err, "");
    s_run_fini(&run);

    run = s_run((const char *[]){"tls", "cert", "create", "--node", "node1", "--san",
                                 "fakts.example.com,10.0.0.5", "--san", "::1", NULL});
    cr_assert_eq(run.status, 0, "%s", run.err);
    cr_assert_not_null(strstr(run.out, "wrote ./node1.pem: the certificate of node1 (DNS:node1, "
                                       "DNS:fakts.example.com, IP:10.0.0.5, IP:::1, "
                                       "DNS:localhost, IP:127.0.0.1), valid until "),
                       "%s", run.out);
    cr_assert_not_null(strstr(run.out, "wrote ./node1-key.pem: its private key (mode 0600)"), "%s",
                       run.out);
    s_run_fini(&run);
    mode_t mode = 0;
    cr_assert(s_file("node1-key.pem", &mode));
    cr_assert_eq(mode & 077, 0, "the key is private whatever the umask");
    cr_assert(s_file("fakts-ca-key.pem", &mode));
    cr_assert_eq(mode & 077, 0);
}

Test(e2e_tls_cli, dir_days_and_name_options)
{
    char *dir = fk_asprintf("%s/pki", s_dir);
    cr_assert_eq(mkdir(dir, 0700), 0);
    s_run_t run = s_run((const char *[]){"tls", "ca", "create", "--dir", dir, "--days", "30",
                                         "--name", "Lab CA", NULL});
    cr_assert_eq(run.status, 0, "%s", run.err);
    cr_assert_not_null(strstr(run.out, "\"Lab CA\""), "%s", run.out);
    s_run_fini(&run);
    /* --dir finds the CA there; a certificate longer than the CA is refused. */
    run = s_run((const char *[]){"tls", "cert", "create", "--dir", dir, "--node", "n1", NULL});
    cr_assert_eq(run.status, 64, "%s", run.err);
    cr_assert_not_null(strstr(run.err, "would outlive the CA"), "%s", run.err);
    s_run_fini(&run);
    run = s_run((const char *[]){"tls", "cert", "create", "--dir", dir, "--node", "n1", "--days",
                                 "7", NULL});
    cr_assert_eq(run.status, 0, "%s", run.err);
    s_run_fini(&run);
    cr_assert(s_file("pki/n1.pem", NULL));
    cr_assert(s_file("pki/n1-key.pem", NULL));
    free(dir);
}

Test(e2e_tls_cli, usage_errors_exit_64_with_one_reason_line)
{
    const char *const *const cases[] = {
        (const char *const[]){"tls", "ca", NULL},
        (const char *const[]){"tls", "ca", "make", NULL},
        (const char *const[]){"tls", "ca", "create", "--days", "0", NULL},
        (const char *const[]){"tls", "ca", "create", "--days", "36501", NULL},
        (const char *const[]){"tls", "ca", "create", "--json", NULL},
        (const char *const[]){"tls", "cert", "create", NULL},
        (const char *const[]){"tls", "cert", "create", "--node", "a/b", NULL},
        (const char *const[]){"tls", "cert", "create", "--node", "", NULL},
        (const char *const[]){"tls", "cert", "create", "--node", "n", "--san", "not a name", NULL},
        (const char *const[]){"tls", "cert", "create", "--node", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        s_run_t run = s_run(cases[i]);
        cr_assert_eq(run.status, 64, "case %zu: %s", i, run.err);
        cr_assert_eq(strncmp(run.err, "fakts-node: ", 12), 0, "case %zu: %s", i, run.err);
        cr_assert_str_eq(run.out, "", "case %zu", i);
        s_run_fini(&run);
    }
    cr_assert(!s_file("fakts-ca.pem", NULL));
    cr_assert(!s_file("fakts-ca-key.pem", NULL));
}

Test(e2e_tls_cli, failures_exit_1_naming_the_file)
{
    s_run_t run = s_run((const char *[]){"tls", "cert", "create", "--node", "n1", NULL});
    cr_assert_eq(run.status, 1);
    cr_assert_str_eq(run.err, "fakts-node: ./fakts-ca.pem: no such file or directory\n");
    s_run_fini(&run);

    run = s_run((const char *[]){"tls", "ca", "create", NULL});
    cr_assert_eq(run.status, 0, "%s", run.err);
    s_run_fini(&run);
    run = s_run((const char *[]){"tls", "ca", "create", NULL});
    cr_assert_eq(run.status, 1);
    cr_assert_not_null(strstr(run.err, "fakts-ca-key.pem: exists already"), "%s", run.err);
    cr_assert_eq(strchr(run.err, '\n'), run.err + strlen(run.err) - 1, "one line: %s", run.err);
    s_run_fini(&run);

    run = s_run((const char *[]){"tls", "cert", "create", "--node", "n1", NULL});
    cr_assert_eq(run.status, 0, "%s", run.err);
    s_run_fini(&run);
    run = s_run((const char *[]){"tls", "cert", "create", "--node", "n2", "--ca", "n1.pem",
                                 "--ca-key", "n1-key.pem", NULL});
    cr_assert_eq(run.status, 1);
    cr_assert_not_null(strstr(run.err, "n1.pem: not a CA certificate"), "%s", run.err);
    s_run_fini(&run);
    run = s_run(
        (const char *[]){"tls", "cert", "create", "--node", "n2", "--ca-key", "n1-key.pem", NULL});
    cr_assert_eq(run.status, 1);
    cr_assert_not_null(strstr(run.err, "n1-key.pem: not the key of the CA certificate"), "%s",
                       run.err);
    s_run_fini(&run);
    cr_assert(!s_file("n2.pem", NULL));
    cr_assert(!s_file("n2-key.pem", NULL));
}

Test(e2e_tls_cli, help_prints_the_usage_and_exits_0)
{
    s_run_t run = s_run((const char *[]){"tls", "cert", "--help", NULL});
    cr_assert_eq(run.status, 0);
    cr_assert_eq(strncmp(run.out, "usage: fakts-node tls cert create --node NAME", 45), 0, "%s",
                 run.out);
    s_run_fini(&run);
    run = s_run((const char *[]){"--help", NULL});
    cr_assert_eq(run.status, 0);
    cr_assert_not_null(strstr(run.out, "fakts-node tls ca create [--dir DIR]"), "%s", run.out);
    s_run_fini(&run);
}
