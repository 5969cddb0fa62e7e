/*  fk_client - one HTTP exchange at a time with a fakts-node agent, over
    libcurl, for the command line.

    A client is bound to one agent address and, optionally, one admin token,
    which it sends as "Authorization: Bearer <token>" on every request. Each
    request blocks until the whole answer arrived, or a limit was hit: 3 s to
    connect, 30 s in total (or what fk_client_set_timeout says),
    FK_CLIENT_MAX_REPLY bytes of body. Proxies from the environment
    (http_proxy...) are ignored: the requests carry the admin token and
    normally go to an agent on the same host.

    An answer is an answer whatever its status: a 404 is a successful
    exchange as far as this module goes, and the caller decides what it
    means. The body is parsed as JSON when it is JSON.

    Threads: a client is used by one thread at a time. fk_client_global_init
    must run before any client is created, while the process has one thread
    (libcurl's rule for curl_global_init). */

#ifndef FK_CLIENT_H_INCLUDED
#define FK_CLIENT_H_INCLUDED

#include <jansson.h>
#include <signal.h>
#include <stddef.h>

/*  The largest answer body read (16 MiB); a longer one fails the request
    with FK_ETOOBIG. The agent's largest answers (catalogs) are far below. */
#define FK_CLIENT_MAX_REPLY ((size_t)16 * 1024 * 1024)

/*  Seconds allowed to open the connection, and for the whole exchange. */
#define FK_CLIENT_CONNECT_TIMEOUT 3
#define FK_CLIENT_TOTAL_TIMEOUT 30

typedef struct fk_client fk_client_t;

/*  One answer. Fields are owned by the reply; fk_client_reply_clear frees
    them. A zeroed reply ({0}) is a valid empty reply. */
typedef struct {
    long status;  /* HTTP status code; 0 when no answer arrived */
    char *body;   /* the body, NUL-terminated (embedded NULs possible); NULL if none */
    size_t size;  /* body length in bytes, the terminating NUL excluded */
    json_t *json; /* the body parsed as JSON (object, array...), or NULL if it is not JSON */
    char *index;  /* the X-Fakts-Index header (a blocking query's hash), or NULL */
} fk_client_reply_t;

/*  Initialize libcurl for the process. Call once, from main, before any
    thread starts. Returns 0, or FK_EUNAVAILABLE if libcurl cannot start. */
int fk_client_global_init(void);

/*  Release libcurl's process-wide state. Call once at exit, after every
    client was destroyed, and only if fk_client_global_init returned 0. */
void fk_client_global_cleanup(void);

/*  Create a client for the agent at addr: "HOST:PORT", "[IPv6]:PORT", or a
    base URL starting with "http://" or "https://" (a trailing '/' is
    dropped). token is the admin token (copied), or NULL to send no
    Authorization header; leading and trailing white space is ignored.
    Returns 0 and sets *self_p (caller destroys); FK_EINVAL_INPUT if addr is
    empty or the token holds a control character (it would split the header);
    -ENOMEM if libcurl cannot create a handle. Never touches the network.
    An https:// agent's certificate is always verified, host name
    included: against the CA certificates in the PEM file ca_file when it
    is given (copied), else against the system's. */
int fk_client_new(fk_client_t **self_p, const char *addr, const char *token, const char *ca_file);

/*  Destroy a client and set *self_p to NULL. Safe on NULL and idempotent. */
void fk_client_destroy(fk_client_t **self_p);

/*  Allow each exchange seconds (> 0, asserted) in total instead of
    FK_CLIENT_TOTAL_TIMEOUT: a blocking query (?wait=) needs its wait and
    some more. */
void fk_client_set_timeout(fk_client_t *self, long seconds);

/*  End a request in progress, within about a second, once *flag becomes
    non-zero (a signal handler sets it); the request then fails with
    -EINTR. NULL: requests are not cancelled. flag must outlive the
    client's requests. */
void fk_client_set_cancel(fk_client_t *self, const volatile sig_atomic_t *flag);

/*  Send one request and wait for its answer.

    self, method, path and reply must not be NULL (asserted).
    method is "GET", "PUT", "POST" or "DELETE". path starts with '/' and is
    sent as given: escape its parts with fk_client_escape. body (size bytes,
    NULL for none) is sent with the Content-Type content_type (NULL: none);
    a POST without a body sends an empty one.

    reply must be zeroed or hold an earlier reply: it is cleared first, then
    filled. Returns 0 when an answer arrived,
    whatever its status. Otherwise returns, with reply->status 0:
      FK_EUNAVAILABLE  no answer: connection refused, host unknown, timeout,
                       connection dropped... fk_client_error says what;
      FK_ETOOBIG       the body exceeded FK_CLIENT_MAX_REPLY;
      -EINTR           cancelled (fk_client_set_cancel);
      FK_EINVAL_INPUT  the address does not make a valid URL.
    The caller clears the reply in every case. */
int fk_client_request(fk_client_t *self, const char *method, const char *path,
                      const char *content_type, const char *body, size_t size,
                      fk_client_reply_t *reply);

/*  Called while a request is under way, about once a second while the
    agent has not answered yet (and more often while data moves), with the
    arg given to fk_client_on_wait: a command shows what it waits for
    (fk_progress_tick). It must not use the client. */
typedef void fk_client_wait_fn(void *arg);

/*  Call fn(arg) while each later request of this client waits; fn NULL:
    stop. */
void fk_client_on_wait(fk_client_t *self, fk_client_wait_fn *fn, void *arg);

/*  libcurl's description of the last failed request ("Failed to connect to
    127.0.0.1 port 8520 after 0 ms: Connection refused"), or "" after a
    successful one. Valid until the next request on this client. */
const char *fk_client_error(const fk_client_t *self);

/*  The base URL requests go to ("http://127.0.0.1:8520"). Valid while the
    client lives. */
const char *fk_client_url(const fk_client_t *self);

/*  Percent-encode s for use as one path segment (every byte but
    A-Z a-z 0-9 - . _ ~). Returns a fresh string (caller frees with free()).
    Aborts on out-of-memory. */
char *fk_client_escape(fk_client_t *self, const char *s);

/*  The agent's reason in an error answer: the "message" of an agent API
    error ({"error","message"}), else the "error_description" or "error" of
    an OAuth-shaped one. Returns a string borrowed from reply->json, or NULL
    when the body says nothing usable. Safe on a zeroed reply. */
const char *fk_client_reply_message(const fk_client_reply_t *reply);

/*  Free what a reply holds and zero it. Safe on a zeroed reply; idempotent. */
void fk_client_reply_clear(fk_client_reply_t *reply);

#endif
