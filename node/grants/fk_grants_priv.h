/*  fk_grants_priv - what the grants plane's files share and nothing else
    may use: the grants object, the typed records and the internal calls
    between the files.

    The files form layers, and each calls only the ones below it:

      fk_grants.c          object, sweeper, the owner's side of forwarding
      fk_grants_device.c   authorize, pending, decide, device exchange
      fk_grants_v1.c       the v1 dialect                (-> redeem)
      fk_grants_redeem.c   mint and redeem, both dialects
      fk_grants_apps.c     approved apps: list, revoke, reports per instance
      fk_grants_tokens.c   issue, refresh, revoke, bearer, report
      fk_grants_keys.c     verifier, publish, JWKS
      fk_grants_forward.c  the forwarding codec and the requester's side
      fk_grants_records.c  typed records, indexes, transactions, errors

    Conventions: records are JSON payloads under the keys fk_grants.h
    lists, read only through a decoder below (fk__grants_<kind>_read),
    which checks every field once; a helper that fails writes why and
    returns the FK_E* code; transactions come from fk__grants_write and end
    with fk__grants_commit or fk_store_txn_end. */

#ifndef FK_GRANTS_PRIV_H_INCLUDED
#define FK_GRANTS_PRIV_H_INCLUDED

#include "fk_grants.h"
#include "fk_log.h"

#include <pthread.h>
#include <stdatomic.h>

struct fk_grants {
    fk_store_t *store;              /* borrowed */
    const fk_signer_t *signer;      /* borrowed */
    pthread_rwlock_t keys_lock;     /* guards verifier and issuers */
    fk_verifier_t *verifier;        /* every known public key */
    json_t *issuers;                /* every issuer a key/ record names: {"<iss>": true} */
    pthread_mutex_t rebuild_lock;   /* one rebuild at a time; guards next_rebuild_ms */
    int64_t next_rebuild_ms;        /* an unknown kid rebuilds the verifier no sooner (mono) */
    fk_grants_forward_fn forward;   /* reaches other nodes, or NULL */
    void *forward_arg;              /* forward's argument */
    fk_grants_clock_fn clock;       /* wall clock, or NULL */
    void *clock_arg;                /* clock's argument */
    fk_audit_t *audit;              /* borrowed: the audit log, or NULL */
    char *deployment_name;          /* self.deployment_name */
    int64_t access_ttl_s;           /* access token lifetime */
    int64_t refresh_ttl_s;          /* sliding refresh lifetime */
    int64_t refresh_chain_s;        /* refresh chain cap */
    int64_t refresh_grace_ms;       /* a superseded refresh token used again within this is
                                       refused without revoking its family */
    int64_t interval_s;             /* device-code polling interval */
    pthread_mutex_t lock;           /* guards polls */
    json_t *polls;                  /* code key -> last pending poll (monotonic ms) */
    fk_log_limit_t malformed_log;   /* malformed records are logged once a minute at most */
    atomic_uint_fast64_t malformed; /* malformed records seen in all */
    atomic_llong pending_codes;     /* this node's pending codes (counted at each sweep, plus
                                       every one made since: consumed ones count until then) */
    atomic_llong pending_bytes;     /* and their record bytes */
    int64_t max_pending_codes;      /* caps on both: a code past either is refused */
    int64_t max_pending_bytes;
};

/*  ---------------------------------------------------------------------
    fk_grants_records.c: errors, keys, transactions, typed records.
    --------------------------------------------------------------------- */

/*  Write the formatted text into why (may be NULL) and return code. */
int fk__grants_fail(fk_grants_why_t *why, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/*  A store failure rc: why says "storage failure: ..." (or that the store
    is full, for -ENOSPC); returns rc. */
int fk__grants_store_fail(fk_grants_why_t *why, int rc);

/*  The wall clock in ms (opts.clock, or fk_clock_wall_ms). */
int64_t fk__grants_now(const fk_grants_t *self);

/*  "<kind>/<sha256 hex of secret>" (fresh). */
char *fk__grants_hashed_key(const char *kind, const char *secret);

/*  Write value (compact JSON) under key as this node's record. */
int fk__grants_put(fk_store_txn_t *txn, const char *key, const json_t *value);

/*  Delete this node's record under key; absent is success. */
int fk__grants_delete(fk_store_txn_t *txn, const char *key);

/*  Begin a write transaction: 0, or a store error with why filled. */
int fk__grants_write(fk_grants_t *self, fk_store_txn_t **txn_p, fk_grants_why_t *why);

/*  Commit; a failure fills why and returns the store error. */
int fk__grants_commit(fk_store_txn_t **txn_p, fk_grants_why_t *why);

/*  Write value under key as this node's record in a transaction of its
    own: 0, or a store error with why filled. */
int fk__grants_put_one(fk_grants_t *self, const char *key, const json_t *value,
                       fk_grants_why_t *why);

/*  Whether a live record exists under key (any owner). */
bool fk__grants_exists(fk_store_txn_t *txn, const char *key);

/*  Note a record that failed its decoder: counted always, logged at most
    once a second with the count of those not logged. */
void fk__grants_malformed(fk_grants_t *self, const char *key, const char *owner, const char *what);

/*  What every decoded record has. The typed fields of the record structs
    below borrow from doc (and manifest), which clear releases. */
typedef struct {
    json_t *doc;      /* the stored payload, or NULL when nothing was read */
    json_t *manifest; /* the payload's manifest, canonical again, or NULL */
    char owner[130];  /* the node that wrote it */
    bool local;       /* owner is this node */
} fk__grants_rec_t;

/*  Release what a decoder filled; the record reads as empty. Safe on an
    empty record. */
void fk__grants_rec_clear(fk__grants_rec_t *rec);

/*  code/<sha256(device_code)>. */
typedef struct {
    fk__grants_rec_t rec;      /* doc, manifest (canonical), owner */
    const char *user_code;     /* as shown to people */
    const char *client_id;     /* v2: the client id given out; v1: NULL */
    const char *manifest_hash; /* fk_manifest_hash of rec.manifest */
    bool v1;                   /* dialect "v1" */
    const char *kind;          /* requested_client_kind */
    const char *role;          /* requested_client_role */
    int64_t created_ms;        /* wall clock */
    int64_t expires_ms;        /* wall clock */
    int64_t interval_s;        /* polling interval, > 0 */
} fk__grants_code_t;

/*  approval/<sha256(device_code)>. */
typedef struct {
    fk__grants_rec_t rec;     /* doc, owner */
    bool approved;            /* "approved", else "denied" */
    const json_t *declined;   /* array of requirement keys (strings) */
    const char *client_id;    /* v1 approval: its client, or NULL */
    const char *client_token; /* v1 approval: its client token, or NULL */
    int64_t expires_ms;       /* the code's expiry, 0 when absent */
    const char *node;         /* the node where it was decided, or NULL (older records) */
    const char *by;           /* who decided (the operator's name), or NULL (older records) */
    int64_t at_ms;            /* when, 0 when absent */
} fk__grants_approval_t;

/*  client/<client_id>. */
typedef struct {
    fk__grants_rec_t rec;      /* doc, manifest (canonical), owner */
    const char *client_id;     /* its id */
    const char *manifest_hash; /* or NULL */
    bool v1;                   /* dialect "v1" */
    const char *kind;          /* client kind */
    const char *role;          /* "interface" or "agent" */
    const json_t *declined;    /* array of declined requirement keys */
    const char *secret_sha256; /* v1: SHA-256 of its client secret, or NULL */
    const char *grant;         /* how it was made: "device_code", "redeem", "public", or NULL */
    const char *approved_node; /* where it was approved, or NULL (older records) */
    const char *approved_by;   /* who approved it, or NULL (older records) */
    int64_t approved_ms;       /* when (else created_ms), 0 when neither is known */
} fk__grants_client_t;

/*  redeem/<sha256(token)>. */
typedef struct {
    fk__grants_rec_t rec;      /* doc, owner */
    int64_t created_ms;        /* wall clock */
    int64_t expires_ms;        /* 0: never */
    int64_t max_redemptions;   /* 0: unlimited */
    int64_t redemptions;       /* so far */
    const char *manifest_hash; /* first redeemed manifest, or NULL */
    const char *client_id;     /* the client it made, or NULL */
} fk__grants_redeem_t;

/*  refresh/<sha256(token)>. */
typedef struct {
    fk__grants_rec_t rec;   /* doc, owner */
    const char *client_id;  /* whose */
    int64_t expires_ms;     /* wall clock */
    int64_t chain_start_ms; /* first approval of the chain */
    const char *family;     /* its family id (the token's prefix), or NULL (older records) */
} fk__grants_refresh_t;

/*  refresh-family/<family id>: one per chain of rotations, written by the
    node that rotates it. A token is "<family id>.<secret>", so a token
    used again after its rotation is recognised by its family's list of
    superseded hashes (RFC 9700 §4.14.2). */
#define FK__GRANTS_SPENT_KEEP 16 /* superseded hashes a family remembers */
typedef struct {
    fk__grants_rec_t rec;   /* doc, owner */
    const char *client_id;  /* whose */
    const char *live;       /* refresh/<hash> key of the token now valid */
    const json_t *spent;    /* [{"key": refresh/<hash>, "ms": when superseded}], oldest first */
    int64_t expires_ms;     /* the live token's expiry: the sweeper's */
} fk__grants_family_t;

/*  app/<identifier>/<version> (v1 public client). */
typedef struct {
    fk__grants_rec_t rec;     /* doc, owner */
    const char *identifier;   /* the manifest's */
    const char *version;      /* the manifest's */
    const char *client_id;    /* its client */
    const char *client_token; /* public by design */
} fk__grants_app_t;

/*  report/<client_id>: the app's last alias report (fk_grants_report),
    written by whichever node received it; every node keeps its own, so a
    reader takes the newest. */
typedef struct {
    fk__grants_rec_t rec;  /* doc, owner */
    json_t *alias_reports; /* borrowed from doc: {key: {"alias_id","valid","reason",
                              "service","instance"}}, every field of its type */
    bool functional;       /* the app said it works */
    int64_t at_ms;         /* when the node received it */
} fk__grants_report_t;

/*  Decoders: read the live record under key (any owner) into out. Return
    0, FK_ENOTFOUND when absent or malformed (a malformed record is noted
    with fk__grants_malformed and reads as absent), or FK_ESTORE. out is
    empty on failure; clear it with fk__grants_rec_clear(&out->rec). */
int fk__grants_code_read(fk_grants_t *self, fk_store_txn_t *txn, const char *key,
                         fk__grants_code_t *out);
int fk__grants_approval_read(fk_grants_t *self, fk_store_txn_t *txn, const char *key,
                             fk__grants_approval_t *out);
int fk__grants_client_read(fk_grants_t *self, fk_store_txn_t *txn, const char *client_id,
                           fk__grants_client_t *out);
int fk__grants_redeem_read(fk_grants_t *self, fk_store_txn_t *txn, const char *key,
                           fk__grants_redeem_t *out);
int fk__grants_refresh_read(fk_grants_t *self, fk_store_txn_t *txn, const char *key,
                            fk__grants_refresh_t *out);
int fk__grants_app_read(fk_grants_t *self, fk_store_txn_t *txn, const char *key,
                        fk__grants_app_t *out);
int fk__grants_family_read(fk_grants_t *self, fk_store_txn_t *txn, const char *family,
                           fk__grants_family_t *out);

/*  Decode one client/ or report/ entry found by a scan (the decoders
    behind the *_read functions; a revoked client still decodes). */
int fk__grants_client_decode(fk_grants_t *self, const fk_store_entry_t *entry,
                             fk__grants_client_t *out);
int fk__grants_report_decode(fk_grants_t *self, const fk_store_entry_t *entry,
                             fk__grants_report_t *out);

/*  The newest report/<client_id> of any owner into out: 0, FK_ENOTFOUND
    (none that decodes) or FK_ESTORE. Clear out->rec afterwards. */
int fk__grants_report_latest(fk_grants_t *self, fk_store_txn_t *txn, const char *client_id,
                             fk__grants_report_t *out);

/*  The last token exchange of client_id any node recorded
    (seen/<client_id>, one record per node), or 0 when none decodes. */
int64_t fk__grants_seen_latest(fk_grants_t *self, fk_store_txn_t *txn, const char *client_id);

/*  Record in txn (a write transaction) that this node exchanged a token
    for client_id now: rewrites this node's seen/<client_id> only when it
    is older than FK__GRANTS_SEEN_EVERY_MS, so a busy app costs one write
    a minute per node, not one per exchange. Returns 0 or a store error. */
#define FK__GRANTS_SEEN_EVERY_MS 60000
int fk__grants_seen_touch(fk_grants_t *self, fk_store_txn_t *txn, const char *client_id);

/*  fk__grants_seen_touch in a transaction of its own, for exchanges that
    write nothing else (v1 client_credentials): a read decides whether a
    write is due at all; a failure is ignored (the time is a hint). */
void fk__grants_seen_note(fk_grants_t *self, const char *client_id);

/*  Whether an operator revoked client_id (client-revoked/<client_id> of
    any owner). fk__grants_client_read already reads a revoked client as
    absent. */
bool fk__grants_client_revoked(fk_store_txn_t *txn, const char *client_id);

/*  Copy the approval's "node", "by" and "at_ms" into client (a client/
    payload being written) as "approved_node", "approved_by" and
    "approved_ms"; by NULL leaves approved_by out. */
void fk__grants_client_approved(json_t *client, const char *node, const char *by, int64_t at_ms);

/*  The client id a v1 client token names (ctoken/ index), as a fresh
    string, or NULL when absent or malformed. */
char *fk__grants_ctoken_client(fk_grants_t *self, fk_store_txn_t *txn, const char *client_token);

/*  Take room for one more pending code of len record bytes: 0, or
    FK_ETRYAGAIN (with why) when this node already holds its cap of
    pending codes or their bytes, so a flood of authorizations cannot grow
    every node's store without bound. */
int fk__grants_code_room(fk_grants_t *self, size_t len, fk_grants_why_t *why);

/*  Count this node's pending codes and their bytes afresh (at start and
    at every sweep). Returns 0 or a store error. */
int fk__grants_code_recount(fk_grants_t *self);

/*  The expiry (wall ms) of any record payload that carries "expires_ms",
    for the sweeper: 0 when it has none or does not decode. */
int64_t fk__grants_expiry(const fk_store_entry_t *entry);

/*  The index records of a code (keys in fk_grants.h): write them with the
    code, so a user code or a pending client id is found without a scan;
    delete them with it. code_key is "code/<hash>"; client_id may be NULL
    (v1). */
int fk__grants_index_put(fk_store_txn_t *txn, const char *code_key, const char *user_code,
                         const char *client_id, int64_t expires_ms);
int fk__grants_index_delete(fk_store_txn_t *txn, const char *user_code, const char *client_id);

/*  The code/ key a user code names (typed in any case, with or without
    dashes and spaces), through the ucode/ index: a fresh string, or NULL. */
char *fk__grants_user_code_key(fk_grants_t *self, fk_store_txn_t *txn, const char *user_code);

/*  Whether client_id is a client (client/<id>) or the client id of a
    pending code (ccode/<id>): two lookups, never a scan. */
bool fk__grants_client_known(fk_store_txn_t *txn, const char *client_id);

/*  The client record to write for a fresh client: {"client_id",
    "manifest","manifest_hash","dialect","kind","role","declined",
    "created_ms","grant"}. declined may be NULL (none). New reference. */
json_t *fk__grants_client_new(const char *client_id, const json_t *manifest,
                              const char *manifest_hash, bool v1, const char *kind,
                              const char *role, const json_t *declined, int64_t created_ms,
                              const char *grant);

/*  Give client (a client/ payload being written in txn) the v1
    credentials of client_token: "secret_sha256" in client and the index
    record ctoken/<sha256(client_token)>. */
int fk__grants_v1_credentials(fk_store_txn_t *txn, json_t *client, const char *client_token,
                              fk_grants_why_t *why);

/*  Every record whose key starts with prefix, payloads that are JSON
    objects only, as a new array; with_owner adds each record's owner as
    "node". accept, when not NULL, is asked about each object. An
    unreadable store gives an empty array. */
json_t *fk__grants_collect(fk_grants_t *self, const char *prefix, bool with_owner,
                           bool (*accept)(const json_t *row));

/*  Compose a canonical manifest against the catalog in txn as a preview
    (never fails: a vanished service is "unavailable"): {"instances",
    "statuses", ...} as fk_compose.h. New reference. */
json_t *fk__grants_compose(fk_store_txn_t *txn, const json_t *manifest, const json_t *declined);

/*  A JSON array of strings joined by single spaces, as a JSON string. */
json_t *fk__grants_scopes_string(const json_t *scopes);

/*  ---------------------------------------------------------------------
    fk_grants_forward.c: the forwarding codec and the requester's side.
    --------------------------------------------------------------------- */

/*  Ask node owner to perform request ({"op",...}; origin and deadline are
    added) and relay its answer or error: only a record's owner may do
    what must happen once. may_forward false (a request that was itself
    forwarded) refuses with FK_EGRANT; an owner that cannot be reached is
    FK_ETRYAGAIN. */
int fk__grants_forward(fk_grants_t *self, const char *owner, json_t *request,
                       const fk_origin_t *origin, bool may_forward, json_t **answer_p,
                       fk_grants_why_t *why);

/*  The operations a node forwards to a record's owner. */
typedef enum {
    FK__GRANTS_OP_DEVICE_CODE = 1, /* burn a device code */
    FK__GRANTS_OP_REFRESH,         /* rotate a refresh token */
    FK__GRANTS_OP_REDEEM,          /* redeem a token, either dialect */
    FK__GRANTS_OP_V1_CHALLENGE     /* delete an expired or denied v1 code */
} fk__grants_op_t;

/*  A forwarded request, decoded on the owner. Strings borrow from doc. */
typedef struct {
    json_t *doc;           /* the request */
    fk__grants_op_t op;    /* what to do */
    fk_origin_t origin;    /* where the client's request arrived */
    int64_t deadline_ms;   /* wall clock after which it is refused */
    const char *token;     /* device code, refresh token, redeem token or v1 code */
    const char *client_id; /* device code and refresh: the client id, or NULL */
    json_t *manifest;      /* redeem: canonical manifest (owned), else NULL */
    bool v1;               /* redeem: the v1 dialect */
} fk__grants_fwd_t;

/*  Decode a forwarded request (untrusted bytes from a peer). Returns 0, or
    FK_EPROTO_MALFORMED with out empty. Clear with fk__grants_fwd_clear. */
int fk__grants_fwd_decode(const char *body, size_t len, fk__grants_fwd_t *out);
void fk__grants_fwd_clear(fk__grants_fwd_t *fwd);

/*  The reply to a forwarded request: the answer (rc 0; reference stolen)
    or the code and why. Fresh string, *len_p bytes. */
char *fk__grants_fwd_reply(int rc, json_t *answer, const fk_grants_why_t *why, size_t *len_p);

/*  ---------------------------------------------------------------------
    fk_grants_keys.c: the verifier.
    --------------------------------------------------------------------- */

/*  Build the verifier from the store's key/ records. */
int fk__grants_keys_load(fk_grants_t *self);

/*  Verify a JWT as of now_s against the known keys; an unknown kid
    rebuilds the verifier from the store, at most once a second. The token
    must also name an issuer some node's key/ record lists and have "lok"
    in its audience. Returns 0 and *claims_p, FK_EINVAL_INPUT for a wrong
    issuer or audience, or the fk_jwt_verify error. */
int fk__grants_verify(fk_grants_t *self, const char *token, int64_t now_s, json_t **claims_p);

/*  ---------------------------------------------------------------------
    fk_grants_tokens.c: issuing and checking tokens.
    --------------------------------------------------------------------- */

/*  Sign an access token for client with this node's key: audience aud
    (borrowed), scope the space-joined scope text, lifetime ttl_s, issuer
    origin's /lok. Returns the JWT (fresh) or NULL. */
char *fk__grants_sign_access(fk_grants_t *self, const fk__grants_client_t *client,
                             const json_t *aud, const char *scope, int64_t ttl_s,
                             const fk_origin_t *origin);

/*  Issue a refresh token for client inside *txn_p, commit, then sign the
    access token (outside the writer lock) and build the full token
    response in *answer_p. rotated (its key rotated_key) is the refresh
    token this one replaces, already deleted in *txn_p; NULL starts a new
    chain and family. */
int fk__grants_issue(fk_grants_t *self, fk_store_txn_t **txn_p, const fk__grants_client_t *client,
                     const fk__grants_refresh_t *rotated, const char *rotated_key,
                     const fk_origin_t *origin, json_t **answer_p, fk_grants_why_t *why);

/*  Kill the refresh token of key (its record read into record) in txn:
    delete it when this node issued it, else write the refresh-revoked/
    marker that replicates to the issuer and is checked everywhere.
    Returns 0 or a store error. */
int fk__grants_kill_refresh(fk_store_txn_t *txn, const char *key,
                            const fk__grants_refresh_t *record);

/*  The refresh grant on the token's owner (else forwarded). */
int fk__grants_refresh(fk_grants_t *self, const char *refresh_token, const char *client_id,
                       const fk_origin_t *origin, bool may_forward, json_t **answer_p,
                       fk_grants_why_t *why);

/*  ---------------------------------------------------------------------
    fk_grants_redeem.c
    --------------------------------------------------------------------- */

/*  The redeem grant of either dialect, on the token's owner (else
    forwarded). v1 answers {"status":"granted","token":<client token>} and
    uses the v1 messages (fakts-protocol.md §5.4); v2 answers the token
    response. */
int fk__grants_redeem(fk_grants_t *self, const char *redeem_token, const json_t *manifest,
                      const fk_origin_t *origin, bool v1, bool may_forward, json_t **answer_p,
                      fk_grants_why_t *why);

/*  ---------------------------------------------------------------------
    fk_grants_v1.c
    --------------------------------------------------------------------- */

/*  On approving a v1 code inside txn, create its client (client/<id>,
    ctoken/<sha256(client token)>) and add "client_id" and "client_token"
    to approval (the payload being written). */
int fk__grants_v1_approve(fk_grants_t *self, fk_store_txn_t *txn, const fk__grants_code_t *code,
                          const json_t *declined, json_t *approval, fk_grants_why_t *why);

/*  The v1 challenge on the code's owner (forwarded there when a decided or
    expired code must be deleted). */
int fk__grants_v1_challenge(fk_grants_t *self, const char *code, const fk_origin_t *origin,
                            bool may_forward, json_t **answer_p, fk_grants_why_t *why);

/*  ---------------------------------------------------------------------
    fk_grants_device.c
    --------------------------------------------------------------------- */

/*  The device_code grant on the code's owner (else forwarded). */
int fk__grants_device_exchange(fk_grants_t *self, const char *device_code, const char *client_id,
                               const fk_origin_t *origin, bool may_forward, json_t **answer_p,
                               fk_grants_why_t *why);

/*  Forget the poll throttle's entry of a code key (it was burnt or swept). */
void fk__grants_poll_forget(fk_grants_t *self, const char *code_key);

#endif
