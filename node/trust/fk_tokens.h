/*  fk_tokens - the join tokens this node issued.

    A join token (proto/fk_admit: "fkj1." + base64url(seed curve key, id,
    secret)) lets one new node, or a few, prove to THIS node that an
    operator invited it: the joiner shows it knows the secret (an HMAC over
    fresh nonces and both nodes' keys) and never sends it. Only the node
    that made a token can check it, so tokens live in the store's local
    database (never replicated) under "join_tokens", a JSON object keyed by
    the id in hex: {"secret", "created_ms", "expires_ms", "uses"}.

    A token that expired or was used up is kept until a week after its
    expiry, so a joiner is told "expired" or "used up" rather than
    "unknown"; then it is forgotten.

    Threads: any; each call runs in the caller's transaction. */

#ifndef FK_TOKENS_H_INCLUDED
#define FK_TOKENS_H_INCLUDED

#include "fk_admit.h"
#include "fk_store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  The most tokens a node keeps at once. */
#define FK_TOKENS_MAX 256

/*  A token as `join-token list` shows it (never its secret). */
typedef struct {
    char id[2 * FK_ADMIT_TOKEN_ID_LEN + 1]; /* hex */
    int64_t created_ms;                      /* wall clock */
    int64_t expires_ms;                      /* wall clock */
    unsigned uses;                           /* admissions left */
} fk_token_info_t;

/*  Make a token good for ttl_ms from now and uses admissions, pinning
    seed_curve (this node's CurveZMQ public key), in a write transaction.
    On success *text_p is the token text (caller frees and hands it to the
    operator; it is not kept). Returns 0, FK_EINVAL_INPUT (ttl_ms <= 0 or
    uses 0), FK_ETOOBIG (FK_TOKENS_MAX live tokens already) or a store
    error. */
int fk_tokens_create(fk_store_txn_t *txn, const uint8_t seed_curve[32], int64_t ttl_ms,
                     unsigned uses, char **text_p);

/*  The secret of token id if it may admit a node now: 0 (secret copied),
    FK_ENOTFOUND (never made here, revoked, or forgotten), FK_EEXPIRED or
    FK_EUSED. Reads only. */
int fk_tokens_get(fk_store_txn_t *txn, const uint8_t id[FK_ADMIT_TOKEN_ID_LEN], int64_t now_ms,
                  uint8_t secret[FK_ADMIT_SECRET_LEN]);

/*  Spend one use of token id, in a write transaction. Returns 0,
    FK_ENOTFOUND, FK_EUSED, or a store error. */
int fk_tokens_consume(fk_store_txn_t *txn, const uint8_t id[FK_ADMIT_TOKEN_ID_LEN]);

/*  True when some token may still admit a node. */
bool fk_tokens_live(fk_store_txn_t *txn, int64_t now_ms);

/*  Called for each token kept, in id order; non-zero stops. */
typedef int (*fk_tokens_fn)(void *arg, const fk_token_info_t *token);
int fk_tokens_list(fk_store_txn_t *txn, fk_tokens_fn fn, void *arg);

/*  Forget token id (hex, as listed), in a write transaction. Returns 0 or
    FK_ENOTFOUND. */
int fk_tokens_revoke(fk_store_txn_t *txn, const char *id_hex);

#endif
