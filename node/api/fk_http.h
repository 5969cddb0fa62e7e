/*  fk_http - the HTTP listener, a thin layer over libmicrohttpd.

    libmicrohttpd parses HTTP; this module adds what every fakts-node
    handler needs: a bounded request body collected in one buffer, one
    handler call per request with everything it needs, and responses
    built from a status, headers and a body.

    Threads: libmicrohttpd serves each connection on its own thread; the
    handler is called from any of them, concurrently, and must be
    thread-safe. A request object belongs to the one thread handling it. */

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

/*  Start answering on the bound socket, calling fn(arg, req) for each
    request. Each open connection has its own thread, so a handler that
    waits (a forwarded request waits up to 3 s for a record's owner) holds
    up only its own connection. connections bounds the connections (and so
    the threads) at once (0 means 512); per_ip bounds those of one client
    address (0: no bound), so one client cannot take every slot. A
    connection over either bound is closed at accept. Returns 0 or -errno. */
int fk_http_serve(fk_http_t *self, unsigned connections, unsigned per_ip, fk_http_handler_fn fn,
                  void *arg);

/*  The port actually bound. */
uint16_t fk_http_port(const fk_http_t *self);

/*  Stop listening, finish requests in flight, free; sets *self_p to NULL.
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

/*  Answer with status and a JSON body; steals the reference to body. */
void fk_http_respond_json(fk_http_req_t *req, unsigned status, json_t *body);

#endif
