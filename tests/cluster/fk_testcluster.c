/*  fk_testcluster - loopback clusters of real agents. */

#include "fk_testcluster.h"

#include "fk_crypto.h"
#include "fk_mem.h"
#include "fk_testdir.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

const char *
fk_testcluster_gossip(const fk_node_t *node)
{
    return json_string_value(json_object_get(fk_harness_agent_json(node), "gossip"));
}

/*  Directories holding cluster secrets, removed when the process exits. */
#define S_SECRETS_MAX 16
static char *s_secret_dirs[S_SECRETS_MAX];
static size_t s_secret_count;

static void
s_remove_secrets(void)
{
    for (size_t i = 0; i < s_secret_count; i++) {
        fk_testdir_remove(&s_secret_dirs[i]);
    }
    s_secret_count = 0;
}

/*  A fresh cluster secret file, written as `fakts-node keygen
    --cluster-secret` writes one: "fks1." and 32 random bytes in base64url. */
static bool
s_make_secret(fk_testcluster_t *cluster)
{
    if (s_secret_count == S_SECRETS_MAX) {
        return false;
    }
    if (s_secret_count == 0) {
        atexit(s_remove_secrets);
    }
    char *dir = fk_testdir_make("fk_testcluster_secret");
    s_secret_dirs[s_secret_count++] = dir;
    snprintf(cluster->secret_file, sizeof cluster->secret_file, "%s/cluster.secret", dir);
    int fd = open(cluster->secret_file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    char *secret = fk_random_urlsafe(32);
    char *line = fk_asprintf("fks1.%s\n", secret);
    bool ok = fd != -1 && write(fd, line, strlen(line)) == (ssize_t)strlen(line);
    if (fd != -1) {
        close(fd);
    }
    free(line);
    free(secret);
    return ok;
}

bool
fk_testcluster_start(fk_testcluster_t *cluster, size_t count, unsigned base,
                     const char *const *extra_args)
{
    memset(cluster, 0, sizeof *cluster);
    if (count > FK_TESTCLUSTER_MAX) {
        return false;
    }
    bool insecure = false;
    size_t nextra = 0;
    for (; extra_args && extra_args[nextra]; nextra++) {
        insecure |= strncmp(extra_args[nextra], "--insecure-gossip", 17) == 0;
    }
    const char **args = fk_calloc(nextra + 3, sizeof *args);
    for (size_t i = 0; i < nextra; i++) {
        args[i] = extra_args[i];
    }
    if (!insecure) {
        if (!s_make_secret(cluster)) {
            free(args);
            return false;
        }
        args[nextra] = "--cluster-secret-file";
        args[nextra + 1] = cluster->secret_file;
    }
    for (size_t i = 0; i < count; i++) {
        char addr[32];
        char name[16];
        snprintf(addr, sizeof addr, "127.0.0.%u", base + (unsigned)i);
        snprintf(name, sizeof name, "n%zu", i);
        fk_node_opts_t opts = {.addr = addr, .name = name, .args = args};
        cluster->nodes[i] = fk_harness_start(&opts);
        if (!cluster->nodes[i]) {
            free(args);
            return false;
        }
        cluster->count = i + 1;
    }
    free(args);
    for (size_t i = 1; i < count; i++) {
        const char *argv[] = {"join", fk_testcluster_gossip(cluster->nodes[0]), NULL};
        int status = -1;
        char *out = NULL;
        char *err = NULL;
        fk_harness_cli(cluster->nodes[i], argv, &status, &out, &err);
        if (status != 0) {
            fprintf(stderr, "fk_testcluster: n%zu could not join: %s\n", i, err ? err : "");
        }
        free(out);
        free(err);
        if (status != 0) {
            return false;
        }
    }
    return true;
}

char *
fk_testcluster_member_status(const fk_node_t *node, const char *name)
{
    fk_http_resp_t *resp = fk_harness_admin(node, "GET", "/v1/agent/members", NULL);
    char *status = NULL;
    size_t i;
    json_t *member;
    json_array_foreach(resp->json, i, member)
    {
        const char *n = json_string_value(json_object_get(member, "name"));
        if (n && strcmp(n, name) == 0) {
            status = fk_strdup(json_string_value(json_object_get(member, "status")));
        }
    }
    fk_http_resp_destroy(&resp);
    return status;
}

typedef struct {
    fk_testcluster_t *cluster; /* cluster polled */
    const char *name;          /* member or service id */
    const char *status;        /* wanted member status */
    bool present;              /* service wanted present */
} s_wait_t;

static bool
s_all_see_status(void *arg)
{
    s_wait_t *wait = arg;
    for (size_t i = 0; i < wait->cluster->count; i++) {
        fk_node_t *node = wait->cluster->nodes[i];
        if (!fk_harness_running(node) || strcmp(fk_harness_name(node), wait->name) == 0) {
            continue;
        }
        char *status = fk_testcluster_member_status(node, wait->name);
        bool ok = status && strcmp(status, wait->status) == 0;
        free(status);
        if (!ok) {
            return false;
        }
    }
    return true;
}

bool
fk_testcluster_wait_status(fk_testcluster_t *cluster, const char *name, const char *status,
                           int64_t timeout_ms)
{
    s_wait_t wait = {.cluster = cluster, .name = name, .status = status};
    return fk_poll_until(timeout_ms, s_all_see_status, &wait);
}

static bool
s_lists(const fk_node_t *node, const char *id)
{
    fk_http_resp_t *resp = fk_harness_admin(node, "GET", "/v1/services", NULL);
    bool found = false;
    size_t i;
    json_t *svc;
    json_array_foreach(resp->json, i, svc)
    {
        const char *sid = json_string_value(json_object_get(svc, "id"));
        found = found || (sid && strcmp(sid, id) == 0);
    }
    fk_http_resp_destroy(&resp);
    return found;
}

static bool
s_all_list(void *arg)
{
    s_wait_t *wait = arg;
    for (size_t i = 0; i < wait->cluster->count; i++) {
        fk_node_t *node = wait->cluster->nodes[i];
        if (fk_harness_running(node) && s_lists(node, wait->name) != wait->present) {
            return false;
        }
    }
    return true;
}

bool
fk_testcluster_wait_service(fk_testcluster_t *cluster, const char *id, bool present,
                            int64_t timeout_ms)
{
    s_wait_t wait = {.cluster = cluster, .name = id, .present = present};
    return fk_poll_until(timeout_ms, s_all_list, &wait);
}

char *
fk_testcluster_view(const fk_node_t *node)
{
    fk_http_resp_t *resp = fk_harness_admin(node, "GET", "/v1/agent/info", NULL);
    char *view = resp->status == 200 ? fk_http_resp_header(resp, "X-Fakts-View") : NULL;
    fk_http_resp_destroy(&resp);
    return view;
}

static bool
s_same_view(void *arg)
{
    fk_testcluster_t *cluster = arg;
    char *first = NULL;
    bool same = true;
    for (size_t i = 0; i < cluster->count && same; i++) {
        if (!fk_harness_running(cluster->nodes[i])) {
            continue;
        }
        char *view = fk_testcluster_view(cluster->nodes[i]);
        if (!view) {
            same = false;
        } else if (!first) {
            first = view;
            continue;
        } else {
            same = strcmp(first, view) == 0;
        }
        free(view);
    }
    free(first);
    return same;
}

bool
fk_testcluster_wait_same_view(fk_testcluster_t *cluster, int64_t timeout_ms)
{
    return fk_poll_until(timeout_ms, s_same_view, cluster);
}

long
fk_testcluster_register(const fk_node_t *node, const char *id, const char *service)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"id\":\"%s\",\"service\":\"%s\",\"aliases\":[{\"host\":\"10.0.0.5\","
             "\"port\":8090,\"path\":\"svc\"}]}",
             id, service);
    fk_http_resp_t *resp = fk_harness_admin(node, "PUT", "/v1/services", body);
    long status = resp->status;
    fk_http_resp_destroy(&resp);
    return status;
}

/*  ---- more waits and calls ------------------------------------------- */

bool
fk_testcluster_host(const fk_node_t *node, char *buf, size_t size)
{
    const char *gossip = fk_testcluster_gossip(node);
    const char *colon = gossip ? strrchr(gossip, ':') : NULL;
    if (!colon || (size_t)(colon - gossip) >= size) {
        return false;
    }
    memcpy(buf, gossip, (size_t)(colon - gossip));
    buf[colon - gossip] = '\0';
    return true;
}

bool
fk_testcluster_lists(const fk_node_t *node, const char *id)
{
    return s_lists(node, id);
}

long
fk_testcluster_deregister(const fk_node_t *node, const char *id)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/services/%s", id);
    fk_http_resp_t *resp = fk_harness_admin(node, "DELETE", path, NULL);
    long status = resp->status;
    fk_http_resp_destroy(&resp);
    return status;
}

typedef struct {
    fk_testcluster_t *cluster; /* cluster polled */
    const size_t *on;          /* indices of the nodes asked */
    size_t count;              /* entries in on */
    const char *name;          /* member or service id */
    const char *status;        /* wanted member status */
    bool present;              /* service wanted present */
} s_wait_on_t;

static bool
s_some_see_status(void *arg)
{
    s_wait_on_t *wait = arg;
    for (size_t k = 0; k < wait->count; k++) {
        fk_node_t *node =
            wait->on[k] < wait->cluster->count ? wait->cluster->nodes[wait->on[k]] : NULL;
        if (!node || !fk_harness_running(node) || strcmp(fk_harness_name(node), wait->name) == 0) {
            continue;
        }
        char *status = fk_testcluster_member_status(node, wait->name);
        bool ok = status && strcmp(status, wait->status) == 0;
        free(status);
        if (!ok) {
            return false;
        }
    }
    return true;
}

bool
fk_testcluster_wait_status_on(fk_testcluster_t *cluster, const size_t *on, size_t count,
                              const char *name, const char *status, int64_t timeout_ms)
{
    s_wait_on_t wait = {
        .cluster = cluster, .on = on, .count = count, .name = name, .status = status};
    return fk_poll_until(timeout_ms, s_some_see_status, &wait);
}

static bool
s_some_list(void *arg)
{
    s_wait_on_t *wait = arg;
    for (size_t k = 0; k < wait->count; k++) {
        fk_node_t *node =
            wait->on[k] < wait->cluster->count ? wait->cluster->nodes[wait->on[k]] : NULL;
        if (node && fk_harness_running(node) && s_lists(node, wait->name) != wait->present) {
            return false;
        }
    }
    return true;
}

bool
fk_testcluster_wait_service_on(fk_testcluster_t *cluster, const size_t *on, size_t count,
                               const char *id, bool present, int64_t timeout_ms)
{
    s_wait_on_t wait = {
        .cluster = cluster, .on = on, .count = count, .name = id, .present = present};
    return fk_poll_until(timeout_ms, s_some_list, &wait);
}

typedef struct {
    fk_testcluster_t *cluster; /* cluster polled */
    char stuck[160];           /* the last check that failed */
} s_all_alive_t;

static bool
s_all_alive(void *arg)
{
    s_all_alive_t *wait = arg;
    for (size_t i = 0; i < wait->cluster->count; i++) {
        fk_node_t *observer = wait->cluster->nodes[i];
        if (!fk_harness_running(observer)) {
            snprintf(wait->stuck, sizeof wait->stuck, "%s: not running", fk_harness_name(observer));
            return false;
        }
        for (size_t j = 0; j < wait->cluster->count; j++) {
            const char *name = fk_harness_name(wait->cluster->nodes[j]);
            char *status = fk_testcluster_member_status(observer, name);
            bool ok = status && strcmp(status, "alive") == 0;
            if (!ok) {
                snprintf(wait->stuck, sizeof wait->stuck, "%s: %s %s", fk_harness_name(observer),
                         name, status ? status : "(unknown)");
            }
            free(status);
            if (!ok) {
                return false;
            }
        }
    }
    return true;
}

bool
fk_testcluster_wait_all_alive(fk_testcluster_t *cluster, int64_t timeout_ms, char **stuck_p)
{
    s_all_alive_t wait = {.cluster = cluster};
    bool ok = fk_poll_until(timeout_ms, s_all_alive, &wait);
    if (stuck_p) {
        *stuck_p = ok ? NULL : fk_strdup(wait.stuck);
    }
    return ok;
}

/*  ---- network faults (iptables) --------------------------------------- */

/*  Deadline of one iptables command; "-w 5" bounds its wait for the
    xtables lock well within it. */
#define S_FW_TIMEOUT_MS 15000
#define S_FW_ARGS_MAX 32

static const char *
s_iptables_path(void)
{
    static const char *const candidates[] = {"/usr/sbin/iptables", "/sbin/iptables",
                                             "/usr/bin/iptables", "/bin/iptables"};
    for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++) {
        if (access(candidates[i], X_OK) == 0) {
            return candidates[i];
        }
    }
    return NULL;
}

static int s_iptables_exec(char *const *argv, bool report, char *out, size_t out_size);

/*  Run "iptables -w 5 <args...>" (args NULL-terminated) with a deadline.
    Returns its exit status, or a negative errno when it could not run.
    When report is set, a failure prints the command and its stderr. When
    out is not NULL it receives the command's stdout and stderr (truncated
    to out_size - 1 bytes, NUL-terminated). */
static int
s_iptables_run(const char *const *args, bool report, char *out, size_t out_size)
{
    const char *path = s_iptables_path();
    if (!path) {
        if (report) {
            fprintf(stderr, "fk_testcluster: no iptables command found\n");
        }
        return -ENOENT;
    }
    /*  execve wants mutable strings: copies, made before fork(). */
    char *argv[S_FW_ARGS_MAX + 4];
    size_t argc = 0;
    argv[argc++] = fk_strdup(path);
    argv[argc++] = fk_strdup("-w");
    argv[argc++] = fk_strdup("5");
    for (size_t i = 0; args[i] && i < S_FW_ARGS_MAX; i++) {
        argv[argc++] = fk_strdup(args[i]);
    }
    argv[argc] = NULL;
    int status = s_iptables_exec(argv, report, out, out_size);
    for (size_t i = 0; i < argc; i++) {
        free(argv[i]);
    }
    return status;
}

static int
s_iptables_exec(char *const *argv, bool report, char *out, size_t out_size)
{
    /*  Everything the child needs is ready before fork(): only
        async-signal-safe calls follow in it. */
    int err_pipe[2];
    if (pipe2(err_pipe, O_CLOEXEC) != 0) {
        return -errno;
    }
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd == -1) {
        int err = errno;
        close(err_pipe[0]);
        close(err_pipe[1]);
        return -err;
    }
    pid_t pid = fork();
    if (pid == 0) {
        if (dup2(null_fd, STDIN_FILENO) == -1
            || dup2(out ? err_pipe[1] : null_fd, STDOUT_FILENO) == -1
            || dup2(err_pipe[1], STDERR_FILENO) == -1) {
            _exit(127);
        }
        execve(argv[0], argv, environ);
        _exit(127);
    }
    int fork_err = errno;
    close(err_pipe[1]);
    close(null_fd);
    if (pid == -1) {
        close(err_pipe[0]);
        return -fork_err;
    }

    char err_text[4096];
    size_t err_len = 0;
    bool timed_out = false;
    int64_t deadline = fk_harness_now_ms() + S_FW_TIMEOUT_MS;
    for (;;) {
        int64_t left = deadline - fk_harness_now_ms();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        struct pollfd pfd = {.fd = err_pipe[0], .events = POLLIN};
        int ready = poll(&pfd, 1, (int)left);
        if (ready < 0 && errno == EINTR) {
            continue;
        }
        if (ready <= 0) {
            timed_out = ready == 0;
            break;
        }
        char chunk[256];
        ssize_t got = read(err_pipe[0], chunk, sizeof chunk);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            break; /* EOF: the command closed its stderr, i.e. exited */
        }
        size_t take = (size_t)got;
        if (take > sizeof err_text - 1 - err_len) {
            take = sizeof err_text - 1 - err_len;
        }
        memcpy(err_text + err_len, chunk, take);
        err_len += take;
    }
    err_text[err_len] = '\0';
    close(err_pipe[0]);
    if (out && out_size) {
        snprintf(out, out_size, "%s", err_text);
    }
    if (timed_out) {
        kill(pid, SIGKILL);
    }
    int raw = 0;
    pid_t got;
    do {
        got = waitpid(pid, &raw, 0);
    } while (got == -1 && errno == EINTR);
    int status = got != pid         ? -ECHILD
                 : timed_out        ? -ETIMEDOUT
                 : WIFEXITED(raw)   ? WEXITSTATUS(raw)
                 : WIFSIGNALED(raw) ? 128 + WTERMSIG(raw)
                                    : -ECHILD;
    if (status != 0 && report) {
        fprintf(stderr, "fk_testcluster: iptables");
        for (size_t i = 1; argv[i]; i++) {
            fprintf(stderr, " %s", argv[i]);
        }
        fprintf(stderr, " -> %d: %s\n", status, err_text);
    }
    return status;
}

static int
s_iptables(const char *const *args, bool report)
{
    return s_iptables_run(args, report, NULL, 0);
}

bool
fk_testcluster_fw_usable(void)
{
    const char *const args[] = {"-V", NULL};
    return s_iptables(args, true) == 0;
}

int
fk_testcluster_fw_end(const char *chain)
{
    /*  Remove every hook (a crashed run may have left more than one),
        boundedly, then the rules and the chain. Failures here mostly mean
        "already gone", so they are not reported. */
    const char *const unhook[] = {"-D", "INPUT", "-i", "lo", "-j", chain, NULL};
    for (int i = 0; i < 16 && s_iptables(unhook, false) == 0; i++) {
    }
    const char *const flush[] = {"-F", chain, NULL};
    const char *const delete_chain[] = {"-X", chain, NULL};
    s_iptables(flush, false);
    s_iptables(delete_chain, false);
    const char *const exists[] = {"-n", "-L", chain, NULL};
    const char *const hooked[] = {"-C", "INPUT", "-i", "lo", "-j", chain, NULL};
    if (s_iptables(exists, false) == 0 || s_iptables(hooked, false) == 0) {
        fprintf(stderr, "fk_testcluster: iptables chain %s could not be removed\n", chain);
        return -1;
    }
    return 0;
}

int
fk_testcluster_fw_begin(const char *chain)
{
    if (!chain || strlen(chain) > 28) {
        return -1;
    }
    fk_testcluster_fw_end(chain);
    const char *const create[] = {"-N", chain, NULL};
    const char *const hook[] = {"-I", "INPUT", "1", "-i", "lo", "-j", chain, NULL};
    if (s_iptables(create, true) != 0) {
        return -1;
    }
    if (s_iptables(hook, true) != 0) {
        fk_testcluster_fw_end(chain);
        return -1;
    }
    return 0;
}

int
fk_testcluster_fw_drop(const char *chain, const char *src, const char *dst, double probability)
{
    const char *args[S_FW_ARGS_MAX];
    size_t n = 0;
    char prob[32];
    args[n++] = "-A";
    args[n++] = chain;
    args[n++] = "-i";
    args[n++] = "lo";
    if (src) {
        args[n++] = "-s";
        args[n++] = src;
    }
    if (dst) {
        args[n++] = "-d";
        args[n++] = dst;
    }
    if (probability < 1.0) {
        snprintf(prob, sizeof prob, "%.4f", probability);
        args[n++] = "-m";
        args[n++] = "statistic";
        args[n++] = "--mode";
        args[n++] = "random";
        args[n++] = "--probability";
        args[n++] = prob;
    }
    args[n++] = "-j";
    args[n++] = "DROP";
    args[n] = NULL;
    return s_iptables(args, true) == 0 ? 0 : -1;
}

int
fk_testcluster_fw_partition(const fk_testcluster_t *cluster, const char *chain, const size_t *a,
                            size_t a_count, const size_t *b, size_t b_count)
{
    for (size_t i = 0; i < a_count; i++) {
        for (size_t j = 0; j < b_count; j++) {
            char host_a[64];
            char host_b[64];
            if (a[i] >= cluster->count || b[j] >= cluster->count
                || !fk_testcluster_host(cluster->nodes[a[i]], host_a, sizeof host_a)
                || !fk_testcluster_host(cluster->nodes[b[j]], host_b, sizeof host_b)) {
                return -1;
            }
            if (fk_testcluster_fw_drop(chain, host_a, host_b, 1.0) != 0
                || fk_testcluster_fw_drop(chain, host_b, host_a, 1.0) != 0) {
                return -1;
            }
        }
    }
    return 0;
}

int
fk_testcluster_fw_flush(const char *chain)
{
    const char *const flush[] = {"-F", chain, NULL};
    return s_iptables(flush, true) == 0 ? 0 : -1;
}

long long
fk_testcluster_fw_dropped(const char *chain)
{
    const char *const list[] = {"-n", "-v", "-x", "-L", chain, NULL};
    char out[4096];
    if (s_iptables_run(list, true, out, sizeof out) != 0) {
        return -1;
    }
    /*  "Chain X (1 references)", a header, then "pkts bytes target ...". */
    long long total = 0;
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        long long pkts = 0;
        long long bytes = 0;
        char target[16] = "";
        if (sscanf(line, "%lld %lld %15s", &pkts, &bytes, target) == 3
            && strcmp(target, "DROP") == 0) {
            total += pkts;
        }
    }
    return total;
}

void
fk_testcluster_dump_logs(const fk_testcluster_t *cluster, size_t max_bytes)
{
    for (size_t i = 0; i < cluster->count; i++) {
        fprintf(stderr, "==== log of %s ====\n", fk_harness_name(cluster->nodes[i]));
        fk_harness_dump_log(cluster->nodes[i], max_bytes);
    }
}
