/*  fk_http - the HTTP listener, a thin layer over libmicrohttpd.

    libmicrohttpd parses HTTP; this module adds what every fakts-node
    handler needs: a bounded request body collected in one buffer, one
    handler call per request with everything it needs, and responses
    built from a status, headers and a body.

    With fk_http_tls the listener speaks HTTPS only (GnuTLS, through
    libmicrohttpd): the certificate is handed to each handshake from the
    identity loaded last, so a reload changes what new connections get and
    leaves those already open, and their requests in flight, alone.

    A handler may hold its request instead of answering (fk_http_hold):
    the request then waits with no thread until fk_http_wake names one of
    its topics or its deadline passes, and the handler is called again for
    it. That is how a blocking query (GET ...?hash=H&wait=30s) waits for a
    change at the cost of a connection slot, not a thread.

    Threads: one libmicrohttpd polling thread (epoll) reads every
    connection; handlers run on a pool of worker threads
    (fk_http_limits_t.workers, grown while blocking handlers keep every
    worker busy), concurrently, and must be thread-safe. A
    request object belongs to the one thread handling it. fk_http_tls,
    fk_http_wake and fk_http_held may be called from any thread, also
    while serving. */

#ifndef FK_HTTP_H_INCLUDED
#define FK_HTTP_H_INCLUDED

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fk_http fk_http_t;
typedef struct fk_http_req fk_http_req_t;

/*  Called once per request, after the whole body arrived (or as soon as
    it is known to be over the limit: see fk_http_body_too_big). The
    handler must answer with exactly one fk_http_respond* call before it
    returns. */
typedef void (*fk_http_handler_fn)(void *arg, fk_http_req_t *req);

/*  Bind and listen on host:port (port 0 picks a free one), so the caller
    knows the port before any request can arrive. Bodies are limited to
    max_body bytes. Returns 0, -EADDRINUSE or another -errno, or
    FK_ECONFIG when host is not an IPv4 address. */
int fk_http_bind(fk_http_t **self_p, const char *host, uint16_t port, size_t max_body);

/*  The listener's bounds on connections and its threads. */
typedef struct {
    unsigned connections;    /* connections at once, held requests included (0: 512) */
    unsigned per_ip;         /* of one client address (0: no bound), so one
                                client cannot take every slot */
    unsigned idle_timeout_s; /* a connection that sends nothing (headers, body,
                                or a next request) this long is closed (0: 30);
                                a request being handled or held is not idle */
    unsigned workers;        /* threads kept to run handlers (0: 16): as many
                                handlers run at once, the rest queue; when
                                the oldest has queued 200 ms (every worker
                                stuck in a blocking handler), an extra one
                                starts, up to one per connection, and
                                leaves after 10 s idle */
} fk_http_limits_t;

/*  Start answering on the bound socket, calling fn(arg, req) for each
    request on a worker thread. A handler that waits (a forwarded request
    waits up to 3 s for a record's owner) holds up its worker only: the
    polling thread goes on reading other connections, and the other
    workers serve them. A connection over either bound of limits is closed
    at accept. Returns 0 or -errno. */
int fk_http_serve(fk_http_t *self, const fk_http_limits_t *limits, fk_http_handler_fn fn,
                  void *arg);

/*  What fk_http_tls loaded, for the operator. */
typedef struct {
    char subject[256]; /* the leaf certificate's subject DN */
    int64_t not_after; /* its expiry, seconds since the epoch */
    bool self_rooted;  /* the chain ends in a self-signed CA certificate (a
                          private CA, as "fakts-node tls ca create" makes),
                          so the file itself can serve as a client's CA file */
} fk_http_tls_info_t;

/*  Load a certificate chain (PEM, leaf first, then any intermediates or
    the CA) and its private key (PEM, unencrypted) for HTTPS. Called before
    fk_http_serve, it makes the listener HTTPS; called again (SIGHUP), new
    handshakes get the new identity while open connections keep theirs.
    Every identity loaded stays in memory until fk_http_destroy (open
    sessions point into it; a reload costs a few KiB). Returns 0 and fills
    *info (may be NULL), or FK_ECONFIG with one line in err naming the
    file and the reason (unreadable, not PEM, key does not match the
    certificate); the listener then keeps what it had. Refused with
    FK_ECONFIG after fk_http_serve on a listener that started without TLS. */
int fk_http_tls(fk_http_t *self, const char *cert_file, const char *key_file,
                fk_http_tls_info_t *info, char *err, size_t errlen);

/*  The port actually bound. */
uint16_t fk_http_port(const fk_http_t *self);

/*  Stop listening, finish requests in flight, free; sets *self_p to NULL.
    Held requests are handed to the handler once more (it may answer;
    holding again gets 503), and requests completed meanwhile get 503.
    Safe on NULL. */
void fk_http_destroy(fk_http_t **self_p);

/*  Request accessors. Returned strings are borrowed and live as long as
    the request. */
const char *fk_http_method(const fk_http_req_t *req);
const char *fk_http_path(const fk_http_req_t *req);

/*  A request header (case-insensitive name), or NULL. */
const char *fk_http_header(const fk_http_req_t *req, const char *name);

/*  A cookie of the request's Cookie header (parsed by libmicrohttpd), or
    NULL. */
const char *fk_http_cookie(const fk_http_req_t *req, const char *name);

/*  A query-string argument, decoded; "" when present without a value;
    NULL when absent. */
const char *fk_http_query(const fk_http_req_t *req, const char *name);

/*  The request body (NUL-terminated for convenience; may contain NULs)
    and its length. Empty when the request had none. */
const char *fk_http_body(const fk_http_req_t *req, size_t *len_p);

/*  True when the body exceeded the limit; the body is then empty and the
    handler should answer 413 in its protocol's shape. */
bool fk_http_body_too_big(const fk_http_req_t *req);

/*  The body limit the listener enforces. */
size_t fk_http_max_body(const fk_http_req_t *req);

/*  The peer's IP address as text ("127.0.0.1"). */
const char *fk_http_peer(const fk_http_req_t *req);

/*  One pointer the handler keeps with the request (NULL until set), for
    what the layers of one handler learn about it (who sent it). Borrowed:
    what it points to must outlive its use; fk_http never reads it. */
void fk_http_set_user(fk_http_req_t *req, const void *user);
const void *fk_http_user(const fk_http_req_t *req);

/*  Add a response header (copied). Call before responding. */
void fk_http_add_header(fk_http_req_t *req, const char *name, const char *value);

/*  Answer with status and body (copied); content_type may be NULL. */
void fk_http_respond(fk_http_req_t *req, unsigned status, const char *content_type,
                     const char *body, size_t len);

/*  The status the request was answered with, 0 while unanswered (or when
    the response could not be created). */
unsigned fk_http_status(const fk_http_req_t *req);

/*  Answer with status and a JSON body; steals the reference to body. */
void fk_http_respond_json(fk_http_req_t *req, unsigned status, json_t *body);

/*  Instead of answering, park the request: when the handler returns it
    waits, with no thread, until fk_http_wake is called with a topic in
    topics (a bit mask the caller defines), its deadline (monotonic ms,
    fk_clock_mono_ms) passes, or the listener stops; then the handler is
    called again for the same request, which must answer or hold again.
    A wake that came while the handler ran (after it may have read the old
    state) ends the hold at once, so no change is slept through. The
    handler tells a first call from a later one by fk_http_held_until, and
    must answer once that deadline has passed (the deadline is not
    extended by fk_http). Holding after fk_http_destroy began answers 503.
    Misuse (holding an answered request) asserts. */
void fk_http_hold(fk_http_req_t *req, int64_t deadline_ms, unsigned topics);

/*  0 on a request's first call; afterwards the deadline of its last
    fk_http_hold. */
int64_t fk_http_held_until(const fk_http_req_t *req);

/*  End the hold of every held request whose topics meet topics; their
    handlers run again on the workers. Cheap (a walk of the held list
    under a lock, no I/O); any thread. Returns how many were woken. */
size_t fk_http_wake(fk_http_t *self, unsigned topics);

/*  How many requests are held now. Any thread. */
size_t fk_http_held(fk_http_t *self);

#endif
