/*  fk_trust - who is a member of the cluster, by admission, and what that
    lets each one say.

    Membership is replicated state, not gossip: a node is a member when an
    admission record binds its name to its two public keys (fk_identity)
    and no ban names those keys.

      admit/<name>     {"name", "addr", "curve", "sign", "by", "ms"}
                       written by the member that admitted name (with a
                       join token or the cluster secret, see fk_admission),
                       and copied by others when its writer is forgotten
                       (inheritance below)
      ban/<key id>     {"name", "curve", "sign", "by", "ms"}
                       written by the member an operator asked to ban a
                       key (force-leave --ban), copied the same way

    Rules (docs/ARCHITECTURE.md, "Trust model", says why):
    - A record of owner O is stored only when O is a member and the
      record carries O's signature under the key its admission names
      (fk_trust_check_record); so every admit/ and ban/ record in a store
      came from a member.
    - A name is bound to the keys of its admission records whose keys are
      not banned. Two different unbanned keys for one name (two members
      admitted it at once, in a race) bind the one of the earliest
      admission (smallest ms, then admitter, then key): every node picks
      the same.
    - Inheritance: before a node forgets an owner's records (its key
      banned or replaced, or the owner reaped after the reconnect
      timeout), it writes its own copy of every admission and ban that
      owner made which still stands (fk_trust_inherit). So banning a key
      removes that key's records everywhere, but what it admitted or
      banned stays, now signed by every other member; and while nothing
      is forgotten, each admission is one record, not one per member.
    - When the keys bound to a name change (banned, or re-admitted with a
      new key), every record the old key signed is forgotten: the name's
      history starts again under its new key.

    Threads: an fk_trust_t is plain data with one owner (the cluster
    actor, or an HTTP thread that loads its own copy to list members). The
    store functions run in the caller's transaction. */

#ifndef FK_TRUST_H_INCLUDED
#define FK_TRUST_H_INCLUDED

#include "fk_identity.h"
#include "fk_record.h"
#include "fk_store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fk_trust fk_trust_t;

/*  A member as its admission describes it. Strings borrowed from the
    trust table, valid until its next fk_trust_load. */
typedef struct {
    const char *name;                      /* node name */
    const char *addr;                      /* gossip address it was admitted with */
    uint8_t curve[FK_CURVE_KEY_LEN];       /* CurveZMQ public key */
    uint8_t sign[FK_SIGN_PUBLIC_LEN];      /* Ed25519 public key */
    const char *by;                        /* the member that admitted it */
    int64_t ms;                            /* when (the admitter's wall clock) */
    char fingerprint[FK_IDENTITY_FINGERPRINT + 1]; /* fk_identity_fingerprint */
} fk_trust_member_t;

/*  An empty table that knows only this node (self_name with the keys of
    me, borrowed: it must outlive the table). Never fails. */
fk_trust_t *fk_trust_new(const char *self_name, const fk_identity_t *me);

/*  Free; sets *self_p to NULL. Safe on NULL. */
void fk_trust_destroy(fk_trust_t **self_p);

/*  Called by fk_trust_load for each name whose binding changed: before is
    its binding until now (NULL: it was not a member), now its new one
    (NULL: it is no longer a member). */
typedef void (*fk_trust_change_fn)(void *arg, const char *name, const fk_trust_member_t *before,
                                   const fk_trust_member_t *now);

/*  Rebuild the table from the admit/ and ban/ records visible in txn,
    calling changed (may be NULL) for every name whose binding is new,
    different or gone compared with the table before. Malformed records
    are skipped (logged). Returns the number of changed names, or a store
    error (the table is then unchanged). */
int fk_trust_load(fk_trust_t *self, fk_store_txn_t *txn, fk_trust_change_fn changed, void *arg);

/*  Could storing this record (key, decoded record) change who is a
    member? False for anything but admit/ and ban/ records, and for an
    admission identical to a binding the table holds (an inherited copy
    of a known member's): so the caller reloads the table only on news. */
bool fk_trust_is_news(const fk_trust_t *self, const char *key, const fk_record_t *rec);

/*  Look a member up by name (this node included). */
bool fk_trust_find(const fk_trust_t *self, const char *name, fk_trust_member_t *out);

/*  The name of the member whose CurveZMQ key is curve, or NULL when none
    is (unknown or banned). Borrowed. */
const char *fk_trust_name_of(const fk_trust_t *self, const uint8_t curve[FK_CURVE_KEY_LEN]);

/*  True when a ban names curve. */
bool fk_trust_banned(const fk_trust_t *self, const uint8_t curve[FK_CURVE_KEY_LEN]);

/*  Members (this node included), in name order. */
size_t fk_trust_count(const fk_trust_t *self);
bool fk_trust_get(const fk_trust_t *self, size_t i, fk_trust_member_t *out);

/*  May a record of owner under key be stored? 0 when owner is a member
    other than this node and rec carries owner's valid signature;
    FK_ENOTFOUND when owner is not (or not yet) a member; FK_EDENIED when
    the signature is missing or does not verify. */
int fk_trust_check_record(const fk_trust_t *self, const char *owner, const char *key,
                          const fk_record_t *rec);

/*  Admit name with the given keys, in a write transaction: writes
    admit/<name> as this node. addr is the address it gossips from; by is
    this node's name. Returns 0, FK_EEXISTS (name is this node's, or is
    bound to other unbanned keys: ban those first), FK_EDENIED (the keys
    are banned), FK_EINVAL_INPUT (a name or address that cannot be a
    record key), or a store error. Admitting a member again with the
    same keys is 0 and writes nothing new. */
int fk_trust_admit(const fk_trust_t *self, fk_store_txn_t *txn, const char *name, const char *addr,
                   const uint8_t curve[FK_CURVE_KEY_LEN], const uint8_t sign[FK_SIGN_PUBLIC_LEN]);

/*  Ban the keys bound to name, in a write transaction: writes
    ban/<key id> as this node. Returns 0, FK_ENOTFOUND (name is not a
    member), FK_EINVAL_INPUT (name is this node) or a store error. */
int fk_trust_ban(const fk_trust_t *self, fk_store_txn_t *txn, const char *name);

/*  Before owner's records are forgotten, in the same write transaction:
    write this node's own copy of every admission owner made that is the
    binding of its name (byte-identical), and of every ban owner made.
    Returns the number of records written, or a store error. */
int fk_trust_inherit(const fk_trust_t *self, fk_store_txn_t *txn, const char *owner);

/*  Delete this node's own admit/ records of banned keys, in a write
    transaction. Returns the number deleted, or a store error. */
int fk_trust_tidy(const fk_trust_t *self, fk_store_txn_t *txn);

#endif
