/*  fk_store - the node's one LMDB environment: every record, every owner's
    version counter, and the node's local secrets.

    The data model is the replication model. Every record is owned by the
    node that wrote it: (key, owner) -> (version, flags, stamp, payload),
    where version comes from the owner's own counter, persisted in the same
    transaction as the record, so it survives restarts and never repeats.
    Only the owner writes its records, so replicas never conflict. A delete
    is a tombstone: a record with a higher version and no payload.

    Every local write is signed with the node's key (fk_store_set_signer),
    so the envelope a peer receives carries the owner's signature. The
    store does not judge signatures of records received from peers: the
    replication plane verifies them before fk_store_apply.

    Named databases inside the environment:
      meta     schema version
      local    this node's own settings and secrets (never replicated)
      records  "<key>\0<owner>" -> fk_record envelope (proto/fk_record.h)
      owners   "<owner>" -> big-endian uint64: every version up to it is held
      changes  "<owner>\0" + big-endian version -> key: each record once, at
               its current version, so "what changed after v" is a range read
      members  member name -> status byte + JSON: this node's view of the
               cluster (never replicated as records; gossip carries it)

    Records are ordered by key first, so a prefix scan ("svc/") sees every
    owner's records of one kind together, and a unique key (a device code,
    a token hash) is found without knowing its owner.

    Threads: any thread may open read transactions (MDB_NOTLS: a read
    transaction is not tied to its thread, but one transaction must not be
    used by two threads at once). Write transactions are serialised by
    LMDB's writer lock; a commit is durable against a process crash (kill
    -9) when fk_store_commit returns, and against power loss as far as the
    sync mode says.

    Caveats (LMDB's own): never use an fk_store_t across fork(); keep
    transactions short, since a long read transaction pins old pages and
    the file grows; one fk_store_t per data directory per process. */

#ifndef FK_STORE_H_INCLUDED
#define FK_STORE_H_INCLUDED

#include "fk_record.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fk_store fk_store_t;
typedef struct fk_store_txn fk_store_txn_t;

/*  How hard a commit pushes data to the disk. */
typedef enum {
    FK_STORE_SYNC_FULL = 0, /* fsync data and meta pages on every commit (LMDB default) */
    FK_STORE_SYNC_DATA = 1, /* fsync data pages; a power loss may undo the last commit but never
                               corrupts (MDB_NOMETASYNC) */
    FK_STORE_SYNC_NONE = 2  /* commit to the OS page cache only: survives kill -9; a power loss
                               loses what fk_store_sync has not flushed yet */
} fk_store_sync_t;

/*  Maximum key length, owner included (LMDB's default key limit is 511). */
#define FK_STORE_MAX_KEY 480

/*  Open (creating if needed) the environment in directory dir, which must
    exist. node is this node's name: the owner of every local write. A data
    directory remembers the node it belongs to; opening it under another
    name fails with FK_ECONFIG, as a renamed node would otherwise orphan
    its records. map_size is the largest the file may grow (bytes; 0 means
    8 GiB); the file is sparse, so this costs no disk.
    Returns 0 and sets *self_p, or FK_ECONFIG, FK_ESTORE, -errno. */
int fk_store_open(fk_store_t **self_p, const char *dir, const char *node, size_t map_size,
                  fk_store_sync_t sync);

/*  Flush, close and free the store; sets *self_p to NULL. Safe on NULL.
    Every transaction must have ended before. */
void fk_store_destroy(fk_store_t **self_p);

/*  The node name the store was opened with (borrowed). */
const char *fk_store_node(const fk_store_t *self);

/*  The node name of the store txn belongs to (borrowed): the owner its
    writes get. */
const char *fk_store_txn_node(const fk_store_txn_t *txn);

/*  Start a read-only transaction: a consistent snapshot that never blocks
    and is never blocked by the writer. Returns 0 or FK_ESTORE. End it with
    fk_store_txn_end. */
int fk_store_read_begin(fk_store_t *self, fk_store_txn_t **txn_p);

/*  Start the write transaction. Blocks while another thread writes.
    Returns 0 or FK_ESTORE. End it with fk_store_commit or fk_store_txn_end
    (which aborts). */
int fk_store_write_begin(fk_store_t *self, fk_store_txn_t **txn_p);

/*  Commit a write transaction (or end a read one) and free it; sets *txn_p
    to NULL. Returns 0, -ENOSPC when the map is full, or FK_ESTORE; on
    failure nothing of the transaction is kept. */
int fk_store_commit(fk_store_txn_t **txn_p);

/*  Abort a write transaction or end a read transaction; sets *txn_p to
    NULL. Safe on NULL. */
void fk_store_txn_end(fk_store_txn_t **txn_p);

/*  A live record found by a read. key and owner borrow from the
    transaction and stay valid until the next get or scan step through it;
    record.payload borrows from the snapshot and stays valid until the
    transaction ends (in a write transaction, until its next write). */
typedef struct {
    const char *key;    /* the record's key, NUL-terminated */
    const char *owner;  /* the node that wrote it, NUL-terminated */
    fk_record_t record; /* version, flags, stamp, payload */
} fk_store_entry_t;

/*  Write payload under key as the local node, with the next version of the
    local counter. Returns 0, FK_EINVAL_INPUT (empty or oversize key, or a
    key containing NUL), FK_ETOOBIG (payload over FK_RECORD_MAX_PAYLOAD),
    -ENOSPC (the store is full: fk_store_space) or FK_ESTORE. Only in a
    write transaction. */
int fk_store_put(fk_store_txn_t *txn, const char *key, const void *payload, size_t len);

/*  Delete the local node's record under key by writing a tombstone with the
    next version. Returns 0, FK_ENOTFOUND if the local node has no live
    record there, or the errors of fk_store_put. */
int fk_store_delete(fk_store_txn_t *txn, const char *key);

/*  Find the live record under key. With owner NULL, any owner's (the one
    with the smallest owner name, for keys that are unique cluster-wide
    this is the only one). Returns 0 and fills *entry, FK_ENOTFOUND (absent
    or a tombstone), or FK_ESTORE. */
int fk_store_get(fk_store_txn_t *txn, const char *key, const char *owner, fk_store_entry_t *entry);

/*  Called by fk_store_scan for each live record; return 0 to go on, any
    other value to stop the scan with that value. */
typedef int (*fk_store_each_fn)(void *arg, const fk_store_entry_t *entry);

/*  Visit every live record whose key starts with prefix, in (key, owner)
    byte order, so equal stores visit in equal order. Returns 0, the
    callback's non-zero value, or FK_ESTORE. The callback must not write
    through txn. */
int fk_store_scan(fk_store_txn_t *txn, const char *prefix, fk_store_each_fn fn, void *arg);

/*  The highest version written or seen from owner, 0 if none. */
uint64_t fk_store_owner_version(fk_store_txn_t *txn, const char *owner);

/*  A summary of owner's live records as this store holds them: the XOR,
    over every live record, of the first 8 bytes of SHA-256(key NUL
    version as 8 octets big-endian); 0 for none. Tombstones do not count,
    so collecting them at different times leaves summaries equal. Two
    stores that hold owner's records up to the same version hold the same
    live records exactly when their summaries agree (up to 2^-64), which
    lets a node check what others relayed against the owner's own word. */
uint64_t fk_store_owner_summary(fk_store_txn_t *txn, const char *owner);

/*  Write the view digest: lowercase hex SHA-256 over every (owner, max
    version) pair in owner order, then every member's name and whether it
    is live. Two stores with equal digests hold the same records and count
    the same nodes, so they compose equal answers. */
void fk_store_view(fk_store_txn_t *txn, char out[65]);

/*  Replication. Apply a record received from another node: data is an
    encoded fk_record envelope (untrusted bytes, validated here; its
    signature is the caller's to check, see fk_replica). Written only if
    newer than what the store holds for (key, owner). Returns 1 applied, 0
    stale (duplicates are harmless), FK_EINVAL_INPUT (owner is this node, a
    write to its own records from outside), FK_EPROTO_* or a store error.
    Only in a write transaction. */
int fk_store_apply(fk_store_txn_t *txn, const char *owner, const char *key, const void *data,
                   size_t len);


/*  Record that every change of owner in (from, to] is now held: the
    owner's version moves to "to" only when the store already holds every
    version up to "from" (Scuttlebutt's no-gap rule). Returns the owner's
    version afterwards. Only in a write transaction. */
uint64_t fk_store_owner_advance(fk_store_txn_t *txn, const char *owner, uint64_t from, uint64_t to);

/*  Called for each change: the record key, its version and the encoded
    envelope (borrowed until the transaction ends). Non-zero stops. */
typedef int (*fk_store_change_fn)(void *arg, const char *key, uint64_t version, const void *record,
                                  size_t len);

/*  Visit owner's records with a version above after, in version order
    (tombstones included: deletes replicate too). Returns 0, the
    callback's value, or a store error. */
int fk_store_changes(fk_store_txn_t *txn, const char *owner, uint64_t after, fk_store_change_fn fn,
                     void *arg);

/*  Called for each owner with its version; non-zero stops. */
typedef int (*fk_store_owner_fn)(void *arg, const char *owner, uint64_t version);

/*  Visit every owner in name order (the digest). */
int fk_store_owners(fk_store_txn_t *txn, fk_store_owner_fn fn, void *arg);

/*  Called after every commit of a transaction that wrote local records,
    from the committing thread (any thread): the cluster plane's cue to
    push them. Must be quick and thread-safe. */
typedef void (*fk_store_commit_fn)(void *arg);

/*  Install the commit hook (NULL removes it). Call before other threads
    use the store. */
void fk_store_on_local_commit(fk_store_t *self, fk_store_commit_fn fn, void *arg);

/*  What a committed transaction changed, for fk_store_on_change. */
typedef enum {
    FK_STORE_CHANGED_RECORDS = 1, /* records or owners' versions (the view) */
    FK_STORE_CHANGED_MEMBERS = 2  /* the member table */
} fk_store_changed_t;

/*  Called after every commit that changed records or members, with the
    fk_store_changed_t bits of what it changed, from the committing thread
    (any thread), after LMDB's writer lock was released: readers opening a
    transaction from then on see the change. Must be quick and
    thread-safe; it must not write to the store. */
typedef void (*fk_store_changed_fn)(void *arg, unsigned changed);

/*  Install the change hook (NULL removes it). Call before other threads
    use the store. Independent of fk_store_on_local_commit. */
void fk_store_on_change(fk_store_t *self, fk_store_changed_fn fn, void *arg);

/*  Tombstone garbage collection. Delete owner's tombstones written (by
    the owner's clock) before before_ms, except the owner's newest change,
    and raise the owner's GC floor to the highest version deleted. Returns how many were deleted, or an
    error. Only in a write transaction. */
int fk_store_gc_tombstones(fk_store_txn_t *txn, const char *owner, int64_t before_ms);

/*  The highest version of owner whose tombstone this node forgot (0 if
    none). A peer whose version for owner is above 0 but below the floor
    may still hold records those tombstones deleted: it must drop the
    owner and take a full copy (the reset rule), or deletes would come
    back to life. */
uint64_t fk_store_gc_floor(fk_store_txn_t *txn, const char *owner);

/*  Forget every record of owner and its version (the receiving side of a
    reset, or purging a node gone for good). The GC floor is kept. Not for
    the local node. Only in a write transaction. */
int fk_store_drop_owner(fk_store_txn_t *txn, const char *owner);

/*  Forget owner entirely: fk_store_drop_owner and its GC floor too, for a
    node that is gone for good (banned) and whose name may come back with
    a new key and a new history. Only in a write transaction. */
int fk_store_forget_owner(fk_store_txn_t *txn, const char *owner);

/*  True when this write transaction wrote a local record (so the cluster
    plane has something to push once it commits). */
bool fk_store_txn_wrote_local(const fk_store_txn_t *txn);

/*  A member's status as this node sees it. */
typedef enum {
    FK_STORE_MEMBER_ALIVE = 0,   /* answering probes */
    FK_STORE_MEMBER_SUSPECT = 1, /* missed probes; still counted in answers */
    FK_STORE_MEMBER_FAILED = 2,  /* declared failed: its services leave every answer */
    FK_STORE_MEMBER_LEFT = 3     /* left gracefully */
} fk_store_member_status_t;

/*  Store this node's view of a member (status and a JSON description),
    in a write transaction. Returns 0 or a store error. */
int fk_store_member_put(fk_store_txn_t *txn, const char *name, fk_store_member_status_t status,
                        const char *json);

/*  Forget a member (its admission ended), in a write transaction. Returns
    0 (also when it was unknown) or a store error. */
int fk_store_member_del(fk_store_txn_t *txn, const char *name);

/*  A member's status. Returns 0, FK_ENOTFOUND or a store error. */
int fk_store_member_get(fk_store_txn_t *txn, const char *name, fk_store_member_status_t *status_p);

/*  Called for each member in name order with its status and JSON
    (borrowed for the call); non-zero stops. */
typedef int (*fk_store_member_fn)(void *arg, const char *name, fk_store_member_status_t status,
                                  const char *json);

/*  Visit every member. */
int fk_store_members(fk_store_txn_t *txn, fk_store_member_fn fn, void *arg);

/*  Node-local values (the "local" database: never replicated). get returns
    0 with *value_p owning a fresh NUL-terminated copy and *len_p its
    length (caller frees), FK_ENOTFOUND or FK_ESTORE. set stores a copy, in
    a write transaction; returns 0 or FK_ESTORE. */
int fk_store_local_get(fk_store_txn_t *txn, const char *name, char **value_p, size_t *len_p);
int fk_store_local_set(fk_store_txn_t *txn, const char *name, const void *value, size_t len);

/*  Remove a node-local value, in a write transaction. Returns 0 (also when
    it was absent) or FK_ESTORE. */
int fk_store_local_del(fk_store_txn_t *txn, const char *name);

/*  Sign every local write from now on with signer (borrowed: it must
    outlive the store, or be unset with NULL first). Without a signer local
    records are stored unsigned, which only tests do. Call before other
    threads use the store. */
void fk_store_set_signer(fk_store_t *self, const fk_sign_key_t *signer);

/*  Make every local record carry a signature by the current signer: when
    the data directory's records were signed by another key (the node's
    key was rotated) or by none (a data directory from before schema 3),
    re-sign them all in place, same versions, in one transaction, and
    remember the key. Returns how many records were re-signed (0 when the
    key did not change), FK_EINVAL_INPUT without a signer, or a store
    error. */
int fk_store_adopt_signer(fk_store_t *self);
/*  How full the store is (fk_store_space). */
typedef struct {
    size_t map_size; /* the largest the data file may grow */
    size_t used;     /* bytes in pages holding data (the file's pages less the free ones) */
    size_t reserve;  /* room kept for deletes: new records stop before used reaches
                        map_size - reserve (and up to 1 MiB of it is kept allocated on disk) */
    bool full;       /* new records are refused (-ENOSPC) until space is freed */
    bool disk_full;  /* the reserve could not be kept on the disk (its file system is full) */
} fk_store_space_t;

/*  Measure the store and decide whether it is full: when the data in it
    comes within the reserve of the map size, or the file system cannot
    hold the reserve (kept allocated past the data file's end, so deletes
    find disk blocks even on a full disk), fk_store_put refuses new
    records with -ENOSPC while reads, deletes and replication go on. A
    store under the mark again accepts records at the next call. Call it
    periodically (the agent: once a second) and after freeing space; it
    reads the free list in a short read transaction. out may be NULL.
    Returns 0 or FK_ESTORE. Any thread. */
int fk_store_space(fk_store_t *self, fk_store_space_t *out);

/*  Flush committed transactions to the disk now (fdatasync). With
    FK_STORE_SYNC_NONE the agent calls this periodically, bounding what a
    power loss can take. Returns 0 or FK_ESTORE. Any thread. */
int fk_store_sync(fk_store_t *self);

#endif
