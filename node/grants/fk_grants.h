/*  fk_grants - the grants plane: the Fakts authorization state (device
    codes, approvals, clients, redeem tokens, refresh tokens, revocations)
    and the token responses built from it, for both protocol dialects.

    Every piece of state is a record in the store (fk_store.h), owned by the
    node that wrote it, so the cluster plane replicates it unchanged:

      code/<sha256(device_code)>     a pending device authorization
      approval/<sha256(device_code)> the operator's decision on it
      ucode/<USER CODE>              index: the code/ key of a user code
      ccode/<client_id>              index: the code/ key of a pending
                                     client id (v2 codes)
      client/<client_id>             an approved app with its manifest
      redeem/<sha256(token)>         a redeem token and what it redeemed
      refresh/<sha256(token)>        a live refresh token
      revoked/<jti>                  a revoked access token, until it expires
      refresh-revoked/<sha256(tok)>  a refresh token revoked on another node
      report/<client_id>             the app's last alias report (one per
                                     node that received one)
      seen/<client_id>               the last token exchange this node did
                                     for the app (rewritten once a minute
                                     at most)
      client-revoked/<client_id>     an approved app an operator revoked
      key/<kid>                      a node's public signing key (JWK)
      ctoken/<sha256(client token)>  v1: {"client_id"} of a client token
      app/<identifier>/<version>     v1: a public client (retrieve/)

    Secrets are stored by SHA-256 only. Operations that must happen once
    (burning a device code, rotating a refresh token, recording a redeem
    token's first manifest) are read-modify-write inside one store write
    transaction, which LMDB serialises, on the node that owns the record;
    other nodes forward them there through opts.forward.

    Stored does not mean trusted: a record may come from another version of
    the node, or a bug. Each kind has one decoder (fk_grants_priv.h); a
    record that does not decode is treated as absent and logged at a
    bounded rate, never dereferenced.

    Errors: int functions return 0 or an FK_E* code (fk_err.h) that names
    the outcome: FK_EINVAL_INPUT (malformed request), FK_EPENDING,
    FK_ESLOWDOWN, FK_EDENIED, FK_EEXPIRED (the RFC 8628 poll outcomes),
    FK_EGRANT (invalid grant), FK_ECLIENT (unknown client),
    FK_EWRONG_CLIENT (another client's code), FK_EAUTH (client
    authentication failed), FK_ETOKEN (bad bearer), FK_ESCOPE,
    FK_ENOTFOUND, FK_EEXISTS / FK_EUSED (conflict), FK_EUNAVAILABLE (a
    required service has no instance), FK_ETRYAGAIN (the owner of a record
    cannot be reached, or the store is full: -ENOSPC is passed through),
    FK_ESTORE / FK_ECRYPTO (server failure). The api maps each to its HTTP
    status and protocol error in one table (fk_api_util.c). A function
    that fails also writes one line a person can act on into *why (the
    v1 dialect's exact message where §5 prescribes one); why may be NULL.

    Ownership: an *answer_p is a new reference the caller decrefs, NULL on
    failure. Arrays returned (fk_grants_pending, fk_grants_apps,
    fk_grants_jwks) are new references too.

    Threads: every function may be called from any thread concurrently;
    the forward function may be called from several threads at once. */

#ifndef FK_GRANTS_H_INCLUDED
#define FK_GRANTS_H_INCLUDED

#include "fk_audit.h"
#include "fk_jwt.h"
#include "fk_store.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fk_grants fk_grants_t;

/*  Why a call failed, for the answer's description. */
typedef struct {
    char text[256]; /* one line a person can act on, NUL-terminated */
} fk_grants_why_t;

/*  Send a forwarded request (body, len bytes of JSON) to the node named
    node and wait at most timeout_ms for its reply. On success returns 0
    and *reply_p owns the reply's bytes (*reply_len_p of them; caller
    frees). Otherwise -ETIMEDOUT (no reply in time), FK_ENOTFOUND (not a
    live member) or another negative code, and *reply_p is NULL. The agent
    binds it to fk_cluster_request; tests bind a fake. Called from any
    thread, possibly concurrently. */
typedef int (*fk_grants_forward_fn)(void *arg, const char *node, const char *body, size_t len,
                                    int timeout_ms, char **reply_p, size_t *reply_len_p);

/*  The wall clock in milliseconds since the epoch; tests bind a fake. */
typedef int64_t (*fk_grants_clock_fn)(void *arg);

typedef struct {
    fk_store_t *store;            /* borrowed; outlives the grants */
    const fk_signer_t *signer;    /* borrowed: signs this node's access tokens */
    const char *deployment_name;  /* self.deployment_name in envelopes (copied) */
    int64_t access_ttl_s;         /* access token lifetime (0: 3600) */
    int64_t refresh_ttl_s;        /* sliding refresh lifetime (0: 30 days) */
    int64_t refresh_chain_s;      /* cap from the first approval (0: 180 days) */
    int64_t max_pending_codes;    /* pending codes this node holds at most (0: 10,000) */
    int64_t max_pending_bytes;    /* and their bytes (0: 64 MiB) */
    int64_t refresh_grace_s;      /* a refresh token used again this long after its rotation
                                     is only refused; later, its chain is revoked (0: at once) */
    int64_t poll_interval_s;      /* device-code polling interval (0: 5) */
    fk_grants_forward_fn forward; /* reaches other nodes, or NULL: their records are refused */
    void *forward_arg;            /* forward's first argument */
    fk_grants_clock_fn clock;     /* wall clock, or NULL for fk_clock_wall_ms */
    void *clock_arg;              /* clock's first argument */
    fk_audit_t *audit;            /* borrowed: records a refresh chain revoked for reuse, or NULL */
} fk_grants_opts_t;

/*  Where a request arrived, for the URLs an answer contains. */
typedef struct {
    const char *scheme; /* "http" or "https" */
    const char *host;   /* host without port */
    int port;           /* port, or 0 when the URL has none */
    const char *base;   /* "scheme://host[:port]" without a trailing slash */
    const char *peer;   /* the client's address, for the audit log, or NULL */
} fk_origin_t;

/*  Create the grants over a store; builds the verifier from every signing
    key record in the store. Returns 0 and *self_p, or a store error with
    *self_p NULL. */
int fk_grants_new(fk_grants_t **self_p, const fk_grants_opts_t *opts);

/*  Free; sets *self_p to NULL. Safe on NULL. No call may be running. */
void fk_grants_destroy(fk_grants_t **self_p);

/*  Publish this node's public signing key as the record key/<kid>, with
    the issuers its tokens name ("iss": <public URL>/lok, count of them),
    so tokens it signs verify on every node and only under those issuers.
    Rewrites the record when the issuers changed. Returns 0 or a store
    error. */
int fk_grants_publish_key(fk_grants_t *self, const char *const *issuers, size_t count);

/*  Rebuild the token verifier from the key/ records the store holds now:
    call it when records may have left the store (a member was banned and
    its records forgotten), so its signing key stops verifying at once.
    Any thread. Returns 0 or a store error (the verifier is then as it
    was). */
int fk_grants_reload_keys(fk_grants_t *self);

/*  The JWKS document: {"keys":[every known public key, in kid order]}.
    Records that are not a usable public JWK are left out. */
json_t *fk_grants_jwks(fk_grants_t *self);

/*  Start a device authorization for a canonical manifest (fk_manifest.h).
    request holds the other fields of the app-authorization body
    (expiration_time_seconds, requested_client_kind, requested_client_role,
    ...). On success *answer_p is {"device_code","user_code","client_id",
    "expires_in","interval"}; the caller adds the URLs. FK_EINVAL_INPUT
    for a bad field. */
int fk_grants_authorize(fk_grants_t *self, const json_t *manifest, const json_t *request,
                        json_t **answer_p, fk_grants_why_t *why);

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
    already exchanged or the store cannot be read. */
json_t *fk_grants_code(fk_grants_t *self, const char *user_code);

/*  Record the operator's decision on a pending code. approve false denies.
    declined lists optional requirement keys to decline (may be NULL). by
    names who decided (the operator's name, kept in the approval and the
    client it makes; may be NULL). Approval composes the manifest first
    and fails with FK_EUNAVAILABLE when a required service has no
    instance, naming it. On success
    *answer_p is {"user_code","status","statuses"}. FK_ENOTFOUND unknown or
    expired code, FK_EUSED already decided, FK_EINVAL_INPUT bad decline. */
int fk_grants_decide(fk_grants_t *self, const char *user_code, bool approve, const json_t *declined,
                     const char *by, json_t **answer_p, fk_grants_why_t *why);

/*  The device_code grant: on approval burns the code and answers the full
    token response (tokens and envelope) in *answer_p. Otherwise
    FK_EPENDING, FK_ESLOWDOWN, FK_EDENIED, FK_EEXPIRED, FK_EINVAL_INPUT
    (unknown code), FK_ECLIENT, FK_EWRONG_CLIENT, FK_ETRYAGAIN. */
int fk_grants_exchange_device_code(fk_grants_t *self, const char *device_code,
                                   const char *client_id, const fk_origin_t *origin,
                                   json_t **answer_p, fk_grants_why_t *why);

/*  The redeem grant: manifest is the canonical manifest. FK_EGRANT for an
    unknown, expired, exhausted or re-manifested token. */
int fk_grants_exchange_redeem(fk_grants_t *self, const char *redeem_token, const json_t *manifest,
                              const fk_origin_t *origin, json_t **answer_p, fk_grants_why_t *why);

/*  The refresh_token grant with rotation: the old token stops working.
    FK_EINVAL_INPUT (missing field), FK_EGRANT. */
int fk_grants_exchange_refresh(fk_grants_t *self, const char *refresh_token, const char *client_id,
                               const fk_origin_t *origin, json_t **answer_p, fk_grants_why_t *why);

/*  The owning side of opts.forward: performs a forwarded request (body,
    len bytes, untrusted) as if it had arrived here, and sets *reply_p (a
    fresh string, *reply_len_p bytes) to {"ok":true,"answer":...} or
    {"ok":false,"code":<FK_E*>,"description"}. Always returns 0. arg is the
    fk_grants_t; the agent hands this to the cluster plane. */
int fk_grants_on_forwarded(void *arg, const char *body, size_t len, char **reply_p,
                           size_t *reply_len_p);

/*  RFC 7009 revocation. Unknown tokens succeed; another client's token is
    FK_EGRANT; a missing token FK_EINVAL_INPUT. hint may be NULL. */
int fk_grants_revoke(fk_grants_t *self, const char *token, const char *hint, const char *client_id,
                     fk_grants_why_t *why);

/*  Check a bearer access token: signature, expiry, revocation, and that its
    client still exists. On success *claims_p holds the claims (new ref);
    FK_ETOKEN otherwise. */
int fk_grants_check_bearer(fk_grants_t *self, const char *token, json_t **claims_p,
                           fk_grants_why_t *why);

/*  Store a v2 alias report from the client named in claims (from
    fk_grants_check_bearer). FK_EINVAL_INPUT for a malformed body. */
int fk_grants_report(fk_grants_t *self, const json_t *claims, const json_t *body,
                     fk_grants_why_t *why);

/*  The approved apps, for operators: every client an approval (either
    dialect) or a redeem token made and no operator revoked (public
    clients, fk_grants_app_create, are not apps someone approved). An
    array of {"client_id","identifier","version","dialect" ("v1"|"v2"),
    "grant" ("device_code"|"redeem"), "node" (the node holding its
    record), "approved_node","approved_by","approved_ms" (null for records
    from before they were kept), "last_exchange_ms" (the newest any node
    recorded, at most a minute old while the app is busy; null when
    none), "last_report_ms","functional" (null before any report),
    "failing":[{"key","alias_id","reason","service","instance"}] (the
    entries of its newest report that said valid: false; service and
    instance "<id>@<node>" are null when the key was not bound)}, in
    (identifier, version, approved_ms) order. The manifest's strings are
    the app's own: whoever shows them must escape them. */
json_t *fk_grants_approved(fk_grants_t *self);

/*  Revoke the approved apps id names: the one whose client id is id, or
    every one whose identifier is id (and whose version is version, unless
    NULL). In one transaction this node writes client-revoked/<client_id>
    (with by, the operator's name, and the time) for each, kills every
    live refresh token of them (deleted when this node issued it, else a
    refresh-revoked/ marker) and deletes the refresh families it holds of
    them. The records replicate; from then on every node refuses the
    app's refresh tokens, redeems of its redeem token, v1 claims and
    client_credentials, and bearer reports: the app needs a new approval.
    *answer_p is {"revoked":[{"client_id","identifier","version"}],
    "refresh_tokens": how many were ended}. FK_ENOTFOUND when id names no
    approved app that is not revoked already, FK_EINVAL_INPUT for an empty
    id or version. */
int fk_grants_revoke_app(fk_grants_t *self, const char *id, const char *version, const char *by,
                         json_t **answer_p, fk_grants_why_t *why);

/*  What approved apps reported they cannot reach, per service instance:
    {"<id>@<node>": [{"client_id","identifier","version","key","alias_id",
    "reason","at_ms"}]}, from the newest report of each app (entries with
    valid: false bound to an instance when the report arrived). New
    reference. */
json_t *fk_grants_unreachable(fk_grants_t *self);

/*  Mint a redeem token. expires_in_days 0 means 7; max_redemptions 0 means
    unlimited. *answer_p is {"token","expires_at","max_redemptions"}. */
int fk_grants_mint_redeem(fk_grants_t *self, int64_t expires_in_days, int64_t max_redemptions,
                          json_t **answer_p, fk_grants_why_t *why);

/*  Delete expired codes (and their indexes), approvals, refresh tokens,
    revocations and redeem tokens written by this node. Returns how many
    were deleted, or a negative store error. */
int fk_grants_sweep(fk_grants_t *self);

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
    fails with why->text holding the exact v1 message, which the caller
    sends as {"status":"error", <the endpoint's key>: message} (§5.1).
    Malformed bodies are the caller's to refuse.
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
                       json_t **answer_p, fk_grants_why_t *why);

/*  {B}challenge/: pending, granted (repeatable, with the client token),
    or expired / denied, which delete the code (on its owner: forwarded
    there from other nodes). Unknown: "Challenge does not exist". */
int fk_grants_v1_challenge(fk_grants_t *self, const char *code, const fk_origin_t *origin,
                           json_t **answer_p, fk_grants_why_t *why);

/*  {B}redeem/: the redeem grant for a v1 client (canonical manifest).
    Answers {"status":"granted","token"}: the same token for the same
    manifest every time. */
int fk_grants_v1_redeem(fk_grants_t *self, const char *redeem_token, const json_t *manifest,
                        const fk_origin_t *origin, json_t **answer_p, fk_grants_why_t *why);

/*  {B}retrieve/: the token of the public client (fk_grants_app_create) of
    the manifest's identifier and version. FK_ENOTFOUND otherwise. */
int fk_grants_v1_retrieve(fk_grants_t *self, const json_t *manifest, json_t **answer_p,
                          fk_grants_why_t *why);

/*  {B}claim/: {"status":"granted","config":<ActiveFakts>} (§4) for the
    client of client_token, with URLs of origin. Repeatable. */
int fk_grants_v1_claim(fk_grants_t *self, const char *client_token, const fk_origin_t *origin,
                       json_t **answer_p, fk_grants_why_t *why);

/*  {B}report/ without a bearer: store body's alias_reports for the client
    of client_token (as fk_grants_report). An alias_reports key or
    alias_id the client's configuration does not have fails with "Error
    creating configuration" (§5.7). */
int fk_grants_v1_report(fk_grants_t *self, const char *client_token, const json_t *body,
                        json_t **answer_p, fk_grants_why_t *why);

/*  The client_credentials grant (§5.9): FK_EAUTH for an unknown client or
    wrong secret, FK_ESCOPE for a scope the client lacks. scope may be
    NULL or empty (every scope of the client). Answers {"access_token",
    "token_type","expires_in","scope"}. */
int fk_grants_client_credentials(fk_grants_t *self, const char *client_id,
                                 const char *client_secret, const char *scope,
                                 const fk_origin_t *origin, json_t **answer_p,
                                 fk_grants_why_t *why);

/*  Create the public client of a canonical manifest's identifier and
    version (records app/<identifier>/<version>, client/<id>, ctoken/).
    FK_EEXISTS when it exists. *answer_p is {"identifier","version",
    "client_id","client_token","node"}. */
int fk_grants_app_create(fk_grants_t *self, const json_t *manifest, json_t **answer_p,
                         fk_grants_why_t *why);

/*  Every public client: an array of the rows fk_grants_app_create answers,
    plus "created_ms", ordered by identifier and version. */
json_t *fk_grants_apps(fk_grants_t *self);

/*  Delete a public client and its client records. FK_ENOTFOUND unknown;
    FK_EEXISTS when another node created it (only it may delete its
    records). *answer_p is {"deleted":{"identifier","version"}}. */
int fk_grants_app_delete(fk_grants_t *self, const char *identifier, const char *version,
                         json_t **answer_p, fk_grants_why_t *why);

#endif
