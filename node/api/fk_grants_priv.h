/*  fk_grants_priv - what the grants' files (fk_grants.c, the v2 dialect
    and everything shared; fk_grants_v1.c, the v1 dialect) share and
    nothing else may use: the grants object and the record helpers.

    Conventions of the helpers: records are JSON payloads under the keys
    fk_grants.h lists; a helper that fails fills *err (fk_grant_error_t)
    and returns the error code; transactions come from fk__grants_write
    and end with fk__grants_commit or fk_store_txn_end. */

#ifndef FK_GRANTS_PRIV_H_INCLUDED
#define FK_GRANTS_PRIV_H_INCLUDED

#include "fk_grants.h"

#include <pthread.h>

struct fk_grants {
    fk_store_t *store;          /* borrowed */
    const fk_signer_t *signer;  /* borrowed */
    pthread_rwlock_t keys_lock; /* guards verifier: many verify, a reload swaps */
    fk_verifier_t *verifier;    /* every known public key */
    fk_cluster_t *cluster;      /* forwards operations on other nodes' records, or NULL */
    char *deployment_name;      /* self.deployment_name */
    int64_t access_ttl_s;       /* access token lifetime */
    int64_t refresh_ttl_s;      /* sliding refresh lifetime */
    int64_t refresh_chain_s;    /* refresh chain cap */
    int64_t interval_s;         /* device-code polling interval */
    pthread_mutex_t lock;       /* guards polls */
    json_t *polls;              /* code hash -> last pending poll (monotonic ms) */
};

/*  Fill err (status, static error code, formatted description); returns
    FK_EINVAL_INPUT. */
int fk__grants_fail(fk_grant_error_t *err, unsigned status, const char *error, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*  Fill err with a 500 server_error naming the store error rc; returns rc. */
int fk__grants_store_fail(fk_grant_error_t *err, int rc);

/*  "<kind>/<sha256 hex of secret>" (fresh). */
char *fk__grants_hashed_key(const char *kind, const char *secret);

/*  The JSON object payload of the live record under key (any owner), or
    NULL when absent or unreadable. New reference. */
json_t *fk__grants_get(fk_store_txn_t *txn, const char *key);

/*  Like fk__grants_get, and *local_p tells whether node owns the record;
    when it does not and owner_p is not NULL, *owner_p gets the owner's
    name (fresh). */
json_t *fk__grants_get_owned(fk_store_txn_t *txn, const char *key, const char *node, bool *local_p,
                             char **owner_p);

/*  Write value (compact JSON) under key as this node's record. */
int fk__grants_put(fk_store_txn_t *txn, const char *key, const json_t *value);

/*  Delete this node's record under key; absent is success. */
int fk__grants_delete(fk_store_txn_t *txn, const char *key);

/*  Begin a write transaction, or NULL with err filled. */
fk_store_txn_t *fk__grants_write(fk_grants_t *self, fk_grant_error_t *err);

/*  Commit; a failure fills err. */
int fk__grants_commit(fk_store_txn_t **txn_p, fk_grant_error_t *err);

/*  Every record whose key starts with prefix, decoded: a new array of the
    objects (other payloads skipped); with_owner adds each record's owner
    as "node". An unreadable store gives an empty array. */
json_t *fk__grants_collect(fk_grants_t *self, const char *prefix, bool with_owner);

/*  Compose a canonical manifest against the catalog in txn as a preview
    (never fails: a vanished service is "unavailable"): {"instances",
    "statuses", ...} as fk_compose.h. New reference. */
json_t *fk__grants_compose(fk_store_txn_t *txn, const json_t *manifest, const json_t *declined);

/*  A JSON array of strings joined by single spaces, as a JSON string. */
json_t *fk__grants_scopes_string(const json_t *scopes);

/*  Sign an access token for client (a client/ record) with this node's
    key: audience aud (borrowed), scope the space-joined scope text, lifetime
    ttl_s, issuer origin's /lok. Returns the JWT (fresh) or NULL. */
char *fk__grants_sign_access(fk_grants_t *self, const json_t *client, const json_t *aud,
                             const char *scope, int64_t ttl_s, const fk_origin_t *origin);

/*  Ask node owner to perform request ({"op",...}; origin is added) and
    relay its answer or error: only a record's owner may do what must
    happen once. may_forward false (a request that was itself forwarded)
    refuses. */
int fk__grants_forward(fk_grants_t *self, const char *owner, json_t *request,
                       const fk_origin_t *origin, bool may_forward, json_t **answer_p,
                       fk_grant_error_t *err);

/*  The redeem grant of either dialect, on the token's owner (else
    forwarded). v1 answers {"status":"granted","token":<client token>} and
    uses the v1 messages (fakts-protocol.md §5.4); v2 answers the token
    response. */
int fk__grants_redeem(fk_grants_t *self, const char *redeem_token, const json_t *manifest,
                      const fk_origin_t *origin, bool v1, bool may_forward, json_t **answer_p,
                      fk_grant_error_t *err);

/*  fk_grants_v1.c: on approving a v1 code inside txn, create its client
    (client/<id>, ctoken/<sha256(client token)>) and add "client_id" and
    "client_token" to approval. code is the code record. */
int fk__grants_v1_approve(fk_grants_t *self, fk_store_txn_t *txn, const json_t *code,
                          const json_t *declined, json_t *approval, fk_grant_error_t *err);

/*  fk_grants_v1.c: give client (a client/ record being created in txn)
    the v1 credentials of client_token: "secret_sha256" in client and the
    index record ctoken/<sha256(client_token)>. */
int fk__grants_v1_credentials(fk_store_txn_t *txn, json_t *client, const char *client_token,
                              fk_grant_error_t *err);

/*  fk_grants_v1.c: the v1 challenge on the code's owner (forwarded there
    when a decided or expired code must be deleted). */
int fk__grants_v1_challenge(fk_grants_t *self, const char *code, const fk_origin_t *origin,
                            bool may_forward, json_t **answer_p, fk_grant_error_t *err);

#endif
