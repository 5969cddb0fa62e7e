/*  fk_optokens - operator tokens: credentials for the agent API and the
    web pages that carry roles, replicate to every node, and can be revoked
    from any node (docs/ARCHITECTURE.md, "Operator tokens").

    A token is the string "fko_<accessor>.<secret>":
      accessor  16 lowercase hex digits (64 random bits): the token's public
                id, which lists and revocations name
      secret    32 random bytes in base64url without padding (43 characters)

    Records, owned by the node that writes them and replicated unchanged:
      optoken/<accessor>          {"name", "roles":[...], "secret_sha256",
                                   "created_ms", "created_by",
                                   "expires_ms" (absent: never)}
      optoken-revoked/<accessor>  {"revoked_ms", "expires_ms" (absent: never)}
                                  a revocation made on a node that does not
                                  own the token (only the owner may delete
                                  its record)

    Only the secret's SHA-256 is stored, so a copy of a store does not hold
    usable tokens. Checking a token is one read of its record by accessor,
    one of the revocation marker, and a constant-time compare of the
    secret's digest. A record that does not decode (written by another
    version or by a bug, and replicated here) reads as absent: the token it
    describes does not authenticate.

    Roles are bits. operator implies every other role; no other role
    implies another (approve does not imply read).

    Threads: any; every call that takes a transaction runs in it (the
    caller's to begin and end). Strings returned are fresh (caller frees). */

#ifndef FK_OPTOKENS_H_INCLUDED
#define FK_OPTOKENS_H_INCLUDED

#include "fk_store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*  The roles a token may carry. */
typedef enum {
    FK_ROLE_READ = 1 << 0,     /* every GET of the agent API; the dashboard */
    FK_ROLE_REGISTER = 1 << 1, /* register and deregister services */
    FK_ROLE_APPROVE = 1 << 2,  /* approve and deny codes (API and approval page) */
    FK_ROLE_OPERATOR = 1 << 3  /* everything; implies every other role */
} fk_role_t;

/*  Every role bit. */
#define FK_ROLES_ALL (FK_ROLE_READ | FK_ROLE_REGISTER | FK_ROLE_APPROVE | FK_ROLE_OPERATOR)

/*  Sizes, without the NUL. */
#define FK_OPTOKENS_ACCESSOR_LEN 16 /* hex digits of an accessor */
#define FK_OPTOKENS_SECRET_LEN 43   /* base64url characters of a secret (32 bytes) */
#define FK_OPTOKENS_NAME_MAX 64     /* bytes of a token's name */
/*  "fko_" + accessor + "." + secret */
#define FK_OPTOKENS_TOKEN_LEN (4 + FK_OPTOKENS_ACCESSOR_LEN + 1 + FK_OPTOKENS_SECRET_LEN)

/*  A token as its record describes it (never its secret). */
typedef struct {
    char accessor[FK_OPTOKENS_ACCESSOR_LEN + 1]; /* public id */
    char name[FK_OPTOKENS_NAME_MAX + 1];         /* who holds it */
    char created_by[FK_OPTOKENS_NAME_MAX + 1];   /* the name of who created it */
    char owner[FK_STORE_MAX_KEY + 1];            /* the node that wrote the record */
    unsigned roles;                              /* fk_role_t bits, at least one */
    int64_t created_ms;                          /* wall clock */
    int64_t expires_ms;                          /* wall clock; 0: never */
} fk_optoken_t;

/*  The bit of the role called name ("read", "register", "approve",
    "operator"), or 0 for any other string (NULL included). */
unsigned fk_optokens_role(const char *name);

/*  The name of a single role bit, or NULL when role is not one. */
const char *fk_optokens_role_name(unsigned role);

/*  True when a holder of roles may do what needs the role bits need:
    operator may do everything; otherwise every bit of need must be held. */
bool fk_optokens_allows(unsigned roles, unsigned need);

/*  Whether name may name a token: 1 to FK_OPTOKENS_NAME_MAX bytes of
    printable ASCII (no control characters, so it is safe in logs and
    tables). */
bool fk_optokens_name_ok(const char *name);

/*  Split a token string into its accessor (written, NUL-terminated, to
    accessor) and its secret (*secret_p points into token). The string must
    be exactly "fko_" + 16 lowercase hex + "." + 43 base64url characters.
    Returns 0 or FK_EINVAL_INPUT (any other string, NULL included). No
    allocation; this is the only parser of bytes that come off the network. */
int fk_optokens_parse(const char *token, char accessor[FK_OPTOKENS_ACCESSOR_LEN + 1],
                      const char **secret_p);

/*  Make a token for name with roles (at least one known bit), created at
    now_ms by created_by, expiring ttl_ms later (0: never), in a write
    transaction. On success *token_p is the token string (caller frees and
    hands it over once: it is not kept) and *out describes it. Returns 0,
    FK_EINVAL_INPUT (bad name or created_by, no role, unknown bits,
    negative ttl) or a store error. */
int fk_optokens_create(fk_store_txn_t *txn, const char *name, unsigned roles,
                       const char *created_by, int64_t now_ms, int64_t ttl_ms, fk_optoken_t *out,
                       char **token_p);

/*  Check a token string at now_ms: its record exists, decodes, holds the
    digest of its secret (compared in constant time), has not expired and
    is not revoked. Returns 0 and fills *out, or FK_EDENIED (any of those
    failed, or the string is not a token), or a store error. */
int fk_optokens_verify(fk_store_txn_t *txn, const char *token, int64_t now_ms, fk_optoken_t *out);

/*  Whether the token of accessor still authenticates at now_ms (record
    present and decoding, not expired, not revoked), without its secret:
    for sessions opened with it. Returns 0, FK_EDENIED or a store error. */
int fk_optokens_live(fk_store_txn_t *txn, const char *accessor, int64_t now_ms);

/*  Revoke the token of accessor at now_ms, in a write transaction: its
    record is deleted when this node owns it, otherwise this node writes
    the optoken-revoked/ marker (every node checks it). Returns 0 (also
    when it was already revoked), FK_ENOTFOUND (no token has that accessor
    here, or it does not decode) or a store error. */
int fk_optokens_revoke(fk_store_txn_t *txn, const char *accessor, int64_t now_ms);

/*  Called for each token listed; non-zero stops. */
typedef int (*fk_optokens_fn)(void *arg, const fk_optoken_t *token);

/*  Visit every token that still authenticates at now_ms (malformed,
    expired and revoked ones are left out), in accessor order. Returns 0,
    the callback's non-zero value, or a store error. */
int fk_optokens_list(fk_store_txn_t *txn, int64_t now_ms, fk_optokens_fn fn, void *arg);

/*  Delete this node's records that can no longer matter at now_ms: its
    expired tokens, and its revocation markers of tokens that have expired
    or whose record is gone everywhere. In a write transaction. Returns how
    many were deleted, or a store error. */
int fk_optokens_sweep(fk_store_txn_t *txn, int64_t now_ms);

#endif
