/*  fk_harness - run real fakts-node agents and talk to them over HTTP.

    Used from one thread of a test process. Children are started with
    fork/execve; everything execve needs (argv, envp, file descriptors) is
    prepared before fork(), because after fork() in a process that may hold
    libcurl and sanitizer state only async-signal-safe calls are allowed. */

#include "fk_harness.h"

#include "fk_crypto.h"

#include "fk_mem.h"
#include "fk_testdir.h"

#include <curl/curl.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef FK_NODE_BIN
#error "FK_NODE_BIN must name the fakts-node binary (set by tests/support/CMakeLists.txt)"
#endif

extern char **environ;

/*  Nap between two polls of a condition. Short enough that a test waits at
    most this long after the condition became true. */
#define S_POLL_NAP_MS 10

struct fk_node {
    char *root;           /* fk_testdir root; owns everything below */
    char *data_dir;       /* <root>/data, the agent's --data-dir */
    char *log_path;       /* <root>/agent.log */
    char *addr;           /* listen host, 127.0.0.x */
    char *name;           /* --node NAME */
    char *binary;         /* path of fakts-node */
    char **args;          /* extra agent arguments, NULL-terminated */
    char **env;           /* extra environment entries, NULL-terminated */
    int start_timeout_ms; /* deadline for a start */
    pid_t pid;            /* running agent, -1 when stopped */
    char *http_addr;      /* HOST:PORT from agent.json, NULL before a start */
    char *base_url;       /* http://HOST:PORT */
    char *admin_token;    /* contents of <data-dir>/admin-token */
    json_t *agent_doc;    /* agent.json of the current run, NULL before a start */
    char *gossip_port;    /* gossip port of the first run, kept across restarts */
    fk_node_t *next;      /* next node in s_nodes */
};

/*  Every node not yet removed, so cleanup can find them after a failed
    assertion has unwound the test. */
static fk_node_t *s_nodes;
static unsigned s_node_seq; /* for default names */
static bool s_atexit_done;  /* fk_harness_cleanup registered */
static bool s_curl_ready;   /* curl_global_init done */

/*  ---------------------------------------------------------------------
    Time and polling
    --------------------------------------------------------------------- */

int64_t
fk_harness_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
s_nap_ms(int64_t ms)
{
    if (ms <= 0) {
        return;
    }
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

bool
fk_poll_until(int64_t timeout_ms, fk_poll_cond_fn fn, void *arg)
{
    int64_t deadline = fk_harness_now_ms() + timeout_ms;
    for (;;) {
        /* Read the clock before calling fn, so that a false answer after the
           deadline has really been checked once the deadline had passed. */
        bool expired = fk_harness_now_ms() >= deadline;
        if (fn(arg)) {
            return true;
        }
        if (expired) {
            return false;
        }
        s_nap_ms(S_POLL_NAP_MS);
    }
}

void
fk_harness_wait_until(int64_t until_ms)
{
    for (int64_t now = fk_harness_now_ms(); now < until_ms; now = fk_harness_now_ms()) {
        s_nap_ms(until_ms - now < S_POLL_NAP_MS ? until_ms - now : S_POLL_NAP_MS);
    }
}

/*  ---------------------------------------------------------------------
    Small file and string helpers
    --------------------------------------------------------------------- */

/*  Read a whole file into a fresh NUL-terminated string, or NULL. */
static char *
s_read_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1) {
        return NULL;
    }
    fk_buf_t buf = {0};
    char chunk[4096];
    for (;;) {
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n == -1 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        fk_buf_add(&buf, chunk, (size_t)n);
    }
    close(fd);
    return fk_buf_take(&buf);
}

static char *
s_trim(char *s)
{
    while (*s && isspace((unsigned char)*s)) {
        s++;
    }
    size_t len = strlen(s);
    while (len && isspace((unsigned char)s[len - 1])) {
        s[--len] = '\0';
    }
    return s;
}

/*  Copy a NULL-terminated string list (NULL gives an empty list). */
static char **
s_strv_dup(const char *const *list)
{
    size_t n = 0;
    while (list && list[n]) {
        n++;
    }
    char **copy = fk_calloc(n + 1, sizeof *copy);
    for (size_t i = 0; i < n; i++) {
        copy[i] = fk_strdup(list[i]);
    }
    return copy;
}

/*  Append a copy of s to the NULL-terminated list *list_p of *n entries. */
static void
s_strv_push(char ***list_p, size_t *n, const char *s)
{
    *list_p = fk_realloc(*list_p, (*n + 2) * sizeof **list_p);
    (*list_p)[(*n)++] = fk_strdup(s);
    (*list_p)[*n] = NULL;
}

static void
s_strv_free(char ***list_p)
{
    if (!*list_p) {
        return;
    }
    for (char **it = *list_p; *it; it++) {
        free(*it);
    }
    free(*list_p);
    *list_p = NULL;
}

/*  Build the child's environment: ours without FAKTS_* (so the developer's
    shell cannot steer a test) and without the names extra overrides, then
    extra. The strings are borrowed; only the array is fresh. */
static char **
s_child_env(char *const *extra_a, char *const *extra_b)
{
    size_t n = 0;
    for (char **it = environ; it && *it; it++) {
        n++;
    }
    for (char *const *it = extra_a; it && *it; it++) {
        n++;
    }
    for (char *const *it = extra_b; it && *it; it++) {
        n++;
    }
    char **envp = fk_calloc(n + 1, sizeof *envp);
    size_t k = 0;
    for (char **it = environ; it && *it; it++) {
        if (strncmp(*it, "FAKTS_", 6) == 0) {
            continue;
        }
        bool overridden = false;
        const char *eq = strchr(*it, '=');
        size_t name_len = eq ? (size_t)(eq - *it) : strlen(*it);
        for (char *const *x = extra_a; x && *x && !overridden; x++) {
            overridden = strncmp(*x, *it, name_len) == 0 && (*x)[name_len] == '=';
        }
        for (char *const *x = extra_b; x && *x && !overridden; x++) {
            overridden = strncmp(*x, *it, name_len) == 0 && (*x)[name_len] == '=';
        }
        if (!overridden) {
            envp[k++] = *it;
        }
    }
    for (char *const *it = extra_a; it && *it; it++) {
        envp[k++] = *it;
    }
    for (char *const *it = extra_b; it && *it; it++) {
        envp[k++] = *it;
    }
    envp[k] = NULL;
    return envp;
}

/*  "ASAN_OPTIONS=<$FK_CHILD_ASAN_OPTIONS>" when that variable is set and
    given does not set ASAN_OPTIONS itself, else NULL. Caller frees. This
    lets a suite run its own process without leak checking (a failed
    assertion unwinds past every free) while every agent and CLI child is
    still leak-checked. */
static char *
s_child_asan(char *const *given)
{
    const char *options = getenv("FK_CHILD_ASAN_OPTIONS");
    if (!options) {
        return NULL;
    }
    for (char *const *it = given; it && *it; it++) {
        if (strncmp(*it, "ASAN_OPTIONS=", 13) == 0) {
            return NULL;
        }
    }
    return fk_asprintf("ASAN_OPTIONS=%s", options);
}

static const char *
s_binary(const char *requested)
{
    if (requested) {
        return requested;
    }
    const char *env = getenv("FK_NODE_BIN");
    return env && *env ? env : FK_NODE_BIN;
}

/*  ---------------------------------------------------------------------
    Processes
    --------------------------------------------------------------------- */

/*  Child side of fork(): only async-signal-safe calls from here on. */
static void
s_exec_child(pid_t parent, char *const argv[], char *const envp[], int in_fd, int out_fd,
             int err_fd)
{
    /* Die with the test: Criterion kills a worker that times out or
       crashes, and its agents must not outlive it. The getppid() check
       closes the race where the parent died before prctl(). */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent) {
        _exit(127);
    }
    if (dup2(in_fd, STDIN_FILENO) == -1 || dup2(out_fd, STDOUT_FILENO) == -1
        || dup2(err_fd, STDERR_FILENO) == -1) {
        _exit(127);
    }
    /* Neither the runner's pipes nor any socket of ours may leak into the
       agent: a held pipe would keep Criterion waiting. */
    close_range(3, ~0U, 0);
    /* Dispositions set to "ignore" survive execve; the agent must see the
       signals the way a shell would deliver them. */
    signal(SIGTERM, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(argv[0], argv, envp);
    _exit(127);
}

/*  If SIGCHLD is ignored, children are reaped by the kernel and waitpid()
    cannot report their status; make sure it is not. */
static void
s_ensure_sigchld(void)
{
    struct sigaction sa;
    if (sigaction(SIGCHLD, NULL, &sa) == 0 && sa.sa_handler == SIG_IGN) {
        signal(SIGCHLD, SIG_DFL);
    }
}

static int
s_decode_status(int status)
{
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    if (WIFSIGNALED(status)) {
        return 128 + WTERMSIG(status);
    }
    return 255;
}

/*  Reap pid without blocking. Returns 1 and sets *status when it has exited
    (or cannot be waited for: *status = -ECHILD), 0 while it runs. */
static int
s_try_reap(pid_t pid, int *status)
{
    int raw = 0;
    pid_t got;
    do {
        got = waitpid(pid, &raw, WNOHANG);
    } while (got == -1 && errno == EINTR);
    if (got == 0) {
        return 0;
    }
    *status = got == pid ? s_decode_status(raw) : -ECHILD;
    return 1;
}

/*  Wait for pid to exit, up to timeout_ms. Returns 1 with *status set, or 0
    when it still runs at the deadline. */
static int
s_reap_within(pid_t pid, int64_t timeout_ms, int *status)
{
    int64_t deadline = fk_harness_now_ms() + timeout_ms;
    for (;;) {
        bool expired = fk_harness_now_ms() >= deadline;
        if (s_try_reap(pid, status)) {
            return 1;
        }
        if (expired) {
            return 0;
        }
        s_nap_ms(S_POLL_NAP_MS);
    }
}

/*  SIGKILL and a blocking reap: SIGKILL cannot be caught, so this ends. */
static int
s_kill_and_reap(pid_t pid)
{
    int raw = 0;
    kill(pid, SIGKILL);
    pid_t got;
    do {
        got = waitpid(pid, &raw, 0);
    } while (got == -1 && errno == EINTR);
    return got == pid ? s_decode_status(raw) : -ECHILD;
}

/*  ---------------------------------------------------------------------
    Nodes
    --------------------------------------------------------------------- */

static void
s_node_unlink(fk_node_t *self)
{
    for (fk_node_t **it = &s_nodes; *it; it = &(*it)->next) {
        if (*it == self) {
            *it = self->next;
            self->next = NULL;
            return;
        }
    }
}

static void
s_node_clear_endpoint(fk_node_t *self)
{
    free(self->http_addr);
    self->http_addr = NULL;
    free(self->base_url);
    self->base_url = NULL;
    free(self->admin_token);
    self->admin_token = NULL;
    json_decref(self->agent_doc);
    self->agent_doc = NULL;
}

static int s_http_request(const char *method, const char *url, const char *const *headers,
                          const void *body, size_t body_len, long *status_p, char **resp_headers_p,
                          char **body_p, bool quiet);

/*  State shared by the start-up conditions. */
typedef struct {
    fk_node_t *node; /* the node starting */
    bool died;       /* the child exited while we waited */
    int exit_status; /* its status, when died */
} s_start_wait_t;

/*  Condition: agent.json names our child and an address. A half-written
    file simply fails to parse and is read again at the next poll. */
static bool
s_agent_json_ready(void *arg)
{
    s_start_wait_t *wait = arg;
    fk_node_t *self = wait->node;
    if (s_try_reap(self->pid, &wait->exit_status)) {
        wait->died = true;
        self->pid = -1;
        return true;
    }
    char *path = fk_asprintf("%s/agent.json", self->data_dir);
    char *text = s_read_file(path);
    free(path);
    if (!text) {
        return false;
    }
    json_t *doc = json_loads(text, 0, NULL);
    free(text);
    bool ready = false;
    json_t *pid = json_object_get(doc, "pid");
    const char *http = json_string_value(json_object_get(doc, "http"));
    /* After a kill -9 the previous run's agent.json is still there: only a
       file naming this child counts. */
    if (json_is_integer(pid) && json_integer_value(pid) == (json_int_t)self->pid && http
        && strchr(http, ':')) {
        free(self->http_addr);
        self->http_addr = fk_strdup(http);
        json_decref(self->agent_doc);
        self->agent_doc = json_incref(doc);
        ready = true;
    }
    json_decref(doc);
    return ready;
}

/*  Condition: the admin token exists and GET /v1/agent/info answers 200. */
static bool
s_agent_info_ready(void *arg)
{
    s_start_wait_t *wait = arg;
    fk_node_t *self = wait->node;
    if (s_try_reap(self->pid, &wait->exit_status)) {
        wait->died = true;
        self->pid = -1;
        return true;
    }
    /* Read the token at every poll and keep it only once it was accepted:
       a file caught half-written must not be cached. */
    free(self->admin_token);
    self->admin_token = NULL;
    char *path = fk_asprintf("%s/admin-token", self->data_dir);
    char *text = s_read_file(path);
    free(path);
    if (!text) {
        return false;
    }
    char *token = fk_strdup(s_trim(text));
    free(text);
    if (!*token) {
        free(token);
        return false;
    }
    char *url = fk_harness_url(self, "/v1/agent/info");
    char *auth = fk_asprintf("Authorization: Bearer %s", token);
    const char *headers[] = {auth, "Accept: application/json", NULL};
    long status = 0;
    int rc = s_http_request("GET", url, headers, NULL, 0, &status, NULL, NULL, true);
    free(auth);
    free(url);
    if (rc != 0 || status != 200) {
        free(token);
        return false;
    }
    self->admin_token = token;
    return true;
}

/*  Launch the agent process of a node whose directories exist. */
static int
s_launch(fk_node_t *self)
{
    s_ensure_sigchld();
    int in_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int log_fd = open(self->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (in_fd == -1 || log_fd == -1) {
        int err = errno;
        fprintf(stderr, "fk_harness: cannot open /dev/null or %s: %s\n", self->log_path,
                strerror(err));
        if (in_fd != -1) {
            close(in_fd);
        }
        if (log_fd != -1) {
            close(log_fd);
        }
        return -err;
    }
    char *listen = fk_asprintf("%s:0", self->addr);
    char **argv = NULL;
    size_t argc = 0;
    s_strv_push(&argv, &argc, self->binary);
    s_strv_push(&argv, &argc, "agent");
    s_strv_push(&argv, &argc, "--data-dir");
    s_strv_push(&argv, &argc, self->data_dir);
    s_strv_push(&argv, &argc, "--http");
    s_strv_push(&argv, &argc, listen);
    s_strv_push(&argv, &argc, "--node");
    s_strv_push(&argv, &argc, self->name);
    /*  Gossip on the node's own address; the port the first run got is
        kept, so members that remember it find a restarted node again. */
    char *gossip = fk_asprintf("%s:%s", self->addr, self->gossip_port ? self->gossip_port : "0");
    s_strv_push(&argv, &argc, "--gossip");
    s_strv_push(&argv, &argc, gossip);
    free(gossip);
    for (char **it = self->args; *it; it++) {
        s_strv_push(&argv, &argc, *it);
    }
    char *asan = s_child_asan(self->env);
    char *const sanitizer[] = {asan, NULL};
    char **envp = s_child_env(self->env, sanitizer);

    /* A marker in the log separates the runs of a restarted node. */
    char *marker = fk_asprintf("---- fk_harness: starting %s (%s) ----\n", self->name, listen);
    ssize_t ignored = write(log_fd, marker, strlen(marker));
    (void)ignored;
    free(marker);

    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        s_exec_child(parent, argv, envp, in_fd, log_fd, log_fd);
    }
    int err = errno;
    close(in_fd);
    close(log_fd);
    free(envp);
    free(asan);
    s_strv_free(&argv);
    free(listen);
    if (pid == -1) {
        fprintf(stderr, "fk_harness: fork: %s\n", strerror(err));
        return -err;
    }
    self->pid = pid;
    return 0;
}

/*  Launch and wait until the agent answers. On failure the child is killed
    and its log tail printed; the directories stay. */
static int
s_boot(fk_node_t *self)
{
    s_node_clear_endpoint(self);
    int rc = s_launch(self);
    if (rc != 0) {
        return rc;
    }
    s_start_wait_t wait = {.node = self};
    int64_t deadline = fk_harness_now_ms() + self->start_timeout_ms;
    const char *stage = "agent.json";
    bool ok = fk_poll_until(self->start_timeout_ms, s_agent_json_ready, &wait) && !wait.died;
    if (ok) {
        self->base_url = fk_asprintf("http://%s", self->http_addr);
        stage = "GET /v1/agent/info";
        int64_t left = deadline - fk_harness_now_ms();
        ok = fk_poll_until(left > 0 ? left : 0, s_agent_info_ready, &wait) && !wait.died;
    }
    if (ok) {
        const char *gossip = json_string_value(json_object_get(self->agent_doc, "gossip"));
        const char *colon = gossip ? strrchr(gossip, ':') : NULL;
        if (colon && !self->gossip_port) {
            self->gossip_port = fk_strdup(colon + 1);
        }
        return 0;
    }
    if (wait.died) {
        fprintf(stderr, "fk_harness: %s exited with status %d while waiting for %s\n", self->name,
                wait.exit_status, stage);
    } else {
        fprintf(stderr, "fk_harness: %s did not get past %s within %d ms\n", self->name, stage,
                self->start_timeout_ms);
        s_kill_and_reap(self->pid);
        self->pid = -1;
    }
    fk_harness_dump_log(self, 4096);
    return -1;
}

fk_node_t *
fk_harness_start(const fk_node_opts_t *opts)
{
    static const fk_node_opts_t defaults = {0};
    if (!opts) {
        opts = &defaults;
    }
    if (!s_atexit_done) {
        atexit(fk_harness_cleanup);
        s_atexit_done = true;
    }
    fk_node_t *self = fk_calloc(1, sizeof *self);
    self->pid = -1;
    self->root = fk_testdir_make("fk-node");
    self->data_dir = fk_asprintf("%s/data", self->root);
    self->log_path = fk_asprintf("%s/agent.log", self->root);
    self->addr = fk_strdup(opts->addr ? opts->addr : "127.0.0.1");
    self->name = opts->name ? fk_strdup(opts->name) : fk_asprintf("node-%u", ++s_node_seq);
    self->binary = fk_strdup(s_binary(opts->binary));
    self->args = s_strv_dup(opts->args);
    self->env = s_strv_dup(opts->env);
    self->start_timeout_ms =
        opts->start_timeout_ms > 0 ? opts->start_timeout_ms : FK_HARNESS_START_TIMEOUT_MS;
    /* Registered before the child exists, so no path leaves it behind. */
    self->next = s_nodes;
    s_nodes = self;
    if (mkdir(self->data_dir, 0700) == -1) {
        fprintf(stderr, "fk_harness: mkdir %s: %s\n", self->data_dir, strerror(errno));
        fk_harness_remove(&self);
        return NULL;
    }
    if (access(self->binary, X_OK) == -1) {
        fprintf(stderr, "fk_harness: %s is not an executable: %s\n", self->binary, strerror(errno));
        fk_harness_remove(&self);
        return NULL;
    }
    if (s_boot(self) != 0) {
        fk_harness_remove(&self);
        return NULL;
    }
    return self;
}

int
fk_harness_stop(fk_node_t *self, int timeout_ms)
{
    if (!self || self->pid <= 0) {
        return -ESRCH;
    }
    pid_t pid = self->pid;
    kill(pid, SIGTERM);
    int status = 0;
    int64_t limit = timeout_ms > 0 ? timeout_ms : FK_HARNESS_STOP_TIMEOUT_MS;
    int done = s_reap_within(pid, limit, &status);
    self->pid = -1;
    if (!done) {
        fprintf(stderr, "fk_harness: %s ignored SIGTERM for %lld ms; killed\n", self->name,
                (long long)limit);
        s_kill_and_reap(pid);
        return -ETIMEDOUT;
    }
    return status;
}

int
fk_harness_kill9(fk_node_t *self)
{
    if (!self || self->pid <= 0) {
        return -ESRCH;
    }
    s_kill_and_reap(self->pid);
    self->pid = -1;
    return 0;
}

int
fk_harness_restart(fk_node_t *self)
{
    if (fk_harness_running(self)) {
        fk_harness_stop(self, 0);
    }
    return s_boot(self) == 0 ? 0 : -1;
}

void
fk_harness_remove(fk_node_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    fk_node_t *self = *self_p;
    if (self->pid > 0) {
        s_kill_and_reap(self->pid);
        self->pid = -1;
    }
    s_node_unlink(self);
    fk_testdir_remove(&self->root);
    free(self->data_dir);
    free(self->log_path);
    free(self->addr);
    free(self->name);
    free(self->gossip_port);
    free(self->binary);
    s_strv_free(&self->args);
    s_strv_free(&self->env);
    s_node_clear_endpoint(self);
    free(self);
    *self_p = NULL;
}

void
fk_harness_cleanup(void)
{
    while (s_nodes) {
        fk_node_t *node = s_nodes;
        fk_harness_remove(&node);
    }
}

bool
fk_harness_running(fk_node_t *self)
{
    if (!self || self->pid <= 0) {
        return false;
    }
    int status = 0;
    if (s_try_reap(self->pid, &status)) {
        self->pid = -1;
        return false;
    }
    return true;
}

pid_t
fk_harness_pid(const fk_node_t *self)
{
    return self->pid > 0 ? self->pid : -1;
}

const char *
fk_harness_base_url(const fk_node_t *self)
{
    return self->base_url;
}

const char *
fk_harness_http_addr(const fk_node_t *self)
{
    return self->http_addr;
}

const json_t *
fk_harness_agent_json(const fk_node_t *self)
{
    return self->agent_doc;
}

const char *
fk_harness_data_dir(const fk_node_t *self)
{
    return self->data_dir;
}

const char *
fk_harness_root_dir(const fk_node_t *self)
{
    return self->root;
}

const char *
fk_harness_admin_token(const fk_node_t *self)
{
    return self->admin_token;
}

const char *
fk_harness_name(const fk_node_t *self)
{
    return self->name;
}

char *
fk_harness_url(const fk_node_t *self, const char *path)
{
    return fk_asprintf("%s%s", self->base_url ? self->base_url : "http://0.0.0.0:0", path);
}

char *
fk_harness_write_file(const fk_node_t *self, const char *name, const char *content)
{
    char *path = fk_asprintf("%s/%s", self->root, name);
    FILE *file = fopen(path, "we");
    if (!file) {
        fprintf(stderr, "fk_harness: cannot write %s: %s\n", path, strerror(errno));
        free(path);
        return NULL;
    }
    size_t len = strlen(content);
    bool ok = fwrite(content, 1, len, file) == len;
    ok = fclose(file) == 0 && ok;
    if (!ok) {
        free(path);
        return NULL;
    }
    return path;
}

void
fk_harness_dump_log(const fk_node_t *self, size_t max_bytes)
{
    char *text = s_read_file(self->log_path);
    if (!text) {
        fprintf(stderr, "fk_harness: no log at %s\n", self->log_path);
        return;
    }
    size_t len = strlen(text);
    const char *tail = len > max_bytes ? text + (len - max_bytes) : text;
    fprintf(stderr, "---- fk_harness: last %zu bytes of %s ----\n%s\n---- end of log ----\n",
            strlen(tail), self->log_path, tail);
    free(text);
}

/*  ---------------------------------------------------------------------
    Command line
    --------------------------------------------------------------------- */

/*  Words that name a command or subcommand in docs/CLI.md; the address flag
    goes right after the leading run of them. */
static bool
s_is_command_word(const char *word)
{
    static const char *const words[] = {
        "info",       "members", "join",    "leave", "force-leave",  "services", "list", "register",
        "deregister", "codes",   "approve", "deny",  "redeem-token", "create",   NULL};
    for (const char *const *it = words; *it; it++) {
        if (strcmp(*it, word) == 0) {
            return true;
        }
    }
    return false;
}

/*  Drain both pipes until EOF on each or the deadline. Returns 0, or
    -ETIMEDOUT with whatever arrived so far in the buffers. */
static int
s_drain(int out_fd, int err_fd, fk_buf_t *out, fk_buf_t *err, int64_t deadline)
{
    struct pollfd fds[2] = {{.fd = out_fd, .events = POLLIN}, {.fd = err_fd, .events = POLLIN}};
    fk_buf_t *bufs[2] = {out, err};
    int open_count = 2;
    while (open_count > 0) {
        int64_t left = deadline - fk_harness_now_ms();
        if (left <= 0) {
            return -ETIMEDOUT;
        }
        int n = poll(fds, 2, (int)(left > 1000 ? 1000 : left));
        if (n == -1 && errno != EINTR) {
            return -errno;
        }
        for (int i = 0; i < 2 && n > 0; i++) {
            if (fds[i].fd < 0 || !fds[i].revents) {
                continue;
            }
            char chunk[4096];
            ssize_t got = read(fds[i].fd, chunk, sizeof chunk);
            if (got > 0) {
                fk_buf_add(bufs[i], chunk, (size_t)got);
            } else if (got == 0 || errno != EINTR) {
                fds[i].fd = -1;
                open_count--;
            }
        }
    }
    return 0;
}

int
fk_harness_cli(const fk_node_t *self, const char *const *argv, int *exit_status, char **stdout_p,
               char **stderr_p)
{
    *exit_status = -1;
    if (stdout_p) {
        *stdout_p = NULL;
    }
    if (stderr_p) {
        *stderr_p = NULL;
    }
    size_t n = 0;
    while (argv[n]) {
        n++;
    }
    size_t words = 0;
    while (words < n && words < 2 && s_is_command_word(argv[words])) {
        words++;
    }
    char **child_argv = NULL;
    size_t argc = 0;
    s_strv_push(&child_argv, &argc, s_binary(NULL));
    for (size_t i = 0; i < words; i++) {
        s_strv_push(&child_argv, &argc, argv[i]);
    }
    s_strv_push(&child_argv, &argc, "--http-addr");
    s_strv_push(&child_argv, &argc, self->http_addr ? self->http_addr : "127.0.0.1:1");
    for (size_t i = words; i < n; i++) {
        s_strv_push(&child_argv, &argc, argv[i]);
    }
    char *data_env = fk_asprintf("FAKTS_DATA_DIR=%s", self->data_dir);
    char *const extra[] = {data_env, NULL};
    char *asan = s_child_asan(NULL);
    char *const sanitizer[] = {asan, NULL};
    char **envp = s_child_env(extra, sanitizer);

    int out_pipe[2] = {-1, -1};
    int err_pipe[2] = {-1, -1};
    int in_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int rc = 0;
    if (in_fd == -1 || pipe2(out_pipe, O_CLOEXEC) == -1 || pipe2(err_pipe, O_CLOEXEC) == -1) {
        rc = -errno;
        goto done;
    }
    s_ensure_sigchld();
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        s_exec_child(parent, child_argv, envp, in_fd, out_pipe[1], err_pipe[1]);
    }
    if (pid == -1) {
        rc = -errno;
        goto done;
    }
    close(out_pipe[1]);
    out_pipe[1] = -1;
    close(err_pipe[1]);
    err_pipe[1] = -1;

    fk_buf_t out = {0};
    fk_buf_t err = {0};
    int64_t deadline = fk_harness_now_ms() + FK_HARNESS_CLI_TIMEOUT_MS;
    int drained = s_drain(out_pipe[0], err_pipe[0], &out, &err, deadline);
    int status = 0;
    int64_t left = deadline - fk_harness_now_ms();
    if (drained != 0 || !s_reap_within(pid, left > 0 ? left : 0, &status)) {
        s_kill_and_reap(pid);
        status = -ETIMEDOUT;
        fprintf(stderr, "fk_harness: CLI command '%s' timed out\n", argv[0] ? argv[0] : "");
    }
    *exit_status = status;
    char *out_text = fk_buf_take(&out);
    char *err_text = fk_buf_take(&err);
    if (stdout_p) {
        *stdout_p = out_text;
    } else {
        free(out_text);
    }
    if (stderr_p) {
        *stderr_p = err_text;
    } else {
        free(err_text);
    }

done:
    for (int i = 0; i < 2; i++) {
        if (out_pipe[i] != -1) {
            close(out_pipe[i]);
        }
        if (err_pipe[i] != -1) {
            close(err_pipe[i]);
        }
    }
    if (in_fd != -1) {
        close(in_fd);
    }
    free(envp);
    free(asan);
    free(data_env);
    s_strv_free(&child_argv);
    return rc;
}

/*  ---------------------------------------------------------------------
    HTTP
    --------------------------------------------------------------------- */

static size_t
s_curl_collect(char *data, size_t size, size_t nmemb, void *userdata)
{
    fk_buf_add(userdata, data, size * nmemb);
    return size * nmemb;
}

/*  True when a header list already has a line for name ("Name:" prefix). */
static bool
s_has_header(const char *const *headers, const char *name)
{
    size_t len = strlen(name);
    for (const char *const *it = headers; it && *it; it++) {
        if (strncasecmp(*it, name, len) == 0 && (*it)[len] == ':') {
            return true;
        }
    }
    return false;
}

/*  fk_http_request() with the transport error printed or not: while a
    node starts, "connection refused" is expected and not worth a line. */
static int
s_http_request(const char *method, const char *url, const char *const *headers, const void *body,
               size_t body_len, long *status_p, char **resp_headers_p, char **body_p, bool quiet)
{
    *status_p = 0;
    if (resp_headers_p) {
        *resp_headers_p = NULL;
    }
    if (body_p) {
        *body_p = NULL;
    }
    if (!s_curl_ready) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        s_curl_ready = true;
    }
    CURL *curl = curl_easy_init();
    if (!curl) {
        return -ENOMEM;
    }
    struct curl_slist *list = NULL;
    for (const char *const *it = headers; it && *it; it++) {
        list = curl_slist_append(list, *it);
    }
    /* libcurl would otherwise add "Expect: 100-continue" to larger bodies
       (no Python client sends it) and a form Content-Type to every POST
       body; the caller states both explicitly. */
    if (!s_has_header(headers, "Expect")) {
        list = curl_slist_append(list, "Expect:");
    }
    if (!s_has_header(headers, "Content-Type")) {
        list = curl_slist_append(list, "Content-Type:");
    }
    fk_buf_t head = {0};
    fk_buf_t resp = {0};
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_PROXY, "");
    curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long)FK_HTTP_TIMEOUT_MS);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, s_curl_collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, s_curl_collect);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &head);
    if (body) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        if (strcmp(method, "POST") != 0) {
            curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
        }
    } else if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
    } else {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    }
    CURLcode code = curl_easy_perform(curl);
    long status = 0;
    if (code == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    }
    curl_easy_cleanup(curl);
    curl_slist_free_all(list);
    if (code != CURLE_OK) {
        if (!quiet) {
            fprintf(stderr, "fk_http: %s %s: %s\n", method, url, curl_easy_strerror(code));
        }
        free(head.data);
        free(resp.data);
        return -EIO;
    }
    *status_p = status;
    char *head_text = fk_buf_take(&head);
    char *body_text = fk_buf_take(&resp);
    if (resp_headers_p) {
        *resp_headers_p = head_text;
    } else {
        free(head_text);
    }
    if (body_p) {
        *body_p = body_text;
    } else {
        free(body_text);
    }
    return 0;
}

int
fk_http_request(const char *method, const char *url, const char *const *headers, const void *body,
                size_t body_len, long *status_p, char **resp_headers_p, char **body_p)
{
    return s_http_request(method, url, headers, body, body_len, status_p, resp_headers_p, body_p,
                          false);
}

fk_http_resp_t *
fk_http_send(const char *method, const char *url, const char *const *headers, const void *body,
             size_t body_len)
{
    fk_http_resp_t *self = fk_calloc(1, sizeof *self);
    if (fk_http_request(method, url, headers, body, body_len, &self->status, &self->headers,
                        &self->body)
        != 0) {
        self->headers = fk_strdup("");
        self->body = fk_strdup("");
    }
    self->body_len = strlen(self->body);
    self->json = json_loadb(self->body, self->body_len, JSON_DECODE_ANY, NULL);
    return self;
}

fk_http_resp_t *
fk_http_get(const char *url, const char *bearer)
{
    char *auth = bearer ? fk_asprintf("Authorization: Bearer %s", bearer) : NULL;
    const char *headers[] = {"Accept: application/json", auth, NULL};
    fk_http_resp_t *resp = fk_http_send("GET", url, headers, NULL, 0);
    free(auth);
    return resp;
}

fk_http_resp_t *
fk_http_post_json(const char *url, const char *content_type, const char *bearer,
                  const char *json_text)
{
    char *ctype = content_type ? fk_asprintf("Content-Type: %s", content_type) : NULL;
    char *auth = bearer ? fk_asprintf("Authorization: Bearer %s", bearer) : NULL;
    /* With no Content-Type wanted, "Content-Type:" keeps libcurl from
       adding its form default; the request then carries none at all. */
    const char *headers[] = {"Accept: application/json", ctype ? ctype : "Content-Type:", auth,
                             NULL};
    fk_http_resp_t *resp = fk_http_send("POST", url, headers, json_text, strlen(json_text));
    free(ctype);
    free(auth);
    return resp;
}

/*  application/x-www-form-urlencoded as Python's urlencode() writes it
    (quote_plus: space as '+', everything but [A-Za-z0-9_.~-] escaped), the
    way the fakts client's HTTP library encodes a form. */
static void
s_form_escape(fk_buf_t *buf, const char *text)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (isalnum(*p) || *p == '_' || *p == '.' || *p == '~' || *p == '-') {
            fk_buf_add(buf, p, 1);
        } else if (*p == ' ') {
            fk_buf_add(buf, "+", 1);
        } else {
            char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            fk_buf_add(buf, esc, 3);
        }
    }
}

fk_http_resp_t *
fk_http_post_form(const char *url, const char *bearer, const char *const *pairs)
{
    fk_buf_t body = {0};
    fk_buf_add(&body, "", 0);
    for (const char *const *it = pairs; it && it[0] && it[1]; it += 2) {
        if (body.len) {
            fk_buf_add(&body, "&", 1);
        }
        s_form_escape(&body, it[0]);
        fk_buf_add(&body, "=", 1);
        s_form_escape(&body, it[1]);
    }
    char *auth = bearer ? fk_asprintf("Authorization: Bearer %s", bearer) : NULL;
    const char *headers[] = {"Accept: application/json",
                             "Content-Type: application/x-www-form-urlencoded", auth, NULL};
    fk_http_resp_t *resp = fk_http_send("POST", url, headers, body.data, body.len);
    free(auth);
    free(body.data);
    return resp;
}

void
fk_http_resp_destroy(fk_http_resp_t **self_p)
{
    if (!self_p || !*self_p) {
        return;
    }
    fk_http_resp_t *self = *self_p;
    free(self->headers);
    free(self->body);
    json_decref(self->json);
    free(self);
    *self_p = NULL;
}

char *
fk_http_header(const char *headers, const char *name)
{
    if (!headers) {
        return NULL;
    }
    size_t name_len = strlen(name);
    char *found = NULL;
    for (const char *line = headers; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > name_len && strncasecmp(line, name, name_len) == 0 && line[name_len] == ':') {
            free(found);
            char *value = fk_strndup(line + name_len + 1, len - name_len - 1);
            found = fk_strdup(s_trim(value));
            free(value);
        }
        if (!end) {
            break;
        }
        line = end + 1;
    }
    return found;
}

char *
fk_http_resp_header(const fk_http_resp_t *resp, const char *name)
{
    return fk_http_header(resp->headers, name);
}

/*  Split an absolute URL into lower-cased scheme, lower-cased host and
    port. Returns false when it is not scheme://host[:port][/...]. */
static bool
s_origin(const char *url, char **scheme, char **host, long *port)
{
    const char *sep = strstr(url, "://");
    if (!sep || sep == url) {
        return false;
    }
    const char *auth = sep + 3;
    size_t auth_len = strcspn(auth, "/?#");
    const char *at = memchr(auth, '@', auth_len);
    if (at) {
        auth_len -= (size_t)(at + 1 - auth);
        auth = at + 1;
    }
    const char *port_sep = NULL;
    size_t host_len = auth_len;
    if (auth[0] == '[') {
        const char *close = memchr(auth, ']', auth_len);
        if (!close) {
            return false;
        }
        host_len = (size_t)(close - auth) + 1;
        if (host_len < auth_len && auth[host_len] == ':') {
            port_sep = auth + host_len;
        }
    } else {
        port_sep = memchr(auth, ':', auth_len);
        if (port_sep) {
            host_len = (size_t)(port_sep - auth);
        }
    }
    if (host_len == 0) {
        return false;
    }
    *scheme = fk_strndup(url, (size_t)(sep - url));
    *host = fk_strndup(auth, host_len);
    for (char *p = *scheme; *p; p++) {
        *p = (char)tolower((unsigned char)*p);
    }
    for (char *p = *host; *p; p++) {
        *p = (char)tolower((unsigned char)*p);
    }
    if (port_sep && (size_t)(port_sep + 1 - auth) < auth_len) {
        *port = strtol(port_sep + 1, NULL, 10);
    } else {
        *port = strcmp(*scheme, "https") == 0 ? 443 : 80;
    }
    return true;
}

bool
fk_http_same_origin(const char *url_a, const char *url_b)
{
    char *scheme_a = NULL, *host_a = NULL, *scheme_b = NULL, *host_b = NULL;
    long port_a = 0, port_b = 0;
    bool same = url_a && url_b && s_origin(url_a, &scheme_a, &host_a, &port_a)
                && s_origin(url_b, &scheme_b, &host_b, &port_b) && strcmp(scheme_a, scheme_b) == 0
                && strcmp(host_a, host_b) == 0 && port_a == port_b;
    free(scheme_a);
    free(host_a);
    free(scheme_b);
    free(host_b);
    return same;
}

fk_http_resp_t *
fk_harness_admin(const fk_node_t *self, const char *method, const char *path, const char *json_text)
{
    char *url = fk_harness_url(self, path);
    char *auth =
        fk_asprintf("Authorization: Bearer %s", self->admin_token ? self->admin_token : "");
    const char *headers[] = {"Accept: application/json", auth,
                             json_text ? "Content-Type: application/json" : NULL, NULL};
    fk_http_resp_t *resp =
        fk_http_send(method, url, headers, json_text, json_text ? strlen(json_text) : 0);
    free(auth);
    free(url);
    return resp;
}

/*  ---------------------------------------------------------------------
    JWT and base64url
    --------------------------------------------------------------------- */

int
fk_jwt_segments(const char *s)
{
    int n = 1;
    for (; *s; s++) {
        n += *s == '.';
    }
    return n;
}

json_t *
fk_jwt_part(const char *jwt, int part)
{
    if (!jwt || fk_jwt_segments(jwt) != 3 || part < 0 || part > 1) {
        return NULL;
    }
    const char *start = jwt;
    for (int i = 0; i < part; i++) {
        start = strchr(start, '.') + 1;
    }
    const char *end = strchr(start, '.');
    char *segment = fk_strndup(start, (size_t)(end - start));
    size_t len = 0;
    unsigned char *raw = NULL;
    if (fk_b64url_decode(segment, strlen(segment), &raw, &len) != 0) {
        raw = NULL;
    }
    free(segment);
    if (!raw) {
        return NULL;
    }
    json_t *doc = json_loadb((const char *)raw, len, 0, NULL);
    free(raw);
    return doc;
}
