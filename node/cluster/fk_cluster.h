/*  fk_cluster - the node's cluster actor: membership (fk_members) and
    replication (fk_replica) carried over ZeroMQ, among admitted members
    only (fk_trust).

    One CZMQ actor owns the transport (fk_transport): a ROUTER bound on the
    gossip address, which receives every message from every peer, and one
    DEALER per member for sending (a 64-message high-water mark,
    non-blocking sends, no linger: a dead peer costs a few stale messages,
    never a blocked actor). Liveness is never read off the sockets: ZeroMQ
    reconnects and queues silently, so only application-level acks with
    sequence numbers count.

    Secure mode (the default): every connection is CurveZMQ, and every
    message is attributed to the key its connection authenticated with,
    never to the name it claims; only admitted members are heard (a
    non-member gets nothing but the answers of an admission handshake),
    records are stored only with their owner's signature, and a member
    moves its own incarnation and address only with a claim it signed.
    Admission: a join token made on a member, or the cluster secret that
    every node of an automated install holds (fk_cluster_admit.c). Open
    mode (insecure) is the same protocol in plaintext, believing every
    peer, for closed test networks.

    What the actor does, on its own clock:
    - every probe interval: ping one member; no ack within the probe
      timeout: ask k others to ping it; no ack by the end of the interval:
      suspect it (fk_members);
    - on every local commit (the store's commit hook): push the new
      records to 3 random members at once; a member that learns something
      new from a push relays it to 3 others (epidemic broadcast);
    - every 500 ms: send its digest to one random member, which answers
      with what we lack and asks for what it lacks (anti-entropy);
    - on every membership change: write the member table to the store, so
      the answers plane (HTTP threads) sees failed nodes at once.

    Threads: fk_cluster_start/destroy from the agent's main thread; join,
    leave, force_leave, ban, sync, request and set_seeds from any thread,
    concurrently (each call talks to the actor on a socket of its own);
    fk_cluster_addr from any thread. */

#ifndef FK_CLUSTER_H_INCLUDED
#define FK_CLUSTER_H_INCLUDED

#include "fk_identity.h"
#include "fk_lag.h"
#include "fk_metrics.h"
#include "fk_store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fk_cluster fk_cluster_t;

/*  Answers a request another node forwarded to us (the owner of the
    record it concerns). Called on the cluster's worker thread, never the
    gossip loop's, one request at a time; body is the requester's bytes;
    *reply_p gets a fresh buffer (freed by the caller) with *reply_len_p
    bytes. Returns 0, or non-zero to send no reply. */
typedef int (*fk_cluster_request_fn)(void *arg, const char *body, size_t len, char **reply_p,
                                     size_t *reply_len_p);

typedef struct {
    fk_store_t *store;                /* borrowed; outlives the cluster */
    fk_cluster_request_fn on_request; /* handler of forwarded requests, or NULL */
    void *on_request_arg;             /* its argument */
    const char *bind;                 /* "host:port" to bind (port 0: any free port) */
    const char *advertise;            /* host others reach us at, or NULL for the bind host */
    const char *const *join;          /* addresses to join at start (tried for 10 s) */
    size_t join_count;                /* entries in join */
    const char *const *retry_join;    /* addresses to keep trying while alone */
    size_t retry_join_count;          /* entries in retry_join */
    int64_t probe_interval_ms;        /* 0: 200 */
    int64_t reconnect_timeout_ms;     /* purge a failed/left node's records after this (0: 72 h) */
    const fk_identity_t *identity;    /* our keys (borrowed; outlives the cluster) */
    bool insecure;                    /* open mode: plaintext, every peer believed */
    const uint8_t *cluster_secret;    /* FK_ADMIT_SECRET_LEN bytes shared by the cluster, or NULL */
    const char *join_token;           /* a join token for join/retry_join, or NULL */
    void (*on_forgot)(void *arg);     /* called (actor thread) after a banned or re-keyed
                                         member's records left the store, or NULL */
    void *on_forgot_arg;              /* its argument */
    fk_metrics_t *metrics;            /* borrowed: where gossip and forwarding are counted
                                         (outlives the cluster), or NULL */
    fk_lag_t *lag;                    /* borrowed: where members' digest claims and applied
                                         news are noted (outlives the cluster), or NULL */
} fk_cluster_opts_t;

/*  Bind, load the member table from the store, and start the actor.
    Returns 0, FK_ECONFIG (bad address, binding 0.0.0.0 without an
    advertise address, a malformed join token, or another ZAP handler in
    the process), or -errno (address in use). */
int fk_cluster_start(fk_cluster_t **self_p, const fk_cluster_opts_t *opts);

/*  Stop the actor and free; sets *self_p to NULL. Safe on NULL. */
void fk_cluster_destroy(fk_cluster_t **self_p);

/*  The advertised gossip address "host:port" (borrowed). */
const char *fk_cluster_addr(const fk_cluster_t *self);

/*  Join the cluster through the node at addr. A member we know is simply
    asked for its state; any other node first admits us, through token
    (NULL: the one configured at start) or the cluster secret. Returns 0
    once the node answered, -ETIMEDOUT after 5 s without an answer,
    FK_EINVAL_INPUT for a malformed address or token, or FK_EDENIED when
    the node refused us or we have no way to be admitted: then why holds
    the reason in words (why may be NULL). */
int fk_cluster_join(fk_cluster_t *self, const char *addr, const char *token, char *why,
                    size_t whylen);

/*  Ban the keys of member name on every node (force-leave --ban): it can
    no longer connect, its records leave every store, and its name may be
    admitted again only with new keys. Returns 0, FK_ENOTFOUND (not a
    member), FK_EINVAL_INPUT (name is this node) or a store error. */
int fk_cluster_ban(fk_cluster_t *self, const char *name);

/*  Leave gracefully: every member is told directly, so they mark us left
    at once rather than failed. Returns 0. The node should stop after. */
int fk_cluster_leave(fk_cluster_t *self);

/*  Forward a request to member node and wait up to timeout_ms for its
    reply, which only node can give. On success returns 0 and *reply_p
    owns the reply bytes (caller frees). Returns FK_ENOTFOUND when node is
    not a live member, -ETIMEDOUT without an answer, FK_ETOOBIG for a body
    over FK_MSG_MAX_BODY, FK_EUNAVAILABLE when 256 requests already wait.
    Any thread; requests from several threads are in flight at once, each
    waiting on its own socket, no lock held. */
int fk_cluster_request(fk_cluster_t *self, const char *node, const char *body, size_t len,
                       int timeout_ms, char **reply_p, size_t *reply_len_p);

/*  A quorum round. With version 0 (a consistent read): reconcile with a
    majority of the live members (us included): each sends what we lack,
    then confirms with its digest. With a version (a write waiting for a
    quorum): wait until a majority holds our records up to that version.
    Since two majorities share a member, a write confirmed this way is seen
    by every consistent read that starts after it, on any node. Returns 0,
    or -ETIMEDOUT when no majority confirmed within timeout_ms. */
int fk_cluster_sync(fk_cluster_t *self, uint64_t version, int timeout_ms);

/*  Replace the seeds: addresses found by a rendezvous (fk_joindir) that
    the retry-join timer knocks on every second, each while we know no
    other live member (like --retry-join) and also while no member we know
    is at that address (so nodes that formed separate clusters merge, and
    a node listed later is admitted). Our own address is skipped. Copies
    the addresses (at most FK_CLUSTER_SEEDS_MAX are kept). Returns 0, or
    -ETIMEDOUT when the actor did not answer. */
#define FK_CLUSTER_SEEDS_MAX 512u
int fk_cluster_set_seeds(fk_cluster_t *self, const char *const *addrs, size_t count);

/*  Mark a failed member as left (it stops being retried). Returns 0, or
    FK_ENOTFOUND when no failed member has that name. */
int fk_cluster_force_leave(fk_cluster_t *self, const char *name);

#endif
