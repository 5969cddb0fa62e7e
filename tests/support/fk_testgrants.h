/*  fk_testgrants - grants planes over temporary stores, for the grants
    unit tests, the grants fuzz target and the ThreadSanitizer stress
    program: each node has its own store (a fresh directory), signing key,
    fake wall clock, and a fake forwarder that hands a forwarded request to
    the named node of the same set in this process (or fails, when the
    node is marked down). Records move between nodes only when a test
    copies them (fk_testgrants_replicate), so every test controls what a
    node has seen.

    Plain C (no Criterion): failures of the set-up abort. Threads: the
    nodes may be used from any thread; fake clocks are atomics. */

#ifndef FK_TESTGRANTS_H_INCLUDED
#define FK_TESTGRANTS_H_INCLUDED

#include "fk_grants.h"
#include "fk_store.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define FK_TESTGRANTS_MAX 4
#define FK_TESTGRANTS_REFRESH_GRACE_S 30 /* every node's --refresh-reuse-grace */

typedef struct fk_testgrants fk_testgrants_t;

/*  One node of a set. */
typedef struct {
    char name[32];        /* node name, "node-a" ... */
    char *dir;            /* its data directory */
    fk_store_t *store;    /* its store */
    fk_signer_t *signer;  /* its signing key */
    fk_grants_t *grants;  /* its grants plane */
    atomic_llong now_ms;  /* its wall clock (fake) */
    atomic_bool down;     /* forwarding to it fails with -ETIMEDOUT */
    atomic_int forwarded; /* requests forwarded to it so far */
    fk_testgrants_t *set; /* the set it belongs to */
} fk_testnode_t;

struct fk_testgrants {
    fk_testnode_t nodes[FK_TESTGRANTS_MAX]; /* the nodes */
    int count;                              /* nodes in use */
};

/*  A set of count nodes (1..FK_TESTGRANTS_MAX) named node-a, node-b, ...,
    each with a fresh store, a signing key whose public key every node
    already holds (so tokens of any node verify on all), and one service
    instance "live.arkitekt.rekuest" (id "rekuest-1", host 10.0.0.5) in
    node-a's catalog, replicated to all. Clocks start at a fixed time.
    Aborts on failure. Destroy with fk_testgrants_destroy. */
fk_testgrants_t *fk_testgrants_new(int count, const char *prefix);

/*  Destroy every node and remove the directories; sets *self_p to NULL. */
void fk_testgrants_destroy(fk_testgrants_t **self_p);

/*  Copy every record node from has written (tombstones included) into
    node to, as replication would. Returns how many were applied. */
int fk_testgrants_replicate(fk_testgrants_t *self, int from, int to);

/*  Move every node's clock forward by ms. */
void fk_testgrants_advance(fk_testgrants_t *self, int64_t ms);

/*  A canonical manifest {identifier, version, scopes ["openid","read"],
    requirements: rekuest (required) and mikro (optional)}. New ref. */
json_t *fk_testgrants_manifest(const char *identifier, const char *version);

/*  The origin every call uses: http://127.0.0.1:8520. */
extern const fk_origin_t fk_testgrants_origin;
/*  The issuer of tokens signed for that origin, which every node publishes. */
extern const char *const fk_testgrants_issuer;

#endif
