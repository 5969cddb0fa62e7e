/*  Rendezvous on a shared directory (--join-file): nodes given the same
    directory and the same cluster secret, and no address at all (no
    --join, no --retry-join, no `fakts-node join`), form one secure
    cluster; an entry left behind by a node killed with -9 is ignored once
    it is older than --reconnect-timeout; a cleanly stopped node removes
    its entry; a node started later joins through the directory alone; a
    directory other users may write to is refused. Addresses
    127.0.0.121-125. */

#include "fk_crypto.h"
#include "fk_harness.h"
#include "fk_mem.h"
#include "fk_testcluster.h"
#include "fk_testdir.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define S_RECONNECT_S "4"  /* --reconnect-timeout of every node here */
#define S_FORM_MS 60000    /* nodes find each other within this */

static char *s_dir;         /* holds the secret and the rendezvous directory */
static char s_join[512];    /* the rendezvous directory */
static char s_secret[512];  /* the cluster secret file */

static void
s_teardown(void)
{
    fk_harness_cleanup();
    fk_testdir_remove(&s_dir);
}

TestSuite(joinfile, .fini = s_teardown);

static void
s_prepare(void)
{
    s_dir = fk_testdir_make("fk_joinfile");
    snprintf(s_join, sizeof s_join, "%s/rendezvous", s_dir);
    snprintf(s_secret, sizeof s_secret, "%s/cluster.secret", s_dir);
    cr_assert_eq(mkdir(s_join, 0700), 0);
    int fd = open(s_secret, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    cr_assert_neq(fd, -1);
    char *secret = fk_random_urlsafe(32);
    char *line = fk_asprintf("fks1.%s\n", secret);
    cr_assert_eq(write(fd, line, strlen(line)), (ssize_t)strlen(line));
    close(fd);
    free(line);
    free(secret);
}

static fk_node_t *
s_start(const char *name, const char *addr)
{
    const char *args[] = {"--cluster-secret-file", s_secret,          "--join-file",
                          s_join,                  "--reconnect-timeout", S_RECONNECT_S,
                          NULL};
    fk_node_opts_t opts = {.addr = addr, .name = name, .args = args};
    return fk_harness_start(&opts);
}

static bool
s_listed(const char *name)
{
    char *path = fk_asprintf("%s/%s.json", s_join, name);
    bool there = access(path, F_OK) == 0;
    free(path);
    return there;
}

/*  The node's log from offset on. Caller frees. */
static char *
s_log_since(const fk_node_t *node, long offset)
{
    char *path = fk_asprintf("%s/agent.log", fk_harness_root_dir(node));
    FILE *file = fopen(path, "rb");
    free(path);
    char *text = fk_calloc(1, 1 << 20);
    if (file) {
        if (fseek(file, offset, SEEK_SET) == 0) {
            size_t n = fread(text, 1, (1 << 20) - 1, file);
            text[n] = '\0';
        }
        fclose(file);
    }
    return text;
}

static long
s_log_size(const fk_node_t *node)
{
    char *path = fk_asprintf("%s/agent.log", fk_harness_root_dir(node));
    struct stat st;
    long size = stat(path, &st) == 0 ? (long)st.st_size : 0;
    free(path);
    return size;
}

typedef struct {
    const fk_node_t *node; /* whose log */
    long offset;           /* from where */
    const char *text;      /* what must appear */
} s_log_wait_t;

static bool
s_log_has(void *arg)
{
    s_log_wait_t *wait = arg;
    char *text = s_log_since(wait->node, wait->offset);
    bool found = strstr(text, wait->text) != NULL;
    free(text);
    return found;
}

Test(joinfile, nodes_sharing_a_directory_and_a_secret_form_a_cluster_with_no_address_given,
     .timeout = 600)
{
    s_prepare();
    fk_testcluster_t cluster = {0};
    const char *addrs[] = {"127.0.0.121", "127.0.0.122", "127.0.0.123"};
    for (size_t i = 0; i < 3; i++) {
        char name[8];
        snprintf(name, sizeof name, "n%zu", i);
        cluster.nodes[i] = s_start(name, addrs[i]);
        cr_assert_not_null(cluster.nodes[i], "n%zu did not start", i);
        cluster.count = i + 1;
    }
    int64_t start = fk_harness_now_ms();
    char *stuck = NULL;
    if (!fk_testcluster_wait_all_alive(&cluster, S_FORM_MS, &stuck)) {
        fk_testcluster_dump_logs(&cluster, 4000);
        cr_assert_fail("no cluster formed through %s: %s", s_join, stuck ? stuck : "?");
    }
    cr_log_info("3 nodes all alive %lld ms after the last one started",
                (long long)(fk_harness_now_ms() - start));
    cr_assert(s_listed("n0") && s_listed("n1") && s_listed("n2"));

    /*  A node killed with -9 leaves its entry behind; the others stop
        listing it once it is older than the reconnect timeout. */
    long offset = s_log_size(cluster.nodes[0]);
    cr_assert_eq(fk_harness_kill9(cluster.nodes[2]), 0);
    int64_t killed = fk_harness_now_ms();
    char *only_n1 = fk_asprintf("join-file: 1 other node(s) listed in %s: n1=", s_join);
    s_log_wait_t wait = {.node = cluster.nodes[0], .offset = offset, .text = only_n1};
    if (!fk_poll_until(30000, s_log_has, &wait)) {
        fk_harness_dump_log(cluster.nodes[0], 3000);
        cr_assert_fail("n0 kept listing the killed n2");
    }
    int64_t ignored_after = fk_harness_now_ms() - killed;
    cr_log_info("the killed node's entry ignored %lld ms after the kill (timeout %s s)",
                (long long)ignored_after, S_RECONNECT_S);
    cr_assert(ignored_after >= 3000, "not before it was stale: %lld ms",
              (long long)ignored_after);
    cr_assert(s_listed("n2"), "the stale entry is still there, only ignored");
    free(only_n1);

    /*  A clean stop removes the node's own entry. */
    cr_assert_eq(fk_harness_stop(cluster.nodes[1], 0), 0);
    cr_assert_not(s_listed("n1"), "n1's entry is gone after SIGTERM");

    /*  A node started later finds the cluster through the directory
        alone, past the stale entry. */
    fk_testcluster_t later = {.count = 2};
    later.nodes[0] = cluster.nodes[0];
    later.nodes[1] = s_start("n3", "127.0.0.124");
    cr_assert_not_null(later.nodes[1], "n3 did not start");
    if (!fk_testcluster_wait_all_alive(&later, S_FORM_MS, &stuck)) {
        fk_testcluster_dump_logs(&later, 4000);
        cr_assert_fail("n3 did not join n0 through %s: %s", s_join, stuck ? stuck : "?");
    }
    free(stuck);
}

Test(joinfile, a_directory_other_users_may_write_to_is_refused, .timeout = 120)
{
    s_prepare();
    cr_assert_eq(chmod(s_join, 0770), 0);
    const char *args[] = {"--cluster-secret-file", s_secret, "--join-file", s_join, NULL};
    fk_node_opts_t opts = {
        .addr = "127.0.0.125", .name = "n9", .args = args, .start_timeout_ms = 15000};
    fk_node_t *node = fk_harness_start(&opts);
    cr_assert_null(node, "the agent started with a group-writable rendezvous directory");
    cr_assert_not(s_listed("n9"), "and wrote nothing there");
}
