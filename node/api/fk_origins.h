/*  fk_origins - the public URLs a node answers under, and which one a
    request gets.

    Every URL a node puts in an answer (the discovery document, the
    envelope's self alias, approval links, the JWT "iss") starts with one
    of these origins, never with what a request says: its Host header only
    picks among them, and an unknown or absent Host gets the first. A
    client that sends "Host: user@evil.example" therefore gets the node's
    own URLs, and a token's issuer is always one the node was given.

    fakts 6.x wants the token and device endpoints on the origin it
    fetched the discovery document from (scheme, host, port), so the list
    names every way apps reach the node (--public-url
    https://fakts.lab.example,http://10.0.0.5:8520). Without a list, a node
    derives one from its HTTP address (fk_origins_derive).

    Threads: immutable once made; share freely. */

#ifndef FK_ORIGINS_H_INCLUDED
#define FK_ORIGINS_H_INCLUDED

#include "fk_grants.h" /* fk_origin_t */

#include <stdbool.h>
#include <stddef.h>

typedef struct fk_origins fk_origins_t;

/*  Parse a comma-separated list of absolute URLs, each
    http(s)://host[:port][/path] without user info, query or fragment (a
    trailing slash is dropped; spaces around commas are allowed). Returns
    0 and sets *self_p (caller destroys), or FK_EINVAL_INPUT with the
    reason in err (naming the URL) and *self_p NULL. */
int fk_origins_parse(fk_origins_t **self_p, const char *list, char *err, size_t errlen);

/*  The origins of a node bound at host:port that was given no public URL,
    with scheme "http" or "https" (the listener's):
    - a specific address: scheme://host:port, and for a loopback address
      also scheme://localhost:port;
    - a wildcard (0.0.0.0, ::, or empty): scheme://A:port for each IPv4
      address of the machine's interfaces that are up (non-loopback
      first), the machine's host name, and localhost.
    Never fails (aborts on OOM). */
fk_origins_t *fk_origins_derive(const char *scheme, const char *host, int port);

/*  Is host (a bind address or name) reachable from this machine only:
    127.0.0.0/8, ::1 or localhost? */
bool fk_origins_loopback(const char *host);

/*  How many origins (at least one), and the i-th (borrowed). */
size_t fk_origins_count(const fk_origins_t *self);
const fk_origin_t *fk_origins_get(const fk_origins_t *self, size_t i);

/*  The origin for a request whose Host header is host (untrusted, may be
    NULL): the first whose host matches case-insensitively and whose port
    matches (a missing port is the scheme's default, 80 or 443); else the
    first origin. Never NULL. */
const fk_origin_t *fk_origins_select(const fk_origins_t *self, const char *host);

/*  The bases joined by ", ", for logs (fresh string, caller frees). */
char *fk_origins_describe(const fk_origins_t *self);

/*  Free; sets *self_p to NULL. Safe on NULL. */
void fk_origins_destroy(fk_origins_t **self_p);

#endif
