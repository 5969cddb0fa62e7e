/*  fk_harness - run real fakts-node agents and talk to them over HTTP.

    End-to-end and cluster tests start the real binary (FK_NODE_BIN, or the
    FK_NODE_BIN environment variable when set) as a child process, each node
    with its own fresh directory and its own loopback address, and then speak
    to it exactly as a client would: HTTP through libcurl, and the command line
    through fork/exec of the same binary.

    Every node gets a root directory made by fk_testdir_make(); inside it:

        <root>/data         the agent's data dir (--data-dir)
        <root>/agent.log    the agent's stdout and stderr, appended across restarts
        <root>/<name>       files written by fk_harness_write_file()

    Nothing here synchronises by sleeping: every wait polls a condition with a
    monotonic deadline, with a short nanosleep between polls.

    Cleanup. The harness keeps every live node in a list. fk_harness_cleanup()
    kills each child (SIGKILL) and removes each root directory; call it from a
    Criterion .fini, which runs even after a failed assertion. It is also
    registered with atexit(). A child additionally dies with its parent
    (prctl(PR_SET_PDEATHSIG, SIGKILL)), so a crashed or timed-out test leaves
    no agent behind.

    Environment. Children inherit the test's environment minus every
    FAKTS_* variable. When FK_CHILD_ASAN_OPTIONS is set, children get it as
    their ASAN_OPTIONS (unless fk_node_opts_t.env sets ASAN_OPTIONS): a suite
    can then run its own process without leak checking, since a failed
    assertion unwinds past every free(), while each agent and CLI run stays
    leak-checked. FK_NODE_BIN, when set, overrides the compiled-in binary.

    Thread rules: none of these functions is thread-safe; tests call them from
    one thread. Nothing here uses Criterion, so the functions report failures
    with return codes and a diagnostic on stderr; the tests assert. */

#ifndef FK_HARNESS_H_INCLUDED
#define FK_HARNESS_H_INCLUDED

#include <jansson.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*  Default deadline for an agent to start answering, in milliseconds. */
#define FK_HARNESS_START_TIMEOUT_MS 30000

/*  Default deadline for an agent to exit after SIGTERM, in milliseconds. */
#define FK_HARNESS_STOP_TIMEOUT_MS 15000

/*  Default deadline for a CLI command to finish, in milliseconds. */
#define FK_HARNESS_CLI_TIMEOUT_MS 30000

/*  Default total timeout of one HTTP request, in milliseconds. */
#define FK_HTTP_TIMEOUT_MS 30000

/*  A running (or stopped) agent process with its directories. Opaque. */
typedef struct fk_node fk_node_t;

/*  How to start a node. Zero-initialise and set what you need; every field
    may be left 0/NULL. The harness copies what it keeps, so the options
    need not outlive fk_harness_start(). */
typedef struct {
    const char *addr;        /* listen address, any 127.0.0.x; NULL = "127.0.0.1" */
    const char *name;        /* --node NAME; NULL = "node-<n>" */
    const char *const *args; /* extra agent arguments, NULL-terminated; may be NULL */
    const char *const *env;  /* extra "NAME=value" entries, NULL-terminated; may be NULL */
    const char *binary;      /* the fakts-node binary; NULL = FK_NODE_BIN */
    int start_timeout_ms;    /* 0 = FK_HARNESS_START_TIMEOUT_MS */
} fk_node_opts_t;

/*  The result of one HTTP exchange. A plain record the caller reads directly;
    free it with fk_http_resp_destroy(). */
typedef struct {
    long status;     /* HTTP status, 0 if no answer was received */
    char *headers;   /* raw response header block, NUL-terminated, never NULL */
    char *body;      /* response body, NUL-terminated, never NULL */
    size_t body_len; /* body length without the terminating NUL */
    json_t *json;    /* body parsed as JSON (any value), NULL if it does not parse */
} fk_http_resp_t;

/*  A condition for fk_poll_until(): return true when it holds. */
typedef bool (*fk_poll_cond_fn)(void *arg);

/*  ---------------------------------------------------------------------
    Nodes
    --------------------------------------------------------------------- */

/*  Start "fakts-node agent --data-dir <root>/data --http <addr>:0 --node NAME
    [opts->args...]" with the test's environment minus every FAKTS_* variable,
    plus opts->env. Waits (deadline opts->start_timeout_ms) until
    <data-dir>/agent.json names the child's pid and an address, and then until
    GET /v1/agent/info, authenticated with <data-dir>/admin-token, answers 200.

    opts may be NULL (all defaults). Returns a new node (caller destroys with
    fk_harness_remove(), or leaves it to fk_harness_cleanup()), or NULL when
    the agent did not come up: the child is then killed, its directory removed
    and the tail of its log printed to stderr. */
fk_node_t *fk_harness_start(const fk_node_opts_t *opts);

/*  Send SIGTERM and wait up to timeout_ms (0 = FK_HARNESS_STOP_TIMEOUT_MS)
    for the agent to exit. The data dir is kept, so fk_harness_restart() can
    start it again. Returns the exit status (0-255), 128 + the signal number
    when a signal ended it, or -ETIMEDOUT when it outlived the deadline (it
    is then killed with SIGKILL and reaped). Returns -ESRCH when the node is
    not running. */
int fk_harness_stop(fk_node_t *self, int timeout_ms);

/*  Send SIGKILL and reap the child at once: a crash, with no chance to
    flush or clean up. Returns 0, or -ESRCH when the node is not running. */
int fk_harness_kill9(fk_node_t *self);

/*  Start the agent again on the same data dir, address, name, arguments and
    environment. A running node is stopped first (SIGTERM). The port is chosen
    afresh, so fk_harness_base_url() may change. Returns 0, or -1 when the
    agent did not come up (its log tail is printed; the node stays stopped
    and its directory is kept). */
int fk_harness_restart(fk_node_t *self);

/*  Kill the agent if it runs (SIGKILL), remove its root directory, free the
    node and set *self_p to NULL. Safe on NULL and on *self_p == NULL. */
void fk_harness_remove(fk_node_t **self_p);

/*  Remove every node this process started (fk_harness_remove on each).
    Idempotent. Meant for Criterion .fini and atexit(). */
void fk_harness_cleanup(void);

/*  True while the agent process runs (it is reaped here if it has exited). */
bool fk_harness_running(fk_node_t *self);

/*  The agent's pid, or -1 when it is not running. */
pid_t fk_harness_pid(const fk_node_t *self);

/*  "http://HOST:PORT", no trailing slash. Borrowed; valid until the next
    restart. NULL before the first successful start. */
const char *fk_harness_base_url(const fk_node_t *self);

/*  "HOST:PORT" the agent listens on (from agent.json). Borrowed, as above. */
const char *fk_harness_http_addr(const fk_node_t *self);

/*  The agent.json the current run wrote ({"node","http","pid",...}), for
    keys a cluster test needs beyond the HTTP address. Borrowed; valid until
    the next restart; NULL before the first successful start. */
const json_t *fk_harness_agent_json(const fk_node_t *self);

/*  The agent's data dir. Borrowed; valid until fk_harness_remove(). */
const char *fk_harness_data_dir(const fk_node_t *self);

/*  The node's root directory (data dir, log, written files). Borrowed. */
const char *fk_harness_root_dir(const fk_node_t *self);

/*  The admin token read from <data-dir>/admin-token (whitespace trimmed).
    Borrowed; re-read at every start. */
const char *fk_harness_admin_token(const fk_node_t *self);

/*  The --node name. Borrowed. */
const char *fk_harness_name(const fk_node_t *self);

/*  A fresh string: the base URL followed by path (which should start with
    "/"). Caller frees. */
char *fk_harness_url(const fk_node_t *self, const char *path);

/*  Write content to <root>/<name> (outside the data dir) and return its path
    as a fresh string (caller frees), or NULL on an I/O error. */
char *fk_harness_write_file(const fk_node_t *self, const char *name, const char *content);

/*  Print the last max_bytes of the node's agent.log to stderr, for
    diagnosing a failure. */
void fk_harness_dump_log(const fk_node_t *self, size_t max_bytes);

/*  ---------------------------------------------------------------------
    Command line
    --------------------------------------------------------------------- */

/*  Run "fakts-node <command words> --http-addr HOST:PORT <rest of argv>"
    against the node, with FAKTS_DATA_DIR=<data-dir> (so the command finds
    the admin token) and every other FAKTS_* variable removed. argv is
    NULL-terminated, e.g. {"approve", code, "--decline", "kabinet", NULL};
    its leading command words ("services", "list", "approve", ...) come first
    and the address flag is inserted after them, following the synopsis
    "fakts-node COMMAND [--http-addr HOST:PORT] ...".

    On return *exit_status holds the exit status (128 + signal when killed;
    -ETIMEDOUT after FK_HARNESS_CLI_TIMEOUT_MS, the command then killed).
    stdout_p and stderr_p, when not NULL, receive fresh NUL-terminated
    strings (caller frees). Returns 0 when the command ran, -errno when it
    could not be started. */
int fk_harness_cli(const fk_node_t *self, const char *const *argv, int *exit_status,
                   char **stdout_p, char **stderr_p);

/*  ---------------------------------------------------------------------
    HTTP (libcurl; no proxy, no redirects followed, "Expect:" suppressed)
    --------------------------------------------------------------------- */

/*  One request. method is "GET", "POST", "PUT", "DELETE", ...; headers is a
    NULL-terminated list of "Name: value" lines (may be NULL; "Name:" with no
    value removes a header libcurl would add, e.g. "Content-Type:"); body may
    be NULL (then body_len is ignored). libcurl adds no Content-Type of its
    own: a body without a Content-Type header is sent without one.

    On success returns 0 and sets *status_p; *resp_headers_p (if not NULL)
    gets the raw header block and *body_p (if not NULL) the NUL-terminated
    body, both fresh (caller frees). Returns -EIO when no HTTP answer was
    received (the libcurl error is printed to stderr); out-pointers are then
    set to 0/NULL. */
int fk_http_request(const char *method, const char *url, const char *const *headers,
                    const void *body, size_t body_len, long *status_p, char **resp_headers_p,
                    char **body_p);

/*  Like fk_http_request() but returns a response record (caller destroys).
    Never NULL: a transport failure gives status 0 and an empty body. */
fk_http_resp_t *fk_http_send(const char *method, const char *url, const char *const *headers,
                             const void *body, size_t body_len);

/*  GET with "Accept: application/json" and, when bearer is not NULL,
    "Authorization: Bearer <bearer>". */
fk_http_resp_t *fk_http_get(const char *url, const char *bearer);

/*  POST a JSON text with "Accept: application/json". content_type is the
    Content-Type to send ("application/json", "text/plain;charset=UTF-8",
    ...) or NULL to send none at all. bearer as for fk_http_get(). */
fk_http_resp_t *fk_http_post_json(const char *url, const char *content_type, const char *bearer,
                                  const char *json_text);

/*  POST an application/x-www-form-urlencoded body built from pairs, a
    NULL-terminated list name, value, name, value, ..., NULL (each value
    percent-encoded; a NULL value ends the list too). Sends
    "Accept: application/json" and, if bearer is not NULL, the bearer. */
fk_http_resp_t *fk_http_post_form(const char *url, const char *bearer, const char *const *pairs);

/*  Destroy a response and set *self_p to NULL. Safe on NULL. */
void fk_http_resp_destroy(fk_http_resp_t **self_p);

/*  The value of the last header called name (case-insensitive) in a raw
    header block, whitespace trimmed, as a fresh string (caller frees), or
    NULL when absent. */
char *fk_http_header(const char *headers, const char *name);

/*  Convenience: fk_http_header(resp->headers, name). */
char *fk_http_resp_header(const fk_http_resp_t *resp, const char *name);

/*  True when two absolute http(s) URLs have the same origin: scheme, host
    (case-insensitive) and port, with 80/443 as the defaults. */
bool fk_http_same_origin(const char *url_a, const char *url_b);

/*  Agent API call: method on <base>/<path> with the admin token as bearer
    and, when json_text is not NULL, that body as application/json. */
fk_http_resp_t *fk_harness_admin(const fk_node_t *self, const char *method, const char *path,
                                 const char *json_text);

/*  ---------------------------------------------------------------------
    Polling, time, JWT
    --------------------------------------------------------------------- */

/*  Milliseconds on the monotonic clock. */
int64_t fk_harness_now_ms(void);

/*  Call fn(arg) until it returns true or timeout_ms have passed, napping
    10 ms between calls. fn is called at least once, and once more after the
    deadline. Returns the last result of fn. */
bool fk_poll_until(int64_t timeout_ms, fk_poll_cond_fn fn, void *arg);

/*  Wait until the monotonic clock reaches until_ms (fk_harness_now_ms()
    scale), for protocol-mandated pauses such as a polling interval. Not a
    synchronisation primitive. */
void fk_harness_wait_until(int64_t until_ms);

/*  Decode part (0 = header, 1 = payload) of a compact JWT and parse it as
    JSON. Returns a new reference (caller json_decref()s), or NULL when the
    token does not have three dot-separated parts or the part is not
    base64url JSON. */
json_t *fk_jwt_part(const char *jwt, int part);

/*  Number of dot-separated segments in s ("a.b.c" -> 3). */
int fk_jwt_segments(const char *s);

/*  base64url encoding and decoding come from common/fk_crypto.h. */

#endif
