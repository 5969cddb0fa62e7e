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

/*  Delete expired codes, approvals, refresh tokens, revocations and redeem
    tokens written by this node. Returns how many were deleted, or a
    negative store error. */
int fk_grants_sweep(fk_grants_t *self);

#endif
