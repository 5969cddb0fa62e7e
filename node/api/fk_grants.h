/*  fk_grants - the Fakts authorization state: device codes, approvals,
    clients, redeem tokens, refresh tokens, revocations, and the token
    responses built from them.

    Every piece of state is a record in the store (fk_store.h), owned by the
    node that wrote it, so the cluster plane can replicate it unchanged:

      code/<sha256(device_code)>     a pending device authorization
      approval/<sha256(device_code)> the operator's decision on it
      client/<client_id>             an approved app with its manifest
      redeem/<sha256(token)>         a redeem token and what it redeemed
      refresh/<sha256(token)>        a live refresh token
      revoked/<jti>                  a revoked access token, until it expires
      report/<client_id>             the app's last alias report
      ctoken/<sha256(client token)>  v1: {"client_id"} of a client token
      app/<identifier>/<version>     v1: a public client (retrieve/)

    Secrets are stored by SHA-256 only. Operations that must happen once
    (burning a device code, rotating a refresh token, recording a redeem
    token's first manifest) are read-modify-write inside one store write
    transaction, which LMDB serialises.

    Errors: functions returning int give 0, or a negative value with *err
    filled with the OAuth error code, a description and the HTTP status
    the protocol prescribes (fakts-protocol.md §6).

    Threads: every function may be called from any thread concurrently. */

#ifndef FK_GRANTS_H_INCLUDED
#define FK_GRANTS_H_INCLUDED

#include "fk_cluster.h"
#include "fk_jwt.h"
#include "fk_store.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct fk_grants fk_grants_t;

/*  An OAuth-shaped failure. */
typedef struct {
    unsigned status;       /* HTTP status: 400, 401, 404, 409, 422, 429, 500 */
    const char *error;     /* "invalid_grant", "authorization_pending", ... */
    char description[256]; /* one line a person can act on */
} fk_grant_error_t;

typedef struct {
    fk_store_t *store;           /* borrowed; outlives the grants */
    const fk_signer_t *signer;   /* borrowed: signs this node's access tokens */
    const char *deployment_name; /* self.deployment_name in envelopes */
    int64_t access_ttl_s;        /* access token lifetime (0: 3600) */
    int64_t refresh_ttl_s;       /* sliding refresh lifetime (0: 30 days) */
    int64_t refresh_chain_s;     /* cap from the first approval (0: 180 days) */
    int64_t poll_interval_s;     /* device-code polling interval (0: 5) */
} fk_grants_opts_t;

/*  Where a request arrived, for the URLs an answer contains. */
typedef struct {
    const char *scheme; /* "http" or "https" */
    const char *host;   /* host without port */
    int port;           /* port, or 0 when the URL has none */
    const char *base;   /* "scheme://host[:port]" without a trailing slash */
} fk_origin_t;

/*  Create the grants over a store; builds the verifier from every signing
    key record in the store. Returns 0 or a store error. */
int fk_grants_new(fk_grants_t **self_p, const fk_grants_opts_t *opts);

/*  Free; sets *self_p to NULL. Safe on NULL. */
void fk_grants_destroy(fk_grants_t **self_p);

/*  Publish this node's public signing key as the record key/<kid>, so
    tokens it signs verify on every node. Returns 0 or a store error. */
int fk_grants_publish_key(fk_grants_t *self);

/*  The JWKS document: {"keys":[every known public key, in kid order]}. */
json_t *fk_grants_jwks(fk_grants_t *self);

/*  Start a device authorization for a canonical manifest (fk_manifest.h).
    request holds the other fields of the app-authorization body
    (expiration_time_seconds, requested_client_kind, requested_client_role,
    ...). On success *answer_p is {"device_code","user_code","client_id",
    "expires_in","interval"}; the caller adds the URLs. */
int fk_grants_authorize(fk_grants_t *self, const json_t *manifest, const json_t *request,
                        json_t **answer_p, fk_grant_error_t *err);

/*  The pending codes, for operators: an array of {"user_code","dialect",
    "identifier","version","title","description","logo","scopes",
    "requirements":[{"key","service","optional","description"}],
    "statuses","instances","expires_in"}, oldest first. Codes already
    decided or expired are left out. The manifest's strings are the app's
    own: whoever shows them must escape them. */
json_t *fk_grants_pending(fk_grants_t *self);

/*  One unexpired code by its user code (as fk_grants_decide takes it), for
    the approval page: the fk_grants_pending row plus "decision", null
    while pending, else "approved" or "denied". NULL when unknown, expired,
    already exchanged or the store cannot be read. Caller decrefs. */
json_t *fk_grants_code(fk_grants_t *self, const char *user_code);

/*  Record the operator's decision on a pending code. approve false denies.
    declined lists optional requirement keys to decline (may be NULL).
    Approval composes the manifest first and fails (422) when a required
    service has no instance, naming it. On success *answer_p is
    {"user_code","status","statuses"}. 404 unknown or expired code, 409
    already decided, 400 bad decline. */
int fk_grants_decide(fk_grants_t *self, const char *user_code, bool approve, const json_t *declined,
                     json_t **answer_p, fk_grant_error_t *err);

/*  The device_code grant: on approval burns the code and answers the full
    token response (tokens and envelope) in *answer_p. Otherwise the
    RFC 8628 errors: authorization_pending, slow_down, access_denied,
    expired_token, invalid_request, unauthorized_client. */
int fk_grants_exchange_device_code(fk_grants_t *self, const char *device_code,
                                   const char *client_id, const fk_origin_t *origin,
                                   json_t **answer_p, fk_grant_error_t *err);

/*  The redeem grant: manifest is the canonical manifest. */
int fk_grants_exchange_redeem(fk_grants_t *self, const char *redeem_token, const json_t *manifest,
                              const fk_origin_t *origin, json_t **answer_p, fk_grant_error_t *err);

/*  The refresh_token grant with rotation: the old token stops working. */
int fk_grants_exchange_refresh(fk_grants_t *self, const char *refresh_token, const char *client_id,
                               const fk_origin_t *origin, json_t **answer_p, fk_grant_error_t *err);

/*  Let the grants forward operations on records another node owns (a
    device code, redeem token or refresh token issued there) to that node.
    Call before serving; without it those operations are refused. */
void fk_grants_set_cluster(fk_grants_t *self, fk_cluster_t *cluster);

/*  The fk_cluster_request_fn of the owning side: performs a forwarded
    exchange as if it arrived here, and replies {"ok":true,"answer":...} or
    {"ok":false,"status","error","description"}. arg is the fk_grants_t. */
int fk_grants_on_forwarded(void *arg, const char *body, size_t len, char **reply_p,
                           size_t *reply_len_p);

/*  RFC 7009 revocation. Unknown tokens succeed; another client's token is
    invalid_grant. hint may be NULL. */
int fk_grants_revoke(fk_grants_t *self, const char *token, const char *hint, const char *client_id,
                     fk_grant_error_t *err);

/*  Check a bearer access token: signature, expiry, revocation, and that its
    client still exists. On success *claims_p holds the claims (new ref). */
int fk_grants_check_bearer(fk_grants_t *self, const char *token, json_t **claims_p,
                           fk_grant_error_t *err);

/*  Store a v2 alias report from the client named in claims. */
int fk_grants_report(fk_grants_t *self, const json_t *claims, const json_t *body,
                     fk_grant_error_t *err);

/*  Mint a redeem token. expires_in_days 0 means 7; max_redemptions 0 means
    unlimited. *answer_p is {"token","expires_at","max_redemptions"}. */
int fk_grants_mint_redeem(fk_grants_t *self, int64_t expires_in_days, int64_t max_redemptions,
                          json_t **answer_p, fk_grant_error_t *err);

/*  ---------------------------------------------------------------------
    The v1 dialect (fakts-protocol.md §5), in fk_grants_v1.c.

    A v1 code is a code/ record like a v2 one, with "dialect":"v1" and the
    8-hex code as both user code and polling secret, so fk_grants_pending
    lists it and fk_grants_decide decides it. Approving it creates the
    client: client/<client_id> with "dialect":"v1" and "secret_sha256",
    the index ctoken/<sha256(client token)>, and the client token inside
    the approval record (until the code expires) for challenge/ on any
    node. The client secret is never stored: it is derived from the client
    token (fk_grants_v1_client_secret).

    Outcomes: a function returns 0 with *answer_p the v1 answer body
    ({"status":"granted"|"pending"|"expired"|"denied"|"reported",...}), or
    fails with err->description holding the exact v1 message, which the
    caller sends as {"status":"error", <the endpoint's key>: message}
    (§5.1). Malformed bodies are the caller's to refuse.
    --------------------------------------------------------------------- */

/*  The client secret of a v1 client token: base64url (no padding) of
    HMAC-SHA256(key = client token, "fakts-node v1 client secret"). Pure;
    fresh string. */
char *fk_grants_v1_client_secret(const char *client_token);

/*  The client token a redeem token gives client_id: the first 16 bytes of
    HMAC-SHA256(key = redeem token, "fakts-node v1 client token:" +
    client_id) as a uuid4-shaped string. Pure; fresh string. */
char *fk_grants_v1_redeem_client_token(const char *redeem_token, const char *client_id);

/*  {B}start/: store a v1 code for a canonical manifest. request holds the
    other body fields (expiration_time_seconds: default 300, clamped to
    [1, 3600]; requested_client_kind: any of development, website,
    desktop is stored, and only development can be approved;
    requested_client_role). Answers {"status":"granted","code"}. */
int fk_grants_v1_start(fk_grants_t *self, const json_t *manifest, const json_t *request,
                       json_t **answer_p, fk_grant_error_t *err);

/*  {B}challenge/: pending, granted (repeatable, with the client token),
    or expired / denied, which delete the code (on its owner: forwarded
    there from other nodes). Unknown: "Challenge does not exist". */
int fk_grants_v1_challenge(fk_grants_t *self, const char *code, const fk_origin_t *origin,
                           json_t **answer_p, fk_grant_error_t *err);

/*  {B}redeem/: the redeem grant for a v1 client (canonical manifest).
    Answers {"status":"granted","token"}: the same token for the same
    manifest every time. */
int fk_grants_v1_redeem(fk_grants_t *self, const char *redeem_token, const json_t *manifest,
                        const fk_origin_t *origin, json_t **answer_p, fk_grant_error_t *err);

/*  {B}retrieve/: the token of the public client (fk_grants_app_create) of
    the manifest's identifier and version. */
int fk_grants_v1_retrieve(fk_grants_t *self, const json_t *manifest, json_t **answer_p,
                          fk_grant_error_t *err);

/*  {B}claim/: {"status":"granted","config":<ActiveFakts>} (§4) for the
    client of client_token, with URLs of origin. Repeatable. */
int fk_grants_v1_claim(fk_grants_t *self, const char *client_token, const fk_origin_t *origin,
                       json_t **answer_p, fk_grant_error_t *err);

/*  {B}report/ without a bearer: store body's alias_reports for the client
    of client_token (as fk_grants_report). An alias_reports key or
    alias_id the client's configuration does not have fails with "Error
    creating configuration" (§5.7). */
int fk_grants_v1_report(fk_grants_t *self, const char *client_token, const json_t *body,
                        json_t **answer_p, fk_grant_error_t *err);

/*  The client_credentials grant (§5.9): OAuth errors (401 invalid_client
    for an unknown client or wrong secret, 400 invalid_scope for a scope
    the client lacks). scope may be NULL or empty (every scope of the
    client). Answers {"access_token","token_type","expires_in","scope"}. */
int fk_grants_client_credentials(fk_grants_t *self, const char *client_id,
                                 const char *client_secret, const char *scope,
                                 const fk_origin_t *origin, json_t **answer_p,
                                 fk_grant_error_t *err);

/*  Create the public client of a canonical manifest's identifier and
    version (records app/<identifier>/<version>, client/<id>, ctoken/).
    409 when it exists. *answer_p is {"identifier","version","client_id",
    "client_token","node"}. */
int fk_grants_app_create(fk_grants_t *self, const json_t *manifest, json_t **answer_p,
                         fk_grant_error_t *err);

/*  Every public client: an array of the rows fk_grants_app_create answers,
    plus "created_ms", ordered by identifier and version. */
json_t *fk_grants_apps(fk_grants_t *self);

/*  Delete a public client and its client records. 404 unknown; 409 when
    another node created it (only it may delete its records). *answer_p is
    {"deleted":{"identifier","version"}}. */
int fk_grants_app_delete(fk_grants_t *self, const char *identifier, const char *version,
                         json_t **answer_p, fk_grant_error_t *err);

/*  Delete expired codes, approvals, refresh tokens, revocations and redeem
    tokens written by this node. Returns how many were deleted, or a
    negative store error. */
int fk_grants_sweep(fk_grants_t *self);

#endif
