/*  End-to-end tests for what the disk and the file system can do to a node
    (issue 9, item 6): secrets open to other users are refused at start
    with the command that fixes them, the services dir never blocks the
    agent (FIFOs, devices, symlinks), a full store keeps answering reads,
    refuses writes in the protocol's shape and still deletes, and a node
    restarts on a full disk. */

#include "fk_e2e.h"
#include "fk_harness.h"
#include "fk_mem.h"
#include "fk_testdir.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *s_dir;
static char *s_mnt; /* a small tmpfs mounted by the test, or NULL */

static void
s_setup(void)
{
    s_dir = fk_testdir_make("fk_e2e_disks");
}

static void
s_teardown(void)
{
    fk_harness_cleanup();
    if (s_mnt) {
        umount2(s_mnt, MNT_DETACH);
        free(s_mnt);
        s_mnt = NULL;
    }
    fk_testdir_remove(&s_dir);
}

TestSuite(e2e_disks, .init = s_setup, .fini = s_teardown, .timeout = 120);

static const char *
s_bin(void)
{
    const char *bin = getenv("FK_NODE_BIN");
    cr_assert(bin && *bin, "FK_NODE_BIN is not set");
    return bin;
}

/*  A child agent whose output (stdout and stderr) the test reads. */
typedef struct {
    pid_t pid;     /* the child */
    int out;       /* read end of its output, non-blocking */
    fk_buf_t text; /* what it printed so far */
} s_child_t;

static void
s_spawn(s_child_t *child, const char *const *args, const char *env)
{
    memset(child, 0, sizeof *child);
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    child->pid = fork();
    cr_assert(child->pid >= 0);
    if (child->pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        unsetenv("FAKTS_ADMIN_TOKEN");
        if (env) {
            putenv((char *)(uintptr_t)env);
        }
        const char *asan = getenv("FK_CHILD_ASAN_OPTIONS");
        if (asan) {
            setenv("ASAN_OPTIONS", asan, 1);
        }
        const char *argv[24] = {s_bin(), "agent"};
        int argc = 2;
        for (int i = 0; args[i] && argc < 23; i++) {
            argv[argc++] = args[i];
        }
        argv[argc] = NULL;
        execv(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    close(fds[1]);
    child->out = fds[0];
    fcntl(child->out, F_SETFL, O_NONBLOCK);
}

/*  Read what the child printed so far. */
static void
s_drain(s_child_t *child)
{
    char buf[4096];
    ssize_t n;
    while ((n = read(child->out, buf, sizeof buf)) > 0) {
        fk_buf_add(&child->text, buf, (size_t)n);
    }
}

static const char *
s_text(const s_child_t *child)
{
    return child->text.data ? child->text.data : "";
}

/*  Wait (polling, deadline timeout_ms) for the child to exit; its exit
    status, or -1 when it was still running (it is then killed). */
static int
s_wait_exit(s_child_t *child, int64_t timeout_ms)
{
    int64_t deadline = fk_harness_now_ms() + timeout_ms;
    int status = 0;
    for (;;) {
        s_drain(child);
        pid_t done = waitpid(child->pid, &status, WNOHANG);
        if (done == child->pid) {
            s_drain(child);
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        if (fk_harness_now_ms() >= deadline) {
            kill(child->pid, SIGKILL);
            waitpid(child->pid, &status, 0);
            return -1;
        }
        struct timespec pause = {.tv_sec = 0, .tv_nsec = 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
}

static void
s_child_free(s_child_t *child)
{
    close(child->out);
    free(child->text.data);
}

/*  Start an agent on data_dir expected to refuse: its exit status (78 is
    EX_CONFIG) and what it said (*text_p, caller frees). */
static int
s_refused(const char *data_dir, const char *env, char **text_p)
{
    const char *args[] = {"--data-dir",  data_dir, "--http", "127.0.0.1:0", "--gossip",
                          "127.0.0.1:0", "--node", "disks",  NULL};
    s_child_t child;
    s_spawn(&child, args, env);
    int status = s_wait_exit(&child, 20000);
    *text_p = fk_strdup(s_text(&child));
    s_child_free(&child);
    return status;
}

static char *
s_make_data_dir(const char *name, mode_t mode)
{
    char *dir = fk_asprintf("%s/%s", s_dir, name);
    cr_assert_eq(mkdir(dir, 0700), 0);
    cr_assert_eq(chmod(dir, mode), 0);
    return dir;
}

static void
s_write(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    cr_assert(fd >= 0, "%s: %s", path, strerror(errno));
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    cr_assert_eq(chmod(path, mode), 0);
}

Test(e2e_disks, a_data_dir_open_to_others_is_refused_with_the_fix)
{
    char *dir = s_make_data_dir("open", 0755);
    char *text = NULL;
    int status = s_refused(dir, NULL, &text);
    cr_assert_eq(status, 78, "exit %d: %s", status, text);
    char *fix = fk_asprintf("chmod 700 %s", dir);
    cr_assert(strstr(text, fix) != NULL, "no '%s' in: %s", fix, text);
    free(fix);
    free(text);
    free(dir);
}

Test(e2e_disks, an_admin_token_open_to_others_or_short_is_refused_with_the_fix)
{
    char *dir = s_make_data_dir("token", 0700);
    char *token = fk_asprintf("%s/admin-token", dir);
    s_write(token, "0123456789abcdef0123456789abcdef0123456789a\n", 0644);
    char *text = NULL;
    int status = s_refused(dir, NULL, &text);
    cr_assert_eq(status, 78, "exit %d: %s", status, text);
    char *fix = fk_asprintf("chmod 600 %s", token);
    cr_assert(strstr(text, fix) != NULL, "no '%s' in: %s", fix, text);
    free(fix);
    free(text);

    s_write(token, "too-short-a-token\n", 0600);
    status = s_refused(dir, NULL, &text);
    cr_assert_eq(status, 78, "exit %d: %s", status, text);
    fix = fk_asprintf("rm %s", token);
    cr_assert(strstr(text, fix) != NULL, "no '%s' in: %s", fix, text);
    free(fix);
    free(text);

    cr_assert_eq(unlink(token), 0);
    status = s_refused(dir, "FAKTS_ADMIN_TOKEN=short", &text);
    cr_assert_eq(status, 78, "exit %d: %s", status, text);
    cr_assert(strstr(text, "FAKTS_ADMIN_TOKEN") != NULL, "%s", text);
    free(text);
    free(token);
    free(dir);
}

Test(e2e_disks, fifos_and_devices_in_the_services_dir_never_block_the_agent)
{
    char *services = fk_asprintf("%s/services", s_dir);
    cr_assert_eq(mkdir(services, 0700), 0);
    char *fifo = fk_asprintf("%s/hang.yaml", services);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    char *zero = fk_asprintf("%s/zero.yaml", services);
    cr_assert_eq(symlink("/dev/zero", zero), 0);
    /*  A configuration mount's way: a symlink to a regular file. */
    char *real = fk_asprintf("%s/real-definition", s_dir);
    s_write(real, "id: linked\nservice: live.arkitekt.rekuest\naliases:\n  - host: 10.0.0.9\n",
            0600);
    char *link = fk_asprintf("%s/linked.yaml", services);
    cr_assert_eq(symlink(real, link), 0);

    const char *args[] = {"--services-dir", services, NULL};
    fk_node_opts_t opts = {.args = args};
    fk_node_t *node = fk_harness_start(&opts);
    cr_assert_not_null(node, "the agent did not come up with a FIFO in its services dir");
    fk_http_resp_t *resp = fk_harness_admin(node, "GET", "/v1/services/linked", NULL);
    cr_assert_eq(resp->status, 200, "the symlinked definition: %ld %s", resp->status, resp->body);
    fk_http_resp_destroy(&resp);
    /*  SIGHUP reloads on its own thread; SIGTERM right after is taken. */
    cr_assert_eq(kill(fk_harness_pid(node), SIGHUP), 0);
    int status = fk_harness_stop(node, 5000);
    cr_assert_eq(status, 0, "stop after SIGHUP with a FIFO: %d", status);
    free(link);
    free(real);
    free(zero);
    free(fifo);
    free(services);
}

/*  Register a service of about size bytes with id (meta values are at
    most 1024 characters, so the bulk is spread over keys); the HTTP
    status. */
static long
s_register(fk_node_t *node, int id, size_t size)
{
    char pad[1001];
    memset(pad, 'x', 1000);
    pad[1000] = '\0';
    fk_buf_t meta = {0};
    for (size_t i = 0; i * 1000 < size; i++) {
        char *one = fk_asprintf("%s\"p%zu\":\"%s\"", i ? "," : "", i, pad);
        fk_buf_add(&meta, one, strlen(one));
        free(one);
    }
    char *text = fk_buf_take(&meta);
    char *body = fk_asprintf("{\"id\":\"big-%d\",\"service\":\"live.arkitekt.big\","
                             "\"aliases\":[{\"host\":\"10.0.0.5\"}],\"meta\":{%s}}",
                             id, text);
    fk_http_resp_t *resp = fk_harness_admin(node, "POST", "/v1/services", body);
    long status = resp->status;
    if (status != 200 && status != 503) {
        fprintf(stderr, "register %d: %ld %s\n", id, status, resp->body);
    }
    fk_http_resp_destroy(&resp);
    free(body);
    free(text);
    return status;
}

typedef struct {
    fk_node_t *node; /* the full node */
    int next;        /* the next id to try */
} s_fill_t;

static bool
s_accepts_again(void *arg)
{
    s_fill_t *fill = arg;
    return s_register(fill->node, fill->next, 1000) == 200;
}

Test(e2e_disks, a_full_store_answers_reads_refuses_writes_and_still_deletes)
{
    const char *args[] = {"--map-size", "1M", NULL};
    fk_node_opts_t opts = {.args = args};
    fk_node_t *node = fk_harness_start(&opts);
    cr_assert_not_null(node);
    int registered = 0;
    long status = 200;
    while (status == 200 && registered < 200) {
        status = s_register(node, registered, 16000);
        registered += status == 200;
    }
    cr_assert_eq(status, 503, "a 1 MiB store took %d services of 16 KB", registered);
    cr_assert(registered > 0);
    /*  Reads go on. */
    char *url = fk_harness_url(node, "/.well-known/fakts");
    fk_http_resp_t *resp = fk_http_get(url, NULL);
    cr_assert_eq(resp->status, 200);
    fk_http_resp_destroy(&resp);
    free(url);
    url = fk_harness_url(node, "/lok/o/jwks/");
    resp = fk_http_get(url, NULL);
    cr_assert_eq(resp->status, 200);
    fk_http_resp_destroy(&resp);
    free(url);
    /*  A write in the protocol's shape: 503 temporarily_unavailable. */
    url = fk_harness_url(node, "/lok/o/token/");
    const char *pairs[] = {"grant_type",
                           "urn:fakts:grant-type:redeem",
                           "redeem_token",
                           "x",
                           "manifest",
                           "{\"identifier\":\"a\",\"version\":\"1\"}",
                           NULL};
    resp = fk_http_post_form(url, NULL, pairs);
    cr_assert(resp->status == 400 || resp->status == 503, "%ld %s", resp->status, resp->body);
    fk_http_resp_destroy(&resp);
    free(url);
    resp = fk_harness_admin(node, "POST", "/v1/redeem-tokens", "{}");
    cr_assert_eq(resp->status, 503, "%ld %s", resp->status, resp->body);
    cr_assert(strstr(resp->body, "full") != NULL, "%s", resp->body);
    fk_http_resp_destroy(&resp);
    /*  Deletes succeed on the full store... */
    for (int i = 0; i < registered; i++) {
        char *path = fk_asprintf("/v1/services/big-%d", i);
        resp = fk_harness_admin(node, "DELETE", path, NULL);
        cr_assert_eq(resp->status, 200, "delete %d of %d: %ld %s", i, registered, resp->status,
                     resp->body);
        fk_http_resp_destroy(&resp);
        free(path);
    }
    /*  ...and once they freed the room, writes are taken again (the agent
        measures its store every second). */
    s_fill_t fill = {.node = node, .next = 1000};
    cr_assert(fk_poll_until(10000, s_accepts_again, &fill), "writes stay refused after deletes");
}

/*  Start an agent on data_dir and wait for its banner's Fakts URL (the
    agent.json that tells commands where it listens may not be writable);
    returns the URL (fresh) or NULL. */
static char *
s_start_for_url(s_child_t *child, const char *data_dir)
{
    const char *args[] = {"--data-dir",  data_dir, "--http", "127.0.0.1:0", "--gossip",
                          "127.0.0.1:0", "--node", "full",   NULL};
    s_spawn(child, args, NULL);
    int64_t deadline = fk_harness_now_ms() + 30000;
    while (fk_harness_now_ms() < deadline) {
        s_drain(child);
        const char *at = strstr(s_text(child), "Fakts URL:");
        if (at) {
            at += strlen("Fakts URL:");
            at += strspn(at, " ");
            size_t len = strcspn(at, " \n");
            if (at[len]) {
                return fk_strndup(at, len);
            }
        }
        if (waitpid(child->pid, NULL, WNOHANG) == child->pid) {
            return NULL;
        }
        struct timespec pause = {.tv_sec = 0, .tv_nsec = 20 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    return NULL;
}

Test(e2e_disks, a_node_restarts_on_a_full_disk)
{
    char *mnt = fk_asprintf("%s/small-disk", s_dir);
    cr_assert_eq(mkdir(mnt, 0700), 0);
    if (mount("tmpfs", mnt, "tmpfs", 0, "size=8m,mode=0700") != 0) {
        free(mnt);
        cr_skip_test("cannot mount a small tmpfs here (%s): needs root", strerror(errno));
    }
    s_mnt = fk_strdup(mnt);
    char *data = fk_asprintf("%s/data", mnt);
    s_child_t child;
    char *url = s_start_for_url(&child, data);
    cr_assert_not_null(url, "first start: %s", s_text(&child));
    kill(child.pid, SIGTERM);
    cr_assert_eq(s_wait_exit(&child, 10000), 0, "%s", s_text(&child));
    s_child_free(&child);
    free(url);

    /*  Fill the disk to the last block. */
    char *filler = fk_asprintf("%s/filler", mnt);
    int fd = open(filler, O_WRONLY | O_CREAT, 0600);
    cr_assert(fd >= 0);
    char block[65536];
    memset(block, 0, sizeof block);
    while (write(fd, block, sizeof block) > 0) {
    }
    while (write(fd, block, 512) > 0) {
    }
    close(fd);

    url = s_start_for_url(&child, data);
    cr_assert_not_null(url, "restart on a full disk: %s", s_text(&child));
    char *discovery = fk_asprintf("%s/.well-known/fakts", url);
    fk_http_resp_t *resp = fk_http_get(discovery, NULL);
    cr_assert_eq(resp->status, 200, "%ld", resp->status);
    fk_http_resp_destroy(&resp);
    s_drain(&child);
    cr_assert(strstr(s_text(&child), "agent.json") != NULL,
              "the agent should say it could not write agent.json: %s", s_text(&child));
    kill(child.pid, SIGTERM);
    cr_assert_eq(s_wait_exit(&child, 10000), 0, "%s", s_text(&child));
    s_child_free(&child);
    free(discovery);
    free(url);
    free(filler);
    free(data);
    free(mnt);
}
