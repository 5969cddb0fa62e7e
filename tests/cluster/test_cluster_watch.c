/*  Watches (docs/API.md, "Blocking queries"): GET /v1/services and
    /v1/agent/members with ?hash=H&wait=DUR. Converged nodes give the same
    X-Fakts-Index, so a watcher may switch nodes; a watcher held on one
    node sees a registration made on the other; hundreds of held watchers
    cost the agent no thread each, and one change answers them all; the
    CLI's watch prints each new view and runs --exec on it. Addresses
    127.0.0.104-105. */

#include "fk_e2e.h"
#include "fk_mem.h"
#include "fk_testcluster.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define S_WAIT_MS 20000
#define S_WATCHERS 300

extern char **environ;

static fk_testcluster_t s_cluster;

static void
s_teardown(void)
{
    fk_harness_cleanup();
}

TestSuite(cluster_watch, .fini = s_teardown, .timeout = 300);

static void
s_start(void)
{
    /*  Room for the watchers from one address (the test's). */
    const char *const args[] = {"--http-per-ip", "0", NULL};
    cr_assert(fk_testcluster_start(&s_cluster, 2, 104, args), "cluster did not form");
    cr_assert(fk_testcluster_wait_all_alive(&s_cluster, S_WAIT_MS, NULL), "not all alive");
}

/*  GET path on node with the admin token; the answer's X-Fakts-Index
    (fresh) and, when resp_p is not NULL, the answer. */
static char *
s_index(const fk_node_t *node, const char *path, fk_http_resp_t **resp_p)
{
    fk_http_resp_t *resp = fk_harness_admin(node, "GET", path, NULL);
    char *index = resp->status == 200 ? fk_http_resp_header(resp, "X-Fakts-Index") : NULL;
    if (resp_p) {
        *resp_p = resp;
    } else {
        fk_http_resp_destroy(&resp);
    }
    return index;
}

typedef struct {
    const char *path; /* asked of both nodes */
    char last[2][1024]; /* what each answered last, for the failure message */
} s_same_t;

static bool
s_same_index(void *arg)
{
    s_same_t *same = arg;
    char *index[2];
    for (size_t i = 0; i < 2; i++) {
        fk_http_resp_t *resp = NULL;
        index[i] = s_index(s_cluster.nodes[i], same->path, &resp);
        snprintf(same->last[i], sizeof same->last[i], "%s", resp->body);
        fk_http_resp_destroy(&resp);
    }
    bool equal = index[0] && index[1] && strcmp(index[0], index[1]) == 0;
    free(index[0]);
    free(index[1]);
    return equal;
}

/*  A blocking GET run on its own thread. */
typedef struct {
    const fk_node_t *node; /* asked */
    char path[256];        /* with ?hash=&wait= */
    fk_http_resp_t *resp;  /* the answer */
} s_call_t;

static void *
s_call_run(void *arg)
{
    s_call_t *call = arg;
    call->resp = fk_harness_admin(call->node, "GET", call->path, NULL);
    return NULL;
}

Test(cluster_watch, converged_nodes_agree_and_a_watcher_sees_a_registration_on_the_other)
{
    s_start();
    static s_same_t services = {.path = "/v1/services"};
    static s_same_t members = {.path = "/v1/agent/members"};
    cr_assert(fk_poll_until(S_WAIT_MS, s_same_index, &services), "services differ: %s vs %s",
              services.last[0], services.last[1]);
    cr_assert(fk_poll_until(S_WAIT_MS, s_same_index, &members), "members differ: %s vs %s",
              members.last[0], members.last[1]);

    /*  n0's hash, given to n1, is n1's too: it holds the request for the
        whole wait and answers with the same hash. */
    char *hash = s_index(s_cluster.nodes[0], "/v1/services", NULL);
    cr_assert_not_null(hash);
    char path[256];
    snprintf(path, sizeof path, "/v1/services?hash=%s&wait=2s", hash);
    int64_t start = fk_harness_now_ms();
    fk_http_resp_t *resp = NULL;
    char *again = s_index(s_cluster.nodes[1], path, &resp);
    cr_assert_eq(resp->status, 200);
    cr_assert_str_eq(again, hash, "a timeout answers the same hash");
    cr_assert_geq(fk_harness_now_ms() - start, 2000, "held until the wait ended");
    fk_http_resp_destroy(&resp);
    free(again);

    /*  A watcher held on n0; the registration is made on n1. */
    s_call_t call = {.node = s_cluster.nodes[0]};
    snprintf(call.path, sizeof call.path, "/v1/services?hash=%s&wait=60s", hash);
    pthread_t thread;
    cr_assert_eq(pthread_create(&thread, NULL, s_call_run, &call), 0);
    cr_assert_eq(fk_testcluster_register(s_cluster.nodes[1], "watched", "live.test.watched"),
                 200);
    pthread_join(thread, NULL);
    cr_assert_eq(call.resp->status, 200, "%s", call.resp->body);
    cr_assert(strstr(call.resp->body, "\"watched\"") != NULL, "%s", call.resp->body);
    char *changed = fk_http_resp_header(call.resp, "X-Fakts-Index");
    cr_assert(changed && strcmp(changed, hash) != 0, "a new hash");
    free(changed);
    fk_http_resp_destroy(&call.resp);

    /*  Bad parameters get the agent API's error shape. */
    resp = fk_harness_admin(s_cluster.nodes[0], "GET", "/v1/services?hash=nothex&wait=1s", NULL);
    cr_assert_eq(resp->status, 400);
    cr_assert_str_eq(fk_e2e_str(resp->json, "error"), "invalid");
    fk_http_resp_destroy(&resp);
    snprintf(path, sizeof path, "/v1/agent/members?hash=%s&wait=11m", hash);
    resp = fk_harness_admin(s_cluster.nodes[0], "GET", path, NULL);
    cr_assert_eq(resp->status, 400);
    cr_assert_str_eq(fk_e2e_str(resp->json, "error"), "invalid");
    fk_http_resp_destroy(&resp);
    free(hash);
}

/*  The agent's thread count, from /proc (deterministic, unlike timing). */
static long
s_threads(const fk_node_t *node)
{
    char name[64];
    snprintf(name, sizeof name, "/proc/%d/status", (int)fk_harness_pid(node));
    FILE *file = fopen(name, "r");
    cr_assert_not_null(file);
    char line[256];
    long threads = -1;
    while (fgets(line, sizeof line, file)) {
        if (sscanf(line, "Threads: %ld", &threads) == 1) {
            break;
        }
    }
    fclose(file);
    return threads;
}

typedef struct {
    const fk_node_t *node; /* asked */
    long want;             /* held requests */
} s_held_t;

static bool
s_held_is(void *arg)
{
    const s_held_t *held = arg;
    fk_http_resp_t *resp = fk_harness_admin(held->node, "GET", "/metrics", NULL);
    char want[64];
    snprintf(want, sizeof want, "\nfakts_http_held_requests %ld\n", held->want);
    bool ok = resp->status == 200 && strstr(resp->body, want) != NULL;
    fk_http_resp_destroy(&resp);
    return ok;
}

Test(cluster_watch, many_watchers_hold_no_thread_each_and_one_change_answers_all)
{
    s_start();
    const fk_node_t *node = s_cluster.nodes[0];
    char *hash = s_index(node, "/v1/services", NULL);
    cr_assert_not_null(hash);
    long before = s_threads(node);

    char host[64];
    cr_assert(fk_testcluster_host(node, host, sizeof host));
    const char *colon = strrchr(fk_harness_http_addr(node), ':');
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons((uint16_t)atoi(colon + 1))};
    inet_pton(AF_INET, host, &addr.sin_addr);
    char request[512];
    int len = snprintf(request, sizeof request,
                       "GET /v1/services?hash=%s&wait=120s HTTP/1.1\r\nHost: %s\r\n"
                       "Authorization: Bearer %s\r\n\r\n",
                       hash, host, fk_harness_admin_token(node));
    static struct pollfd fds[S_WATCHERS];
    for (size_t i = 0; i < S_WATCHERS; i++) {
        fds[i].fd = socket(AF_INET, SOCK_STREAM, 0);
        fds[i].events = POLLIN;
        cr_assert_geq(fds[i].fd, 0);
        cr_assert_eq(connect(fds[i].fd, (struct sockaddr *)&addr, sizeof addr), 0, "watcher %zu",
                     i);
        cr_assert_eq(send(fds[i].fd, request, (size_t)len, 0), len);
    }
    s_held_t held = {node, S_WATCHERS};
    cr_assert(fk_poll_until(S_WAIT_MS, s_held_is, &held), "not every watcher is held");
    long during = s_threads(node);
    /*  A thread per connection would add 300; the workers are a fixed
        pool, so only an unrelated thread or two may come and go. */
    cr_assert_lt(during, before + 8, "threads %ld with %d watchers held, %ld before", during,
                 S_WATCHERS, before);

    /*  One registration, on the other node, answers every watcher. */
    cr_assert_eq(fk_testcluster_register(s_cluster.nodes[1], "many", "live.test.many"), 200);
    size_t answered = 0;
    static char bodies[S_WATCHERS][2048];
    static size_t got[S_WATCHERS];
    int64_t deadline = fk_harness_now_ms() + 60000;
    while (answered < S_WATCHERS && fk_harness_now_ms() < deadline) {
        cr_assert_geq(poll(fds, S_WATCHERS, 1000), 0);
        for (size_t i = 0; i < S_WATCHERS; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                continue;
            }
            ssize_t n = recv(fds[i].fd, bodies[i] + got[i], sizeof bodies[i] - 1 - got[i], 0);
            if (n > 0) {
                got[i] += (size_t)n;
                bodies[i][got[i]] = '\0';
            }
            if (n <= 0 || strstr(bodies[i], "\"many\"") != NULL) {
                close(fds[i].fd);
                fds[i].fd = -1;
                answered++;
            }
        }
    }
    cr_assert_eq(answered, S_WATCHERS, "every watcher answered by the deadline");
    for (size_t i = 0; i < S_WATCHERS; i++) {
        cr_assert(strstr(bodies[i], "200 OK") != NULL && strstr(bodies[i], "\"many\"") != NULL,
                  "watcher %zu: %s", i, bodies[i]);
    }
    held.want = 0;
    cr_assert(fk_poll_until(S_WAIT_MS, s_held_is, &held), "no watcher left held");
    free(hash);
}

/*  The whole of a file, or "" (fresh). */
static char *
s_slurp(const char *path)
{
    FILE *file = fopen(path, "r");
    fk_buf_t buf = {0};
    if (file) {
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, file)) > 0) {
            fk_buf_add(&buf, chunk, n);
        }
        fclose(file);
    }
    fk_buf_add(&buf, "", 1);
    return buf.data;
}

typedef struct {
    const char *path; /* file polled */
    const char *want; /* text it must hold */
} s_holds_t;

static bool
s_file_holds(void *arg)
{
    const s_holds_t *holds = arg;
    char *text = s_slurp(holds->path);
    bool ok = strstr(text, holds->want) != NULL;
    free(text);
    return ok;
}

Test(cluster_watch, the_cli_prints_each_new_view_and_runs_exec_on_it)
{
    s_start();
    const fk_node_t *node = s_cluster.nodes[0];
    char *out = fk_harness_write_file(node, "watch.out", "");
    char *ran = fk_harness_write_file(node, "exec.out", "");
    char *exec = fk_asprintf("cat >> %s", ran);
    const char *bin = getenv("FK_NODE_BIN");
    cr_assert_not_null(bin);
    const char *const words[] = {bin,      "watch",  "services", "--data-dir",
                                 fk_harness_data_dir(node), "--json", "--wait", "10s",
                                 "--exec",  exec};
    char *argv[sizeof words / sizeof words[0] + 1] = {NULL};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        argv[i] = fk_strdup(words[i]);
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out, O_WRONLY | O_APPEND, 0);
    pid_t pid;
    cr_assert_eq(posix_spawn(&pid, bin, &actions, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    for (size_t i = 0; argv[i] != NULL; i++) {
        free(argv[i]);
    }

    /*  The current view first (no services: "[]"), run through --exec. */
    s_holds_t first = {ran, "[]"};
    cr_assert(fk_poll_until(S_WAIT_MS, s_file_holds, &first), "--exec never ran");
    s_holds_t printed = {out, "[]"};
    cr_assert(fk_poll_until(S_WAIT_MS, s_file_holds, &printed), "no first view printed");
    cr_assert_eq(fk_testcluster_register(s_cluster.nodes[1], "cli", "live.test.cli"), 200);
    s_holds_t view = {out, "\"live.test.cli\""};
    cr_assert(fk_poll_until(S_WAIT_MS, s_file_holds, &view), "the new view was not printed");
    s_holds_t piped = {ran, "\"live.test.cli\""};
    cr_assert(fk_poll_until(S_WAIT_MS, s_file_holds, &piped), "--exec did not get the new view");

    /*  Ctrl-C ends it cleanly, also in the middle of a held request. */
    kill(pid, SIGINT);
    int status = 0;
    cr_assert_eq(waitpid(pid, &status, 0), pid);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %d", status);
    char *text = s_slurp(out);
    cr_assert(strstr(text, "waiting") == NULL, "no progress line when stdout is a file: %s",
              text);
    free(text);
    free(exec);
    free(out);
    free(ran);
}
