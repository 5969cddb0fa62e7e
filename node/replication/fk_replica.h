/*  fk_replica - the replication plane: Scuttlebutt digests and deltas
    between a node's store and the wire.

    A digest is every owner with the version up to which this node holds
    all of its changes. A delta answers a digest with the changes the peer
    lacks, owner by owner in version order; each DELTA message names, per
    owner, the version its range starts after ("from"), and holds every
    change of that owner in (from, to], to being its last change in the
    message. A receiver applies the records (newer versions win, so
    duplicates and reordering are harmless) and moves an owner's version
    to "to" only when it already held everything up to "from"; whatever a
    lost or reordered message leaves missing, the next digest exchange
    asks for again.

    A range's end may also be given explicitly, as a second digest entry
    for the same owner: when the owner's newest versions were tombstones
    since collected (a store collected before the owner's newest change
    was kept, or an owner's own answer), the last change sent is older
    than the owner's version, and the peer must still reach that version.
    No signature backs that end, so where records are verified
    (fk_replica_apply with verify) only the owner's own explicit end
    counts; a relay's range ends at its last record. The store never
    collects an owner's newest change (fk_store_gc_tombstones), so a
    relay's range can always end at a record its owner signed.

    Tombstones are collected after a grace period (fk_store_gc_tombstones),
    which leaves a GC floor per owner. A peer whose version lies above 0 but
    below our floor may hold records whose deletes we forgot: the answer
    then starts with a DELTA flagged FK_REPLICA_RESET, and the peer drops
    that owner before applying the full copy that follows (the reset rule,
    as chitchat has it), so a long-absent node cannot resurrect deletes.

    Every received batch is applied in ONE store write transaction
    together with the owner versions, so a crash never loses or
    double-applies part of a delta.

    Threads: the cluster actor's. */

#ifndef FK_REPLICA_H_INCLUDED
#define FK_REPLICA_H_INCLUDED

#include "fk_msg.h"
#include "fk_store.h"

#include <stdint.h>

/*  DELTA flag: drop the (single) owner of this message before applying. */
#define FK_REPLICA_RESET 1u

/*  Add this node's digest (every owner and its version) to msg, and put
    the summary of our own live records (fk_store_owner_summary, 8 octets
    big-endian) in its body. Returns 0 or a store error; FK_ETOOBIG when
    the digest does not fit one message (more than FK_MSG_MAX_DIGESTS
    owners). */
int fk_replica_digest(fk_store_t *store, fk_msg_t *msg);

/*  Called with each finished DELTA message; the callee takes ownership
    (sets *msg_p to NULL after sending or destroying it). */
typedef void (*fk_replica_send_fn)(void *arg, fk_msg_t **msg_p);

/*  The identity stamped on messages this node sends. */
typedef struct {
    const char *name;     /* our node name */
    const char *addr;     /* our advertised gossip address */
    uint64_t incarnation; /* our incarnation */
} fk_replica_self_t;

/*  Answer a peer's digest: for every owner whose changes we hold beyond
    the peer's version (an owner missing from the digest counts as 0), send
    those changes in DELTA messages of about FK_MSG_CHUNK_TARGET bytes.
    Only changes up to the version we hold in full go: records we stored
    ahead of a gap would carry the peer's version over the gap. At most
    max_bytes are sent in all (0: no limit); the rest waits for the next
    exchange. Returns the number of messages sent, or a store error. */
int fk_replica_answer(fk_store_t *store, const fk_replica_self_t *me, const fk_msg_t *digest,
                      size_t max_bytes, fk_replica_send_fn send, void *arg);

/*  Send the changes of one owner after version "after", up to the version
    we hold in full (the eager push of local writes, the relay of news).
    Returns the number of messages sent and sets *upto_p to
    the last version sent (after, if none). */
int fk_replica_push(fk_store_t *store, const fk_replica_self_t *me, const char *owner,
                    uint64_t after, fk_replica_send_fn send, void *arg, uint64_t *upto_p);

/*  True when the peer's digest holds some owner beyond our version: we
    should ask it back (push-pull). */
bool fk_replica_peer_ahead(fk_store_t *store, const fk_msg_t *digest);

/*  Decides whether a received record that would be new may be stored
    (node/trust: fk_trust_check_record). Returns 0 to store it. */
typedef int (*fk_replica_verify_fn)(void *arg, const char *owner, const char *key,
                                    const fk_record_t *rec);

/*  Called after the commit, once per owner with records new to us: the
    owner's range in the message started after version from. */
typedef void (*fk_replica_news_fn)(void *arg, const char *owner, uint64_t from);

/*  Apply a DELTA message in one transaction. Owner by owner: a range
    with a record that verify (may be NULL: accept all) refuses is skipped
    whole (the next exchange asks for it again, by when the owner may be a
    member); a malformed record spoils the whole message. A record at or
    below the version up to which we hold all of its owner's changes is
    stale, whether or not we hold its key (no resurrection of collected
    deletes). The RESET flag is honoured only from the owner itself, and
    with verify so is an explicit range end.
    Records about this node are skipped (only we write them). Returns the
    number of records that were new, or a negative error (nothing
    applied). */
int fk_replica_apply(fk_store_t *store, const fk_msg_t *delta, fk_replica_verify_fn verify,
                     void *verify_arg, fk_replica_news_fn news, void *news_arg);

/*  A digest from its sender carries the summary of the sender's own live
    records in its body. When we hold the sender's records up to exactly
    the version its digest states, none past it, and our summary of them
    differs, what we hold was withheld or altered on its way (by a relay
    that lied, since every record verified): forget the sender's records
    so the next exchange fetches them afresh. The caller vouches that the
    digest came from its sender (the transport authenticated it). Returns
    true when the records were forgotten. */
bool fk_replica_check_owner(fk_store_t *store, const fk_msg_t *digest);

#endif
