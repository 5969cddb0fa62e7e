/*  fk_api_priv - what the api module's files share and nothing else may
    use: the api object, the helpers of fk_api_util.c, each adapter's
    entry point, and the web pages' state and embedded files.

    The files form layers: fk_api.c (the route table) calls the adapters
    (fk_fakts.c, which calls fk_v1.c for the v1 report; fk_v1.c;
    fk_admin.c; fk_ui.c), and every adapter calls only fk_api_util.c and
    the planes below. No adapter calls another's routes or fk_api.c. */

#ifndef FK_API_PRIV_H_INCLUDED
#define FK_API_PRIV_H_INCLUDED

#include "fk_api.h"
#include "fk_metrics.h"
#include "fk_optokens.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

/*  The web pages' state: operator sessions (fk_ui.c). */
typedef struct fk__ui fk__ui_t;

/*  What the api counts for GET /metrics (fk_api_metrics.c). */
typedef struct fk__api_metrics fk__api_metrics_t;

/*  Rows of fk_api.c's route table the request metrics may name, the row
    "none" (no route took the path) included. */
#define FK__API_ROUTES 12

struct fk_api {
    fk_store_t *store;          /* borrowed */
    fk_grants_t *grants;        /* borrowed */
    fk_audit_t *audit;          /* borrowed: the audit log, or NULL */
    fk_checker_t *checker;      /* borrowed, or NULL: no ttl reports */
    fk_cluster_t *cluster;      /* borrowed */
    const fk_identity_t *identity; /* borrowed: this node's keys */
    bool insecure_gossip;       /* gossip is plaintext */
    char *admin_token;          /* the operators' secret */
    const fk_origins_t *origins; /* borrowed: the public URLs answers use */
    char *deployment_name;      /* deployment name */
    char *data_dir;             /* data directory, for info */
    char *services_dir;         /* services directory, for info */
    char *http_addr;            /* bound address, for info */
    unsigned authorize_per_min; /* rate limit of app-authorization */
    unsigned token_per_min;     /* rate limit of the token endpoint */
    unsigned v1_per_min;        /* rate limit of the v1 endpoints, together */
    unsigned code_misses_per_min; /* unknown v1 codes an address may try a minute */
    bool consistent_answers;    /* quorum round before every token answer */
    pthread_mutex_t lock;       /* guards rates */
    json_t *rates;              /* "<bucket>|<ip>" -> [window start, count, key, last seen] */
    fk__ui_t *ui;               /* web page sessions and the operator password */
    fk__api_metrics_t *metrics; /* the series this api updates, or NULL: no /metrics */
    bool metrics_loopback_open; /* /metrics answers loopback peers without a token */
    fk_lag_t *lag;              /* borrowed: replication lag notes, or NULL */
    fk_http_t *http;            /* borrowed: the listener (held-request gauge), or NULL */
};

/*  The origin a request's answer uses: one of the node's public URLs,
    picked by its Host header (fk_origins_select). Borrowed from the api. */
const fk_origin_t *fk__api_origin(fk_api_t *self, fk_http_req_t *req);

/*  Decode an application/x-www-form-urlencoded body into an object of
    strings. Returns NULL for a malformed body or a repeated parameter
    (RFC 6749 §3.2: parameters must not repeat). */
json_t *fk__api_form(const char *body, size_t len);

/*  Split the HTTP Basic credentials of an Authorization header that starts
    with "Basic " (RFC 7617; RFC 6749 §2.3.1 form-encodes each part) into a
    fresh id and secret. false, both NULL, when malformed: not base64, no
    colon, or a NUL byte. */
bool fk__api_basic(const char *header, char **id_p, char **secret_p);

/*  Count one request of bucket from the peer; false when over limit per
    minute (0 means unlimited). The table holds at most 10,000 (bucket,
    peer) entries; when full, ended windows go first, then the entries
    seen least recently. */
bool fk__api_rate_ok(fk_api_t *self, const char *bucket, const char *peer, unsigned limit);

/*  Whether the peer has already made limit requests of bucket in the
    current minute, without counting one (0 means unlimited: never). For
    limits on outcomes, such as guesses: check before, count (with
    fk__api_rate_ok) after a miss. */
bool fk__api_rate_spent(fk_api_t *self, const char *bucket, const char *peer, unsigned limit);

/*  Entries in the rate table (for /v1/agent/info). */
size_t fk__api_rate_entries(fk_api_t *self);

/*  Answer with the current view header and a JSON body (reference stolen). */
void fk__api_respond(fk_api_t *self, fk_http_req_t *req, unsigned status, json_t *body);

/*  How a grants outcome is answered. */
typedef struct {
    unsigned status;   /* HTTP status */
    const char *oauth; /* the protocol's error: "invalid_grant", "slow_down", ... */
    const char *admin; /* the agent API's error: "invalid", "not_found", ... */
} fk__api_err_t;

/*  The answer to a grants outcome code (FK_E* or -errno): one table for
    every adapter; an unknown code is a 500 server_error. Never NULL. */
const fk__api_err_t *fk__api_err(int code);

/*  Record in the audit log (when the api has one) that the request's
    actor (fk__api_actor; "unknown" before a role check), from its peer
    address, did action on subject,
    on this node; detail is an object or NULL (stolen). Called after the
    action committed: a failure to record is logged, never answered. */
void fk__api_audit(fk_api_t *self, fk_http_req_t *req, const char *action, const char *subject,
                   json_t *detail);

/*  The member table as /v1/agent/members answers it: a new array of
    {"name","addr","status","incarnation"} in name order, or NULL when the
    store cannot be read. */
json_t *fk__api_members(fk_api_t *self);

/*  Give every instance of services (a fk_catalog_list array) the
    "unreachable" list of fk_grants_unreachable for its "<id>@<node>":
    what approved apps reported they could not reach there (empty when
    nothing). Returns services. */
json_t *fk__api_with_reports(fk_api_t *self, json_t *services);

/*  The Fakts (protocol) routes: discovery, health, JWKS and the POST
    endpoints under /lok/o/ and /lok/f/report/; false when the path is not
    one. */
bool fk__fakts_route(fk_api_t *self, fk_http_req_t *req);

/*  The v1 dialect's routes under /lok/f/ but report/, which fk_fakts.c
    shares with v2; false when the path is not one. */
bool fk__v1_route(fk_api_t *self, fk_http_req_t *req);

/*  The v1 report/ (no bearer): answer it. */
void fk__v1_report(fk_api_t *self, fk_http_req_t *req);

/*  fk_api_auth.c: who sent a request, and what their roles let them do.

    Three credentials authenticate: the node's admin token (the bootstrap
    credential: role operator, named "admin-token"), an operator token
    (fk_optokens.h: its roles and name), and, for the web pages only, the
    operator password (roles read and approve, named "ui-password"). */

/*  Who a request or a session is. */
typedef struct {
    unsigned roles;                              /* fk_role_t bits */
    char name[FK_OPTOKENS_NAME_MAX + 1];         /* a token's name, "admin-token", "ui-password" */
    char accessor[FK_OPTOKENS_ACCESSOR_LEN + 1]; /* the operator token's; "" for the others */
} fk__api_caller_t;

/*  The credential an agent API request carries: "Authorization: Bearer
    X", else the X-Fakts-Token header; NULL when neither. Borrowed. */
const char *fk__api_credential(fk_http_req_t *req);

/*  Who secret is: the admin token, or an operator token that verifies now
    (fk_optokens_verify). The admin token is compared in constant time
    whatever the secret is. Returns 0 and fills *caller, FK_EDENIED (no
    such credential; secret may be NULL), or a store error. */
int fk__api_authenticate(fk_api_t *self, const char *secret, fk__api_caller_t *caller);

/*  Whether caller's credential still authenticates: an operator token
    that was revoked, or expired, since the caller logged in does not (a
    session made with it ends). Always true for the admin token and the
    password. A store that cannot be read counts as false. */
bool fk__api_caller_live(fk_api_t *self, const fk__api_caller_t *caller);

/*  Record caller as who made req, once its role check passed. caller is
    borrowed: it must live until the request is answered. */
void fk__api_set_caller(fk_http_req_t *req, const fk__api_caller_t *caller);

/* The name of who made the request, once its role check passed: an operator token's name,
   "admin-token" for the node's bootstrap token; NULL before the check. */
const char *fk__api_actor(fk_http_req_t *req);

/*  The names of the role bits in roles, joined by ", ", into buf (size
    bytes; 64 holds every role). "none" for 0. */
void fk__api_roles_text(unsigned roles, char *buf, size_t size);

/*  fk_api_metrics.c: the api's metrics in registry (borrowed; it must
    outlive the api and be rendered only through it, since its collectors
    read the api's store and grants): the scrape-time gauges are
    registered now, the request and token series on their first use.
    NULL when registry is NULL. Aborts on OOM. */
fk__api_metrics_t *fk__api_metrics_new(fk_api_t *self, fk_metrics_t *registry);

/*  Free; sets *m_p to NULL. Safe on NULL. The registry keeps the series. */
void fk__api_metrics_destroy(fk__api_metrics_t **m_p);

/*  Count one answered request of route (a row of fk_api.c's table, below
    FK__API_ROUTES; name is its label) with the status it was answered
    with, which took seconds. Any thread; nothing without metrics. */
void fk__api_metrics_request(fk_api_t *self, size_t route, const char *name, fk_http_req_t *req,
                             double seconds);

/*  Count one token exchange of grant (a row of the token endpoint's
    grant table, below 8; name is its grant_type label) with its outcome
    rc (0: issued, else the grants code answered). Any thread. */
void fk__api_metrics_token(fk_api_t *self, size_t grant, const char *name, int rc);

/*  GET /metrics: the registry in the Prometheus text format, for a
    caller with the read role, or any loopback peer when the api was made
    with metrics_loopback_open; false when the path is not /metrics. */
bool fk__metrics_route(fk_api_t *self, fk_http_req_t *req);

/*  The agent API routes (/v1/...); false when the path is not one. */
bool fk__admin_route(fk_api_t *self, fk_http_req_t *req);

/*  Create the web pages' state; password is the operator password that
    logs in besides the admin token, or NULL (copied). Aborts on OOM. */
fk__ui_t *fk__ui_new(const char *password);

/*  Free; sets *ui_p to NULL. Safe on NULL. */
void fk__ui_destroy(fk__ui_t **ui_p);

/*  The web pages (/, /ui/..., /configure/..., /device, the v1
    {B}configure/ link); returns false when the path is not one. */
bool fk__ui_route(fk_api_t *self, fk_http_req_t *req);

/*  fk_ui_session.c: login sessions. */

#define FK__UI_COOKIE "fakts_session"              /* the session cookie's name */
#define FK__UI_SECRET_HEX 64                       /* hex digits of an id or a CSRF token */
#define FK__UI_SESSION_TTL_MS (12LL * 3600 * 1000) /* a session lives this long from login */

/*  The session a request came with: a copy, so no lock is held while the
    page is built. */
typedef struct {
    bool valid;                       /* the cookie named a live session */
    char id[FK__UI_SECRET_HEX + 1];   /* its id */
    char csrf[FK__UI_SECRET_HEX + 1]; /* its CSRF token */
    fk__api_caller_t caller;          /* who logged in: roles and name */
} fk__ui_auth_t;

/*  Open a session for caller (copied; fresh id and CSRF token) into
    *auth; a full table ends the session closest to its end. */
void fk__ui_session_open(fk__ui_t *ui, const fk__api_caller_t *caller, fk__ui_auth_t *auth);

/*  The session of the request's cookie into *auth (auth->valid false when
    none). Compares every live slot in constant time. */
void fk__ui_session_find(fk__ui_t *ui, fk_http_req_t *req, fk__ui_auth_t *auth);

/*  End the session of auth. */
void fk__ui_session_close(fk__ui_t *ui, const fk__ui_auth_t *auth);

/*  The operator password that logs in besides the admin token, or NULL. */
const char *fk__ui_password(const fk__ui_t *ui);

/*  A file of node/api/ui/, embedded at build time (ui/embed.cmake). */
typedef struct {
    const char *name;          /* file name, e.g. "approve.html" */
    const unsigned char *data; /* its bytes, followed by a NUL */
    size_t len;                /* bytes without that NUL */
} fk__ui_asset_t;

/*  Every embedded file; the last entry has name NULL. */
extern const fk__ui_asset_t fk__ui_assets[];

/*  fk_ui_render.c: the embedded file called name, or NULL. */
const fk__ui_asset_t *fk__ui_asset(const char *name);

/*  Render the template name with vars (an object of strings; a missing or
    non-string value renders empty; vars may be NULL). Fresh string. */
char *fk__ui_render(const char *name, const json_t *vars);

/*  fk__ui_render, then decref vars. */
char *fk__ui_render_new(const char *name, json_t *vars);

#endif
